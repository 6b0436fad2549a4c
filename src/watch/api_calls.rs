//! Counts the list and watch calls the kube client makes, per resource and result, as
//! kube-state-metrics' `kube_state_metrics_{list,watch}_total` do, and the bytes lists bring
//! in (the initial sync's progress).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use crate::telemetry::{ApiCall, Listed, Telemetry};

/// A tower layer for the kube client's HTTP stack.
#[derive(Clone)]
pub struct CountApiCalls {
    telemetry: Arc<Telemetry>,
    /// URL resource segment (`pods`) → the `resource` label (`*v1.Pod`, as KSM names it).
    labels: Arc<HashMap<String, String>>,
}

impl CountApiCalls {
    pub fn new(telemetry: Arc<Telemetry>, labels: HashMap<String, String>) -> Self {
        CountApiCalls {
            telemetry,
            labels: Arc::new(labels),
        }
    }
}

impl<S> Layer<S> for CountApiCalls {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counter: CountApiCalls,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Counted<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<CountBytes<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = classify(&request, &self.counter.labels);
        let response = self.inner.call(request);
        let telemetry = self.counter.telemetry.clone();
        Box::pin(async move {
            let result = response.await;
            let mut listed = None;
            if let Some((call, label)) = call {
                let success = matches!(&result, Ok(r) if r.status().is_success());
                telemetry.count_call(call, &label, success);
                if call == ApiCall::List && success {
                    listed = Some(telemetry.listed(&label));
                }
            }
            result.map(|r| r.map(|inner| CountBytes { inner, listed }))
        })
    }
}

/// A response body passed through untouched; a list's bytes are counted as they arrive.
pub struct CountBytes<B> {
    inner: B,
    listed: Option<Arc<Listed>>,
}

impl<B: Body + Unpin> Body for CountBytes<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let (Some(listed), Some(Ok(frame))) = (&this.listed, &frame)
            && let Some(data) = frame.data_ref()
        {
            listed
                .bytes
                .fetch_add(data.remaining() as u64, Ordering::Relaxed);
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

/// A GET on a collection of a known resource is a list, or a watch with `watch=true`.
fn classify<B>(
    request: &Request<B>,
    labels: &HashMap<String, String>,
) -> Option<(ApiCall, String)> {
    let (resource, call) = list_or_watch(request)?;
    Some((call, labels.get(resource)?.clone()))
}

/// The URL's resource segment (`pods`) and the call, when `request` is a GET on a collection.
pub(super) fn list_or_watch<B>(request: &Request<B>) -> Option<(&str, ApiCall)> {
    if request.method() != http::Method::GET {
        return None;
    }
    let resource = request.uri().path().rsplit('/').next()?;
    let watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let call = if watch { ApiCall::Watch } else { ApiCall::List };
    Some((resource, call))
}

/// `request` with `name=value` added to its query, the value percent-encoded.
pub(super) fn with_query_param<B>(mut request: Request<B>, name: &str, value: &str) -> Request<B> {
    let uri = request.uri();
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let path_and_query = match uri.query() {
        Some(q) => format!("{}?{q}&{name}={encoded}", uri.path()),
        None => format!("{}?{name}={encoded}", uri.path()),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = PathAndQuery::try_from(path_and_query).ok();
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}
