//! GGUF header inspection: just the metadata and tensor table, never the weights.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>. The
//! reader goes through a `BufReader`, skips what it does not need (tokenizer
//! vocabularies are megabytes of strings) and bounds every count by the file
//! length before trusting it, so a hostile or truncated file gives an error, not
//! a huge allocation. The tensor table also tells how long the file must be; a
//! file shorter than that was cut off and is rejected.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::HubError;

const MAGIC: &[u8; 4] = b"GGUF";
/// Longest metadata string kept in memory; longer ones are skipped.
const MAX_KEPT_STRING: u64 = 4096;
const MAX_KEY_LEN: u64 = 64 * 1024;
const MAX_DIMS: u32 = 8;
const DEFAULT_ALIGNMENT: u64 = 32;

/// What the library shows about a model file, read from its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GgufInfo {
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
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
}

impl ModelShape {
    /// Elements of K plus V cached per token, when the header says enough.
    pub fn kv_elements_per_token(&self) -> Option<u64> {
        let layers = self.layers?;
        let heads = self.heads.filter(|h| *h > 0)?;
        let kv_heads = self.kv_heads.unwrap_or(heads);
        let head_dim = match self.head_dim {
            Some(d) => d,
            None => self.embedding? / heads,
        };
        Some(2 * layers * kv_heads * head_dim)
    }
}

#[derive(Debug, Clone)]
enum Meta {
    Int(u64),
    Str(String),
    Other,
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
    for (i, part) in parts.iter().enumerate() {
        let path = part.as_ref();
        let (meta, params) = read_header(path)?;
        parameters = parameters.saturating_add(params);
        if i == 0 {
            info = Some(summarise(path, &meta)?);
        }
    }
    let mut info = info.ok_or_else(|| HubError::BadGguf {
        path: std::path::PathBuf::new(),
        reason: "no files".into(),
    })?;
    info.parameters = parameters;
    Ok(info)
}

fn read_header(path: &Path) -> Result<(BTreeMap<String, Meta>, u64), HubError> {
    let bad = |reason: String| HubError::BadGguf {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| HubError::io(path, e))?;
    let len = file.metadata().map_err(|e| HubError::io(path, e))?.len();
    let mut r = Reader {
        inner: BufReader::new(file),
        pos: 0,
        len,
    };
    let magic: [u8; 4] = r.array("magic").map_err(bad)?;
    if &magic != MAGIC {
        return Err(bad("not a GGUF file (wrong magic bytes)".into()));
    }
    let version = r.u32("version").map_err(bad)?;
    if !(2..=3).contains(&version) {
        return Err(bad(format!("unsupported GGUF version {version}")));
    }
    let tensors = r.u64("tensor count").map_err(bad)?;
    let kvs = r.u64("metadata count").map_err(bad)?;
    // Every entry takes at least 8 bytes; more than the file could hold is a lie.
    if tensors.saturating_add(kvs).saturating_mul(8) > len {
        return Err(bad(format!(
            "header claims {tensors} tensors and {kvs} metadata entries, more than the file holds (truncated?)"
        )));
    }
    let mut meta = BTreeMap::new();
    for _ in 0..kvs {
        let key = r.string(MAX_KEY_LEN, "metadata key").map_err(bad)?;
        let ty = r.u32("value type").map_err(bad)?;
        let value = r.value(ty, &key).map_err(bad)?;
        meta.insert(key.unwrap_or_default(), value);
    }
    let mut parameters: u64 = 0;
    let mut data_end: u64 = 0;
    for _ in 0..tensors {
        let _name = r.string(MAX_KEY_LEN, "tensor name").map_err(bad)?;
        let dims = r.u32("tensor dims").map_err(bad)?;
        if dims > MAX_DIMS {
            return Err(bad(format!("tensor with {dims} dimensions")));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            elements = elements.saturating_mul(r.u64("tensor dim").map_err(bad)?);
        }
        let ty = r.u32("tensor type").map_err(bad)?;
        let offset = r.u64("tensor offset").map_err(bad)?;
        parameters = parameters.saturating_add(elements);
        if let Some((block, bytes)) = block_size(ty) {
            let size = elements.div_ceil(block).saturating_mul(bytes);
            data_end = data_end.max(offset.saturating_add(size));
        }
    }
    let alignment = match meta.get("general.alignment") {
        Some(Meta::Int(a)) if *a > 0 => *a,
        _ => DEFAULT_ALIGNMENT,
    };
    let data_start = r.pos.div_ceil(alignment).saturating_mul(alignment);
    let needed = data_start.saturating_add(data_end);
    if needed > len {
        return Err(bad(format!(
            "file is truncated: its tensors need {needed} bytes but it has {len}"
        )));
    }
    Ok((meta, parameters))
}

