//! [`Net`]: the network settings every Hearth HTTP client is built from, and
//! the clients themselves (proxy, trust, redirect rules, timeouts).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls_pki_types::CertificateDer;

use crate::address::{host_port, redact_url, same_origin};
use crate::proxy::{ProxyConfig, Route};
use crate::trust::{TrustError, load_ca_file, system_roots};

/// The most redirects one request follows.
pub const MAX_REDIRECTS: usize = 10;

/// What the user chose for the network (a setting or the environment; the
/// caller decides which wins).
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    pub proxy: ProxyConfig,
    /// PEM (or DER) files of certificate authorities to trust besides the
    /// system's.
    pub ca_files: Vec<PathBuf>,
    pub hints: Hints,
}

/// What messages tell the user to do, in the words of the front end.
#[derive(Debug, Clone)]
pub struct Hints {
    /// How to make Hearth trust a certificate authority.
    pub trust: String,
    /// How to give the proxy a user name and password.
    pub proxy_credentials: String,
}

impl Default for Hints {
    fn default() -> Self {
        Self {
            trust: "add your network's CA certificate in Hearth's network settings".into(),
            proxy_credentials:
                "set the proxy's user name and password in Hearth's network settings".into(),
        }
    }
}

/// A network configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("cannot set up Hearth's HTTP client: {0}")]
    Client(String),
}

/// Which redirects a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redirects {
    /// Only to the same scheme, host and port (or from `http://` up to
    /// `https://` on the same host). For APIs whose credentials travel in
    /// headers reqwest does not know are secret (`x-api-key`,
    /// `x-goog-api-key`): they can never reach another host.
    #[default]
    SameOrigin,
    /// To any host (a download's CDN). Only for clients whose credentials
    /// are in `Authorization` (or cookies), which are dropped when a
    /// redirect leaves the host.
    AnyHost,
}

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    #[error(
        "{from} redirected to {to}, which is not encrypted (https:// to http://); Hearth does not follow that"
    )]
    Downgrade { from: String, to: String },
    #[error(
        "{from} redirected to another server ({to}); Hearth does not follow it, so nothing meant for {from} goes elsewhere"
    )]
    OtherHost { from: String, to: String },
    #[error("{from} redirected more than {limit} times")]
    TooMany { from: String, limit: usize },
}

impl RedirectRefused {
    /// The refusal behind a failed request, if that is what it was.
    pub fn of(error: &reqwest::Error) -> Option<&RedirectRefused> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            if let Some(refused) = e.downcast_ref::<RedirectRefused>() {
                return Some(refused);
            }
            cause = e.source();
        }
        None
    }
}

/// How one client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub redirects: Redirects,
    /// TCP and TLS set-up (through the proxy, when there is one).
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            redirects: Redirects::SameOrigin,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The network settings, checked and ready: builds every HTTP client Hearth
/// uses, and says how a URL is routed. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Net {
    proxy: Arc<ProxyConfig>,
    extra_roots: Arc<Vec<CertificateDer<'static>>>,
    ca_files: Arc<Vec<PathBuf>>,
    hints: Arc<Hints>,
}

impl Net {
    /// Checks `config` (reads and validates each CA file now, so a bad one
    /// is reported where it was set, not on the first request).
    pub fn new(config: NetConfig) -> Result<Self, NetError> {
        let mut roots = Vec::new();
        for path in &config.ca_files {
            roots.extend(load_ca_file(path)?);
        }
        Ok(Self {
            proxy: Arc::new(config.proxy),
            extra_roots: Arc::new(roots),
            ca_files: Arc::new(config.ca_files),
            hints: Arc::new(config.hints),
        })
    }

    pub fn proxy(&self) -> &ProxyConfig {
        &self.proxy
    }

    /// The extra CA files trusted besides the system's store.
    pub fn ca_files(&self) -> &[PathBuf] {
        &self.ca_files
    }

    pub fn hints(&self) -> &Hints {
        &self.hints
    }

    /// How a request to `url` would be routed.
    pub fn route(&self, url: &Url) -> Route {
        self.proxy.route(url)
    }

    /// A client with these settings. Build one per server (or per use) and
    /// keep it: it holds the connection pool.
    pub fn client(&self, options: &ClientOptions) -> Result<reqwest::Client, NetError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .redirect(redirect_policy(options.redirects))
            // Roots are Hearth's choice (see `trust.rs`), never reqwest's defaults.
            .tls_built_in_root_certs(false);
        let system = system_roots();
        if system.certs.is_empty() {
            builder = builder.tls_built_in_webpki_certs(true);
        }
        for der in system.certs.iter().chain(self.extra_roots.iter()) {
            let cert =
                reqwest::Certificate::from_der(der).map_err(|e| NetError::Client(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        // Never reqwest's own reading of the environment: the proxy is what
        // the caller configured, decided by `ProxyConfig` alone.
        builder = builder.no_proxy();
        for proxy in self.proxy.reqwest_proxies() {
            builder = builder.proxy(proxy);
        }
        builder
            .build()
            .map_err(|e| NetError::Client(crate::failure::chain(&e)))
    }
}

fn redirect_policy(redirects: Redirects) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let refused = {
            let next = attempt.url();
            match attempt.previous().last() {
                None => None,
                Some(_) if attempt.previous().len() >= MAX_REDIRECTS => {
                    Some(RedirectRefused::TooMany {
                        from: attempt
                            .previous()
                            .first()
                            .map(host_port)
                            .unwrap_or_default(),
                        limit: MAX_REDIRECTS,
                    })
                }
                Some(prev) if prev.scheme() == "https" && next.scheme() != "https" => {
                    Some(RedirectRefused::Downgrade {
                        from: host_port(prev),
                        to: redact_url(next),
                    })
                }
                Some(prev)
                    if redirects == Redirects::SameOrigin
                        && !same_origin(prev, next)
                        && !is_upgrade(prev, next) =>
                {
                    Some(RedirectRefused::OtherHost {
                        from: host_port(prev),
                        to: host_port(next),
                    })
                }
                Some(_) => None,
            }
        };
        match refused {
            Some(refused) => {
                tracing::warn!(%refused, "redirect refused");
                attempt.error(refused)
            }
            None => attempt.follow(),
        }
    })
}

/// `http://host/…` to `https://host/…` on the default ports.
fn is_upgrade(prev: &Url, next: &Url) -> bool {
    prev.scheme() == "http"
        && next.scheme() == "https"
        && prev.host_str().map(str::to_ascii_lowercase)
            == next.host_str().map(str::to_ascii_lowercase)
        && prev.port_or_known_default() == Some(80)
        && next.port_or_known_default() == Some(443)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_are_same_host_default_ports_only() {
        let u = |t: &str| Url::parse(t).unwrap();
        assert!(is_upgrade(
            &u("http://a.example/x"),
            &u("https://a.example/y")
        ));
        assert!(!is_upgrade(
            &u("http://a.example/"),
            &u("https://b.example/")
        ));
        assert!(!is_upgrade(
            &u("http://a.example:8080/"),
            &u("https://a.example/")
        ));
        assert!(!is_upgrade(
            &u("https://a.example/"),
            &u("http://a.example/")
        ));
    }

    #[test]
    fn a_missing_ca_file_is_reported_where_it_was_set() {
        let err = Net::new(NetConfig {
            ca_files: vec!["/nonexistent/corp-ca.pem".into()],
            ..NetConfig::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/corp-ca.pem"),
            "{err}"
        );
    }
}
