//! Entry points for the `otlp_response` fuzz target (fuzz/): an export response, from bytes as
//! a receiver sends them, read by the exporter's own functions, down to its retry decision.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tonic::{Code, Status};

use super::exporter::{rejected_points, retry_wait};
use super::transport::{Failure, decode_response, failed_call, grpc_failure, http_outcome};

/// What the exporter makes of one response.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// A (partial) success: the points the receiver says it rejected.
    pub rejected: Option<u64>,
    /// A failure: its code (`HTTP 503`, `Unavailable`).
    pub code: Option<String>,
    pub retryable: bool,
    /// The wait the receiver asked for (`Retry-After`, `RetryInfo`).
    pub retry_after: Option<Duration>,
    /// The wait before the next attempt, given the backoff and what is left of the retry
    /// budget; `None` when the request is given up (or was a success).
    pub wait: Option<Duration>,
}

impl Outcome {
    fn new(result: Result<u64, Failure>, backoff: Duration, left: Duration) -> Outcome {
        match result {
            Ok(rejected) => Outcome {
                rejected: Some(rejected),
                code: None,
                retryable: false,
                retry_after: None,
                wait: None,
            },
            Err(failure) => Outcome {
                rejected: None,
                wait: retry_wait(&failure, backoff, left),
                code: Some(failure.code),
                retryable: failure.retryable,
                retry_after: failure.retry_after,
            },
        }
    }
}

/// An OTLP/HTTP response; `None` when `status` is not an HTTP status (hyper rejects those).
pub fn http(
    status: u16,
    retry_after: Option<&[u8]>,
    body: &[u8],
    backoff: Duration,
    left: Duration,
) -> Option<Outcome> {
    let status = StatusCode::from_u16(status).ok()?;
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(http::header::RETRY_AFTER, value);
    }
    let result = http_outcome(status, &headers, Bytes::copy_from_slice(body), None);
    Some(Outcome::new(
        result.map(|response| rejected_points(&response)),
        backoff,
        left,
    ))
}

/// A gRPC response: its headers (trailers-only) or trailers as sent (values that are not header
/// values are left out, as hyper would refuse them), then its message when the headers carry
/// no error.
pub fn grpc(
    headers: &[(&str, &[u8])],
    message: &[u8],
    backoff: Duration,
    left: Duration,
) -> Outcome {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    grpc_headers(map, message, backoff, left)
}

/// A gRPC error as a receiver's gRPC library would send it (tonic encodes the headers): the
/// code, message and `grpc-status-details-bin` bytes; `message` is read if the code is OK.
pub fn grpc_status(
    code: i32,
    text: &str,
    details: &[u8],
    message: &[u8],
    backoff: Duration,
    left: Duration,
) -> Outcome {
    let status = Status::with_details(Code::from_i32(code), text, Bytes::copy_from_slice(details));
    let mut map = HeaderMap::new();
    // A status whose message or details tonic cannot encode is one no receiver can send.
    if status.add_header(&mut map).is_err() {
        map.clear();
    }
    grpc_headers(map, message, backoff, left)
}

fn grpc_headers(mut map: HeaderMap, message: &[u8], backoff: Duration, left: Duration) -> Outcome {
    let result = match failed_call(&mut map) {
        Some(status) => Err(grpc_failure(&status)),
        None => decode_response(message)
            .map(|response| rejected_points(&response))
            .map_err(|status| grpc_failure(&status)),
    };
    Outcome::new(result, backoff, left)
}
