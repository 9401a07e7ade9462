//! Downloads that survive anything: resumable, verified, atomically added.
//!
//! Each part is written to `{models}/.partial/{key}.part`, with its state
//! (`{key}.part.json`: url, etag, sha256, size, bytes done) persisted beside it,
//! so a new process resumes where the last one stopped. Resuming sends
//! `Range: bytes=N-` with `If-Range: {etag}`; a `200` instead of `206` means the
//! file changed and the download restarts. The sha256 is computed while
//! streaming (the partial bytes are re-hashed on resume) and compared with the
//! Hub's LFS sha256; only then are the parts renamed into
//! `{models}/{owner}/{repo}/{file}` and the model added to the library. A file
//! the Hub gives no sha256 for (one not stored in LFS) cannot be checked: it
//! is said so ([`DownloadEvent::Unverified`]) and the entry is marked
//! [`ModelEntry::unverified`], never passed off as verified.
//!
//! A stall (no byte for `stall_timeout`) or a dropped connection is retried with
//! exponential backoff, up to `max_attempts` failures in a row. Pause keeps the
//! partial; cancel deletes it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_net::{Trickle, human_bytes};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::client::{RemoteFile, RemoteModel, RepoInfo};
use crate::library::{Checked, Library, ModelEntry};
use crate::names::{contained_path, safe_relative_path};
use crate::{HubClient, HubError, gguf};

/// Free bytes on the disk holding a folder (a trait so tests can lie).
pub trait DiskSpace: Send + Sync {
    fn available(&self, dir: &Path) -> std::io::Result<u64>;
}

/// The real free space, from the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemDisk;

impl DiskSpace for SystemDisk {
    fn available(&self, dir: &Path) -> std::io::Result<u64> {
        fs4::available_space(dir)
    }
}

/// Something a UI shows while a model downloads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DownloadEvent {
    /// Starting (or resuming) a model of `total` bytes, `done` already on disk.
    Started {
        model: String,
        total: u64,
        done: u64,
    },
    /// Bytes of the whole model so far, speed over the last seconds, and ETA.
    Progress {
        done: u64,
        total: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
    },
    /// A part failed; retrying after `wait_ms`.
    Retrying {
        file: String,
        attempt: u32,
        reason: String,
        wait_ms: u64,
    },
    /// Hashing an existing partial file before resuming.
    Rehashing { file: String, bytes: u64 },
    /// The Hub gave no sha256 for these files (not stored in LFS), so their
    /// bytes cannot be checked: the model is kept marked unverified.
    Unverified { files: Vec<String> },
    /// All bytes are here; checking sha256 and the GGUF header.
    Verifying { model: String },
    /// In the library under `id`.
    Finished { id: String },
}

/// Pause and cancel for one download.
#[derive(Debug, Clone, Default)]
pub struct DownloadControl {
    pause: CancellationToken,
    cancel: CancellationToken,
}

impl DownloadControl {
    pub fn new() -> Self {
        Self::default()
    }
    /// Stops, keeping the partial file for a later resume.
    pub fn pause(&self) {
        self.pause.cancel();
    }
    /// Stops and deletes the partial file.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// How a download behaves.
#[derive(Clone)]
pub struct DownloadOptions {
    /// No byte for this long counts as a stall.
    pub stall_timeout: Duration,
    /// Fewer bytes per second than this, over a whole `stall_timeout`, count
    /// as a stall too (a server that trickles a byte now and then).
    pub min_speed: u64,
    /// Failures in a row before giving up (an attempt that made progress resets it).
    pub max_attempts: u32,
    /// First retry delay; doubles each time, capped at 30 s.
    pub backoff: Duration,
    pub disk: Arc<dyn DiskSpace>,
    pub control: DownloadControl,
    pub on_event: Arc<dyn Fn(&DownloadEvent) + Send + Sync>,
}

impl std::fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("stall_timeout", &self.stall_timeout)
            .field("min_speed", &self.min_speed)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(30),
            min_speed: 1024,
            max_attempts: 6,
            backoff: Duration::from_secs(1),
            disk: Arc::new(SystemDisk),
            control: DownloadControl::new(),
            on_event: Arc::new(|_| {}),
        }
    }
}

