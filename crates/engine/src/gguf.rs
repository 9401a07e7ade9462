//! GGUF model files in the engine: the file mapped into memory, its header read
//! by hearth-gguf (which checks every count, length, size and offset before
//! trusting it), and tensors built from the mapped bytes.
//!
//! Tensor bytes are never copied out of the map until a model asks for a
//! tensor, and then straight into candle's storage (or not at all: weights
//! hearth-kernels computes on stay in the map, see `models/qweight.rs`).

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{QTensor, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Tensor};
use hearth_gguf::{Gguf, Metadata, MetadataError, ReadOptions};

pub use hearth_gguf::{Array, GgmlType, StringArray, TensorInfo, Value};

use crate::error::EngineError;
use crate::support::{candle_dtype, runnable_type_names};

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

/// An open GGUF file: header read and checked, tensor data mapped.
pub struct GgufFile {
    path: PathBuf,
    map: Arc<memmap2::Mmap>,
    header: Gguf,
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.header.version())
            .field("metadata", &self.header.metadata().len())
            .field("tensors", &self.header.tensors().len())
            .finish()
    }
}

impl From<MetadataError> for EngineError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::Missing { key } => EngineError::MissingMetadata { key },
            MetadataError::WrongType {
                key,
                expected,
                found,
            } => EngineError::MetadataType {
                key,
                expected,
                found,
            },
        }
    }
}

