//! hearth-net against real servers on 127.0.0.1: a proxy that tunnels,
//! forwards, wants credentials or misbehaves; a TLS stand-in whose
//! certificate a throwaway "company" CA signed; hostile redirects and bodies.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;
mod proxy;
mod redirects;
mod tls;

use hearth_net::{ClientOptions, Net, NetConfig, NoProxy, ProxyConfig, ProxyServer, Redirects};

/// A name only the test proxy can reach (it sends every host to 127.0.0.1).
pub(crate) const HUB_NAME: &str = "hub.hearth.test";

/// Through `proxy` (an address, with credentials if any) for every destination.
pub(crate) fn via(proxy: &str) -> NetConfig {
    NetConfig {
        proxy: ProxyConfig::all(ProxyServer::parse(proxy).unwrap(), NoProxy::default()),
        ..NetConfig::default()
    }
}

pub(crate) fn client(net: &Net, redirects: Redirects) -> reqwest::Client {
    net.client(&ClientOptions {
        redirects,
        ..ClientOptions::default()
    })
    .unwrap()
}
