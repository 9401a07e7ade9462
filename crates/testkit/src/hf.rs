//! A Hugging Face Hub stand-in on 127.0.0.1 that serves real files with the
//! Hub's routes and headers, counts bytes, and injects faults.
//!
//! Routes (as the Hub and hf-hub use them):
//! - `GET /api/models?search=..&filter=gguf&sort=..&limit=..`: search hits.
//! - `GET /api/models/{owner}/{name}`: `id`, `sha`, `gated`, `cardData.license`,
//!   `tags`, `siblings[{rfilename, size, lfs{sha256, size, pointerSize}}]`.
//! - `GET|HEAD /{owner}/{name}/resolve/{rev}/{file}`: LFS files answer `302` to
//!   `/cdn/..` (or to another host, [`HfStandIn::set_cdn_base`]) with
//!   `X-Linked-Etag`, `X-Linked-Size` and `X-Repo-Commit`.
//! - `GET|HEAD /cdn/{repo}/{file}`: the bytes, with `ETag`, `Accept-Ranges`,
//!   `Range` → `206` + `Content-Range`, `If-Range`.
//! - `GET /api/whoami-v2`: who the token belongs to.
//!
//! Access answers as the real Hub's (see `hf_raise_for_status` in
//! huggingface_hub): a token that is not [`TOKEN`] or [`NO_ACCESS_TOKEN`] gets
//! `401` with `X-Error-Message: Invalid credentials in Authorization header`
//! on every route, public ones included; a gated repo's files answer `401`
//! `X-Error-Code: GatedRepo` without a token and `403 GatedRepo` with a token
//! whose account did not accept the licence; a private repo answers `401
//! RepoNotFound` without a token and `404 RepoNotFound` to an account without
//! access (the Hub does not tell a private repo from a missing one).
//!
//! The server runs on its own thread and runtime, so it works from sync tests
//! (driving the CLI) and async ones alike; it stops when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::routing::get;
use sha2::{Digest, Sha256};

mod access;

use access::{Caller, caller, gated, hidden, hostile_api, invalid_credentials, whoami};

/// The token gated repos accept.
pub const TOKEN: &str = "hf_standin_token_0123456789";
/// A valid token of an account that has not been granted the gated and
/// private repos.
pub const NO_ACCESS_TOKEN: &str = "hf_standin_no_access_0123456789";
/// The account [`TOKEN`] belongs to.
pub const USER: &str = "hearth-tester";
/// What the Hub says about a token it does not know (expired, revoked).
pub const INVALID_CREDENTIALS: &str = "Invalid credentials in Authorization header";
/// The commit every repo is at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Where a served file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    Path(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

/// One file of a fake repo.
#[derive(Debug, Clone)]
pub struct FakeFile {
    pub path: String,
    pub content: Content,
    pub size: u64,
    /// The sha256 the repo info advertises (normally the real one).
    pub sha256: String,
    /// Listed as an LFS file (with its sha256); otherwise as a plain git
    /// file, which the Hub gives no sha256 for.
    pub lfs: bool,
}

impl FakeFile {
    /// A file on disk with its known sha256.
    pub fn from_path(path: &str, file: PathBuf, sha256: &str) -> Self {
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        Self {
            path: path.into(),
            content: Content::Path(file),
            size,
            sha256: sha256.into(),
            lfs: true,
        }
    }

    /// A file from bytes (sha256 computed).
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            size: bytes.len() as u64,
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            content: Content::Bytes(Arc::new(bytes)),
            lfs: true,
        }
    }

    /// Listed as a plain git file: the repo info has no sha256 for it.
    pub fn without_lfs(mut self) -> Self {
        self.lfs = false;
        self
    }

    /// Advertise a wrong sha256 (the bytes stay the same).
    pub fn with_wrong_sha256(mut self) -> Self {
        self.sha256 = "0".repeat(64);
        self
    }
}

/// A fake model repo.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    pub id: String,
    pub gated: bool,
    pub license: String,
    pub downloads: u64,
    pub files: Vec<FakeFile>,
    /// Answer the repo info with broken JSON.
    pub malformed: bool,
    /// Only [`TOKEN`] can see it.
    pub private: bool,
    /// The `id` the repo info answers with, when not the real one.
    pub claimed_id: Option<String>,
}

