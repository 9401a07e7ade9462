//! The app's side of MCP: one [`McpHost`] for the whole app (built again when
//! the offline switch flips, so it always refuses what offline refuses), the
//! tools picked for each chat, the per-tool "always allow" list, and the
//! approver that asks the user through the turn's own event stream and waits
//! for [`App::answer_tool_call`]. "Allow for this chat" lasts for the
//! conversation's later answers too, across restarts.
//!
//! The chat's picks, what was allowed for it and the always-allow list are
//! settings in the encrypted database (`chat_tools:<conversation id>`,
//! `chat_allowed:<conversation id>`, [`ALWAYS_ALLOW_SETTING`]). Each
//! approval kept holds the tool's fingerprint (its description and schema as
//! the user was shown them): when a server later changes a tool, the
//! approval no longer applies and the user is asked again, told that the
//! tool changed (a "rug pull" is never run on an old yes). A
//! bearer token of an HTTP server added in the app is a secret like a
//! provider key; the server's entry in `mcp.json` names it
//! ([`token_name`]) and the host reads it from the secret store when it
//! connects (a server added with the CLI names an environment variable).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_store::{ConversationId, NetworkRecord};
use hearth_tools::{HttpExchange, Limits, McpHost, Registry};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::tools::{Approval, Approver, PendingCall, ToolPick};
use crate::{App, CoreError};

/// The setting holding the tools that run without asking: a JSON object of
/// `SERVER:TOOL` → the fingerprint allowed (`null`: pinned at the next use;
/// what a list of an older Hearth reads as).
pub const ALWAYS_ALLOW_SETTING: &str = "tools.always_allow";

/// Prefix of the setting holding a conversation's picked tools.
const CHAT_TOOLS_PREFIX: &str = "chat_tools:";

/// Prefix of the setting holding the tools allowed for a conversation
/// (`SERVER:TOOL` → fingerprint).
const CHAT_ALLOWED_PREFIX: &str = "chat_allowed:";

/// The always-allow list: `SERVER:TOOL` → the fingerprint allowed, if known.
pub type AlwaysAllowed = BTreeMap<String, Option<String>>;

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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Emits a call waiting for the user (the app shows its dialog).
pub type AskUser = Arc<dyn Fn(String, &PendingCall) + Send + Sync>;

/// The app's [`Approver`]: tools on the always-allow list run, and so do
/// tools allowed for this chat, each while it is as it was allowed; every
/// other call is sent to the user and waits for their answer. Stop (the
/// turn's cancel) answers Deny, and so does a dialog that went away.
pub struct AppApprover {
    app: App,
    conversation: ConversationId,
    ask: AskUser,
    cancel: CancellationToken,
    always: AlwaysAllowed,
}

