//! The key/value metadata of a GGUF file, with typed getters whose errors name
//! the key.

use std::collections::BTreeMap;

use crate::value::{Array, StringArray, Value};

/// A metadata key that is missing or holds the wrong kind of value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("the model file has no metadata key \"{key}\"")]
    Missing { key: String },
    #[error("metadata key \"{key}\" should be {expected}, but it is {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
}

/// The metadata, by key (each key appears once: the reader refuses duplicates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    map: BTreeMap<String, Value>,
}

impl Metadata {
    /// Adds `key`; `false` (and nothing changes) if it is already there.
    pub(crate) fn insert_new(&mut self, key: String, value: Value) -> bool {
        match self.map.entry(key) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(value);
                true
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn require(&self, key: &str) -> Result<&Value, MetadataError> {
        self.map.get(key).ok_or_else(|| MetadataError::Missing {
            key: key.to_owned(),
        })
    }

    fn wrong(key: &str, expected: &'static str, found: &Value) -> MetadataError {
        MetadataError::WrongType {
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
        get: impl FnOnce(&'a Self, &str) -> Result<T, MetadataError>,
    ) -> Result<Option<T>, MetadataError> {
        if self.map.contains_key(key) {
            get(self, key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, MetadataError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| Self::wrong(key, "a string", v))
    }

    /// Any integer kind that is not negative.
    pub fn get_u64(&self, key: &str) -> Result<u64, MetadataError> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| Self::wrong(key, "an unsigned integer", v))
    }

    pub fn get_usize(&self, key: &str) -> Result<usize, MetadataError> {
        let v = self.require(key)?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Self::wrong(key, "an unsigned integer that fits in usize", v))
    }

    /// Any number (integers too).
    pub fn get_f64(&self, key: &str) -> Result<f64, MetadataError> {
        let v = self.require(key)?;
        v.as_f64().ok_or_else(|| Self::wrong(key, "a number", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, MetadataError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| Self::wrong(key, "a bool", v))
    }

    pub fn get_array(&self, key: &str) -> Result<&Array, MetadataError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| Self::wrong(key, "an array", v))
    }

    /// An array of strings (an empty array of any item type reads as none).
    pub fn get_strings(&self, key: &str) -> Result<&StringArray, MetadataError> {
        static EMPTY: StringArray = StringArray::new();
        let v = self.require(key)?;
        match v {
            Value::Array(Array::String(a)) => Ok(a),
            Value::Array(a) if a.is_empty() => Ok(&EMPTY),
            other => Err(Self::wrong(key, "an array of strings", other)),
        }
    }

    /// An array of f32 (an empty array of any item type reads as none).
    pub fn get_f32s(&self, key: &str) -> Result<&[f32], MetadataError> {
        let v = self.require(key)?;
        match v {
            Value::Array(Array::F32(a)) => Ok(a),
            Value::Array(a) if a.is_empty() => Ok(&[]),
            other => Err(Self::wrong(key, "an array of f32", other)),
        }
    }

    /// An array of integers of any kind, as i64.
    pub fn get_i64s(&self, key: &str) -> Result<Vec<i64>, MetadataError> {
        let v = self.require(key)?;
        match v {
            Value::Array(a) if a.is_empty() => Ok(Vec::new()),
            Value::Array(a) => a
                .to_i64s()
                .ok_or_else(|| Self::wrong(key, "an array of integers that fit in i64", v)),
            other => Err(Self::wrong(key, "an array of integers", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::default();
        assert!(m.insert_new("a.count".into(), Value::U32(7)));
        assert!(m.insert_new("a.neg".into(), Value::I32(-3)));
        assert!(m.insert_new("a.name".into(), Value::String("x".into())));
        assert!(m.insert_new("a.f".into(), Value::F32(0.5)));
        assert!(m.insert_new("a.none".into(), Value::Array(Array::U8(vec![]))));
        assert!(m.insert_new("a.ids".into(), Value::Array(Array::I32(vec![1, 2]))));
        assert!(!m.insert_new("a.count".into(), Value::U32(8)));
        m
    }

    #[test]
    fn getters_name_the_key_and_the_kind() {
        let m = sample();
        assert_eq!(m.get_u64("a.count"), Ok(7));
        assert_eq!(m.get_f64("a.count"), Ok(7.0));
        assert_eq!(m.get_str("a.name"), Ok("x"));
        let err = m.get_u64("a.neg").unwrap_err().to_string();
        assert!(err.contains("a.neg") && err.contains("i32"), "{err}");
        let err = m.get_str("a.count").unwrap_err().to_string();
        assert_eq!(
            err,
            "metadata key \"a.count\" should be a string, but it is u32"
        );
        let err = m.get_u64("b").unwrap_err();
        assert_eq!(err, MetadataError::Missing { key: "b".into() });
        assert_eq!(m.optional("b", Metadata::get_u64), Ok(None));
        assert!(m.optional("a.name", Metadata::get_u64).is_err());
    }

    #[test]
    fn arrays_read_as_their_kind_and_empty_ones_as_any() {
        let m = sample();
        assert!(m.get_strings("a.none").unwrap().is_empty());
        assert!(m.get_f32s("a.none").unwrap().is_empty());
        assert_eq!(m.get_i64s("a.ids").unwrap(), vec![1, 2]);
        let err = m.get_strings("a.ids").unwrap_err().to_string();
        assert!(err.contains("array of i32"), "{err}");
    }
}
