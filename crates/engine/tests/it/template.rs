//! template tests (real models).