/// Persisted beside each `.part` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartState {
    pub repo: String,
    pub commit: String,
    pub file: String,
    pub url: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub etag: Option<String>,
    pub done: u64,
}

/// An interrupted download found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDownload {
    pub repo: String,
    pub file: String,
    pub done: u64,
    pub size: u64,
}

/// Interrupted downloads in `library`'s partial folder.
pub fn pending_downloads(library: &Library) -> Vec<PendingDownload> {
    let Ok(entries) = fs::read_dir(library.partial_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<PendingDownload> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part.json"))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<PartState>(&bytes).ok())
        .map(|s| PendingDownload {
            repo: s.repo,
            file: s.file,
            done: s.done,
            size: s.size,
        })
        .collect();
    out.sort_by(|a, b| (&a.repo, &a.file).cmp(&(&b.repo, &b.file)));
    out
}

/// Deletes the partial file (and its state) of an interrupted download of
/// `file` from `repo`; says whether there was one.
pub fn discard_pending(library: &Library, repo: &str, file: &str) -> Result<bool, HubError> {
    crate::names::validate_repo_id(repo)?;
    let rel = PathBuf::from(repo).join(safe_relative_path(file)?);
    let key = rel.to_string_lossy().replace('/', "--");
    let dir = library.partial_dir();
    let mut found = false;
    for path in [
        dir.join(format!("{key}.part")),
        dir.join(format!("{key}.part.json")),
    ] {
        match fs::remove_file(&path) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io(&path, e)),
        }
    }
    Ok(found)
}

struct Part {
    rel: PathBuf,
    part: PathBuf,
    state: PathBuf,
}

impl HubClient {
    /// Downloads `model` of `repo` into `library`, resuming any partial from an
    /// earlier run, and returns its library entry.
    pub async fn download(
        &self,
        repo: &RepoInfo,
        model: &RemoteModel,
        library: &mut Library,
        options: &DownloadOptions,
    ) -> Result<ModelEntry, HubError> {
        let partial_dir = library.partial_dir();
        fs::create_dir_all(&partial_dir).map_err(|e| HubError::io(&partial_dir, e))?;
        let mut parts = Vec::new();
        for file in &model.files {
            let rel = PathBuf::from(&repo.id).join(safe_relative_path(&file.path)?);
            let key = rel.to_string_lossy().replace('/', "--");
            parts.push(Part {
                part: partial_dir.join(format!("{key}.part")),
                state: partial_dir.join(format!("{key}.part.json")),
                rel,
            });
        }
        // Free space: what is still to come, plus the final renames are free.
        let already: u64 = parts
            .iter()
            .filter_map(|p| fs::metadata(&p.part).ok())
            .map(|m| m.len())
            .sum();
        let need = model.size.saturating_sub(already);
        let free = options
            .disk
            .available(&partial_dir)
            .map_err(|e| HubError::io(&partial_dir, e))?;
        if need > free {
            return Err(HubError::DiskFull {
                dir: library.models_dir().to_path_buf(),
                need,
                free,
            });
        }
        let emit = |event: DownloadEvent| (options.on_event)(&event);
        emit(DownloadEvent::Started {
            model: model.name.clone(),
            total: model.size,
            done: already.min(model.size),
        });
        let mut meter = Meter::new(model.size);
        let mut hashes = Vec::new();
        let mut offset = 0;
        for (file, part) in model.files.iter().zip(&parts) {
            let result = self
                .download_part(repo, file, part, offset, &mut meter, options)
                .await;
            match result {
                Ok(hash) => hashes.push(hash),
                Err(HubError::Cancelled) => {
                    for p in &parts {
                        let _ = fs::remove_file(&p.part);
                        let _ = fs::remove_file(&p.state);
                    }
                    return Err(HubError::Cancelled);
                }
                Err(e) => return Err(e),
            }
            offset += file.size;
        }
        let unchecked: Vec<String> = model
            .files
            .iter()
            .filter(|f| f.sha256.is_none())
            .map(|f| f.path.clone())
            .collect();
        if !unchecked.is_empty() {
            tracing::warn!(files = ?unchecked, "the Hub gave no sha256: stored unverified");
            emit(DownloadEvent::Unverified {
                files: unchecked.clone(),
            });
        }
        emit(DownloadEvent::Verifying {
            model: model.name.clone(),
        });
        let part_paths: Vec<&Path> = parts.iter().map(|p| p.part.as_path()).collect();
        let info = match gguf::inspect_parts(&part_paths) {
            Ok(info) => info,
            Err(e) => {
                for p in &parts {
                    let _ = fs::remove_file(&p.part);
                    let _ = fs::remove_file(&p.state);
                }
                return Err(e);
            }
        };
        let mut files = Vec::new();
        for p in &parts {
            let dest = contained_path(library.models_dir(), &p.rel)?;
            fs::rename(&p.part, &dest).map_err(|e| HubError::io(&dest, e))?;
            let _ = fs::remove_file(&p.state);
            files.push(p.rel.clone());
        }
        let entry = library.add_downloaded(
            &repo.id,
            &repo.commit,
            &model.name,
            files,
            Checked {
                sha256: hashes,
                unverified: !unchecked.is_empty(),
            },
            info,
        )?;
        emit(DownloadEvent::Finished {
            id: entry.id.clone(),
        });
        Ok(entry)
    }

