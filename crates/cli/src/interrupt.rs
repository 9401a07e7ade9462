//! Ctrl-C stops the answer being generated, not the program.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::out::note;

/// Routes Ctrl-C to whatever generation is running.
#[derive(Clone, Default)]
pub(crate) struct Interrupt {
    current: Arc<Mutex<Option<CancellationToken>>>,
}

impl Interrupt {
    /// Installs the process-wide Ctrl-C handler. With no generation running, Ctrl-C
    /// only prints a hint (Ctrl-D quits the chat).
    pub(crate) fn install() -> Result<Self> {
        let interrupt = Self::default();
        let current = Arc::clone(&interrupt.current);
        ctrlc::set_handler(move || {
            let slot = current.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.as_ref() {
                Some(token) => token.cancel(),
                None => note!("\n(Ctrl-D to quit)\n> "),
            }
        })
        .context("cannot install the Ctrl-C handler")?;
        Ok(interrupt)
    }

    /// A fresh token for the next generation; Ctrl-C cancels it until `finish`.
    pub(crate) fn start(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
        token
    }

    pub(crate) fn finish(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
