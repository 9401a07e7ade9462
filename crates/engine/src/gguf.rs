//! A bounds-checked GGUF reader over a memory-mapped file.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.
//!
//! candle has its own reader, but it trusts every length in the file: a corrupted
//! string or array length makes it try to allocate terabytes. Hearth reads files
//! users download from anywhere, so every count here is checked against the bytes
//! that are actually left before anything is allocated, and every failure names
//! what was wrong. Tensor bytes are never copied out of the map until a model asks
//! for a tensor, and then straight into candle's storage.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Tensor};

use crate::error::EngineError;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// An array of strings in one buffer: a vocabulary holds 50k–260k of
    /// them, and a `Value` each cost Gemma 3 about 25 MiB while loading.
    Strings(StringArray),
    /// An array of f32 (token scores).
    F32Array(Vec<f32>),
    /// An array of integers of a kind that fits an i64 (token types).
    IntArray(Vec<i64>),
    /// Any other array (of u64, f64, bools or arrays).
    Array(Vec<Value>),
}

impl<'s> FromIterator<&'s str> for StringArray {
    fn from_iter<I: IntoIterator<Item = &'s str>>(items: I) -> Self {
        let mut out = StringArray::default();
        for s in items {
            out.push(s);
        }
        out
    }
}

/// Strings stored end to end, with where each one ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StringArray {
    text: String,
    ends: Vec<usize>,
}

impl StringArray {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        // Every end was recorded after a whole `&str` was pushed: the ranges
        // fall on character boundaries.
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Strings(_) => "array of strings",
            Value::F32Array(_) => "array of f32",
            Value::IntArray(_) => "array of integers",
            Value::Array(_) => "array",
        }
    }

    /// Any integer kind as u64, if it is one and not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer kind as i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            #[allow(clippy::cast_precision_loss)]
            _ => self.as_i64().map(|v| v as f64),
        }
    }
}

/// Where a tensor's bytes are and how to read them.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// GGUF order: innermost dimension first.
    pub dims: Vec<usize>,
    pub dtype: GgmlDType,
    /// Absolute byte range in the file.
    offset: usize,
    len: usize,
}

impl TensorInfo {
    /// Dimensions in candle's order (outermost first).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
}

/// A byte range of a mapped GGUF file, kept mapped while this lives.
#[derive(Clone)]
pub(crate) struct Mapped {
    map: Arc<memmap2::Mmap>,
    offset: usize,
    len: usize,
}

impl Mapped {
    pub(crate) fn bytes(&self) -> &[u8] {
        // The range was checked against the map when this was made.
        &self.map[self.offset..self.offset + self.len]
    }
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mapped({} bytes at {})", self.len, self.offset)
    }
}

