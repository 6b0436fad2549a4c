//! The two OTLP transports behind one `attempt`: gRPC (a unary `MetricsService/Export` or
//! `LogsService/Export` call on a tonic channel, the request framed here) and OTLP/HTTP
//! (hyper's client POSTing protobuf or JSON to `.../v1/metrics` or `.../v1/logs`), both over
//! the same rustls connector.
//!
//! Both signals' responses are read as `ExportMetricsServiceResponse`: `ExportLogsServiceResponse`
//! is the same message on the wire (`partial_success` = field 1, its rejected count field 1 and
//! `error_message` field 2), so one decoder serves both.

use std::collections::VecDeque;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{Buf, BufMut, Bytes};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, TE};
use http::{HeaderMap, StatusCode, Uri};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use tonic::codec::{DecodeBuf, Decoder, Streaming};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tower::Service;

use super::{Compression, OtlpConfig, OtlpError, Protocol, Signal, tls};

const USER_AGENT: &str = concat!("kube-state-otel/", env!("CARGO_PKG_VERSION"));
/// Of an error response's body, in logs.
const MAX_ERROR_BODY: usize = 512;
/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// One failed attempt.
#[derive(Debug)]
pub(super) struct Failure {
    /// The gRPC code (`Unavailable`) or HTTP status (`HTTP 503`).
    pub code: String,
    pub message: String,
    pub retryable: bool,
    /// How long the receiver asked us to wait (HTTP `Retry-After`, gRPC `RetryInfo`).
    pub retry_after: Option<Duration>,
}

pub(super) enum Transport {
    Grpc {
        channel: Channel,
        /// The signal's export method.
        path: &'static str,
        /// The call's headers: gRPC's, the configured metadata, the compression's.
        headers: HeaderMap,
        compression: Compression,
        timeout: Duration,
    },
    Http {
        // Boxed: the client is ten times the size of the gRPC variant.
        client: Box<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
        uri: Uri,
        headers: HeaderMap,
        compression: Compression,
        timeout: Duration,
        /// The signal whose messages are sent as JSON (`http/json`); `None`: protobuf.
        json: Option<Signal>,
    },
}

impl Transport {
    pub(super) fn new(config: &OtlpConfig) -> Result<Self, OtlpError> {
        config.validate()?;
        let bad_endpoint = |reason: String| OtlpError::Endpoint {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let uri: Uri = config
            .endpoint
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_endpoint(e.to_string()))?;
        let https = uri.scheme_str() == Some("https");
        match config.protocol {
            Protocol::Grpc => {
                // gRPC servers (grpc-go among them) require HTTP/2 negotiated by ALPN.
                let connector = tls::connector(&config.tls, https, &[b"h2"], config.timeout)?;
                // No channel-wide timeout: `attempt` bounds each whole call, response included.
                let channel = Endpoint::from(uri)
                    .connect_timeout(config.timeout)
                    // Connects on first use and reconnects after failures by itself.
                    .connect_with_connector_lazy(connector);
                let mut headers = config.metadata()?.into_headers();
                headers.insert(TE, HeaderValue::from_static("trailers"));
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                let encoding = match config.compression {
                    Compression::None => None,
                    Compression::Gzip => Some("gzip"),
                    Compression::Zstd => Some("zstd"),
                };
                if let Some(encoding) = encoding {
                    headers.insert("grpc-encoding", HeaderValue::from_static(encoding));
                }
                Ok(Transport::Grpc {
                    channel,
                    path: config.signal.grpc_path(),
                    headers,
                    compression: config.compression,
                    timeout: config.timeout,
                })
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let connector = tls::connector(&config.tls, https, &[b"http/1.1"], config.timeout)?;
                let client = Box::new(Client::builder(TokioExecutor::new()).build(connector));
                let mut headers = HeaderMap::new();
                for (key, value) in &config.headers {
                    let invalid = |reason: String| OtlpError::Header(key.clone(), reason);
                    let name = HeaderName::from_bytes(key.as_bytes())
                        .map_err(|e| invalid(e.to_string()))?;
                    let value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
                    headers.insert(name, value);
                }
                Ok(Transport::Http {
                    client,
                    uri,
                    headers,
                    compression: config.compression,
                    timeout: config.timeout,
                    json: (config.protocol == Protocol::HttpJson).then_some(config.signal),
                })
            }
        }
    }

