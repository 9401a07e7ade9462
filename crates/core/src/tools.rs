//! Tools in a chat: the model may call the MCP tools the user picked for it.
//!
//! Every call is shown with its arguments and approved before it runs (once,
//! for the rest of the chat, or denied); the calls an answer made and each
//! call's result are messages of the conversation (`tool` messages under the
//! answer), so they are kept, exported and searchable like the rest. A result
//! is text in the conversation like any other: sent to a cloud model, it
//! passes through the same consent and redaction as the user's words.
//!
//! One answer may take several rounds (call, result, another call…); after
//! [`ChatTools::max_rounds`] the model is asked to answer without tools.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use hearth_backend::{self as backend, Role, ToolCall, ToolChoice};
use hearth_store::{ConversationId, MessageId, MessageStatus, NewMessage};
use hearth_tools::{McpHost, ToolResult};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::chat::{Pending, Target};
use crate::{App, ChatEvent, CoreError, TurnOptions, TurnResult};

/// Rounds of tool calls one answer may take before it must answer in words.
pub const DEFAULT_MAX_ROUNDS: usize = 8;

/// A server, or one of its tools, picked for a chat: `NAME` or `NAME:TOOL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPick {
    pub server: String,
    /// `None`: every tool of the server.
    pub tool: Option<String>,
}

impl FromStr for ToolPick {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (server, tool) = match text.split_once(':') {
            Some((server, tool)) => (server.trim(), Some(tool.trim())),
            None => (text.trim(), None),
        };
        if server.is_empty() || tool.is_some_and(str::is_empty) {
            return Err(CoreError::Invalid(format!(
                "{text:?} does not name an MCP server: use NAME or NAME:TOOL"
            )));
        }
        Ok(Self {
            server: server.to_owned(),
            tool: tool.map(str::to_owned),
        })
    }
}

/// One tool as the model sees it, and where it lives.
#[derive(Debug, Clone)]
struct Offered {
    spec: backend::ToolSpec,
    server: String,
    /// The tool's name on its server (the model's name differs when two
    /// servers offer the same name).
    tool: String,
    /// Its [`hearth_tools::ToolSpec::fingerprint`] (what an approval holds).
    fingerprint: String,
}

/// The tools a chat may call, read from their servers.
pub struct ChatTools {
    host: Arc<McpHost>,
    picks: Vec<ToolPick>,
    offered: Vec<Offered>,
    /// Read from the servers for the coming turn (else read again first).
    fresh: bool,
    /// Tools the user allowed for the rest of the chat: the model's name →
    /// the fingerprint allowed (a tool changed since is asked about again).
    always: HashMap<String, String>,
    allow_all: bool,
    /// Who is asked about each call (none: calls not allowed up front are
    /// declined).
    approver: Option<Box<dyn Approver>>,
    /// How the first round must use tools (later rounds: the model decides).
    pub first_choice: ToolChoice,
    /// Rounds of calls per answer (default [`DEFAULT_MAX_ROUNDS`]).
    pub max_rounds: usize,
}

impl ChatTools {
    /// Starts the picked servers (as needed) and reads their tools. A pick
    /// of a tool the server lacks is an error, not a silent omission.
    pub async fn connect(host: Arc<McpHost>, picks: &[ToolPick]) -> Result<Self, CoreError> {
        let offered = offer(&host, picks).await?;
        Ok(Self {
            host,
            picks: picks.to_vec(),
            offered,
            fresh: true,
            always: HashMap::new(),
            allow_all: false,
            approver: None,
            first_choice: ToolChoice::Auto,
            max_rounds: DEFAULT_MAX_ROUNDS,
        })
    }

    /// Reads the tools from their servers again: in a long chat a server
    /// may have changed a tool since, and the model and the user see it as
    /// it is now. [`App::chat_turn`] does this before each turn but the first.
    pub async fn refresh(&mut self) -> Result<(), CoreError> {
        self.offered = offer(&self.host, &self.picks).await?;
        self.fresh = true;
        Ok(())
    }

    /// Every call runs without asking (the user said so up front).
    pub fn allow_all(mut self, allow: bool) -> Self {
        self.allow_all = allow;
        self
    }

    /// Who is asked about each call.
    pub fn approver(mut self, approver: Box<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// The tools as the model sees them.
    pub fn specs(&self) -> Vec<backend::ToolSpec> {
        self.offered.iter().map(|o| o.spec.clone()).collect()
    }

    /// `(name as the model sees it, server, description)` of every tool.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.offered.iter().map(|o| {
            (
                o.spec.name.as_str(),
                o.server.as_str(),
                o.spec.description.as_str(),
            )
        })
    }

    fn find(&self, name: &str) -> Option<&Offered> {
        self.offered.iter().find(|o| o.spec.name == name)
    }
}

