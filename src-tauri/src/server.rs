//! The API server (hearth-server) started and stopped from the server page.
//! At most one runs; it lives in the [`crate::Shell`] with its stop token,
//! its task and its request log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hearth_core::App;
use hearth_core::view::{ErrorKind, ErrorView};
use hearth_server::{KEY_FILE, LoggedRequest, RequestLog, ServerConfig, ServerError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How long running requests may take to finish after stop.
const GRACE: Duration = Duration::from_secs(3);

/// What the server page shows.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatusView {
    pub running: bool,
    /// `http://127.0.0.1:11435` (`0.0.0.0`: every interface) while running.
    pub address: Option<String>,
    pub port: Option<u16>,
    /// Clients must send `Authorization: Bearer KEY` (the server is exposed).
    pub key_required: bool,
    /// The key with all but its ends hidden, once a key exists.
    pub masked_key: Option<String>,
    /// Browser origins that get CORS headers (the running server's).
    pub cors_origins: Vec<String>,
    /// `http://192.168.1.20:11435`: how other devices reach an exposed server
    /// (this computer's primary network address), when it can be found.
    pub lan_address: Option<String>,
}

/// One request the server answered (never its body, headers or key).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ServerRequestView {
    /// Unix milliseconds (a JavaScript number holds them exactly).
    #[specta(type = u32)]
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[specta(type = u32)]
    pub duration_ms: u64,
    pub model: Option<String>,
}

impl From<LoggedRequest> for ServerRequestView {
    fn from(r: LoggedRequest) -> Self {
        Self {
            at_ms: r.at_ms,
            method: r.method,
            path: r.path,
            status: r.status,
            duration_ms: r.duration_ms,
            model: r.model,
        }
    }
}

/// How to start the server.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct StartServerView {
    pub port: u16,
    /// Every interface (`0.0.0.0`) with the API key, else `127.0.0.1` only.
    pub expose: bool,
    pub cors_origins: Vec<String>,
}

struct Running {
    cors_origins: Vec<String>,
    addr: SocketAddr,
    key_required: bool,
    stop: CancellationToken,
    task: tauri::async_runtime::JoinHandle<Result<(), ServerError>>,
    log: RequestLog,
}

/// The running server, if any.
#[derive(Default)]
pub struct ServerControl {
    running: Mutex<Option<Running>>,
}

fn key_error(e: &std::io::Error) -> ErrorView {
    ErrorView::new(
        ErrorKind::Internal,
        format!("cannot read or create the API key file: {e}"),
    )
}

/// The full key, created (random, 0600) in the data directory when missing.
pub fn full_key(home: &Path) -> Result<String, ErrorView> {
    let (key, _) = hearth_server::key_in(&home.join(KEY_FILE)).map_err(|e| key_error(&e))?;
    Ok(key.expose_secret().to_owned())
}

fn masked_key(home: &Path) -> Option<String> {
    hearth_server::read_key(&home.join(KEY_FILE))
        .ok()
        .map(|k| hearth_server::masked(k.expose_secret()))
}

impl ServerControl {
    /// Starts the server; an already running one is stopped first.
    pub async fn start(
        &self,
        app: App,
        start: StartServerView,
    ) -> Result<ServerStatusView, ErrorView> {
        let home = app.config().home().to_path_buf();
        let mut running = self.running.lock().await;
        if let Some(old) = running.take() {
            stop_running(old).await;
        }
        let (host, api_key) = if start.expose {
            let (key, _) =
                hearth_server::key_in(&home.join(KEY_FILE)).map_err(|e| key_error(&e))?;
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), Some(key))
        } else {
            (IpAddr::V4(Ipv4Addr::LOCALHOST), None)
        };
        let key_required = api_key.is_some();
        let config = ServerConfig {
            host,
            port: start.port,
            api_key,
            cors_origins: start.cors_origins.clone(),
            ..ServerConfig::default()
        };
        let bound = hearth_server::bind(app, config)
            .await
            .map_err(|e| ErrorView::new(ErrorKind::Invalid, e.to_string()))?;
        let addr = bound.local_addr();
        let log = bound.log();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tauri::async_runtime::spawn(async move {
            let served = bound.serve(async move { stopped.cancelled().await }).await;
            if let Err(e) = &served {
                tracing::error!(error = %e, "the API server stopped");
            }
            served
        });
        *running = Some(Running {
            cors_origins: start.cors_origins,
            addr,
            key_required,
            stop,
            task,
            log,
        });
        Ok(status_of(running.as_ref(), &home))
    }

    /// Stops the server (running requests get a moment to finish).
    pub async fn stop(&self) {
        if let Some(old) = self.running.lock().await.take() {
            stop_running(old).await;
        }
    }

    pub async fn status(&self, home: &Path) -> ServerStatusView {
        let mut running = self.running.lock().await;
        // A server whose task ended (an I/O failure) is no longer running.
        if running
            .as_ref()
            .is_some_and(|r| r.task.inner().is_finished())
        {
            *running = None;
        }
        status_of(running.as_ref(), home)
    }

    /// The newest `limit` requests, newest first (empty when not running).
    pub async fn log(&self, limit: usize) -> Vec<ServerRequestView> {
        self.running
            .lock()
            .await
            .as_ref()
            .map(|r| r.log.recent(limit).into_iter().map(Into::into).collect())
            .unwrap_or_default()
    }
}

async fn stop_running(old: Running) {
    old.stop.cancel();
    let mut task = old.task;
    if tokio::time::timeout(GRACE, &mut task).await.is_err() {
        task.abort();
    }
}

fn status_of(running: Option<&Running>, home: &Path) -> ServerStatusView {
    let masked_key = masked_key(home);
    match running {
        Some(r) => ServerStatusView {
            running: true,
            address: Some(format!("http://{}", r.addr)),
            port: Some(r.addr.port()),
            key_required: r.key_required,
            masked_key,
            cors_origins: r.cors_origins.clone(),
            lan_address: r
                .addr
                .ip()
                .is_unspecified()
                .then(lan_ip)
                .flatten()
                .map(|ip| format!("http://{}", SocketAddr::new(ip, r.addr.port()))),
        },
        None => ServerStatusView {
            running: false,
            address: None,
            port: None,
            key_required: false,
            masked_key,
            cors_origins: Vec::new(),
            lan_address: None,
        },
    }
}

/// This computer's address on its primary network: the source address the OS
/// would use for a private destination (a UDP "connect" sends nothing).
fn lan_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(10, 255, 255, 255), 1)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
