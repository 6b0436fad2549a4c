//! HTTP endpoints: `/metrics` (streamed, Prometheus text or OpenMetrics, gzip on request),
//! health and readiness, and the self-telemetry endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::export::gzip::{GzipStream, deflate};
use crate::export::openmetrics::{EOF, Format, OpenMetricsEncoder};
use crate::export::ordered::{ChunkSize, collect_mapped_in_order};
use crate::export::prometheus::{CONTENT_TYPE, TextEncoder};
use crate::leader::Leadership;
use crate::meter::Part;
use crate::pipeline::{Pipeline, ResourceFilter};
use crate::telemetry::Telemetry;

pub mod auth_filter;
mod guard;
mod server;
mod tls;
pub mod web_config;
pub use guard::Security;
pub use server::{MAX_HEADER_BYTES, Timeouts, serve};

/// Bytes of text per streamed chunk.
const CHUNK: usize = 64 * 1024;

/// Something that hands out the parts of one collection (one per instrument), so a scrape can
/// spread them over threads.
pub type Parts = Arc<dyn Fn() -> Vec<Part> + Send + Sync>;

/// Chunks the part being handed out may buffer (4 MiB of text: a slice of a family).
pub const LOOKAHEAD: usize = 64;

/// Threads one scrape encodes on.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

#[derive(Clone)]
struct MetricsState {
    pipeline: Arc<Pipeline>,
    telemetry: Arc<Telemetry>,
    leadership: Leadership,
    /// `--metrics-leader-only`: a follower's `/metrics` has no series.
    leader_only: bool,
    /// `--max-concurrent-scrapes`.
    max_scrapes: u64,
}

/// The main router: `/metrics`, `/healthz`, `/livez`, `/readyz`. With `leader_only`, a
/// replica that does not lead answers `/metrics` with no series; beyond `max_scrapes` in
/// flight, a scrape is refused.
pub fn metrics_router(
    pipeline: Arc<Pipeline>,
    telemetry: Arc<Telemetry>,
    leadership: Leadership,
    leader_only: bool,
    max_scrapes: u32,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(readyz))
        .with_state(MetricsState {
            pipeline,
            telemetry,
            leadership,
            leader_only,
            max_scrapes: u64::from(max_scrapes),
        })
}

/// The self-telemetry router: `/metrics` of the exporter itself.
pub fn telemetry_router(parts: Parts) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(
                |State(parts): State<Parts>, headers: HeaderMap| async move {
                    stream_collection(parts, Format::Text, wants_gzip(&headers), |_, _| {})
                },
            ),
        )
        .with_state(parts)
}

async fn ok() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<MetricsState>) -> Response {
    let mut body = String::new();
    if let Some((lease, holder)) = state.leadership.status() {
        let role = if state.leadership.is_leader() {
            "leader"
        } else {
            "follower"
        };
        let holder = holder.as_deref().unwrap_or("none");
        body.push_str(&format!("lease {lease}: {role}, held by {holder}\n"));
    }
    // How far the initial sync got (and how long it took), then each kind.
    body.push_str(&format!("sync: {}\n", state.pipeline.progress()));
    for kind in state.pipeline.status() {
        body.push_str(&format!(
            "{}: {} ({} objects)\n",
            kind.resource,
            kind.state.as_str(),
            kind.objects
        ));
    }
    let code = if state.pipeline.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body).into_response()
}

/// `/metrics` query parameters, as kube-state-metrics takes them.
#[derive(Debug, Default, serde::Deserialize)]
struct MetricsQuery {
    resources: Option<String>,
    exclude_resources: Option<String>,
}

