//! Hearth's one GGUF reader: what the engine loads models with and the hub
//! inspects downloads with. GGUF files come from strangers, so nothing a file
//! says is trusted before it is checked (see [`ReadOptions`] for the limits).
//!
//! - [`Gguf`]: a file's header, read with [`Gguf::open`] (buffered; for a
//!   quick look) or [`Gguf::from_bytes`] (a memory map; what the engine does).
//!   It holds the [`Metadata`] and a [`TensorInfo`] per tensor, each checked to
//!   lie whole inside the file, aligned, and apart from the others. Tensor
//!   bytes are never read here: the caller maps them.
//! - [`Metadata`] / [`Value`]: the key/value pairs, with getters whose errors
//!   name the key ([`MetadataError`]). Arrays are typed vectors
//!   ([`Array`], [`StringArray`]), no larger in memory than in the file.
//! - [`GgmlType`]: every tensor type llama.cpp knows, by code and name, with
//!   its block layout; [`file_type_name`] names `general.file_type`.
//! - [`GgufError`]: what is wrong, naming the key, tensor or field.
//!
//! ```
//! use hearth_gguf::{GgmlType, Gguf, ReadOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut bytes = b"GGUF".to_vec();
//! # let put = |b: &mut Vec<u8>, x: &[u8]| b.extend_from_slice(x);
//! # let s = |b: &mut Vec<u8>, x: &str| { put(b, &(x.len() as u64).to_le_bytes()); put(b, x.as_bytes()) };
//! # put(&mut bytes, &3u32.to_le_bytes()); put(&mut bytes, &1u64.to_le_bytes()); put(&mut bytes, &2u64.to_le_bytes());
//! # s(&mut bytes, "general.architecture"); put(&mut bytes, &8u32.to_le_bytes()); s(&mut bytes, "llama");
//! # s(&mut bytes, "llama.context_length"); put(&mut bytes, &4u32.to_le_bytes()); put(&mut bytes, &2048u32.to_le_bytes());
//! # s(&mut bytes, "token_embd.weight"); put(&mut bytes, &2u32.to_le_bytes());
//! # put(&mut bytes, &4u64.to_le_bytes()); put(&mut bytes, &2u64.to_le_bytes());
//! # put(&mut bytes, &0u32.to_le_bytes()); put(&mut bytes, &0u64.to_le_bytes());
//! # bytes.resize(bytes.len().next_multiple_of(32) + 4 * 2 * 4, 0);
//! let gguf = Gguf::from_bytes(&bytes, &ReadOptions::full())?;
//! assert_eq!(gguf.architecture()?, "llama");
//! let context = gguf.metadata().get_u64("llama.context_length")?;
//! for t in gguf.tensors() {
//!     println!("{} {:?} {} at {:?} ({context})", t.name(), t.shape(), t.ggml_type(), t.byte_range());
//! }
//! assert_eq!(gguf.tensor("token_embd.weight").map(|t| t.ggml_type()), Some(GgmlType::F32));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod error;
mod header;
mod metadata;
mod read;
mod tensor;
mod types;
mod value;

pub use error::{GgufError, TensorProblem};
pub use header::{DEFAULT_ALIGNMENT, Gguf, MAX_KEY};
pub use metadata::{Metadata, MetadataError};
pub use read::ReadOptions;
pub use tensor::{MAX_DIMS, MAX_TENSOR_NAME, TensorInfo};
pub use types::{BlockLayout, GgmlType, file_type_name};
pub use value::{Array, StringArray, Value, ValueType};
