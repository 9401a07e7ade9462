//! What can go wrong talking to MCP servers, in words a user can act on.

use std::path::PathBuf;

/// Every failure of the registry and the host.
///
/// Messages never carry a bearer token or an environment value; a server's
/// own words (its stderr, a garbage line) are trimmed before they get here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolsError {
    /// No server by that name in the registry.
    #[error("no MCP server named `{name}` (see `hearth mcp list`)")]
    UnknownServer { name: String },
    /// A server by that name already exists.
    #[error("an MCP server named `{name}` already exists (remove it first)")]
    DuplicateServer { name: String },
    /// A name that cannot name a server.
    #[error("`{name}` cannot name an MCP server: use 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName { name: String },
    /// A configuration that cannot work (empty command, bad URL, ...).
    #[error("MCP server `{name}`: {reason}")]
    InvalidConfig { name: String, reason: String },
    /// Reading or writing the registry file failed.
    #[error("cannot {action} the MCP server list {}: {source}", path.display())]
    RegistryIo {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The registry file (or a file to import) is not what it should be.
    #[error("{} is not a valid MCP server list: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// The server's process could not be started.
    #[error("cannot start MCP server `{server}` (`{command}`): {source}")]
    Spawn {
        server: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The bearer token's environment variable is not set.
    #[error(
        "MCP server `{server}` needs a bearer token in the environment variable {var}, which is not set"
    )]
    MissingToken { server: String, var: String },
    /// The offline switch is on and the server is not on this machine.
    #[error(
        "MCP server `{server}` is not on this machine, and Hearth is offline (`hearth network online` allows it)"
    )]
    Offline { server: String },
    /// The server did not answer within the limit.
    #[error(
        "MCP server `{server}` did not answer {what} within {secs} s (it was stopped; the next use starts it again)"
    )]
    Timeout {
        server: String,
        what: &'static str,
        secs: u64,
    },
    /// The server's process ended or the connection closed.
    #[error("MCP server `{server}` stopped during {what}{} (the next use starts it again)", stderr_note(.stderr))]
    Crashed {
        server: String,
        what: &'static str,
        /// The end of what the server wrote to stderr, if anything.
        stderr: String,
    },
    /// The server wrote something that is not MCP (JSON-RPC) on its output.
    #[error(
        "MCP server `{server}` sent something that is not MCP: {sample:?} (the next use starts it again)"
    )]
    Garbage { server: String, sample: String },
    /// The connection could not be set up (handshake refused, HTTP error).
    #[error("cannot connect to MCP server `{server}`: {reason}")]
    Connect { server: String, reason: String },
    /// The server answered with an error.
    #[error("MCP server `{server}` refused {what}: {message}")]
    Server {
        server: String,
        what: &'static str,
        message: String,
    },
    /// The server has no tool by that name.
    #[error("MCP server `{server}` has no tool `{tool}` (see `hearth mcp tools {server}`)")]
    UnknownTool { server: String, tool: String },
    /// The arguments do not fit the tool's input schema.
    #[error("arguments for `{tool}` do not fit its input schema: {reason}")]
    InvalidArgs { tool: String, reason: String },
}

fn stderr_note(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its last words: {:?}", stderr.trim())
    }
}

impl ToolsError {
    /// Whether the server may work when tried again (it was stopped and is
    /// restarted on the next use).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Crashed { .. } | Self::Connect { .. }
        )
    }
}
