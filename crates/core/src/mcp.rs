//! The app's side of MCP: one [`McpHost`] for the whole app (built again when
//! the offline switch flips, so it always refuses what offline refuses), the
//! tools picked for each chat, the per-tool "always allow" list, and the
//! approver that asks the user through the turn's own event stream and waits
//! for [`App::answer_tool_call`]. "Allow for this chat" lasts for the
//! conversation's later answers too, until the app closes.
//!
//! The chat's picks and the always-allow list are settings in the encrypted
//! database (`chat_tools:<conversation id>`, [`ALWAYS_ALLOW_SETTING`]). A
//! bearer token of an HTTP server added in the app is a secret like a
//! provider key; the server's entry in `mcp.json` names it
//! ([`token_name`]) and the host reads it from the secret store when it
//! connects (a server added with the CLI names an environment variable).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_store::ConversationId;
use hearth_tools::{Limits, McpHost, Registry};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::tools::{Approval, Approver, PendingCall, ToolPick};
use crate::{App, CoreError};

/// The setting holding the tools that run without asking (`SERVER:TOOL` each).
pub const ALWAYS_ALLOW_SETTING: &str = "tools.always_allow";

/// Prefix of the setting holding a conversation's picked tools.
const CHAT_TOOLS_PREFIX: &str = "chat_tools:";

/// What a secret's name starts with when it is an MCP server's bearer token.
const TOKEN_PREFIX: &str = "mcp-token:";

/// The secret name of the bearer token of an HTTP server added in the app
/// (what its `mcp.json` entry names in place of an environment variable).
pub fn token_name(server: &str) -> String {
    format!("{TOKEN_PREFIX}{server}")
}

/// Where a server stood when it was last asked for its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    Ready(usize),
    Failed(String),
}

/// What the app keeps for MCP (shared by clones of `App`).
#[derive(Default)]
pub(crate) struct McpDesk {
    /// The host and the offline state it was built for.
    host: Mutex<Option<(bool, Arc<McpHost>)>>,
    /// Calls waiting for the user, by approval id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Approval>>>,
    next: AtomicU64,
    /// The last answer of each server to "which tools?".
    pub(crate) seen: Mutex<HashMap<String, Seen>>,
    /// Tools allowed "for this chat" (`SERVER:TOOL`), by conversation, until
    /// the app closes.
    chat_allowed: Mutex<HashMap<ConversationId, HashSet<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Emits a call waiting for the user (the app shows its dialog).
pub type AskUser = Arc<dyn Fn(String, &PendingCall) + Send + Sync>;

/// The app's [`Approver`]: tools on the always-allow list run; every other
/// call is sent to the user and waits for their answer. Stop (the turn's
/// cancel) answers Deny, and so does a dialog that went away.
pub struct AppApprover {
    app: App,
    conversation: ConversationId,
    ask: AskUser,
    cancel: CancellationToken,
    always: HashSet<String>,
}

impl Approver for AppApprover {
    fn approve<'a>(
        &'a mut self,
        call: &'a PendingCall,
    ) -> Pin<Box<dyn Future<Output = Approval> + Send + 'a>> {
        Box::pin(async move {
            let tool = server_tool_name(call);
            let key = format!("{}:{tool}", call.server);
            if self.always.contains(&key) {
                tracing::info!(server = %call.server, tool, "a tool on the always-allow list runs");
                return Approval::Once;
            }
            let desk = &self.app.mcp;
            // Allowed for this chat in an earlier answer.
            if lock(&desk.chat_allowed)
                .get(&self.conversation)
                .is_some_and(|allowed| allowed.contains(&key))
            {
                return Approval::ForThisChat;
            }
            let id = format!("approval-{}", desk.next.fetch_add(1, Ordering::Relaxed));
            let (tx, rx) = oneshot::channel();
            lock(&desk.waiting).insert(id.clone(), tx);
            (self.ask)(id.clone(), call);
            let answer = tokio::select! {
                answer = rx => answer.unwrap_or(Approval::Deny),
                () = self.cancel.cancelled() => Approval::Deny,
            };
            lock(&desk.waiting).remove(&id);
            if answer == Approval::ForThisChat {
                lock(&desk.chat_allowed)
                    .entry(self.conversation.clone())
                    .or_default()
                    .insert(key);
            }
            answer
        })
    }
}

/// The tool's own name on its server (the model's name has the server in
/// front when two servers offer the same name).
fn server_tool_name(call: &PendingCall) -> &str {
    call.tool
        .strip_prefix(&format!("{}__", call.server))
        .unwrap_or(&call.tool)
}

