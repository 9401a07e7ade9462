//! GGUF files written byte by byte for tests.
//!
//! - [`GgufWriter`]: any metadata value and any tensor record, written as
//!   told, including what no honest writer would write (a count that lies, a
//!   type code that does not exist, offsets that overlap): the hostile files
//!   are built with it. It knows nothing of the reader it tests (no shared
//!   type table), so a mistake in one does not hide in the other.
//! - [`TinyGguf`]: a small complete file the model library reads.
//! - [`TinyLlama`]: a small llama model the engine loads and runs (tokenizer,
//!   template, weights), and the base the lying variants are made from.
//! - [`hostile`]: the hostile-file corpus every GGUF reader in Hearth is run on.

pub mod hostile;
mod tiny;

pub use tiny::{TinyGguf, TinyLlama};

/// ggml type codes the writer's helpers use.
pub mod codes {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q8_0: u32 = 8;
}

/// A metadata value as the writer puts it in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Kv {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// An array of items of type `item` (a GGUF value type code).
    Array {
        item: u32,
        items: Vec<Kv>,
    },
    /// Type code `code`, then `bytes` verbatim: for values that lie.
    Raw {
        code: u32,
        bytes: Vec<u8>,
    },
}

impl Kv {
    pub fn str(s: &str) -> Self {
        Self::Str(s.to_owned())
    }

    pub fn strs<'a>(items: impl IntoIterator<Item = &'a str>) -> Self {
        Self::Array {
            item: 8,
            items: items.into_iter().map(Self::str).collect(),
        }
    }

    pub fn f32s(items: impl IntoIterator<Item = f32>) -> Self {
        Self::Array {
            item: 6,
            items: items.into_iter().map(Self::F32).collect(),
        }
    }

    pub fn i32s(items: impl IntoIterator<Item = i32>) -> Self {
        Self::Array {
            item: 5,
            items: items.into_iter().map(Self::I32).collect(),
        }
    }

    fn code(&self) -> u32 {
        match self {
            Self::U8(_) => 0,
            Self::I8(_) => 1,
            Self::U16(_) => 2,
            Self::I16(_) => 3,
            Self::U32(_) => 4,
            Self::I32(_) => 5,
            Self::F32(_) => 6,
            Self::Bool(_) => 7,
            Self::Str(_) => 8,
            Self::Array { .. } => 9,
            Self::U64(_) => 10,
            Self::I64(_) => 11,
            Self::F64(_) => 12,
            Self::Raw { code, .. } => *code,
        }
    }

    /// The value without its type code.
    fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::U8(v) => out.push(*v),
            Self::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Bool(v) => out.push(u8::from(*v)),
            Self::Str(s) => string(out, s),
            Self::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Array { item, items } => {
                out.extend_from_slice(&item.to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                // Items have no type code of their own (nested arrays
                // write their item type and count in their body).
                for it in items {
                    it.write_body(out);
                }
            }
            Self::Raw { bytes, .. } => out.extend_from_slice(bytes),
        }
    }
}

/// One tensor record and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    /// GGUF order: innermost first. Written as given (even more than four).
    pub dims: Vec<u64>,
    pub type_code: u32,
    /// Written at the tensor's offset, as given (it may be shorter or longer
    /// than the type and shape say).
    pub data: Vec<u8>,
    /// The offset from the start of the data section; `None` places it after
    /// the previous tensor, aligned.
    pub offset: Option<u64>,
}

impl TensorSpec {
    /// An F32 tensor of `shape` (outermost first, as candle and PyTorch write it).
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        Self {
            name: name.to_owned(),
            dims: shape.iter().rev().map(|&d| d as u64).collect(),
            type_code: codes::F32,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            offset: None,
        }
    }
}

/// Writes GGUF files as told; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufWriter {
    pub version: u32,
    pub kv: Vec<(String, Kv)>,
    pub tensors: Vec<TensorSpec>,
    /// Where the data section and tensors are aligned (write
    /// `general.alignment` yourself to tell a reader).
    pub alignment: u64,
    /// Written instead of the true tensor count, when set.
    pub tensor_count: Option<u64>,
    /// Written instead of the true metadata count, when set.
    pub kv_count: Option<u64>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self {
            version: 3,
            kv: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
            tensor_count: None,
            kv_count: None,
        }
    }
}

