//! Counts the list and watch calls the kube client makes, per resource and result, as
//! kube-state-metrics' `kube_state_metrics_{list,watch}_total` do.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::telemetry::{ApiCall, Telemetry};

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
    type Response = S::Response;
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
            if let Some((call, label)) = call {
                let success = matches!(&result, Ok(r) if r.status().is_success());
                telemetry.count_call(call, &label, success);
            }
            result
        })
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
