//! OTLP push end to end: request splitting measured by gRPC and HTTP receivers that check every
//! point, TLS with a test CA (server and client certificates), a real collector (Rotel), and a
//! collector that is down.
//!
//! `OTLP_TEST_POINTS` (default 120000) sets the size of the large collections; for figures:
//! `OTLP_TEST_POINTS=1000000 cargo test --release --test otlp large -- --nocapture
//! --test-threads=1`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use hyper_util::service::TowerToHyperService;
use kube_emulator::{Emulator, GeneratedCluster};
use kube_state_otel::export::otlp::{
    Compression, ExportStats, MAX_PENDING_COLLECTIONS, OtlpConfig, OtlpError, OtlpExporter,
    OtlpTelemetry, PemFile, Protocol, TlsFiles, export_once,
};
use kube_state_otel::leader::Leadership;
use kube_state_otel::meter::Collect;
use kube_state_otel::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number, OpenMetricsType};
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as PointValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint};
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

mod harness;
use harness::{Exporter, start_emulator, wait_for};

mod rotel;
use rotel::Rotel;

// ---- A synthetic collection whose every point can be checked on arrival ----

/// (scope, name, kind) of the instruments of the synthetic collection.
const INSTRUMENTS: [(&str, &str, InstrumentKind); 3] = [
    (
        "kube-state-otel/pod",
        "test_pod_info",
        InstrumentKind::Gauge,
    ),
    (
        "kube-state-otel/pod",
        "test_pod_restarts_total",
        InstrumentKind::Counter,
    ),
    (
        "kube-state-otel/node",
        "test_node_delta",
        InstrumentKind::UpDownCounter,
    ),
];

/// Points per instrument for `total` points.
fn split(total: usize) -> [usize; 3] {
    let base = total / 3;
    [base + total % 3, base, base]
}

/// Six string attributes, KSM-like; `pod` carries the index.
fn attributes(i: usize, out: &mut Vec<KeyValue>) {
    out.clear();
    out.extend([
        KeyValue::new("namespace", format!("namespace-{}", i % 50)),
        KeyValue::new("pod", format!("pod-{i}")),
        KeyValue::new("uid", format!("{:08x}-1f2e-4d3c-8b7a-{:012x}", i, i * 7919)),
        KeyValue::new("node", format!("node-{}", i % 5000)),
        KeyValue::new("created_by_kind", "ReplicaSet"),
        KeyValue::new(
            "host_ip",
            format!("10.{}.{}.{}", i % 250, i / 250 % 250, i % 7),
        ),
    ]);
}

fn value(instrument: usize, i: usize) -> Number {
    match instrument {
        0 => Number::F64(i as f64 * 0.5),
        1 => Number::U64(i as u64),
        _ => Number::I64(i as i64 - 1000),
    }
}

fn synthetic(points: [usize; 3]) -> Collect {
    Arc::new(move |sink: &mut dyn MetricSink| {
        let mut attrs = Vec::with_capacity(6);
        for (m, (scope, name, kind)) in INSTRUMENTS.iter().enumerate() {
            sink.begin(&InstrumentDesc {
                scope: Arc::from(*scope),
                schema_url: Cow::Borrowed(""),
                name: Cow::Borrowed(name),
                description: Cow::Owned(format!("Synthetic {name}.")),
                unit: Cow::Borrowed(""),
                kind: *kind,
                openmetrics: OpenMetricsType::FromKind,
            });
            for i in 0..points[m] {
                attributes(i, &mut attrs);
                sink.observe(value(m, i), &attrs);
            }
        }
    })
}

// ---- A receiver that measures every request and checks every point ----

#[derive(Default)]
struct Tally {
    /// When set, requests are kept here whole instead of checked as the synthetic collection.
    kept: Option<Vec<ExportMetricsServiceRequest>>,
    /// The gRPC metadata or HTTP headers of each request.
    headers: Vec<http::HeaderMap>,
    sizes: Vec<usize>,
    points: usize,
    errors: Vec<String>,
    seen: [Vec<bool>; 3],
}

impl Tally {
    fn error(&mut self, message: String) {
        if self.errors.len() < 20 {
            self.errors.push(message);
        }
    }

    fn record(&mut self, request: &ExportMetricsServiceRequest) {
        if let Some(kept) = &mut self.kept {
            kept.push(request.clone());
            return;
        }
        self.sizes.push(request.encoded_len());
        for rm in &request.resource_metrics {
            let service = rm.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.as_ref()?.value.clone())
            });
            if service != Some(AnyValue::StringValue("kube-state-otel".into())) {
                self.error(format!("resource service.name is {service:?}"));
            }
            for sm in &rm.scope_metrics {
                let scope = sm.scope.as_ref().map_or("", |s| s.name.as_str());
                for metric in &sm.metrics {
                    let Some(m) = INSTRUMENTS.iter().position(|i| i.1 == metric.name) else {
                        self.error(format!("unexpected metric {}", metric.name));
                        continue;
                    };
                    if INSTRUMENTS[m].0 != scope {
                        self.error(format!("{} in scope {scope}", metric.name));
                    }
                    if metric.description != format!("Synthetic {}.", metric.name) {
                        self.error(format!(
                            "{} description {:?}",
                            metric.name, metric.description
                        ));
                    }
                    let points = match (&metric.data, INSTRUMENTS[m].2) {
                        (Some(Data::Gauge(g)), InstrumentKind::Gauge) => &g.data_points,
                        (
                            Some(Data::Sum(s)),
                            kind @ (InstrumentKind::Counter | InstrumentKind::UpDownCounter),
                        ) if s.is_monotonic == (kind == InstrumentKind::Counter)
                            && s.aggregation_temporality
                                == AggregationTemporality::Cumulative as i32 =>
                        {
                            &s.data_points
                        }
                        (data, kind) => {
                            self.error(format!("{}: {kind:?} arrived as {data:?}", metric.name));
                            continue;
                        }
                    };
                    for point in points {
                        self.check_point(m, point);
                    }
                }
            }
        }
    }

    fn check_point(&mut self, m: usize, point: &NumberDataPoint) {
        self.points += 1;
        let pod = point.attributes.iter().find(|kv| kv.key == "pod");
        let i = match pod.and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
            Some(AnyValue::StringValue(s)) => s.strip_prefix("pod-").and_then(|n| n.parse().ok()),
            _ => None,
        };
        let Some(i) = i.filter(|&i: &usize| i < self.seen[m].len()) else {
            self.error(format!("point without a known pod index: {point:?}"));
            return;
        };
        if std::mem::replace(&mut self.seen[m][i], true) {
            self.error(format!("{} point {i} arrived twice", INSTRUMENTS[m].1));
        }
        let mut expected = Vec::new();
        attributes(i, &mut expected);
        let got: Vec<(String, Option<AnyValue>)> = point
            .attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().and_then(|v| v.value.clone()),
                )
            })
            .collect();
        let want: Vec<(String, Option<AnyValue>)> = expected
            .iter()
            .map(|kv| {
                let v = AnyValue::StringValue(kv.value.as_str().into_owned());
                (kv.key.as_str().to_string(), Some(v))
            })
            .collect();
        if got != want {
            self.error(format!("point {i}: attributes {got:?}, expected {want:?}"));
        }
        let want_value = match value(m, i) {
            Number::F64(v) => PointValue::AsDouble(v),
            Number::U64(v) => PointValue::AsInt(v as i64),
            Number::I64(v) => PointValue::AsInt(v),
        };
        if point.value != Some(want_value) {
            self.error(format!(
                "point {i}: value {:?}, expected {want_value:?}",
                point.value
            ));
        }
        let is_sum = INSTRUMENTS[m].2 != InstrumentKind::Gauge;
        if point.time_unix_nano == 0
            || is_sum != (point.start_time_unix_nano != 0)
            || point.start_time_unix_nano > point.time_unix_nano
        {
            self.error(format!(
                "point {i}: start {} time {}",
                point.start_time_unix_nano, point.time_unix_nano
            ));
        }
    }
}

