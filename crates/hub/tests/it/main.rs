//! hearth-hub against the Hugging Face stand-in and fake app folders.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod discover;
mod download;
mod fit;
mod hostile;
mod hostile_files;
mod hub;
mod names;
mod network;

use std::sync::{Arc, Mutex};

use hearth_hub::{DiskSpace, DownloadEvent, DownloadOptions, HubClient, Library};
use hearth_testkit::hf::HfStandIn;

pub(crate) fn client(hub: &HfStandIn) -> HubClient {
    HubClient::new(hub.endpoint(), None).unwrap()
}

pub(crate) fn library() -> (tempfile::TempDir, Library) {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open(dir.path().join("models")).unwrap();
    (dir, library)
}

/// Options with short timeouts, recording every event.
pub(crate) fn options() -> (DownloadOptions, Arc<Mutex<Vec<DownloadEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let options = DownloadOptions {
        stall_timeout: std::time::Duration::from_millis(500),
        max_attempts: 3,
        backoff: std::time::Duration::from_millis(10),
        on_event: Arc::new(move |e| sink.lock().unwrap().push(e.clone())),
        ..DownloadOptions::default()
    };
    (options, events)
}

/// A disk that claims a fixed amount of free space.
pub(crate) struct FakeDisk(pub(crate) u64);

impl DiskSpace for FakeDisk {
    fn available(&self, _: &std::path::Path) -> std::io::Result<u64> {
        Ok(self.0)
    }
}
