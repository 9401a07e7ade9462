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

    /// The OS would not start the model's worker thread (out of threads or
    /// memory for its stack).
    #[error("cannot start the engine thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl EngineError {
    /// Whether the failure was running out of memory (loading a model too big
    /// for this machine), as far as the OS or the compute backend says so.
    pub fn is_out_of_memory(&self) -> bool {
        let text = match self {
            Self::Io { source, .. } | Self::Thread(source) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_cannot_start_is_its_own_kind() {
        let err = EngineError::Thread(std::io::Error::from(std::io::ErrorKind::OutOfMemory));
        assert!(
            err.to_string()
                .starts_with("cannot start the engine thread")
        );
        assert!(err.is_out_of_memory());
        let other = EngineError::Thread(std::io::Error::from(std::io::ErrorKind::WouldBlock));
        assert!(!other.is_out_of_memory());
        assert!(!matches!(other, EngineError::InvalidRequest(_)));
    }
}
