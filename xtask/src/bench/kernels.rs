//! The many-rows kernels against the row kernel called once per activation
//! row: what decoding `m` conversations at once gains per weight read, on
//! one thread, for a Llama-3.2-1B-sized projection (2048 × 2048).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hearth_kernels::{ActBlock, Isa, QType, quantize_acts_for, rows_dot_fn, tile_dot_fn};
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
