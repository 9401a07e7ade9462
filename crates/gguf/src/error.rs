//! What can be wrong with a GGUF file, each saying where.

/// Why a file could not be read as GGUF. The messages name the key, tensor or
/// field at fault; callers add the file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),

    #[error("not a GGUF file (no GGUF magic number at the start)")]
    NotGguf,

    #[error("{}", version_message(*.found))]
    Version { found: u32 },

    #[error("truncated GGUF header: the file ends at byte {len} while reading {what}")]
    Truncated { what: String, len: u64 },

    #[error(
        "truncated GGUF header: {what} is {count}, more than the {left} bytes left in the \
         file could hold (or the count is damaged)"
    )]
    CountTooLarge { what: String, count: u64, left: u64 },

    #[error("{what} is {len} bytes long, more than the {max} allowed")]
    TooLong { what: String, len: u64, max: u64 },

    #[error(
        "the header would take more than {limit} bytes of memory to hold \
         (at {what}); no real model's header comes near that"
    )]
    OverBudget { what: String, limit: u64 },

    #[error("{what}: {reason}")]
    BadValue { what: String, reason: String },

    #[error("metadata key \"{0}\" appears twice")]
    DuplicateKey(String),

    #[error("tensor \"{0}\" appears twice")]
    DuplicateTensor(String),

    #[error(
        "general.alignment is {found}; the GGUF specification requires a power of two \
         that is a multiple of 8 (at most 2^31)"
    )]
    Alignment { found: String },

    #[error("tensor \"{name}\" {problem}")]
    Tensor {
        name: String,
        problem: TensorProblem,
    },

    #[error(
        "the file is truncated: tensor \"{name}\" needs bytes {start}..{end} \
         but the file has {len}"
    )]
    TensorPastEnd {
        name: String,
        start: u64,
        end: u64,
        len: u64,
    },

    #[error(
        "tensors \"{first}\" (bytes {first_start}..{first_end}) and \"{second}\" \
         (bytes {second_start}..{second_end}) overlap"
    )]
    Overlap {
        first: String,
        first_start: u64,
        first_end: u64,
        second: String,
        second_start: u64,
        second_end: u64,
    },
}

/// What is wrong with one tensor's record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorProblem {
    #[error("has {0} dimensions (at most 4)")]
    TooManyDims(u32),

    #[error("has a dimension of {0}, more than 2^63 - 1")]
    DimTooLarge(u64),

    #[error("has dimensions {0:?}, whose product overflows")]
    ElementsOverflow(Vec<u64>),

    #[error("has type code {0}, which no ggml type has")]
    UnknownType(u32),

    #[error("has type {name} (code {code}), which llama.cpp no longer reads: {hint}")]
    RetiredType {
        name: &'static str,
        code: u32,
        hint: &'static str,
    },

    #[error("has rows of {row} values, not a whole number of {ty} blocks of {block}")]
    PartialBlock {
        row: u64,
        ty: &'static str,
        block: usize,
    },

    #[error("has {elements} values of {ty}, whose size in bytes overflows")]
    SizeOverflow { elements: u64, ty: &'static str },

    #[error("has data offset {offset}, not a multiple of general.alignment ({alignment})")]
    Misaligned { offset: u64, alignment: u64 },

    #[error("has data offset {offset}, past any file")]
    OffsetOverflow { offset: u64 },
}

fn version_message(found: u32) -> String {
    if (1..=3).contains(&found.swap_bytes()) {
        format!(
            "this is a big-endian GGUF file (version {} written big-endian), which Hearth \
             does not read; use the little-endian file",
            found.swap_bytes()
        )
    } else if found == 1 {
        "GGUF version 1 (an early 2023 format) is not supported; re-convert the model".to_owned()
    } else {
        format!("GGUF version {found} is not supported (supported: 2, 3)")
    }
}
