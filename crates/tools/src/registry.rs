//! The MCP server list: one JSON file in Hearth's data folder (`mcp.json`),
//! readable by its owner only, because a stdio server's environment often
//! holds an API key. Bearer tokens are not in it at all: an HTTP server names
//! the environment variable the token is read from when it is used.
//!
//! Also reads Claude-Desktop-style files (`{"mcpServers": {NAME: {command,
//! args, env} | {url}}}`), the format most MCP servers document.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ToolsError;

/// The registry's file name inside Hearth's data folder.
pub const REGISTRY_FILE: &str = "mcp.json";

/// The longest server name.
const MAX_NAME: usize = 64;

/// One MCP server Hearth may start or connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServerConfig {
    /// The user's name for it (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
}

/// How Hearth talks to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum McpTransport {
    /// A local process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        /// Added to Hearth's own environment for the process.
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP server.
    Http {
        url: String,
        /// The environment variable holding the bearer token, read at each
        /// connection (the token itself is never stored or logged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bearer_token_env: Option<String>,
    },
}

impl McpServerConfig {
    /// A stdio server.
    pub fn stdio(
        name: impl Into<String>,
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            transport: McpTransport::Stdio {
                command: command.into(),
                args: args.into_iter().map(Into::into).collect(),
                env: BTreeMap::new(),
            },
        }
    }

    /// A streamable-HTTP server.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            transport: McpTransport::Http {
                url: url.into(),
                bearer_token_env: None,
            },
        }
    }

    /// Checks the name and the transport, so a bad entry is refused when it
    /// is added rather than when it is first used.
    pub fn validate(&self) -> Result<(), ToolsError> {
        check_name(&self.name)?;
        let invalid = |reason: &str| ToolsError::InvalidConfig {
            name: self.name.clone(),
            reason: reason.to_owned(),
        };
        match &self.transport {
            McpTransport::Stdio { command, env, .. } => {
                if command.trim().is_empty() {
                    return Err(invalid("the command is empty"));
                }
                if env.keys().any(|k| k.is_empty() || k.contains(['=', '\0'])) {
                    return Err(invalid(
                        "an environment variable name is empty or has `=` in it",
                    ));
                }
            }
            McpTransport::Http {
                url,
                bearer_token_env,
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid("the URL must start with http:// or https://"));
                }
                if bearer_token_env
                    .as_deref()
                    .is_some_and(|v| v.is_empty() || v.contains(['=', '\0']))
                {
                    return Err(invalid("the bearer token variable name is not valid"));
                }
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), ToolsError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(ToolsError::InvalidName {
            name: name.chars().take(80).collect(),
        })
    }
}

/// The file's shape (versioned, so a later format can be told apart).
#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    servers: Vec<McpServerConfig>,
}

/// The MCP server list kept in one file.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

impl Registry {
    /// The registry in Hearth's data folder `home`.
    pub fn in_home(home: &Path) -> Self {
        Self::at(home.join(REGISTRY_FILE))
    }

    /// The registry kept in `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the list is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every server, in the order they were added (none if there is no file yet).
    pub fn load(&self) -> Result<Vec<McpServerConfig>, ToolsError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ToolsError::RegistryIo {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let file: RegistryFile =
            serde_json::from_slice(&bytes).map_err(|err| ToolsError::BadFile {
                path: self.path.clone(),
                reason: err.to_string(),
            })?;
        for server in &file.servers {
            server.validate().map_err(|err| ToolsError::BadFile {
                path: self.path.clone(),
                reason: err.to_string(),
            })?;
        }
        Ok(file.servers)
    }

