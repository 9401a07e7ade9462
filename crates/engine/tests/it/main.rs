//! hearth-engine integration tests: one binary (linking candle once), one module per area.
//! The real test models come from `cargo xtask fetch-test-models` (see hearth-testkit).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architectures;
mod embed;
mod generation;
mod hostile;
mod hostile_templates;
mod kv_cache;
mod kv_slots;
mod models;
mod parallel;
mod perplexity;
mod speculative;
mod template;
mod tokenizer;
mod tools;
mod types;
