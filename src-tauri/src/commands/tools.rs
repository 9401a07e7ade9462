//! Settings → MCP servers, the tools picked for a chat, and the user's answer
//! to a tool call waiting for approval (the `toolApproval` turn event).

use std::path::PathBuf;

use hearth_core::view::{
    ApprovalView, McpImportView, McpServerView, McpToolView, NewMcpServerView,
};
use tauri::State;

use super::{Reply, Shell, blocking, err};

/// The configured MCP servers (environment values and tokens left out).
#[tauri::command]
#[specta::specta]
pub async fn mcp_servers(shell: State<'_, Shell>) -> Reply<Vec<McpServerView>> {
    let app = shell.app()?;
    blocking(move || app.mcp_servers_view()).await
}

/// Adds a server; a bearer token goes to the keychain (or the encrypted
/// database), like an API key. Returns the list.
#[tauri::command]
#[specta::specta]
pub async fn add_mcp_server(
    shell: State<'_, Shell>,
    server: NewMcpServerView,
) -> Reply<Vec<McpServerView>> {
    let app = shell.app()?;
    blocking(move || app.add_mcp_server_view(server)).await
}

/// Removes a server; returns the list.
#[tauri::command]
#[specta::specta]
pub async fn remove_mcp_server(shell: State<'_, Shell>, name: String) -> Reply<Vec<McpServerView>> {
    let app = shell.app()?;
    blocking(move || app.remove_mcp_server_view(&name)).await
}

/// Adds the servers of a Claude-Desktop-style file (the UI asks for it with
/// the native file dialog).
#[tauri::command]
#[specta::specta]
pub async fn import_mcp_servers(shell: State<'_, Shell>, path: String) -> Reply<McpImportView> {
    let app = shell.app()?;
    blocking(move || app.import_mcp_servers_view(&PathBuf::from(path))).await
}

/// A server's tools (starts it), descriptions as the server sent them.
#[tauri::command]
#[specta::specta]
pub async fn mcp_tools(shell: State<'_, Shell>, server: String) -> Reply<Vec<McpToolView>> {
    shell.app()?.mcp_tools_view(&server).await.map_err(err)
}

/// Puts a tool on the always-allow list or takes it off; returns the list
/// (`SERVER:TOOL` each). `fingerprint` is the tool's as listed (the
/// approval holds only while the server describes the tool the same way).
#[tauri::command]
#[specta::specta]
pub async fn set_tool_always_allowed(
    shell: State<'_, Shell>,
    server: String,
    tool: String,
    allowed: bool,
    fingerprint: Option<String>,
) -> Reply<Vec<String>> {
    let app = shell.app()?;
    blocking(move || app.set_always_allowed_view(&server, &tool, allowed, fingerprint)).await
}

/// The tools picked for a conversation (`NAME` or `NAME:TOOL` each).
#[tauri::command]
#[specta::specta]
pub async fn chat_tools(shell: State<'_, Shell>, conversation_id: String) -> Reply<Vec<String>> {
    let app = shell.app()?;
    blocking(move || app.chat_tools_view(&conversation_id)).await
}

/// Picks the tools for a conversation (empty: none); returns them.
#[tauri::command]
#[specta::specta]
pub async fn set_chat_tools(
    shell: State<'_, Shell>,
    conversation_id: String,
    picks: Vec<String>,
) -> Reply<Vec<String>> {
    let app = shell.app()?;
    blocking(move || app.set_chat_tools_view(&conversation_id, &picks)).await
}

/// The user's answer to a call waiting for approval; false when nothing
/// waits under that id any more (answered, or the turn was stopped).
#[tauri::command]
#[specta::specta]
pub async fn answer_tool_call(
    shell: State<'_, Shell>,
    approval_id: String,
    answer: ApprovalView,
) -> Reply<bool> {
    Ok(shell.app()?.answer_tool_call_view(&approval_id, answer))
}
