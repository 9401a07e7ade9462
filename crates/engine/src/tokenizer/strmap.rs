//! A string → id map whose keys are kept end to end in one buffer.
//!
//! A vocabulary (50k–260k short strings) or a merge list as a
//! `HashMap<String, u32>` costs a heap allocation per key plus the table: 5 MiB
//! for SmolLM2's, near 20 MiB for Gemma 3's. Here the keys are one
//! [`StringArray`] and the table holds only their indices (4 bytes each).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::gguf::StringArray;

/// Maps each key to its position in the sequence it was built from; a key
/// that appears twice maps to its last position (as inserting into a map in
/// order would).
pub(crate) struct StrMap {
    keys: StringArray,
    table: HashTable<u32>,
    hasher: RandomState,
}

impl StrMap {
    pub(crate) fn get(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&i| self.keys.get(i as usize) == Some(key))
            .copied()
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<'a> FromIterator<&'a str> for StrMap {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let keys: StringArray = iter.into_iter().collect();
        let hasher = RandomState::new();
        let mut table = HashTable::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let hash = hasher.hash_one(key);
            let at = |&j: &u32| keys.get(j as usize) == Some(key);
            let hash_of = |&j: &u32| hasher.hash_one(keys.get(j as usize).unwrap_or_default());
            match table.entry(hash, at, hash_of) {
                hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = i as u32,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(i as u32);
                }
            }
        }
        Self {
            keys,
            table,
            hasher,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_last_position() {
        let map: StrMap = ["a", "", "ü b", "a", "zz"].into_iter().collect();
        assert_eq!(map.get("a"), Some(3));
        assert_eq!(map.get(""), Some(1));
        assert_eq!(map.get("ü b"), Some(2));
        assert_eq!(map.get("zz"), Some(4));
        assert_eq!(map.get("b"), None);
        assert!(!map.contains_key("ü"));
        let big: StrMap = (0..70_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect();
        assert!((0..70_000).all(|i| big.get(&i.to_string()) == Some(i)));
    }
}