    async fn download_part(
        &self,
        repo: &RepoInfo,
        file: &RemoteFile,
        part: &Part,
        offset: u64,
        meter: &mut Meter,
        options: &DownloadOptions,
    ) -> Result<String, HubError> {
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, repo.id, repo.commit, file.path
        );
        let mut state = PartState {
            repo: repo.id.clone(),
            commit: repo.commit.clone(),
            file: file.path.clone(),
            url: url.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            etag: None,
            done: 0,
        };
        let mut hasher = Sha256::new();
        // Resume only the same bytes: same file, size and hash as last time.
        let previous: Option<PartState> = fs::read(&part.state)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let on_disk = fs::metadata(&part.part).map(|m| m.len()).unwrap_or(0);
        let resumable = previous.as_ref().is_some_and(|p| {
            p.file == state.file && p.size == state.size && p.sha256 == state.sha256
        }) && on_disk <= file.size;
        if resumable && on_disk > 0 {
            (options.on_event)(&DownloadEvent::Rehashing {
                file: file.path.clone(),
                bytes: on_disk,
            });
            let path = part.part.clone();
            let (h, n) = tokio::task::spawn_blocking(move || rehash(&path))
                .await
                .map_err(|e| HubError::io(&part.part, std::io::Error::other(e)))??;
            hasher = h;
            state.done = n;
            state.etag = previous.and_then(|p| p.etag);
        } else {
            let _ = fs::remove_file(&part.part);
        }
        crate::library::write_atomic(&part.state, &state)?;

