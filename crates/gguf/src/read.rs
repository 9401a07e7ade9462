//! The bounded cursor the header is read through, and metadata values.
//!
//! Nothing a file says is trusted before it is checked against what is really
//! there: every count against the bytes left (at the fewest bytes an item can
//! take), every length against a limit, and everything kept in memory against
//! a budget, before any allocation. So a hostile file costs at most its own
//! size in memory (and never more than [`ReadOptions::max_memory`]), and a
//! damaged one fails with an error naming the field.

use std::fmt;
use std::io::{self, Read, Seek};

use crate::error::GgufError;
use crate::value::{Array, StringArray, Value, ValueType};

/// Arrays may hold arrays this deep (the format allows nesting; no model uses it).
pub(crate) const MAX_NESTING: u32 = 4;

/// How much of a file's metadata to keep, and the limits that hold whatever
/// the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Metadata strings and arrays longer than this (bytes, items) are
    /// skipped, not read: they become [`Value::Omitted`].
    pub keep_up_to: u64,
    /// A longer string is an error (when it is kept).
    pub max_string: u64,
    /// Memory the metadata and tensor table may take once read.
    pub max_memory: u64,
}

impl ReadOptions {
    /// Everything, as the engine needs it (vocabulary included). The limits
    /// are far above any real model's: Gemma 3's 262k-token vocabulary takes
    /// about 10 MiB, the longest strings (an embedded `tokenizer.json`) tens.
    pub const fn full() -> Self {
        Self {
            keep_up_to: u64::MAX,
            max_string: 256 << 20,
            max_memory: 1 << 30,
        }
    }

    /// Scalars and short strings and arrays only: what a library listing
    /// needs (name, architecture, shape). Vocabularies and templates are
    /// skipped without being read into memory.
    pub const fn summary() -> Self {
        Self {
            keep_up_to: 4096,
            max_string: 4096,
            max_memory: 64 << 20,
        }
    }
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self::full()
    }
}

/// What is being read, for error messages; formatted only on failure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    Header(&'static str),
    Key(u64),
    Value(&'a str),
    Item(&'a str, u64),
    TensorName(u64),
    Tensor(&'a str),
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(what) => f.write_str(what),
            Self::Key(i) => write!(f, "the key of metadata entry {i}"),
            Self::Value(key) => write!(f, "the value of metadata key \"{key}\""),
            Self::Item(key, i) => write!(f, "item {i} of metadata key \"{key}\""),
            Self::TensorName(i) => write!(f, "the name of tensor {i}"),
            Self::Tensor(name) => write!(f, "the record of tensor \"{name}\""),
        }
    }
}

/// A cursor over the file that knows its length and counts what is kept.
pub(crate) struct Source<R> {
    inner: R,
    pos: u64,
    len: u64,
    used: u64,
    max_memory: u64,
    scratch: Vec<u8>,
}

