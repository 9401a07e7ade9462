//! Small complete GGUF files: one the model library reads, one the engine runs.

use super::{GgufWriter, Kv, TensorSpec};

/// What to put in a tiny GGUF for the library: a real header (metadata the
/// library reads, a small vocabulary array) and one F32 tensor, so header
/// inspection and the truncation check see a complete file.
#[derive(Debug, Clone)]
pub struct TinyGguf {
    pub architecture: String,
    pub name: String,
    /// llama.cpp `general.file_type` (15 = Q4_K_M).
    pub file_type: u32,
    pub context: u32,
    pub layers: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub embedding: u32,
    pub chat_template: Option<String>,
}

impl Default for TinyGguf {
    fn default() -> Self {
        Self {
            architecture: "llama".into(),
            name: "Tiny".into(),
            file_type: 15,
            context: 2048,
            layers: 4,
            heads: 4,
            kv_heads: 2,
            embedding: 64,
            chat_template: Some("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
        }
    }
}

impl TinyGguf {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let arch = &self.architecture;
        let mut w = GgufWriter::new()
            .with("general.architecture", Kv::str(arch))
            .with("general.name", Kv::str(&self.name))
            .with("general.file_type", Kv::U32(self.file_type))
            .with(&format!("{arch}.context_length"), Kv::U32(self.context))
            .with(&format!("{arch}.block_count"), Kv::U32(self.layers))
            .with(&format!("{arch}.attention.head_count"), Kv::U32(self.heads))
            .with(
                &format!("{arch}.attention.head_count_kv"),
                Kv::U32(self.kv_heads),
            )
            .with(&format!("{arch}.embedding_length"), Kv::U32(self.embedding))
            .with("tokenizer.ggml.tokens", Kv::strs(["<s>", "</s>", "hello"]));
        if let Some(t) = &self.chat_template {
            w.set("tokenizer.chat_template", Kv::str(t));
        }
        let n = self.embedding as usize * 4;
        w.tensor(TensorSpec::f32(
            "token_embd.weight",
            &[4, self.embedding as usize],
            &vec![0.0; n],
        ))
        .to_bytes()
    }
}

/// A llama model small enough to write in a test and run in milliseconds, but
/// complete: a SentencePiece vocabulary of lowercase letters, a chat template,
/// and every tensor the engine loads, in F32 with fixed pseudo-random values.
/// [`TinyLlama::writer`] returns the writer, so a test can change one thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TinyLlama {
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ff: usize,
    pub context: u32,
}

impl Default for TinyLlama {
    fn default() -> Self {
        Self {
            layers: 1,
            d_model: 64,
            heads: 4,
            kv_heads: 2,
            ff: 96,
            context: 128,
        }
    }
}

/// The vocabulary: unknown, BOS, EOS, the word-start mark, `a`–`z`, `.` and `!`.
pub(crate) fn vocabulary() -> Vec<String> {
    let mut v: Vec<String> = ["<unk>", "<s>", "</s>", "\u{2581}"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    v.extend(('a'..='z').map(String::from));
    v.extend([".".to_owned(), "!".to_owned()]);
    v
}

impl TinyLlama {
    /// Rows of the embedding: the vocabulary's size.
    pub fn vocab(&self) -> usize {
        vocabulary().len()
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }

    /// The model's tensors in candle's order, outermost first.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, hd, ff) = (self.d_model, self.head_dim(), self.ff);
        let mut out = vec![
            ("token_embd.weight".to_owned(), vec![self.vocab(), d]),
            ("output_norm.weight".to_owned(), vec![d]),
        ];
        for i in 0..self.layers {
            let p = |s: &str| format!("blk.{i}.{s}.weight");
            out.extend([
                (p("attn_norm"), vec![d]),
                (p("attn_q"), vec![self.heads * hd, d]),
                (p("attn_k"), vec![self.kv_heads * hd, d]),
                (p("attn_v"), vec![self.kv_heads * hd, d]),
                (p("attn_output"), vec![d, self.heads * hd]),
                (p("ffn_norm"), vec![d]),
                (p("ffn_gate"), vec![ff, d]),
                (p("ffn_up"), vec![ff, d]),
                (p("ffn_down"), vec![d, ff]),
            ]);
        }
        out
    }

    /// The model as a writer (so a test can change one thing before writing).
    pub fn writer(&self) -> GgufWriter {
        let vocab = vocabulary();
        let n = vocab.len();
        let mut w = GgufWriter::new()
            .with("general.architecture", Kv::str("llama"))
            .with("general.name", Kv::str("Tiny Llama"))
            .with("llama.block_count", Kv::U32(self.layers as u32))
            .with("llama.embedding_length", Kv::U32(self.d_model as u32))
            .with("llama.feed_forward_length", Kv::U32(self.ff as u32))
            .with("llama.attention.head_count", Kv::U32(self.heads as u32))
            .with(
                "llama.attention.head_count_kv",
                Kv::U32(self.kv_heads as u32),
            )
            .with("llama.attention.layer_norm_rms_epsilon", Kv::F32(1e-5))
            .with("llama.context_length", Kv::U32(self.context))
            .with("llama.vocab_size", Kv::U32(n as u32))
            .with("tokenizer.ggml.model", Kv::str("llama"))
            .with(
                "tokenizer.ggml.tokens",
                Kv::strs(vocab.iter().map(String::as_str)),
            )
            .with(
                "tokenizer.ggml.scores",
                Kv::f32s((0..n).map(|i| -(i as f32))),
            )
            .with(
                "tokenizer.ggml.token_type",
                Kv::i32s((0..n).map(|i| match i {
                    0 => 2,
                    1 | 2 => 3,
                    _ => 1,
                })),
            )
            .with("tokenizer.ggml.bos_token_id", Kv::U32(1))
            .with("tokenizer.ggml.eos_token_id", Kv::U32(2))
            .with(
                "tokenizer.chat_template",
                Kv::str("{% for m in messages %}{{ m.content }} {% endfor %}"),
            );
        for (i, (name, shape)) in self.tensor_shapes().into_iter().enumerate() {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("norm.weight") {
                vec![1.0; count]
            } else {
                (0..count)
                    .map(|j| (((i * 31 + j * 17) % 13) as f32 - 6.0) * 0.05)
                    .collect()
            };
            w = w.tensor(TensorSpec::f32(&name, &shape, &values));
        }
        w
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.writer().to_bytes()
    }
}