/// An open GGUF file: metadata and tensor directory parsed, tensor data mapped.
pub struct GgufFile {
    path: PathBuf,
    map: Arc<memmap2::Mmap>,
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: BTreeMap<String, TensorInfo>,
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens and validates `path`. Fails with [`EngineError::InvalidGguf`] (naming
    /// the file and what is wrong) on anything that is not a complete GGUF v2/v3 file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the map is read-only. If another process truncates the file while
        // it is mapped, reads past the new end fault (SIGBUS); that is the same
        // contract every mmap-based model loader (llama.cpp, safetensors) accepts.
        // Weights the CPU kernels compute on stay mapped for the model's life
        // (`mapped`); deleting or replacing the file (a new inode) is safe, only
        // truncating it in place is not.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        let invalid = |reason: String| EngineError::InvalidGguf {
            path: path.clone(),
            reason,
        };
        let parsed = parse(&map).map_err(invalid)?;
        Ok(Self {
            path,
            map: Arc::new(map),
            version: parsed.version,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    pub fn tensor_infos(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, EngineError> {
        self.get_str("general.architecture")
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&Value, EngineError> {
        self.metadata
            .get(key)
            .ok_or_else(|| EngineError::MissingMetadata {
                key: key.to_owned(),
            })
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> EngineError {
        EngineError::MetadataType {
            key: key.to_owned(),
            expected,
            found: found.type_name(),
        }
    }

    /// `Ok(None)` when `key` is absent; otherwise what `get` reads from it (its
    /// error still names the key when the value has the wrong type).
    pub fn optional<'a, T>(
        &'a self,
        key: &str,
        get: impl FnOnce(&'a Self, &str) -> Result<T, EngineError>,
    ) -> Result<Option<T>, EngineError> {
        if self.metadata.contains_key(key) {
            get(self, key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, EngineError> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(key, "string", other)),
        }
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, EngineError> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| self.wrong_type(key, "unsigned integer", v))
    }

    pub fn get_usize(&self, key: &str) -> Result<usize, EngineError> {
        let v = self.get_u64(key)?;
        usize::try_from(v).map_err(|_| EngineError::MetadataType {
            key: key.to_owned(),
            expected: "integer that fits in usize",
            found: "u64",
        })
    }

    pub fn get_f64(&self, key: &str) -> Result<f64, EngineError> {
        let v = self.require(key)?;
        v.as_f64().ok_or_else(|| self.wrong_type(key, "number", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, EngineError> {
        match self.require(key)? {
            Value::Bool(b) => Ok(*b),
            other => Err(self.wrong_type(key, "bool", other)),
        }
    }

    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>, EngineError> {
        match self.require(key)? {
            Value::Strings(a) => Ok(a.iter().collect()),
            Value::Array(a) if a.is_empty() => Ok(Vec::new()),
            other => Err(self.wrong_type(key, "array of strings", other)),
        }
    }

    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, EngineError> {
        match self.require(key)? {
            Value::F32Array(a) => Ok(a.clone()),
            Value::Array(a) if a.is_empty() => Ok(Vec::new()),
            other => Err(self.wrong_type(key, "array of f32", other)),
        }
    }

    pub fn get_i64_array(&self, key: &str) -> Result<Vec<i64>, EngineError> {
        match self.require(key)? {
            Value::IntArray(a) => Ok(a.clone()),
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_i64()
                        .ok_or_else(|| self.wrong_type(key, "array of integers", v))
                })
                .collect(),
            other => Err(self.wrong_type(key, "array of integers", other)),
        }
    }

    /// `{arch}.{suffix}`, the per-architecture hyperparameter keys.
    pub fn arch_key(&self, suffix: &str) -> Result<String, EngineError> {
        Ok(format!("{}.{suffix}", self.architecture()?))
    }

    /// The raw bytes of a tensor, straight from the map.
    pub fn tensor_bytes(&self, name: &str) -> Result<(&TensorInfo, &[u8]), EngineError> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| EngineError::MissingTensor {
                name: name.to_owned(),
            })?;
        // Ranges were checked against the file size in `parse`.
        let bytes = self
            .map
            .get(info.offset..info.offset + info.len)
            .ok_or_else(|| EngineError::MissingTensor {
                name: name.to_owned(),
            })?;
        Ok((info, bytes))
    }

    /// A tensor's bytes that stay mapped (not copied) for as long as the
    /// returned handle lives: the kernels compute on the file's pages directly.
    pub(crate) fn mapped(&self, name: &str) -> Result<(&TensorInfo, Mapped), EngineError> {
        let (info, _) = self.tensor_bytes(name)?;
        Ok((
            info,
            Mapped {
                map: self.map.clone(),
                offset: info.offset,
                len: info.len,
            },
        ))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Loads a tensor in its stored (possibly quantised) type onto `device`.
    ///
    /// candle copies the bytes into storage of its own; the mapped pages are then
    /// handed back to the kernel, so a load never holds the file twice in memory.
    pub fn qtensor(&self, name: &str, device: &Device) -> Result<QTensor, EngineError> {
        let (info, bytes) = self.tensor_bytes(name)?;
        let tensor =
            qtensor_from_ggml(info.dtype, bytes, info.shape(), device).map_err(|source| {
                EngineError::Tensor {
                    name: name.to_owned(),
                    source,
                }
            })?;
        self.release(info.offset, info.len);
        Ok(tensor)
    }

    /// Drops the resident pages of a byte range of the map (they are re-read from
    /// the file if touched again). Only an optimisation: failures are ignored.
    #[cfg(unix)]
    fn release(&self, offset: usize, len: usize) {
        // SAFETY: the map is a read-only shared file mapping and no slice of this
        // range is borrowed any more (the tensor above owns a copy); MADV_DONTNEED
        // only makes later reads fault the pages back in from the file.
        #[allow(unsafe_code)]
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
        };
    }

    #[cfg(not(unix))]
    fn release(&self, _offset: usize, _len: usize) {}

    /// Loads a tensor dequantised to f32 (for small tensors: norms, biases).
    pub fn tensor_f32(&self, name: &str, device: &Device) -> Result<Tensor, EngineError> {
        self.qtensor(name, device)?
            .dequantize(device)
            .map_err(|source| EngineError::Tensor {
                name: name.to_owned(),
                source,
            })
    }
}

struct Parsed {
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: BTreeMap<String, TensorInfo>,
}

/// A cursor that refuses to read past the end and names what it was reading.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(format!(
                "file ends at byte {} while reading {what} (truncated?)",
                self.buf.len()
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must be satisfiable by the bytes left, at `min_item` bytes each.
    fn count(&mut self, what: &str, min_item: usize) -> Result<usize, String> {
        let n = self.u64(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item as u64) > left {
            return Err(format!(
                "{what} is {n}, more than the {left} bytes left in the file could hold"
            ));
        }
        usize::try_from(n).map_err(|_| format!("{what} {n} is too large"))
    }

    fn str(&mut self, what: &str) -> Result<&'a str, String> {
        let len = self.count(what, 1)?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        self.str(what).map(str::to_owned)
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, String> {
        let what = key;
        Ok(match ty {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("metadata {key}: invalid bool byte {b}")),
            },
            8 => Value::String(self.string(what)?),
            9 => {
                if depth > 4 {
                    return Err(format!("metadata {key}: arrays nested too deeply"));
                }
                let item_ty = self.u32(what)?;
                let len = self.count(what, min_size(item_ty))?;
                match item_ty {
                    8 => {
                        let mut items = StringArray::default();
                        for _ in 0..len {
                            items.push(self.str(what)?);
                        }
                        Value::Strings(items)
                    }
                    6 => {
                        let mut items = Vec::with_capacity(len);
                        for _ in 0..len {
                            items.push(f32::from_le_bytes(self.array(what)?));
                        }
                        Value::F32Array(items)
                    }
                    0..=5 | 11 => {
                        let mut items = Vec::with_capacity(len);
                        for _ in 0..len {
                            let item = self.value(item_ty, key, depth + 1)?;
                            // These kinds all fit an i64.
                            items.push(item.as_i64().unwrap_or_default());
                        }
                        Value::IntArray(items)
                    }
                    _ => {
                        let mut items = Vec::with_capacity(len);
                        for _ in 0..len {
                            items.push(self.value(item_ty, key, depth + 1)?);
                        }
                        Value::Array(items)
                    }
                }
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => return Err(format!("metadata {key}: unknown value type {other}")),
        })
    }
}

/// The fewest bytes one value of a type can take (used to bound counts).
fn min_size(ty: u32) -> usize {
    match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8..=12 => 8,
        _ => 1,
    }
}

