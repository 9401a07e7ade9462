//! Local inference for Hearth: quantised GGUF models on candle, on the CPU (or a
//! GPU with the `cuda` / `metal` features).
//!
//! [`Engine`] is the entry point: it loads a model on its own worker thread and
//! streams generations from it. Around it sit the pieces it is built from, each
//! usable alone: [`gguf::GgufFile`] (a mapped GGUF file whose header hearth-gguf
//! read and checked), [`Tokenizer`] (built
//! from the GGUF metadata), [`ChatTemplate`] (the model's Jinja chat template) and
//! [`SamplingParams`].
//!
//! ```no_run
//! use hearth_backend::Message;
//! use hearth_engine::{Engine, EngineOptions, GenerateRequest};
//! use tokio_util::sync::CancellationToken;
//!
//! let engine = Engine::load("SmolLM2-135M-Instruct.Q4_1.gguf", EngineOptions::default())?;
//! let request = GenerateRequest::chat(vec![Message::user("What is the capital of France?")]);
//! let completion = engine.generate_blocking(request, CancellationToken::new(), |piece| {
//!     print!("{piece}");
//! })?;
//! eprintln!("\n{} tokens at {:.1} tok/s", completion.stats.completion_tokens, completion.stats.decode_tok_s);
//! # Ok::<(), hearth_engine::EngineError>(())
//! ```

mod alloc;
mod detok;
mod device;
mod embed;
mod engine;
mod error;
mod generate;
pub mod gguf;
mod json_mode;
mod logprobs;
mod models;
mod perplexity;
mod sampler;
mod support;
mod template;
mod tokenizer;
mod tools;
mod vocab;

pub use device::{DevicePreference, available_devices, set_threads, threads};
pub use embed::{Embedder, Embeddings, Pooling, cosine, is_embedding_model_dir};
pub use engine::{
    BenchRun, DEFAULT_KV_BUDGET_CACHES, DEFAULT_KV_SLOTS, Engine, EngineOptions, GenerationEvent,
    MAX_PARALLEL,
};
pub use error::EngineError;
pub use generate::draft::{DEFAULT_DRAFT_TOKENS, MAX_DRAFT_TOKENS};
pub use generate::{
    Completion, GenerateRequest, GenerationStats, OutputFormat, Prompt, StopReason,
};
pub use models::{
    DEFAULT_CONTEXT_CAP, KvType, LoadOptions, Model, ModelInfo, SUPPORTED_ARCHITECTURES, SeqCache,
    load as load_model, runnable_types,
};
pub use perplexity::{
    Agreement, CONFIDENT_MARGIN, ChunkScored, LlamaLogits, Perplexity, PerplexityOptions,
};
pub use sampler::SamplingParams;
pub use template::{ChatTemplate, Limits as TemplateLimits, TemplateSource, supports_thinking};
pub use tokenizer::Tokenizer;
pub use tools::ToolCallError;
