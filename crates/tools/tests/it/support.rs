//! Where the test MCP servers are, and hosts over a throwaway registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hearth_tools::{Limits, McpHost, McpServerConfig, Registry};

/// The variable `.ci/run` sets to the folder holding the test servers
/// (`venv/` with mcp-server-time, `npm/node_modules/` with the npm ones).
pub(crate) const MCP_DIR_VAR: &str = "HEARTH_TEST_MCP_DIR";

/// The installed test servers.
pub(crate) struct Servers {
    pub(crate) dir: PathBuf,
}

impl Servers {
    /// The servers, or `None` (with the reason printed) when they are not
    /// installed. Under CI (`CI=true`) a missing server fails the test.
    pub(crate) fn find() -> Option<Self> {
        let dir = std::env::var_os(MCP_DIR_VAR)
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hearth/mcp")));
        let servers = dir.map(|dir| Self { dir });
        let missing = match &servers {
            None => Some("no HOME and no HEARTH_TEST_MCP_DIR".to_owned()),
            Some(s) => [s.time_bin(), s.filesystem_js(), s.everything_js()]
                .into_iter()
                .find(|p| !p.exists())
                .map(|p| format!("{} is missing", p.display())),
        };
        match missing {
            None => servers,
            Some(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "the MCP test servers are not installed ({why}); .ci/run installs them and sets {MCP_DIR_VAR}"
                );
                eprintln!(
                    "skipped: the MCP test servers are not installed ({why}); run .ci/run or set {MCP_DIR_VAR}"
                );
                None
            }
        }
    }

    pub(crate) fn time_bin(&self) -> PathBuf {
        self.dir.join("venv/bin/mcp-server-time")
    }

    fn npm(&self, package: &str) -> PathBuf {
        self.dir
            .join("npm/node_modules/@modelcontextprotocol")
            .join(package)
            .join("dist/index.js")
    }

    pub(crate) fn filesystem_js(&self) -> PathBuf {
        self.npm("server-filesystem")
    }

    pub(crate) fn everything_js(&self) -> PathBuf {
        self.npm("server-everything")
    }
}

/// A host over a fresh registry holding `servers`.
pub(crate) struct TestHost {
    pub(crate) host: McpHost,
    /// Holds the registry until the test ends.
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn host_with(servers: Vec<McpServerConfig>, limits: Limits) -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::in_home(dir.path());
    for server in servers {
        registry.add(server).unwrap();
    }
    let host = McpHost::new(registry, limits, Arc::new(|_: &str| None));
    TestHost { host, _dir: dir }
}

/// Limits short enough for a hanging server not to hold the suite up.
pub(crate) fn short_limits() -> Limits {
    Limits {
        start_timeout: Duration::from_secs(30),
        call_timeout: Duration::from_secs(3),
        max_result_bytes: 64 * 1024,
    }
}

/// The misbehaving server, written next to the registry.
pub(crate) fn fake_server(dir: &Path, name: &str, mode: &str) -> McpServerConfig {
    let script = dir.join("fake_server.py");
    std::fs::write(&script, include_str!("fake_server.py")).unwrap();
    let marker = dir.join(format!("{name}.crashed"));
    McpServerConfig::stdio(
        name,
        "python3",
        [
            script.display().to_string(),
            mode.to_owned(),
            marker.display().to_string(),
        ],
    )
}
