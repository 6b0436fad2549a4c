//! What the client layers that send a request again share: the inner service behind a lock
//! (each send awaits readiness under it; the kube client serializes calls through its buffer
//! anyway, so it is not contended) and the copy of a GET.

use std::sync::Arc;

use http::{Request, Response};
use kube::client::{Body, DynBody};
use tower::{BoxError, Service, ServiceExt};

/// The inner service of a layer whose calls may send more than one request.
pub struct Shared<S>(Arc<tokio::sync::Mutex<S>>);

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<S> Shared<S> {
    pub fn new(inner: S) -> Self {
        Shared(Arc::new(tokio::sync::Mutex::new(inner)))
    }
}

impl<S> Shared<S>
where
    S: Service<Request<Body>, Response = Response<Box<DynBody>>>,
    S::Error: Into<BoxError>,
{
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Box<DynBody>>, BoxError> {
        let response = {
            let mut service = self.0.lock().await;
            service.ready().await.map_err(Into::into)?.call(request)
        };
        response.await.map_err(Into::into)
    }
}

/// The same request again, when its body can be copied (a GET's empty one can).
pub fn copy(request: &Request<Body>) -> Option<Request<Body>> {
    let mut copy = Request::new(request.body().try_clone()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}