/// The picked tools as their servers describe them now (servers started as
/// needed). A pick of a tool the server lacks is an error.
async fn offer(host: &McpHost, picks: &[ToolPick]) -> Result<Vec<Offered>, CoreError> {
    let mut offered: Vec<Offered> = Vec::new();
    let mut listed: HashMap<&str, Vec<hearth_tools::ToolSpec>> = HashMap::new();
    for pick in picks {
        if !listed.contains_key(pick.server.as_str()) {
            let tools = host.list_tools(&pick.server).await?;
            listed.insert(&pick.server, tools);
        }
        let tools = listed.get(pick.server.as_str()).map_or(&[][..], |t| t);
        let chosen: Vec<_> = match &pick.tool {
            Some(name) => {
                let tool = tools.iter().find(|t| &t.name == name).ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "MCP server `{}` has no tool `{name}` (see `hearth mcp tools {}`)",
                        pick.server, pick.server
                    ))
                })?;
                vec![tool]
            }
            None => tools.iter().collect(),
        };
        for tool in chosen {
            if offered
                .iter()
                .any(|o| o.server == pick.server && o.tool == tool.name)
            {
                continue;
            }
            offered.push(Offered {
                spec: backend::ToolSpec::new(
                    tool.name.clone(),
                    tool.description.clone(),
                    tool.input_schema.clone(),
                ),
                server: pick.server.clone(),
                tool: tool.name.clone(),
                fingerprint: tool.fingerprint(),
            });
        }
    }
    // Two servers offering one name: both get their server's name in front.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for o in &offered {
        *counts.entry(o.tool.clone()).or_default() += 1;
    }
    for o in &mut offered {
        if counts.get(&o.tool).copied().unwrap_or(0) > 1 {
            o.spec.name = format!("{}__{}", o.server, o.tool);
        }
    }
    Ok(offered)
}

/// A call the model wants to make, shown to the user before it runs.
#[derive(Debug, Clone, Serialize)]
pub struct PendingCall {
    /// The call's id (what its result answers).
    pub call_id: String,
    /// The tool's name as the model used it.
    pub tool: String,
    /// The MCP server that runs it.
    pub server: String,
    /// The arguments as the model wrote them (JSON text).
    pub arguments: String,
    /// What the tool says it does, exactly as its server wrote it (shown as
    /// it is: a description can try to talk the user into something).
    pub description: String,
    /// The tool as the user is shown it: name, description and schema,
    /// hashed ([`hearth_tools::ToolSpec::fingerprint`]). An approval kept
    /// for later holds it and applies only while it is the same.
    pub fingerprint: String,
    /// The tool was allowed before, but its server has changed its
    /// description or input schema since: the user is asked again, and told.
    pub changed: bool,
}

/// The user's answer to a [`PendingCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Run this call.
    Once,
    /// Run this call and every later call of this tool in this chat.
    ForThisChat,
    /// Do not run it (the model is told the user declined).
    Deny,
}

/// Asks the user about each call (the app's dialog, the terminal's prompt).
pub trait Approver: Send {
    fn approve<'a>(
        &'a mut self,
        call: &'a PendingCall,
    ) -> Pin<Box<dyn Future<Output = Approval> + Send + 'a>>;
}

/// What a tool call came to, as stored in its `tool` message.
struct Outcome {
    content: String,
    status: MessageStatus,
    error: Option<String>,
}

impl Outcome {
    /// A failure the model reads (and may recover from) and the user sees.
    fn failed(reason: String) -> Self {
        Self {
            content: format!("error: {reason}"),
            status: MessageStatus::Error,
            error: Some(reason),
        }
    }
}

