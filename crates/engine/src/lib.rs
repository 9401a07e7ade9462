//! Local inference for Hearth.
mod error;
pub mod gguf;
mod models;
mod template;
mod tokenizer;

pub use error::EngineError;
pub use models::{LoadOptions, ModelInfo, SUPPORTED_ARCHITECTURES};
pub use template::{ChatTemplate, TemplateSource};
pub use tokenizer::Tokenizer;
