//! hearth-secrets against a real Secret Service.
//!
//! `cargo xtask test` runs the tests inside `dbus-run-session` with an unlocked
//! gnome-keyring, as a desktop session has. Without one these tests fail (they
//! do not skip): run them through `cargo xtask test`.

mod keyring;
