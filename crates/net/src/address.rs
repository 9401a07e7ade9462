//! Addresses as Hearth shows and judges them: redacted for messages and logs,
//! and whether something sent to them travels in cleartext off this machine.

use reqwest::Url;
use url::Host;

/// `text` fit for a message or a log line: user name, password, query and
/// fragment removed (a query is marked `?…`, so a reader knows there was one).
/// Text that is not a URL is not echoed.
///
/// ```
/// use hearth_net::redact;
/// assert_eq!(
///     redact("https://me:secret@proxy.example:8443/v1?key=abc#top"),
///     "https://proxy.example:8443/v1?…"
/// );
/// assert_eq!(redact("not a url with a key sk-123"), "(not a URL)");
/// ```
pub fn redact(text: &str) -> String {
    match Url::parse(text.trim()) {
        Ok(url) => redact_url(&url),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// [`redact`] for a parsed URL.
pub fn redact_url(url: &Url) -> String {
    let had_query = url.query().is_some_and(|q| !q.is_empty());
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have credentials (`mailto:`).
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    let mut text = shown.to_string();
    if had_query {
        text.push_str("?…");
    }
    text
}

/// `host` or `host:port` (when the port is not the scheme's default): what
/// the network ledger and messages name.
pub fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Whether `url` names this machine: `localhost` (and `*.localhost`, which
/// RFC 6761 reserves for it), `127.0.0.0/8` or `::1`.
///
/// Names are not resolved: a name that merely resolves to 127.0.0.1 is
/// treated as another machine, which errs on the safe side.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Whether a request to `url` would cross the network unencrypted: plain
/// `http://` to anything but this machine (the LAN included: a laptop's
/// `192.168.1.10` at home is a stranger's machine in a café).
pub fn is_cleartext(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// Same scheme, host and port: what a browser calls the same origin.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn redaction_drops_credentials_query_and_fragment() {
        assert_eq!(
            redact("http://user:pw@127.0.0.1:11434/v1"),
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(
            redact("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
        assert_eq!(redact(" https://h/x?api-key=k "), "https://h/x?…");
        assert_eq!(redact("https://h/x?"), "https://h/x");
        assert_eq!(redact(""), "(not a URL)");
        assert_eq!(redact("sk-planted"), "(not a URL)");
    }

    #[test]
    fn host_port_names_non_default_ports_only() {
        assert_eq!(
            host_port(&url("https://api.openai.com/v1")),
            "api.openai.com"
        );
        assert_eq!(
            host_port(&url("https://api.openai.com:443/v1")),
            "api.openai.com"
        );
        assert_eq!(host_port(&url("http://10.0.0.5:8000/v1")), "10.0.0.5:8000");
        assert_eq!(host_port(&url("http://[::1]:8000/")), "[::1]:8000");
    }

    #[test]
    fn loopback_is_this_machine_only() {
        for local in [
            "http://localhost:11434/v1",
            "http://LOCALHOST./",
            "http://ollama.localhost/",
            "http://127.0.0.1/",
            "http://127.8.9.10/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_loopback(&url(local)), "{local}");
            assert!(!is_cleartext(&url(local)), "{local}");
        }
        for remote in [
            "http://192.168.1.10:11434/v1",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "http://notlocalhost/",
            "http://[fe80::1]/",
            "http://ollama.local/",
        ] {
            assert!(!is_loopback(&url(remote)), "{remote}");
            assert!(is_cleartext(&url(remote)), "{remote}");
        }
        assert!(!is_cleartext(&url("https://192.168.1.10/")));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            &url("https://A.example/x"),
            &url("https://a.example:443/y")
        ));
        assert!(!same_origin(
            &url("https://a.example/"),
            &url("http://a.example/")
        ));
        assert!(!same_origin(
            &url("https://a.example/"),
            &url("https://b.example/")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:1/"),
            &url("http://127.0.0.1:2/")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:1/"),
            &url("http://localhost:1/")
        ));
    }
}
