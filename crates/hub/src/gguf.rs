//! GGUF header inspection: just the metadata and tensor table, never the weights.
//!
//! hearth-gguf reads the header in summary mode: vocabularies and templates
//! are stepped over, not read into memory, and every count, size and offset
//! is checked against the file, so a hostile or truncated file gives an
//! error, not a huge allocation. The tensor table also tells how long the file
//! must be; a file shorter than that was cut off and is rejected.

use std::path::Path;

use hearth_gguf::{GgmlType, Gguf, ReadOptions, file_type_name};
use serde::{Deserialize, Serialize};

use crate::HubError;

/// What the library shows about a model file, read from its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GgufInfo {
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// `general.name`, when present (as the file has it: show
    /// [`GgufInfo::display_name`], never this).
    pub name: Option<String>,
    /// `general.basename`, e.g. `smollm2` (files inspected before it was
    /// read have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basename: Option<String>,
    /// `general.size_label`, e.g. `135M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_label: Option<String>,
    /// Total number of weights (all tensors' elements).
    pub parameters: u64,
    /// Quantisation from `general.file_type`, e.g. `Q4_K_M`.
    pub quant: Option<String>,
    /// Trained context length.
    pub context_length: Option<u64>,
    /// Whether `tokenizer.chat_template` is present.
    pub has_chat_template: bool,
    /// Shape numbers used by the fit estimate.
    pub shape: ModelShape,
}

/// Layer and attention dimensions from the header (for the KV-cache estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModelShape {
    pub layers: Option<u64>,
    pub heads: Option<u64>,
    pub kv_heads: Option<u64>,
    pub embedding: Option<u64>,
    pub head_dim: Option<u64>,
    /// Bytes the engine holds for the weights (counted per tensor as the engine keeps it);
    /// `None` for files inspected before it was counted (the file size then
    /// stands in for it).
    #[serde(default)]
    pub weights_in_memory: Option<u64>,
    /// Tokens in the vocabulary (the rows of `token_embd.weight`).
    #[serde(default)]
    pub vocab: Option<u64>,
    /// Width of the feed-forward layers (`{arch}.feed_forward_length`).
    #[serde(default)]
    pub feed_forward: Option<u64>,
}

impl GgufInfo {
    /// The name to show for the model in the file `file_name`: see
    /// [`crate::display_name`].
    pub fn display_name(&self, file_name: &str) -> Option<String> {
        crate::names::display_name(self, file_name)
    }
}

impl ModelShape {
    /// Elements of K plus V cached per token, when the header says enough.
    /// The numbers come from a file: a product that overflows (a header that
    /// lies) is more than any machine has, `u64::MAX`, so the estimate says
    /// it will not fit instead of wrapping to a small number.
    pub fn kv_elements_per_token(&self) -> Option<u64> {
        let layers = self.layers?;
        let heads = self.heads.filter(|h| *h > 0)?;
        let kv_heads = self.kv_heads.unwrap_or(heads);
        let head_dim = match self.head_dim {
            Some(d) => d,
            None => self.embedding? / heads,
        };
        Some(
            [layers, kv_heads, head_dim]
                .into_iter()
                .try_fold(2u64, u64::checked_mul)
                .unwrap_or(u64::MAX),
        )
    }
}

/// Reads the header of `path` and checks the file is as long as its tensor
/// table says.
pub fn inspect(path: &Path) -> Result<GgufInfo, HubError> {
    inspect_parts(&[path])
}

/// Like [`inspect`] for a model split into parts: metadata from the first part,
/// parameters summed over all, each part checked for truncation.
pub fn inspect_parts<P: AsRef<Path>>(parts: &[P]) -> Result<GgufInfo, HubError> {
    let mut info: Option<GgufInfo> = None;
    let mut parameters = 0u64;
    let mut in_memory = 0u64;
    for (i, part) in parts.iter().enumerate() {
        let path = part.as_ref();
        let (header, params) = read_header(path)?;
        parameters = parameters.saturating_add(params);
        in_memory = in_memory.saturating_add(weights_in_memory(&header));
        if i == 0 {
            info = Some(summarise(path, &header)?);
        }
    }
    let mut info = info.ok_or_else(|| HubError::BadGguf {
        path: std::path::PathBuf::new(),
        reason: "no files".into(),
    })?;
    info.parameters = parameters;
    info.shape.weights_in_memory = Some(in_memory);
    Ok(info)
}

