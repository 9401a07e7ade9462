//! Streams an answer to stdout as it is generated.

use std::io::Write;

use anyhow::Result;
use hearth_engine::{Completion, Engine, GenerateRequest};

use crate::interrupt::Interrupt;

/// Generates `request`, writing each piece of text to stdout as it arrives. Ctrl-C
/// ends the answer early (stop reason "cancelled"); what was written is kept.
pub(crate) fn answer(
    engine: &Engine,
    request: GenerateRequest,
    interrupt: &Interrupt,
) -> Result<Completion> {
    let cancel = interrupt.start();
    let mut out = std::io::stdout().lock();
    let mut write_error = None;
    let result = engine.generate_blocking(request, cancel, |text| {
        if write_error.is_none()
            && let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        {
            write_error = Some(e);
        }
    });
    interrupt.finish();
    let completion = result?;
    writeln!(out)?;
    match write_error {
        Some(e) => Err(e.into()),
        None => Ok(completion),
    }
}
