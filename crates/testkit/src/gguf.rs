//! Tiny but valid GGUF files for tests: a real header (metadata the library
//! reads, a small vocabulary array) and one F32 tensor, so header inspection and
//! the truncation check see a complete file.

/// What to put in a tiny GGUF.
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
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes()); // tensors
        let arch = &self.architecture;
        let mut kv: Vec<(String, Value)> = vec![
            ("general.architecture".into(), Value::Str(arch.clone())),
            ("general.name".into(), Value::Str(self.name.clone())),
            ("general.file_type".into(), Value::U32(self.file_type)),
            (format!("{arch}.context_length"), Value::U32(self.context)),
            (format!("{arch}.block_count"), Value::U32(self.layers)),
            (
                format!("{arch}.attention.head_count"),
                Value::U32(self.heads),
            ),
            (
                format!("{arch}.attention.head_count_kv"),
                Value::U32(self.kv_heads),
            ),
            (
                format!("{arch}.embedding_length"),
                Value::U32(self.embedding),
            ),
            (
                "tokenizer.ggml.tokens".into(),
                Value::StrArray(vec!["<s>".into(), "</s>".into(), "hello".into()]),
            ),
        ];
        if let Some(t) = &self.chat_template {
            kv.push(("tokenizer.chat_template".into(), Value::Str(t.clone())));
        }
        out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
        for (key, value) in &kv {
            string(&mut out, key);
            value.write(&mut out);
        }
        // One F32 tensor of embedding x 4.
        string(&mut out, "token_embd.weight");
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&u64::from(self.embedding).to_le_bytes());
        out.extend_from_slice(&4u64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // F32
        out.extend_from_slice(&0u64.to_le_bytes()); // offset
        while out.len() % 32 != 0 {
            out.push(0);
        }
        out.resize(out.len() + self.embedding as usize * 4 * 4, 0);
        out
    }
}

enum Value {
    U32(u32),
    Str(String),
    StrArray(Vec<String>),
}

impl Value {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::U32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Self::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                string(out, s);
            }
            Self::StrArray(items) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for s in items {
                    string(out, s);
                }
            }
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}
