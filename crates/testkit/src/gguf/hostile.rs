//! The hostile-file corpus: GGUF files made to break a reader (counts that
//! lie, sizes that overflow, offsets outside the file or on top of each
//! other, truncations) and valid files whose model lies (shapes that do not
//! match, head counts that do not divide, NaN weights). Every GGUF reader in
//! Hearth runs on all of them in CI: the reader (hearth-gguf), the engine's
//! loader and the hub's inspector. Each says what must happen.

use super::tiny::TinyLlama;
use super::{GgufWriter, Kv, TensorSpec, codes};

/// What a reader must do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The file is not valid GGUF: every reader refuses it with an error
    /// containing this.
    Refused(&'static str),
    /// Valid GGUF, but the engine refuses to load the model, naming the
    /// problem with this (the hub's inspector accepts the file).
    LoadRefused(&'static str),
    /// Loads, but the first forward pass fails with an error containing this.
    RunRefused(&'static str),
}

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct Hostile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

fn case(name: &'static str, expect: Expect, bytes: Vec<u8>) -> Hostile {
    Hostile {
        name,
        bytes,
        expect,
    }
}

/// A small valid file with one metadata entry and one F32 tensor.
fn small() -> GgufWriter {
    GgufWriter::new()
        .with("general.architecture", Kv::str("llama"))
        .tensor(TensorSpec::f32("t", &[2, 4], &[0.5; 8]))
}

/// `small` with one more metadata entry, written raw.
fn with_raw(key: &str, code: u32, bytes: Vec<u8>) -> Vec<u8> {
    small().with(key, Kv::Raw { code, bytes }).to_bytes()
}

/// `small` with its tensor record changed by `f`.
fn with_tensor(f: impl FnOnce(&mut TensorSpec)) -> Vec<u8> {
    let mut w = small();
    f(w.tensor_mut("t"));
    w.to_bytes()
}

fn le64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// An array value: item type, count, then `body` (which may hold fewer items).
fn array(item: u32, count: u64, body: &[u8]) -> Vec<u8> {
    let mut b = item.to_le_bytes().to_vec();
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(body);
    b
}

/// Files that are not valid GGUF, however they look.
pub fn corpus() -> Vec<Hostile> {
    use Expect::Refused;
    let mut out = vec![
        case("empty", Refused("not a GGUF file"), Vec::new()),
        case(
            "zip-file",
            Refused("not a GGUF file"),
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec(),
        ),
    ];
    let mut v = small();
    v.version = 1;
    out.push(case("version-1", Refused("GGUF version 1"), v.to_bytes()));
    v.version = 99;
    out.push(case("version-99", Refused("version 99"), v.to_bytes()));
    v.version = 3u32.swap_bytes();
    out.push(case("big-endian", Refused("big-endian"), v.to_bytes()));

    let mut w = small();
    w.tensor_count = Some(u64::MAX);
    out.push(case(
        "tensor-count-lies",
        Refused("tensor count"),
        w.to_bytes(),
    ));
    let mut w = small();
    w.kv_count = Some(1 << 60);
    out.push(case(
        "metadata-count-lies",
        Refused("metadata count"),
        w.to_bytes(),
    ));

    // A key length of 2^62.
    let mut b = small().to_bytes();
    let at = small().layout().kv_at[0];
    b[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    out.push(case("key-length-huge", Refused("truncated GGUF header"), b));
    let mut w = small();
    w.kv.push(("k".repeat(70_000), Kv::U8(1)));
    out.push(case(
        "key-too-long",
        Refused("70000 bytes long, more than the 65535"),
        w.to_bytes(),
    ));
    let mut w = small();
    w.kv.push((String::new(), Kv::U32(1)));
    out.push(case("empty-key", Refused("the key is empty"), w.to_bytes()));
    let mut w = small();
    w.kv.push(("general.architecture".into(), Kv::str("qwen2")));
    out.push(case(
        "duplicate-key",
        Refused("appears twice"),
        w.to_bytes(),
    ));

    out.extend([
        case(
            "string-length-huge",
            Refused("truncated GGUF header"),
            with_raw("general.name", 8, le64(1 << 62)),
        ),
        case(
            "string-not-utf8",
            Refused("not valid UTF-8"),
            with_raw("general.name", 8, [le64(2), vec![0xff, 0xfe]].concat()),
        ),
        case(
            "array-count-huge",
            Refused("more than the"),
            with_raw("tokenizer.ggml.scores", 9, array(6, 1 << 62, &[])),
        ),
        case(
            "string-array-count-huge",
            Refused("more than the"),
            with_raw("tokenizer.ggml.tokens", 9, array(8, 1 << 61, &[])),
        ),
        case(
            "string-array-item-length-huge",
            Refused("item 1"),
            with_raw(
                "tokenizer.ggml.tokens",
                9,
                array(8, 2, &[le64(1), b"a".to_vec(), le64(u64::MAX)].concat()),
            ),
        ),
        case(
            "array-item-type-unknown",
            Refused("value type 13"),
            with_raw("x", 9, array(13, 1, &[0])),
        ),
        case(
            "nested-arrays-too-deep",
            Refused("nested more than"),
            with_raw("x", 9, {
                let mut b = Vec::new();
                for _ in 0..6 {
                    b.extend(array(9, 1, &[]));
                }
                b.extend(array(0, 0, &[]));
                b
            }),
        ),
        case(
            "value-type-unknown",
            Refused("value type 13"),
            with_raw("x", 13, vec![0; 8]),
        ),
        case(
            "bool-byte-2",
            Refused("invalid bool byte 2"),
            with_raw("x", 7, vec![2]),
        ),
        case(
            "bool-array-byte-7",
            Refused("invalid bool byte 7"),
            with_raw("x", 9, array(7, 3, &[1, 0, 7])),
        ),
        case("value-cut-by-eof", Refused("truncated GGUF header"), {
            let mut b = small().to_bytes();
            let at = small().layout().tensor_at[0];
            b.truncate(at - 2);
            b
        }),
        case(
            "alignment-zero",
            Refused("general.alignment is 0"),
            small().with("general.alignment", Kv::U32(0)).to_bytes(),
        ),
        case(
            "alignment-not-power-of-two",
            Refused("general.alignment is 24"),
            small().with("general.alignment", Kv::U32(24)).to_bytes(),
        ),
        case(
            "alignment-below-8",
            Refused("general.alignment is 4"),
            small().with("general.alignment", Kv::U32(4)).to_bytes(),
        ),
        case(
            "alignment-2-to-the-63",
            Refused("general.alignment is 9223372036854775808"),
            small()
                .with("general.alignment", Kv::U64(1 << 63))
                .to_bytes(),
        ),
        case(
            "alignment-string",
            Refused("general.alignment is a string"),
            small().with("general.alignment", Kv::str("32")).to_bytes(),
        ),
        case(
            "tensor-name-too-long",
            Refused("more than the 64 allowed"),
            with_tensor(|t| t.name = "x".repeat(65)),
        ),
        case(
            "five-dimensions",
            Refused("5 dimensions"),
            with_tensor(|t| t.dims = vec![1, 1, 1, 8, 1]),
        ),
        case(
            "negative-dimension",
            Refused("more than 2^63"),
            with_tensor(|t| t.dims = vec![8, u64::MAX]),
        ),
        case(
            "element-count-overflows",
            Refused("product overflows"),
            with_tensor(|t| t.dims = vec![1 << 32, 1 << 32]),
        ),
        case(
            // 2^62 f32 values: 2^64 bytes, which wraps to 0 if unchecked.
            "byte-size-overflows",
            Refused("size in bytes overflows"),
            with_tensor(|t| t.dims = vec![1 << 62]),
        ),
        case(
            "shape-far-larger-than-the-file",
            Refused("the file is truncated"),
            with_tensor(|t| t.dims = vec![1 << 20, 1 << 20]),
        ),
        case(
            "tensor-type-unknown",
            Refused("type code 99"),
            with_tensor(|t| t.type_code = 99),
        ),
        case(
            "tensor-type-retired",
            Refused("Q4_0_4_4 (code 31), which llama.cpp no longer reads"),
            with_tensor(|t| t.type_code = 31),
        ),
        case(
            "rows-not-whole-blocks",
            Refused("not a whole number of Q8_0 blocks"),
            with_tensor(|t| {
                t.type_code = codes::Q8_0;
                t.dims = vec![33, 1];
            }),
        ),
        case(
            "offset-misaligned",
            Refused("not a multiple of general.alignment (32)"),
            with_tensor(|t| t.offset = Some(4)),
        ),
        case(
            "offset-past-the-end",
            Refused("the file is truncated"),
            with_tensor(|t| t.offset = Some(1 << 40)),
        ),
        case(
            "offset-overflows",
            Refused("past any file"),
            with_tensor(|t| t.offset = Some(u64::MAX - 31)),
        ),
        case("data-cut-short", Refused("the file is truncated"), {
            let mut b = small().to_bytes();
            b.truncate(b.len() - 1);
            b
        }),
    ]);

    let two = || {
        GgufWriter::new()
            .with("general.architecture", Kv::str("llama"))
            .tensor(TensorSpec::f32("a", &[16], &[1.0; 16]))
            .tensor(TensorSpec::f32("b", &[16], &[2.0; 16]))
    };
    let mut w = two();
    w.tensor_mut("b").offset = Some(0);
    out.push(case("tensors-overlap", Refused("overlap"), w.to_bytes()));
    let mut w = two();
    w.tensor_mut("b").offset = Some(32);
    w.tensor_mut("a").dims = vec![24];
    w.tensor_mut("a").data = vec![0; 96];
    out.push(case(
        "tensor-runs-into-the-next",
        Refused("overlap"),
        w.to_bytes(),
    ));
    let mut w = two();
    w.tensor_mut("b").name = "a".into();
    out.push(case(
        "duplicate-tensor",
        Refused("tensor \"a\" appears twice"),
        w.to_bytes(),
    ));

    // A real model file, cut in its header and in its data.
    let model = TinyLlama::default().writer();
    let (bytes, layout) = (model.to_bytes(), model.layout());
    let tokens = model
        .kv
        .iter()
        .position(|(k, _)| k == "tokenizer.ggml.tokens")
        .map_or(0, |i| layout.kv_at[i]);
    out.push(case(
        "model-cut-in-the-vocabulary",
        Refused("of metadata key \"tokenizer.ggml.tokens\""),
        bytes[..tokens + 130].to_vec(),
    ));
    out.push(case(
        "model-cut-in-the-tensor-table",
        Refused("truncated GGUF header"),
        bytes[..layout.tensor_at[3] + 9].to_vec(),
    ));
    out.push(case(
        "model-cut-in-the-weights",
        Refused("the file is truncated"),
        bytes[..bytes.len() - 1000].to_vec(),
    ));
    out
}

/// Valid GGUF files of models that cannot be run as they are: metadata that
/// lies about the weights, tensors of the wrong shape or a type Hearth cannot
/// run, weights that are not numbers. All are [`TinyLlama`] with one thing
/// changed.
pub fn lying_models() -> Vec<Hostile> {
    use Expect::{LoadRefused, RunRefused};
    let m = TinyLlama::default();
    let d = m.d_model;
    let changed = |f: &dyn Fn(&mut GgufWriter)| {
        let mut w = m.writer();
        f(&mut w);
        w.to_bytes()
    };
    let nan_in = |name: &'static str, value: f32| {
        changed(&move |w| {
            let t = w.tensor_mut(name);
            let at = t.data.len() / 2 / 4 * 4;
            t.data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        })
    };
    vec![
        case(
            "architecture-unknown",
            LoadRefused("unsupported architecture \"mamba\""),
            changed(&|w| w.set("general.architecture", Kv::str("mamba"))),
        ),
        case(
            "block-count-missing",
            LoadRefused("\"llama.block_count\""),
            changed(&|w| w.remove("llama.block_count")),
        ),
        case(
            "block-count-a-string",
            LoadRefused("\"llama.block_count\" should be"),
            changed(&|w| w.set("llama.block_count", Kv::str("one"))),
        ),
        case(
            "block-count-zero",
            LoadRefused("llama.block_count is 0"),
            changed(&|w| w.set("llama.block_count", Kv::U32(0))),
        ),
        case(
            "context-length-zero",
            LoadRefused("llama.context_length is 0"),
            changed(&|w| w.set("llama.context_length", Kv::U32(0))),
        ),
        case(
            "fewer-layers-than-tensors",
            LoadRefused("blk.1"),
            changed(&|w| {
                let extra = TinyLlama {
                    layers: 2,
                    ..TinyLlama::default()
                };
                let more = extra.writer();
                for t in more.tensors.iter().filter(|t| t.name.starts_with("blk.1.")) {
                    w.tensors.push(t.clone());
                }
            }),
        ),
        case(
            "kv-heads-do-not-divide-heads",
            LoadRefused(
                "llama.attention.head_count 4 is not a multiple of llama.attention.head_count_kv 3",
            ),
            changed(&|w| w.set("llama.attention.head_count_kv", Kv::U32(3))),
        ),
        case(
            "heads-do-not-divide-the-width",
            LoadRefused("llama.embedding_length"),
            changed(&|w| {
                w.set("llama.attention.head_count", Kv::U32(5));
                w.set("llama.attention.head_count_kv", Kv::U32(5));
            }),
        ),
        case(
            "width-lies",
            LoadRefused("token_embd.weight"),
            changed(&|w| w.set("llama.embedding_length", Kv::U32(48))),
        ),
        case(
            "vocabulary-longer-than-the-embedding",
            LoadRefused("tokenizer.ggml.tokens"),
            changed(&|w| {
                let mut words: Vec<String> = super::tiny::vocabulary();
                words.push("zz".into());
                w.set(
                    "tokenizer.ggml.tokens",
                    Kv::strs(words.iter().map(String::as_str)),
                );
                w.remove("tokenizer.ggml.scores");
                w.remove("tokenizer.ggml.token_type");
            }),
        ),
        case(
            "bos-token-outside-the-vocabulary",
            LoadRefused("tokenizer.ggml.bos_token_id"),
            changed(&|w| w.set("tokenizer.ggml.bos_token_id", Kv::U32(1000))),
        ),
        case(
            "attn-q-wrong-shape",
            LoadRefused("blk.0.attn_q.weight"),
            changed(&|w| {
                *w.tensor_mut("blk.0.attn_q.weight") =
                    TensorSpec::f32("blk.0.attn_q.weight", &[48, d], &vec![0.1; 48 * d]);
            }),
        ),
        case(
            "ffn-down-wrong-shape",
            LoadRefused("blk.0.ffn_down.weight"),
            changed(&|w| {
                *w.tensor_mut("blk.0.ffn_down.weight") =
                    TensorSpec::f32("blk.0.ffn_down.weight", &[d, 80], &vec![0.1; 80 * d]);
            }),
        ),
        case(
            "norm-wrong-shape",
            LoadRefused("blk.0.attn_norm.weight"),
            changed(&|w| {
                *w.tensor_mut("blk.0.attn_norm.weight") =
                    TensorSpec::f32("blk.0.attn_norm.weight", &[d / 2], &vec![1.0; d / 2]);
            }),
        ),
        case(
            "weight-missing",
            LoadRefused("blk.0.ffn_down.weight"),
            changed(&|w| w.remove_tensor("blk.0.ffn_down.weight")),
        ),
        case(
            // MXFP4 (code 39): a real ggml type (gpt-oss) Hearth has no kernels for.
            "weight-type-hearth-cannot-run",
            LoadRefused("MXFP4"),
            changed(&|w| {
                let t = w.tensor_mut("blk.0.attn_q.weight");
                t.type_code = 39;
                t.data = vec![0; d * d / 32 * 17];
            }),
        ),
        case(
            "nan-in-a-norm",
            LoadRefused("blk.0.attn_norm.weight"),
            nan_in("blk.0.attn_norm.weight", f32::NAN),
        ),
        case(
            "nan-in-the-weights",
            RunRefused("not a number"),
            nan_in("blk.0.ffn_down.weight", f32::NAN),
        ),
        case(
            "infinity-in-the-embedding",
            RunRefused("not a number"),
            changed(&|w| {
                let t = w.tensor_mut("token_embd.weight");
                for v in t.data.chunks_exact_mut(4) {
                    v.copy_from_slice(&f32::INFINITY.to_le_bytes());
                }
            }),
        ),
    ]
}
