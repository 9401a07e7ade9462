//! KV slots: the caches of several conversations kept side by side, so a
//! client switching between chats (A, B, A) does not recompute A's history.
//!
//! A request takes the slot that already holds most of its prompt, as
//! llama-server does, else an unused one, else the least recently used;
//! it gives the slot back when it ends. Slots are bounded by a count and by
//! the bytes their keys and values have allocated: beyond the budget the
//! least recently used ones are dropped (their memory freed).

use crate::generate::Cached;
use crate::models::Model;

/// KV slots kept when [`crate::EngineOptions::kv_slots`] does not say.
///
/// Four: enough for a person switching between a few chats in the app, or a
/// few clients of `hearth serve`, each finding its history still cached.
pub const DEFAULT_KV_SLOTS: usize = 4;

/// The memory budget when [`crate::EngineOptions::kv_budget`] does not say,
/// in full-context caches of the loaded model: two.
///
/// A cache grows (by doubling) only as far as its conversation goes, so the
/// usual four chats of a few hundred to a few thousand tokens fit in two
/// full-context caches, while the worst case (every slot filled to the
/// window) stays at twice the single cache Hearth kept before, instead of
/// four times it: for an 8B model at 4096 tokens in f16 that is 1 GiB
/// rather than 2. Slots a generation is using are never dropped, so
/// `--parallel N` may go past the budget while N answers run.
pub const DEFAULT_KV_BUDGET_CACHES: usize = 2;

/// The shortest shared start copied from another slot into the one a
/// request takes: a few tokens (a lone BOS) are not worth a copy, and
/// computing them with the rest of the prompt keeps its numbers the same as
/// on a fresh engine.
const MIN_SEED_TOKENS: usize = 8;

/// One conversation's cache and when it was last used.
struct Slot {
    cached: Cached,
    used: u64,
}

/// The worker's KV slots (those not lent out to a running generation).
pub(crate) struct Slots {
    idle: Vec<Slot>,
    /// Slots lent out and not yet given back.
    lent: usize,
    /// The most slots, idle and lent.
    count: usize,
    /// The most bytes idle slots may hold.
    budget: usize,
    /// Ticks at each give-back: the recency order.
    clock: u64,
}