fn summarise(path: &Path, meta: &BTreeMap<String, Meta>) -> Result<GgufInfo, HubError> {
    let bad = |reason: String| HubError::BadGguf {
        path: path.to_path_buf(),
        reason,
    };
    let text = |key: &str| match meta.get(key) {
        Some(Meta::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let int = |key: &str| match meta.get(key) {
        Some(Meta::Int(v)) => Some(*v),
        _ => None,
    };
    let architecture = text("general.architecture")
        .ok_or_else(|| bad("no general.architecture in the header".into()))?;
    let arch = |suffix: &str| int(&format!("{architecture}.{suffix}"));
    let shape = ModelShape {
        layers: arch("block_count"),
        heads: arch("attention.head_count"),
        kv_heads: arch("attention.head_count_kv"),
        embedding: arch("embedding_length"),
        head_dim: arch("attention.key_length"),
    };
    Ok(GgufInfo {
        name: text("general.name"),
        parameters: 0,
        quant: int("general.file_type")
            .and_then(file_type_name)
            .map(str::to_owned),
        context_length: arch("context_length"),
        has_chat_template: meta.contains_key("tokenizer.chat_template"),
        shape,
        architecture,
    })
}

struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| format!("truncated GGUF header while reading the {what}"))?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        let end = self.pos.saturating_add(n);
        if end > self.len {
            return Err(format!("truncated GGUF header while reading the {what}"));
        }
        let delta = i64::try_from(n).map_err(|_| format!("{what} too long"))?;
        self.inner
            .seek_relative(delta)
            .map_err(|e| format!("cannot skip the {what}: {e}"))?;
        self.pos = end;
        Ok(())
    }

    /// A string; `None` when longer than `keep` (it is skipped).
    fn string(&mut self, keep: u64, what: &str) -> Result<Option<String>, String> {
        let n = self.u64(what)?;
        if n > keep || self.pos.saturating_add(n) > self.len {
            self.skip(n, what)?;
            return Ok(None);
        }
        let mut buf = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| format!("truncated GGUF header while reading the {what}"))?;
        self.pos += n;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    fn value(&mut self, ty: u32, key: &Option<String>) -> Result<Meta, String> {
        let what = key.as_deref().unwrap_or("metadata value");
        Ok(match ty {
            0 | 1 | 7 => Meta::Int(u64::from(self.array::<1>(what)?[0])),
            2 | 3 => Meta::Int(u64::from(u16::from_le_bytes(self.array(what)?))),
            4 | 5 => Meta::Int(u64::from(self.u32(what)?)),
            10 | 11 => Meta::Int(self.u64(what)?),
            6 => {
                self.skip(4, what)?;
                Meta::Other
            }
            12 => {
                self.skip(8, what)?;
                Meta::Other
            }
            8 => match self.string(MAX_KEPT_STRING, what)? {
                Some(s) => Meta::Str(s),
                None => Meta::Other,
            },
            9 => {
                let item = self.u32(what)?;
                let count = self.u64(what)?;
                match fixed_size(item) {
                    Some(size) => self.skip(count.saturating_mul(size), what)?,
                    None if item == 8 => {
                        // Each string needs its 8-byte length at least.
                        if count.saturating_mul(8) > self.len.saturating_sub(self.pos) {
                            return Err(format!("truncated GGUF header in the {what} array"));
                        }
                        for _ in 0..count {
                            let n = self.u64(what)?;
                            self.skip(n, what)?;
                        }
                    }
                    None => return Err(format!("unsupported array item type {item} in {what}")),
                }
                Meta::Other
            }
            other => return Err(format!("unknown metadata type {other} for {what}")),
        })
    }
}

fn fixed_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// (elements per block, bytes per block) of a ggml tensor type.
fn block_size(ty: u32) -> Option<(u64, u64)> {
    Some(match ty {
        0 => (1, 4),
        1 | 30 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        10 => (256, 84),
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        16 => (256, 66),
        17 => (256, 74),
        18 => (256, 98),
        19 => (256, 50),
        20 => (32, 18),
        21 => (256, 110),
        22 => (256, 82),
        23 => (256, 136),
        24 => (1, 1),
        25 => (1, 2),
        26 => (1, 4),
        27 | 28 => (1, 8),
        29 => (256, 56),
        _ => return None,
    })
}

/// llama.cpp's `general.file_type` numbers.
fn file_type_name(code: u64) -> Option<&'static str> {
    Some(match code {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        _ => return None,
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
        };
        assert_eq!(shape.kv_elements_per_token(), Some(2 * 30 * 3 * 64));
        let gemma = ModelShape {
            head_dim: Some(256),
            ..shape
        };
        assert_eq!(gemma.kv_elements_per_token(), Some(2 * 30 * 3 * 256));
        assert_eq!(ModelShape::default().kv_elements_per_token(), None);
    }
}
