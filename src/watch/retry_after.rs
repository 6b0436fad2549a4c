//! The server's `Retry-After`, honoured as client-go's `rest.Request` honours it (`checkWait`):
//! a 429 or 5xx answer that carries `Retry-After: <seconds>` is sent again after that wait, up
//! to 10 times; any other failure goes to the watcher, whose backoff and relist rules
//! ([`super::retry`]) apply.
//!
//! It replaces the kube client's own retry (`Config::default_retry`, off in our clients), which
//! retries 429/503/504 15 times with waits growing to minutes whether or not the server asked,
//! invisibly: a watcher stuck in it neither relists nor shows in the self-telemetry. Here every
//! wait is counted in `kube_state_otel_api_retries_total{resource,code}`.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use kube::client::{Body, DynBody};
use tower::{BoxError, Layer, Service};

use super::api_calls::ResourceLabels;
use super::resend::{Shared, copy};
use crate::telemetry::Telemetry;

/// client-go's `maxRetries`.
const MAX_RETRIES: u32 = 10;
/// A server asking for longer is waited for this long: a hostile or broken `Retry-After`
/// must not park a watcher for hours.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A tower layer for the kube client's HTTP stack; add it inside (before)
/// [`super::CountApiCalls`], so a call and its retries count as one list or watch.
#[derive(Clone)]
pub struct RetryAfterLayer {
    telemetry: Arc<Telemetry>,
    labels: Arc<ResourceLabels>,
}

impl RetryAfterLayer {
    pub fn new(telemetry: Arc<Telemetry>, labels: Arc<ResourceLabels>) -> Self {
        RetryAfterLayer { telemetry, labels }
    }
}

impl<S> Layer<S> for RetryAfterLayer {
    type Service = WithRetryAfter<S>;

    fn layer(&self, inner: S) -> WithRetryAfter<S> {
        WithRetryAfter {
            inner: Shared::new(inner),
            layer: self.clone(),
        }
    }
}

/// The service of [`RetryAfterLayer`].
pub struct WithRetryAfter<S> {
    inner: Shared<S>,
    layer: RetryAfterLayer,
}

impl<S> Service<Request<Body>> for WithRetryAfter<S>
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
        let layer = self.layer.clone();
        Box::pin(async move {
            let resource = layer
                .labels
                .of(&request)
                .map_or_else(|| "other".to_string(), |(_, label)| label);
            let mut request = request;
            for _ in 0..MAX_RETRIES {
                let again = copy(&request);
                let response = inner.send(request).await?;
                let (Some(wait), Some(again)) = (retry_after(&response), again) else {
                    return Ok(response);
                };
                layer
                    .telemetry
                    .count_retry(&resource, response.status().as_u16());
                tracing::debug!(resource, status = %response.status(), ?wait, "the API server asked to retry later");
                drop(response);
                tokio::time::sleep(wait).await;
                request = again;
            }
            inner.send(request).await
        })
    }
}

/// The wait a 429 or 5xx answer asks for (`Retry-After` in whole seconds, as client-go reads
/// it; an HTTP date is not honoured there either), capped at [`MAX_WAIT`].
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let status = response.status();
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let seconds: u64 = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Response<()> {
        let mut response = Response::builder().status(status);
        if let Some(value) = retry_after {
            response = response.header("Retry-After", value);
        }
        response.body(()).unwrap()
    }

    #[test]
    fn only_429_and_5xx_with_whole_seconds_ask_for_a_retry() {
        assert_eq!(
            retry_after(&answer(429, Some("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&answer(503, Some(" 1 "))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_after(&answer(500, Some("0"))), Some(Duration::ZERO));
        assert_eq!(retry_after(&answer(429, None)), None);
        assert_eq!(retry_after(&answer(404, Some("1"))), None);
        assert_eq!(retry_after(&answer(200, Some("1"))), None);
        assert_eq!(
            retry_after(&answer(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"))),
            None
        );
        assert_eq!(retry_after(&answer(429, Some("-1"))), None);
        assert_eq!(retry_after(&answer(429, Some("86400"))), Some(MAX_WAIT));
    }
}
