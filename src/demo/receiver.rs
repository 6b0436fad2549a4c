//! `--demo`'s OTLP receiver: the push has somewhere to go without a Collector, and each push is
//! summarised in one line on standard output (requests, points, metrics, bytes, resources,
//! scopes). It speaks OTLP/gRPC and OTLP/HTTP with protobuf or JSON bodies (plain, gzip or zstd), each
//! on a local port of its own, and acknowledges everything. Entity events (`--entity-events`,
//! OTLP logs) get a line per request.
//!
//! A push is one collection, split into requests: every point of a collection carries the
//! collection's time, so requests are grouped by it. A push is printed once a request of the
//! next one arrives or no request has come for [`QUIET`].

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;

use super::Error;
use crate::export::otlp::Protocol;
use crate::pipeline::human_bytes;

/// How long after a push's last request it is considered complete.
const QUIET: Duration = Duration::from_millis(500);

/// Far above the exporter's 4 MiB default, so that a larger `--otlp-max-request-bytes` works.
const MAX_REQUEST: usize = 256 << 20;

/// Data points of every metric of `request`.
pub fn points(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum()
}

/// The time of `request`'s first point (of a gauge or sum): when its collection ran.
pub fn collected_at(request: &ExportMetricsServiceRequest) -> Option<u64> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find_map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.first().map(|p| p.time_unix_nano),
            Some(Data::Sum(s)) => s.data_points.first().map(|p| p.time_unix_nano),
            _ => None,
        })
}

/// One push as received so far.
#[derive(Default)]
struct Push {
    collected: Option<u64>,
    requests: usize,
    points: usize,
    metrics: usize,
    bytes: usize,
    /// Hashes of the resources' encodings.
    resources: HashSet<u64>,
    scopes: HashSet<String>,
    last: Option<Instant>,
}

impl Push {
    fn add(&mut self, request: &ExportMetricsServiceRequest, hasher: &RandomState) {
        self.requests += 1;
        self.points += points(request);
        self.bytes += request.encoded_len();
        self.last = Some(Instant::now());
        for resource in &request.resource_metrics {
            let encoded = resource
                .resource
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default();
            self.resources.insert(hasher.hash_one(encoded));
            for scope in &resource.scope_metrics {
                self.metrics += scope.metrics.len();
                let name = scope.scope.as_ref().map(|s| s.name.clone());
                self.scopes.insert(name.unwrap_or_default());
            }
        }
    }
}

/// The summary of a push, as printed.
fn summary(number: u64, push: &Push) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "OTLP push {number} received: {}, {} in {}, {}, {}, {}",
        plural(push.requests, "request"),
        plural(push.points, "point"),
        plural(push.metrics, "metric"),
        human_bytes(push.bytes as u64),
        plural(push.resources.len(), "resource"),
        plural(push.scopes.len(), "scope"),
    )
}

/// The pushes received: the one in progress and how many came before.
#[derive(Default)]
struct Pushes {
    state: Mutex<(u64, Push)>,
    hasher: RandomState,
}

impl Pushes {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Push)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn receive(&self, request: &ExportMetricsServiceRequest) {
        let collected = collected_at(request);
        let mut state = self.lock();
        if state.1.requests > 0 && state.1.collected != collected {
            Self::print(&mut state);
        }
        state.1.collected = collected;
        state.1.add(request, &self.hasher);
    }

    /// Prints the push in progress if it has been quiet for [`QUIET`].
    fn flush_quiet(&self) {
        let mut state = self.lock();
        if state.1.last.is_some_and(|last| last.elapsed() >= QUIET) {
            Self::print(&mut state);
        }
    }

    fn print(state: &mut (u64, Push)) {
        state.0 += 1;
        let push = std::mem::take(&mut state.1);
        println!("{}", summary(state.0, &push));
    }
}

