//! `cargo xtask bench hub`: downloads from the Hugging Face stand-in on
//! 127.0.0.1, the SmolLM2 test model (98 MB).
//!
//! - pull: `HubClient::download` (streamed to disk, sha256 as it arrives, fsync,
//!   GGUF header check, rename into the library) next to a plain streaming GET
//!   of the same file that throws the bytes away: the ratio is what Hearth's
//!   safety costs over the wire speed.
//! - resume: a transfer cut at half, then resumed: bytes sent the second time
//!   over the file size, and the resume's time over a full pull.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hearth_hub::{DownloadOptions, HubClient, Library};
use hearth_testkit::hf::{Faults, HfStandIn, repos};
use hearth_testkit::models::SMOLLM2;

const RUNS: usize = 3;

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    hearth_testkit::models::smollm2();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

#[allow(clippy::print_stdout)]
async fn run() -> Result<()> {
    let hub = HfStandIn::start_default();
    let client = HubClient::new(hub.endpoint(), None)?;
    let repo = client.repo(repos::SMOLLM2).await?;
    let model = repo.select(None)?;
    let url = format!(
        "{}/{}/resolve/{}/{}",
        hub.endpoint(),
        repo.id,
        repo.commit,
        model.files[0].path
    );
    let http = reqwest::Client::new();
    let size = SMOLLM2.size as f64;

    let mut raw = Vec::new();
    let mut pull = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut response = http.get(&url).send().await?.error_for_status()?;
        let mut n = 0u64;
        while let Some(chunk) = response.chunk().await? {
            n += chunk.len() as u64;
        }
        anyhow::ensure!(n == SMOLLM2.size, "short read: {n}");
        raw.push(started.elapsed());

        let dir = tempfile::tempdir()?;
        let mut library = Library::open(dir.path().join("models"))?;
        let started = Instant::now();
        client
            .download(&repo, model, &mut library, &DownloadOptions::default())
            .await
            .context("pull")?;
        pull.push(started.elapsed());
    }
    let raw = median(raw);
    let pull = median(pull);
    println!(
        "hub: pull of {:.0} MB from 127.0.0.1 (median of {RUNS})",
        size / 1e6
    );
    println!(
        "  plain GET, bytes discarded   {:>7.0} MB/s",
        size / raw.as_secs_f64() / 1e6
    );
    println!(
        "  hearth pull (sha256, fsync)  {:>7.0} MB/s   ratio {:.2} of the plain GET",
        size / pull.as_secs_f64() / 1e6,
        raw.as_secs_f64() / pull.as_secs_f64()
    );

    // Resume after a cut at half.
    let dir = tempfile::tempdir()?;
    let mut library = Library::open(dir.path().join("models"))?;
    hub.set_faults(Faults {
        cut_after: Some(SMOLLM2.size / 2),
        ..Faults::default()
    });
    let options = DownloadOptions {
        max_attempts: 1,
        ..DownloadOptions::default()
    };
    let cut = client.download(&repo, model, &mut library, &options).await;
    anyhow::ensure!(cut.is_err(), "the cut did not happen");
    hub.set_faults(Faults::default());
    let before = hub.bytes_served();
    let started = Instant::now();
    client
        .download(&repo, model, &mut library, &DownloadOptions::default())
        .await
        .context("resume")?;
    let resume = started.elapsed();
    let sent = hub.bytes_served() - before;
    println!(
        "  resume after a cut at 50 %:  {:.2} of the file sent again, time {:.2} of a full pull",
        sent as f64 / size,
        resume.as_secs_f64() / pull.as_secs_f64()
    );
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