        let mut failures = 0u32;
        loop {
            if state.done >= file.size && file.size > 0 {
                break;
            }
            let before = state.done;
            let attempt = self
                .fetch(&mut state, &mut hasher, part, offset, meter, options)
                .await;
            let _ = crate::library::write_atomic(&part.state, &state);
            match attempt {
                Ok(()) => break,
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(reason)) => {
                    if state.done > before {
                        failures = 0;
                    }
                    failures += 1;
                    if failures >= options.max_attempts {
                        return Err(HubError::Exhausted {
                            file: file.path.clone(),
                            attempts: failures,
                            last: reason,
                        });
                    }
                    let wait = options
                        .backoff
                        .saturating_mul(1 << (failures - 1).min(5))
                        .min(Duration::from_secs(30));
                    tracing::info!(file = %file.path, %reason, ?wait, "download interrupted; retrying");
                    (options.on_event)(&DownloadEvent::Retrying {
                        file: file.path.clone(),
                        attempt: failures,
                        reason,
                        wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    });
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = options.control.pause.cancelled() => return Err(HubError::Paused),
                        () = options.control.cancel.cancelled() => return Err(HubError::Cancelled),
                    }
                }
            }
        }
        if state.done != file.size {
            let _ = fs::remove_file(&part.part);
            let _ = fs::remove_file(&part.state);
            return Err(HubError::SizeMismatch {
                file: file.path.clone(),
                expected: file.size,
                got: state.done,
            });
        }
        let actual = format!("{:x}", hasher.finalize());
        if let Some(expected) = &file.sha256
            && *expected != actual
        {
            let _ = fs::remove_file(&part.part);
            let _ = fs::remove_file(&part.state);
            return Err(HubError::Checksum {
                file: file.path.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        Ok(actual)
    }

    /// One HTTP request, appending to the part file from `state.done`.
    async fn fetch(
        &self,
        state: &mut PartState,
        hasher: &mut Sha256,
        part: &Part,
        offset: u64,
        meter: &mut Meter,
        options: &DownloadOptions,
    ) -> Result<(), Attempt> {
        let control = &options.control;
        let url = reqwest::Url::parse(&state.url).map_err(|e| {
            Attempt::Fatal(HubError::BadResponse {
                what: state.file.clone(),
                reason: format!("bad download address ({e})"),
            })
        })?;
        // A refused certificate, proxy or redirect will not fix itself.
        let failed = |e: &reqwest::Error| {
            let err = self.network_error(e, &url);
            if err.is_retryable() {
                Attempt::Retry(err.to_string())
            } else {
                Attempt::Fatal(err)
            }
        };
        let mut request = self.get(&state.url);
        if state.done > 0 {
            request = request.header(RANGE, format!("bytes={}-", state.done));
            if let Some(etag) = &state.etag {
                request = request.header(IF_RANGE, etag.as_str());
            }
        }
        let response = tokio::select! {
            r = tokio::time::timeout(options.stall_timeout, request.send()) => match r {
                Err(_) => return Err(Attempt::Retry("no answer from the server".into())),
                Ok(Err(e)) => return Err(failed(&e)),
                Ok(Ok(r)) => r,
            },
            () = control.pause.cancelled() => return Err(Attempt::Fatal(HubError::Paused)),
            () = control.cancel.cancelled() => return Err(Attempt::Fatal(HubError::Cancelled)),
        };
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE && state.done == state.size {
            return Ok(());
        }
        if let Err(e) = self.check(&response, &state.file, Some(&state.repo)) {
            return Err(if e.is_retryable() {
                Attempt::Retry(e.to_string())
            } else {
                Attempt::Fatal(e)
            });
        }
        let etag = response
            .headers()
            .get("x-linked-etag")
            .or_else(|| response.headers().get(ETAG))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part.part)
            .map_err(|e| Attempt::Fatal(HubError::io(&part.part, e)))?;
        if status == StatusCode::PARTIAL_CONTENT {
            let start = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(state.done) {
                return Err(Attempt::Retry(format!(
                    "server resumed at {start:?}, expected {}",
                    state.done
                )));
            }
        } else if state.done > 0 {
            // The server sent the whole file (it changed, or ignores ranges): restart.
            tracing::info!(file = %state.file, "server did not resume; starting over");
            file.set_len(0)
                .map_err(|e| Attempt::Fatal(HubError::io(&part.part, e)))?;
            *hasher = Sha256::new();
            state.done = 0;
        }
        state.etag = etag.or(state.etag.take());
        let mut response = response;
        let mut last_save = Instant::now();
        let min_bytes = (options.min_speed as f64 * options.stall_timeout.as_secs_f64()) as u64;
        let mut trickle = Trickle::new(options.stall_timeout, min_bytes);
        loop {
            let chunk = tokio::select! {
                c = tokio::time::timeout(options.stall_timeout, response.chunk()) => match c {
                    Err(_) => return Err(Attempt::Retry(format!(
                        "stalled: no data for {:.1} s", options.stall_timeout.as_secs_f64()))),
                    Ok(Err(e)) => return Err(failed(&e)),
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(chunk))) => chunk,
                },
                () = control.pause.cancelled() => return Err(Attempt::Fatal(HubError::Paused)),
                () = control.cancel.cancelled() => return Err(Attempt::Fatal(HubError::Cancelled)),
            };
            if state.done + chunk.len() as u64 > state.size {
                return Err(Attempt::Fatal(HubError::SizeMismatch {
                    file: state.file.clone(),
                    expected: state.size,
                    got: state.done + chunk.len() as u64,
                }));
            }
            file.write_all(&chunk)
                .map_err(|e| Attempt::Fatal(HubError::io(&part.part, e)))?;
            hasher.update(&chunk);
            state.done += chunk.len() as u64;
            if let Some(event) = meter.update(offset + state.done) {
                (options.on_event)(&event);
            }
            if trickle.too_slow(chunk.len() as u64, tokio::time::Instant::now()) {
                return Err(Attempt::Retry(format!(
                    "too slow: under {} per second for {:.1} s",
                    human_bytes(options.min_speed),
                    options.stall_timeout.as_secs_f64()
                )));
            }
            if last_save.elapsed() > Duration::from_secs(1) {
                let _ = file.flush();
                let _ = crate::library::write_atomic(&part.state, state);
                last_save = Instant::now();
            }
        }
        if state.done < state.size {
            return Err(Attempt::Retry(format!(
                "connection closed after {} of {} bytes",
                state.done, state.size
            )));
        }
        file.sync_all()
            .map_err(|e| Attempt::Fatal(HubError::io(&part.part, e)))?;
        Ok(())
    }
}

