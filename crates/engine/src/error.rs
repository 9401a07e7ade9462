use std::path::PathBuf;

/// Everything that can go wrong in the engine. Each message says what the user
/// can do about it; none of them contains prompt text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a usable GGUF model: {reason}")]
    InvalidGguf { path: PathBuf, reason: String },

    #[error("the model file has no metadata key \"{key}\"")]
    MissingMetadata { key: String },

    #[error("metadata key \"{key}\" should be {expected}, but it is {found}")]
    MetadataType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },

    #[error("the model file has no tensor \"{name}\"")]
    MissingTensor { name: String },

    #[error("cannot load tensor \"{name}\": {source}")]
    Tensor {
        name: String,
        #[source]
        source: candle_core::Error,
    },

    #[error("unsupported architecture \"{arch}\" (supported: {supported})")]
    UnsupportedArchitecture { arch: String, supported: String },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("chat template: {0}")]
    Template(String),

    /// The model's chat template went over its render budget (a hostile or
    /// broken file): stopped within about a second, nothing else affected.
    #[error(
        "this model's chat template is too expensive: it {0}. Hearth stopped it; the file's \
         template is broken or hostile, so use another model file"
    )]
    TemplateTooExpensive(String),

    #[error(
        "the prompt is {prompt_tokens} tokens but the context window is {context_length}; \
         shorten the conversation or load the model with a larger context"
    )]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("inference failed: {0}")]
    Compute(#[from] candle_core::Error),

    #[error("the engine worker has stopped")]
    WorkerGone,
}

impl EngineError {
    /// Whether the failure was running out of memory (loading a model too big
    /// for this machine), as far as the OS or the compute backend says so.
    pub fn is_out_of_memory(&self) -> bool {
        let text = match self {
            Self::Io { source, .. } => {
                return source.kind() == std::io::ErrorKind::OutOfMemory;
            }
            Self::Tensor { source, .. } | Self::Compute(source) => source.to_string(),
            _ => return false,
        };
        let text = text.to_ascii_lowercase();
        [
            "out of memory",
            "cannot allocate memory",
            "memory allocation",
        ]
        .iter()
        .any(|needle| text.contains(needle))
    }
}