    /// One server by name.
    pub fn get(&self, name: &str) -> Result<McpServerConfig, ToolsError> {
        self.load()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ToolsError::UnknownServer {
                name: name.to_owned(),
            })
    }

    /// Adds a server; a name already taken is refused.
    pub fn add(&self, server: McpServerConfig) -> Result<(), ToolsError> {
        server.validate()?;
        let mut servers = self.load()?;
        if servers.iter().any(|s| s.name == server.name) {
            return Err(ToolsError::DuplicateServer { name: server.name });
        }
        servers.push(server);
        self.save(servers)
    }

    /// Removes a server by name.
    pub fn remove(&self, name: &str) -> Result<McpServerConfig, ToolsError> {
        let mut servers = self.load()?;
        let at = servers.iter().position(|s| s.name == name).ok_or_else(|| {
            ToolsError::UnknownServer {
                name: name.to_owned(),
            }
        })?;
        let removed = servers.remove(at);
        self.save(servers)?;
        Ok(removed)
    }

    /// Adds every server of a Claude-Desktop-style file. Names already taken
    /// are skipped and returned in `skipped`; nothing is written when the
    /// file is not valid.
    pub fn import_claude_desktop(&self, file: &Path) -> Result<ImportReport, ToolsError> {
        let text = std::fs::read_to_string(file).map_err(|source| ToolsError::RegistryIo {
            action: "read",
            path: file.to_path_buf(),
            source,
        })?;
        let found = parse_claude_desktop(&text).map_err(|reason| ToolsError::BadFile {
            path: file.to_path_buf(),
            reason,
        })?;
        let mut servers = self.load()?;
        let mut report = ImportReport::default();
        for server in found {
            if servers.iter().any(|s| s.name == server.name) {
                report.skipped.push(server.name);
            } else {
                report.added.push(server.name.clone());
                servers.push(server);
            }
        }
        if !report.added.is_empty() {
            self.save(servers)?;
        }
        Ok(report)
    }

    fn save(&self, servers: Vec<McpServerConfig>) -> Result<(), ToolsError> {
        let file = RegistryFile {
            version: 1,
            servers,
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|err| ToolsError::BadFile {
            path: self.path.clone(),
            reason: err.to_string(),
        })?;
        json.push(b'\n');
        write_private_atomic(&self.path, &json).map_err(|source| ToolsError::RegistryIo {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Servers added, in the file's order.
    pub added: Vec<String>,
    /// Servers whose name was already taken (left as they were).
    pub skipped: Vec<String>,
}

/// Claude Desktop's `claude_desktop_config.json`, the parts Hearth reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaudeDesktopFile {
    mcp_servers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ClaudeStdio {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ClaudeHttp {
    url: String,
}

/// Parses a Claude-Desktop-style file into configurations (every one checked).
fn parse_claude_desktop(text: &str) -> Result<Vec<McpServerConfig>, String> {
    let file: ClaudeDesktopFile = serde_json::from_str(text)
        .map_err(|err| format!("expected {{\"mcpServers\": {{…}}}}: {err}"))?;
    let mut out = Vec::with_capacity(file.mcp_servers.len());
    for (name, entry) in file.mcp_servers {
        let config = if entry.get("command").is_some() {
            let stdio: ClaudeStdio =
                serde_json::from_value(entry).map_err(|err| format!("server `{name}`: {err}"))?;
            McpServerConfig {
                name,
                transport: McpTransport::Stdio {
                    command: stdio.command,
                    args: stdio.args,
                    env: stdio.env,
                },
            }
        } else if entry.get("url").is_some() {
            let http: ClaudeHttp =
                serde_json::from_value(entry).map_err(|err| format!("server `{name}`: {err}"))?;
            McpServerConfig::http(name, http.url)
        } else {
            return Err(format!("server `{name}` has neither `command` nor `url`"));
        };
        config.validate().map_err(|err| err.to_string())?;
        out.push(config);
    }
    Ok(out)
}

/// Writes `contents` to a 0600 file beside `path`, then renames it over
/// `path`, so a crash never leaves half a list.
fn write_private_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove_round_trip_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::in_home(dir.path());
        assert!(reg.load().unwrap().is_empty());
        let mut time =
            McpServerConfig::stdio("time", "mcp-server-time", ["--local-timezone", "UTC"]);
        if let McpTransport::Stdio { env, .. } = &mut time.transport {
            env.insert("API_KEY".into(), "s3cret".into());
        }
        reg.add(time.clone()).unwrap();
        reg.add(McpServerConfig::http("web", "http://127.0.0.1:9/mcp"))
            .unwrap();
        assert_eq!(reg.load().unwrap().len(), 2);
        assert_eq!(reg.get("time").unwrap(), time);
        assert!(matches!(
            reg.add(McpServerConfig::http("web", "http://x")),
            Err(ToolsError::DuplicateServer { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(reg.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        reg.remove("time").unwrap();
        assert!(matches!(
            reg.get("time"),
            Err(ToolsError::UnknownServer { .. })
        ));
        assert!(matches!(
            reg.remove("time"),
            Err(ToolsError::UnknownServer { .. })
        ));
        assert_eq!(reg.load().unwrap()[0].name, "web");
    }

    #[test]
    fn bad_names_and_configs_are_refused() {
        for name in ["", "a b", "../x", "..", "x/y", &"n".repeat(65)] {
            assert!(
                matches!(
                    McpServerConfig::http(name, "http://x").validate(),
                    Err(ToolsError::InvalidName { .. })
                ),
                "{name}"
            );
        }
        assert!(
            McpServerConfig::stdio("a", " ", Vec::<String>::new())
                .validate()
                .is_err()
        );
        assert!(McpServerConfig::http("a", "ftp://x").validate().is_err());
        assert!(
            McpServerConfig::http("a.b_c-1", "https://x/mcp")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn a_corrupt_registry_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::in_home(dir.path());
        std::fs::write(reg.path(), b"{not json").unwrap();
        let err = reg.load().unwrap_err();
        assert!(matches!(err, ToolsError::BadFile { .. }), "{err}");
        assert!(err.to_string().contains("mcp.json"), "{err}");
    }

    #[test]
    fn claude_desktop_files_import_stdio_and_url_servers_and_skip_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::in_home(dir.path());
        reg.add(McpServerConfig::http("web", "http://127.0.0.1:1/mcp"))
            .unwrap();
        let file = dir.path().join("claude_desktop_config.json");
        std::fs::write(
            &file,
            r#"{"mcpServers": {
                "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
                "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
                "web": {"url": "http://127.0.0.1:2/mcp"}
            }, "globalShortcut": ""}"#,
        )
        .unwrap();
        let report = reg.import_claude_desktop(&file).unwrap();
        assert_eq!(report.added, ["fs", "time"]);
        assert_eq!(report.skipped, ["web"]);
        let time = reg.get("time").unwrap();
        let McpTransport::Stdio { command, env, .. } = time.transport else {
            panic!("stdio expected")
        };
        assert_eq!(command, "uvx");
        assert_eq!(env["TZ"], "UTC");
        // The existing `web` is kept as it was.
        assert_eq!(
            reg.get("web").unwrap(),
            McpServerConfig::http("web", "http://127.0.0.1:1/mcp")
        );
    }

    #[test]
    fn bad_claude_desktop_files_change_nothing() {
        for text in [
            "[]",
            r#"{"servers": {}}"#,
            r#"{"mcpServers": {"x": {"args": []}}}"#,
            r#"{"mcpServers": {"x": {"command": 3}}}"#,
            r#"{"mcpServers": {"bad name": {"command": "x"}}}"#,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let reg = Registry::in_home(dir.path());
            let file = dir.path().join("c.json");
            std::fs::write(&file, text).unwrap();
            let err = reg.import_claude_desktop(&file).unwrap_err();
            assert!(matches!(err, ToolsError::BadFile { .. }), "{text}: {err}");
            assert!(!reg.path().exists(), "{text}");
        }
    }
}
