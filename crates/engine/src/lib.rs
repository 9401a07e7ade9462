//! Local inference for Hearth.
mod error;
pub mod gguf;
mod models;
mod template;
mod tokenizer;

pub use error::EngineError;
pub use models::{
    DEFAULT_CONTEXT_CAP, LoadOptions, Model, ModelInfo, SUPPORTED_ARCHITECTURES, load as load_model,
};
pub use template::{ChatTemplate, TemplateSource};
pub use tokenizer::Tokenizer;
