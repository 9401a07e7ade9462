//! Metadata values as GGUF stores them.
//!
//! Arrays are kept in typed vectors, one element in memory per element in the
//! file and no bigger: a tokenizer's 260k token types take 1 MiB as `i32`s, not
//! 12 MiB as an enum each, and a hostile array cannot grow in memory past the
//! bytes it takes in the file (a `bool` is one byte in both).

use std::fmt;

/// The type codes of metadata values (`gguf_metadata_value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// The type with this code, if GGUF has one.
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// The code stored in the file.
    pub const fn code(self) -> u32 {
        match self {
            Self::U8 => 0,
            Self::I8 => 1,
            Self::U16 => 2,
            Self::I16 => 3,
            Self::U32 => 4,
            Self::I32 => 5,
            Self::F32 => 6,
            Self::Bool => 7,
            Self::String => 8,
            Self::Array => 9,
            Self::U64 => 10,
            Self::I64 => 11,
            Self::F64 => 12,
        }
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            Self::U8 | Self::I8 | Self::Bool => Some(1),
            Self::U16 | Self::I16 => Some(2),
            Self::U32 | Self::I32 | Self::F32 => Some(4),
            Self::U64 | Self::I64 | Self::F64 => Some(8),
            Self::String | Self::Array => None,
        }
    }

    /// The fewest bytes one value of this type takes in a file: what bounds
    /// how many of them a count may claim.
    pub const fn min_size(self) -> usize {
        match self.fixed_size() {
            Some(n) => n,
            // A string is its 8-byte length at least; an array its item type
            // and count.
            None => match self {
                Self::String => 8,
                _ => 12,
            },
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Array => "array",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    Array(Array),
    /// A value the reader was asked to skip ([`crate::ReadOptions::summary`]:
    /// long strings and arrays, such as a vocabulary): its type and length only.
    Omitted {
        /// `String`, or `Array` with the item type in `item`.
        ty: ValueType,
        item: Option<ValueType>,
        /// Bytes of a string, items of an array.
        len: u64,
    },
}

/// An array value, in a vector of its item type.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(StringArray),
    /// Arrays of arrays (the format allows them; no model file uses them).
    Array(Vec<Array>),
}

impl Value {
    /// What the value is, for error messages ("u32", "array of string", …).
    pub fn type_name(&self) -> String {
        match self {
            Self::Array(a) => format!("array of {}", a.item_type()),
            Self::Omitted {
                ty: ValueType::Array,
                item: Some(item),
                ..
            } => format!("array of {item} (not read)"),
            Self::Omitted { ty, .. } => format!("{ty} (not read)"),
            other => other.value_type().name().to_owned(),
        }
    }

    /// The type code this value has in the file.
    pub fn value_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F32(_) => ValueType::F32,
            Self::F64(_) => ValueType::F64,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::Omitted { ty, .. } => *ty,
        }
    }

    /// Any integer kind as u64, if it is one and not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer kind as i64, if it fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => i64::try_from(v).ok(),
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number as f64 (integers past 2^53 round).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            #[allow(clippy::cast_precision_loss)]
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl Array {
    /// The type of the items.
    pub fn item_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F32(_) => ValueType::F32,
            Self::F64(_) => ValueType::F64,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items as i64, if they are integers that all fit (token types).
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        fn all<T: Copy>(v: &[T], f: impl Fn(T) -> Option<i64>) -> Option<Vec<i64>> {
            v.iter().map(|&x| f(x)).collect()
        }
        match self {
            Self::U8(v) => all(v, |x| Some(x.into())),
            Self::I8(v) => all(v, |x| Some(x.into())),
            Self::U16(v) => all(v, |x| Some(x.into())),
            Self::I16(v) => all(v, |x| Some(x.into())),
            Self::U32(v) => all(v, |x| Some(x.into())),
            Self::I32(v) => all(v, |x| Some(x.into())),
            Self::U64(v) => all(v, |x| i64::try_from(x).ok()),
            Self::I64(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// Heap bytes the items take (not counting the vector headers of nested
    /// arrays' own items, which [`crate::Gguf`]'s memory limit does count).
    pub fn heap_bytes(&self) -> usize {
        fn of<T>(v: &[T]) -> usize {
            std::mem::size_of_val(v)
        }
        match self {
            Self::U8(v) => of(v),
            Self::I8(v) => of(v),
            Self::U16(v) => of(v),
            Self::I16(v) => of(v),
            Self::U32(v) => of(v),
            Self::I32(v) => of(v),
            Self::U64(v) => of(v),
            Self::I64(v) => of(v),
            Self::F32(v) => of(v),
            Self::F64(v) => of(v),
            Self::Bool(v) => of(v),
            Self::String(v) => v.heap_bytes(),
            Self::Array(v) => of(v) + v.iter().map(Array::heap_bytes).sum::<usize>(),
        }
    }
}

/// Strings stored end to end in one buffer, with where each one ends: a
/// vocabulary holds 50k–260k of them, and a `String` each would cost Gemma 3
/// about 12 MiB more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringArray {
    text: String,
    ends: Vec<usize>,
}

impl StringArray {
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            ends: Vec::new(),
        }
    }

    /// An empty array with room for `n` strings of `text` bytes in all.
    pub fn with_capacity(n: usize, text: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            ends: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`th string.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Heap bytes held (text and ends).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
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

    #[test]
    fn value_types_round_trip() {
        for code in 0..13 {
            let t = ValueType::from_code(code).unwrap();
            assert_eq!(t.code(), code);
            assert!(t.min_size() >= 1);
        }
        assert_eq!(ValueType::from_code(13), None);
    }

    #[test]
    fn integers_convert_only_when_they_fit() {
        assert_eq!(Value::I32(-1).as_u64(), None);
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U8(7).as_f64(), Some(7.0));
        assert_eq!(Value::Bool(true).as_u64(), None);
        assert_eq!(Array::I32(vec![1, -2]).to_i64s(), Some(vec![1, -2]));
        assert_eq!(Array::U64(vec![u64::MAX]).to_i64s(), None);
        assert_eq!(Array::F32(vec![1.0]).to_i64s(), None);
    }

    #[test]
    fn type_names_say_what_an_array_holds() {
        assert_eq!(Value::Array(Array::F32(vec![])).type_name(), "array of f32");
        assert_eq!(Value::U32(1).type_name(), "u32");
        let omitted = Value::Omitted {
            ty: ValueType::Array,
            item: Some(ValueType::String),
            len: 3,
        };
        assert_eq!(omitted.type_name(), "array of string (not read)");
    }
}
