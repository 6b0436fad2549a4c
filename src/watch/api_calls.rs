//! Counts the list and watch calls the kube client makes, per resource and result, as
//! kube-state-metrics' `kube_state_metrics_{list,watch}_total` do, and the bytes lists bring
//! in (the initial sync's progress).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Buf;
use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use super::discovery::ApiResource;
use crate::telemetry::{ApiCall, Listed, Telemetry};

/// The `resource` label of each collection a pipeline lists and watches, found from a
/// request's URL: the built-in kinds (`*v1.Pod`, as KSM names them) and the custom resources
/// served (`plural.group/version`). Keyed by group, version and plural, not by the plural
/// alone: a custom resource may share a built-in kind's plural (Knative's `services`).
pub struct ResourceLabels {
    builtin: HashMap<ApiResource, String>,
    custom: RwLock<HashMap<ApiResource, String>>,
}

impl ResourceLabels {
    /// The built-in kinds' resources and labels.
    pub fn new(builtin: impl IntoIterator<Item = (ApiResource, String)>) -> Arc<Self> {
        Arc::new(ResourceLabels {
            builtin: builtin.into_iter().collect(),
            custom: RwLock::new(HashMap::new()),
        })
    }

    /// A custom resource now listed and watched, with its label
    /// (`certificates.cert-manager.io/v1`).
    pub fn add_custom(&self, resource: ApiResource, label: &str) {
        self.custom
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(resource, label.to_string());
    }

    /// The label of the collection `request` lists or watches, and which call it is.
    pub fn of<B>(&self, request: &Request<B>) -> Option<(ApiCall, String)> {
        let (resource, call) = collection(request)?;
        let label = match self.builtin.get(&resource) {
            Some(label) => label.clone(),
            None => self
                .custom
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&resource)?
                .clone(),
        };
        Some((call, label))
    }

    /// [`ResourceLabels::of`] for the built-in kinds only.
    pub fn of_builtin<B>(&self, request: &Request<B>) -> Option<(ApiCall, &str)> {
        let (resource, call) = collection(request)?;
        Some((call, self.builtin.get(&resource)?))
    }
}

/// The collection a GET lists or watches (`/api/v1/namespaces/ns/pods`: group `""`, version
/// `v1`, plural `pods`), and the call.
fn collection<B>(request: &Request<B>) -> Option<(ApiResource, ApiCall)> {
    let (plural, call) = list_or_watch(request)?;
    let mut segments = request.uri().path().trim_start_matches('/').split('/');
    let (group, version) = match segments.next()? {
        "api" => ("", segments.next()?),
        "apis" => (segments.next()?, segments.next()?),
        _ => return None,
    };
    Some((ApiResource::new(group, version, plural), call))
}

/// A tower layer for the kube client's HTTP stack.
#[derive(Clone)]
pub struct CountApiCalls {
    telemetry: Arc<Telemetry>,
    labels: Arc<ResourceLabels>,
}

impl CountApiCalls {
    pub fn new(telemetry: Arc<Telemetry>, labels: Arc<ResourceLabels>) -> Self {
        CountApiCalls { telemetry, labels }
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
        let call = self.counter.labels.of(&request);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap_or_default()
    }

    #[test]
    fn a_custom_resource_sharing_a_built_in_plural_keeps_its_own_label() {
        let labels = ResourceLabels::new([
            (ApiResource::new("", "v1", "services"), "*v1.Service".into()),
            (
                ApiResource::new("apps", "v1", "deployments"),
                "*v1.Deployment".into(),
            ),
        ]);
        let of = |uri: &str| labels.of(&get(uri));
        assert_eq!(
            of("/api/v1/services?limit=500"),
            Some((ApiCall::List, "*v1.Service".into()))
        );
        assert_eq!(
            of("/apis/apps/v1/namespaces/ns/deployments?watch=true&resourceVersion=7"),
            Some((ApiCall::Watch, "*v1.Deployment".into()))
        );
        // Knative's services are not the core ones, and are not counted until watched.
        let knative = "/apis/serving.knative.dev/v1/namespaces/ns/services";
        assert_eq!(of(knative), None);
        labels.add_custom(
            ApiResource::new("serving.knative.dev", "v1", "services"),
            "services.serving.knative.dev/v1",
        );
        assert_eq!(
            of(knative),
            Some((ApiCall::List, "services.serving.knative.dev/v1".into()))
        );
        assert!(labels.of_builtin(&get(knative)).is_none());
        assert_eq!(
            labels.of_builtin(&get("/api/v1/namespaces/ns/services")),
            Some((ApiCall::List, "*v1.Service"))
        );
        // Neither a write nor a path outside the API.
        let post = Request::post("/api/v1/services")
            .body(())
            .unwrap_or_default();
        assert_eq!(labels.of(&post), None);
        assert_eq!(of("/version"), None);
    }
}
