//! Server-side sharding over HTTP (`--shard-mode=server`, Kubernetes 1.36, KEP-5866): a tower
//! layer for the kube client that adds this shard's `shardSelector` to the lists and watches
//! of the watched resources, and finds out per resource what the API server did with it:
//!
//! - honoured: the list's `metadata.shardInfo.selector` echoes the selector (1.36+ with the
//!   `ShardedListAndWatch` gate on) — only this shard's objects are pulled;
//! - ignored: no `shardInfo` (older servers, or the gate off) — everything is pulled;
//! - rejected: 400 Bad Request — the request is sent again at once without the selector, and
//!   further pages and watches go without it; the next relist tries again.
//!
//! Whatever the server does, the watch layer keeps applying the same range check
//! ([`super::Shard::keeps`], one FNV-1a hash per object), so the assignment never depends on
//! the server: a watch served by another apiserver of a control plane mid-upgrade cannot leak
//! other shards' objects. The outcome is logged when it changes and exposed as
//! `kube_state_otel_shard_server_filtered{resource}`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kube::client::{Body, DynBody};
use serde::Deserialize;
use tower::{BoxError, Layer, Service};

use super::Shard;
use super::api_calls::{ResourceLabels, with_query_param};
use super::resend::{Shared, copy};
use crate::telemetry::{ApiCall, Telemetry};

/// What the API server did with the selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Honoured,
    Ignored,
    Rejected,
}

/// The selector to send and what became of it, shared by the pipeline and the layer.
pub struct ServerSharding {
    /// `None` unless `--shard-mode=server` with more than one shard.
    selector: RwLock<Option<String>>,
    /// The built-in kinds' selectors are sent (custom resources' are only counted).
    labels: Arc<ResourceLabels>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    telemetry: Arc<Telemetry>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServerSharding {
    pub fn new(telemetry: Arc<Telemetry>, labels: Arc<ResourceLabels>) -> Arc<Self> {
        Arc::new(ServerSharding {
            selector: RwLock::new(None),
            labels,
            outcomes: Mutex::new(HashMap::new()),
            telemetry,
        })
    }

    /// Sets the shard whose selector is sent (before the watchers start).
    pub fn set_shard(&self, shard: &Shard) {
        *self.selector.write().unwrap_or_else(|p| p.into_inner()) = shard.selector();
    }

    /// The `resource` labels of the lists and watches, shared with the other layers.
    pub fn labels(&self) -> &Arc<ResourceLabels> {
        &self.labels
    }

    /// The layer to add to the kube client.
    pub fn layer(self: &Arc<Self>) -> ShardSelectorLayer {
        ShardSelectorLayer(self.clone())
    }

    /// `(resource label, call, selector)` when `request` should carry the selector.
    fn applies<B>(&self, request: &Request<B>) -> Option<(String, ApiCall, String)> {
        let (call, resource) = self.labels.of_builtin(request)?;
        let selector = self
            .selector
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some((resource.to_string(), call, selector))
    }

    fn outcome(&self, resource: &str) -> Option<Outcome> {
        lock(&self.outcomes).get(resource).copied()
    }

    fn record(&self, resource: &str, outcome: Outcome) {
        if lock(&self.outcomes).insert(resource.to_string(), outcome) == Some(outcome) {
            return;
        }
        self.telemetry
            .set_server_sharding(resource, outcome == Outcome::Honoured);
        match outcome {
            Outcome::Honoured => tracing::info!(
                resource,
                "server-side sharding: the API server sends only this shard's objects"
            ),
            Outcome::Ignored => tracing::warn!(
                resource,
                "server-side sharding: the API server ignored shardSelector (no shardInfo in the list); every object is pulled and filtered here"
            ),
            Outcome::Rejected => tracing::warn!(
                resource,
                "server-side sharding: the API server rejected shardSelector (400); listing without it and filtering here"
            ),
        }
    }
}

/// Adds the shard selector to list and watch requests (see the module docs).
#[derive(Clone)]
pub struct ShardSelectorLayer(Arc<ServerSharding>);

impl<S> Layer<S> for ShardSelectorLayer {
    type Service = WithShardSelector<S>;

    fn layer(&self, inner: S) -> WithShardSelector<S> {
        WithShardSelector {
            inner: Shared::new(inner),
            shared: self.0.clone(),
        }
    }
}

/// The service of [`ShardSelectorLayer`]. A rejected request is sent again.
pub struct WithShardSelector<S> {
    inner: Shared<S>,
    shared: Arc<ServerSharding>,
}

impl<S> Service<Request<Body>> for WithShardSelector<S>
where
    S: Service<Request<Body>, Response = Response<Box<DynBody>>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    /// Readiness is awaited in each call, under the lock.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let Some((resource, call, selector)) = shared.applies(&request) else {
                return inner.send(request).await;
            };
            // A list's first page finds out; its further pages and the watch follow.
            let first_page = call == ApiCall::List && !has_param(&request, "continue");
            if !first_page && shared.outcome(&resource) == Some(Outcome::Rejected) {
                return inner.send(request).await;
            }
            let plain = copy(&request);
            let response = inner
                .send(with_query_param(request, "shardSelector", &selector))
                .await?;
            if response.status() == StatusCode::BAD_REQUEST
                && let Some(plain) = plain
            {
                let retry = inner.send(plain).await?;
                if retry.status().is_success() {
                    shared.record(&resource, Outcome::Rejected);
                }
                return Ok(retry);
            }
            if call == ApiCall::List && response.status().is_success() {
                return Ok(response.map(|body| {
                    Box::new(ScanShardInfo {
                        inner: body,
                        head: Vec::new(),
                        done: false,
                        resource,
                        selector,
                        shared,
                    }) as Box<DynBody>
                }));
            }
            Ok(response)
        })
    }
}

