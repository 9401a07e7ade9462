//! hearth-tools: Hearth as an MCP host.
//!
//! [`Registry`] keeps the user's MCP servers ([`McpServerConfig`]: a stdio
//! command or a streamable-HTTP URL) in `mcp.json` in Hearth's data folder.
//! [`McpHost`] starts a server on first use, keeps the connection, starts it
//! again after a crash, and holds every request to [`Limits`]: a hanging
//! server is stopped after the call timeout, a long result is cut (and says
//! so), a server writing garbage is a clear [`ToolsError::Garbage`].
//!
//! Streamable-HTTP servers are reached with rmcp's own reqwest client, which
//! is built here without TLS: `http://` only (servers on this machine, a
//! LAN), `https://` is refused with a plain error, and hearth-net's proxy and
//! CA settings do not apply yet. The offline switch ([`McpHost::offline`])
//! refuses every HTTP server not on this machine; every exchange with an
//! HTTP server is reported ([`McpHost::observe_http`], [`HttpExchange`]) for
//! the app's network ledger. A tool's [`ToolSpec::fingerprint`] is what an
//! approval is tied to: a server that changes a tool's description or schema
//! later is asked about again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_tools::ToolsError> {
//! use std::sync::Arc;
//! use hearth_tools::{Limits, McpHost, McpServerConfig, Registry};
//!
//! let registry = Registry::in_home(std::path::Path::new("/home/me/.local/share/hearth"));
//! registry.add(McpServerConfig::stdio("time", "mcp-server-time", ["--local-timezone", "UTC"]))?;
//! let host = McpHost::new(registry, Limits::default(), Arc::new(|_var: &str| None));
//! for tool in host.list_tools("time").await? {
//!     println!("{}: {}", tool.name, tool.description);
//! }
//! let answer = host
//!     .call("time", "get_current_time", serde_json::json!({"timezone": "UTC"}))
//!     .await?;
//! println!("{}", answer.text);
//! # Ok(()) }
//! ```

mod error;
mod host;
mod registry;
mod result;
mod schema;
mod stdio;

pub use error::ToolsError;
pub use host::{HttpExchange, HttpObserver, Limits, McpHost, TokenLookup, ToolSpec};
pub use registry::{ImportReport, McpServerConfig, McpTransport, REGISTRY_FILE, Registry};
pub use result::ToolResult;
