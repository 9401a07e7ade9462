//! Which proxy a request goes through.
//!
//! A [`ProxyConfig`] holds at most one proxy for `http://` and one for
//! `https://` destinations, with `NO_PROXY`-style exceptions. The caller
//! decides where they come from (a setting, or the conventional variables
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`: hearth-core reads
//! them); this module only parses and decides.
//!
//! Rules, as curl and most tools apply them:
//! - a proxy written without a scheme (`proxy.corp:3128`) is an HTTP proxy;
//! - an exception is `*` (nothing is proxied), an IP address, a network
//!   (`10.0.0.0/8`), or a domain, which also covers its subdomains
//!   (`corp.example` and `.corp.example` both match `git.corp.example`);
//!   a `:port` on an exception is ignored;
//! - and, as Go's and Ollama's clients do, this machine (`localhost`,
//!   `127.0.0.0/8`, `::1`) is never reached through a proxy: a local server
//!   must not depend on, or be seen by, a company proxy.
//!
//! Proxy credentials are a [`SecretString`] from the moment they are read;
//! `Debug` and `Display` never show them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use url::Host;

use crate::address::{host_port, is_loopback, redact};

/// A proxy address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the proxy address is empty")]
    Empty,
    #[error("{shown} is not a proxy address ({reason})")]
    Invalid { shown: String, reason: String },
    #[error(
        "{shown} is a SOCKS proxy, which Hearth does not support; use an HTTP proxy (http://host:port)"
    )]
    Socks { shown: String },
    #[error("{shown}: a proxy address starts with http:// or https://")]
    Scheme { shown: String },
}

/// A user name and password for a proxy (`Proxy-Authorization: Basic`).
#[derive(Clone)]
pub struct ProxyCredentials {
    pub username: String,
    pub password: SecretString,
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// One proxy server: where it is and, optionally, who we are to it.
#[derive(Clone)]
pub struct ProxyServer {
    /// `scheme://host:port/`, without credentials.
    url: Url,
    credentials: Option<ProxyCredentials>,
}

impl fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyServer")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl fmt::Display for ProxyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str().trim_end_matches('/'))
    }
}

impl PartialEq for ProxyServer {
    fn eq(&self, other: &Self) -> bool {
        let creds = |c: &Option<ProxyCredentials>| {
            c.as_ref()
                .map(|c| (c.username.clone(), c.password.expose_secret().to_owned()))
        };
        self.url == other.url && creds(&self.credentials) == creds(&other.credentials)
    }
}

impl Eq for ProxyServer {}

impl ProxyServer {
    /// Parses `http://[user:password@]host[:port]` (or `https://`); without a
    /// scheme, `http://` is meant. A user name and password in the address
    /// (percent-encoded, as in `HTTPS_PROXY`) become its credentials.
    pub fn parse(text: &str) -> Result<Self, ProxyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ProxyError::Empty);
        }
        let full = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let shown = redact(&full);
        let mut url = Url::parse(&full).map_err(|e| ProxyError::Invalid {
            shown: shown.clone(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            "socks4" | "socks4a" | "socks5" | "socks5h" => {
                return Err(ProxyError::Socks { shown });
            }
            _ => return Err(ProxyError::Scheme { shown }),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ProxyError::Invalid {
                shown,
                reason: "no host".into(),
            });
        }
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ProxyError::Invalid {
                    shown: shown.clone(),
                    reason: "the user name or password is not UTF-8".into(),
                })
        };
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            Some(ProxyCredentials {
                username: decode(url.username())?,
                password: SecretString::from(decode(url.password().unwrap_or(""))?),
            })
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self { url, credentials })
    }

    /// The same proxy with these credentials (replacing any in the address).
    pub fn with_credentials(mut self, credentials: Option<ProxyCredentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// `scheme://host:port/`, without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `host:port`, for the network ledger and messages.
    pub fn address(&self) -> String {
        host_port(&self.url)
    }

    pub fn credentials(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_ref()
    }
}

impl FromStr for ProxyServer {
    type Err = ProxyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// `NO_PROXY`: destinations reached directly although a proxy is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Exception>,
    /// As written, for display.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Exception {
    Everything,
    Ip(IpAddr),
    Network(IpNet),
    /// Lower case, without a leading `.` or `*.` and a trailing `.`.
    Domain(String),
}

