//! Configuration, binding and the shared state of the server.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hearth_core::App;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::log::RequestLog;
use crate::{guard, routes};

/// The port `hearth serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 11435;

/// Where and how the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port ([`Bound::local_addr`] says which).
    pub port: u16,
    /// When set, every `/v1` request needs `Authorization: Bearer KEY`.
    /// Required for a non-loopback `host`.
    pub api_key: Option<SecretString>,
    /// Web pages (origins such as `http://localhost:5173`, matched exactly)
    /// that may call the API; they get CORS headers. A request from any other
    /// page is refused with 403 before anything else happens.
    pub cors_origins: Vec<String>,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Generations waiting or running at once; more are refused with 503.
    pub queue: usize,
    /// Local generations running at once: the engine's
    /// `hearth_engine::EngineOptions::parallel`, which the app's engine
    /// must be loaded with (`hearth serve --parallel N` sets both).
    pub parallel: usize,
    /// How long a local model stays loaded after its last request (`None`:
    /// until the server stops).
    pub keep_warm: Option<Duration>,
    /// Open connections at once; further clients wait until one closes.
    pub max_connections: usize,
    /// A client must send a request's headers within this time (also the
    /// longest an idle keep-alive connection is kept).
    pub header_timeout: Duration,
    /// A client must send a request's body within this time.
    pub body_timeout: Duration,
    /// A generation is stopped after this long (`finish_reason: "length"`);
    /// `None`: no limit.
    pub max_generation: Option<Duration>,
    /// Folders whose files clients may name by path as `model`; by default
    /// none: clients name library ids only.
    pub allow_model_dirs: Vec<PathBuf>,
    /// The sentence-transformers folder `/v1/embeddings` serves (loaded on
    /// its first request); none: the route answers 404.
    pub embed_model: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            api_key: None,
            cors_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            // Ollama queues 512 and llama-server all: a burst of clients
            // waits its turn rather than being refused. Each waiting request
            // holds a connection, so there are more of those.
            queue: 256,
            parallel: 1,
            keep_warm: Some(Duration::from_secs(300)),
            max_connections: 320,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_generation: Some(Duration::from_secs(600)),
            allow_model_dirs: Vec::new(),
            embed_model: None,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to listen on {0} without an API key: anyone on the network could use \
         your models; set a key or listen on 127.0.0.1"
    )]
    NeedsKey(IpAddr),
    #[error("the queue size must be at least 1")]
    NoQueue,
    #[error("the connection limit must be at least 1")]
    NoConnections,
    #[error("--parallel must be at least 1")]
    NoParallel,
    #[error("cannot allow model folders: {0}")]
    ModelDirs(#[source] hearth_core::CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What every handler shares.
pub(crate) struct State {
    pub(crate) app: App,
    pub(crate) api_key: Option<SecretString>,
    pub(crate) cors_origins: Vec<String>,
    /// `Host` header values that are accepted; `None`: any (the server
    /// listens on every interface, behind a mandatory key).
    pub(crate) hosts: Option<Vec<String>>,
    /// Permits for waiting + running generations.
    pub(crate) slots: Arc<Semaphore>,
    /// Permits for running local generations: `parallel` of them.
    pub(crate) local: Arc<Semaphore>,
    /// The last requests, filled by the guard.
    pub(crate) log: RequestLog,
    /// Each provider's model list, fetched at most every few minutes.
    pub(crate) cloud_lists: crate::routes::CloudLists,
    /// How long a client may take to send a body.
    pub(crate) body_timeout: Duration,
    /// Longest a generation may run.
    pub(crate) max_generation: Option<Duration>,
    /// `/v1/embeddings`: the model folder and, once loaded, the model.
    pub(crate) embed_model: Option<PathBuf>,
    pub(crate) embedder: tokio::sync::OnceCell<Arc<hearth_core::Embedder>>,
}

/// A server with its socket open, not yet answering.
pub struct Bound {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    max_connections: usize,
    header_timeout: Duration,
    /// The app and its keep-warm time, for unloading an idle model.
    warm: Option<(App, Duration)>,
    log: RequestLog,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("addr", &self.addr).finish()
    }
}

