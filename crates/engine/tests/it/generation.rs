//! generation tests (real models).
