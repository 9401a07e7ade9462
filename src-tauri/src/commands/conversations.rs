//! The conversation list and a conversation's settings.

use hearth_core::view::{
    ConversationInfo, ConversationPatchView, ConversationSummaryView, ConversationView,
    NewConversationView, SearchHitView,
};
use tauri::State;

use super::{Reply, Shell, err};

#[tauri::command]
#[specta::specta]
pub async fn list_conversations(shell: State<'_, Shell>) -> Reply<Vec<ConversationSummaryView>> {
    shell.app()?.conversation_list().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn search_conversations(
    shell: State<'_, Shell>,
    query: String,
) -> Reply<Vec<SearchHitView>> {
    shell.app()?.search_view(&query).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn create_conversation(
    shell: State<'_, Shell>,
    init: NewConversationView,
) -> Reply<ConversationInfo> {
    shell.app()?.create_conversation_view(&init).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn open_conversation(shell: State<'_, Shell>, id: String) -> Reply<ConversationView> {
    shell.app()?.conversation_view(&id).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn update_conversation(
    shell: State<'_, Shell>,
    id: String,
    patch: ConversationPatchView,
) -> Reply<ConversationInfo> {
    shell
        .app()?
        .update_conversation_view(&id, &patch)
        .map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_conversation(shell: State<'_, Shell>, id: String) -> Reply<()> {
    shell.app()?.delete_conversation_view(&id).map_err(err)
}

/// `format` is `markdown` or `json`.
#[tauri::command]
#[specta::specta]
pub async fn export_conversation(
    shell: State<'_, Shell>,
    id: String,
    format: String,
) -> Reply<String> {
    shell
        .app()?
        .export_conversation(&id, format == "json")
        .map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn switch_branch(
    shell: State<'_, Shell>,
    conversation_id: String,
    message_id: String,
) -> Reply<ConversationView> {
    shell
        .app()?
        .switch_branch_view(&conversation_id, &message_id)
        .map_err(err)
}