/// Opens the socket. Refuses a non-loopback address without an API key.
pub async fn bind(app: App, config: ServerConfig) -> Result<Bound, ServerError> {
    if !config.host.is_loopback() && config.api_key.is_none() {
        return Err(ServerError::NeedsKey(config.host));
    }
    if config.queue == 0 {
        return Err(ServerError::NoQueue);
    }
    if config.max_connections == 0 {
        return Err(ServerError::NoConnections);
    }
    if config.parallel == 0 {
        return Err(ServerError::NoParallel);
    }
    app.models()
        .allow_api_model_dirs(&config.allow_model_dirs)
        .map_err(ServerError::ModelDirs)?;
    let wanted = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|source| ServerError::Bind {
            addr: wanted,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: wanted,
        source,
    })?;
    let warm = config.keep_warm.map(|idle| (app.clone(), idle));
    let log = RequestLog::new();
    let state = Arc::new(State {
        app,
        api_key: config.api_key,
        cors_origins: config.cors_origins,
        hosts: allowed_hosts(addr),
        slots: Arc::new(Semaphore::new(config.queue)),
        local: Arc::new(Semaphore::new(config.parallel)),
        log: log.clone(),
        cloud_lists: Default::default(),
        body_timeout: config.body_timeout,
        max_generation: config.max_generation,
        embed_model: config.embed_model,
        embedder: tokio::sync::OnceCell::new(),
    });
    let router = Router::new()
        .route("/health", get(routes::health))
        .route("/v1/models", get(routes::models))
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/completions", post(routes::completions))
        .route("/v1/embeddings", post(crate::embeddings::embeddings))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state);
    tracing::info!(%addr, "API server listening");
    Ok(Bound {
        listener,
        router,
        addr,
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        warm,
        log,
    })
}

/// [`bind`] then [`Bound::serve`].
pub async fn serve(
    app: App,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    bind(app, config).await?.serve(shutdown).await
}

impl Bound {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's request log (a handle that outlives the server).
    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    /// Answers requests until `shutdown` completes, then lets running
    /// requests finish.
    ///
    /// The accept loop is Hearth's own rather than `axum::serve`, for two
    /// limits that matter once the server is reachable from other machines: at
    /// most `max_connections` are open at once (further clients wait in the
    /// kernel's queue), and a client that does not send its request headers
    /// within `header_timeout` is disconnected, which also closes idle
    /// keep-alive connections, so slow or silent clients cannot hold them all.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        // Unloads the model once it was idle for the keep-warm time.
        let unloader = self.warm.map(|(app, idle)| {
            let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    app.unload_idle_model(idle).await;
                }
            })
        });
        let connections = Arc::new(Semaphore::new(self.max_connections));
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        accept_failed(err).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Answers stream token by token: send each piece at once.
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(self.router.clone());
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(self.listener);
        graceful.shutdown().await;
        if let Some(unloader) = unloader {
            unloader.abort();
        }
        Ok(())
    }
}

/// A failed `accept`: a connection that went away before it was accepted is
/// nothing; anything else (out of file descriptors) is waited out briefly so
/// the loop does not spin.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// `Host` values a browser may send for this server: the loopback names and
/// the bound address, with and without the port.
fn allowed_hosts(addr: SocketAddr) -> Option<Vec<String>> {
    if addr.ip().is_unspecified() {
        return None;
    }
    let bound = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let names = ["localhost", "127.0.0.1", "[::1]", bound.as_str()];
    let port = addr.port();
    Some(
        names
            .iter()
            .flat_map(|n| [n.to_string(), format!("{n}:{port}")])
            .collect(),
    )
}
