//! The documents screen (collections, their files, indexing with per-file
//! progress over a `Channel`, stopped with `stop`), files attached to a chat,
//! the collection a chat uses, and a cited passage.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hearth_core::App;
use hearth_core::view::{
    CollectionView, DocFileView, IndexEventView, IndexReportView, PassageView,
};
use tauri::State;
use tauri::ipc::Channel;

use super::{Reply, Shell, blocking, lock};

#[tauri::command]
#[specta::specta]
pub async fn collections(shell: State<'_, Shell>) -> Reply<Vec<CollectionView>> {
    let app = shell.app()?;
    blocking(move || app.collections_view()).await
}

/// Creates an empty collection (for the default embedding model).
#[tauri::command]
#[specta::specta]
pub async fn create_collection(shell: State<'_, Shell>, name: String) -> Reply<CollectionView> {
    let app = shell.app()?;
    blocking(move || app.create_collection_view(&name)).await
}

#[tauri::command]
#[specta::specta]
pub async fn rename_collection(
    shell: State<'_, Shell>,
    from: String,
    to: String,
) -> Reply<CollectionView> {
    let app = shell.app()?;
    blocking(move || app.rename_collection_view(&from, &to)).await
}

/// Deletes a collection with its chunks and vectors.
#[tauri::command]
#[specta::specta]
pub async fn delete_collection(shell: State<'_, Shell>, name: String) -> Reply<()> {
    let app = shell.app()?;
    blocking(move || app.delete_collection_view(&name)).await
}

#[tauri::command]
#[specta::specta]
pub async fn collection_files(shell: State<'_, Shell>, name: String) -> Reply<Vec<DocFileView>> {
    let app = shell.app()?;
    blocking(move || app.collection_files_view(&name)).await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_doc_file(shell: State<'_, Shell>, name: String, source: String) -> Reply<()> {
    let app = shell.app()?;
    blocking(move || app.remove_doc_file_view(&name, &source)).await
}

/// What an indexing command runs.
enum Job {
    Add(String, Vec<String>),
    Refresh(String),
    Resume(String),
    Attach(String, Vec<String>),
}

/// Runs an indexing job off the async threads, its progress on `on_event`;
/// `stop(request_id)` stops it after the batch being embedded.
async fn index(
    shell: &Shell,
    request_id: String,
    job: Job,
    on_event: Channel<IndexEventView>,
) -> Reply<IndexReportView> {
    let app: App = shell.app()?;
    let cancel = Arc::new(AtomicBool::new(false));
    lock(&shell.indexing).insert(request_id.clone(), cancel.clone());
    let result = blocking(move || {
        let send = |event: IndexEventView| {
            if let Err(e) = on_event.send(event) {
                tracing::debug!(error = %e, "the window stopped listening");
            }
        };
        match job {
            Job::Add(name, paths) => app.index_docs_view(&name, &paths, &cancel, send),
            Job::Refresh(name) => app.refresh_collection_view(&name, &cancel, send),
            Job::Resume(name) => app.resume_indexing_view(&name, &cancel, send),
            Job::Attach(conversation, paths) => {
                app.attach_files_view(&conversation, &paths, &cancel, send)
            }
        }
    })
    .await;
    lock(&shell.indexing).remove(&request_id);
    result
}

/// Adds files and folders to a collection (created if new).
#[tauri::command]
#[specta::specta]
pub async fn index_docs(
    shell: State<'_, Shell>,
    request_id: String,
    name: String,
    paths: Vec<String>,
    on_event: Channel<IndexEventView>,
) -> Reply<IndexReportView> {
    index(&shell, request_id, Job::Add(name, paths), on_event).await
}

/// Indexes a collection's files again: changed ones are replaced.
#[tauri::command]
#[specta::specta]
pub async fn refresh_collection(
    shell: State<'_, Shell>,
    request_id: String,
    name: String,
    on_event: Channel<IndexEventView>,
) -> Reply<IndexReportView> {
    index(&shell, request_id, Job::Refresh(name), on_event).await
}

/// Runs a collection's unfinished run again (what is stored is skipped).
#[tauri::command]
#[specta::specta]
pub async fn resume_indexing(
    shell: State<'_, Shell>,
    request_id: String,
    name: String,
    on_event: Channel<IndexEventView>,
) -> Reply<IndexReportView> {
    index(&shell, request_id, Job::Resume(name), on_event).await
}

/// Indexes files attached in a chat into the chat's own collection and
/// attaches it to the chat.
#[tauri::command]
#[specta::specta]
pub async fn attach_files(
    shell: State<'_, Shell>,
    request_id: String,
    conversation_id: String,
    paths: Vec<String>,
    on_event: Channel<IndexEventView>,
) -> Reply<IndexReportView> {
    index(
        &shell,
        request_id,
        Job::Attach(conversation_id, paths),
        on_event,
    )
    .await
}

/// Uses a collection in a chat (`null`: none).
#[tauri::command]
#[specta::specta]
pub async fn set_chat_docs(
    shell: State<'_, Shell>,
    conversation_id: String,
    collection: Option<String>,
) -> Reply<()> {
    let app = shell.app()?;
    blocking(move || app.attach_docs_view(&conversation_id, collection.as_deref())).await
}

/// A cited passage with the chunks around it (chunk ids cross IPC as the
/// numbers the views give them).
#[tauri::command]
#[specta::specta]
pub async fn passage(shell: State<'_, Shell>, chunk_id: u32) -> Reply<PassageView> {
    let app = shell.app()?;
    blocking(move || app.passage_view(i64::from(chunk_id))).await
}