struct Receiver {
    tally: Mutex<Tally>,
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        tally
            .headers
            .push(request.metadata().clone().into_headers());
        tally.record(request.get_ref());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// OTLP/HTTP: a gzip or plain `ExportMetricsServiceRequest` POSTed to `/v1/metrics`, in
/// protobuf or in the specification's JSON (decoded with opentelemetry-proto's serde mapping,
/// which reads 64-bit integers as strings), answered in kind.
async fn http_export(
    State(receiver): State<Arc<Receiver>>,
    headers: http::HeaderMap,
    body: Bytes,
) -> (http::StatusCode, Vec<u8>) {
    let content_type = headers.get(http::header::CONTENT_TYPE);
    let json = match content_type.and_then(|v| v.to_str().ok()) {
        Some("application/x-protobuf") => false,
        Some("application/json") => true,
        _ => return (http::StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new()),
    };
    let body = match headers.get(http::header::CONTENT_ENCODING) {
        Some(v) if v == "gzip" => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(&body[..]);
            match std::io::Read::read_to_end(&mut decoder, &mut out) {
                Ok(_) => Bytes::from(out),
                Err(_) => return (http::StatusCode::BAD_REQUEST, Vec::new()),
            }
        }
        Some(_) => return (http::StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new()),
        None => body,
    };
    let request = if json {
        serde_json::from_slice::<ExportMetricsServiceRequest>(&body).ok()
    } else {
        ExportMetricsServiceRequest::decode(body).ok()
    };
    let Some(request) = request else {
        return (http::StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut tally = receiver.tally.lock().unwrap_or_else(|p| p.into_inner());
    tally.headers.push(headers);
    tally.record(&request);
    let response = ExportMetricsServiceResponse::default();
    let response = if json {
        serde_json::to_vec(&response).unwrap_or_default()
    } else {
        response.encode_to_vec()
    };
    (http::StatusCode::OK, response)
}

/// Both transports on one router: `/v1/metrics` and the gRPC `MetricsService`.
fn router(receiver: Arc<Receiver>) -> axum::Router {
    let grpc = MetricsServiceServer::from_arc(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(512 * 1024 * 1024);
    axum::Router::new()
        .route("/v1/metrics", axum::routing::post(http_export))
        .route_service(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            grpc,
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(receiver)
}

/// A receiver task, stopped on drop.
struct Served {
    receiver: Arc<Receiver>,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    fn take(&self) -> Tally {
        std::mem::take(
            &mut *self
                .receiver
                .tally
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Keep requests whole from now on (the binary's real collections).
    fn keep(&self) {
        self.receiver
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .kept = Some(Vec::new());
    }

    fn kept(&self) -> Vec<ExportMetricsServiceRequest> {
        let tally = self
            .receiver
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        tally.kept.clone().unwrap_or_default()
    }

    fn expect(&self, points: [usize; 3]) {
        let mut tally = self
            .receiver
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        tally.seen = points.map(|n| vec![false; n]);
    }
}

/// Serves the receiver on `listener`; accepts gzip and zstd, and messages far above the
/// default 4 MiB so that oversized requests arrive and are measured rather than refused.
fn serve(listener: TcpListener) -> Served {
    let receiver = new_receiver();
    let service = MetricsServiceServer::from_arc(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(512 * 1024 * 1024);
    let task = tokio::spawn(async move {
        let served = Server::builder()
            .serve_with_incoming(service, TcpIncoming::from(listener))
            .await;
        if let Err(e) = served {
            eprintln!("test receiver stopped: {e}");
        }
    });
    Served { receiver, task }
}

fn new_receiver() -> Arc<Receiver> {
    Arc::new(Receiver {
        tally: Mutex::new(Tally::default()),
    })
}

/// Serves OTLP/HTTP (`/v1/metrics`) on `listener`.
fn serve_http(listener: TcpListener) -> Served {
    let receiver = new_receiver();
    let app = router(receiver.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("test receiver stopped: {e}");
        }
    });
    Served { receiver, task }
}

/// Serves both transports over TLS (HTTP/1.1 and HTTP/2 by ALPN) on `listener`.
fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>) -> Served {
    let receiver = new_receiver();
    let service = TowerToHyperService::new(router(receiver.clone()));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        // Owned by the accept loop, so stopping the receiver also closes its connections.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            while connections.try_join_next().is_some() {}
            let (acceptor, service) = (acceptor.clone(), service.clone());
            connections.spawn(async move {
                // A refused handshake (no client certificate) is what some tests want.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = AutoBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Served { receiver, task }
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn config(addr: SocketAddr, max_request_bytes: usize, compression: Compression) -> OtlpConfig {
    OtlpConfig {
        endpoint: format!("http://{addr}"),
        max_request_bytes,
        compression,
        timeout: Duration::from_secs(30),
        ..OtlpConfig::default()
    }
}

fn total_points() -> usize {
    std::env::var("OTLP_TEST_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120_000)
}

/// Exports `total` synthetic points through a fresh receiver and checks everything it got.
async fn export_checked(total: usize, limit: usize, compression: Compression) -> ExportStats {
    export_checked_over(Protocol::Grpc, total, limit, compression).await
}

async fn export_checked_over(
    protocol: Protocol,
    total: usize,
    limit: usize,
    compression: Compression,
) -> ExportStats {
    let (listener, addr) = bind().await;
    let (served, config) = match protocol {
        Protocol::Grpc => (serve(listener), config(addr, limit, compression)),
        Protocol::HttpProtobuf | Protocol::HttpJson => (
            serve_http(listener),
            OtlpConfig {
                protocol,
                endpoint: format!("http://{addr}/v1/metrics"),
                ..config(addr, limit, compression)
            },
        ),
    };
    let points = split(total);
    served.expect(points);
    let collect = synthetic(points);
    let stats = export_once(&config, collect)
        .await
        .unwrap_or_else(|e| panic!("export to the test receiver failed: {e}"));
    let tally = served.take();
    eprintln!(
        "{total} points over {protocol}, limit {limit} B, {compression:?}: {} (receiver in \
         the process CPU)",
        describe(&stats)
    );

    assert!(tally.errors.is_empty(), "bad points: {:#?}", tally.errors);
    assert_eq!(stats.points, total as u64);
    assert_eq!(stats.points_dropped, 0);
    assert_eq!(tally.points, total, "points received");
    for (m, seen) in tally.seen.iter().enumerate() {
        let missing = seen.iter().filter(|s| !**s).count();
        assert_eq!(
            missing, 0,
            "{} points missing of {}",
            missing, INSTRUMENTS[m].1
        );
    }
    assert_eq!(tally.sizes.len() as u64, stats.requests);
    assert_eq!(tally.sizes.iter().sum::<usize>() as u64, stats.bytes);
    assert!(
        stats.requests > 1,
        "the collection should need several requests"
    );
    for (n, size) in tally.sizes.iter().enumerate() {
        assert!(*size <= limit, "request {n} is {size} B, over {limit}");
        // Requests are filled up to the limit: only the last one may be short.
        if n + 1 < tally.sizes.len() {
            assert!(
                *size > limit - 1024,
                "request {n} is only {size} B of {limit}"
            );
        }
    }
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_collection_is_split_within_the_limit() {
    let total = total_points();
    assert!(total >= 100_000);
    export_checked(total, 4 * 1024 * 1024, Compression::None).await;
    export_checked(total, 256 * 1024, Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_collection_is_split_within_the_limit() {
    let stats = export_checked_over(
        Protocol::HttpProtobuf,
        30_000,
        256 * 1024,
        Compression::Gzip,
    )
    .await;
    assert!(stats.requests >= 4);
    export_checked_over(Protocol::HttpProtobuf, 6_000, 64 * 1024, Compression::None).await;
}

/// The same collection over OTLP/HTTP in JSON: every point arrives as sent (values, start
/// times, attributes of every type), split as the protobuf requests are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_collection_arrives_point_for_point() {
    let stats = export_checked_over(Protocol::HttpJson, 6_000, 64 * 1024, Compression::Gzip).await;
    assert!(stats.requests >= 4);
}

/// HTTP status codes as the OTLP/HTTP specification reads them: 503 with `Retry-After` is
/// retried after the given wait, 400 is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_retries_only_what_the_specification_calls_retryable() {
    let (listener, addr) = bind().await;
    let calls = Arc::new(AtomicU64::new(0));
    let status = Arc::new(AtomicU64::new(503));
    let app = {
        let (calls, status) = (calls.clone(), status.clone());
        axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let code = status.load(Ordering::SeqCst) as u16;
                let code = if n == 0 { code } else { 200 };
                let code = http::StatusCode::from_u16(code).expect("status");
                (code, [(http::header::RETRY_AFTER, "1")], Vec::<u8>::new())
            }),
        )
    };
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = OtlpConfig {
        protocol: Protocol::HttpProtobuf,
        endpoint: format!("http://{addr}/v1/metrics"),
        ..config(addr, 64 * 1024, Compression::None)
    };
    for code in [503, 429] {
        calls.store(0, Ordering::SeqCst);
        status.store(code, Ordering::SeqCst);
        let started = Instant::now();
        let stats = export_once(&config, small_collection())
            .await
            .expect("retried");
        assert_eq!(stats.points, 4);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{code}");
        // Retry-After: 1 was honoured rather than the 250 ms first backoff.
        assert!(started.elapsed() >= Duration::from_secs(1), "{code}");
    }

    calls.store(0, Ordering::SeqCst);
    status.store(400, Ordering::SeqCst);
    match export_once(&config, small_collection()).await {
        Err(OtlpError::Export { code, .. }) => assert_eq!(code, "HTTP 400"),
        other => panic!("a 400 was not final: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    task.abort();
}

/// A receiver asking for a wait no clock can hold (`Retry-After: 18446744073709551615`, the
/// largest delay-seconds a u64 takes; found by the `otlp_response` fuzz target): the exporter
/// gives up on the request, as on any wait beyond its retry budget, instead of panicking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_retry_after_gives_up_instead_of_panicking() {
    let (listener, addr) = bind().await;
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(|| async {
            let forever = u64::MAX.to_string();
            let code = http::StatusCode::SERVICE_UNAVAILABLE;
            (
                code,
                [(http::header::RETRY_AFTER, forever)],
                Vec::<u8>::new(),
            )
        }),
    );
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = OtlpConfig {
        protocol: Protocol::HttpProtobuf,
        endpoint: format!("http://{addr}/v1/metrics"),
        ..config(addr, 64 * 1024, Compression::None)
    };
    match export_once(&config, small_collection()).await {
        Err(OtlpError::Export { code, .. }) => assert_eq!(code, "HTTP 503"),
        other => panic!("an endless Retry-After was not given up: {other:?}"),
    }
    task.abort();
}

/// A gRPC receiver whose `INVALID_ARGUMENT` carries a `grpc-status-details-bin` that is not
/// base64 (tonic 0.14's status decoding panics on it; found by the `otlp_response` fuzz target),
/// in the headers of a trailers-only response or in the trailers after a message: the export
/// fails with the status, without its details, instead of panicking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_grpc_status_details_are_an_error_not_a_panic() {
    for trailers_only in [true, false] {
        let (listener, addr) = bind().await;
        let app = axum::Router::new().route(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            axum::routing::post(move || async move {
                let mut status = http::HeaderMap::new();
                status.insert("grpc-status", http::HeaderValue::from_static("3"));
                status.insert("grpc-message", http::HeaderValue::from_static("bad"));
                let garbage = http::HeaderValue::from_static("!not base64!");
                status.insert("grpc-status-details-bin", garbage);
                let body = if trailers_only {
                    axum::body::Body::empty()
                } else {
                    // An empty response message, then the status.
                    let frames = [
                        http_body::Frame::data(Bytes::from_static(&[0; 5])),
                        http_body::Frame::trailers(std::mem::take(&mut status)),
                    ];
                    let frames = futures::stream::iter(frames.map(Ok::<_, std::io::Error>));
                    axum::body::Body::new(http_body_util::StreamBody::new(frames))
                };
                let mut response = http::Response::new(body);
                let headers = response.headers_mut();
                headers.insert(
                    "content-type",
                    http::HeaderValue::from_static("application/grpc"),
                );
                headers.extend(status);
                response
            }),
        );
        let service = TowerToHyperService::new(app);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = AutoBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        let config = config(addr, 64 * 1024, Compression::None);
        match export_once(&config, small_collection()).await {
            Err(OtlpError::Export { code, message }) => {
                assert_eq!(code, "InvalidArgument", "trailers only: {trailers_only}");
                assert!(message.contains("bad"), "{message}");
            }
            other => panic!("trailers only: {trailers_only}: {other:?}"),
        }
        task.abort();
    }
}

/// A gRPC receiver that answers the first export of each round with `status`.
struct Refusing {
    calls: AtomicU64,
    status: Mutex<Option<Status>>,
}

#[tonic::async_trait]
impl MetricsService for Refusing {
    async fn export(
        &self,
        _: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.status.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(status) => Err(status),
            None => Ok(Response::new(ExportMetricsServiceResponse::default())),
        }
    }
}

/// gRPC statuses as the OTLP specification reads them, from a real gRPC server (its errors
/// come as trailers-only responses): `UNAVAILABLE` with `RetryInfo` in
/// `grpc-status-details-bin` is retried after the given wait, `INVALID_ARGUMENT` is not
/// retried and its message reaches the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_retries_only_what_the_specification_calls_retryable() {
    let (listener, addr) = bind().await;
    let refusing = Arc::new(Refusing {
        calls: AtomicU64::new(0),
        status: Mutex::new(None),
    });
    let service = MetricsServiceServer::from_arc(refusing.clone());
    let task = tokio::spawn(async move {
        Server::builder()
            .serve_with_incoming(service, TcpIncoming::from(listener))
            .await
    });
    // google.rpc.Status { details: [Any { RetryInfo { retry_delay: 1 s } }] }, by hand.
    let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
    let mut any = vec![0x0a, type_url.len() as u8];
    any.extend_from_slice(type_url);
    any.extend_from_slice(&[0x12, 4, 0x0a, 2, 0x08, 1]);
    let mut details = vec![0x1a, any.len() as u8];
    details.extend_from_slice(&any);
    let busy = Status::with_details(tonic::Code::Unavailable, "busy", details.into());
    let config = config(addr, 64 * 1024, Compression::None);

    *refusing.status.lock().unwrap() = Some(busy);
    let started = Instant::now();
    let stats = export_once(&config, small_collection())
        .await
        .expect("retried");
    assert_eq!(stats.points, 4);
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 2);
    // RetryInfo's 1 s was honoured rather than the 250 ms first backoff.
    assert!(started.elapsed() >= Duration::from_secs(1));

    refusing.calls.store(0, Ordering::SeqCst);
    *refusing.status.lock().unwrap() = Some(Status::invalid_argument("bad points"));
    match export_once(&config, small_collection()).await {
        Err(OtlpError::Export { code, message }) => {
            assert_eq!(code, "InvalidArgument");
            assert!(message.contains("bad points"), "{message}");
        }
        other => panic!("INVALID_ARGUMENT was not final: {other:?}"),
    }
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 1);
    task.abort();
}

/// A receiver answering with a body far larger than any OTLP response: the exporter stops
/// reading at its limit and counts a failure instead of buffering it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_http_response_is_an_error_not_a_buffer() {
    let (listener, addr) = bind().await;
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(|| async { vec![0u8; 8 * 1024 * 1024] }),
    );
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = OtlpConfig {
        protocol: Protocol::HttpProtobuf,
        endpoint: format!("http://{addr}/v1/metrics"),
        retry_max_elapsed: Duration::ZERO,
        ..config(addr, 64 * 1024, Compression::None)
    };
    match export_once(&config, small_collection()).await {
        Err(OtlpError::Export { message, .. }) => {
            assert!(message.contains("reading the response"), "{message}")
        }
        other => panic!("an 8 MiB response was accepted: {other:?}"),
    }
    task.abort();
}

