//! A stdio server's process: spawned by Hearth (not by rmcp) so that its
//! output can be watched and its stderr kept.
//!
//! rmcp quietly skips lines of its input that are not JSON (as the other MCP
//! SDKs do), so a server printing garbage would look like a server that never
//! answers. [`GuardedStdout`] ends the stream at the first line that does not
//! start like JSON and records it, so the caller gets a clear
//! [`ToolsError::Garbage`](crate::ToolsError::Garbage) at once.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::error::ToolsError;

/// How much of a server's stderr is kept for the error message of a crash.
const STDERR_TAIL: usize = 2048;
/// How much of a garbage line is shown.
const GARBAGE_SAMPLE: usize = 120;
/// How long a crashed server's last stderr is waited for.
const STDERR_DRAIN: Duration = Duration::from_secs(2);

/// What was seen of a running server besides its MCP messages.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    garbage: Mutex<Option<String>>,
    stderr: Mutex<VecDeque<u8>>,
    stderr_task: Mutex<Option<JoinHandle<()>>>,
}

impl Watch {
    /// The first line that was not MCP, if one came.
    pub(crate) fn garbage(&self) -> Option<String> {
        self.garbage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The end of the server's stderr, once it has closed (or after a short
    /// wait for a server whose process lingers).
    pub(crate) async fn stderr_tail(&self) -> String {
        let task = self
            .stderr_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // Either it finished (the process is gone) or it is still running;
            // the tail so far is what there is.
            let _ = tokio::time::timeout(STDERR_DRAIN, task).await;
        }
        let tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes: Vec<u8> = tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }
}

/// A spawned server: its process (killed when this is dropped) and what is
/// watched of it.
#[derive(Debug)]
pub(crate) struct Process {
    child: Mutex<Child>,
    pub(crate) watch: Arc<Watch>,
}

impl Process {
    /// Whether the process has ended.
    pub(crate) fn has_exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(child.try_wait(), Ok(None))
    }
}

/// Starts `command` with `args` and `env` added to Hearth's environment.
pub(crate) fn spawn(
    server: &str,
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(Process, GuardedStdout, ChildStdin), ToolsError> {
    let spawn_error = |source| ToolsError::Spawn {
        server: server.to_owned(),
        command: command.to_owned(),
        source,
    };
    let mut child = Command::new(command)
        .args(args)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    let missing = || spawn_error(io::Error::other("no pipe to the process"));
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let mut stderr = child.stderr.take().ok_or_else(missing)?;
    let watch = Arc::new(Watch::default());
    let keep = Arc::clone(&watch);
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut tail = keep.stderr.lock().unwrap_or_else(PoisonError::into_inner);
            tail.extend(&buf[..n]);
            let excess = tail.len().saturating_sub(STDERR_TAIL);
            tail.drain(..excess);
        }
    });
    *watch
        .stderr_task
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(task);
    let guarded = GuardedStdout {
        inner: stdout,
        at_line_start: true,
        ended: false,
        watch: Arc::clone(&watch),
    };
    Ok((
        Process {
            child: Mutex::new(child),
            watch,
        },
        guarded,
        stdin,
    ))
}

/// A server's stdout that ends at the first line that is not JSON.
#[derive(Debug)]
pub(crate) struct GuardedStdout {
    inner: ChildStdout,
    at_line_start: bool,
    ended: bool,
    watch: Arc<Watch>,
}

impl AsyncRead for GuardedStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ended {
            // End of stream: rmcp closes the connection without logging an error.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let mut garbage_at = None;
        for (i, &byte) in buf.filled()[before..].iter().enumerate() {
            if this.at_line_start {
                if byte.is_ascii_whitespace() {
                    continue;
                }
                if byte == b'{' || byte == b'[' {
                    this.at_line_start = false;
                } else {
                    garbage_at = Some(i);
                    break;
                }
            } else if byte == b'\n' {
                this.at_line_start = true;
            }
        }
        if let Some(i) = garbage_at {
            let rest = &buf.filled()[before + i..];
            let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
            let sample: String = String::from_utf8_lossy(line)
                .chars()
                .take(GARBAGE_SAMPLE)
                .collect();
            tracing::debug!("an MCP server wrote a line that is not JSON");
            *this
                .watch
                .garbage
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(sample);
            this.ended = true;
            // Hand over the whole lines before it; the next read ends the stream.
            buf.set_filled(before + i);
        }
        Poll::Ready(Ok(()))
    }
}
