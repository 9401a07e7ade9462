//! Turns (streamed over a channel, stopped by request id), what redaction
//! replaced in a message, going back to the local model after a fallback, and
//! opening a link in an answer.

use hearth_core::view::{
    ChatEventView, ConsentView, ErrorKind, ErrorView, MessageRedactionView, TurnRequest,
};
use tauri::State;
use tauri::ipc::Channel;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{Reply, Shell, err, lock};

/// Runs a turn; `request_id` names it for `stop`. Events stream over
/// `on_event`. After a `consentNeeded` error the UI asks the user and runs the
/// same turn again with their answer as `consent` (`null`: not asked). In a
/// chat with tools, a `toolApproval` event asks about each call; the UI
/// answers with `answer_tool_call` (Stop answers Deny).
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
        .turn_view(turn, consent.unwrap_or_default(), cancel, move |event| {
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

/// Opens a link from an answer in the user's browser (or mail program).
/// Answers are model output, untrusted text: only web and mail links open;
/// `file:`, `javascript:` and other schemes (which could start programs) are
/// refused.
#[tauri::command]
#[specta::specta]
pub async fn open_link(url: String) -> Reply<()> {
    let refused = || {
        ErrorView::new(
            ErrorKind::Invalid,
            "Hearth opens only web (http, https) and email (mailto) links from answers",
        )
    };
    if !openable(&url) {
        return Err(refused());
    }
    // The link as parsed (tabs and newlines dropped, as the check saw it), so
    // what opens is what was checked.
    let link = Url::parse(&url).map_err(|_| refused())?;
    tauri_plugin_opener::open_url(link.as_str(), None::<&str>)
        .map_err(|e| ErrorView::new(ErrorKind::Internal, format!("could not open the link: {e}")))
}

/// Whether [`open_link`] opens `url`: a web link with a host, or a mail link.
pub(crate) fn openable(url: &str) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "http" | "https" => parsed.host_str().is_some_and(|h| !h.is_empty()),
        "mailto" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::openable;

    #[test]
    fn only_web_and_mail_links_open() {
        for url in [
            "https://example.com/a?b=c#d",
            "http://localhost:8080/",
            "HTTPS://EXAMPLE.COM",
            "mailto:someone@example.com",
        ] {
            assert!(openable(url), "{url} should open");
        }
        for url in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "ssh://example.com",
            "smb://server/share",
            "vscode://file/etc/passwd",
            "hearth://settings",
            "tauri://localhost",
            "//example.com/no-scheme",
            "/relative/path",
            "#anchor",
            "",
            "https://",
        ] {
            assert!(!openable(url), "{url} must not open");
        }
    }
}
