//! hearth-net: the one place Hearth builds HTTP clients.
//!
//! Both network crates (hearth-hub for Hugging Face, hearth-providers for
//! cloud models) get their clients here, so a proxy, a company CA or a
//! redirect rule is decided once and behaves the same everywhere. Nothing in
//! this crate reads the environment or knows Hearth's settings: hearth-core
//! turns both into a [`NetConfig`].
//!
//! - [`Net`] is the checked configuration: [`Net::client`] builds a
//!   `reqwest::Client` (proxies from [`ProxyConfig`], the system's
//!   certificates plus the user's CA files, a [`Redirects`] rule) and
//!   [`Net::route`] says whether a URL goes through a proxy, for the
//!   network ledger.
//! - [`explain`] turns a failed request into words that name the proxy, an
//!   untrusted certificate or a refused redirect ([`Failure`]).
//! - [`read_body`] and [`capped`] read what a server sends within limits
//!   ([`BodyLimits`], [`StreamCaps`]); [`Trickle`] notices a server that
//!   sends a byte now and then.
//! - [`redact`] and [`is_cleartext`] are how addresses are shown, and
//!   whether a credential may be sent to one.
//!
//! ```
//! use hearth_net::{ClientOptions, Net, NetConfig, NoProxy, ProxyConfig, ProxyServer, Redirects};
//! use reqwest::Url;
//!
//! let proxy = ProxyServer::parse("http://proxy.corp.example:3128")?;
//! let net = Net::new(NetConfig {
//!     proxy: ProxyConfig::all(proxy, NoProxy::parse("intranet.example")),
//!     ..NetConfig::default()
//! })?;
//! let route = net.route(&Url::parse("https://huggingface.co/api/models")?);
//! assert_eq!(route.via(), Some("proxy.corp.example:3128"));
//! let local = net.route(&Url::parse("http://127.0.0.1:11434/v1")?);
//! assert_eq!(local.via(), None, "this machine is never proxied");
//! let client = net.client(&ClientOptions {
//!     redirects: Redirects::AnyHost,
//!     ..ClientOptions::default()
//! })?;
//! # drop(client);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod body;
mod client;
mod failure;
mod proxy;
mod trust;

pub use address::{host_port, is_cleartext, is_loopback, redact, redact_url};
pub use body::{
    BodyError, BodyLimits, CapError, StreamCaps, Trickle, UnitMark, capped, human_bytes, read_body,
};
pub use client::{
    ClientOptions, Hints, MAX_REDIRECTS, Net, NetConfig, NetError, RedirectRefused, Redirects,
};
pub use failure::{Failure, FailureKind, explain, proxy_status, root_cause};
pub use proxy::{NoProxy, ProxyConfig, ProxyCredentials, ProxyError, ProxyServer, Route};
pub use reqwest;
pub use secrecy::SecretString;
pub use trust::TrustError;
