//! Test support for Hearth (a dev-dependency only).
//!
//! - [`models`]: where the real test models are, and what to run when they are not.
//!
//! ```no_run
//! let path = hearth_testkit::models::smollm2();
//! assert!(path.exists());
//! ```

pub mod models;
