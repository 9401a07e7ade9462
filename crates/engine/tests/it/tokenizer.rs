//! tokenizer tests (real models).
