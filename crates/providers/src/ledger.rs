//! What leaves the machine: one [`NetworkEvent`] per HTTP attempt, handed to
//! a [`NetworkObserver`] (the app's network ledger), the offline switch, and
//! the network settings (proxy, trusted CAs) every provider's client is
//! built with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use hearth_net::Net;
use serde::Serialize;

/// Why Hearth talked to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A chat request (one attempt of it).
    ProviderCall,
    /// Listing the provider's models (`hearth provider test`, model pickers).
    ListModels,
}

/// One HTTP attempt. Retries are separate events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkEvent {
    /// The host contacted (never the full URL).
    pub host: String,
    pub purpose: Purpose,
    /// The configured provider's name.
    pub provider: String,
    pub started_at: SystemTime,
    /// Request body bytes.
    pub bytes_sent: u64,
    /// Response body bytes read.
    pub bytes_received: u64,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Whether the attempt succeeded.
    pub ok: bool,
    /// The proxy (`host:port`) the request went through, if any.
    pub via: Option<String>,
}

/// Receives every [`NetworkEvent`]. Called on the request's task: keep it quick.
pub trait NetworkObserver: Send + Sync {
    fn record(&self, event: &NetworkEvent);
}

/// The app-wide network settings a provider obeys.
#[derive(Clone, Default)]
pub struct Network {
    pub observer: Option<Arc<dyn NetworkObserver>>,
    /// When `true` nothing is sent, and nothing is recorded.
    pub offline: Arc<AtomicBool>,
    /// Proxy and trusted certificate authorities (default: direct, the
    /// system's certificates).
    pub net: Net,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("observer", &self.observer.is_some())
            .field("offline", &self.is_offline())
            .field("proxy", &!self.net.proxy().is_direct())
            .finish()
    }
}

impl Network {
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::SeqCst)
    }

    pub(crate) fn record(&self, event: NetworkEvent) {
        if let Some(observer) = &self.observer {
            observer.record(&event);
        }
    }
}