// ---- TLS, with a CA made here ----

/// A receiver's TLS settings: a new certificate for localhost from the CA, and a client
/// certificate from it required.
fn server_config(ca: &rcgen::Certificate, ca_key: &rcgen::KeyPair) -> Arc<rustls::ServerConfig> {
    let (server_cert, server_key) = leaf(ca, ca_key, "localhost");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(server)
}

/// A certificate for `name` signed by the CA, and its key.
fn leaf(
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
    name: &str,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, ca, ca_key)
        .unwrap();
    (cert, key)
}

/// A test CA, a server certificate for localhost and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    server: Arc<rustls::ServerConfig>,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let (client_cert, client_key) = leaf(&ca, &ca_key, "kube-state-otel");
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("client.pem", client_cert.pem()),
            ("client-key.pem", client_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki {
            dir,
            server: server_config(&ca, &ca_key),
            ca,
            ca_key,
        }
    }

    /// The receiver's TLS settings with a new certificate (the old one rotated).
    fn new_server(&self) -> Arc<rustls::ServerConfig> {
        server_config(&self.ca, &self.ca_key)
    }

    fn file(&self, name: &'static str, setting: &'static str) -> Option<PemFile> {
        Some(PemFile {
            path: self.dir.path().join(name),
            setting,
        })
    }

    /// CA and client certificate: what the receiver requires.
    fn mutual(&self) -> TlsFiles {
        TlsFiles {
            certificate: self.file("ca.pem", "test ca"),
            client_certificate: self.file("client.pem", "test client certificate"),
            client_key: self.file("client-key.pem", "test client key"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocols_push_over_mutual_tls_with_headers() {
    let pki = Pki::new();
    let (listener, addr) = bind().await;
    let served = serve_tls(listener, pki.server.clone());
    for (protocol, endpoint) in [
        (Protocol::Grpc, format!("https://localhost:{}", addr.port())),
        (
            Protocol::HttpProtobuf,
            format!("https://localhost:{}/v1/metrics", addr.port()),
        ),
    ] {
        let config = OtlpConfig {
            protocol,
            endpoint,
            tls: pki.mutual(),
            headers: vec![
                ("authorization".to_string(), "Bearer s3cret".to_string()),
                ("x-scope-orgid".to_string(), "tenant-1".to_string()),
            ],
            ..config(addr, 64 * 1024, Compression::Gzip)
        };
        let points = split(3_000);
        served.expect(points);
        let stats = export_once(&config, synthetic(points))
            .await
            .unwrap_or_else(|e| panic!("{protocol} over TLS: {e}"));
        let tally = served.take();
        assert!(tally.errors.is_empty(), "{protocol}: {:#?}", tally.errors);
        assert_eq!(tally.points, 3_000, "{protocol}");
        assert_eq!(tally.headers.len() as u64, stats.requests);
        for headers in &tally.headers {
            assert_eq!(
                headers.get("authorization").and_then(|v| v.to_str().ok()),
                Some("Bearer s3cret"),
                "{protocol}"
            );
            assert_eq!(
                headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()),
                Some("tenant-1")
            );
        }
    }

    // Without the client certificate the receiver refuses the handshake; without the CA the
    // receiver's certificate is not trusted. Both are errors, not hangs.
    for (what, tls) in [
        (
            "no client certificate",
            TlsFiles {
                certificate: pki.file("ca.pem", "test ca"),
                ..TlsFiles::default()
            },
        ),
        ("system roots only", TlsFiles::default()),
    ] {
        let config = OtlpConfig {
            protocol: Protocol::HttpProtobuf,
            endpoint: format!("https://localhost:{}/v1/metrics", addr.port()),
            tls,
            retry_max_elapsed: Duration::ZERO,
            ..config(addr, 64 * 1024, Compression::None)
        };
        let result = export_once(&config, small_collection()).await;
        assert!(result.is_err(), "{what}: {result:?}");
    }
    assert_eq!(served.take().points, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_compression_is_accepted() {
    let stats = export_checked(6_000, 64 * 1024, Compression::Zstd).await;
    assert!(stats.requests >= 10);
}

// ---- Start times across restarts ----

const RESTARTS: &str = "kube_pod_container_status_restarts_total";

/// The start time of each point of `name`, by its `pod` attribute.
fn start_times(requests: &[ExportMetricsServiceRequest], name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let Some(Data::Sum(sum)) = metric.data.as_ref().filter(|_| metric.name == name) else {
                continue;
            };
            for point in &sum.data_points {
                let pod = point.attributes.iter().find(|kv| kv.key == "pod");
                if let Some(AnyValue::StringValue(pod)) =
                    pod.and_then(|kv| kv.value.as_ref()?.value.as_ref())
                {
                    out.insert(pod.clone(), point.start_time_unix_nano);
                }
            }
        }
    }
    out
}

/// A counter counts since its object was created (a pod's container restarts), so its start
/// time is the object's creation, the same from every process that reports it: two processes
/// started at different times push the same start times, the pods' creationTimestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_start_times_are_the_objects_creation_in_every_process() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(1, 4, 1))).await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (listener, addr) = bind().await;
        let served = serve_http(listener);
        served.keep();
        let process_start = unix_nanos_now();
        let endpoint = format!("http://{addr}");
        let exporter = Exporter::start(
            &emulator.url(),
            &[
                "--otlp-protocol",
                "http/protobuf",
                "--otlp-endpoint",
                &endpoint,
                "--otlp-interval",
                "200ms",
            ],
        );
        exporter.wait_ready().await;
        wait_for("restart counters pushed for every pod", || async {
            start_times(&served.kept(), RESTARTS).len() == 4
        })
        .await;
        let starts = start_times(&served.kept(), RESTARTS);
        let scrape = exporter.metrics().await;
        let created: BTreeMap<String, u64> = starts
            .keys()
            .map(|pod| {
                let seconds =
                    harness::value(&scrape, "kube_pod_created", &[&format!("pod=\"{pod}\"")])
                        .expect("kube_pod_created of the pod");
                (pod.clone(), seconds as u64 * 1_000_000_000)
            })
            .collect();
        runs.push((process_start, starts, created));
    }
    let (first_start, first, created) = &runs[0];
    let (second_start, second, _) = &runs[1];
    assert!(second_start > first_start);
    assert_eq!(
        first, second,
        "start times differ between the two processes"
    );
    assert_eq!(first, created, "start times are the pods' creation");
    assert!(first.values().all(|start| start < first_start));
}

