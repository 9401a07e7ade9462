//! hearth-tools against real MCP servers (mcp-server-time, server-filesystem,
//! server-everything over streamable HTTP) and misbehaving ones (crashing,
//! hanging, garbage, huge results).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A skipped test says why on stderr.
#![allow(clippy::print_stderr)]

mod faults;
mod real;
mod support;