impl NoProxy {
    /// Parses a list separated by commas or white space.
    pub fn parse(list: &str) -> Self {
        let entries = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter_map(Exception::parse)
            .collect::<Vec<_>>();
        let text = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        Self { entries, text }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `url`'s host is one of the exceptions.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host() else {
            return false;
        };
        let ip = match &host {
            Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
            Host::Domain(_) => None,
        };
        let domain = match &host {
            Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        };
        self.entries.iter().any(|entry| match (entry, ip, &domain) {
            (Exception::Everything, _, _) => true,
            (Exception::Ip(a), Some(ip), _) => a.eq(&ip),
            (Exception::Network(net), Some(ip), _) => net.contains(&ip),
            (Exception::Domain(d), _, Some(host)) => {
                host == d
                    || host
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            _ => false,
        })
    }
}

impl fmt::Display for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Exception {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Self::Everything);
        }
        let bare = entry.trim_start_matches('[');
        if let Ok(net) = bare.trim_end_matches(']').parse::<IpNet>() {
            return Some(Self::Network(net));
        }
        // `[::1]`, `[::1]:8080`, `10.0.0.1:8080`: the port is ignored.
        let without_port = match entry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => match entry.rsplit_once(':') {
                Some((host, port))
                    if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    host
                }
                _ => entry,
            },
        };
        if let Ok(ip) = without_port.parse::<IpAddr>() {
            return Some(Self::Ip(ip));
        }
        let domain = without_port
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        (!domain.is_empty()).then_some(Self::Domain(domain))
    }
}

/// The proxies to use, per destination scheme, and their exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `http://` destinations (the request is forwarded by the proxy).
    pub http: Option<ProxyServer>,
    /// For `https://` destinations (a `CONNECT` tunnel: the proxy sees the
    /// host name, never the content).
    pub https: Option<ProxyServer>,
    pub no_proxy: NoProxy,
}

impl ProxyConfig {
    /// No proxy: every connection is direct.
    pub fn direct() -> Self {
        Self::default()
    }

    /// One proxy for every destination, except those in `no_proxy`.
    pub fn all(server: ProxyServer, no_proxy: NoProxy) -> Self {
        Self {
            http: Some(server.clone()),
            https: Some(server),
            no_proxy,
        }
    }

    /// From the conventional variables' values: `https` (`HTTPS_PROXY`),
    /// `http` (`HTTP_PROXY`), `all` (`ALL_PROXY`, for whichever of the two is
    /// not set) and `no_proxy` (`NO_PROXY`). Empty values count as unset.
    pub fn from_values(
        http: Option<&str>,
        https: Option<&str>,
        all: Option<&str>,
        no_proxy: Option<&str>,
    ) -> Result<Self, ProxyError> {
        let parse = |value: Option<&str>| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(ProxyServer::parse)
                .transpose()
        };
        let all = parse(all)?;
        Ok(Self {
            http: parse(http)?.or_else(|| all.clone()),
            https: parse(https)?.or(all),
            no_proxy: NoProxy::parse(no_proxy.unwrap_or("")),
        })
    }

    /// Whether any destination goes through a proxy.
    pub fn is_direct(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn proxy_for(&self, url: &Url) -> Option<&ProxyServer> {
        if is_loopback(url) || self.no_proxy.matches(url) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }
    }

    /// How a request to `url` is routed, for the ledger and messages.
    pub fn route(&self, url: &Url) -> Route {
        match self.proxy_for(url) {
            Some(proxy) => Route::Proxy {
                address: proxy.address(),
                authenticated: proxy.credentials.is_some(),
            },
            None => Route::Direct,
        }
    }

    /// The rules as reqwest applies them: one matcher per destination
    /// scheme, each deciding with [`ProxyConfig::proxy_for`], so the ledger
    /// and the connection can never disagree.
    pub(crate) fn reqwest_proxies(&self) -> Vec<reqwest::Proxy> {
        let mut proxies = Vec::new();
        for (scheme, server) in [("http", &self.http), ("https", &self.https)] {
            let Some(server) = server.clone() else {
                continue;
            };
            let rules = self.clone();
            let target = server.url.clone();
            let mut proxy = reqwest::Proxy::custom(move |url: &Url| {
                (url.scheme() == scheme && rules.proxy_for(url).is_some()).then(|| target.clone())
            });
            if let Some(c) = &server.credentials {
                proxy = proxy.basic_auth(&c.username, c.password.expose_secret());
            }
            proxies.push(proxy);
        }
        proxies
    }
}

/// How a request reaches its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Direct,
    /// Through the proxy at `address` (`host:port`).
    Proxy {
        address: String,
        /// Whether Hearth sends the proxy a user name and password.
        authenticated: bool,
    },
}