#[tonic::async_trait]
impl MetricsService for Pushes {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.receive(request.get_ref());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// An OTLP/HTTP body (protobuf or JSON, plain, gzip or zstd) as a `R`, and whether it was JSON,
/// which the answer is then in too.
fn decode_http<R: Message + Default + serde::de::DeserializeOwned>(
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(R, bool), http::StatusCode> {
    let encoding = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = match encoding {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out)
                .map(|_| out)
        }
        "zstd" => zstd::decode_all(body),
        _ => return Err(http::StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let request = body.ok().and_then(|b| match json {
        true => serde_json::from_slice(&b).ok(),
        false => R::decode(&b[..]).ok(),
    });
    request
        .map(|r| (r, json))
        .ok_or(http::StatusCode::BAD_REQUEST)
}

fn encode_http<R: Message + serde::Serialize>(response: &R, json: bool) -> Vec<u8> {
    match json {
        true => serde_json::to_vec(response).unwrap_or_default(),
        false => response.encode_to_vec(),
    }
}

async fn http_export(
    State(pushes): State<Arc<Pushes>>,
    headers: http::HeaderMap,
    body: Bytes,
) -> (http::StatusCode, Vec<u8>) {
    match decode_http::<ExportMetricsServiceRequest>(&headers, &body) {
        Ok((request, json)) => {
            pushes.receive(&request);
            let response = ExportMetricsServiceResponse::default();
            (http::StatusCode::OK, encode_http(&response, json))
        }
        Err(status) => (status, Vec::new()),
    }
}

async fn http_export_logs(headers: http::HeaderMap, body: Bytes) -> (http::StatusCode, Vec<u8>) {
    match decode_http::<ExportLogsServiceRequest>(&headers, &body) {
        Ok((request, json)) => {
            println!("{}", entity_summary(&request));
            let response = ExportLogsServiceResponse::default();
            (http::StatusCode::OK, encode_http(&response, json))
        }
        Err(status) => (status, Vec::new()),
    }
}

/// The line printed for a request of entity events: its states and deletes, in either layout
/// (the receiver's `otel.entity.event.type` attribute or the specification's event name).
fn entity_summary(request: &ExportLogsServiceRequest) -> String {
    let records = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records);
    let (mut states, mut deletes, mut other) = (0, 0, 0);
    for record in records {
        let attribute = record
            .attributes
            .iter()
            .find(|kv| kv.key == "otel.entity.event.type")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref());
        let event = match attribute {
            Some(Value::StringValue(event)) => event.as_str(),
            _ => record.event_name.as_str(),
        };
        match event {
            "entity_state" | "entity.state" => states += 1,
            "entity_delete" | "entity.delete" => deletes += 1,
            _ => other += 1,
        }
    }
    let mut line = format!(
        "OTLP entity events received: {states} states, {deletes} deletes, {}",
        human_bytes(request.encoded_len() as u64)
    );
    if other > 0 {
        line.push_str(&format!(", {other} other records"));
    }
    line
}

/// Entity events over OTLP/gRPC: a line per request.
struct EntityLines;

