//! The push loop: a collection every interval on a blocking thread, its requests sent over
//! gRPC or HTTP with retries, a bounded queue of pending collections in between.
//!
//! Each collection streams its requests, already encoded, through a channel of one; when the
//! collector is slow the collection waits, not the runtime. Memory is bounded by the in-flight
//! collection plus [`MAX_PENDING_COLLECTIONS`], each holding at most two encoded requests and
//! one being built. When the queue is full the oldest pending collection is dropped: the newest
//! carries the freshest values.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use rustix::time::{ClockId, DynamicClockId, clock_gettime_dynamic};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::encoder::OtlpEncoder;
use super::request::{EncodeSummary, OtlpBuffers, OtlpRequest};
use super::tls::TlsWatch;
use super::transport::{Failure, Transport};
use super::{OtlpConfig, OtlpError, Temporality};
use crate::leader::Leadership;
use crate::meter::Collect;

/// Collections waiting behind the one being sent.
pub const MAX_PENDING_COLLECTIONS: usize = 2;

const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The exporter's own figures, for self-telemetry.
#[derive(Debug, Default)]
pub struct OtlpTelemetry {
    pub requests_ok: AtomicU64,
    /// Requests given up: a non-retryable error, or retries exhausted.
    pub requests_failed: AtomicU64,
    pub points_sent: AtomicU64,
    /// Points (or records) of the requests given up.
    pub points_failed: AtomicU64,
    /// Encoded bytes acknowledged, before compression.
    pub bytes_sent: AtomicU64,
    /// Points the receiver reported as rejected (partial success).
    pub points_rejected: AtomicU64,
    /// Points too large for a request of their own.
    pub points_dropped: AtomicU64,
    /// Collections pushed out of the full pending queue.
    pub collections_dropped: AtomicU64,
    /// Collections abandoned after one of their requests failed.
    pub collections_failed: AtomicU64,
    pub pending_collections: AtomicU64,
    /// High-water mark of `pending_collections`.
    pub pending_collections_max: AtomicU64,
    /// From the start of the last fully sent collection to its last acknowledgement.
    pub last_export_micros: AtomicU64,
    /// Changed TLS files taken into use, and changed ones refused (the previous kept).
    pub tls_reloads: AtomicU64,
    pub tls_reload_errors: AtomicU64,
}

/// What [`export_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub requests: u64,
    pub points: u64,
    pub points_dropped: u64,
    pub points_rejected: u64,
    /// Encoded bytes, before compression.
    pub bytes: u64,
    pub largest_request_bytes: u64,
    /// CPU time of the collection thread: running the callbacks and encoding.
    pub collect_cpu: Duration,
    /// CPU time of the whole process over the export (includes anything else it runs).
    pub process_cpu: Duration,
    pub elapsed: Duration,
}

/// A running exporter; dropping it stops it.
pub struct OtlpExporter {
    tasks: Vec<JoinHandle<()>>,
}