impl FakeRepo {
    pub fn new(id: &str, files: Vec<FakeFile>) -> Self {
        Self {
            id: id.into(),
            gated: false,
            license: "apache-2.0".into(),
            downloads: 1000,
            files,
            malformed: false,
            private: false,
            claimed_id: None,
        }
    }
}

/// Faults for the next file bodies served from `/cdn`.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Close the connection after this many body bytes (once).
    pub cut_after: Option<u64>,
    /// Stop sending after this many body bytes but keep the connection open (once).
    pub stall_after: Option<u64>,
    /// Limit every body to this many bytes per second.
    pub throttle: Option<u64>,
    /// Send file bodies one byte at a time, this far apart (slowloris).
    pub trickle: Option<Duration>,
    /// Answer the next resolve requests with these statuses, in order.
    pub fail_next: Vec<u16>,
    /// How every `/api/..` answer misbehaves until the faults are replaced.
    pub api: Option<Hostile>,
}

/// A hostile answer to the Hub's JSON routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// A 1 GiB body, streamed (never allocated); with `declared`, its
    /// `Content-Length` says so up front.
    HugeBody { declared: bool },
    /// The headers, then one byte every `every`, forever (slowloris).
    Trickle { every: Duration },
}

/// One request the stand-in saw.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    /// `Authorization: Bearer {TOKEN}` came.
    pub authorized: bool,
    /// Any `Authorization` header came.
    pub sent_authorization: bool,
    /// Body bytes sent (file bodies only; filled in as they stream).
    pub bytes: Arc<AtomicU64>,
}

struct Shared {
    repos: Vec<FakeRepo>,
    faults: Mutex<Faults>,
    cdn_base: Mutex<Option<String>>,
    log: Mutex<Vec<Logged>>,
    bytes: AtomicU64,
}

/// A running stand-in; stops when dropped.
pub struct HfStandIn {
    endpoint: String,
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for HfStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfStandIn")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The repos [`HfStandIn::start_default`] serves.
pub mod repos {
    /// The real SmolLM2 test model.
    pub const SMOLLM2: &str = "test-org/SmolLM2-135M-Instruct-GGUF";
    /// A gated copy of it.
    pub const GATED: &str = "test-org/gated-model-GGUF";
    /// SmolLM2 advertised with a wrong sha256.
    pub const BAD_SHA: &str = "test-org/bad-sha-GGUF";
    /// A repo listing `../evil.gguf`.
    pub const EVIL: &str = "test-org/evil-GGUF";
    /// A repo whose info is not JSON.
    pub const MALFORMED: &str = "test-org/malformed-GGUF";
    /// A private copy of SmolLM2 only [`super::TOKEN`] can see.
    pub const PRIVATE: &str = "test-org/private-GGUF";
    /// A tiny model split in two parts, plus an unsplit Q8_0.
    pub const SPLIT: &str = "test-org/tiny-split-GGUF";
}

impl HfStandIn {
    /// Serves the standard test repos (see [`repos`]).
    pub fn start_default() -> Self {
        let smol = || {
            FakeFile::from_path(
                crate::models::SMOLLM2.file_name,
                crate::models::smollm2(),
                crate::models::SMOLLM2.sha256,
            )
        };
        let tiny = crate::gguf::TinyGguf::default().to_bytes();
        let mut gated = FakeRepo::new(repos::GATED, vec![smol()]);
        gated.gated = true;
        gated.license = "llama3.2".into();
        let mut malformed = FakeRepo::new(repos::MALFORMED, vec![smol()]);
        malformed.malformed = true;
        let mut private = FakeRepo::new(repos::PRIVATE, vec![smol()]);
        private.private = true;
        // Two "parts": each a whole tiny GGUF (the inspection reads both headers).
        let split = FakeRepo::new(
            repos::SPLIT,
            vec![
                FakeFile::from_bytes("tiny-Q4_K_M-00001-of-00002.gguf", tiny.clone()),
                FakeFile::from_bytes("tiny-Q4_K_M-00002-of-00002.gguf", tiny.clone()),
                FakeFile::from_bytes("tiny-Q8_0.gguf", tiny),
                FakeFile::from_bytes("README.md", b"# tiny\n".to_vec()),
            ],
        );
        Self::start(vec![
            FakeRepo::new(repos::SMOLLM2, vec![smol()]),
            gated,
            FakeRepo::new(repos::BAD_SHA, vec![smol().with_wrong_sha256()]),
            FakeRepo::new(
                repos::EVIL,
                vec![FakeFile::from_bytes("../evil.gguf", b"GGUF".to_vec())],
            ),
            malformed,
            split,
            private,
        ])
    }

