//! hearth-hub: from "I want a small model" to a verified file in the library.
//!
//! - [`HubClient`]: search Hugging Face for GGUF repos, list a repo's models
//!   (split files grouped), and [`HubClient::download`] one: resumable across
//!   restarts, stall-retried, sha256-verified, atomically renamed in. Its
//!   HTTP client comes from hearth-net ([`Net`]: proxy, trusted CAs); refusals
//!   say what to do (a gated repo's licence page, `hearth login`, an expired
//!   token) instead of an HTTP code.
//! - [`Library`]: the models folder's manifest, plus models other apps already
//!   have ([`ExternalSources`]: Hugging Face cache, LM Studio, Ollama), found in
//!   place and never deleted. [`Library::resolve`] turns `-m NAME` into a file.
//! - [`inspect`]: GGUF header facts (architecture, parameters, quantisation,
//!   context, chat template, shape) without reading the weights;
//!   [`display_name`]: the name a person reads, from the header.
//! - [`estimate`]: fits / tight / won't fit and expected decode speed;
//!   [`catalog`] and [`recommended`]: curated models.
//!
//! Every endpoint, directory and token is injected; nothing here reads the
//! environment.

mod catalog;
mod client;
mod discover;
mod download;
mod error;
mod fit;
mod gguf;
mod library;
mod names;
mod status;

pub use catalog::{COMFORTABLE_TOK_S, CatalogEntry, RECOMMEND_CONTEXT, catalog, recommended};
pub use client::{
    ApiLimits, HubClient, RemoteFile, RemoteModel, RepoInfo, RepoSummary, SearchSort,
};
pub use discover::{ExternalApp, ExternalSources};
pub use download::{
    DiskSpace, DownloadControl, DownloadEvent, DownloadOptions, PartState, PendingDownload,
    SystemDisk, discard_pending, pending_downloads,
};
pub use error::HubError;
pub use fit::{
    Fit, FitEstimate, Machine, ModelFacts, bits_per_weight, cached_bandwidth, estimate,
    measure_bandwidth,
};
pub use gguf::{GgufInfo, ModelShape, chat_template, inspect, inspect_parts};
pub use hearth_net::Net;
pub use library::{Library, LoadPrefs, Measurement, ModelEntry, Removed, ResolvedModel, Source};
pub use names::{
    clean_label, display_name, id_from_file_name, quant_from_name, safe_relative_path, split_part,
    validate_repo_id,
};
pub use secrecy::SecretString;
