//! The HTTP server: the Kubernetes API paths plus the `/_emulator/` control surface.

// Helpers return ready-made error responses as `Err`; they are built at most once per
// request, so their size does not matter.
#![allow(clippy::result_large_err)]

mod api;
mod control;
mod discovery;
mod review;
mod status;
mod table;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

    /// The API server restarts: it stops (the port refuses connections, open watches end,
    /// requests in flight get a second to finish), stays down for `downtime`, and comes back
    /// on the same address with the same objects and resourceVersions but no event history —
    /// a new apiserver's watch cache starts at the current revision, so a watch or `continue`
    /// token from before the restart gets 410 Gone.
    pub async fn restart(&mut self, downtime: Duration) -> Result<()> {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        self.emulator.compact();
        tokio::time::sleep(downtime).await;
        let listener = bind(self.addr).await?;
        let (shutdown, task) = spawn_server(self.emulator.clone(), listener, self.addr);
        self.shutdown = shutdown;
        self.task = Some(task);
        Ok(())
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
        let listener = bind(addr).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let (shutdown, task) = spawn_server(self.clone(), listener, bound);
        tracing::info!(url = %format!("http://{bound}"), "kube-emulator serving");
        Ok(ServerHandle {
            addr: bound,
            emulator: self,
            shutdown,
            task: Some(task),
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves `emu` on `listener` until the returned sender says to stop.
fn spawn_server(
    emu: Arc<Emulator>,
    listener: tokio::net::TcpListener,
    bound: SocketAddr,
) -> (tokio_watch::Sender<bool>, JoinHandle<()>) {
    let (tx, rx) = tokio_watch::channel(false);
    let app = router(AppState {
        emu,
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
    (tx, task)
}

fn router(state: AppState) -> Router {
    Router::new()
        .nest("/_emulator", control::routes())
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            axum::routing::post(review::token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            axum::routing::post(review::subject_access_review),
        )
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
    /// meta.k8s.io/v1 `Table` (kubectl get), its rows' `object` as `includeObject` asks.
    Table(table::IncludeObject),
}

/// One JSON media range of `Accept` (others are skipped): its `as`, `g` and `v` parameters.
struct JsonMediaRange<'a> {
    as_: Option<&'a str>,
    g: Option<&'a str>,
    v: Option<&'a str>,
}

/// The JSON media ranges of `Accept` in the client's order; None when there is no `Accept`.
fn json_media_ranges(headers: &HeaderMap) -> Option<impl Iterator<Item = JsonMediaRange<'_>>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())?;
    Some(accept.split(',').filter_map(|media| {
        let mut parts = media.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("");
        if !matches!(mime, "application/json" | "*/*" | "application/*" | "") {
            return None;
        }
        let mut range = JsonMediaRange {
            as_: None,
            g: None,
            v: None,
        };
        for p in parts {
            match p.split_once('=') {
                Some(("as", v)) => range.as_ = Some(v),
                Some(("g", v)) => range.g = Some(v),
                Some(("v", v)) => range.v = Some(v),
                _ => {}
            }
        }
        Some(range)
    }))
}

/// Picks the first media type in `Accept` the emulator can produce; None = 406.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(mut ranges) = json_media_ranges(headers) else {
        return Some(Format::Full);
    };
    ranges.find_map(|m| match (m.as_, m.g) {
        (None, _) => Some(Format::Full),
        (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
            Some(Format::Metadata)
        }
        (Some("Table"), Some("meta.k8s.io")) => Some(Format::Table(Default::default())),
        _ => None,
    })
}

/// Whether `/api` or `/apis` should answer aggregated discovery (apidiscovery.k8s.io/v2):
/// the first media type in `Accept` the emulator can produce asks for it. Anything else gets
/// the legacy documents (v2beta1, removed in 1.33, is not produced).
pub(crate) fn wants_aggregated_discovery(headers: &HeaderMap) -> bool {
    json_media_ranges(headers)
        .and_then(|mut ranges| {
            ranges.find_map(|m| match (m.as_, m.g, m.v) {
                (None, _, _) => Some(false),
                (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                    Some(true)
                }
                _ => None,
            })
        })
        .unwrap_or(false)
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
            Some(Format::Table(table::IncludeObject::Metadata))
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

    #[test]
    fn discovery_negotiation() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated_discovery(&accept(kubectl)));
        assert!(wants_aggregated_discovery(&accept(
            "application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList"
        )));
        for legacy in [
            "application/json",
            "application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
            "application/vnd.kubernetes.protobuf",
        ] {
            assert!(!wants_aggregated_discovery(&accept(legacy)), "{legacy}");
        }
        assert!(!wants_aggregated_discovery(&HeaderMap::new()));
    }
}
