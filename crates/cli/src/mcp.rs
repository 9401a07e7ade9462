//! `hearth mcp`: the MCP servers Hearth may use (add, list, rm, import a
//! Claude Desktop file) and trying their tools from the command line (tools,
//! call). The list lives in `mcp.json` in the data folder (hearth-tools).
//!
//! Bearer tokens are never taken on the command line: `--bearer-token-env`
//! names the environment variable read at each connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hearth_secrets::SecretString;
use hearth_tools::{Limits, McpHost, McpServerConfig, McpTransport, Registry, ToolSpec};

use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct McpArgs {
    #[command(subcommand)]
    command: McpCommand,
}

#[derive(clap::Subcommand, Debug)]
enum McpCommand {
    /// Add a server: `hearth mcp add NAME -- COMMAND [ARGS…]` (stdio) or
    /// `hearth mcp add NAME --url URL` (streamable HTTP).
    Add {
        /// A name of your choice (letters, digits, `-`, `_`, `.`).
        name: String,
        /// The server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:3001/mcp`.
        #[arg(long, conflicts_with_all = ["command", "env"])]
        url: Option<String>,
        /// The environment variable holding the server's bearer token (read
        /// when Hearth connects; the token is never stored).
        #[arg(long, requires = "url", value_name = "VAR")]
        bearer_token_env: Option<String>,
        /// An environment variable for the server's process (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value)]
        env: Vec<(String, String)>,
        /// The command starting the server, and its arguments (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// The servers Hearth knows (environment values are not shown).
    #[command(alias = "ls")]
    List {
        /// Print JSON (environment values left out).
        #[arg(long)]
        json: bool,
    },
    /// Remove a server.
    Rm { name: String },
    /// Add the servers of a Claude-Desktop-style file (`{"mcpServers": {…}}`).
    Import { file: PathBuf },
    /// The tools a server offers (starts it). Descriptions are the server's
    /// own words, shown as they are.
    Tools {
        name: String,
        /// Print JSON (name, description, input schema).
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the server.
        #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// Call a tool and print its result.
    Call {
        name: String,
        tool: String,
        /// The arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Print JSON (text, is_error, truncated).
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
        timeout: u64,
    },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

pub(crate) fn mcp(args: &McpArgs) -> Result<()> {
    let config = hearth_core::Config::from_env()?;
    let offline = config.is_offline();
    let registry = Registry::in_home(&config.home);
    match &args.command {
        McpCommand::Add {
            name,
            url,
            bearer_token_env,
            env,
            command,
        } => {
            let server = match (url, command.split_first()) {
                (Some(url), None) => McpServerConfig {
                    name: name.clone(),
                    transport: McpTransport::Http {
                        url: url.clone(),
                        bearer_token_env: bearer_token_env.clone(),
                    },
                },
                (None, Some((program, rest))) => McpServerConfig {
                    name: name.clone(),
                    transport: McpTransport::Stdio {
                        command: program.clone(),
                        args: rest.to_vec(),
                        env: env.iter().cloned().collect::<BTreeMap<_, _>>(),
                    },
                },
                _ => bail!(
                    "say how to reach the server: `hearth mcp add {name} -- COMMAND [ARGS…]` or `hearth mcp add {name} --url URL`"
                ),
            };
            registry.add(server)?;
            noteln!("added MCP server `{name}` (try `hearth mcp tools {name}`)");
            Ok(())
        }
        McpCommand::List { json } => list(&registry, *json),
        McpCommand::Rm { name } => {
            registry.remove(name)?;
            noteln!("removed MCP server `{name}`");
            Ok(())
        }
        McpCommand::Import { file } => {
            let report = registry.import_claude_desktop(file)?;
            for name in &report.added {
                outln!("added {name}")?;
            }
            for name in &report.skipped {
                noteln!("skipped {name}: a server by that name already exists");
            }
            if report.added.is_empty() && report.skipped.is_empty() {
                noteln!("no servers in {}", file.display());
            }
            Ok(())
        }
        McpCommand::Tools {
            name,
            json,
            timeout,
        } => {
            let host = host(registry, *timeout, offline);
            let tools = block_on(async {
                let tools = host.list_tools(name).await;
                host.shutdown().await;
                tools
            })??;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&tools)?)?;
            } else {
                print_tools(&tools)?;
            }
            Ok(())
        }
        McpCommand::Call {
            name,
            tool,
            args,
            json,
            timeout,
        } => {
            let args: serde_json::Value = serde_json::from_str(args).context(
                "--args is not JSON (expected an object such as '{\"path\": \"/tmp\"}')",
            )?;
            let host = host(registry, *timeout, offline);
            let result = block_on(async {
                let result = host.call(name, tool, args).await;
                host.shutdown().await;
                result
            })??;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&result)?)?;
            } else {
                outln!("{}", printable(&result.text))?;
            }
            if result.is_error {
                bail!("the tool `{tool}` reported an error");
            }
            Ok(())
        }
    }
}