    /// The body as it goes on the wire, written as JSON (`http/json`) and compressed once for
    /// all attempts, on a blocking thread: a 4 MiB request takes tens of milliseconds that
    /// runtime workers serving `/metrics` should not spend.
    pub(super) async fn prepare(&self, body: Bytes) -> Result<Bytes, Failure> {
        let (compression, json) = match self {
            Transport::Http {
                compression, json, ..
            } => (*compression, *json),
            Transport::Grpc { compression, .. } => (*compression, None),
        };
        if compression == Compression::None && json.is_none() {
            return Ok(body);
        }
        let failed = |message: String| Failure {
            code: "encoding".to_string(),
            message,
            retryable: false,
            retry_after: None,
        };
        tokio::task::spawn_blocking(move || {
            let body = match json {
                Some(signal) => to_json(signal, &body)?,
                None => body,
            };
            match compression {
                Compression::None => Ok(body),
                _ => compress(compression, &body).map_err(|e| e.to_string()),
            }
        })
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)
    }

    pub(super) async fn attempt(
        &mut self,
        body: Bytes,
    ) -> Result<ExportMetricsServiceResponse, Failure> {
        match self {
            Transport::Grpc {
                channel,
                path,
                headers,
                compression,
                timeout,
            } => {
                let compressed = *compression != Compression::None;
                let message = GrpcMessage::new(body, compressed).map_err(|s| grpc_failure(&s))?;
                let mut request = http::Request::new(tonic::body::Body::new(message));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = Uri::from_static(path);
                *request.headers_mut() = headers.clone();
                tokio::time::timeout(*timeout, grpc_call(channel, request))
                    .await
                    .map_err(|_| {
                        let message = format!("no response within {timeout:?}");
                        grpc_failure(&Status::deadline_exceeded(message))
                    })?
                    .map_err(|status| grpc_failure(&status))
            }
            Transport::Http {
                client,
                uri,
                headers,
                compression,
                timeout,
                json,
            } => {
                let request = http_request(uri, headers, *compression, json.is_some(), body);
                let exchange = async {
                    let response = client.request(request).await.map_err(|e| Failure {
                        code: "connection".to_string(),
                        message: describe(&e),
                        retryable: true,
                        retry_after: None,
                    })?;
                    let (parts, body) = response.into_parts();
                    // A response is a few bytes of partial success or an error text; a
                    // receiver sending more does not get to grow our memory.
                    let body = Limited::new(body, MAX_RESPONSE_BYTES);
                    let body = body.collect().await.map_err(|e| Failure {
                        code: format!("HTTP {}", parts.status.as_u16()),
                        message: format!("reading the response: {}", describe(&*e)),
                        retryable: true,
                        retry_after: None,
                    })?;
                    Ok::<_, Failure>((parts, body.to_bytes()))
                };
                let (parts, body) =
                    tokio::time::timeout(*timeout, exchange)
                        .await
                        .map_err(|_| Failure {
                            code: "timeout".to_string(),
                            message: format!("no response within {timeout:?}"),
                            retryable: true,
                            retry_after: None,
                        })??;
                http_outcome(parts.status, &parts.headers, body, *json)
            }
        }
    }
}

fn http_request(
    uri: &Uri,
    headers: &HeaderMap,
    compression: Compression,
    json: bool,
    body: Bytes,
) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::new(Full::new(body));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    let h = request.headers_mut();
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(USER_AGENT),
    );
    match compression {
        Compression::None => {}
        Compression::Gzip => {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Compression::Zstd => {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        }
    }
    for (name, value) in headers {
        h.insert(name.clone(), value.clone());
    }
    request
}

