//! The KV cache of one sequence (a conversation), apart from the weights:
//! one [`KvCache`] per layer and the number of positions they hold. The
//! engine keeps several (its KV slots, `engine/slots.rs`) and passes one to
//! each forward, so switching conversations does not recompute either's
//! history.

use super::attention::KvCache;

/// The keys and values one sequence has computed, for every layer of the
/// model that made it ([`super::Model::new_cache`]). Memory is allocated as
/// positions are added (doubling, up to the context) and kept when the
/// cache is truncated; dropping it frees it.
#[derive(Debug, Default)]
pub struct SeqCache {
    pub(crate) layers: Vec<KvCache>,
    /// Positions held (every layer holds as many).
    pub(crate) len: usize,
}

impl SeqCache {
    pub(crate) fn new(layers: Vec<KvCache>) -> Self {
        Self { layers, len: 0 }
    }

    /// Positions the cache holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `len` positions (no memory is freed).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        for layer in &mut self.layers {
            layer.truncate(len);
        }
    }

    /// A new cache holding a copy of this one's first `n` positions (for a
    /// conversation that starts as another did: the same system prompt).
    pub fn copy_prefix(&self, n: usize) -> candle_core::Result<Self> {
        let n = n.min(self.len);
        Ok(Self {
            layers: self
                .layers
                .iter()
                .map(|layer| layer.copy_prefix(n))
                .collect::<candle_core::Result<_>>()?,
            len: n,
        })
    }

    /// Bytes allocated for keys and values, in all layers.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(KvCache::bytes).sum()
    }
}