fn split_list(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

async fn metrics(
    State(state): State<MetricsState>,
    query: Result<Query<MetricsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // The rejection's text would show the parser's internals; the client learns enough.
    let Ok(Query(query)) = query else {
        return (StatusCode::BAD_REQUEST, "invalid query string\n").into_response();
    };
    // Refused at once, before any work: a scrape in flight buffers up to about 13 MiB of
    // text (LOOKAHEAD, AHEAD_BYTES, the body's channel) and takes its share of the CPU.
    let Some(in_flight) = state.telemetry.start_scrape(state.max_scrapes) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many scrapes in progress\n",
        )
            .into_response();
    };
    let filter = ResourceFilter {
        include: split_list(query.resources.as_deref()),
        exclude: split_list(query.exclude_resources.as_deref()),
    };
    let pipeline = state.pipeline.clone();
    let telemetry = state.telemetry.clone();
    // A follower under --metrics-leader-only answers a valid, empty exposition: the scrape
    // succeeds (no `up` alert) and every series comes once, from the leader.
    let parts: Parts = if state.leader_only && !state.leadership.is_leader() {
        Arc::new(Vec::new)
    } else {
        Arc::new(move || pipeline.parts(&filter))
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::negotiate(accept);
    stream_collection(
        parts,
        format,
        wants_gzip(&headers),
        move |started, complete| {
            drop(in_flight);
            if complete {
                telemetry.record_scrape(started.elapsed());
            }
        },
    )
}

fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// Runs the collection on a blocking thread and streams its text as it is produced, so the body
/// is never built whole and a scrape never blocks the async runtime or the watchers. If the
/// body is dropped (the client went, or was cut off by a server timeout), the collection
/// stops; `done` gets its start and whether the whole body was handed over.
fn stream_collection(
    parts: Parts,
    format: Format,
    gzip: bool,
    done: impl FnOnce(Instant, bool) + Send + 'static,
) -> Response {
    let content_type = match &format {
        Format::Text => header::HeaderValue::from_static(CONTENT_TYPE),
        Format::OpenMetrics(content_type) => header::HeaderValue::from_str(content_type)
            .unwrap_or_else(|_| header::HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE)),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let gone = AtomicBool::new(false);
        let send = |chunk: Bytes| {
            if tx.blocking_send(chunk).is_err() {
                gone.store(true, Ordering::Relaxed);
            }
        };
        encode(parts(), &format, gzip, send, &gone);
        done(started, !gone.load(Ordering::Relaxed));
    });
    let body = Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<Bytes, std::convert::Infallible>),
    );
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if gzip {
        headers.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    response
}

/// Negotiated content types are built from fixed parts and always valid; this is the fallback
/// the type system still asks for.
const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores";

/// One collection through the format's encoder, spread over [`workers`] threads; with `gzip`,
/// each chunk is compressed on the thread that wrote it (see [`crate::export::gzip`]).
/// `gone` is set by `emit` when its reader has gone: the collection then stops.
fn encode(
    parts: Vec<Part>,
    format: &Format,
    gzip: bool,
    emit: impl FnMut(Bytes) + Send,
    gone: &AtomicBool,
) {
    if gzip {
        let mut stream = GzipStream::new(emit);
        let push = |c| stream.push(c);
        encode_mapped(parts, format, |chunk| deflate(&chunk), push, gone);
        stream.finish();
    } else {
        encode_mapped(parts, format, |chunk| chunk, emit, gone);
    }
}

fn encode_mapped<T: ChunkSize>(
    parts: Vec<Part>,
    format: &Format,
    map: impl Fn(Bytes) -> T + Clone + Send + Sync + 'static,
    mut emit: impl FnMut(T),
    gone: &AtomicBool,
) {
    match format {
        Format::Text => {
            collect_mapped_in_order(
                parts,
                workers(),
                LOOKAHEAD,
                |out| TextEncoder::new(CHUNK, out),
                map,
                emit,
                gone,
            );
        }
        Format::OpenMetrics(_) => {
            collect_mapped_in_order(
                parts,
                workers(),
                LOOKAHEAD,
                |out| OpenMetricsEncoder::new(CHUNK, out),
                map.clone(),
                &mut emit,
                gone,
            );
            emit(map(Bytes::from_static(EOF.as_bytes())));
        }
    }
}