fn unix_nanos_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_nanos()).expect("before 2554")
}

// ---- Rotel, a real OTLP collector ----

/// A small collection: gauges with attributes and a counter.
fn small_collection() -> Collect {
    Arc::new(|sink: &mut dyn MetricSink| {
        let desc = |name: &'static str, kind| InstrumentDesc {
            scope: Arc::from("kube-state-otel/pod"),
            schema_url: Cow::Borrowed(""),
            name: Cow::Borrowed(name),
            description: Cow::Borrowed("Rotel test metric."),
            unit: Cow::Borrowed(""),
            kind,
            openmetrics: OpenMetricsType::FromKind,
        };
        let pod = |name: &str| {
            vec![
                KeyValue::new("namespace", "rotel-ns"),
                KeyValue::new("pod", name.to_string()),
                KeyValue::new("node", "rotel-node-a"),
            ]
        };
        sink.begin(&desc("kube_pod_info_rotel", InstrumentKind::Gauge));
        sink.observe(Number::F64(1.0), &pod("web-0"));
        sink.observe(Number::F64(1.0), &pod("web-1"));
        sink.begin(&desc("kube_pod_cpu_request_rotel", InstrumentKind::Gauge));
        let mut attrs = pod("web-0");
        attrs.push(KeyValue::new("resource", "cpu"));
        sink.observe(Number::F64(0.375), &attrs);
        sink.begin(&desc(
            "kube_pod_restarts_rotel_total",
            InstrumentKind::Counter,
        ));
        sink.observe(Number::U64(4242), &pod("web-1"));
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_the_metrics_over_grpc() {
    rotel_receives_the_metrics(Protocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_the_metrics_over_http() {
    rotel_receives_the_metrics(Protocol::HttpProtobuf).await;
}

/// OTLP/HTTP with the specification's JSON encoding, which Rotel's HTTP receiver decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_the_metrics_over_http_json() {
    rotel_receives_the_metrics(Protocol::HttpJson).await;
}

async fn rotel_receives_the_metrics(protocol: Protocol) {
    let rotel = Rotel::start(true).await;
    let config = OtlpConfig {
        protocol,
        endpoint: match protocol {
            Protocol::Grpc => format!("http://{}", rotel.addr),
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                format!("http://{}/v1/metrics", rotel.http_addr)
            }
        },
        ..config(rotel.addr, 4 * 1024 * 1024, Compression::Gzip)
    };
    let stats = export_once(&config, small_collection())
        .await
        .unwrap_or_else(|e| panic!("export to rotel over {protocol} failed: {e}"));
    assert_eq!(stats.points, 4);

    // Rotel's debug log prints each metric as a block: descriptor, then points.
    let expected: [(&str, &[&str]); 3] = [
        (
            "kube_pod_info_rotel",
            &[
                "-> DataType: Gauge",
                "-> pod: Str(web-0)",
                "-> pod: Str(web-1)",
                "-> namespace: Str(rotel-ns)",
                "-> node: Str(rotel-node-a)",
                "Value: 1\n",
            ],
        ),
        (
            "kube_pod_cpu_request_rotel",
            &[
                "-> DataType: Gauge",
                "-> resource: Str(cpu)",
                "Value: 0.375\n",
            ],
        ),
        (
            "kube_pod_restarts_rotel_total",
            &[
                "-> DataType: Sum",
                "-> IsMonotonic: true",
                "-> AggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE",
                "-> pod: Str(web-1)",
                // Rotel's JSON decoding drops an `asInt` written as the decimal string the
                // specification's protobuf-JSON mapping prescribes (it reads only a JSON
                // number): over JSON the integer is checked by our own receiver
                // (http_json_collection_arrives_point_for_point).
                if protocol == Protocol::HttpJson {
                    "StartTimestamp: "
                } else {
                    "Value: 4242\n"
                },
            ],
        ),
    ];
    let whole = [
        "-> service.name: Str(kube-state-otel)",
        "InstrumentationScope kube-state-otel/pod",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = rotel.output();
        let mut missing: Vec<String> = whole
            .iter()
            .filter(|w| !text.contains(*w))
            .map(|w| w.to_string())
            .collect();
        for (name, lines) in expected {
            let header = format!("-> Name: {name}\n");
            let block = text
                .split("Metric #")
                .find(|block| block.contains(&header))
                .unwrap_or("");
            missing.extend(
                lines
                    .iter()
                    .filter(|line| !block.contains(*line))
                    .map(|line| format!("{name}: {line:?}")),
            );
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rotel's debug output ({protocol}) lacks {missing:#?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `Resource attributes:` and points of each `ResourceMetrics` block Rotel's debug log
/// printed.
fn rotel_resources(output: &str) -> Vec<(String, String)> {
    output
        .split("ResourceMetrics #")
        .skip(1)
        .filter_map(|block| {
            let (_, rest) = block.split_once("Resource attributes:")?;
            let (resource, metrics) = rest.split_once("ScopeMetrics #")?;
            Some((resource.to_string(), metrics.to_string()))
        })
        .collect()
}

/// `--otlp-identity-on-resource` from the binary to Rotel: each pod's identity labels make
/// its resource (after `service.name`), its points of every family come under it without
/// them, and a kind without objects' identity (a node's `node` is its identity too) likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_identity_on_the_resource() {
    let rotel = Rotel::start(true).await;
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(1, 3, 1))).await;
    let endpoint = rotel.endpoint("grpc");
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-interval",
            "300ms",
            "--otlp-identity-on-resource",
            "--resources",
            "pods,nodes",
        ],
    );
    exporter.wait_ready().await;
    let scrape = exporter.metrics().await;
    let pods: Vec<(String, String)> = harness::samples(&scrape, "kube_pod_info")
        .iter()
        .map(|line| {
            let label = |name: &str| {
                let start = line.find(&format!("{name}=\"")).expect("label") + name.len() + 2;
                line[start..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            (label("pod"), label("uid"))
        })
        .collect();
    assert_eq!(pods.len(), 3, "{scrape}");
    wait_for("every pod's resource at rotel", || async {
        let resources = rotel_resources(&rotel.output());
        pods.iter().all(|(pod, _)| {
            resources
                .iter()
                .any(|(resource, _)| resource.contains(&format!("-> pod: Str({pod})")))
        })
    })
    .await;
    let resources = rotel_resources(&rotel.output());
    for (pod, uid) in &pods {
        let (resource, metrics) = resources
            .iter()
            .find(|(resource, _)| resource.contains(&format!("-> pod: Str({pod})")))
            .expect("the pod's resource");
        let keys: Vec<&str> = resource
            .lines()
            .filter_map(|line| line.trim().strip_prefix("-> "))
            .filter_map(|attribute| attribute.split(':').next())
            .collect();
        assert_eq!(
            keys,
            ["service.name", "namespace", "pod", "uid"],
            "{resource}"
        );
        assert!(
            resource.contains(&format!("-> uid: Str({uid})")),
            "{resource}"
        );
        for family in [
            "kube_pod_info",
            "kube_pod_status_phase",
            "kube_pod_container_status_restarts_total",
        ] {
            assert!(
                metrics.contains(&format!("-> Name: {family}\n")),
                "{pod}: no {family} under its resource:\n{metrics}"
            );
        }
        assert!(
            metrics.contains("-> phase: Str(Running)")
                || metrics.contains("-> phase: Str(Pending)")
        );
        for identity in ["-> namespace:", "-> pod:", "-> uid:"] {
            assert!(
                !metrics.contains(identity),
                "{identity} on a point:\n{metrics}"
            );
        }
    }
    let node = resources
        .iter()
        .find(|(_, metrics)| metrics.contains("-> Name: kube_node_info\n"))
        .expect("the node's resource");
    assert!(node.0.contains("-> node: Str("), "{}", node.0);
}

/// Rotel keeps the usual 4 MiB gRPC receive limit: the split collection passes whole (over
/// gRPC, and over HTTP with gzip), the same collection as one gRPC request does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_accepts_a_large_collection_split_into_4_mib_requests() {
    let rotel = Rotel::start(false).await;
    let total = total_points();
    let limit = 4 * 1024 * 1024;
    let http = OtlpConfig {
        protocol: Protocol::HttpProtobuf,
        endpoint: format!("http://{}/v1/metrics", rotel.http_addr),
        ..config(rotel.addr, limit, Compression::Gzip)
    };
    for config in [config(rotel.addr, limit, Compression::None), http] {
        let collect = synthetic(split(total));
        let stats = export_once(&config, collect)
            .await
            .unwrap_or_else(|e| panic!("rotel refused a request: {e}\n{}", rotel.output()));
        eprintln!(
            "{total} points to rotel over {}, {:?}, limit {limit} B: {}",
            config.protocol,
            config.compression,
            describe(&stats)
        );
        assert_eq!(stats.points, total as u64);
        assert!(stats.requests > 1);
        assert!(stats.largest_request_bytes <= limit as u64);
    }

    let unsplit = OtlpConfig {
        retry_max_elapsed: Duration::ZERO,
        ..config(rotel.addr, usize::MAX, Compression::None)
    };
    let collect = synthetic(split(120_000));
    match export_once(&unsplit, collect).await {
        Err(OtlpError::Export { code, message }) => {
            eprintln!("one 24 MB request: {code:?}: {message}")
        }
        other => panic!("rotel accepted one request of 120000 points: {other:?}"),
    }
}

// ---- A collector that is down ----

/// Routes the process' `tracing` output (info and up) into a buffer.
fn capture_logs() -> Arc<Mutex<String>> {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<String>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let text = String::from_utf8_lossy(buf);
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&text);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Buffer(Arc::new(Mutex::new(String::new())));
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    logs.0
}