/// Seconds to wait for a server to start, and for a call's answer.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The MCP host over `registry`'s servers.
pub(crate) fn host(registry: Registry, timeout: u64, offline: bool) -> McpHost {
    let limits = Limits {
        call_timeout: Duration::from_secs(timeout.max(1)),
        start_timeout: Duration::from_secs(timeout.max(1)),
        ..Limits::default()
    };
    // A token is read from the variable the user named, at connection time.
    let tokens = Arc::new(|var: &str| std::env::var(var).ok().map(SecretString::from));
    McpHost::new(registry, limits, tokens).offline(offline)
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(work))
}

fn list(registry: &Registry, json: bool) -> Result<()> {
    let servers = registry.load()?;
    if json {
        let shown: Vec<serde_json::Value> = servers.iter().map(public_view).collect();
        outln!("{}", serde_json::to_string_pretty(&shown)?)?;
        return Ok(());
    }
    if servers.is_empty() {
        noteln!("no MCP servers (add one with `hearth mcp add NAME -- COMMAND [ARGS…]`)");
    }
    for server in &servers {
        match &server.transport {
            McpTransport::Stdio { command, args, env } => {
                let mut line = format!("{}\tstdio\t{}", server.name, shell_words(command, args));
                if !env.is_empty() {
                    let keys: Vec<&str> = env.keys().map(String::as_str).collect();
                    line.push_str(&format!("\t(env: {})", keys.join(", ")));
                }
                outln!("{line}")?;
            }
            McpTransport::Http {
                url,
                bearer_token_env,
            } => match bearer_token_env {
                Some(var) => outln!("{}\thttp\t{url}\t(token from ${var})", server.name)?,
                None => outln!("{}\thttp\t{url}", server.name)?,
            },
        }
    }
    Ok(())
}

/// A server as `list --json` shows it: environment keys without values.
fn public_view(server: &McpServerConfig) -> serde_json::Value {
    match &server.transport {
        McpTransport::Stdio { command, args, env } => serde_json::json!({
            "name": server.name,
            "transport": "stdio",
            "command": command,
            "args": args,
            "env_keys": env.keys().collect::<Vec<_>>(),
        }),
        McpTransport::Http {
            url,
            bearer_token_env,
        } => serde_json::json!({
            "name": server.name,
            "transport": "http",
            "url": url,
            "bearer_token_env": bearer_token_env,
        }),
    }
}

fn shell_words(command: &str, args: &[String]) -> String {
    std::iter::once(command)
        .chain(args.iter().map(String::as_str))
        .map(|word| {
            if word.is_empty() || word.contains(char::is_whitespace) {
                format!("{word:?}")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_tools(tools: &[ToolSpec]) -> Result<()> {
    if tools.is_empty() {
        noteln!("this server offers no tools");
    }
    for tool in tools {
        outln!("{}", printable(&tool.name))?;
        for line in tool.description.lines().filter(|l| !l.trim().is_empty()) {
            outln!("    {}", printable(line.trim_end()))?;
        }
        let required: Vec<&str> = tool.input_schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if let Some(props) = tool.input_schema["properties"].as_object()
            && !props.is_empty()
        {
            let args: Vec<String> = props
                .iter()
                .map(|(name, prop)| {
                    let ty = match &prop["type"] {
                        serde_json::Value::String(t) => t.clone(),
                        serde_json::Value::Array(ts) => ts
                            .iter()
                            .filter_map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join("|"),
                        _ => "any".to_owned(),
                    };
                    let mark = if required.contains(&name.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    format!("{}{mark}: {}", printable(name), printable(&ty))
                })
                .collect();
            outln!("    args: {}", args.join(", "))?;
        }
    }
    Ok(())
}

/// A server's words for the terminal: control characters (an escape sequence
/// could rewrite what is on screen) shown escaped; lines and tabs kept.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_from_a_server_are_shown_escaped() {
        assert_eq!(printable("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(printable("ok\u{1b}[2Jgone\r"), "ok\\u{1b}[2Jgone\\u{d}");
    }
}
