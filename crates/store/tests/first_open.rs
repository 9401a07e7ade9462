//! The first encrypted connections of a process, opened at the same moment from
//! several threads, all open (its own test binary, so nothing was keyed before).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use hearth_store::{DbKey, Store};

#[test]
fn many_threads_key_their_first_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let path = dir.path().join(format!("{i}.db"));
            let start = start.clone();
            std::thread::spawn(move || {
                let key = if i % 2 == 0 {
                    DbKey::Raw([i as u8 + 1; 32])
                } else {
                    DbKey::Passphrase(format!("passphrase {i}"))
                };
                start.wait();
                Store::open(&path, &key).map(|store| store.schema_version())
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let opened = handle.join().unwrap();
        assert!(
            matches!(opened, Ok(Ok(v)) if v > 0),
            "connection {i}: {opened:?}"
        );
    }
}
