//! Turns (streamed over a channel, stopped by request id), what redaction
//! replaced in a message, and going back to the local model after a fallback.

use hearth_core::view::{ChatEventView, ConsentView, MessageRedactionView, TurnRequest};
use tauri::State;
use tauri::ipc::Channel;
use tokio_util::sync::CancellationToken;

use super::{Reply, Shell, err, lock};

/// Runs a turn; `request_id` names it for `stop`. Events stream over
/// `on_event`. After a `consentNeeded` error the UI asks the user and runs the
/// same turn again with their answer as `consent` (`null`: not asked).
#[tauri::command]
#[specta::specta]
pub async fn run_turn(
    shell: State<'_, Shell>,
    request_id: String,
    turn: TurnRequest,
    consent: Option<ConsentView>,
    on_event: Channel<ChatEventView>,
) -> Reply<()> {
    let app = shell.app()?;
    let cancel = CancellationToken::new();
    lock(&shell.turns).insert(request_id.clone(), cancel.clone());
    let result = app
        .turn_view(turn, consent.unwrap_or_default(), cancel, |event| {
            if let Err(e) = on_event.send(event) {
                tracing::debug!(error = %e, "the window stopped listening");
            }
        })
        .await;
    lock(&shell.turns).remove(&request_id);
    result.map_err(err)
}

/// What was replaced in a message before it went to a cloud model.
#[tauri::command]
#[specta::specta]
pub async fn message_redactions(
    shell: State<'_, Shell>,
    message_id: String,
) -> Reply<Vec<MessageRedactionView>> {
    shell
        .app()?
        .message_redactions_view(&message_id)
        .map_err(err)
}

/// The user switched back to the local model after a fallback.
#[tauri::command]
#[specta::specta]
pub async fn clear_fallback(shell: State<'_, Shell>, conversation_id: String) -> Reply<()> {
    shell
        .app()?
        .clear_fallback_view(&conversation_id)
        .map_err(err)
}