fn ggml_dtype(code: u32) -> Option<GgmlDType> {
    Some(match code {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

fn parse(buf: &[u8]) -> Result<Parsed, String> {
    let mut r = Reader { buf, pos: 0 };
    let magic = r
        .take(4, "the magic number")
        .map_err(|_| "not a GGUF file (too short to have a header)".to_owned())?;
    if magic != MAGIC {
        return Err("not a GGUF file (no GGUF magic number at the start)".to_owned());
    }
    let version = r.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported (supported: 2, 3)"
        ));
    }
    // A tensor info is at least a name length, n_dims, type and offset.
    let n_tensors = r.count("the tensor count", 8 + 4 + 4 + 8)?;
    // A key/value pair is at least a key length and a type.
    let n_kv = r.count("the metadata count", 8 + 4)?;

    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = r.string("a metadata key")?;
        let ty = r.u32(&key)?;
        let value = r.value(ty, &key, 0)?;
        metadata.insert(key, value);
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a.is_power_of_two() => a,
            _ => return Err(format!("general.alignment {v:?} is not a power of two")),
        },
    };

    let mut raw = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let name = r.string("a tensor name")?;
        let n_dims = r.u32(&name)?;
        if n_dims == 0 || n_dims > 4 {
            return Err(format!(
                "tensor {name} has {n_dims} dimensions (1 to 4 allowed)"
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = r.u64(&name)?;
            dims.push(
                usize::try_from(d)
                    .map_err(|_| format!("tensor {name}: dimension {d} too large"))?,
            );
        }
        let code = r.u32(&name)?;
        let dtype =
            ggml_dtype(code).ok_or_else(|| format!("tensor {name} has unsupported type {code}"))?;
        let offset = r.u64(&name)?;
        raw.push((name, dims, dtype, offset));
    }

    let header_end = r.pos as u64;
    let data_start = header_end.div_ceil(alignment) * alignment;
    let file_len = buf.len() as u64;
    let mut tensors = BTreeMap::new();
    for (name, dims, dtype, offset) in raw {
        let elems = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor {name}: element count overflows"))?;
        if elems % dtype.block_size() != 0 {
            return Err(format!(
                "tensor {name}: {elems} elements is not a multiple of the {dtype:?} block size"
            ));
        }
        let len = elems / dtype.block_size() * dtype.type_size();
        let start = data_start
            .checked_add(offset)
            .ok_or_else(|| format!("tensor {name}: offset overflows"))?;
        let end = start
            .checked_add(len as u64)
            .ok_or_else(|| format!("tensor {name}: size overflows"))?;
        if end > file_len {
            return Err(format!(
                "tensor {name} needs bytes {start}..{end} but the file has {file_len} (truncated?)"
            ));
        }
        let info = TensorInfo {
            dims,
            dtype,
            offset: usize::try_from(start)
                .map_err(|_| format!("tensor {name}: offset too large"))?,
            len,
        };
        if tensors.insert(name.clone(), info).is_some() {
            return Err(format!("tensor {name} appears twice"));
        }
    }
    Ok(Parsed {
        version,
        metadata,
        tensors,
    })
}

