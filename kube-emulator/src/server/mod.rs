//! The HTTP server: the Kubernetes API paths plus the `/_emulator/` control surface.

// Helpers return ready-made error responses as `Err`; they are built at most once per
// request, so their size does not matter.
#![allow(clippy::result_large_err)]

mod api;
mod control;
mod discovery;
mod status;
mod table;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

use crate::emulator::Emulator;
use crate::error::{Error, Result};

/// Shared by all handlers of one server.
#[derive(Clone)]
pub(crate) struct AppState {
    pub emu: Arc<Emulator>,
    /// Flips to true when the server shuts down so open watches end.
    pub shutdown: tokio_watch::Receiver<bool>,
    /// `host:port` for `/api`'s serverAddressByClientCIDRs.
    pub address: String,
}

/// A running server; dropping it shuts the server down (without waiting).
pub struct ServerHandle {
    addr: SocketAddr,
    emulator: Arc<Emulator>,
    shutdown: tokio_watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulator being served.
    pub fn emulator(&self) -> &Arc<Emulator> {
        &self.emulator
    }

    /// Stops accepting connections, ends open watches and waits for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl Emulator {
    /// The axum router serving this emulator (for embedding into another server).
    pub fn router(self: &Arc<Self>) -> Router {
        let (_tx, rx) = tokio_watch::channel(false);
        // The sender is dropped: a closed channel reads as "never shutting down".
        router(AppState {
            emu: self.clone(),
            shutdown: rx,
            address: "127.0.0.1:6443".into(),
        })
    }

    /// Binds `addr` (port 0 picks a free port) and serves in the background on the current
    /// tokio runtime.
    pub async fn serve(self: Arc<Self>, addr: SocketAddr) -> Result<ServerHandle> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let (tx, rx) = tokio_watch::channel(false);
        let app = router(AppState {
            emu: self.clone(),
            shutdown: rx.clone(),
            address: bound.to_string(),
        });
        let mut stop = rx;
        let task = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "emulator server stopped with an error");
            }
        });
        tracing::info!(url = %format!("http://{bound}"), "kube-emulator serving");
        Ok(ServerHandle {
            addr: bound,
            emulator: self,
            shutdown: tx,
            task: Some(task),
        })
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .nest("/_emulator", control::routes())
        .fallback(api::handle)
        // Control-surface applies can carry whole clusters.
        .layer(DefaultBodyLimit::max(512 * 1024 * 1024))
        .with_state(state)
}

/// The client identity byte counters are kept under: the bearer token, else `anonymous`.
pub(crate) fn client_id(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "anonymous".to_string())
}

/// The representation a client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Full objects.
    Full,
    /// `PartialObjectMetadata(List)` from meta.k8s.io/v1.
    Metadata,
    /// meta.k8s.io/v1 `Table` (kubectl get).
    Table,
}

/// Picks the first media type in `Accept` the emulator can produce; None = 406.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Format::Full);
    };
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("");
        if !matches!(mime, "application/json" | "*/*" | "application/*" | "") {
            continue;
        }
        let mut as_ = None;
        let mut g = None;
        for p in parts {
            match p.split_once('=') {
                Some(("as", v)) => as_ = Some(v),
                Some(("g", v)) => g = Some(v),
                _ => {}
            }
        }
        match (as_, g) {
            (None, _) => return Some(Format::Full),
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Some(Format::Metadata);
            }
            (Some("Table"), Some("meta.k8s.io")) => return Some(Format::Table),
            _ => continue,
        }
    }
    None
}

/// Whether the client accepts gzip.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Format::Full));
        assert_eq!(negotiate(&accept("application/json")), Some(Format::Full));
        assert_eq!(
            negotiate(&accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Some(Format::Metadata)
        );
        assert_eq!(
            negotiate(&accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            )),
            Some(Format::Table)
        );
        assert_eq!(
            negotiate(&accept(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            )),
            Some(Format::Full)
        );
        assert_eq!(
            negotiate(&accept("application/vnd.kubernetes.protobuf")),
            None
        );
    }
}