impl<R: Read + Seek> Source<R> {
    /// `inner` positioned at the start of a file of `len` bytes.
    pub(crate) fn new(inner: R, len: u64, max_memory: u64) -> Self {
        Self {
            inner,
            pos: 0,
            len,
            used: 0,
            max_memory,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, n: u64, what: Field<'_>) -> Result<(), GgufError> {
        if n > self.left() {
            return Err(GgufError::Truncated {
                what: what.to_string(),
                len: self.len,
            });
        }
        Ok(())
    }

    /// Counts `bytes` more of memory kept, failing past the budget.
    pub(crate) fn charge(&mut self, bytes: u64, what: Field<'_>) -> Result<(), GgufError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.max_memory {
            return Err(GgufError::OverBudget {
                what: what.to_string(),
                limit: self.max_memory,
            });
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: Field<'_>) -> Result<(), GgufError> {
        self.need(buf.len() as u64, what)?;
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            // Shorter than its length said when opened: cut while being read.
            io::ErrorKind::UnexpectedEof => GgufError::Truncated {
                what: what.to_string(),
                len: self.pos,
            },
            _ => GgufError::Io(e),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn bytes<const N: usize>(&mut self, what: Field<'_>) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        self.fill(&mut out, what)?;
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: Field<'_>) -> Result<u32, GgufError> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: Field<'_>) -> Result<u64, GgufError> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    pub(crate) fn skip(&mut self, n: u64, what: Field<'_>) -> Result<(), GgufError> {
        self.need(n, what)?;
        let step = i64::try_from(n).map_err(|_| GgufError::Truncated {
            what: what.to_string(),
            len: self.len,
        })?;
        self.inner.seek_relative(step)?;
        self.pos += n;
        Ok(())
    }

    /// A count of items of at least `min_item` bytes each, refused when the
    /// bytes left could not hold that many (before anything is allocated).
    pub(crate) fn count(&mut self, what: Field<'_>, min_item: usize) -> Result<u64, GgufError> {
        let n = self.u64(what)?;
        let left = self.left();
        if n.saturating_mul(min_item as u64) > left {
            return Err(GgufError::CountTooLarge {
                what: format!("the count in {what}"),
                count: n,
                left,
            });
        }
        Ok(n)
    }

    /// A string of at most `max` bytes, kept (and charged to the budget).
    pub(crate) fn string(&mut self, what: Field<'_>, max: u64) -> Result<String, GgufError> {
        let n = self.u64(what)?;
        self.string_body(n, what, max)?;
        String::from_utf8(std::mem::take(&mut self.scratch)).map_err(|_| GgufError::BadValue {
            what: what.to_string(),
            reason: "not valid UTF-8".into(),
        })
    }

    /// Reads the `n` bytes of a string into `self.scratch` after the checks.
    fn string_body(&mut self, n: u64, what: Field<'_>, max: u64) -> Result<(), GgufError> {
        // Past the end first: a length the file cannot hold is a cut or
        // damaged file, whatever the limit.
        self.need(n, what)?;
        if n > max {
            return Err(GgufError::TooLong {
                what: what.to_string(),
                len: n,
                max,
            });
        }
        self.charge(n, what)?;
        // `n` is at most the bytes left, which a slice or file of this
        // length holds: it fits in memory's address space.
        let n = usize::try_from(n).map_err(|_| GgufError::TooLong {
            what: what.to_string(),
            len: n,
            max: usize::MAX as u64,
        })?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.resize(n, 0);
        let read = self.fill(&mut buf, what);
        self.scratch = buf;
        read
    }

    /// A metadata value of type `ty` (for key `key`).
    pub(crate) fn value(
        &mut self,
        ty: ValueType,
        key: &str,
        opts: &ReadOptions,
        depth: u32,
    ) -> Result<Value, GgufError> {
        let what = Field::Value(key);
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.bytes(what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.bytes(what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.bytes(what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.bytes(what)?)),
            ValueType::U32 => Value::U32(self.u32(what)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.bytes(what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.bytes(what)?)),
            ValueType::U64 => Value::U64(self.u64(what)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.bytes(what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.bytes(what)?)),
            ValueType::Bool => Value::Bool(bool_from(self.bytes::<1>(what)?[0], what)?),
            ValueType::String => {
                let n = self.u64(what)?;
                if n > opts.keep_up_to {
                    self.skip(n, what)?;
                    Value::Omitted {
                        ty,
                        item: None,
                        len: n,
                    }
                } else {
                    self.string_body(n, what, opts.max_string)?;
                    let bytes = std::mem::take(&mut self.scratch);
                    Value::String(String::from_utf8(bytes).map_err(|_| GgufError::BadValue {
                        what: what.to_string(),
                        reason: "not valid UTF-8".into(),
                    })?)
                }
            }
            ValueType::Array => {
                let (item, n) = self.array_head(key, depth)?;
                if n > opts.keep_up_to {
                    self.skip_items(item, n, key, depth)?;
                    Value::Omitted {
                        ty,
                        item: Some(item),
                        len: n,
                    }
                } else {
                    Value::Array(self.array_items(item, n, key, opts, depth)?)
                }
            }
        })
    }

    /// An array's item type and count (bounded by the bytes left).
    fn array_head(&mut self, key: &str, depth: u32) -> Result<(ValueType, u64), GgufError> {
        let what = Field::Value(key);
        let code = self.u32(what)?;
        let item = ValueType::from_code(code).ok_or_else(|| GgufError::BadValue {
            what: what.to_string(),
            reason: format!("arrays of value type {code}, which GGUF does not have"),
        })?;
        if item == ValueType::Array && depth + 1 >= MAX_NESTING {
            return Err(GgufError::BadValue {
                what: what.to_string(),
                reason: format!("arrays nested more than {MAX_NESTING} deep"),
            });
        }
        let n = self.count(what, item.min_size())?;
        Ok((item, n))
    }

    /// Steps over `n` items of type `item` without keeping them.
    fn skip_items(
        &mut self,
        item: ValueType,
        n: u64,
        key: &str,
        depth: u32,
    ) -> Result<(), GgufError> {
        let what = Field::Value(key);
        if let Some(size) = item.fixed_size() {
            // The count was checked against the bytes left at this size.
            return self.skip(n * size as u64, what);
        }
        for i in 0..n {
            let what = Field::Item(key, i);
            if item == ValueType::String {
                let len = self.u64(what)?;
                self.skip(len, what)?;
            } else {
                let (inner, m) = self.array_head(key, depth + 1)?;
                self.skip_items(inner, m, key, depth + 1)?;
            }
        }
        Ok(())
    }

    fn array_items(
        &mut self,
        item: ValueType,
        n: u64,
        key: &str,
        opts: &ReadOptions,
        depth: u32,
    ) -> Result<Array, GgufError> {
        let what = Field::Value(key);
        // The count is at most the bytes left over the item size, so it fits
        // a usize wherever the file fits memory.
        let count = usize::try_from(n).map_err(|_| GgufError::CountTooLarge {
            what: format!("the count in {what}"),
            count: n,
            left: self.left(),
        })?;
        Ok(match item {
            ValueType::U8 => Array::U8(self.fixed(count, what, u8::from_le_bytes)?),
            ValueType::I8 => Array::I8(self.fixed(count, what, i8::from_le_bytes)?),
            ValueType::U16 => Array::U16(self.fixed(count, what, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.fixed(count, what, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.fixed(count, what, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.fixed(count, what, i32::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.fixed(count, what, f32::from_le_bytes)?),
            ValueType::U64 => Array::U64(self.fixed(count, what, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.fixed(count, what, i64::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.fixed(count, what, f64::from_le_bytes)?),
            ValueType::Bool => {
                let bytes = self.fixed(count, what, |[b]: [u8; 1]| b)?;
                let bools = bytes
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| bool_from(b, Field::Item(key, i as u64)))
                    .collect::<Result<_, _>>()?;
                Array::Bool(bools)
            }
            ValueType::String => {
                self.charge(n.saturating_mul(size_of::<usize>() as u64), what)?;
                let mut out = StringArray::with_capacity(count, 0);
                for i in 0..n {
                    let what = Field::Item(key, i);
                    let len = self.u64(what)?;
                    self.string_body(len, what, opts.max_string)?;
                    let s =
                        std::str::from_utf8(&self.scratch).map_err(|_| GgufError::BadValue {
                            what: what.to_string(),
                            reason: "not valid UTF-8".into(),
                        })?;
                    out.push(s);
                }
                // The text grew by doubling; give back what it did not use.
                out.shrink_to_fit();
                Array::String(out)
            }
            ValueType::Array => {
                self.charge(n.saturating_mul(size_of::<Array>() as u64), what)?;
                let mut out = Vec::with_capacity(count);
                for _ in 0..n {
                    // `keep_up_to` is for whole values: the items of a kept
                    // array are kept (the memory budget still holds them).
                    let (inner, m) = self.array_head(key, depth + 1)?;
                    out.push(self.array_items(inner, m, key, opts, depth + 1)?);
                }
                Array::Array(out)
            }
        })
    }

    /// `count` fixed-size items decoded by `decode`, read in chunks (the
    /// vector is charged to the budget first: it is as big as their bytes).
    fn fixed<T, const N: usize>(
        &mut self,
        count: usize,
        what: Field<'_>,
        decode: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        self.charge((count as u64).saturating_mul(size_of::<T>() as u64), what)?;
        let mut out = Vec::with_capacity(count);
        let mut chunk = [0u8; 4096];
        let per_chunk = chunk.len() / N;
        let mut left = count;
        while left > 0 {
            let n = left.min(per_chunk);
            let buf = &mut chunk[..n * N];
            self.fill(buf, what)?;
            out.extend(buf.chunks_exact(N).map(|c| {
                let mut item = [0u8; N];
                item.copy_from_slice(c);
                decode(item)
            }));
            left -= n;
        }
        Ok(out)
    }
}

fn bool_from(b: u8, what: Field<'_>) -> Result<bool, GgufError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(GgufError::BadValue {
            what: what.to_string(),
            reason: format!("invalid bool byte {b} (0 or 1)"),
        }),
    }
}