enum Attempt {
    Retry(String),
    Fatal(HubError),
}

fn rehash(path: &Path) -> Result<(Sha256, u64), HubError> {
    let mut file = File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher, total))
}

/// Speed over a sliding window, and when to emit a progress event.
struct Meter {
    total: u64,
    samples: std::collections::VecDeque<(Instant, u64)>,
    last_emit: Option<Instant>,
}

impl Meter {
    const WINDOW: Duration = Duration::from_secs(3);
    const EVERY: Duration = Duration::from_millis(100);

    fn new(total: u64) -> Self {
        Self {
            total,
            samples: std::collections::VecDeque::new(),
            last_emit: None,
        }
    }

    fn update(&mut self, done: u64) -> Option<DownloadEvent> {
        let now = Instant::now();
        self.samples.push_back((now, done));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > Self::WINDOW)
        {
            self.samples.pop_front();
        }
        let finished = done >= self.total;
        if !finished
            && self
                .last_emit
                .is_some_and(|t| now.duration_since(t) < Self::EVERY)
        {
            return None;
        }
        self.last_emit = Some(now);
        let (t0, d0) = *self.samples.front()?;
        let secs = now.duration_since(t0).as_secs_f64();
        let bytes_per_sec = if secs > 0.0 {
            (done - d0) as f64 / secs
        } else {
            0.0
        };
        let eta_secs =
            (bytes_per_sec > 0.0).then(|| self.total.saturating_sub(done) as f64 / bytes_per_sec);
        Some(DownloadEvent::Progress {
            done,
            total: self.total,
            bytes_per_sec,
            eta_secs,
        })
    }
}
