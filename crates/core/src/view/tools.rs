//! The tools screens: Settings → MCP servers (add, remove, import a Claude
//! Desktop file, a server's tools, the always-allow list), the tools picked
//! for a chat, and a call waiting for the user's approval.
//!
//! Environment values of stdio servers and bearer tokens never come back
//! out: the list shows the variables' names and whether a token is set.

use std::collections::BTreeMap;
use std::path::Path;

use hearth_secrets::SecretString;
use hearth_tools::{McpServerConfig, McpTransport};
use serde::{Deserialize, Serialize};

use super::parse_conversation;
use crate::mcp::{Seen, token_name};
use crate::tools::{Approval, PendingCall, ToolPick};
use crate::{App, CoreError, pick_text};

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct McpServerView {
    pub name: String,
    pub transport: McpTransportView,
    pub status: McpStatusView,
}

/// How a server is reached (secrets left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum McpTransportView {
    Stdio {
        command: String,
        args: Vec<String>,
        /// The names of the variables set for it (values not shown).
        env_keys: Vec<String>,
    },
    Http {
        url: String,
        /// Whether a bearer token is sent.
        has_token: bool,
    },
}

/// What Hearth knows of a server since it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum McpStatusView {
    /// Not asked yet (servers start when a chat or this screen needs them).
    NotStarted,
    /// It answered with its tools.
    Ready { tools: u32 },
    /// It could not be started or asked; why.
    Failed { message: String },
}

/// One environment variable for a stdio server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EnvVarView {
    pub key: String,
    pub value: String,
}

/// A server to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum NewMcpServerView {
    /// A program speaking MCP on stdin/stdout.
    Stdio {
        name: String,
        command: String,
        args: Vec<String>,
        env: Vec<EnvVarView>,
    },
    /// A streamable-HTTP server; the token is kept like an API key.
    Http {
        name: String,
        url: String,
        token: Option<String>,
    },
}

/// One tool of a server, its description exactly as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct McpToolView {
    pub server: String,
    pub name: String,
    pub description: String,
    /// The JSON Schema of its arguments, pretty-printed.
    pub input_schema: String,
    /// On the always-allow list as it is now: runs without asking.
    pub always_allowed: bool,
    /// On the always-allow list, but the server has changed its description
    /// or schema since it was allowed: each call is asked about again.
    pub changed: bool,
    /// The tool as shown here (description and schema, hashed): what
    /// `set_tool_always_allowed` ties the approval to.
    pub fingerprint: String,
}

/// What importing a Claude Desktop file did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct McpImportView {
    pub added: Vec<String>,
    /// Names already taken (those servers were left as they were).
    pub skipped: Vec<String>,
}

/// A call waiting for the user, shown before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PendingCallView {
    /// What `answer_tool_call` names.
    pub approval_id: String,
    pub call_id: String,
    pub tool: String,
    pub server: String,
    /// Pretty-printed when it is JSON, else as the model wrote it.
    pub arguments: String,
    /// The tool's description exactly as its server wrote it.
    pub description: String,
    /// The tool was allowed before (for this chat, or always), but its
    /// server has changed its description or input schema since: asked again.
    pub changed: bool,
}

impl PendingCallView {
    pub fn new(approval_id: String, call: &PendingCall) -> Self {
        Self {
            approval_id,
            call_id: call.call_id.clone(),
            tool: call.tool.clone(),
            server: call.server.clone(),
            arguments: pretty_json(&call.arguments),
            description: call.description.clone(),
            changed: call.changed,
        }
    }
}

/// The user's answer to a waiting call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ApprovalView {
    Once,
    ForThisChat,
    Deny,
}

impl From<ApprovalView> for Approval {
    fn from(a: ApprovalView) -> Self {
        match a {
            ApprovalView::Once => Self::Once,
            ApprovalView::ForThisChat => Self::ForThisChat,
            ApprovalView::Deny => Self::Deny,
        }
    }
}

/// JSON text pretty-printed; anything else as it is.
pub(crate) fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

impl App {
    /// The configured MCP servers, with what is known of each.
    pub fn mcp_servers_view(&self) -> Result<Vec<McpServerView>, CoreError> {
        let servers = self.mcp_host().registry().load()?;
        Ok(servers.iter().map(|s| self.server_view(s)).collect())
    }

    fn server_view(&self, server: &McpServerConfig) -> McpServerView {
        let transport = match &server.transport {
            McpTransport::Stdio { command, args, env } => McpTransportView::Stdio {
                command: command.clone(),
                args: args.clone(),
                env_keys: env.keys().cloned().collect(),
            },
            McpTransport::Http {
                url,
                bearer_token_env,
            } => McpTransportView::Http {
                url: url.clone(),
                has_token: bearer_token_env.is_some(),
            },
        };
        let status = match self.last_seen(&server.name) {
            None => McpStatusView::NotStarted,
            Some(Seen::Ready(n)) => McpStatusView::Ready {
                tools: u32::try_from(n).unwrap_or(u32::MAX),
            },
            Some(Seen::Failed(message)) => McpStatusView::Failed { message },
        };
        McpServerView {
            name: server.name.clone(),
            transport,
            status,
        }
    }