/// A response as the OTLP/HTTP specification reads it: 2xx is success (its body may carry a
/// partial success, in JSON for a JSON request of `json`'s signal), 429/502/503/504 are
/// retryable (after `Retry-After` if given), anything else is final.
pub(super) fn http_outcome(
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
    json: Option<Signal>,
) -> Result<ExportMetricsServiceResponse, Failure> {
    if status.is_success() {
        // Some receivers answer with an empty body, or in the other encoding: both count as
        // full success.
        return Ok(match json {
            Some(signal) => json_response(signal, &body),
            None => ExportMetricsServiceResponse::decode(body).unwrap_or_default(),
        });
    }
    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]);
    Err(Failure {
        code: format!("HTTP {}", status.as_u16()),
        message: text.trim().to_string(),
        retryable,
        retry_after: headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after),
    })
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// An encoded export request of `signal` in the OTLP/JSON encoding.
fn to_json(signal: Signal, body: &[u8]) -> Result<Bytes, String> {
    let json = match signal {
        Signal::Metrics => ExportMetricsServiceRequest::decode(body)
            .map_err(|e| e.to_string())
            .and_then(|r| serde_json::to_vec(&r).map_err(|e| e.to_string())),
        Signal::Logs => ExportLogsServiceRequest::decode(body)
            .map_err(|e| e.to_string())
            .and_then(|r| serde_json::to_vec(&r).map_err(|e| e.to_string())),
    };
    json.map(Bytes::from)
}

/// A JSON export response of `signal`, as the metrics response the senders read; anything
/// else is full success. Read by hand: the logs response names its rejected count otherwise,
/// and receivers write it as a decimal string (the protobuf-JSON mapping of int64), which
/// opentelemetry-proto's serde reads only as a number.
fn json_response(signal: Signal, body: &[u8]) -> ExportMetricsServiceResponse {
    let Ok(response) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ExportMetricsServiceResponse::default();
    };
    let partial = &response["partialSuccess"];
    if !partial.is_object() {
        return ExportMetricsServiceResponse::default();
    }
    let count = match signal {
        Signal::Metrics => &partial["rejectedDataPoints"],
        Signal::Logs => &partial["rejectedLogRecords"],
    };
    let rejected = match count {
        serde_json::Value::String(text) => text.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    };
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: partial["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
    }
}

fn compress(compression: Compression, body: &[u8]) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(Bytes::copy_from_slice(body)),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4).writer(),
                flate2::Compression::default(),
            );
            encoder.write_all(body)?;
            Ok(Bytes::from(encoder.finish()?.into_inner()))
        }
        Compression::Zstd => zstd::bulk::compress(body, 0).map(Bytes::from),
    }
}

pub(super) fn grpc_failure(status: &Status) -> Failure {
    Failure {
        code: format!("{:?}", status.code()),
        message: describe(status),
        retryable: is_retryable(status.code()),
        retry_after: retry_info(status.details()),
    }
}

// The parts of `google.rpc.Status` and `google.rpc.RetryInfo` a throttling receiver sends in
// `grpc-status-details-bin` (the OTLP specification's way to say how long to wait).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The `RetryInfo.retry_delay` among a status' details, if there is one.
fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(&info.value[..]).ok()?.retry_delay?;
    Some(Duration::new(
        u64::try_from(delay.seconds).unwrap_or(0),
        u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999),
    ))
}

/// The error and its causes, e.g. `tcp connect error: Connection refused`.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = match error.downcast_ref::<Status>() {
        Some(status) => status.message().to_string(),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        // Transport errors repeat their cause's text at every layer.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The codes the OTLP specification calls retryable, plus RESOURCE_EXHAUSTED (a receiver