/// The model's own chat template (`tokenizer.chat_template`), if it has one
/// no longer than 256 KiB (real ones are a few KiB; the engine refuses
/// more than 1 MiB). Read apart from [`inspect`], whose summary steps over
/// templates: for questions about what the template can do, such as whether
/// it has a thinking switch.
pub fn chat_template(path: &Path) -> Result<Option<String>, HubError> {
    let options = ReadOptions {
        keep_up_to: 256 << 10,
        max_string: 256 << 10,
        ..ReadOptions::summary()
    };
    let header = Gguf::open(path, &options).map_err(|e| match e {
        hearth_gguf::GgufError::Io(source) => HubError::io(path, source),
        other => HubError::BadGguf {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok(header
        .metadata()
        .get_str("tokenizer.chat_template")
        .ok()
        .map(str::to_owned))
}

/// Bytes hearth-engine holds for the weights of a file on the CPU. A matrix
/// in a type its own kernels run (the block types and F16/BF16) stays in the
/// mapped file: its stored bytes, resident once read. F32 matrices are copied
/// for candle's matmul, and the embedding table, if F32, keeps its stored
/// copy for row lookups too. Everything else (norms, biases, Q2_K, Q3_K) is
/// copied as stored.
pub(crate) fn weights_in_memory(header: &Gguf) -> u64 {
    header
        .tensors()
        .iter()
        .map(|t| {
            let dense = t.ggml_type() == GgmlType::F32 && t.dims().len() >= 2;
            if dense && t.name() == "token_embd.weight" {
                t.size().saturating_mul(2)
            } else {
                t.size()
            }
        })
        .fold(0u64, u64::saturating_add)
}

fn read_header(path: &Path) -> Result<(Gguf, u64), HubError> {
    let header = Gguf::open(path, &ReadOptions::summary()).map_err(|e| match e {
        hearth_gguf::GgufError::Io(source) => HubError::io(path, source),
        other => HubError::BadGguf {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    let parameters = header.parameter_count();
    Ok((header, parameters))
}

fn summarise(path: &Path, header: &Gguf) -> Result<GgufInfo, HubError> {
    let meta = header.metadata();
    let text = |key: &str| meta.get_str(key).ok().map(str::to_owned);
    let int = |key: &str| meta.get_u64(key).ok();
    let architecture = text("general.architecture").ok_or_else(|| HubError::BadGguf {
        path: path.to_path_buf(),
        reason: "no general.architecture in the header".into(),
    })?;
    let arch = |suffix: &str| int(&format!("{architecture}.{suffix}"));
    let shape = ModelShape {
        layers: arch("block_count"),
        heads: arch("attention.head_count"),
        kv_heads: arch("attention.head_count_kv"),
        embedding: arch("embedding_length"),
        head_dim: arch("attention.key_length"),
        weights_in_memory: None,
        vocab: header
            .tensors()
            .iter()
            .find(|t| t.name() == "token_embd.weight")
            .and_then(|t| t.dims().get(1))
            .map(|&n| n as u64),
        feed_forward: arch("feed_forward_length"),
    };
    Ok(GgufInfo {
        name: text("general.name"),
        basename: text("general.basename"),
        size_label: text("general.size_label"),
        parameters: 0,
        quant: int("general.file_type")
            .and_then(file_type_name)
            .map(str::to_owned),
        context_length: arch("context_length"),
        has_chat_template: meta.contains("tokenizer.chat_template"),
        shape,
        architecture,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_elements_use_key_length_or_embedding_over_heads() {
        let shape = ModelShape {
            layers: Some(30),
            heads: Some(9),
            kv_heads: Some(3),
            embedding: Some(576),
            head_dim: None,
            ..ModelShape::default()
        };
        assert_eq!(shape.kv_elements_per_token(), Some(2 * 30 * 3 * 64));
        let gemma = ModelShape {
            head_dim: Some(256),
            ..shape
        };
        assert_eq!(gemma.kv_elements_per_token(), Some(2 * 30 * 3 * 256));
        assert_eq!(ModelShape::default().kv_elements_per_token(), None);
    }

    #[test]
    fn kv_elements_of_a_lying_header_saturate_instead_of_wrapping() {
        // 2 * 2^62 * 2 * 64 wraps to 0 in u64 (and panics in a debug build).
        let lying = ModelShape {
            layers: Some(1 << 62),
            heads: Some(2),
            kv_heads: Some(2),
            embedding: None,
            head_dim: Some(64),
            ..ModelShape::default()
        };
        assert_eq!(lying.kv_elements_per_token(), Some(u64::MAX));
        let huge = ModelShape {
            layers: Some(u64::MAX),
            heads: Some(u64::MAX),
            kv_heads: None,
            embedding: Some(u64::MAX),
            head_dim: None,
            ..ModelShape::default()
        };
        assert_eq!(huge.kv_elements_per_token(), Some(u64::MAX));
    }
}