/// How many leading tokens `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Slots {
    pub(crate) fn new(count: usize, budget: usize) -> Self {
        Self {
            idle: Vec::new(),
            lent: 0,
            count: count.max(1),
            budget,
            clock: 0,
        }
    }

    /// Lends out the slot for a generation of `prompt`; give it back with
    /// [`Slots::give_back`].
    ///
    /// The slot sharing the longest prefix with the prompt is taken when
    /// that prefix is worth it: the whole prompt (a regenerate), or at least
    /// half of what the slot holds (the next turn of its conversation).
    /// A short shared start (the same system prompt in two chats, or a
    /// conversation whose oldest turns were dropped to fit the window) is
    /// not enough: taking that slot would throw away the other chat's
    /// history, so an unused slot, else the least recently used, is taken
    /// instead, and that shared start is copied into it from the slot that
    /// holds it, so it is not computed again.
    pub(crate) fn take(&mut self, model: &dyn Model, prompt: &[u32]) -> Cached {
        // How many leading tokens each idle slot shares with the prompt.
        let shared: Vec<usize> = self
            .idle
            .iter()
            .map(|s| common_prefix(&s.cached.tokens, prompt))
            .collect();
        let best = shared
            .iter()
            .copied()
            .enumerate()
            .filter(|&(i, n)| {
                n > 0 && (n == prompt.len() || 2 * n >= self.idle[i].cached.tokens.len())
            })
            .max_by_key(|&(_, n)| n)
            .map(|(i, _)| i);
        let index = match best {
            Some(i) => Some(i),
            None if self.idle.len() + self.lent < self.count => None,
            None => self
                .idle
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i),
        };
        // The idle slot sharing the longest start with the prompt, if the
        // slot taken shares less.
        let donor = shared
            .iter()
            .copied()
            .enumerate()
            .filter(|&(i, n)| n >= MIN_SEED_TOKENS && Some(i) != index)
            .max_by_key(|&(_, n)| n);
        let seed = donor
            .filter(|&(_, n)| index.is_none_or(|i| shared[i] < n))
            .and_then(|(i, n)| {
                let from = &self.idle[i].cached;
                match from.kv.copy_prefix(n) {
                    Ok(kv) => {
                        let held = kv.len().min(from.tokens.len());
                        let mut seeded = Cached::new(kv);
                        seeded.tokens = from.tokens[..held].to_vec();
                        Some(seeded)
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "KV prefix not copied");
                        None
                    }
                }
            });
        self.lent += 1;
        let taken = match index {
            Some(i) => self.idle.swap_remove(i).cached,
            None => Cached::new(model.new_cache()),
        };
        seed.unwrap_or(taken)
    }

    /// Takes back a slot lent by [`Slots::take`] as the most recently used,
    /// then drops the least recently used others while the idle slots hold
    /// more than the budget.
    pub(crate) fn give_back(&mut self, cached: Cached) {
        self.lent = self.lent.saturating_sub(1);
        self.clock += 1;
        self.idle.push(Slot {
            cached,
            used: self.clock,
        });
        while self.idle.len() > 1 && self.bytes() > self.budget {
            let Some(oldest) = self
                .idle
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let dropped = self.idle.swap_remove(oldest);
            tracing::debug!(
                tokens = dropped.cached.tokens.len(),
                bytes = dropped.cached.kv.bytes(),
                "KV slot dropped (memory budget)"
            );
        }
    }

    /// Bytes the idle slots' keys and values have allocated.
    pub(crate) fn bytes(&self) -> usize {
        self.idle.iter().map(|s| s.cached.kv.bytes()).sum()
    }

    /// Idle slots.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.idle.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::SeqCache;

    struct NoModel;

    impl Model for NoModel {
        fn new_cache(&self) -> SeqCache {
            SeqCache::default()
        }

        fn full_cache_bytes(&self) -> usize {
            0
        }

        fn forward_tail(
            &self,
            _: &mut SeqCache,
            _: &[u32],
            _: usize,
            _: usize,
        ) -> Result<candle_core::Tensor, crate::EngineError> {
            Err(crate::EngineError::InvalidRequest("no model".into()))
        }
    }

    fn holding(slots: &mut Slots, prompt: &[u32], tokens: &[u32]) -> Cached {
        let mut slot = slots.take(&NoModel, prompt);
        slot.tokens = tokens.to_vec();
        slot
    }

    #[test]
    fn a_conversation_finds_its_slot_again() {
        let mut slots = Slots::new(4, usize::MAX);
        // Two chats sharing a system prompt [1, 2].
        let a = holding(&mut slots, &[1, 2, 10, 11], &[1, 2, 10, 11, 12]);
        slots.give_back(a);
        let b = holding(&mut slots, &[1, 2, 20], &[1, 2, 20, 21]);
        assert_eq!(slots.idle(), 1, "B took a new slot, not A's");
        slots.give_back(b);
        let again = slots.take(&NoModel, &[1, 2, 10, 11, 12, 13]);
        assert_eq!(again.tokens, [1, 2, 10, 11, 12]);
        // A regenerate finds its slot even after a long answer.
        slots.give_back(again);
        let b = slots.take(&NoModel, &[1, 2, 20]);
        assert_eq!(b.tokens, [1, 2, 20, 21]);
    }

    #[test]
    fn past_the_count_the_least_recently_used_slot_is_taken() {
        let mut slots = Slots::new(2, usize::MAX);
        let a = holding(&mut slots, &[1], &[1, 5]);
        slots.give_back(a);
        let b = holding(&mut slots, &[2], &[2, 6]);
        slots.give_back(b);
        let c = slots.take(&NoModel, &[3]);
        assert_eq!(c.tokens, [1, 5], "A was the least recently used");
    }

    #[test]
    fn a_shared_start_is_copied_into_the_slot_taken_for_another_chat() {
        let mut slots = Slots::new(2, usize::MAX);
        let b = holding(&mut slots, &[99], &[99, 98]);
        slots.give_back(b);
        // A shares its start with the next prompt, but too little of what it
        // holds for its slot to be taken.
        let start: Vec<u32> = (1..=MIN_SEED_TOKENS as u32).collect();
        let a: Vec<u32> = start.iter().copied().chain(100..130).collect();
        let held = holding(&mut slots, &a, &a);
        slots.give_back(held);
        let prompt: Vec<u32> = start.iter().copied().chain([7]).collect();
        let seeded = slots.take(&NoModel, &prompt);
        // B's slot (the least recently used) was taken and replaced by A's
        // start, cut to what the copied cache holds: NoModel's hold nothing.
        assert!(seeded.tokens.is_empty(), "{:?}", seeded.tokens);
        assert_eq!(slots.idle(), 1);
        slots.give_back(seeded);
        assert_eq!(slots.take(&NoModel, &a).tokens, a, "A's slot was kept");
    }
}