/// applying back-pressure).
fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// One unary call: the response's message, or the status that ended the call (in its headers
/// when the receiver answered with trailers only, else in its trailers).
async fn grpc_call(
    channel: &mut Channel,
    request: http::Request<tonic::body::Body>,
) -> Result<ExportMetricsServiceResponse, Status> {
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .map_err(|e| Status::unavailable(describe(&e)))?;
    let response = channel
        .call(request)
        .await
        .map_err(|e| Status::from_error(e.into()))?;
    let (mut parts, body) = response.into_parts();
    if let Some(status) = failed_call(&mut parts.headers) {
        return Err(status);
    }
    // tonic reads the status in the trailers itself (with `Status::from_header_map`).
    let body = body.map_frame(|mut frame| {
        if let Some(trailers) = frame.trailers_mut() {
            drop_undecodable_details(trailers);
        }
        frame
    });
    let mut response = Streaming::new_response(
        ResponseDecoder,
        body,
        parts.status,
        None,
        Some(MAX_RESPONSE_BYTES),
    );
    let message = response
        .message()
        .await?
        .ok_or_else(|| Status::internal("no response message"))?;
    response.trailers().await?;
    Ok(message)
}

/// The status of a call that `headers` (a trailers-only response's) end with an error.
pub(super) fn failed_call(headers: &mut HeaderMap) -> Option<Status> {
    drop_undecodable_details(headers);
    Status::from_header_map(headers).filter(|status| status.code() != Code::Ok)
}

const STATUS_DETAILS: &str = "grpc-status-details-bin";

/// tonic's decoding of `grpc-status-details-bin` (standard alphabet, padding optional).
const DETAILS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Removes a `grpc-status-details-bin` that is not base64, leaving the status without details
/// (they are optional: `RetryInfo` is read from them). tonic 0.14's `Status::from_header_map`
/// panics on one, which ended the exporter's task on a receiver's malformed header (found by
/// the otlp_response fuzz target).
fn drop_undecodable_details(headers: &mut HeaderMap) {
    let undecodable = headers
        .get_all(STATUS_DETAILS)
        .iter()
        .any(|value| DETAILS_BASE64.decode(value.as_bytes()).is_err());
    if undecodable {
        headers.remove(STATUS_DETAILS);
    }
}

/// A gRPC request body: the 5-byte message prefix (compressed flag, length), then the encoded
/// request as it is. tonic's client copied each request into a buffer of its own.
struct GrpcMessage(VecDeque<Bytes>);

impl GrpcMessage {
    fn new(message: Bytes, compressed: bool) -> Result<Self, Status> {
        let len = u32::try_from(message.len()).map_err(|_| {
            let len = message.len();
            Status::out_of_range(format!(
                "a request of {len} bytes is over gRPC's 4 GiB limit"
            ))
        })?;
        let mut prefix = [0u8; 5];
        prefix[0] = u8::from(compressed);
        prefix[1..].copy_from_slice(&len.to_be_bytes());
        Ok(GrpcMessage(VecDeque::from([
            Bytes::copy_from_slice(&prefix),
            message,
        ])))
    }
}

impl http_body::Body for GrpcMessage {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// Decodes the export response.
struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = ExportMetricsServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        decode_response(src).map(Some)
    }
}

