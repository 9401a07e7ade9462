//! The many-rows kernels against the row kernel called once per activation
//! row: what decoding `m` conversations at once gains per weight read, on
//! one thread, for a Llama-3.2-1B-sized projection (2048 × 2048). Then a
//! prompt's product (`matmul`, 512 rows: the panels of `lanes.rs` where the
//! CPU has them) against the many-rows kernel over the same rows 16 at a
//! time, on all threads.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hearth_kernels::{ActBlock, Isa, QType, matmul, quantize_acts_for, rows_dot_fn, tile_dot_fn};
use rand::{Rng, SeedableRng, rngs::StdRng};

const ROWS: usize = 2048;
const K: usize = 2048;
const ROUNDS: usize = 7;

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    let isa = Isa::active();
    println!(
        "kernels ({}): {ROWS}x{K} weight, one thread, median of {ROUNDS} interleaved rounds",
        isa.name()
    );
    println!("ratio = m row-kernel calls / one many-rows call (higher is better)");
    let ms = [1usize, 2, 4, 8, 16];
    print!("{:8}", "type");
    for m in ms {
        print!(" {:>7}", format!("m={m}"));
    }
    println!();
    let mut rng = StdRng::seed_from_u64(7);
    for t in QType::ALL {
        let (Some(dot), Some(tile)) = (rows_dot_fn(isa, t), tile_dot_fn(isa, t)) else {
            println!("{:8} no many-rows kernel on {}", t.name(), isa.name());
            continue;
        };
        let w = weights(t, &mut rng);
        print!("{:8}", t.name());
        for m in ms {
            let x: Vec<f32> = (0..m * K).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut acts: Vec<ActBlock> = Vec::new();
            quantize_acts_for(t, &x, &mut acts);
            let per_row = K / 32;
            let mut want = vec![0.0f32; m * ROWS];
            let mut got = vec![0.0f32; m * ROWS];
            let (mut looped, mut tiled) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                looped.push(time(|| {
                    for (i, y) in want.chunks_exact_mut(ROWS).enumerate() {
                        dot(K, &w, &acts[i * per_row..][..per_row], y);
                    }
                }));
                tiled.push(time(|| tile(K, &w, ROWS, &acts, m, &mut got)));
            }
            if want != got {
                bail!("{} m={m}: the kernels disagree", t.name());
            }
            print!(" {:>6.2}x", median(looped) / median(tiled));
        }
        println!();
    }
    prompts(isa, &mut rng)
}

/// Prompt rows for [`prompts`].
const PROMPT_ROWS: usize = 512;

/// `matmul` with a prompt's rows against the many-rows kernel over the same
/// rows, 16 at a time (what prompts took before the panels); both with
/// the activations quantised once, on all threads (the kernel calls split
/// by weight rows, as `matmul` splits them).
#[allow(clippy::print_stdout)]
fn prompts(isa: Isa, rng: &mut StdRng) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nprompts ({}): {PROMPT_ROWS} rows x {ROWS}x{K} weight, {threads} threads, median of {ROUNDS}",
        isa.name()
    );
    println!("ratio = many-rows kernel, 16 rows at a time / matmul (higher is better)");
    let x: Vec<f32> = (0..PROMPT_ROWS * K)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    for t in QType::ALL {
        let Some(tile) = tile_dot_fn(isa, t) else {
            continue;
        };
        let w = weights(t, rng);
        let mut acts: Vec<ActBlock> = Vec::new();
        quantize_acts_for(t, &x, &mut acts);
        let per_row = K / 32;
        let row_bytes = t.row_bytes(K);
        let mut y = vec![0.0f32; PROMPT_ROWS * ROWS];
        let mut tiled = vec![0.0f32; PROMPT_ROWS * ROWS];
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(time(|| {
                if let Err(e) = matmul(t, &w, ROWS, K, &x, &mut y) {
                    panic!("{e}");
                }
            }));
            theirs.push(time(|| {
                // Each thread its own weight rows, every prompt row.
                let chunk = ROWS.div_ceil(threads);
                std::thread::scope(|s| {
                    for (part, out) in tiled.chunks_mut(PROMPT_ROWS * chunk).enumerate() {
                        let (w, acts) = (&w, &acts);
                        s.spawn(move || {
                            let rows = out.len() / PROMPT_ROWS;
                            let w = &w[part * chunk * row_bytes..][..rows * row_bytes];
                            for (i, out) in out.chunks_mut(16 * rows).enumerate() {
                                let m = out.len() / rows;
                                let acts = &acts[i * 16 * per_row..][..m * per_row];
                                tile(K, w, rows, acts, m, out);
                            }
                        });
                    }
                });
            }));
        }
        let gmacs = (PROMPT_ROWS * ROWS * K) as f64 / median(ours.clone()) / 1e9;
        println!(
            "{:8} {:>6.2}x  ({gmacs:.0} GMAC/s)",
            t.name(),
            median(theirs) / median(ours)
        );
    }
    Ok(())
}

/// Random blocks of `t` with a small, finite scale (and min) in each block.
fn weights(t: QType, rng: &mut StdRng) -> Vec<u8> {
    let mut w = vec![0u8; ROWS * t.row_bytes(K)];
    rng.fill(&mut w[..]);
    let small = 0x211Fu16.to_le_bytes(); // f16 0.01
    for b in w.chunks_exact_mut(t.block_bytes()) {
        match t {
            QType::Q6K => b[208..210].copy_from_slice(&small),
            _ => {
                b[0..2].copy_from_slice(&small);
                b[2..4].copy_from_slice(&small);
            }
        }
    }
    w
}

fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}