    /// Adds a server (a name already taken is an error); returns the list.
    pub fn add_mcp_server_view(
        &self,
        new: NewMcpServerView,
    ) -> Result<Vec<McpServerView>, CoreError> {
        let (config, token) = match new {
            NewMcpServerView::Stdio {
                name,
                command,
                args,
                env,
            } => {
                let env: BTreeMap<String, String> = env
                    .into_iter()
                    .filter(|v| !v.key.trim().is_empty())
                    .map(|v| (v.key.trim().to_owned(), v.value))
                    .collect();
                (
                    McpServerConfig {
                        name: name.trim().to_owned(),
                        transport: McpTransport::Stdio {
                            command: command.trim().to_owned(),
                            args,
                            env,
                        },
                    },
                    None,
                )
            }
            NewMcpServerView::Http { name, url, token } => {
                let name = name.trim().to_owned();
                let token = token.filter(|t| !t.trim().is_empty());
                let bearer_token_env = token.as_ref().map(|_| token_name(&name));
                (
                    McpServerConfig {
                        name,
                        transport: McpTransport::Http {
                            url: url.trim().to_owned(),
                            bearer_token_env,
                        },
                    },
                    token,
                )
            }
        };
        config.validate()?;
        let host = self.mcp_host();
        if host
            .registry()
            .load()?
            .iter()
            .any(|s| s.name == config.name)
        {
            return Err(CoreError::Invalid(format!(
                "there is an MCP server named `{}` already",
                config.name
            )));
        }
        if let Some(token) = token {
            self.store_secret(
                &token_name(&config.name),
                &SecretString::from(token.trim().to_owned()),
                None,
            )?;
        }
        tracing::info!(server = %config.name, "adding an MCP server");
        host.registry().add(config)?;
        self.mcp_servers_view()
    }

    /// Removes a server (and its token); returns the list.
    pub fn remove_mcp_server_view(&self, name: &str) -> Result<Vec<McpServerView>, CoreError> {
        let host = self.mcp_host();
        let removed = host.registry().remove(name)?;
        if let McpTransport::Http {
            bearer_token_env: Some(secret),
            ..
        } = &removed.transport
            && secret == &token_name(name)
        {
            self.delete_secret(secret)?;
        }
        crate::mcp::forget(self, name);
        tracing::info!(server = %name, "removed an MCP server");
        self.mcp_servers_view()
    }

    /// Adds the servers of a Claude-Desktop-style file (`{"mcpServers": …}`).
    pub fn import_mcp_servers_view(&self, file: &Path) -> Result<McpImportView, CoreError> {
        let report = self.mcp_host().registry().import_claude_desktop(file)?;
        Ok(McpImportView {
            added: report.added,
            skipped: report.skipped,
        })
    }

    /// A server's tools (starting it if needed), as it describes them.
    pub async fn mcp_tools_view(&self, server: &str) -> Result<Vec<McpToolView>, CoreError> {
        let tools = match self.mcp_host().list_tools(server).await {
            Ok(tools) => {
                self.remember_seen(server, Seen::Ready(tools.len()));
                tools
            }
            Err(e) => {
                self.remember_seen(server, Seen::Failed(e.to_string()));
                return Err(e.into());
            }
        };
        let always = self.always_allow_list()?;
        Ok(tools
            .into_iter()
            .map(|t| {
                let fingerprint = t.fingerprint();
                let entry = always.get(&format!("{server}:{}", t.name));
                let (always_allowed, changed) = match entry {
                    None => (false, false),
                    Some(None) => (true, false),
                    Some(Some(allowed)) => (*allowed == fingerprint, *allowed != fingerprint),
                };
                let input_schema =
                    serde_json::to_string_pretty(&t.input_schema).unwrap_or_default();
                McpToolView {
                    always_allowed,
                    changed,
                    fingerprint,
                    server: server.to_owned(),
                    input_schema,
                    name: t.name,
                    description: t.description,
                }
            })
            .collect())
    }

    /// Puts a tool on the always-allow list (or takes it off), tied to the
    /// tool as the user saw it (`fingerprint` of its [`McpToolView`]).
    pub fn set_always_allowed_view(
        &self,
        server: &str,
        tool: &str,
        allowed: bool,
        fingerprint: Option<String>,
    ) -> Result<Vec<String>, CoreError> {
        self.set_always_allowed(server, tool, allowed, fingerprint.as_deref())
    }

    /// The tools picked for a conversation: `NAME` (all of a server's) or
    /// `NAME:TOOL`.
    pub fn chat_tools_view(&self, conversation: &str) -> Result<Vec<String>, CoreError> {
        let id = parse_conversation(conversation)?;
        Ok(self.chat_tools(&id)?.iter().map(pick_text).collect())
    }

    /// Picks the tools for a conversation (empty: none); returns them.
    pub fn set_chat_tools_view(
        &self,
        conversation: &str,
        picks: &[String],
    ) -> Result<Vec<String>, CoreError> {
        let id = parse_conversation(conversation)?;
        let picks: Vec<ToolPick> = picks.iter().map(|p| p.parse()).collect::<Result<_, _>>()?;
        self.set_chat_tools(&id, &picks)?;
        self.chat_tools_view(conversation)
    }

    /// The user's answer to a waiting call (`toolApproval` event); false
    /// when nothing waits under that id any more.
    pub fn answer_tool_call_view(&self, approval_id: &str, answer: ApprovalView) -> bool {
        self.answer_tool_call(approval_id, answer.into())
    }
}