fn has_param<B>(request: &Request<B>, name: &str) -> bool {
    request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.split('=').next() == Some(name) && p.len() > name.len() + 1)
    })
}

/// How much of a list's beginning is searched for its metadata: the apiserver writes it
/// before the items, so a few hundred bytes normally do.
const SCAN_LIMIT: usize = 64 * 1024;

/// A list response body passed through untouched, whose beginning is read for
/// `metadata.shardInfo`.
struct ScanShardInfo {
    inner: Box<DynBody>,
    head: Vec<u8>,
    done: bool,
    resource: String,
    selector: String,
    shared: Arc<ServerSharding>,
}

impl ScanShardInfo {
    fn scan(&mut self, at_end: bool) {
        let outcome = match shard_info(&self.head) {
            Some(Some(echo)) if echo == self.selector => Outcome::Honoured,
            None if !at_end && self.head.len() < SCAN_LIMIT => return,
            _ => Outcome::Ignored,
        };
        self.done = true;
        self.head = Vec::new();
        self.shared.record(&self.resource, outcome);
    }
}

impl HttpBody for ScanShardInfo {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if !this.done {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.head.extend_from_slice(data);
                        this.scan(false);
                    }
                }
                None => this.scan(true),
                // A broken list is retried, and the retry finds out.
                Some(Err(_)) => this.done = true,
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "shardInfo")]
    shard_info: Option<ShardInfo>,
}

#[derive(Deserialize)]
struct ShardInfo {
    selector: Option<String>,
}

/// `metadata.shardInfo.selector` from the beginning of a list response: `Some(None)` when the
/// metadata has none (or cannot be read), `None` while the metadata is not complete yet.
fn shard_info(head: &[u8]) -> Option<Option<String>> {
    const KEY: &[u8] = b"\"metadata\"";
    let at = head.windows(KEY.len()).position(|w| w == KEY)?;
    let value = head[at + KEY.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")?;
    match serde_json::Deserializer::from_slice(value)
        .into_iter::<ListMeta>()
        .next()
    {
        Some(Ok(meta)) => Some(meta.shard_info.and_then(|s| s.selector)),
        Some(Err(e)) if e.is_eof() => None,
        _ => Some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELECTOR: &str =
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')";

    #[test]
    fn reads_the_echoed_selector_from_the_list_head_as_it_arrives() {
        let list = format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"7","shardInfo":{{"selector":"{SELECTOR}"}}}},"items":[{{"metadata":{{"name":"p"}}}}]}}"#
        );
        for cut in [10, 40, 80, 120] {
            assert_eq!(shard_info(&list.as_bytes()[..cut]), None, "cut at {cut}");
        }
        let head = &list.as_bytes()[..list.find("\"items\"").unwrap() + 3];
        assert_eq!(shard_info(head), Some(Some(SELECTOR.to_string())));
        assert_eq!(
            shard_info(list.as_bytes()),
            Some(Some(SELECTOR.to_string()))
        );
        // Whitespace as a pretty-printing server would send it.
        let pretty =
            "{\n  \"metadata\" : {\"shardInfo\": {\"selector\": \"x\"}},\n  \"items\": []}";
        assert_eq!(shard_info(pretty.as_bytes()), Some(Some("x".to_string())));
    }

    #[test]
    fn a_list_without_shard_info_is_unfiltered() {
        let list = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc"},"items":[]}"#;
        assert_eq!(shard_info(list), Some(None));
        assert_eq!(shard_info(br#"{"metadata":"odd","items":[]}"#), Some(None));
    }

    #[test]
    fn the_selector_is_appended_percent_encoded() {
        let request = Request::get("https://k8s:6443/api/v1/pods?limit=500")
            .body(())
            .unwrap();
        let sent = with_query_param(request, "shardSelector", SELECTOR);
        assert_eq!(
            sent.uri().to_string(),
            "https://k8s:6443/api/v1/pods?limit=500&shardSelector=shardRange%28object.metadata.uid%2C%20%270x0000000000000000%27%2C%20%270x8000000000000000%27%29"
        );
        let bare = with_query_param(
            Request::get("/apis/apps/v1/deployments").body(()).unwrap(),
            "shardSelector",
            "a b",
        );
        assert_eq!(
            bare.uri().to_string(),
            "/apis/apps/v1/deployments?shardSelector=a%20b"
        );
        assert!(has_param(
            &Request::get("/api/v1/pods?limit=1&continue=x")
                .body(())
                .unwrap(),
            "continue"
        ));
        assert!(!has_param(
            &Request::get("/api/v1/pods?continue=").body(()).unwrap(),
            "continue"
        ));
    }
}