impl App {
    /// The MCP host (servers in `mcp.json` in the data folder), started
    /// lazily; built again when the offline switch changed since.
    pub fn mcp_host(&self) -> Arc<McpHost> {
        let offline = self.offline();
        let mut slot = lock(&self.mcp.host);
        if let Some((was, host)) = slot.as_ref()
            && *was == offline
        {
            return host.clone();
        }
        let secrets = self.secret_store();
        let tokens = Arc::new(move |name: &str| {
            if name.starts_with(TOKEN_PREFIX) {
                return secrets.get(name).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read an MCP server's token");
                    None
                });
            }
            // A server added with the CLI names a variable of the user's own.
            std::env::var(name)
                .ok()
                .map(hearth_secrets::SecretString::from)
        });
        let host = Arc::new(
            McpHost::new(
                Registry::in_home(&self.config().home),
                Limits::default(),
                tokens,
            )
            .offline(offline),
        );
        if let Some((_, old)) = slot.replace((offline, host.clone())) {
            // Its servers stop once the calls holding it end.
            tokio_shutdown(old);
        }
        host
    }

    /// The approver for one turn of `conversation`: `ask` shows the dialog;
    /// `cancel` is the turn's Stop.
    pub fn approver(
        &self,
        conversation: &ConversationId,
        ask: AskUser,
        cancel: CancellationToken,
    ) -> Result<AppApprover, CoreError> {
        Ok(AppApprover {
            app: self.clone(),
            conversation: conversation.clone(),
            ask,
            cancel,
            always: self.always_allowed()?.into_iter().collect(),
        })
    }

    /// The user's answer to a waiting call; false when nothing waits under
    /// that id (answered already, or the turn was stopped).
    pub fn answer_tool_call(&self, approval_id: &str, answer: Approval) -> bool {
        match lock(&self.mcp.waiting).remove(approval_id) {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// The tools that run without asking, as `SERVER:TOOL`.
    pub fn always_allowed(&self) -> Result<Vec<String>, CoreError> {
        let Some(text) = self.store().setting(ALWAYS_ALLOW_SETTING)? else {
            return Ok(Vec::new());
        };
        match serde_json::from_str(&text) {
            Ok(list) => Ok(list),
            Err(e) => {
                tracing::warn!(error = %e, "the always-allow list is unreadable; asking for every call");
                Ok(Vec::new())
            }
        }
    }

    /// Puts `server`'s `tool` on the always-allow list, or takes it off.
    pub fn set_always_allowed(
        &self,
        server: &str,
        tool: &str,
        allowed: bool,
    ) -> Result<Vec<String>, CoreError> {
        let key = format!("{server}:{tool}");
        let mut list = self.always_allowed()?;
        list.retain(|k| k != &key);
        if allowed {
            list.push(key);
            list.sort();
        }
        let text = serde_json::to_string(&list)
            .map_err(|e| CoreError::Invalid(format!("cannot save the list: {e}")))?;
        self.store().set_setting(ALWAYS_ALLOW_SETTING, &text)?;
        Ok(list)
    }

    /// The tools picked for a conversation (none: it chats without tools).
    pub fn chat_tools(&self, conversation: &ConversationId) -> Result<Vec<ToolPick>, CoreError> {
        let key = format!("{CHAT_TOOLS_PREFIX}{conversation}");
        let Some(text) = self.store().setting(&key)? else {
            return Ok(Vec::new());
        };
        let picks: Vec<String> = serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a chat's tool list is unreadable; no tools");
            Vec::new()
        });
        Ok(picks.iter().filter_map(|p| p.parse().ok()).collect())
    }

    /// Picks the tools (`NAME` or `NAME:TOOL`) for a conversation; an empty
    /// list takes them away. Each server must be configured.
    pub fn set_chat_tools(
        &self,
        conversation: &ConversationId,
        picks: &[ToolPick],
    ) -> Result<(), CoreError> {
        // The conversation must exist.
        self.store().conversation(conversation)?;
        let servers = self.mcp_host().registry().load()?;
        for pick in picks {
            if !servers.iter().any(|s| s.name == pick.server) {
                return Err(CoreError::Invalid(format!(
                    "there is no MCP server named `{}`",
                    pick.server
                )));
            }
        }
        let key = format!("{CHAT_TOOLS_PREFIX}{conversation}");
        if picks.is_empty() {
            self.store().delete_setting(&key)?;
            return Ok(());
        }
        let texts: Vec<String> = picks.iter().map(pick_text).collect();
        let text = serde_json::to_string(&texts)
            .map_err(|e| CoreError::Invalid(format!("cannot save the tools: {e}")))?;
        self.store().set_setting(&key, &text)?;
        Ok(())
    }

    pub(crate) fn remember_seen(&self, server: &str, seen: Seen) {
        lock(&self.mcp.seen).insert(server.to_owned(), seen);
    }

    pub(crate) fn last_seen(&self, server: &str) -> Option<Seen> {
        lock(&self.mcp.seen).get(server).cloned()
    }
}

/// Forgets what was seen of a removed server.
pub(crate) fn forget(app: &App, server: &str) {
    lock(&app.mcp.seen).remove(server);
}

/// A pick as it is written: `NAME` or `NAME:TOOL`.
pub fn pick_text(pick: &ToolPick) -> String {
    match &pick.tool {
        Some(tool) => format!("{}:{tool}", pick.server),
        None => pick.server.clone(),
    }
}

/// Stops a replaced host's servers in the background (when a runtime runs).
fn tokio_shutdown(host: Arc<McpHost>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { host.shutdown().await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_say_what_they_are() {
        assert_eq!(token_name("my-server.1"), "mcp-token:my-server.1");
    }

    #[test]
    fn a_prefixed_tool_name_is_the_servers_own() {
        let call = PendingCall {
            call_id: "c".into(),
            tool: "time__now".into(),
            server: "time".into(),
            arguments: "{}".into(),
            description: String::new(),
        };
        assert_eq!(server_tool_name(&call), "now");
    }
}
