//! A mutation loop over the corpus, on the stable toolchain, in every test run:
//! seeded (so a failure reproduces), structure-aware (it overwrites the
//! header's counts, lengths, dimensions, type codes and offsets with the
//! values that break readers, as well as random bytes). Whatever comes out,
//! the reader must return, not panic, and what it accepts must satisfy the
//! invariants. The coverage-guided fuzzer (`cargo xtask fuzz`) goes further.

use std::panic::{AssertUnwindSafe, catch_unwind};

use hearth_gguf::{Gguf, ReadOptions};
use hearth_testkit::gguf::hostile::{corpus, lying_models};
use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec, TinyGguf, TinyLlama};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::invariants;

/// Values that break readers: zero, one, around powers of two and the
/// signed/unsigned limits, and what overflows when multiplied.
const INTERESTING: [u64; 22] = [
    0,
    1,
    2,
    7,
    8,
    31,
    32,
    33,
    255,
    256,
    4096,
    (1 << 31) - 1,
    1 << 31,
    1 << 32,
    (1 << 32) + 1,
    1 << 40,
    1 << 62,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX - 31,
    u64::MAX - 1,
    u64::MAX,
];

/// Byte positions of the header's fields in a file the writer made: counts,
/// key and name lengths, value types, tensor dims, types and offsets.
fn field_positions(w: &GgufWriter, bytes: &[u8]) -> Vec<usize> {
    let layout = w.layout();
    let mut at = vec![8, 16];
    for &k in &layout.kv_at {
        at.push(k);
        let key_len = u64::from_le_bytes(bytes[k..k + 8].try_into().unwrap()) as usize;
        at.push(k + 8 + key_len); // value type
        at.push(k + 12 + key_len); // a string's length or an array's item type
        at.push(k + 16 + key_len); // an array's count
    }
    for (&t, spec) in layout.tensor_at.iter().zip(&w.tensors) {
        at.push(t);
        let dims_at = t + 8 + spec.name.len();
        at.push(dims_at);
        for d in 0..spec.dims.len() {
            at.push(dims_at + 4 + 8 * d);
        }
        let ty_at = dims_at + 4 + 8 * spec.dims.len();
        at.push(ty_at);
        at.push(ty_at + 4);
    }
    at
}

fn mutate(rng: &mut StdRng, seed: &[u8], fields: &[usize]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        let len = b.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] = rng.random();
            }
            2 | 3 if !fields.is_empty() => {
                let at = fields[rng.random_range(0..fields.len())];
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let v = if rng.random_bool(0.3) {
                    v.wrapping_add(rng.random_range(0..64))
                } else {
                    v
                };
                let width = if rng.random_bool(0.5) { 8 } else { 4 };
                if at + width <= b.len() {
                    b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
            4 if len > 0 => b.truncate(rng.random_range(0..len)),
            5 if len > 8 => {
                let start = rng.random_range(0..len - 8);
                let n = rng.random_range(1..=(len - start).min(256));
                let chunk = b[start..start + n].to_vec();
                let to = rng.random_range(0..len);
                b.splice(to..to, chunk);
            }
            6 if len > 8 => {
                let start = rng.random_range(0..len - 8);
                let n = rng.random_range(1..=(len - start).min(64));
                b.drain(start..start + n);
            }
            _ if len >= 8 => {
                let at = rng.random_range(0..len - 7);
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => b.push(rng.random()),
        }
    }
    b
}

fn check(bytes: &[u8]) -> Result<(), String> {
    for opts in [ReadOptions::full(), ReadOptions::summary()] {
        if let Ok(g) = Gguf::from_bytes(bytes, &opts) {
            invariants(&g, bytes.len() as u64)?;
        }
    }
    Ok(())
}

#[test]
fn mutated_files_never_panic_and_what_is_accepted_is_sound() {
    let mut seeds: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    let small_llama = TinyLlama {
        d_model: 32,
        heads: 2,
        kv_heads: 1,
        ff: 32,
        ..TinyLlama::default()
    };
    // Every value kind, so the field overwrites reach each one's reader.
    let kinds = GgufWriter::new()
        .with("general.architecture", Kv::str("llama"))
        .with("a.u8", Kv::U8(1))
        .with("a.i16", Kv::I16(-2))
        .with("a.f64", Kv::F64(0.5))
        .with("a.bool", Kv::Bool(true))
        .with("a.u64", Kv::U64(7))
        .with(
            "a.bools",
            Kv::Array {
                item: 7,
                items: vec![Kv::Bool(false); 3],
            },
        )
        .with(
            "a.nested",
            Kv::Array {
                item: 9,
                items: vec![Kv::i32s([1, 2]), Kv::i32s([])],
            },
        )
        .with("a.words", Kv::strs(["x", "yy", ""]))
        .tensor(TensorSpec::f32("a", &[2, 8], &[1.0; 16]))
        .tensor(TensorSpec {
            name: "q".into(),
            dims: vec![32, 2],
            type_code: 8,
            data: vec![0; 68],
            offset: None,
        });
    for w in [small_llama.writer(), kinds] {
        let bytes = w.to_bytes();
        let fields = field_positions(&w, &bytes);
        seeds.push((bytes, fields));
    }
    seeds.push((TinyGguf::default().to_bytes(), vec![8, 16]));
    for case in corpus().into_iter().chain(lying_models()) {
        if case.bytes.len() < 64 * 1024 {
            seeds.push((case.bytes, vec![8, 16]));
        }
    }
    let mut rng = StdRng::seed_from_u64(0x6767_7566);
    let (mut accepted, mut total) = (0, 0);
    for iteration in 0..20_000 {
        let (seed, fields) = &seeds[iteration % seeds.len()];
        let bytes = mutate(&mut rng, seed, fields);
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&bytes)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(broken)) => Some(broken),
            Err(_) => Some("the reader panicked".to_owned()),
        };
        if let Some(what) = failure {
            let path = std::env::temp_dir().join(format!("hearth-gguf-mutant-{iteration}.gguf"));
            std::fs::write(&path, &bytes).unwrap();
            panic!(
                "iteration {iteration}: {what}; input saved to {}",
                path.display()
            );
        }
        total += 1;
        accepted += usize::from(Gguf::from_bytes(&bytes, &ReadOptions::full()).is_ok());
    }
    // Not every mutant is refused: a loop that only made garbage would test
    // the magic-number check and little else.
    assert!(accepted > total / 50, "{accepted} of {total} accepted");
    assert!(accepted < total, "{accepted} of {total} accepted");
}