/// Writes minimal GGUF files for tests (no model needed).
#[cfg(test)]
pub(crate) mod testing {
    /// A GGUF v3 file with the given string metadata and one f32 tensor `t` of `n` floats.
    pub(crate) fn tiny_gguf(kv: &[(&str, &str)], n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
        let s = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        for (k, v) in kv {
            s(&mut out, k);
            out.extend_from_slice(&8u32.to_le_bytes());
            s(&mut out, v);
        }
        s(&mut out, "t");
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(n as u64).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        while out.len() % 32 != 0 {
            out.push(0);
        }
        for i in 0..n {
            out.extend_from_slice(&(i as f32).to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_arrays_keep_every_string_whole() {
        let words = ["", "<0x0A>", "▁é", "", "日本語"];
        let a: StringArray = words.iter().copied().collect();
        assert_eq!(a.len(), 5);
        assert_eq!(a.iter().collect::<Vec<_>>(), words);
        assert_eq!(a.get(2), Some("▁é"));
        assert_eq!(a.get(4), Some("日本語"));
        assert_eq!(a.get(5), None);
        assert!(StringArray::default().is_empty());
    }

    fn write(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_metadata_and_tensor() {
        let bytes = testing::tiny_gguf(&[("general.architecture", "llama")], 8);
        let (_d, path) = write(&bytes);
        let g = GgufFile::open(&path).unwrap();
        assert_eq!(g.architecture().unwrap(), "llama");
        let t = g.tensor_f32("t", &Device::Cpu).unwrap();
        assert_eq!(
            t.to_vec1::<f32>().unwrap(),
            (0..8).map(|i| i as f32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn missing_key_is_named() {
        let bytes = testing::tiny_gguf(&[], 8);
        let (_d, path) = write(&bytes);
        let g = GgufFile::open(&path).unwrap();
        let err = g.get_u64("llama.block_count").unwrap_err().to_string();
        assert!(err.contains("llama.block_count"), "{err}");
    }

    #[test]
    fn every_truncation_is_a_clear_error() {
        let bytes = testing::tiny_gguf(&[("general.architecture", "llama")], 8);
        for cut in 0..bytes.len() {
            let (_d, path) = write(&bytes[..cut]);
            let err = GgufFile::open(&path).unwrap_err();
            assert!(
                matches!(err, EngineError::InvalidGguf { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        let mut bytes = testing::tiny_gguf(&[("general.architecture", "llama")], 8);
        // The key length of the first metadata entry, set to 2^62.
        bytes[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
        let (_d, path) = write(&bytes);
        let err = GgufFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("more than the"), "{err}");
    }

    #[test]
    fn not_gguf() {
        let (_d, path) = write(b"{\"this is\": \"json\"}");
        let err = GgufFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("not a GGUF file"), "{err}");
    }
}
