//! hearth-core: the application service every front end (CLI, desktop app, API
//! server) calls.
//!
//! [`Config`] is the one reader of `HEARTH_*` environment variables; everything
//! else receives paths, endpoints and credentials from it.

mod config;

pub use config::{Config, ConfigError, DEFAULT_HF_ENDPOINT, default_model_from_env, env};
