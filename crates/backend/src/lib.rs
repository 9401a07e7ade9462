//! The seam between Hearth's router and the backends that answer it.
//!
//! For now this holds the conversation vocabulary every backend shares:
//! [`Message`] and its [`Role`]. The `ChatBackend` trait, requests, token
//! events and the classified `BackendError` join it with the chat service.
//!
//! ```
//! use hearth_backend::{Message, Role};
//! let turn = Message::user("What is the capital of France?");
//! assert_eq!(turn.role, Role::User);
//! ```

mod message;

pub use message::{Message, Role};
