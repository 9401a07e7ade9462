//! Sentence embeddings: an encoder model family beside generation.
//!
//! [`Embedder`] loads a sentence-transformers folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`, `modules.json`, `1_Pooling/config.json`,
//! `sentence_bert_config.json`) of the BERT family (all-MiniLM-L6-v2 and its
//! kin) and turns texts into vectors the way sentence-transformers does: tokens
//! truncated to the model's `max_seq_length`, the encoder's last hidden state
//! pooled (mean or CLS, from the pooling config), then scaled to unit length
//! when `modules.json` has a Normalize module.
//!
//! The embedder holds no state between calls, so one `Arc<Embedder>` serves many
//! threads; each call is CPU work to run off async executors
//! (`spawn_blocking`).

mod bert;
mod ops;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::error::EngineError;
use bert::{Bert, BertConfig};

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// Texts per forward pass: sorted by length first, so each batch pads little.
const BATCH: usize = 16;

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: Bert,
    tokenizer: tokenizers::Tokenizer,
    device: Device,
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
    dim: usize,
    name: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .finish()
    }
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, EngineError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| EngineError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EngineError::InvalidEmbeddingModel {
        path: dir.to_path_buf(),
        reason: format!("{name}: {e}"),
    })
}

/// Whether `dir` looks like a sentence-transformers folder (has the files
/// [`Embedder::load`] needs), without loading it.
pub fn is_embedding_model_dir(dir: &Path) -> bool {
    [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
    ]
    .iter()
    .all(|f| dir.join(f).is_file())
}

impl Embedder {
    /// Loads the sentence-transformers folder `dir` on the CPU.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EngineError> {
        let dir = dir.as_ref();
        let invalid = |reason: String| EngineError::InvalidEmbeddingModel {
            path: dir.to_path_buf(),
            reason,
        };
        let config: BertConfig = read_json(dir, "config.json")?;
        if let Some(kind) = &config.model_type
            && kind != "bert"
        {
            return Err(invalid(format!(
                "model_type is \"{kind}\"; Hearth runs BERT encoders (model_type \"bert\")"
            )));
        }

        let modules: Vec<ModuleEntry> = read_json(dir, "modules.json")?;
        let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with(".Pooling"))
            .map_or_else(|| PathBuf::from("1_Pooling"), |m| PathBuf::from(&m.path));
        let pooling_name = pooling_dir.join("config.json");
        let pooling_cfg: PoolingConfig = read_json(dir, &pooling_name.to_string_lossy())?;
        let pooling = match (
            pooling_cfg.pooling_mode_mean_tokens,
            pooling_cfg.pooling_mode_cls_token,
            pooling_cfg.pooling_mode_max_tokens || pooling_cfg.pooling_mode_mean_sqrt_len_tokens,
        ) {
            (true, false, false) => Pooling::Mean,
            (false, true, false) => Pooling::Cls,
            _ => {
                return Err(invalid(
                    "its pooling is not plain mean or CLS pooling, the two Hearth runs".to_owned(),
                ));
            }
        };

        let device = Device::Cpu;
        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            return Err(invalid("it has no model.safetensors".to_owned()));
        }
        let map = candle_core::safetensors::load(&weights_path, &device)
            .map_err(|e| invalid(format!("model.safetensors cannot be read: {e}")))?;
        let model = Bert::load(&config, map, &device).map_err(|e| invalid(e.to_string()))?;

        let max_tokens = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<SentenceBertConfig>(&t).ok())
            .and_then(|c| c.max_seq_length)
            .unwrap_or(model.max_positions)
            .min(model.max_positions);

        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
        // The file's own padding and truncation are for training; pad per batch here.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;

        let name = dir.file_name().map_or_else(
            || "embedding-model".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self {
            dim: config.hidden_size,
            model,
            tokenizer,
            device,
            pooling,
            normalize,
            max_tokens,
            name,
        })
    }

    /// The folder's name, used as the model id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Tokens per text the model sees; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Whether vectors come out at unit length (cosine = dot product).
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// Tokens `text` takes, special tokens included, before truncation.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        let mut enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        let overflow: usize = enc.take_overflowing().iter().map(|e| e.len()).sum();
        Ok(enc.len() + overflow)
    }

    /// One vector per text, in order, with the number of tokens the model saw.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings, EngineError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self
                .tokenizer
                .encode(*text, true)
                .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
            encoded.push(enc.get_ids().to_vec());
        }
        let tokens = encoded.iter().map(Vec::len).sum();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encoded[i].len());

        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let len = batch
                .iter()
                .map(|&i| encoded[i].len())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut ids = Vec::with_capacity(batch.len() * len);
            let mut mask = Vec::with_capacity(batch.len() * len);
            for &i in batch {
                let seq = &encoded[i];
                ids.extend_from_slice(seq);
                ids.extend(std::iter::repeat_n(0u32, len - seq.len()));
                mask.extend(std::iter::repeat_n(1f32, seq.len()));
                mask.extend(std::iter::repeat_n(0f32, len - seq.len()));
            }
            let ids = Tensor::from_vec(ids, (batch.len(), len), &self.device)?;
            let mask = Tensor::from_vec(mask, (batch.len(), len), &self.device)?;
            let hidden = self.model.forward(&ids, &mask)?;
            let mut pooled = match self.pooling {
                Pooling::Mean => bert::mean_pool(&hidden, &mask)?,
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            };
            if self.normalize {
                pooled = bert::l2_normalize(&pooled)?;
            }
            let rows: Vec<Vec<f32>> = pooled.to_dtype(DType::F32)?.to_vec2()?;
            for (&i, row) in batch.iter().zip(rows) {
                vectors[i] = row;
            }
        }
        Ok(Embeddings { vectors, tokens })
    }
}

/// What [`Embedder::embed`] returns.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// One per input text, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model read (after truncation), for usage reports.
    pub tokens: usize,
}

/// Cosine similarity of two vectors (0 when either is all zeros or lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_orthogonal_and_mismatched_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn a_folder_without_the_files_is_not_a_model() {
        let dir = std::env::temp_dir().join("hearth-embed-missing-files");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!is_embedding_model_dir(&dir));
        let err = Embedder::load(&dir).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