/// A gRPC response message.
pub(super) fn decode_response(message: impl Buf) -> Result<ExportMetricsServiceResponse, Status> {
    ExportMetricsServiceResponse::decode(message)
        .map_err(|e| Status::internal(format!("undecodable export response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_follow_the_specification() {
        let empty = HeaderMap::new();
        assert!(http_outcome(StatusCode::OK, &empty, Bytes::new(), None).is_ok());
        for code in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            let failure = http_outcome(status, &empty, Bytes::new(), None).unwrap_err();
            assert!(failure.retryable, "{code}");
        }
        for code in [400, 401, 404, 413, 500] {
            let status = StatusCode::from_u16(code).unwrap();
            let failure = http_outcome(status, &empty, Bytes::from("no"), None).unwrap_err();
            assert!(!failure.retryable, "{code}");
            assert_eq!(failure.code, format!("HTTP {code}"));
            assert_eq!(failure.message, "no");
        }
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let failure =
            http_outcome(StatusCode::TOO_MANY_REQUESTS, &headers, Bytes::new(), None).unwrap_err();
        assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn grpc_retry_info_sets_the_wait() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let details = RpcStatus {
            details: vec![
                ProtoAny {
                    type_url: "type.googleapis.com/google.rpc.DebugInfo".to_string(),
                    value: vec![1, 2, 3],
                },
                ProtoAny {
                    type_url: "type.googleapis.com/google.rpc.RetryInfo".to_string(),
                    value: info.encode_to_vec(),
                },
            ],
        };
        let status = Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            details.encode_to_vec().into(),
        );
        let failure = grpc_failure(&status);
        assert!(failure.retryable);
        assert_eq!(failure.retry_after, Some(Duration::from_millis(2500)));
        let plain = grpc_failure(&Status::unavailable("down"));
        assert_eq!(plain.retry_after, None);
        assert_eq!(retry_info(b"not a status"), None);
    }

    #[test]
    fn undecodable_status_details_are_dropped_not_a_panic() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("14"));
        headers.insert(STATUS_DETAILS, HeaderValue::from_static("!"));
        let status = failed_call(&mut headers).expect("an error");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.details().is_empty());
        // Details that decode are kept, padded or not, as tonic reads them.
        for details in ["CAE=", "CAE"] {
            headers.insert(STATUS_DETAILS, HeaderValue::from_static(details));
            let status = failed_call(&mut headers).expect("an error");
            assert_eq!(status.details(), &[8, 1][..], "{details}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let wait = retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    /// The specification's JSON: lowerCamelCase keys, 64-bit integers as decimal strings,
    /// enums as numbers, the oneofs by their field names.
    #[test]
    fn json_bodies_follow_the_otlp_json_mapping() {
        use opentelemetry_proto::tonic::metrics::v1::{
            Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
        };
        let point = NumberDataPoint {
            time_unix_nano: 1_700_000_000_000_000_001,
            value: Some(number_data_point::Value::AsInt(4242)),
            ..Default::default()
        };
        let metric = Metric {
            name: "restarts_total".to_string(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let json = to_json(Signal::Metrics, &request.encode_to_vec()).expect("converts");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        let sum = &value["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"];
        assert_eq!(sum["aggregationTemporality"], 2);
        assert_eq!(sum["isMonotonic"], true);
        let point = &sum["dataPoints"][0];
        assert_eq!(point["asInt"], "4242");
        assert_eq!(point["timeUnixNano"], "1700000000000000001");
        assert!(to_json(Signal::Metrics, b"\xff\xff").is_err());
        let partial = br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"x"}}"#;
        let rejected = json_response(Signal::Logs, partial).partial_success;
        assert_eq!(rejected.map(|p| p.rejected_data_points), Some(3));
        let partial = br#"{"partialSuccess":{"rejectedDataPoints":5}}"#;
        let rejected = json_response(Signal::Metrics, partial).partial_success;
        assert_eq!(rejected.map(|p| p.rejected_data_points), Some(5));
        for full in [&b"not json"[..], br#"{"partialSuccess":null}"#, b"{}"] {
            assert_eq!(json_response(Signal::Metrics, full), Default::default());
        }
    }

    #[test]
    fn compressed_bodies_decompress() {
        let body = Bytes::from(vec![7u8; 10_000]);
        let gzip = compress(Compression::Gzip, &body).unwrap();
        assert!(gzip.len() < body.len());
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut out).unwrap();
        assert_eq!(out, body);
        let zstd = compress(Compression::Zstd, &body).unwrap();
        assert_eq!(zstd::decode_all(&zstd[..]).unwrap(), body);
        assert_eq!(compress(Compression::None, &body).unwrap(), body);
    }
}