impl OtlpExporter {
    /// Starts pushing a collection every `config.interval` (the first one interval from now)
    /// while `leadership` says this replica leads. Under leader election the pushes fall on
    /// wall-clock multiples of the interval, so a new leader's first push and its
    /// predecessor's last one are never in the same interval. Must be called inside a Tokio
    /// runtime.
    pub fn spawn(
        config: OtlpConfig,
        collect: Collect,
        telemetry: Arc<OtlpTelemetry>,
        leadership: Leadership,
    ) -> Result<Self, OtlpError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        if config.temporality == Temporality::Delta {
            tracing::warn!(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta is not implemented: \
                 every instrument is observable and reports cumulative sums"
            );
        }
        let sender = Sender::new(&config, telemetry.clone(), leadership.clone())?;
        let settings = Arc::new(CollectionSettings::new(&config));
        let queue = Arc::new(Queue::default());
        let scheduler = runtime.spawn(schedule(
            config.interval,
            collect,
            settings,
            queue.clone(),
            telemetry,
            leadership,
        ));
        let sending = runtime.spawn(send_collections(sender, queue));
        Ok(OtlpExporter {
            tasks: vec![scheduler, sending],
        })
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Dropping the queue's receivers also stops any collection still running.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs one collection now and sends it, with the configured retries; for tests and
/// benchmarks.
pub async fn export_once(config: &OtlpConfig, collect: Collect) -> Result<ExportStats, OtlpError> {
    let started = Instant::now();
    let process_cpu = cpu_time(ClockId::ProcessCPUTime);
    let telemetry = Arc::new(OtlpTelemetry::default());
    let mut sender = Sender::new(config, telemetry.clone(), Leadership::always())?;
    let settings = Arc::new(CollectionSettings::new(config));
    let stats = sender
        .export(start_collection(&collect, &settings, &telemetry))
        .await?;
    Ok(ExportStats {
        process_cpu: cpu_time(ClockId::ProcessCPUTime).saturating_sub(process_cpu),
        elapsed: started.elapsed(),
        ..stats
    })
}

/// What every collection of one exporter shares.
struct CollectionSettings {
    resource: Vec<KeyValue>,
    max_request_bytes: usize,
    identity_on_resource: bool,
    start_time_unix_nano: u64,
    /// Kept from one collection to the next.
    buffers: OtlpBuffers,
}

impl CollectionSettings {
    fn new(config: &OtlpConfig) -> Self {
        CollectionSettings {
            resource: config.resource.clone(),
            max_request_bytes: config.max_request_bytes,
            identity_on_resource: config.identity_on_resource,
            start_time_unix_nano: unix_nanos(SystemTime::now()),
            buffers: OtlpBuffers::default(),
        }
    }
}

struct CollectionOutcome {
    summary: EncodeSummary,
    cpu: Duration,
}

/// Runs `collect` on a blocking thread, streaming its encoded requests. Dropping the receiver
/// stops the collection at its next request.
fn start_collection(
    collect: &Collect,
    settings: &Arc<CollectionSettings>,
    telemetry: &Arc<OtlpTelemetry>,
) -> Pending {
    let (collect, settings) = (collect.clone(), settings.clone());
    let max_request_bytes = settings.max_request_bytes;
    spawn_encoding(telemetry, max_request_bytes, move |mut emit| {
        let mut encoder = OtlpEncoder::new(
            &settings.resource,
            settings.max_request_bytes,
            settings.start_time_unix_nano,
            unix_nanos(SystemTime::now()),
            move |request| emit.send(request),
        )
        .with_buffers(&settings.buffers)
        .identity_on_resource(settings.identity_on_resource);
        collect(&mut encoder);
        encoder.finish()
    })
}

/// Hands an encoding job's requests to the sender, one at a time.
pub(super) struct Emit(mpsc::Sender<OtlpRequest>);

impl Emit {
    /// Waits until the sender takes `request`; `Break` when nobody wants more.
    pub(super) fn send(&mut self, request: OtlpRequest) -> ControlFlow<()> {
        match self.0.blocking_send(request) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

/// Runs `encode` on a blocking thread, streaming the requests it makes through a channel of
/// one (a slow receiver makes the job wait, not the runtime). Dropping the receiver stops the
/// job at its next request.
pub(super) fn spawn_encoding(
    telemetry: &Arc<OtlpTelemetry>,
    max_request_bytes: usize,
    encode: impl FnOnce(Emit) -> EncodeSummary + Send + 'static,
) -> Pending {
    let (tx, rx) = mpsc::channel(1);
    let telemetry = telemetry.clone();
    let collection = tokio::task::spawn_blocking(move || {
        let cpu = cpu_time(ClockId::ThreadCPUTime);
        let summary = encode(Emit(tx));
        if summary.points_dropped > 0 {
            telemetry
                .points_dropped
                .fetch_add(summary.points_dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped = summary.points_dropped,
                max_request_bytes,
                "otlp points or records larger than a whole request were dropped"
            );
        }
        CollectionOutcome {
            summary,
            cpu: cpu_time(ClockId::ThreadCPUTime).saturating_sub(cpu),
        }
    });
    Pending {
        requests: rx,
        collection,
        started: Instant::now(),
    }
}

async fn schedule(
    interval: Duration,
    collect: Collect,
    settings: Arc<CollectionSettings>,
    queue: Arc<Queue>,
    telemetry: Arc<OtlpTelemetry>,
    leadership: Leadership,
) {
    let mut ticks = if leadership.is_elected() {
        Ticks::WallClock {
            interval,
            last: None,
        }
    } else {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticks::Monotonic(ticks)
    };
    loop {
        ticks.tick().await;
        if !leadership.is_leader() {
            continue;
        }
        queue.push(
            start_collection(&collect, &settings, &telemetry),
            &telemetry,
        );
    }
}

async fn send_collections(mut sender: Sender, queue: Arc<Queue>) {
    loop {
        let pending = queue.pop(&sender.telemetry).await;
        let started = pending.started;
        let telemetry = sender.telemetry.clone();
        match sender.export(pending).await {
            Ok(_) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                telemetry
                    .last_export_micros
                    .store(micros, Ordering::Relaxed);
                queue.caught_up();
            }
            Err(e) => {
                // Send failures were logged by the failure period.
                if let OtlpError::CollectionPanicked = e {
                    tracing::error!("{e}");
                }
                telemetry.collections_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// When pushes are due.
enum Ticks {
    /// Every interval from the start.
    Monotonic(tokio::time::Interval),
    /// At each wall-clock multiple of the interval, each computed afresh so that no delay
    /// shifts the later ones: replicas electing a leader then push in the same slots, and an
    /// old leader's last push and a new one's first are never in the same interval.
    WallClock {
        interval: Duration,
        /// The multiple (nanoseconds since the epoch) last ticked at.
        last: Option<u128>,
    },
}

impl Ticks {
    async fn tick(&mut self) {
        match self {
            Ticks::Monotonic(ticks) => {
                ticks.tick().await;
            }
            Ticks::WallClock { interval, last } => {
                let step = interval.as_nanos().max(1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                // The next multiple after now, and after the last one even if the sleep woke
                // a hair early.
                let mut next = (now / step + 1) * step;
                if last.is_some_and(|last| next <= last) {
                    next += step;
                }
                *last = Some(next);
                let wait = u64::try_from(next - now).unwrap_or(u64::MAX);
                tokio::time::sleep(Duration::from_nanos(wait)).await;
            }
        }
    }
}

/// A collection (or another encoding job) running or done, with its requests not yet sent.
pub(super) struct Pending {
    requests: mpsc::Receiver<OtlpRequest>,
    collection: JoinHandle<CollectionOutcome>,
    started: Instant,
}

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Pending>,
    /// Set at the first drop, so a backlog logs once rather than every interval.
    dropping: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, collection: Pending, telemetry: &OtlpTelemetry) {
        let mut state = self.lock();
        if state.pending.len() >= MAX_PENDING_COLLECTIONS {
            state.pending.pop_front();
            telemetry
                .collections_dropped
                .fetch_add(1, Ordering::Relaxed);
            if !state.dropping {
                tracing::warn!(
                    max_pending = MAX_PENDING_COLLECTIONS,
                    "otlp export is behind; dropping the oldest pending collections until it \
                     catches up"
                );
                state.dropping = true;
            }
        }
        state.pending.push_back(collection);
        let len = state.pending.len() as u64;
        telemetry.pending_collections.store(len, Ordering::Relaxed);
        telemetry
            .pending_collections_max
            .fetch_max(len, Ordering::Relaxed);
        drop(state);
        self.ready.notify_one();
    }

    async fn pop(&self, telemetry: &OtlpTelemetry) -> Pending {
        loop {
            {
                let mut state = self.lock();
                if let Some(collection) = state.pending.pop_front() {
                    let len = state.pending.len() as u64;
                    telemetry.pending_collections.store(len, Ordering::Relaxed);
                    return collection;
                }
            }
            // A push between the check and here leaves a permit, so nothing is missed.
            self.ready.notified().await;
        }
    }

    fn caught_up(&self) {
        self.lock().dropping = false;
    }
}

/// The start of a period of failed attempts.
struct Failing {
    since: Instant,
    attempts: u64,
}

/// Sends encoded requests to one endpoint, retrying, and logs failure periods.
pub(super) struct Sender {
    transport: Transport,
    endpoint: String,
    retry_max_elapsed: Duration,
    /// The longest one collection's export may take.
    export_timeout: Option<Duration>,
    /// [`MAX_BACKOFF`], or the push interval when shorter: once the receiver is back, pushes
    /// resume within an interval.
    max_backoff: Duration,
    telemetry: Arc<OtlpTelemetry>,
    failing: Option<Failing>,
    /// Asked before each request: a replica that stopped leading sends nothing more.
    leadership: Leadership,
    /// Checked before each collection.
    tls: Option<TlsWatch>,
}

impl Sender {
    pub(super) fn new(
        config: &OtlpConfig,
        telemetry: Arc<OtlpTelemetry>,
        leadership: Leadership,
    ) -> Result<Self, OtlpError> {
        Ok(Sender {
            transport: Transport::new(config)?,
            endpoint: config.endpoint.clone(),
            retry_max_elapsed: config.retry_max_elapsed,
            export_timeout: config.export_timeout,
            max_backoff: MAX_BACKOFF.min(config.interval).max(INITIAL_BACKOFF),
            telemetry,
            failing: None,
            leadership,
            tls: TlsWatch::new(config),
        })
    }

    /// Builds the transport again when a TLS file changed; a file that cannot be used (a
    /// rotation half done) leaves the previous one in use until the next change.
    fn reload_tls(&mut self) {
        let Some(tls) = self.tls.as_mut() else {
            return;
        };
        if !tls.changed() {
            return;
        }
        match Transport::new(&tls.config) {
            Ok(transport) => {
                self.transport = transport;
                self.telemetry.tls_reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(endpoint = %self.endpoint, "otlp TLS files changed: new connections use them");
            }
            Err(error) => {
                self.telemetry
                    .tls_reload_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = %self.endpoint, %error, "otlp TLS files changed but cannot be used; the previous ones stay in use");
            }
        }
    }

    /// Sends a collection's requests, stopping it at the first request that fails for good or
    /// when the export timeout has passed.
    pub(super) async fn export(&mut self, pending: Pending) -> Result<ExportStats, OtlpError> {
        let Pending {
            mut requests,
            collection,
            ..
        } = pending;
        self.reload_tls();
        let limit = self.export_timeout.unwrap_or(Duration::MAX);
        let sent = match tokio::time::timeout(limit, self.send_collection(&mut requests)).await {
            Ok(sent) => sent,
            Err(_) => {
                tracing::warn!(
                    endpoint = %self.endpoint,
                    timeout = ?limit,
                    "otlp export took longer than its export timeout; the rest of the \
                     collection is given up"
                );
                Err(Failure {
                    code: "export timeout".to_string(),
                    message: format!("not exported within {limit:?}"),
                    retryable: false,
                    retry_after: None,
                })
            }
        };
        drop(requests);
        let outcome = collection
            .await
            .map_err(|_| OtlpError::CollectionPanicked)?;
        let sent = sent.map_err(|failure| OtlpError::Export {
            code: failure.code,
            message: failure.message,
        })?;
        Ok(ExportStats {
            points_dropped: outcome.summary.points_dropped,
            collect_cpu: outcome.cpu,
            ..sent
        })
    }

    async fn send_collection(
        &mut self,
        requests: &mut mpsc::Receiver<OtlpRequest>,
    ) -> Result<ExportStats, Failure> {
        let mut stats = ExportStats::default();
        while let Some(request) = requests.recv().await {
            if !self.leadership.is_leader() {
                tracing::info!(
                    sent = stats.requests,
                    "no longer leader: the rest of this collection is not sent"
                );
                break;
            }
            let rejected = self.send(&request).await?;
            let bytes = request.body.len() as u64;
            stats.requests += 1;
            stats.points += request.points as u64;
            stats.points_rejected += rejected;
            stats.bytes += bytes;
            stats.largest_request_bytes = stats.largest_request_bytes.max(bytes);
        }
        if stats.points_rejected > 0 {
            tracing::warn!(
                endpoint = %self.endpoint,
                rejected = stats.points_rejected,
                "the otlp receiver rejected points of a collection"
            );
        }
        Ok(stats)
    }

    /// Sends one request, retrying retryable errors with exponential backoff for up to
    /// `retry_max_elapsed`; returns the number of points the receiver rejected.
    async fn send(&mut self, request: &OtlpRequest) -> Result<u64, Failure> {
        let give_up = Instant::now() + self.retry_max_elapsed;
        let mut backoff = INITIAL_BACKOFF;
        let body = match self.transport.prepare(request.body.clone()).await {
            Ok(body) => body,
            Err(failure) => {
                self.failed(&failure);
                self.telemetry
                    .requests_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.telemetry
                    .points_failed
                    .fetch_add(request.points as u64, Ordering::Relaxed);
                return Err(failure);
            }
        };
        loop {
            match self.transport.attempt(body.clone()).await {
                Ok(response) => {
                    self.recovered();
                    let rejected = rejected_points(&response);
                    let t = &self.telemetry;
                    t.requests_ok.fetch_add(1, Ordering::Relaxed);
                    t.points_sent
                        .fetch_add(request.points as u64, Ordering::Relaxed);
                    t.bytes_sent
                        .fetch_add(request.body.len() as u64, Ordering::Relaxed);
                    t.points_rejected.fetch_add(rejected, Ordering::Relaxed);
                    return Ok(rejected);
                }
                Err(failure) => {
                    self.failed(&failure);
                    let left = give_up.checked_duration_since(Instant::now());
                    let wait = left.and_then(|left| retry_wait(&failure, jittered(backoff), left));
                    let Some(wait) = wait else {
                        self.telemetry
                            .requests_failed
                            .fetch_add(1, Ordering::Relaxed);
                        self.telemetry
                            .points_failed
                            .fetch_add(request.points as u64, Ordering::Relaxed);
                        return Err(failure);
                    };
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    fn failed(&mut self, failure: &Failure) {
        match &mut self.failing {
            Some(failing) => {
                failing.attempts += 1;
                tracing::debug!(
                    code = failure.code,
                    error = failure.message,
                    "otlp export attempt failed"
                );
            }
            None => {
                tracing::warn!(
                    endpoint = %self.endpoint,
                    code = failure.code,
                    error = failure.message,
                    "otlp export failing; retrying with backoff (logged again once it recovers)"
                );
                self.failing = Some(Failing {
                    since: Instant::now(),
                    attempts: 1,
                });
            }
        }
    }

    fn recovered(&mut self) {
        if let Some(failing) = self.failing.take() {
            tracing::info!(
                endpoint = %self.endpoint,
                after = ?failing.since.elapsed(),
                failed_attempts = failing.attempts,
                "otlp export recovered"
            );
        }
    }
}

/// Points a (partially) successful response says the receiver rejected; a negative count, which
/// only a broken receiver sends, counts none.
pub(super) fn rejected_points(response: &ExportMetricsServiceResponse) -> u64 {
    response
        .partial_success
        .as_ref()
        .map_or(0, |p| u64::try_from(p.rejected_data_points).unwrap_or(0))
}

/// How long to wait before retrying after `failure` (the receiver's wait, else `backoff`), or
/// `None` to give up: not retryable, or the wait ends beyond the `left` of the retry budget.
/// The wait is compared, never added to a clock: a receiver's `Retry-After` can be any u64 of
/// seconds, and `Instant + Duration` panics past the clock's range.
pub(super) fn retry_wait(failure: &Failure, backoff: Duration, left: Duration) -> Option<Duration> {
    let wait = failure.retry_after.unwrap_or(backoff);
    (failure.retryable && wait <= left).then_some(wait)
}

/// Between half and all of `backoff`, so exporters that failed together do not retry together.
fn jittered(backoff: Duration) -> Duration {
    // A fresh RandomState is randomly keyed: a cheap source of noise without a dependency.
    let noise = RandomState::new().hash_one(0u8) as f64 / u64::MAX as f64;
    backoff.mul_f64(0.5 + 0.5 * noise)
}

pub(super) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The CPU time `clock` has counted; zero if the kernel refuses (rustix's `clock_gettime`
/// would panic).
fn cpu_time(clock: ClockId) -> Duration {
    let Ok(ts) = clock_gettime_dynamic(DynamicClockId::Known(clock)) else {
        return Duration::ZERO;
    };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Reads one counter of [`OtlpTelemetry`].
pub(super) type Field = fn(&OtlpTelemetry) -> &AtomicU64;

/// An observable counter of two of `telemetry`'s counters, as `result="success"` and
/// `result="error"`.
pub(super) fn register_by_result(
    meter: &opentelemetry::metrics::Meter,
    telemetry: &Arc<OtlpTelemetry>,
    (name, help): (&'static str, &'static str),
    ok: Field,
    failed: Field,
) {
    let t = telemetry.clone();
    meter
        .u64_observable_counter(name)
        .with_description(help)
        .with_callback(move |o| {
            o.observe(
                ok(&t).load(Ordering::Relaxed),
                &[KeyValue::new("result", "success")],
            );
            o.observe(
                failed(&t).load(Ordering::Relaxed),
                &[KeyValue::new("result", "error")],
            );
        })
        .build();
}

impl OtlpTelemetry {
    /// Registers the exporter's figures as self-telemetry instruments on `meter`.
    pub fn register(self: &Arc<Self>, meter: &opentelemetry::metrics::Meter) {
        register_by_result(
            meter,
            self,
            (
                "kube_state_otel_otlp_requests_total",
                "OTLP export requests, by result",
            ),
            |t| &t.requests_ok,
            |t| &t.requests_failed,
        );
        register_by_result(
            meter,
            self,
            (
                "kube_state_otel_otlp_tls_reloads_total",
                "Changed OTLP TLS files (CA, client certificate, key) taken into use, or refused \
                 (the previous ones kept), by result",
            ),
            |t| &t.tls_reloads,
            |t| &t.tls_reload_errors,
        );
        let counters: [(&'static str, &'static str, Field); 5] = [
            (
                "kube_state_otel_otlp_points_total",
                "Data points acknowledged by the receiver",
                |t| &t.points_sent,
            ),
            (
                "kube_state_otel_otlp_points_rejected_total",
                "Data points the receiver rejected",
                |t| &t.points_rejected,
            ),
            (
                "kube_state_otel_otlp_points_dropped_total",
                "Data points too large for a request of their own",
                |t| &t.points_dropped,
            ),
            (
                "kube_state_otel_otlp_collections_dropped_total",
                "Collections dropped because the pending queue was full",
                |t| &t.collections_dropped,
            ),
            (
                "kube_state_otel_otlp_collections_failed_total",
                "Collections abandoned after a request failed",
                |t| &t.collections_failed,
            ),
        ];
        for (name, help, field) in counters {
            let t = self.clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| o.observe(field(&t).load(Ordering::Relaxed), &[]))
                .build();
        }
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_otlp_pending_collections")
            .with_description("Collections waiting to be sent")
            .with_callback(move |o| o.observe(t.pending_collections.load(Ordering::Relaxed), &[]))
            .build();
        let t = self.clone();
        meter
            .f64_observable_gauge("kube_state_otel_otlp_last_export_seconds")
            .with_description("Duration of the last fully sent collection")
            .with_unit("s")
            .with_callback(move |o| {
                o.observe(
                    t.last_export_micros.load(Ordering::Relaxed) as f64 / 1e6,
                    &[],
                );
            })
            .build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread's clock counts this thread's work, the process's clock at least as much.
    #[test]
    fn the_cpu_clocks_count_this_threads_work() {
        // The process's clock first: it then counts all the thread's clock counts.
        let process = cpu_time(ClockId::ProcessCPUTime);
        let thread = cpu_time(ClockId::ThreadCPUTime);
        let work = Duration::from_millis(20);
        let deadline = Instant::now() + Duration::from_secs(10);
        while cpu_time(ClockId::ThreadCPUTime) < thread + work {
            assert!(
                Instant::now() < deadline,
                "the thread's CPU clock does not advance"
            );
        }
        assert!(cpu_time(ClockId::ProcessCPUTime) >= process + work);
    }

    fn failure(retryable: bool, retry_after: Option<Duration>) -> Failure {
        Failure {
            code: "HTTP 503".to_string(),
            message: String::new(),
            retryable,
            retry_after,
        }
    }

    #[test]
    fn the_receivers_wait_is_honoured_within_the_budget_only() {
        let (second, minute) = (Duration::from_secs(1), Duration::from_secs(60));
        let asked = failure(true, Some(Duration::from_secs(7)));
        assert_eq!(
            retry_wait(&asked, second, minute),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_wait(&failure(true, None), second, minute),
            Some(second)
        );
        assert_eq!(
            retry_wait(&failure(true, Some(minute)), second, minute),
            Some(minute)
        );
        assert_eq!(retry_wait(&failure(false, None), second, minute), None);
        assert_eq!(retry_wait(&asked, second, second), None);
        // Found writing the otlp_response fuzz target, which checks it: a receiver's
        // `Retry-After: 18446744073709551615` (or RetryInfo of i64::MAX seconds) overflowed
        // `Instant + Duration`, a panic that ended the exporter's task.
        let forever = Duration::from_secs(u64::MAX);
        let endless = failure(true, Some(forever));
        assert_eq!(retry_wait(&endless, second, Duration::MAX), Some(forever));
        assert_eq!(retry_wait(&endless, second, minute), None);
    }
}
