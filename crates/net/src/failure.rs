//! A failed request in words: was it the proxy, a certificate, a redirect,
//! or the server itself, and what can the user do about it.
//!
//! reqwest's own message names the full URL (query included), so it never
//! reaches the user: messages are built from the error's kind and its
//! innermost cause.

use std::error::Error as StdError;

use reqwest::Url;

use crate::address::host_port;
use crate::client::{Hints, RedirectRefused};
use crate::proxy::Route;

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection could be made (to the server, or to the proxy).
    Connect,
    /// The proxy refused to connect to the server.
    ProxyRefused,
    /// The proxy wants a user name and password, or rejected them.
    ProxyAuth,
    /// The server's certificate is not trusted or not valid for it.
    Certificate,
    /// A redirect Hearth does not follow.
    Redirect,
    /// No answer in time.
    Timeout,
    /// Anything else (the connection dropped, a protocol error).
    Other,
}

impl FailureKind {
    /// Whether trying again later could help (a refusal or a wrong
    /// certificate will not change by itself).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Connect | Self::Timeout | Self::Other)
    }
}

/// A failed request, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// For the user: names the host (and the proxy), never a URL's query.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Explains `error`, which happened sending a request to `target` along
/// `route`.
pub fn explain(error: &reqwest::Error, target: &Url, route: &Route, hints: &Hints) -> Failure {
    let host = host_port(target);
    let fail = |kind, message: String| Failure { kind, message };
    if let Some(refused) = RedirectRefused::of(error) {
        return fail(FailureKind::Redirect, refused.to_string());
    }
    let causes = causes(error);
    if let Some(tls) = causes
        .iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
    {
        return certificate(tls, &host, route, hints);
    }
    let proxy = route.via().unwrap_or("the proxy");
    if let Some(tunnel) = causes
        .iter()
        .map(|e| e.to_string())
        .find_map(|text| text.strip_prefix("tunnel error: ").map(str::to_owned))
    {
        let root = root_cause(error);
        return match tunnel.as_str() {
            "proxy authorization required" => {
                let authenticated = matches!(
                    route,
                    Route::Proxy {
                        authenticated: true,
                        ..
                    }
                );
                proxy_auth(proxy, authenticated, hints)
            }
            "unsuccessful" => fail(
                FailureKind::ProxyRefused,
                format!("the proxy {proxy} refused to connect to {host}"),
            ),
            "unexpected end of file" => fail(
                FailureKind::Connect,
                format!("the proxy {proxy} closed the connection instead of connecting to {host}"),
            ),
            "failed to create underlying connection" => fail(
                FailureKind::Connect,
                format!("could not connect to the proxy {proxy}: {root}"),
            ),
            _ => fail(
                FailureKind::Connect,
                format!("the connection to the proxy {proxy} failed: {root}"),
            ),
        };
    }
    let root = root_cause(error);
    if error.is_timeout() {
        return fail(
            FailureKind::Timeout,
            match route {
                Route::Direct => format!("no answer from {host} in time"),
                Route::Proxy { .. } => {
                    format!("no answer from {host} (via the proxy {proxy}) in time")
                }
            },
        );
    }
    if error.is_connect() {
        return fail(
            FailureKind::Connect,
            match route {
                Route::Direct => format!("could not connect to {host}: {root}"),
                Route::Proxy { .. } => format!("could not connect to the proxy {proxy}: {root}"),
            },
        );
    }
    fail(
        FailureKind::Other,
        match route {
            Route::Direct => format!("the request to {host} failed: {root}"),
            Route::Proxy { .. } => {
                format!("the request to {host} (via the proxy {proxy}) failed: {root}")
            }
        },
    )
}

/// A status the proxy itself answered with, when a request forwarded through
/// it (plain `http://`) got one: only 407 is unambiguously the proxy's.
pub fn proxy_status(status: u16, route: &Route, hints: &Hints) -> Option<Failure> {
    match route {
        Route::Proxy {
            address,
            authenticated,
        } if status == 407 => Some(proxy_auth(address, *authenticated, hints)),
        _ => None,
    }
}

fn proxy_auth(proxy: &str, authenticated: bool, hints: &Hints) -> Failure {
    let message = if authenticated {
        format!(
            "the proxy {proxy} rejected the user name and password (HTTP 407); {}",
            hints.proxy_credentials
        )
    } else {
        format!(
            "the proxy {proxy} asks for a user name and password (HTTP 407); {}",
            hints.proxy_credentials
        )
    };
    Failure {
        kind: FailureKind::ProxyAuth,
        message,
    }
}

fn certificate(tls: &rustls::Error, host: &str, route: &Route, hints: &Hints) -> Failure {
    use rustls::CertificateError as C;
    let by_proxy = match route {
        Route::Proxy { address, .. } => format!(" (the proxy {address} may be inspecting HTTPS)"),
        Route::Direct => String::new(),
    };
    let message = match tls {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
            "the certificate of {host} is not trusted: an authority Hearth does not know issued it{by_proxy}. \
             If your network inspects HTTPS with its own certificate authority, {}",
            hints.trust
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            format!("the certificate of {host} has expired (or this computer's clock is wrong)")
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            format!("the certificate {host} presented is for another name{by_proxy}")
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("the certificate of {host} was refused ({other:?}){by_proxy}")
        }
        other => {
            return Failure {
                kind: FailureKind::Other,
                message: format!("the secure connection to {host} failed: {other}"),
            };
        }
    };
    Failure {
        kind: FailureKind::Certificate,
        message,
    }
}

/// Every cause of `error`, innermost last, including errors an
/// `io::Error` wraps (whose `source()` skips them).
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        out.push(e);
        // An `io::Error` may wrap another (hyper-rustls wraps tokio-rustls's).
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// The innermost cause ("Connection refused (os error 111)").
pub fn root_cause(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Every cause joined with `: ` (for logs and builder errors, which carry
/// no URL).
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