impl Approver for AppApprover {
    fn approve<'a>(
        &'a mut self,
        call: &'a PendingCall,
    ) -> Pin<Box<dyn Future<Output = Approval> + Send + 'a>> {
        Box::pin(async move {
            let tool = server_tool_name(call);
            let key = format!("{}:{tool}", call.server);
            let mut changed = false;
            match self.always.get(&key) {
                Some(Some(allowed)) if *allowed == call.fingerprint => {
                    tracing::info!(server = %call.server, tool, "a tool on the always-allow list runs");
                    return Approval::Once;
                }
                Some(Some(_)) => changed = true,
                Some(None) => {
                    // Allowed by an older Hearth, before fingerprints: tied
                    // to the tool as it is now.
                    if let Err(e) = self.app.pin_always_allowed(&key, &call.fingerprint) {
                        tracing::warn!(error = %e, "cannot pin an always-allowed tool");
                    }
                    self.always.insert(key, Some(call.fingerprint.clone()));
                    return Approval::Once;
                }
                None => {}
            }
            // Allowed for this chat in an earlier answer.
            match self.app.chat_allowed(&self.conversation).get(&key) {
                Some(allowed) if *allowed == call.fingerprint => return Approval::ForThisChat,
                Some(_) => changed = true,
                None => {}
            }
            if changed {
                tracing::warn!(
                    server = %call.server,
                    tool,
                    "an allowed tool has changed its description or schema; asking again"
                );
            }
            let shown = PendingCall {
                changed,
                ..call.clone()
            };
            let desk = &self.app.mcp;
            let id = format!("approval-{}", desk.next.fetch_add(1, Ordering::Relaxed));
            let (tx, rx) = oneshot::channel();
            lock(&desk.waiting).insert(id.clone(), tx);
            (self.ask)(id.clone(), &shown);
            let answer = tokio::select! {
                answer = rx => answer.unwrap_or(Approval::Deny),
                () = self.cancel.cancelled() => Approval::Deny,
            };
            lock(&desk.waiting).remove(&id);
            if answer == Approval::ForThisChat
                && let Err(e) = self
                    .app
                    .allow_for_chat(&self.conversation, &key, &call.fingerprint)
            {
                tracing::warn!(error = %e, "cannot keep a tool allowed for this chat");
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
        // Every exchange with an HTTP server goes into the network ledger,
        // as the providers' and the hub's requests do.
        let ledger = self.cloud.ledger();
        let observer = Arc::new(move |e: &HttpExchange| {
            ledger.write(&NetworkRecord {
                at: e
                    .started_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                host: e.host.clone(),
                purpose: format!("mcp {}", e.server),
                detail: Some(e.what.to_owned()),
                bytes_sent: e.bytes_sent,
                bytes_received: e.bytes_received,
                status: None,
                ok: e.ok,
                via: None,
            });
        });
        let host = Arc::new(
            McpHost::new(
                Registry::in_home(&self.config().home),
                Limits::default(),
                tokens,
            )
            .offline(offline)
            .observe_http(observer),
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
            always: self.always_allow_list()?,
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
        Ok(self.always_allow_list()?.into_keys().collect())
    }

    /// The always-allow list with the fingerprint each tool was allowed as.
    pub fn always_allow_list(&self) -> Result<AlwaysAllowed, CoreError> {
        let Some(text) = self.store().setting(ALWAYS_ALLOW_SETTING)? else {
            return Ok(AlwaysAllowed::new());
        };
        if let Ok(list) = serde_json::from_str::<AlwaysAllowed>(&text) {
            return Ok(list);
        }
        // An older Hearth kept a plain list: allowed, fingerprints unknown.
        match serde_json::from_str::<Vec<String>>(&text) {
            Ok(list) => Ok(list.into_iter().map(|k| (k, None)).collect()),
            Err(e) => {
                tracing::warn!(error = %e, "the always-allow list is unreadable; asking for every call");
                Ok(AlwaysAllowed::new())
            }
        }
    }

    /// Puts `server`'s `tool` on the always-allow list, or takes it off.
    /// `fingerprint` is the tool as the user saw it when they allowed it
    /// ([`hearth_tools::ToolSpec::fingerprint`]); `None` ties the entry to
    /// the tool as it is at its next call.
    pub fn set_always_allowed(
        &self,
        server: &str,
        tool: &str,
        allowed: bool,
        fingerprint: Option<&str>,
    ) -> Result<Vec<String>, CoreError> {
        let key = format!("{server}:{tool}");
        let mut list = self.always_allow_list()?;
        list.remove(&key);
        if allowed {
            list.insert(key, fingerprint.map(str::to_owned));
        }
        self.save_always_allowed(&list)?;
        Ok(list.into_keys().collect())
    }

    /// Ties an entry allowed without a fingerprint to `fingerprint`.
    fn pin_always_allowed(&self, key: &str, fingerprint: &str) -> Result<(), CoreError> {
        let mut list = self.always_allow_list()?;
        if let Some(entry @ None) = list.get_mut(key) {
            *entry = Some(fingerprint.to_owned());
            self.save_always_allowed(&list)?;
        }
        Ok(())
    }

    fn save_always_allowed(&self, list: &AlwaysAllowed) -> Result<(), CoreError> {
        let text = serde_json::to_string(list)
            .map_err(|e| CoreError::Invalid(format!("cannot save the list: {e}")))?;
        self.store().set_setting(ALWAYS_ALLOW_SETTING, &text)?;
        Ok(())
    }

    /// The tools allowed for a conversation ("allow for this chat"), as
    /// `SERVER:TOOL` → the fingerprint allowed.
    pub fn chat_allowed(&self, conversation: &ConversationId) -> BTreeMap<String, String> {
        let key = format!("{CHAT_ALLOWED_PREFIX}{conversation}");
        let text = match self.store().setting(&key) {
            Ok(Some(text)) => text,
            Ok(None) => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read what a chat allowed; asking");
                return BTreeMap::new();
            }
        };
        serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "what a chat allowed is unreadable; asking");
            BTreeMap::new()
        })
    }

    /// Allows `SERVER:TOOL` (as `fingerprint`) for the rest of a conversation.
    fn allow_for_chat(
        &self,
        conversation: &ConversationId,
        tool: &str,
        fingerprint: &str,
    ) -> Result<(), CoreError> {
        let mut allowed = self.chat_allowed(conversation);
        allowed.insert(tool.to_owned(), fingerprint.to_owned());
        let text = serde_json::to_string(&allowed)
            .map_err(|e| CoreError::Invalid(format!("cannot save the tools allowed: {e}")))?;
        self.store()
            .set_setting(&format!("{CHAT_ALLOWED_PREFIX}{conversation}"), &text)?;
        Ok(())
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
            fingerprint: String::new(),
            changed: false,
        };
        assert_eq!(server_tool_name(&call), "now");
    }
}
