//! models tests (real models).
