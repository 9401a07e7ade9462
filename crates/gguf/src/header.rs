//! A GGUF file's header: version, metadata and tensor table, read and checked.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>. The
//! checks follow the specification and what llama.cpp's `gguf_init_from_file`
//! refuses (duplicate keys and tensor names, more than four dimensions, sizes
//! that overflow), plus where the data lies: each tensor inside the file, at an
//! offset aligned to `general.alignment`, and no two sharing bytes.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use crate::error::GgufError;
use crate::metadata::{Metadata, MetadataError};
use crate::read::{Field, ReadOptions, Source};
use crate::tensor::{self, TensorInfo};
use crate::value::ValueType;

const MAGIC: [u8; 4] = *b"GGUF";
/// Where tensor data is aligned when a file does not say (the specification's default).
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest metadata key the specification allows, in bytes.
pub const MAX_KEY: u64 = 65_535;
/// The fewest bytes a metadata entry takes: key length, a 1-byte key, type,
/// a 1-byte value.
const MIN_ENTRY: usize = 8 + 1 + 4 + 1;
/// The fewest bytes a tensor record takes: name length, a 1-byte name, no
/// dimensions, type, offset.
const MIN_TENSOR: usize = 8 + 1 + 4 + 4 + 8;

/// A GGUF file's header, read and checked: every tensor it lists lies whole
/// inside the file.
#[derive(Debug, Clone)]
pub struct Gguf {
    version: u32,
    metadata: Metadata,
    /// In file order.
    tensors: Vec<TensorInfo>,
    /// Indices into `tensors`, sorted by name.
    by_name: Vec<usize>,
    alignment: u64,
    data_offset: u64,
    file_size: u64,
}

impl Gguf {
    /// Reads the header of a GGUF file of `file_size` bytes from `reader`
    /// (positioned at its start). Tensor data is not read.
    pub fn read<R: Read + Seek>(
        reader: R,
        file_size: u64,
        options: &ReadOptions,
    ) -> Result<Self, GgufError> {
        let mut src = Source::new(reader, file_size, options.max_memory);
        let magic: [u8; 4] = src
            .bytes(Field::Header("the magic number"))
            .map_err(|e| match e {
                GgufError::Truncated { .. } => GgufError::NotGguf,
                other => other,
            })?;
        if magic != MAGIC {
            return Err(GgufError::NotGguf);
        }
        let version = src.u32(Field::Header("the version"))?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version { found: version });
        }
        let n_tensors = src.count(Field::Header("the tensor count"), MIN_TENSOR)?;
        let n_kv = src.count(Field::Header("the metadata count"), MIN_ENTRY)?;

        let mut metadata = Metadata::default();
        for i in 0..n_kv {
            let key = src.string(Field::Key(i), MAX_KEY)?;
            if key.is_empty() {
                return Err(GgufError::BadValue {
                    what: Field::Key(i).to_string(),
                    reason: "the key is empty".into(),
                });
            }
            let code = src.u32(Field::Value(&key))?;
            let ty = ValueType::from_code(code).ok_or_else(|| GgufError::BadValue {
                what: Field::Value(&key).to_string(),
                reason: format!("value type {code}, which GGUF does not have"),
            })?;
            let value = src.value(ty, &key, options, 0)?;
            // The map's own share: the key's header, the value and a node's.
            src.charge(
                (size_of::<String>() + size_of::<crate::Value>() + 32) as u64,
                Field::Value(&key),
            )?;
            if !metadata.insert_new(key.clone(), value) {
                return Err(GgufError::DuplicateKey(key));
            }
        }
        let alignment = alignment(&metadata)?;

        let mut raw = Vec::new();
        for i in 0..n_tensors {
            raw.push(tensor::read_record(&mut src, i)?);
        }
        // Data starts at the next multiple of the alignment after the header
        // (only when there is data: a file of metadata alone ends here).
        let data_offset = if n_tensors == 0 {
            src.pos()
        } else {
            src.pos()
                .checked_next_multiple_of(alignment)
                .ok_or_else(|| GgufError::Truncated {
                    what: "the padding before the tensor data".into(),
                    len: src.len(),
                })?
        };
        let name = |i: usize| raw[i].info.name();
        let mut by_name: Vec<usize> = (0..raw.len()).collect();
        by_name.sort_by(|&a, &b| name(a).cmp(name(b)));
        if let Some(pair) = by_name.windows(2).find(|w| name(w[0]) == name(w[1])) {
            return Err(GgufError::DuplicateTensor(name(pair[0]).to_owned()));
        }
        // Placing keeps the order, so `by_name` still indexes the result.
        let tensors = tensor::place(raw, data_offset, alignment, src.len())?;
        Ok(Self {
            version,
            metadata,
            tensors,
            by_name,
            alignment,
            data_offset,
            file_size,
        })
    }

    /// Reads the header of a GGUF file held in memory (a memory map).
    pub fn from_bytes(bytes: &[u8], options: &ReadOptions) -> Result<Self, GgufError> {
        Self::read(Cursor::new(bytes), bytes.len() as u64, options)
    }

    /// Reads the header of the file at `path` (buffered; skipped values are
    /// seeked over, not read).
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self, GgufError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Self::read(BufReader::with_capacity(64 * 1024, file), len, options)
    }

    /// 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, MetadataError> {
        self.metadata.get_str("general.architecture")
    }

    /// Every tensor, in the order the file lists them.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name
            .binary_search_by(|&i| self.tensors[i].name().cmp(name))
            .ok()
            .map(|i| &self.tensors[self.by_name[i]])
    }

    /// The alignment of tensor data (`general.alignment`, 32 by default).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where tensor data starts in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// The file's length, as given when read.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Values in all tensors (the parameter count).
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |sum, t| sum.saturating_add(t.elements()))
    }
}

/// `general.alignment`: a power of two, a multiple of 8 (the specification),
/// and a `u32` (what llama.cpp reads it as).
fn alignment(metadata: &Metadata) -> Result<u64, GgufError> {
    let Some(v) = metadata.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v.as_u64() {
        Some(a) if a.is_power_of_two() && (8..=1 << 31).contains(&a) => Ok(a),
        Some(a) => Err(GgufError::Alignment {
            found: a.to_string(),
        }),
        None => Err(GgufError::Alignment {
            found: format!("a {}", v.type_name()),
        }),
    }
}