impl GgufFile {
    /// Opens and checks `path`. Fails with [`EngineError::InvalidGguf`] (naming
    /// the file and what is wrong) on anything that is not a complete GGUF
    /// v2/v3 file whose tensors all lie inside it.
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
        let header =
            Gguf::from_bytes(&map, &ReadOptions::full()).map_err(|e| EngineError::InvalidGguf {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            path,
            map: Arc::new(map),
            header,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.header.version()
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.header.file_size()
    }

    /// The header as hearth-gguf read it.
    pub fn header(&self) -> &Gguf {
        &self.header
    }

    pub fn metadata(&self) -> &Metadata {
        self.header.metadata()
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        self.header.tensors()
    }

    /// The tensor named `name`.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo, EngineError> {
        self.header
            .tensor(name)
            .ok_or_else(|| EngineError::MissingTensor {
                name: name.to_owned(),
            })
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, EngineError> {
        self.get_str("general.architecture")
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata().get(key)
    }

    /// `Ok(None)` when `key` is absent; otherwise what `get` reads from it (its
    /// error still names the key when the value has the wrong type).
    pub fn optional<'a, T>(
        &'a self,
        key: &str,
        get: impl FnOnce(&'a Self, &str) -> Result<T, EngineError>,
    ) -> Result<Option<T>, EngineError> {
        if self.metadata().contains(key) {
            get(self, key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, EngineError> {
        Ok(self.metadata().get_str(key)?)
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, EngineError> {
        Ok(self.metadata().get_u64(key)?)
    }

    pub fn get_usize(&self, key: &str) -> Result<usize, EngineError> {
        Ok(self.metadata().get_usize(key)?)
    }

    pub fn get_f64(&self, key: &str) -> Result<f64, EngineError> {
        Ok(self.metadata().get_f64(key)?)
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, EngineError> {
        Ok(self.metadata().get_bool(key)?)
    }

    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>, EngineError> {
        Ok(self.metadata().get_strings(key)?.iter().collect())
    }

    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, EngineError> {
        Ok(self.metadata().get_f32s(key)?.to_vec())
    }

    pub fn get_i64_array(&self, key: &str) -> Result<Vec<i64>, EngineError> {
        Ok(self.metadata().get_i64s(key)?)
    }

    /// `{arch}.{suffix}`, the per-architecture hyperparameter keys.
    pub fn arch_key(&self, suffix: &str) -> Result<String, EngineError> {
        Ok(format!("{}.{suffix}", self.architecture()?))
    }

    /// The raw bytes of a tensor, straight from the map.
    pub fn tensor_bytes(&self, name: &str) -> Result<(&TensorInfo, &[u8]), EngineError> {
        let info = self.tensor_info(name)?;
        Ok((info, &self.map[self.range(info)]))
    }

    /// A tensor's byte range in the map. The reader checked that it lies
    /// inside the file, which is the map's length, so the conversions cannot
    /// fail on a file that was mapped whole.
    fn range(&self, info: &TensorInfo) -> std::ops::Range<usize> {
        let r = info.byte_range();
        let start = usize::try_from(r.start).unwrap_or(usize::MAX);
        let end = usize::try_from(r.end).unwrap_or(usize::MAX);
        start.min(self.map.len())..end.min(self.map.len())
    }

    /// A tensor's bytes that stay mapped (not copied) for as long as the
    /// returned handle lives: the kernels compute on the file's pages directly.
    pub(crate) fn mapped(&self, name: &str) -> Result<(&TensorInfo, Mapped), EngineError> {
        let info = self.tensor_info(name)?;
        let range = self.range(info);
        Ok((
            info,
            Mapped {
                map: self.map.clone(),
                offset: range.start,
                len: range.len(),
            },
        ))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.header.tensor(name).is_some()
    }

    /// Loads a tensor in its stored (possibly quantised) type onto `device`.
    ///
    /// candle copies the bytes into storage of its own; the mapped pages are then
    /// handed back to the kernel, so a load never holds the file twice in memory.
    pub fn qtensor(&self, name: &str, device: &Device) -> Result<QTensor, EngineError> {
        let (info, bytes) = self.tensor_bytes(name)?;
        let ty = info.ggml_type();
        let dtype = candle_dtype(ty).ok_or_else(|| EngineError::UnsupportedTensorType {
            tensor: name.to_owned(),
            ty: ty.name(),
            runs: runnable_type_names(device, true),
        })?;
        let tensor = qtensor_from_ggml(dtype, Aligned::new(bytes).bytes(), info.shape(), device)
            .map_err(|source| EngineError::Tensor {
                name: name.to_owned(),
                source,
            })?;
        let range = self.range(info);
        self.release(range.start, range.len());
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

    /// Loads a small tensor (a norm, a bias) dequantised to f32, refusing one
    /// that holds NaN or infinity: a damaged file is named at load, not after
    /// it has produced garbage.
    pub fn tensor_f32(&self, name: &str, device: &Device) -> Result<Tensor, EngineError> {
        let err = |source| EngineError::Tensor {
            name: name.to_owned(),
            source,
        };
        let t = self
            .qtensor(name, device)?
            .dequantize(device)
            .map_err(err)?;
        let values = t
            .flatten_all()
            .and_then(|v| v.to_vec1::<f32>())
            .map_err(err)?;
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::NonFiniteWeights {
                tensor: name.to_owned(),
                index: at,
                value: values[at],
            });
        }
        Ok(t)
    }
}

/// Bytes candle may view as a slice of blocks or numbers: the tensor's own
/// bytes when their address is 8-aligned (more than any ggml block type
/// needs), else an aligned copy. The reader keeps every tensor at a multiple
/// of `general.alignment` (itself a multiple of 8) in a page-aligned map, so
/// the copy is a guard, not a path real files take: candle casts the pointer
/// to `*const Block` without checking, and a misaligned cast would be
/// undefined behaviour.
enum Aligned<'a> {
    Borrowed(&'a [u8]),
    Copied { buf: Vec<u8>, start: usize },
}

impl Aligned<'_> {
    const ALIGN: usize = 8;

    fn new(bytes: &[u8]) -> Aligned<'_> {
        if bytes.as_ptr().align_offset(Self::ALIGN) == 0 {
            return Aligned::Borrowed(bytes);
        }
        let mut buf = vec![0u8; bytes.len() + Self::ALIGN];
        // At most 7 for a byte buffer; `min` keeps the slice in bounds even
        // if the platform could not say.
        let start = buf.as_ptr().align_offset(Self::ALIGN).min(Self::ALIGN);
        buf.truncate(start + bytes.len());
        buf[start..].copy_from_slice(bytes);
        Aligned::Copied { buf, start }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Aligned::Borrowed(b) => b,
            Aligned::Copied { buf, start } => &buf[*start..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn not_gguf() {
        let (_d, path) = write(b"{\"this is\": \"json\"}");
        let err = GgufFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("not a GGUF file"), "{err}");
        assert!(err.contains("m.gguf"), "{err}");
    }

    #[test]
    fn misaligned_bytes_are_copied_before_candle_views_them() {
        let bytes = [7u8; 80];
        // Starting one byte apart, at least one of the two is misaligned.
        let mut copied = 0;
        for start in [0, 1] {
            let slice = &bytes[start..start + 64];
            let view = Aligned::new(slice);
            assert_eq!(view.bytes().as_ptr().align_offset(8), 0, "start {start}");
            assert_eq!(view.bytes(), slice);
            copied += usize::from(matches!(view, Aligned::Copied { .. }));
        }
        assert!(copied >= 1);
    }

    #[test]
    fn every_ggml_type_candle_holds_has_the_same_layout_there() {
        for &ty in GgmlType::ALL {
            if let Some(dtype) = candle_dtype(ty) {
                let layout = ty.layout().unwrap();
                assert_eq!(dtype.block_size(), layout.block, "{ty}");
                assert_eq!(dtype.type_size(), layout.bytes, "{ty}");
            }
        }
    }
}

/// Writes minimal GGUF files for tests (no model needed).
#[cfg(test)]
pub(crate) mod testing {
    use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec};

    /// A GGUF v3 file with the given string metadata and one f32 tensor `t` of `n` floats.
    pub(crate) fn tiny_gguf(kv: &[(&str, &str)], n: usize) -> Vec<u8> {
        let mut w = GgufWriter::new();
        for (k, v) in kv {
            w.set(k, Kv::str(v));
        }
        let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
        w.tensor(TensorSpec::f32("t", &[n], &values)).to_bytes()
    }
}
