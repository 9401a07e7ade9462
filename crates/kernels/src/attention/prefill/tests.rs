use super::*;
use crate::attention::tests::{pad, q8, q8_values, rng, to_f16 as f16s};

/// The definition in f64: every query against every key it may see.
fn reference(
    shape: AttentionShape,
    span: QuerySpan,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    scale: f32,
) -> Vec<f64> {
    let AttentionShape {
        heads,
        kv_heads,
        head_dim: d,
        keys,
    } = shape;
    let mut out = vec![0.0f64; span.rows * heads * d];
    for r in 0..span.rows {
        let pos = span.first + r;
        for h in 0..heads {
            let g = h / (heads / kv_heads);
            let visible: Vec<usize> = (0..keys)
                .filter(|&j| {
                    let kp = span.key0 + j;
                    kp <= pos && span.window.is_none_or(|w| pos - kp < w)
                })
                .collect();
            let s: Vec<f64> = visible
                .iter()
                .map(|&j| {
                    (0..d)
                        .map(|i| {
                            f64::from(q[(h * span.rows + r) * d + i])
                                * f64::from(k[(g * keys + j) * d + i])
                        })
                        .sum::<f64>()
                        * f64::from(scale)
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let total: f64 = e.iter().sum();
            for (&j, e) in visible.iter().zip(&e) {
                for i in 0..d {
                    out[(r * heads + h) * d + i] +=
                        e / total * f64::from(v[(g * keys + j) * d + i]);
                }
            }
        }
    }
    out
}

/// The queries `first .. first + rows` over views from position `key0`.
fn span(rows: usize, first: usize, key0: usize, window: Option<usize>) -> QuerySpan {
    QuerySpan {
        rows,
        first,
        key0,
        window,
    }
}

/// A case's shape (views reaching the last query of `span`) and random q
/// (values up to `q_size`), k and v.
fn operands(
    (heads, kv_heads, d): (usize, usize, usize),
    span: QuerySpan,
    q_size: f32,
    rnd: &mut impl FnMut() -> f32,
) -> (AttentionShape, [Vec<f32>; 3]) {
    let keys = span.first + span.rows - span.key0;
    let shape = AttentionShape {
        heads,
        kv_heads,
        head_dim: d,
        keys,
    };
    let q = (0..heads * span.rows * d).map(|_| rnd() * q_size).collect();
    let k = (0..kv_heads * keys * d).map(|_| rnd()).collect();
    let v = (0..kv_heads * keys * d).map(|_| rnd()).collect();
    (shape, [q, k, v])
}

#[test]
fn tiled_attention_matches_its_definition() {
    let mut rnd = rng(11);
    // (heads, kv_heads, head_dim, rows, first, key0, window): a prompt from
    // position 0; a later chunk of one; a window shorter than a tile and than
    // the chunk, its keys starting where the first query's window does; a
    // single row; grouped 8:1 with a head of 256 (more than one tile's worth
    // per key); rows that are not a whole number of query blocks; a head size
    // that is not whole register blocks (40).
    let cases = [
        (4, 2, 64, 70, 0, 0, None),
        (6, 2, 32, 45, 300, 0, None),
        (4, 1, 64, 100, 90, 59, Some(32)),
        (2, 2, 32, 1, 17, 0, None),
        (8, 1, 256, 40, 10, 0, None),
        (3, 3, 96, 33, 5, 0, Some(7)),
        (2, 1, 40, 19, 3, 0, None),
        // Short spans (a draft's check), which go query by query.
        (4, 2, 64, 5, 40, 25, Some(16)),
        (2, 1, 32, DECODE_EXACT_ROWS, 100, 0, None),
    ];
    for (heads, kv_heads, d, rows, first, key0, window) in cases {
        let span = span(rows, first, key0, window);
        let (shape, [q, k, v]) = operands((heads, kv_heads, d), span, 3.0, &mut rnd);
        let keys = shape.keys;
        let scale = 1.0 / (d as f32).sqrt();
        let (kh, vh) = (f16s(&k), f16s(&v));
        let widen = |x: &[half::f16]| x.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
        let (kq, vq) = (q8(&k), q8(&v));
        let want = reference(shape, span, &q, &k, &v, scale);
        let want_f16 = reference(shape, span, &q, &widen(&kh), &widen(&vh), scale);
        let want_q8 = reference(shape, span, &q, &q8_values(&k), &q8_values(&v), scale);
        for isa in Isa::all_available() {
            let run = |k, v, stride| {
                let view = |data| KvView {
                    data,
                    head_stride: stride,
                };
                let mut out = vec![f32::NAN; heads * rows * d];
                attend(isa, shape, span, &q, view(k), view(v), scale, &mut out).unwrap();
                out
            };
            let stride = keys * d;
            // q8_0 takes whole blocks of 32 per head.
            let whole_blocks = d % 32 == 0;
            let mut got = vec![
                ("f32", run(KvData::F32(&k), KvData::F32(&v), stride), &want),
                (
                    "f16",
                    run(KvData::F16(&kh), KvData::F16(&vh), stride),
                    &want_f16,
                ),
            ];
            if whole_blocks {
                let out = run(KvData::Q8_0(&kq), KvData::Q8_0(&vq), stride);
                got.push(("q8_0", out, &want_q8));
            }
            for (kind, out, want) in &got {
                for (i, (&o, &w)) in out.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (f64::from(o) - w).abs() < 2e-5,
                        "{isa:?} {kind} {shape:?} {span:?} [{i}]: {o} vs {w}"
                    );
                }
            }
            // A cache with room for more keys (spare rows NaN, never read)
            // gives the same, bit for bit.
            let spare = 5 * d;
            let (kp, vp) = (pad(&k, keys * d, spare), pad(&v, keys * d, spare));
            let again = run(KvData::F32(&kp), KvData::F32(&vp), stride + spare);
            assert_eq!(again, got[0].1, "{isa:?} f32 {shape:?} with a head stride");
            if whole_blocks {
                let (kpq, vpq) = (q8(&pad(&k, keys * d, spare)), q8(&pad(&v, keys * d, spare)));
                let again = run(KvData::Q8_0(&kpq), KvData::Q8_0(&vpq), stride + spare);
                assert_eq!(again, got[2].1, "{isa:?} q8_0 {shape:?} with a head stride");
            }
        }
    }
}