    /// Serves `repos` on a free port of 127.0.0.1.
    #[allow(clippy::expect_used)] // test support: a stand-in that cannot start is a broken test
    pub fn start(repos: Vec<FakeRepo>) -> Self {
        let shared = Arc::new(Shared {
            repos,
            faults: Mutex::new(Faults::default()),
            cdn_base: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            bytes: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let endpoint = format!("http://{addr}");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/api/models", get(search))
            .route("/api/models/{owner}/{name}", get(info))
            .route("/api/whoami-v2", get(whoami))
            .route("/{owner}/{name}/resolve/{rev}/{*file}", get(resolve))
            .route("/cdn/{repo}/{file}", get(cdn))
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("stand-in runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                // Not a graceful shutdown: a client that stopped reading (a paused
                // download whose runtime is gone) would keep it waiting forever.
                // Dropping the runtime below drops every open connection.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        Self {
            endpoint,
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:PORT` (to put a TLS front or a proxy before it).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Where resolve redirects send downloads: `None` (the default) for this
    /// server's own `/cdn/..`; else an absolute base such as
    /// `http://localhost:PORT`, another host as the real CDN is.
    pub fn set_cdn_base(&self, base: Option<&str>) {
        *self
            .shared
            .cdn_base
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = base.map(str::to_owned);
    }

    /// Replaces the faults for the next requests.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// File-body bytes sent so far, over all requests.
    pub fn bytes_served(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Body-carrying `GET /cdn/..` requests: (range header, bytes sent).
    pub fn file_bodies(&self) -> Vec<(Option<String>, u64)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/cdn/"))
            .map(|r| (r.range, r.bytes.load(Ordering::SeqCst)))
            .collect()
    }
}

impl Drop for HfStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Shared_ = State<Arc<Shared>>;

fn log(shared: &Shared, method: &str, path: String, headers: &HeaderMap) -> Arc<AtomicU64> {
    let bytes = Arc::new(AtomicU64::new(0));
    let entry = Logged {
        method: method.into(),
        path,
        range: headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorized: bearer(headers) == Some(TOKEN),
        sent_authorization: headers.contains_key(header::AUTHORIZATION),
        bytes: bytes.clone(),
    };
    shared
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry);
    bytes
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    let mut response = json(status, &serde_json::json!({ "error": message }));
    response
        .headers_mut()
        .insert("x-error-code", HeaderValue::from_static(code));
    response
}

async fn search(
    State(shared): Shared_,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response<Body> {
    log(&shared, "GET", "/api/models".into(), &headers);
    let who = caller(&headers);
    if who == Caller::Invalid {
        return invalid_credentials();
    }
    if let Some(response) = hostile_api(&shared) {
        return response;
    }
    let query = params
        .get("search")
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    let mut hits: Vec<&FakeRepo> = shared
        .repos
        .iter()
        .filter(|r| r.id.to_ascii_lowercase().contains(&query))
        .filter(|r| !r.private || who == Caller::Granted)
        .collect();
    hits.sort_by_key(|r| std::cmp::Reverse(r.downloads));
    let hits: Vec<serde_json::Value> = hits
        .into_iter()
        .take(limit)
        .map(|r| {
            serde_json::json!({
                "_id": format!("id-{}", r.id),
                "id": r.id,
                "modelId": r.id,
                "downloads": r.downloads,
                "likes": r.downloads / 10,
                "lastModified": "2025-01-01T00:00:00.000Z",
                "tags": ["gguf", format!("license:{}", r.license)],
                "gated": if r.gated { serde_json::json!("manual") } else { serde_json::json!(false) },
                "private": false,
            })
        })
        .collect();
    json(StatusCode::OK, &serde_json::Value::Array(hits))
}

fn find<'a>(shared: &'a Shared, owner: &str, name: &str) -> Option<(usize, &'a FakeRepo)> {
    let id = format!("{owner}/{name}");
    shared.repos.iter().enumerate().find(|(_, r)| r.id == id)
}

async fn info(
    State(shared): Shared_,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response<Body> {
    log(
        &shared,
        "GET",
        format!("/api/models/{owner}/{name}"),
        &headers,
    );
    let who = caller(&headers);
    if who == Caller::Invalid {
        return invalid_credentials();
    }
    if let Some(response) = hostile_api(&shared) {
        return response;
    }
    let Some((_, repo)) = find(&shared, &owner, &name) else {
        return hidden(who);
    };
    if repo.private && who != Caller::Granted {
        return hidden(who);
    }
    if repo.malformed {
        let mut response = Response::new(Body::from("{\"id\": \"oops\", \"siblings\": [tr"));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let siblings: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|f| {
            if f.lfs {
                serde_json::json!({
                    "rfilename": f.path,
                    "size": f.size,
                    "blobId": f.sha256,
                    "lfs": { "sha256": f.sha256, "size": f.size, "pointerSize": 134 },
                })
            } else {
                serde_json::json!({"rfilename": f.path, "size": f.size, "blobId": f.sha256})
            }
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "_id": format!("id-{}", repo.id),
            "id": repo.claimed_id.as_ref().unwrap_or(&repo.id),
            "modelId": repo.id,
            "sha": COMMIT,
            "gated": if repo.gated { serde_json::json!("manual") } else { serde_json::json!(false) },
            "private": false,
            "downloads": repo.downloads,
            "tags": ["gguf", format!("license:{}", repo.license)],
            "cardData": { "license": repo.license },
            "lastModified": "2025-01-01T00:00:00.000Z",
            "siblings": siblings,
        }),
    )
}

async fn resolve(
    State(shared): Shared_,
    Path((owner, name, rev, file)): Path<(String, String, String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response<Body> {
    log(
        &shared,
        method.as_str(),
        format!("/{owner}/{name}/resolve/{rev}/{file}"),
        &headers,
    );
    let injected = {
        let mut faults = shared.faults.lock().unwrap_or_else(PoisonError::into_inner);
        (!faults.fail_next.is_empty()).then(|| faults.fail_next.remove(0))
    };
    if let Some(status) = injected {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "Injected", "injected failure");
    }
    let who = caller(&headers);
    if who == Caller::Invalid {
        return invalid_credentials();
    }
    let Some((repo_index, repo)) = find(&shared, &owner, &name) else {
        return hidden(who);
    };
    if repo.private && who != Caller::Granted {
        return hidden(who);
    }
    if repo.gated && who != Caller::Granted {
        return gated(&repo.id, who);
    }
    if rev != COMMIT && rev != "main" {
        return error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id");
    }
    let Some(file_index) = repo.files.iter().position(|f| f.path == file) else {
        return error(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
    };
    let f = &repo.files[file_index];
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    let h = response.headers_mut();
    let base = shared
        .cdn_base
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default();
    let location = format!("{base}/cdn/{repo_index}/{file_index}");
    for (key, value) in [
        ("location", location),
        ("x-repo-commit", COMMIT.to_owned()),
        ("x-linked-etag", format!("\"{}\"", f.sha256)),
        ("x-linked-size", f.size.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(key, v);
        }
    }
    response
}

async fn cdn(
    State(shared): Shared_,
    Path((repo_index, file_index)): Path<(usize, usize)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response<Body> {
    let counter = log(
        &shared,
        method.as_str(),
        format!("/cdn/{repo_index}/{file_index}"),
        &headers,
    );
    let Some(f) = shared
        .repos
        .get(repo_index)
        .and_then(|r| r.files.get(file_index))
        .cloned()
    else {
        return error(StatusCode::NOT_FOUND, "EntryNotFound", "no such blob");
    };
    // The real etag is the content's sha256, whatever the repo info claims.
    let etag = format!("\"{}\"", real_sha256(&f));
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == etag);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, _)| a.parse::<u64>().ok())
        .filter(|_| if_range_ok);
    let start = range.unwrap_or(0);
    if start > f.size || (range.is_some() && start == f.size) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
        return response;
    }
    let faults = {
        let mut faults = shared.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let now = faults.clone();
        if method == axum::http::Method::GET {
            faults.cut_after = None;
            faults.stall_after = None;
        }
        now
    };
    let len = f.size - start;
    let body = if method == axum::http::Method::HEAD {
        Body::empty()
    } else {
        body_stream(
            f.content.clone(),
            start,
            len,
            faults,
            shared.clone(),
            counter,
        )
    };
    let mut response = Response::new(body);
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {start}-{}/{}", f.size.saturating_sub(1), f.size);
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    let h2 = response.headers_mut();
    h2.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h2.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h2.insert(header::ETAG, v);
    }
    response
}

fn real_sha256(f: &FakeFile) -> String {
    match &f.content {
        Content::Bytes(b) => format!("{:x}", Sha256::digest(b.as_slice())),
        // Paths are the known test models: their sha256 is recorded.
        Content::Path(p) => crate::models::ALL
            .iter()
            .find(|m| p.file_name().and_then(|n| n.to_str()) == Some(m.file_name))
            .map(|m| m.sha256.to_owned())
            .unwrap_or_else(|| f.sha256.clone()),
    }
}

const CHUNK: usize = 64 * 1024;

fn body_stream(
    content: Content,
    start: u64,
    len: u64,
    faults: Faults,
    shared: Arc<Shared>,
    counter: Arc<AtomicU64>,
) -> Body {
    struct S {
        content: Content,
        file: Option<std::fs::File>,
        pos: u64,
        end: u64,
        sent: u64,
        faults: Faults,
        shared: Arc<Shared>,
        counter: Arc<AtomicU64>,
    }
    let state = S {
        content,
        file: None,
        pos: start,
        end: start + len,
        sent: 0,
        faults,
        shared,
        counter,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.pos >= s.end {
            return None;
        }
        if s.faults.cut_after.is_some_and(|n| s.sent >= n) {
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected cut");
            s.pos = s.end;
            return Some((Err(cut), s));
        }
        if s.faults.stall_after.is_some_and(|n| s.sent >= n) {
            std::future::pending::<()>().await;
        }
        let mut want = ((s.end - s.pos) as usize).min(CHUNK);
        if let Some(every) = s.faults.trickle {
            tokio::time::sleep(every).await;
            want = 1;
        }
        for limit in [s.faults.cut_after, s.faults.stall_after]
            .into_iter()
            .flatten()
        {
            if limit > s.sent {
                want = want.min((limit - s.sent) as usize);
            }
        }
        let chunk = match read_chunk(&mut s.content, &mut s.file, s.pos, want) {
            Ok(c) => c,
            Err(e) => return Some((Err(e), s)),
        };
        if let Some(rate) = s.faults.throttle.filter(|r| *r > 0) {
            tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / rate as f64)).await;
        }
        s.pos += chunk.len() as u64;
        s.sent += chunk.len() as u64;
        s.counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        s.shared
            .bytes
            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Some((Ok::<_, std::io::Error>(chunk), s))
    });
    Body::from_stream(stream)
}

fn read_chunk(
    content: &mut Content,
    file: &mut Option<std::fs::File>,
    pos: u64,
    want: usize,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    match content {
        Content::Bytes(bytes) => {
            let start = usize::try_from(pos).unwrap_or(usize::MAX).min(bytes.len());
            let end = (start + want).min(bytes.len());
            Ok(bytes[start..end].to_vec())
        }
        Content::Path(path) => {
            if file.is_none() {
                *file = Some(std::fs::File::open(&*path)?);
            }
            let Some(f) = file.as_mut() else {
                return Err(std::io::Error::other("file not open"));
            };
            f.seek(SeekFrom::Start(pos))?;
            let mut buf = vec![0u8; want];
            f.read_exact(&mut buf)?;
            Ok(buf)
        }
    }
}
