//! An HTTP proxy on 127.0.0.1, as a company network has one: `CONNECT
//! host:port` opens a tunnel (for `https://`), an absolute-form request
//! (`GET http://host:port/path HTTP/1.1`) is forwarded (for `http://`).
//! Optionally it wants `Proxy-Authorization: Basic`, and it can misbehave
//! ([`ProxyMode`]).
//!
//! Names are never resolved: every destination goes to 127.0.0.1 at the
//! port asked for. Tests name their stand-ins `hub.hearth.test:PORT` and the
//! like, names that only work through this proxy, so a request that
//! bypassed it fails instead of passing unnoticed.
//!
//! It runs on its own thread and runtime (usable from sync tests that drive
//! the CLI) and stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// Tunnels and forwards.
    #[default]
    Normal,
    /// Answers every `CONNECT` with `403 Forbidden` (a proxy that blocks a site).
    RefuseTunnels,
    /// Reads the request, then resets the connection (TCP RST).
    Reset,
    /// Reads the request, then closes the connection without a word.
    Close,
}

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `CONNECT`, `GET`, `POST`, …
    pub method: String,
    /// `host:port` for a tunnel, the absolute URL for a forwarded request.
    pub target: String,
    /// Whether a `Proxy-Authorization` header came.
    pub sent_credentials: bool,
    /// Whether the request was let through (credentials right, mode normal).
    pub admitted: bool,
}

struct Shared {
    credentials: Option<String>,
    mode: ProxyMode,
    seen: Mutex<Vec<Seen>>,
}

/// A running proxy; stops when dropped.
pub struct ProxyStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ProxyStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyStandIn")
            .field("addr", &self.addr)
            .field("mode", &self.shared.mode)
            .finish()
    }
}

/// The realm a 407 names.
pub const REALM: &str = "hearth-test-proxy";

impl ProxyStandIn {
    /// A proxy that lets everything through.
    pub fn start() -> Self {
        Self::start_with(None, ProxyMode::Normal)
    }

    /// A proxy that wants `user` and `password` (Basic).
    pub fn with_credentials(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)), ProxyMode::Normal)
    }

    /// A proxy that misbehaves as `mode` says.
    pub fn misbehaving(mode: ProxyMode) -> Self {
        Self::start_with(None, mode)
    }

    #[allow(clippy::expect_used)] // test support: a stand-in that cannot start is a broken test
    fn start_with(credentials: Option<(&str, &str)>, mode: ProxyMode) -> Self {
        let shared = Arc::new(Shared {
            credentials: credentials.map(|(user, password)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }),
            mode,
            seen: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    while let Ok((client, _)) = listener.accept().await {
                        tokio::spawn(serve(client, serving.clone()));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY` or the proxy setting.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, as the network ledger names it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ProxyStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The request head: its lines, and any bytes read past it.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

const HEAD_LIMIT: usize = 64 * 1024;

async fn read_head(client: &mut TcpStream) -> Option<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > HEAD_LIMIT {
            return None;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request = lines.next()?.split(' ');
    let (method, target, version) = (request.next()?, request.next()?, request.next()?);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
        rest: buf[end + 4..].to_vec(),
    })
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let credentials = head
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.clone());
    let authorized = match &shared.credentials {
        None => true,
        Some(expected) => credentials.as_deref() == Some(expected.as_str()),
    };
    let admitted = authorized
        && shared.mode == ProxyMode::Normal
        && !(head.method == "CONNECT" && shared.mode == ProxyMode::RefuseTunnels);
    shared
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            method: head.method.clone(),
            target: head.target.clone(),
            sent_credentials: credentials.is_some(),
            admitted,
        });
    match shared.mode {
        ProxyMode::Reset => {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = client.set_zero_linger();
            drop(client);
            return;
        }
        ProxyMode::Close => {
            let _ = client.shutdown().await;
            return;
        }
        _ => {}
    }
    if !authorized {
        let answer = format!(
            "HTTP/1.1 407 Proxy Authentication Required\r\n\
             Proxy-Authenticate: Basic realm=\"{REALM}\"\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = client.write_all(answer.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    if head.method == "CONNECT" {
        if shared.mode == ProxyMode::RefuseTunnels {
            let _ = client
                .write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            let _ = client.shutdown().await;
            return;
        }
        let Some(port) = port_of(&head.target) else {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        };
        let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await else {
            let _ = client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        if !head.rest.is_empty() && server.write_all(&head.rest).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    forward(client, head).await;
}

/// Forwards one absolute-form request to 127.0.0.1 at its port, as origin
/// form, without the proxy's own headers, and closes after the answer.
async fn forward(mut client: TcpStream, head: Head) {
    let Some(after_scheme) = head.target.strip_prefix("http://") else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let (authority, path) = match after_scheme.find('/') {
        Some(i) => (&after_scheme[..i], &after_scheme[i..]),
        None => (after_scheme, "/"),
    };
    let port = port_of(authority).unwrap_or(80);
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let mut request = format!("{} {path} {}\r\n", head.method, head.version);
    for (name, value) in &head.headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("proxy-") || lower == "connection" {
            continue;
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    // One request per connection: the next may be for another server.
    request.push_str("Connection: close\r\n\r\n");
    if server.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    if !head.rest.is_empty() && server.write_all(&head.rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// The port of `host:port` or `[v6]:port`.
fn port_of(authority: &str) -> Option<u16> {
    authority.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_authority() {
        assert_eq!(port_of("hub.hearth.test:8443"), Some(8443));
        assert_eq!(port_of("[::1]:80"), Some(80));
        assert_eq!(port_of("nohost"), None);
    }
}