#[tonic::async_trait]
impl LogsService for EntityLines {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        println!("{}", entity_summary(request.get_ref()));
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// The receiver, serving until dropped.
pub struct DemoReceiver {
    grpc: SocketAddr,
    http: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DemoReceiver {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl DemoReceiver {
    /// Serves both protocols on free local ports.
    pub async fn start() -> Result<Self, Error> {
        let bind = || TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let (grpc, http) = (
            bind().await.map_err(Error::Receiver)?,
            bind().await.map_err(Error::Receiver)?,
        );
        let addrs = (
            grpc.local_addr().map_err(Error::Receiver)?,
            http.local_addr().map_err(Error::Receiver)?,
        );
        let pushes = Arc::new(Pushes::default());
        let service = MetricsServiceServer::from_arc(pushes.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(MAX_REQUEST);
        let logs = LogsServiceServer::new(EntityLines)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(MAX_REQUEST);
        let grpc_task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .add_service(logs)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc))
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the demo's OTLP/gRPC receiver stopped");
            }
        });
        let router = axum::Router::new()
            .route("/v1/metrics", axum::routing::post(http_export))
            .route("/v1/logs", axum::routing::post(http_export_logs))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST))
            .with_state(pushes.clone());
        let http_task = tokio::spawn(async move {
            if let Err(error) = axum::serve(http, router).await {
                tracing::warn!(%error, "the demo's OTLP/HTTP receiver stopped");
            }
        });
        let flush_task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(QUIET / 2);
            loop {
                ticks.tick().await;
                pushes.flush_quiet();
            }
        });
        Ok(DemoReceiver {
            grpc: addrs.0,
            http: addrs.1,
            tasks: vec![grpc_task, http_task, flush_task],
        })
    }

    /// The base endpoint to push to with `protocol`.
    pub fn endpoint(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Grpc => format!("http://{}", self.grpc),
            Protocol::HttpProtobuf | Protocol::HttpJson => format!("http://{}", self.http),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn request(
        time: u64,
        scopes: &[&str],
        points_per_metric: usize,
    ) -> ExportMetricsServiceRequest {
        let point = NumberDataPoint {
            time_unix_nano: time,
            ..NumberDataPoint::default()
        };
        let scope_metrics = scopes
            .iter()
            .map(|scope| ScopeMetrics {
                scope: Some(
                    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                        name: scope.to_string(),
                        ..Default::default()
                    },
                ),
                metrics: vec![Metric {
                    name: "kube_pod_info".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point.clone(); points_per_metric],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource::default()),
                scope_metrics,
                ..ResourceMetrics::default()
            }],
        }
    }

    #[test]
    fn requests_of_one_collection_make_one_push() {
        let pushes = Pushes::default();
        pushes.receive(&request(7, &["pods", "nodes"], 3));
        pushes.receive(&request(7, &["pods"], 2));
        let (printed, push) = &*pushes.lock();
        assert_eq!(*printed, 0, "still the same push");
        assert_eq!(
            summary(1, push),
            format!(
                "OTLP push 1 received: 2 requests, 8 points in 3 metrics, {}, 1 resource, 2 scopes",
                human_bytes(push.bytes as u64)
            )
        );
    }

    #[test]
    fn the_next_collection_completes_the_push_before() {
        let pushes = Pushes::default();
        pushes.receive(&request(7, &["pods"], 1));
        pushes.receive(&request(8, &["pods"], 4));
        let (printed, push) = &*pushes.lock();
        assert_eq!(*printed, 1);
        assert_eq!((push.requests, push.points), (1, 4));
    }

    #[test]
    fn a_quiet_push_is_complete() {
        let pushes = Pushes::default();
        pushes.receive(&request(7, &["pods"], 1));
        pushes.flush_quiet();
        assert_eq!(pushes.lock().0, 0, "not quiet yet");
        pushes.lock().1.last = Instant::now().checked_sub(QUIET);
        pushes.flush_quiet();
        assert_eq!(pushes.lock().0, 1);
        assert_eq!(pushes.lock().1.requests, 0);
    }

    #[test]
    fn entity_events_are_counted_in_either_layout() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let receiver_layout = |event: &str| LogRecord {
            attributes: vec![KeyValue {
                key: "otel.entity.event.type".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue(event.into())),
                }),
                ..KeyValue::default()
            }],
            ..LogRecord::default()
        };
        let spec_layout = |event: &str| LogRecord {
            event_name: event.into(),
            ..LogRecord::default()
        };
        let log_records = vec![
            receiver_layout("entity_state"),
            receiver_layout("entity_state"),
            receiver_layout("entity_delete"),
            spec_layout("entity.state"),
            spec_layout("entity.delete"),
            spec_layout("something.else"),
        ];
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        let line = entity_summary(&request);
        assert!(
            line.starts_with("OTLP entity events received: 3 states, 2 deletes, ")
                && line.ends_with(", 1 other records"),
            "{line}"
        );
    }
}