/// Which turn of a chat to run; with tools, every kind enters the same loop
/// ([`App::chat_turn`]).
#[derive(Debug, Clone, Copy)]
pub enum ChatTurn<'a> {
    /// A new user message ([`App::send`]).
    Send {
        conversation: &'a ConversationId,
        text: &'a str,
    },
    /// A new answer beside this one ([`App::regenerate`]).
    Regenerate { answer: &'a MessageId },
    /// This user message edited as a new branch, and answered
    /// ([`App::edit_and_resend`]).
    Edit {
        message: &'a MessageId,
        text: &'a str,
    },
    /// More of this unfinished answer ([`App::continue_answer`]).
    Continue { answer: &'a MessageId },
}

impl App {
    /// [`App::send`] with tools: [`App::chat_turn`] of a new message.
    pub async fn send_with_tools(
        &self,
        conversation: &ConversationId,
        text: &str,
        options: &TurnOptions,
        tools: &mut ChatTools,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        self.chat_turn(
            ChatTurn::Send { conversation, text },
            options,
            Some(tools),
            cancel,
            on_event,
        )
        .await
    }

    /// Runs `turn`. With `tools`, the answer may call them, each call
    /// approved through its approver, the results stored and given back to
    /// the model until it answers in words (or the round cap is reached);
    /// the last answer is returned. Cancelling stops a running tool too (its
    /// result says so).
    pub async fn chat_turn(
        &self,
        turn: ChatTurn<'_>,
        options: &TurnOptions,
        tools: Option<&mut ChatTools>,
        cancel: CancellationToken,
        mut on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let Some(tools) = tools else {
            return self.first_round(turn, options, cancel, on_event).await;
        };
        if !tools.fresh {
            tools.refresh().await?;
        }
        tools.fresh = false;
        let mut round_options = TurnOptions {
            tools: tools.specs(),
            tool_choice: tools.first_choice.clone(),
            ..options.clone()
        };
        if round_options.tools.is_empty() {
            round_options.tool_choice = ToolChoice::None;
        }
        let mut result = self
            .first_round(turn, &round_options, cancel.clone(), &mut on_event)
            .await?;
        let user_message = result.user_message.clone();
        let conversation = result.answer.conversation_id.clone();
        let mut rounds = 0;
        while !result.answer.tool_calls.is_empty()
            && result.answer.status == MessageStatus::Complete
            && !cancel.is_cancelled()
        {
            rounds += 1;
            let mut parent = result.answer.id.clone();
            for call in result.answer.tool_calls.clone() {
                let outcome = self.run_call(&call, tools, &cancel).await;
                let message = self.store().append_tool_result(
                    &NewMessage {
                        conversation_id: conversation.clone(),
                        parent_id: Some(parent.clone()),
                        role: Role::Tool,
                        content: outcome.content,
                        status: outcome.status,
                        backend: None,
                        model: None,
                    },
                    &call.id,
                    outcome.error.as_deref(),
                )?;
                parent = message.id.clone();
                on_event(ChatEvent::ToolResult {
                    message: Box::new(message),
                });
            }
            if cancel.is_cancelled() {
                break;
            }
            // The model reads the results; at the cap it must answer in words.
            round_options.tool_choice = ToolChoice::Auto;
            if rounds >= tools.max_rounds {
                round_options.tool_choice = ToolChoice::None;
                on_event(ChatEvent::ToolLimit { rounds });
            }
            result = self
                .answer_after_tools(
                    &conversation,
                    parent,
                    &round_options,
                    cancel.clone(),
                    &mut on_event,
                )
                .await?;
        }
        result.user_message = user_message;
        Ok(result)
    }

    /// The turn's first answer, by its kind.
    async fn first_round(
        &self,
        turn: ChatTurn<'_>,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        match turn {
            ChatTurn::Send { conversation, text } => {
                self.send(conversation, text, options, cancel, on_event)
                    .await
            }
            ChatTurn::Regenerate { answer } => {
                self.regenerate(answer, options, cancel, on_event).await
            }
            ChatTurn::Edit { message, text } => {
                self.edit_and_resend(message, text, options, cancel, on_event)
                    .await
            }
            ChatTurn::Continue { answer } => {
                self.continue_answer(answer, options, cancel, on_event)
                    .await
            }
        }
    }

    /// The next answer, under the last tool result `parent`.
    async fn answer_after_tools(
        &self,
        conversation: &ConversationId,
        parent: hearth_store::MessageId,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let (conv, history) = {
            let store = self.store();
            (
                store.conversation(conversation)?,
                store.active_path(conversation)?,
            )
        };
        let plan = self.plan_chat_turn(&conv, options.consent, None)?;
        let pending = Pending {
            conv: &conv,
            history,
            target: Target::New { parent },
            options,
            user_message: None,
        };
        self.answer(pending, plan, cancel, on_event).await
    }

    /// Checks, approves and runs one call.
    async fn run_call(
        &self,
        call: &ToolCall,
        tools: &mut ChatTools,
        cancel: &CancellationToken,
    ) -> Outcome {
        let Some(offered) = tools.find(&call.name).cloned() else {
            let names: Vec<_> = tools.offered.iter().map(|o| o.spec.name.as_str()).collect();
            return Outcome::failed(format!(
                "there is no tool named {:?} (the tools are: {})",
                call.name,
                names.join(", ")
            ));
        };
        let args: serde_json::Value = match serde_json::from_str(&call.arguments) {
            Ok(args) => args,
            Err(err) => {
                return Outcome::failed(format!("the arguments are not JSON ({err})"));
            }
        };
        let allowed_in_turn = tools.always.get(&offered.spec.name) == Some(&offered.fingerprint);
        if !tools.allow_all && !allowed_in_turn {
            let pending = PendingCall {
                call_id: call.id.clone(),
                tool: offered.spec.name.clone(),
                server: offered.server.clone(),
                arguments: call.arguments.clone(),
                description: offered.spec.description.clone(),
                fingerprint: offered.fingerprint.clone(),
                changed: false,
            };
            let approval = match tools.approver.as_mut() {
                Some(approver) => approver.approve(&pending).await,
                None => Approval::Deny,
            };
            match approval {
                Approval::Once => {}
                Approval::ForThisChat => {
                    tools
                        .always
                        .insert(offered.spec.name.clone(), offered.fingerprint.clone());
                }
                Approval::Deny => {
                    return Outcome {
                        content: "The user declined to run this tool call.".into(),
                        status: MessageStatus::Complete,
                        error: None,
                    };
                }
            }
        }
        tracing::info!(server = %offered.server, tool = %offered.tool, "running a tool call");
        let run = tools.host.call(&offered.server, &offered.tool, args);
        tokio::select! {
            result = run => match result {
                Ok(ToolResult { text, is_error: false, .. }) => Outcome {
                    content: text,
                    status: MessageStatus::Complete,
                    error: None,
                },
                Ok(ToolResult { text, is_error: true, .. }) => Outcome::failed(text),
                Err(err) => Outcome::failed(err.to_string()),
            },
            () = cancel.cancelled() => Outcome {
                content: "The user stopped this tool call before it finished.".into(),
                status: MessageStatus::Cancelled,
                error: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, OpenOptions, Secrets};
    use hearth_secrets::MemoryStore;
    use hearth_tools::{Limits, Registry};

    /// Counts the calls it is asked about, and allows them.
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl Approver for Counting {
        fn approve<'a>(
            &'a mut self,
            _: &'a PendingCall,
        ) -> Pin<Box<dyn Future<Output = Approval> + Send + 'a>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async { Approval::Once })
        }
    }

    /// Issue 22: a model (or a provider passing its words on) naming a tool
    /// that was never offered gets an error result listing the tools; the
    /// call is neither asked about nor run, even with every call allowed.
    #[test]
    fn a_call_naming_a_tool_never_offered_is_an_error_and_never_runs() {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let app = App::open_with(
            Config::with_home(home.path()),
            OpenOptions {
                secrets: Secrets::Store(Arc::new(MemoryStore::default())),
                ..OpenOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The host knows no servers: a call that reached it would fail
        // with "no MCP server named `time`", not with the unknown name.
        let host = Arc::new(McpHost::new(
            Registry::in_home(home.path()),
            Limits::default(),
            Arc::new(|_: &str| None),
        ));
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for allow_all in [false, true] {
            let mut tools = ChatTools {
                host: host.clone(),
                offered: vec![Offered {
                    spec: backend::ToolSpec::new(
                        "get_current_time",
                        "The time",
                        serde_json::json!({"type": "object"}),
                    ),
                    server: "time".into(),
                    tool: "get_current_time".into(),
                    fingerprint: "f".into(),
                }],
                picks: Vec::new(),
                fresh: true,
                always: HashMap::new(),
                allow_all,
                approver: Some(Box::new(Counting(asked.clone()))),
                first_choice: ToolChoice::Auto,
                max_rounds: DEFAULT_MAX_ROUNDS,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let call = ToolCall::new("c1", "convert_time", r#"{"time": "12:00"}"#);
            let outcome =
                runtime.block_on(app.run_call(&call, &mut tools, &CancellationToken::new()));
            assert_eq!(outcome.status, MessageStatus::Error);
            assert_eq!(
                outcome.content,
                r#"error: there is no tool named "convert_time" (the tools are: get_current_time)"#
            );
            assert_eq!(
                outcome.error.as_deref(),
                outcome.content.strip_prefix("error: ")
            );
            assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 0);

            // The offered name does reach the host (which has no such
            // server): what the unknown name was spared.
            let call = ToolCall::new("c2", "get_current_time", "{}");
            let outcome =
                runtime.block_on(app.run_call(&call, &mut tools, &CancellationToken::new()));
            assert_eq!(outcome.status, MessageStatus::Error);
            assert!(
                outcome.content.contains("no MCP server named `time`"),
                "{}",
                outcome.content
            );
            asked.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn picks_name_a_server_or_one_of_its_tools() {
        assert_eq!(
            "time".parse::<ToolPick>().ok(),
            Some(ToolPick {
                server: "time".into(),
                tool: None
            })
        );
        assert_eq!(
            "fs:read_file".parse::<ToolPick>().ok(),
            Some(ToolPick {
                server: "fs".into(),
                tool: Some("read_file".into())
            })
        );
        for bad in ["", ":x", "fs:", " : "] {
            assert!(bad.parse::<ToolPick>().is_err(), "{bad:?}");
        }
    }
}
