//! Chatting with documents, the app's side: a collection attached to a
//! conversation, the local embedding model retrieval uses, and the documents
//! a turn gets (`turn/documents.rs` decides whole or retrieval). Everything
//! here is local: indexing and retrieval never touch the network.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use hearth_backend::{ChatBackend, ChatRequest};
use hearth_docs::Embed;
use hearth_engine::Embedder;
use hearth_store::{Citation, ConversationId, MessageId};

use crate::turn::documents::{self, Budget, Grounding};
use crate::{App, CoreError};

/// The engine's sentence encoder as hearth-docs' [`Embed`].
#[derive(Debug, Clone)]
pub struct LocalEmbed(pub Arc<Embedder>);

impl Embed for LocalEmbed {
    fn model_id(&self) -> &str {
        self.0.name()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.0
            .embed(texts)
            .map(|e| e.vectors)
            .map_err(|e| e.to_string())
    }
}

/// The embedding model, loaded once and kept (with the folder it came from),
/// and the collections' vectors held in memory for retrieval.
#[derive(Default)]
pub(crate) struct EmbedSlot {
    model: Mutex<Option<(PathBuf, Arc<Embedder>)>>,
    vectors: hearth_docs::VectorCache,
}

impl App {
    /// Attaches the collection `name` to a conversation, so its turns use the
    /// documents; `None` detaches. The collection must exist.
    pub fn attach_docs(
        &self,
        conversation: &ConversationId,
        name: Option<&str>,
    ) -> Result<(), CoreError> {
        let store = self.store();
        if let Some(name) = name
            && store.doc_collection(name)?.is_none()
        {
            return Err(hearth_docs::DocError::NoCollection(name.to_owned()).into());
        }
        store.set_conversation_docs(conversation, name)?;
        Ok(())
    }

    /// The collection attached to a conversation, if any.
    pub fn attached_docs(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<String>, CoreError> {
        Ok(self.store().conversation_docs(conversation)?)
    }

    /// The sources an answer was given.
    pub fn citations(&self, message: &MessageId) -> Result<Vec<Citation>, CoreError> {
        Ok(self.store().citations(message)?)
    }

    /// The `limit` best chunks of the collection `name` for `query` (hybrid
    /// retrieval with the default embedding model), as a chat turn retrieves
    /// them: the collection's vectors are read once and kept in memory.
    pub fn search_docs(
        &self,
        name: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<hearth_docs::SearchHit>, CoreError> {
        let embedder = LocalEmbed(self.embedder()?);
        Ok(hearth_docs::search_cached(
            &self.store(),
            &self.embed.vectors,
            &embedder,
            name,
            query,
            limit,
            hearth_docs::SearchMode::Hybrid,
        )?)
    }

    /// Deletes the collection `name` with its documents, chunks and vectors,
    /// and the copy of its vectors in memory. False when there was none.
    pub fn delete_docs(&self, name: &str) -> Result<bool, CoreError> {
        let store = self.store();
        let Some(collection) = store.doc_collection(name)? else {
            return Ok(false);
        };
        let deleted = store.delete_doc_collection(name)?;
        self.embed.vectors.forget(collection.id);
        Ok(deleted)
    }

    /// The default embedding model (`HEARTH_EMBED_MODEL`, else the first
    /// sentence-transformers folder in the models directory), loaded once.
    pub fn embedder(&self) -> Result<Arc<Embedder>, CoreError> {
        let path = self
            .config()
            .default_embed_model()
            .ok_or_else(|| CoreError::NoEmbedModel {
                models_dir: self.config().models_dir(),
            })?;
        let mut slot = self
            .embed
            .model
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((loaded, embedder)) = slot.as_ref()
            && *loaded == path
        {
            return Ok(embedder.clone());
        }
        let embedder = Arc::new(Embedder::load(&path)?);
        *slot = Some((path, embedder.clone()));
        Ok(embedder)
    }

    /// The documents for the next turn of `conversation`, given its request
    /// (`None` when no collection is attached, or it is empty). `backend`
    /// measures what fits; `None` (or a backend with no known window)
    /// estimates instead.
    ///
    /// Embedding the question is a few milliseconds of CPU, done in place.
    pub(crate) fn ground(
        &self,
        conversation: &ConversationId,
        backend: Option<&dyn ChatBackend>,
        request: &ChatRequest,
    ) -> Result<Option<Grounding>, CoreError> {
        let (name, collection, chars) = {
            let store = self.store();
            let Some(name) = store.conversation_docs(conversation)? else {
                return Ok(None);
            };
            let collection = store
                .doc_collection(&name)?
                .ok_or_else(|| hearth_docs::DocError::NoCollection(name.clone()))?;
            let chars = store.doc_collection_chars(collection.id)?;
            (name, collection, chars)
        };
        if chars == 0 {
            tracing::info!("the attached collection has no documents; answering without");
            return Ok(None);
        }
        let budget = Budget::new(backend, request)?;
        // A collection far bigger than the window is not even loaded whole.
        let chunks = if usize::try_from(chars).unwrap_or(usize::MAX) <= budget.max_chars() {
            Some(self.store().doc_collection_chunks(collection.id)?)
        } else {
            None
        };
        let question = documents::question(request).unwrap_or_default();
        let grounding = documents::ground(&name, chunks.as_deref(), &budget, || {
            let embedder = LocalEmbed(self.embedder()?);
            let hits = hearth_docs::search_cached(
                &self.store(),
                &self.embed.vectors,
                &embedder,
                &name,
                question,
                documents::RETRIEVE,
                hearth_docs::SearchMode::Hybrid,
            )?;
            Ok(hits.into_iter().map(documents::passage).collect())
        })?;
        if grounding.used.sources == 0 {
            tracing::info!("no passage of the attached collection fits; answering without");
            return Ok(None);
        }
        tracing::info!(
            mode = grounding.used.mode.as_str(),
            sources = grounding.used.sources,
            chars = grounding.used.chars,
            "documents in the turn"
        );
        Ok(Some(grounding))
    }

    /// A consent request for a conversation with documents says how much
    /// document text would leave the machine with the message.
    pub(crate) fn consent_with_documents(
        &self,
        err: CoreError,
        conversation: &ConversationId,
        request: &ChatRequest,
    ) -> CoreError {
        let CoreError::ConsentNeeded {
            backend,
            reason,
            documents: None,
        } = err
        else {
            return err;
        };
        // A cloud model: no window known here, so the estimate it would get.
        let documents = match self.ground(conversation, None, request) {
            Ok(Some(g)) => Some(format!(
                "{} characters (about {} tokens) of document text from \"{}\" ({} {})",
                g.used.chars,
                g.block.len() / 4,
                g.used.collection,
                g.used.sources,
                match g.used.mode {
                    documents::DocMode::Whole => "whole files",
                    documents::DocMode::Retrieval => "passages",
                }
            )),
            Ok(None) => None,
            Err(e) => Some(format!(
                "document text from the attached collection (how much is unknown: {e})"
            )),
        };
        CoreError::ConsentNeeded {
            backend,
            reason,
            documents,
        }
    }
}