/// A short span (a speculative draft's check) gives, row by row, exactly what
/// the decode kernel gives the token at each position over the keys it sees:
/// the cache narrowed to that position's window, as the engine views it for
/// a generated token (same head stride, later start). Bit for bit, with every
/// ISA and cache type, inside and past a sliding window.
#[test]
fn a_short_span_gives_a_generated_tokens_numbers_bit_for_bit() {
    let mut rnd = rng(5);
    let (heads, kv_heads, d) = (8, 2, 64);
    // (rows, first, key0, window): one row; a draft's check past a window;
    // the longest span that goes row by row, from the cache's start.
    let cases = [
        (1, 299, 0, None),
        (5, 295, 96, Some(200)),
        (DECODE_EXACT_ROWS, 40, 0, None),
    ];
    for (rows, first, key0, window) in cases {
        let span = span(rows, first, key0, window);
        let (shape, [q, k, v]) = operands((heads, kv_heads, d), span, 2.0, &mut rnd);
        let keys = shape.keys;
        let (kh, vh) = (f16s(&k), f16s(&v));
        let (kq, vq) = (q8(&k), q8(&v));
        // The cache from its key `from` on (`d` values a key).
        fn later(data: KvData<'_>, from: usize, d: usize) -> KvData<'_> {
            match data {
                KvData::F32(x) => KvData::F32(&x[from * d..]),
                KvData::F16(x) => KvData::F16(&x[from * d..]),
                KvData::Q8_0(x) => KvData::Q8_0(&x[from * d / Q8_0_BLOCK * Q8_0_BYTES..]),
            }
        }
        for isa in Isa::all_available() {
            let caches: [(&str, KvData<'_>, KvData<'_>); 3] = [
                ("f32", KvData::F32(&k), KvData::F32(&v)),
                ("f16", KvData::F16(&kh), KvData::F16(&vh)),
                ("q8_0", KvData::Q8_0(&kq), KvData::Q8_0(&vq)),
            ];
            for (kind, kd, vd) in caches {
                let view = |data| KvView {
                    data,
                    head_stride: keys * d,
                };
                let mut many = vec![f32::NAN; heads * rows * d];
                attend(isa, shape, span, &q, view(kd), view(vd), 0.125, &mut many).unwrap();
                for r in 0..rows {
                    let pos = first + r;
                    let from = window.map_or(0, |w| (pos + 1).saturating_sub(w)) - key0;
                    let seen = pos + 1 - key0 - from;
                    let q_row: Vec<f32> = (0..heads)
                        .flat_map(|h| q[(h * rows + r) * d..][..d].to_vec())
                        .collect();
                    let one_shape = AttentionShape {
                        keys: seen,
                        ..shape
                    };
                    let mut one = vec![f32::NAN; heads * d];
                    crate::attention::attend(
                        isa,
                        one_shape,
                        &q_row,
                        view(later(kd, from, d)),
                        view(later(vd, from, d)),
                        0.125,
                        &mut one,
                    )
                    .unwrap();
                    assert_eq!(
                        one,
                        many[r * heads * d..][..heads * d],
                        "{isa:?} {kind} {span:?} row {r}"
                    );
                }
            }
        }
    }
}

#[test]
fn operands_that_do_not_fit_are_refused() {
    let shape = |keys| AttentionShape {
        heads: 2,
        kv_heads: 1,
        head_dim: 32,
        keys,
    };
    let data = vec![0.0f32; 64 * 32];
    let view = KvView {
        data: KvData::F32(&data),
        head_stride: 64 * 32,
    };
    let q = vec![0.0f32; 2 * 4 * 32];
    let mut out = vec![0.0f32; 2 * 4 * 32];
    let mut call = |keys, s| attend_many(shape(keys), s, &q, view, view, 1.0, &mut out);
    assert!(call(8, span(4, 4, 0, None)).is_ok());
    // keys that stop before the last query, or run past it
    assert!(call(7, span(4, 4, 0, None)).is_err());
    assert!(call(9, span(4, 4, 0, None)).is_err());
    // keys that start after a query's first visible key
    assert!(call(6, span(4, 4, 2, None)).is_err());
    assert!(call(6, span(4, 4, 2, Some(4))).is_err());
    assert!(call(6, span(4, 4, 2, Some(3))).is_ok());
    // an empty window
    assert!(call(8, span(4, 4, 0, Some(0))).is_err());
    // a view shorter than its keys
    assert!(call(65, span(4, 61, 0, None)).is_err());
    // a q8_0 cache with a head size that is not whole blocks
    let bytes = vec![0u8; 34 * 8];
    let odd = KvView {
        data: KvData::Q8_0(&bytes),
        head_stride: 16 * 4,
    };
    let shape16 = AttentionShape {
        heads: 1,
        kv_heads: 1,
        head_dim: 16,
        keys: 4,
    };
    let err = attend_many(
        shape16,
        span(1, 3, 0, None),
        &[0.0; 16],
        odd,
        odd,
        1.0,
        &mut [0.0; 16],
    );
    assert!(err.unwrap_err().to_string().contains("multiple of 32"));
}

#[test]
fn q8_0_blocks_are_ggml_s() {
    // One block: scale max|x| / 127 as f16, then round(x / scale).
    let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
    let b = q8(&x);
    assert_eq!(b.len(), 34);
    let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    assert!((d - 16.0 / 127.0).abs() < 1e-4);
    assert_eq!(b[2] as i8, -127);
    assert_eq!(b[2 + 16] as i8, 0);
    assert_eq!(b[2 + 31] as i8, (15.0f32 * 127.0 / 16.0).round() as i8);
    // All zeros: a zero scale and zero values, not NaN.
    assert_eq!(q8(&[0.0; 32]), vec![0u8; 34]);
}