impl Route {
    /// The proxy's `host:port`, if there is one.
    pub fn via(&self) -> Option<&str> {
        match self {
            Self::Direct => None,
            Self::Proxy { address, .. } => Some(address),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct => f.write_str("direct"),
            Self::Proxy { address, .. } => write!(f, "via proxy {address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn proxy_addresses_parse_like_curl_reads_them() {
        let p = ProxyServer::parse("proxy.corp:3128").unwrap();
        assert_eq!(p.url().as_str(), "http://proxy.corp:3128/");
        assert_eq!(p.address(), "proxy.corp:3128");
        assert!(p.credentials().is_none());
        assert_eq!(p.to_string(), "http://proxy.corp:3128");

        let p =
            ProxyServer::parse(" http://al%40corp:p%3Ass%20w@10.1.2.3:8080/ignored?x=1 ").unwrap();
        assert_eq!(p.url().as_str(), "http://10.1.2.3:8080/");
        let c = p.credentials().unwrap();
        assert_eq!(c.username, "al@corp");
        assert_eq!(c.password.expose_secret(), "p:ss w");
        let shown = format!("{p:?} {p}");
        assert!(
            !shown.contains("p:ss") && !shown.contains("p%3Ass"),
            "{shown}"
        );

        assert_eq!(
            ProxyServer::parse("https://secure.proxy")
                .unwrap()
                .address(),
            "secure.proxy"
        );
        assert_eq!(ProxyServer::parse("  "), Err(ProxyError::Empty));
        let socks = ProxyServer::parse("socks5h://u:pw-planted@127.0.0.1:1080").unwrap_err();
        assert!(matches!(socks, ProxyError::Socks { .. }), "{socks}");
        assert!(!socks.to_string().contains("pw-planted"), "{socks}");
        assert!(matches!(
            ProxyServer::parse("ftp://proxy:21"),
            Err(ProxyError::Scheme { .. })
        ));
        let bad = ProxyServer::parse("http://u:pw-planted@[zz]:1").unwrap_err();
        assert!(matches!(bad, ProxyError::Invalid { .. }), "{bad}");
        assert!(!bad.to_string().contains("pw-planted"), "{bad}");
    }

    #[test]
    fn no_proxy_matches_hosts_domains_and_networks() {
        let list =
            NoProxy::parse("corp.example, .internal  10.0.0.0/8,192.168.1.7:8080,[fd00::1],*.test");
        for direct in [
            "https://corp.example/",
            "https://git.corp.example/",
            "https://CORP.EXAMPLE./",
            "http://a.b.internal/",
            "http://internal/",
            "http://10.200.3.4:11434/",
            "http://192.168.1.7/",
            "http://[fd00::1]:80/",
            "https://hub.hearth.test/",
        ] {
            assert!(list.matches(&url(direct)), "{direct}");
        }
        for proxied in [
            "https://notcorp.example/",
            "https://corp.example.com/",
            "http://192.168.1.8/",
            "http://11.0.0.1/",
            "https://huggingface.co/",
        ] {
            assert!(!list.matches(&url(proxied)), "{proxied}");
        }
        assert!(NoProxy::parse("*").matches(&url("https://anything/")));
        assert!(NoProxy::parse("").is_empty());
        assert_eq!(
            list.to_string(),
            "corp.example,.internal,10.0.0.0/8,192.168.1.7:8080,[fd00::1],*.test"
        );
    }

    #[test]
    fn routes_follow_scheme_exceptions_and_never_proxy_this_machine() {
        let config = ProxyConfig::from_values(
            Some("http://plain.proxy:3128"),
            None,
            Some("http://user:pw@all.proxy:8080"),
            Some("intranet.corp"),
        )
        .unwrap();
        assert_eq!(
            config.route(&url("http://example.com/")).via(),
            Some("plain.proxy:3128")
        );
        assert_eq!(
            config.route(&url("https://example.com/")),
            Route::Proxy {
                address: "all.proxy:8080".into(),
                authenticated: true
            }
        );
        for direct in [
            "https://wiki.intranet.corp/",
            "http://localhost:11434/v1",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
        ] {
            assert_eq!(config.route(&url(direct)), Route::Direct, "{direct}");
        }
        assert_eq!(Route::Direct.to_string(), "direct");
        assert_eq!(
            config.route(&url("https://x/")).to_string(),
            "via proxy all.proxy:8080"
        );
        let none = ProxyConfig::from_values(Some(" "), None, None, None).unwrap();
        assert!(none.is_direct());
        assert!(ProxyConfig::from_values(None, Some("socks5://x"), None, None).is_err());
    }
}
