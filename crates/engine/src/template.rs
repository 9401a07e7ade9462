//! Chat templates: the GGUF's `tokenizer.chat_template` rendered with minijinja the
//! way Hugging Face renders it with jinja2.

use hearth_backend::Message;

use crate::error::EngineError;
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// `tokenizer.chat_template` in the GGUF file.
    Gguf,
    /// Hearth's known template for this architecture (the GGUF had none).
    Architecture(String),
    /// ChatML, the last resort.
    ChatMl,
}

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {}

impl ChatTemplate {
    /// The template for a model: the GGUF's own, else the architecture's known one,
    /// else ChatML.
    pub fn for_model(gguf: &GgufFile, tokenizer: &Tokenizer) -> Result<Self, EngineError> {
        let _ = (gguf, tokenizer);
        Err(EngineError::Template("not yet".into()))
    }

    /// Compiles `source` with the given special-token texts.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let _ = (source, bos_token, eos_token);
        Err(EngineError::Template("not yet".into()))
    }

    /// Renders a conversation. `add_generation_prompt` appends the opening of the
    /// assistant's turn.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let _ = (messages, add_generation_prompt);
        Err(EngineError::Template("not yet".into()))
    }

    pub fn source(&self) -> TemplateSource {
        TemplateSource::ChatMl
    }
}
