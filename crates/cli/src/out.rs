//! Terminal output: the one place the CLI writes to stdout and stderr (the
//! workspace's `print_stdout` / `print_stderr` lints keep `println!` out of
//! everything else).
//!
//! Answers and listings go to stdout with [`out!`] / [`outln!`], which return
//! the write's `io::Result` so a command stops at the first failed write
//! instead of panicking as `println!` does; a closed pipe (`hearth list | head
//! -1`) then ends the program quietly ([`quiet_on_closed_stdout`]). Everything
//! else (statistics, progress, questions, diagnostics) goes to stderr with
//! [`note!`] / [`noteln!`], best effort: if stderr is gone there is no one to
//! tell. So `hearth run … > answer.txt` captures only the answer.

use std::fmt;
use std::io::Write;

/// Writes to stdout, without a newline, and flushes (for streamed text and
/// a prompt's question). Evaluates to `std::io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*), false)
    };
}

/// Writes a line to stdout (`println!` that returns the write's result).
macro_rules! outln {
    () => {
        $crate::out::stdout(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*), true)
    };
}

/// Writes to stderr without a newline (a prompt such as `> `).
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!($($arg)*), false)
    };
}

/// Writes a line to stderr (`eprintln!` that never panics).
macro_rules! noteln {
    () => {
        $crate::out::stderr(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!($($arg)*), true)
    };
}

pub(crate) use {note, noteln, out, outln};

/// What [`out!`] and [`outln!`] call.
pub(crate) fn stdout(text: fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text)?;
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// What [`note!`] and [`noteln!`] call.
pub(crate) fn stderr(text: fmt::Arguments<'_>, newline: bool) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_fmt(text)
        .and_then(|()| {
            if newline {
                err.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| err.flush());
}

/// A command's outcome, with a failed write to a closed stdout counted as
/// success: the reader went away (`| head`), nothing is wrong.
pub(crate) fn quiet_on_closed_stdout(outcome: anyhow::Result<()>) -> anyhow::Result<()> {
    match outcome {
        Err(err) if is_closed_pipe(&err) => Ok(()),
        other => other,
    }
}

fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_quiet_and_other_failures_are_not() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let wrapped = anyhow::Error::new(closed).context("cannot write the list");
        assert!(quiet_on_closed_stdout(Err(wrapped)).is_ok());
        let full = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(quiet_on_closed_stdout(Err(full)).is_err());
        assert!(quiet_on_closed_stdout(Err(anyhow::anyhow!("no model"))).is_err());
        assert!(quiet_on_closed_stdout(Ok(())).is_ok());
    }
}
