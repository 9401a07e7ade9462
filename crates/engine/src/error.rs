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
        found: String,
    },

    #[error("the model file has no tensor \"{name}\"")]
    MissingTensor { name: String },

    #[error("cannot load tensor \"{name}\": {source}")]
    Tensor {
        name: String,
        #[source]
        source: candle_core::Error,
    },

    #[error("the model's tool call cannot be used: {0}")]
    ToolCall(String),

    #[error("unsupported architecture \"{arch}\" (supported: {supported})")]
    UnsupportedArchitecture { arch: String, supported: String },

    #[error(
        "tensor \"{tensor}\" is {ty}, a type Hearth cannot run (it runs {runs}); \
         use a file quantised to one of those"
    )]
    UnsupportedTensorType {
        tensor: String,
        ty: &'static str,
        runs: String,
    },

    #[error(
        "tensor \"{tensor}\" holds {value} at element {index}: the model file is damaged; \
         download or convert it again"
    )]
    NonFiniteWeights {
        tensor: String,
        index: usize,
        value: f32,
    },

    #[error(
        "the model computed logits that are not a number (NaN or infinity) at position \
         {position}: its weights are probably damaged (NaN or infinite values in the file) \
         or do not match its metadata; download or convert it again"
    )]
    NonFiniteLogits { position: usize },

    /// A model file Hearth cannot load, named (the error inside says why).
    #[error("{}: {error}", path.display())]
    Model {
        path: PathBuf,
        error: Box<EngineError>,
    },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A file of reference log-probabilities (llama.cpp's
    /// `--kl-divergence-base`) that cannot be used.
    #[error("{} is not a usable llama.cpp logits file: {reason}", path.display())]
    InvalidReference { path: PathBuf, reason: String },

    /// A folder that is not a sentence-transformers model Hearth can run.
    #[error("{} is not a usable embedding model: {reason}", path.display())]
    InvalidEmbeddingModel { path: PathBuf, reason: String },

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

    /// A draft model whose tokens are not the target's (`--draft`).
    #[error(
        "this draft model cannot draft for the model: {0}. A draft must share the model's \
         vocabulary (the same tokenizer), e.g. a smaller model of the same family"
    )]
    DraftVocabulary(String),

    #[error("inference failed: {0}")]
    Compute(#[from] candle_core::Error),

    #[error("the engine worker has stopped")]
    WorkerGone,

    /// A job that has no partial result to give (scoring a text) was cancelled.
    #[error("cancelled")]
    Cancelled,

    /// The OS would not start the model's worker thread (out of threads or
    /// memory for its stack).
    #[error("cannot start the engine thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl EngineError {
    /// This error with the model file it concerns named, unless it names it
    /// already (what [`crate::Engine::load`] returns).
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Self::Io { .. } | Self::InvalidGguf { .. } | Self::Model { .. } => self,
            other => Self::Model {
                path: path.to_path_buf(),
                error: Box::new(other),
            },
        }
    }

    /// The error itself, without the file name [`EngineError::in_file`] adds.
    pub fn without_file(&self) -> &Self {
        match self {
            Self::Model { error, .. } => error.without_file(),
            other => other,
        }
    }

    /// Whether the failure was running out of memory (loading a model too big
    /// for this machine), as far as the OS or the compute backend says so.
    pub fn is_out_of_memory(&self) -> bool {
        let text = match self {
            Self::Model { error, .. } => return error.is_out_of_memory(),
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