/// Where things landed in a written file (for surgical damage).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// Byte position of each metadata entry's key length, in order.
    pub kv_at: Vec<usize>,
    /// Byte position of each tensor record's name length, in order.
    pub tensor_at: Vec<usize>,
    /// Where the data section starts.
    pub data_start: usize,
    /// Each tensor's data range.
    pub data: Vec<std::ops::Range<usize>>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) metadata `key`.
    pub fn with(mut self, key: &str, value: Kv) -> Self {
        self.set(key, value);
        self
    }

    /// Sets metadata `key`, replacing it in place when present.
    pub fn set(&mut self, key: &str, value: Kv) {
        match self.kv.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.kv.push((key.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.kv.retain(|(k, _)| k != key);
    }

    pub fn tensor(mut self, spec: TensorSpec) -> Self {
        self.tensors.push(spec);
        self
    }

    /// The tensor named `name` (panics when absent: a test's mistake).
    pub fn tensor_mut(&mut self, name: &str) -> &mut TensorSpec {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    pub fn remove_tensor(&mut self, name: &str) {
        self.tensors.retain(|t| t.name != name);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.write().0
    }

    pub fn layout(&self) -> Layout {
        self.write().1
    }

    fn write(&self) -> (Vec<u8>, Layout) {
        let mut layout = Layout::default();
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        let n_tensors = self.tensor_count.unwrap_or(self.tensors.len() as u64);
        out.extend_from_slice(&n_tensors.to_le_bytes());
        let n_kv = self.kv_count.unwrap_or(self.kv.len() as u64);
        out.extend_from_slice(&n_kv.to_le_bytes());
        for (key, value) in &self.kv {
            layout.kv_at.push(out.len());
            string(&mut out, key);
            out.extend_from_slice(&value.code().to_le_bytes());
            value.write_body(&mut out);
        }
        let align = |n: u64| n.div_ceil(self.alignment).saturating_mul(self.alignment);
        let mut next = 0u64;
        let mut offsets = Vec::new();
        for t in &self.tensors {
            layout.tensor_at.push(out.len());
            string(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.type_code.to_le_bytes());
            let offset = t.offset.unwrap_or(next);
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            next = align(offset.saturating_add(t.data.len() as u64));
        }
        if !self.tensors.is_empty() {
            out.resize(align(out.len() as u64) as usize, 0);
        }
        layout.data_start = out.len();
        for (t, &offset) in self.tensors.iter().zip(&offsets) {
            // Data claimed to lie past the first GiB is not written: the file
            // just ends before it (a test's way to say "far outside the file").
            let start = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(layout.data_start))
                .filter(|&s| s + t.data.len() <= 1 << 30);
            let Some(start) = start else {
                layout.data.push(0..0);
                continue;
            };
            let end = start + t.data.len();
            if out.len() < end {
                out.resize(end, 0);
            }
            out[start..end].copy_from_slice(&t.data);
            layout.data.push(start..end);
        }
        (out, layout)
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_layout_the_specification_describes() {
        let w = GgufWriter::new()
            .with("general.architecture", Kv::str("llama"))
            .with("a.list", Kv::i32s([1, -1]))
            .tensor(TensorSpec::f32("t", &[2], &[1.0, 2.0]))
            .tensor(TensorSpec::f32("u", &[1], &[3.0]));
        let (bytes, layout) = w.write();
        assert_eq!(&bytes[..4], b"GGUF");
        assert_eq!(bytes[4..8], 3u32.to_le_bytes());
        assert_eq!(bytes[8..16], 2u64.to_le_bytes());
        assert_eq!(bytes[16..24], 2u64.to_le_bytes());
        assert_eq!(layout.kv_at[0], 24);
        assert_eq!(layout.data_start % 32, 0);
        assert_eq!(layout.data[0], layout.data_start..layout.data_start + 8);
        assert_eq!(layout.data[1].start, layout.data_start + 32);
        assert_eq!(bytes[layout.data[1].clone()], 3f32.to_le_bytes());
    }
}