/// Counts collections and how many run at once.
struct Probe {
    calls: AtomicU64,
    running: AtomicU64,
    max_running: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_keeps_collecting_with_bounded_queue() {
    // A port nobody listens on, until the receiver comes up on it at the end.
    let (listener, addr) = bind().await;
    drop(listener);

    let probe = Arc::new(Probe {
        calls: AtomicU64::new(0),
        running: AtomicU64::new(0),
        max_running: AtomicU64::new(0),
    });
    let inner = synthetic(split(3_000));
    let collect: Collect = {
        let probe = probe.clone();
        Arc::new(move |sink: &mut dyn MetricSink| {
            probe.calls.fetch_add(1, Ordering::SeqCst);
            let running = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.max_running.fetch_max(running, Ordering::SeqCst);
            inner(sink);
            probe.running.fetch_sub(1, Ordering::SeqCst);
        })
    };
    let logs = capture_logs();
    let interval = Duration::from_millis(200);
    let config = OtlpConfig {
        interval,
        // Many requests per collection, so a stuck sender also blocks collections mid-way.
        max_request_bytes: 16 * 1024,
        // Longer than the interval, so collections pile up behind the one being retried.
        retry_max_elapsed: Duration::from_secs(1),
        ..config(addr, 0, Compression::None)
    };
    let telemetry = Arc::new(OtlpTelemetry::default());
    let exporter =
        OtlpExporter::spawn(config, collect, telemetry.clone(), Leadership::always()).unwrap();

    let started = Instant::now();
    let mut max_pending = 0;
    while started.elapsed() < Duration::from_secs(3) {
        max_pending = max_pending.max(telemetry.pending_collections.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = probe.calls.load(Ordering::SeqCst);
    let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
    eprintln!("collector down for 3 s: {calls} collections, {telemetry:?}");
    // On schedule: one collection every 200 ms whatever the sender is doing (about 15; were
    // collections waiting for the sender, 1 s of retries each, there would be 3 or 4).
    assert!((10..=16).contains(&calls), "{calls} collections in 3 s");
    assert_eq!(get(&telemetry.requests_ok), 0);
    assert!(get(&telemetry.requests_failed) >= 2);
    assert!(get(&telemetry.collections_failed) >= 2);
    assert!(get(&telemetry.collections_dropped) >= 3);
    assert!(max_pending <= MAX_PENDING_COLLECTIONS as u64);
    assert!(get(&telemetry.pending_collections_max) <= MAX_PENDING_COLLECTIONS as u64);
    // Blocked collections are bounded too: the one being sent, the pending ones, and one
    // being pushed out.
    let max_running = probe.max_running.load(Ordering::SeqCst);
    assert!(
        max_running <= MAX_PENDING_COLLECTIONS as u64 + 2,
        "{max_running} collections ran at once"
    );

    // The collector comes up: the exporter recovers on its own.
    let served = serve(TcpListener::bind(addr).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&telemetry.requests_ok) == 0 {
        assert!(Instant::now() < deadline, "no recovery: {telemetry:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(get(&telemetry.points_sent) > 0);
    // One warning for the whole outage, not one per retry; one line when it is over.
    let logs = logs.lock().unwrap().clone();
    let endpoint = format!("http://{addr}");
    let lines = |what: &str| {
        logs.lines()
            .filter(|l| l.contains(what) && l.contains(&endpoint))
            .count()
    };
    assert_eq!(lines("otlp export failing"), 1, "{logs}");
    assert_eq!(lines("otlp export recovered"), 1, "{logs}");
    // And it keeps collecting on schedule.
    while probe.calls.load(Ordering::SeqCst) < calls + 3 {
        assert!(Instant::now() < deadline, "collections stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(exporter);
    let tally = served.take();
    assert!(tally.points > 0);
    assert!(tally.sizes.iter().all(|size| *size <= 16 * 1024));
}

/// One export's figures, as the benchmark lines in BENCHMARKS.md quote them.
fn describe(stats: &ExportStats) -> String {
    format!(
        "{} requests, largest {} B, {} B in all, collect+encode CPU {:?}, process CPU {:?}, \
         elapsed {:?}",
        stats.requests,
        stats.largest_request_bytes,
        stats.bytes,
        stats.collect_cpu,
        stats.process_cpu,
        stats.elapsed
    )
}

/// A gRPC receiver that takes `delay_ms` to answer each export.
struct Slow {
    delay_ms: AtomicU64,
}

#[tonic::async_trait]
impl MetricsService for Slow {
    async fn export(
        &self,
        _: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A [`Slow`] gRPC receiver taking `delay_ms` per request, serving on its address.
async fn serve_slow(
    delay_ms: u64,
) -> (
    SocketAddr,
    Arc<Slow>,
    JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let (listener, addr) = bind().await;
    let slow = Arc::new(Slow {
        delay_ms: AtomicU64::new(delay_ms),
    });
    let service = MetricsServiceServer::from_arc(slow.clone());
    let task = tokio::spawn(async move {
        Server::builder()
            .serve_with_incoming(service, TcpIncoming::from(listener))
            .await
    });
    (addr, slow, task)
}

/// `OTEL_METRIC_EXPORT_TIMEOUT` bounds one export as a whole: against a receiver taking 300 ms
/// per request (each request well within its own 10 s timeout), a collection of many requests
/// is given up after the export timeout, with what it sent by then; without one it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_timeout_bounds_a_whole_collection() {
    let (addr, slow, task) = serve_slow(300).await;
    let env = [("OTEL_METRIC_EXPORT_TIMEOUT", "1000")];
    let config = OtlpConfig {
        max_request_bytes: 16 * 1024,
        ..OtlpConfig::resolve(
            kube_state_otel::export::otlp::OtlpOverrides {
                endpoint: Some(format!("http://{addr}")),
                ..Default::default()
            },
            |name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            },
        )
        .expect("valid settings")
    };
    assert_eq!(config.export_timeout, Some(Duration::from_secs(1)));
    let started = Instant::now();
    let outcome = export_once(&config, synthetic(split(6_000))).await;
    let elapsed = started.elapsed();
    match outcome {
        Err(OtlpError::Export { code, message }) => {
            assert_eq!(code, "export timeout", "{message}");
        }
        other => panic!("the export was not cut: {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let whole = OtlpConfig {
        export_timeout: None,
        ..config
    };
    slow.delay_ms.store(0, Ordering::SeqCst);
    let stats = export_once(&whole, synthetic(split(6_000)))
        .await
        .expect("exported without a timeout");
    assert_eq!(stats.points, 6_000);
    task.abort();
}

/// A receiver that takes a second per request, against a collection of many requests every
/// 200 ms: requests keep going through one by one, nothing counts as failed, the backlog
/// stays bounded (older collections are dropped, not queued), and once the receiver is fast
/// again whole collections go through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_keeps_the_backlog_bounded_and_pushes_catch_up_when_it_is_fast() {
    let (addr, slow, task) = serve_slow(1000).await;
    let config = OtlpConfig {
        interval: Duration::from_millis(200),
        max_request_bytes: 16 * 1024,
        ..config(addr, 0, Compression::None)
    };
    let telemetry = Arc::new(OtlpTelemetry::default());
    let exporter = OtlpExporter::spawn(
        config,
        synthetic(split(6_000)),
        telemetry.clone(),
        Leadership::always(),
    )
    .unwrap();
    let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut max_pending = 0;
    while started.elapsed() < Duration::from_secs(4) {
        max_pending = max_pending.max(get(&telemetry.pending_collections));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("slow receiver for 4 s: {telemetry:?}");
    assert!(
        (2..=5).contains(&get(&telemetry.requests_ok)),
        "{telemetry:?}"
    );
    assert_eq!(get(&telemetry.requests_failed), 0, "slow is not failing");
    assert_eq!(
        get(&telemetry.last_export_micros),
        0,
        "no collection of {} requests could finish",
        6
    );
    assert!(get(&telemetry.collections_dropped) >= 5, "{telemetry:?}");
    assert!(max_pending <= MAX_PENDING_COLLECTIONS as u64);

    slow.delay_ms.store(0, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&telemetry.last_export_micros) == 0 {
        assert!(
            Instant::now() < deadline,
            "no whole collection: {telemetry:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(exporter);
    task.abort();
}

/// A partial success is a success: the rejected points are counted, and the request is not
/// sent again (the specification: the client must not retry it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_counts_the_rejected_points_without_retrying() {
    let (listener, addr) = bind().await;
    let calls = Arc::new(AtomicU64::new(0));
    let app = {
        let calls = calls.clone();
        axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let response = ExportMetricsServiceResponse {
                    partial_success: Some(ExportMetricsPartialSuccess {
                        rejected_data_points: 1,
                        error_message: "one point refused".into(),
                    }),
                };
                (
                    [(http::header::CONTENT_TYPE, "application/x-protobuf")],
                    response.encode_to_vec(),
                )
            }),
        )
    };
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = OtlpConfig {
        protocol: Protocol::HttpProtobuf,
        endpoint: format!("http://{addr}/v1/metrics"),
        ..config(addr, 1024, Compression::None)
    };
    let stats = export_once(&config, synthetic(split(300)))
        .await
        .expect("a partial success is a success");
    assert!(stats.requests > 1, "{stats:?}");
    assert_eq!(stats.points_rejected, stats.requests);
    assert_eq!(calls.load(Ordering::SeqCst), stats.requests);
    task.abort();
}

/// `addr` again, once the receiver stopped there has let it go (abort is not immediate).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) => assert!(Instant::now() < deadline, "{addr}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the receiver has taken points, or fails after 10 s.
async fn wait_for_points(served: &Served, what: &str, telemetry: &OtlpTelemetry) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.take().points == 0 {
        assert!(
            Instant::now() < deadline,
            "no points: {what}: {telemetry:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The receiver's certificate is rotated (a new one from the same CA, its connections
/// closed): the pushes go on over new connections that check the new certificate. A
/// certificate from a CA the exporter does not trust is refused, until the exporter's own TLS
/// files are rotated to that CA: they are read again when they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_go_on_when_the_receivers_certificate_is_rotated() {
    let pki = Pki::new();
    let (listener, addr) = bind().await;
    let served = serve_tls(listener, pki.server.clone());
    let config = OtlpConfig {
        endpoint: format!("https://localhost:{}", addr.port()),
        tls: pki.mutual(),
        interval: Duration::from_millis(200),
        retry_max_elapsed: Duration::from_millis(500),
        ..config(addr, 64 * 1024, Compression::None)
    };
    let telemetry = Arc::new(OtlpTelemetry::default());
    let exporter = OtlpExporter::spawn(
        config,
        synthetic(split(30)),
        telemetry.clone(),
        Leadership::always(),
    )
    .unwrap();
    wait_for_points(&served, "first certificate", &telemetry).await;
    drop(served);
    let rotated = serve_tls(rebind(addr).await, pki.new_server());
    wait_for_points(&rotated, "rotated certificate", &telemetry).await;

    // A CA file rewritten with something unusable (a rotation half done) is refused, counted,
    // and the files read before stay in use.
    std::fs::write(pki.dir.path().join("ca.pem"), "not a certificate").unwrap();
    wait_for_count(&telemetry.tls_reload_errors, 1, &telemetry).await;
    wait_for_points(&rotated, "a broken CA file refused", &telemetry).await;
    drop(rotated);

    let stranger = Pki::new();
    let refused = serve_tls(rebind(addr).await, stranger.server.clone());
    let failed = telemetry.requests_failed.load(Ordering::SeqCst);
    wait_for_count(&telemetry.requests_failed, failed + 1, &telemetry).await;
    assert_eq!(refused.take().points, 0);

    // The CA and the client certificate and key rotated on disk to the stranger's, as a
    // Secret volume swaps them: used from the next collection on, without a restart.
    for file in ["ca.pem", "client.pem", "client-key.pem"] {
        std::fs::copy(stranger.dir.path().join(file), pki.dir.path().join(file)).unwrap();
    }
    wait_for_points(
        &refused,
        "the stranger's CA and client certificate",
        &telemetry,
    )
    .await;
    assert!(
        telemetry.tls_reloads.load(Ordering::SeqCst) >= 1,
        "{telemetry:?}"
    );
    drop(exporter);
}

/// Waits until `counter` reaches `at_least`, or fails after 10 s.
async fn wait_for_count(counter: &AtomicU64, at_least: u64, telemetry: &OtlpTelemetry) {
    let reached = harness::poll_within(Duration::from_secs(10), || async {
        counter.load(Ordering::SeqCst) >= at_least
    })
    .await;
    assert!(reached, "below {at_least}: {telemetry:?}");
}
