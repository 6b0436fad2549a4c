//! Self-telemetry: how the exporter itself is doing, under the names the kubernetes-mixin reads
//! (`kube_state_metrics_list_total`, `_watch_total`, `_shard_ordinal`, `_total_shards`) plus
//! our own `kube_state_otel_*` figures. Registered through the OpenTelemetry Meter API.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use crate::http::Security;
use crate::http::auth_filter::Decision;
use crate::leader::Leadership;
use crate::store::KindStore;

/// The API calls the watchers make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiCall {
    List,
    Watch,
}

/// Counters keyed by (call, resource label, success).
type CallCounts = BTreeMap<(ApiCall, String, bool), u64>;

/// What the lists of one resource have brought in so far: counted as they arrive, so an initial
/// sync's progress can be reported while it runs.
#[derive(Debug, Default)]
pub struct Listed {
    /// Objects received in lists and kept (another shard's are not).
    pub objects: AtomicU64,
    /// Bytes of list responses, as decoded (after gzip).
    pub bytes: AtomicU64,
}

/// A pipeline's kinds as the telemetry reports them: each resource with its state
/// (`synced`, `syncing`, `forbidden`, `not served`), and how long the initial sync took once it
/// is over.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    pub kinds: Vec<(&'static str, &'static str)>,
    pub initial_sync: Option<std::time::Duration>,
}

/// The states of [`SyncReport::kinds`], each reported as a series.
pub const KIND_STATES: [&str; 4] = ["synced", "syncing", "forbidden", "not served"];

/// Reads a pipeline's [`SyncReport`]; `None` once the pipeline is gone.
pub type SyncSource = Box<dyn Fn() -> Option<SyncReport> + Send + Sync>;

#[derive(Default)]
pub struct Telemetry {
    calls: Mutex<CallCounts>,
    /// Per resource label: what its lists brought in.
    listed: Mutex<BTreeMap<String, Arc<Listed>>>,
    /// The pipeline's kinds and sync, once it reports them.
    sync: OnceLock<SyncSource>,
    /// Per resource label: fields dropped while decoding, objects that could not be decoded.
    decode: Mutex<BTreeMap<String, (u64, u64)>>,
    stores: Mutex<Vec<(String, Arc<KindStore>)>>,
    scrapes: AtomicU64,
    scrape_nanos: AtomicU64,
    /// /metrics scrapes being encoded now, and those refused for --max-concurrent-scrapes.
    scrapes_in_flight: AtomicU64,
    scrapes_rejected: AtomicU64,
    shard: AtomicU64,
    total_shards: AtomicU64,
    /// `--shard-mode=server`, per resource label: whether the API server filtered the last
    /// list by the shard selector (else this exporter does).
    server_sharding: Mutex<BTreeMap<String, bool>>,
    /// Per resource: (named explicitly, served by the API server) as discovery last saw it.
    served: Mutex<BTreeMap<String, (bool, bool)>>,
    /// Per resource label: lists after a watcher's first (410 Gone, a watch that could not be
    /// resumed).
    relists: Mutex<BTreeMap<String, u64>>,
    /// Per (resource label, HTTP status): requests sent again because the API server asked
    /// to (`Retry-After`).
    retries: Mutex<BTreeMap<(String, u16), u64>>,
    /// API discovery reads that succeeded and that failed.
    discoveries: [AtomicU64; 2],
    /// Set when the pipeline elects a leader.
    leadership: OnceLock<Leadership>,
    /// The endpoints' web configuration and auth filter.
    security: OnceLock<Security>,
    /// kube-state-metrics' config self-metrics, per (type, filename).
    configs: Mutex<BTreeMap<(String, String), ConfigState>>,
}

/// A configuration file as last read.
#[derive(Clone, Copy, Debug, Default)]
struct ConfigState {
    /// `kube_state_metrics_config_hash`: of the configuration in force.
    hash: f64,
    successful: bool,
    success_unix_seconds: f64,
}

/// kube-state-metrics' `md5HashAsMetricValue`: the MD5's first 48 bits, little-endian, which
/// a float64 holds exactly.
pub fn config_hash(content: &[u8]) -> f64 {
    use md5::Digest;
    let sum = md5::Md5::digest(content);
    let mut bytes = [0u8; 8];
    bytes[..6].copy_from_slice(&sum[..6]);
    u64::from_le_bytes(bytes) as f64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        let t = Telemetry::default();
        t.total_shards.store(1, Ordering::Relaxed);
        Arc::new(t)
    }

    pub fn count_call(&self, call: ApiCall, resource: &str, success: bool) {
        *lock(&self.calls)
            .entry((call, resource.to_string(), success))
            .or_default() += 1;
    }

    /// How many calls of `call` on `resource` ended as `success`.
    pub fn calls(&self, call: ApiCall, resource: &str, success: bool) -> u64 {
        lock(&self.calls)
            .get(&(call, resource.to_string(), success))
            .copied()
            .unwrap_or(0)
    }

    /// The list counters of `resource` (a label), to count into as lists arrive.
    pub fn listed(&self, resource: &str) -> Arc<Listed> {
        lock(&self.listed)
            .entry(resource.to_string())
            .or_default()
            .clone()
    }

    /// Objects and bytes listed so far, over every resource.
    pub fn listed_total(&self) -> (u64, u64) {
        lock(&self.listed)
            .values()
            .fold((0, 0), |(objects, bytes), l| {
                (
                    objects + l.objects.load(Ordering::Relaxed),
                    bytes + l.bytes.load(Ordering::Relaxed),
                )
            })
    }

    /// Where the kinds' states and the initial sync's duration are read from (set once).
    pub fn set_sync_source(&self, source: SyncSource) {
        let _ = self.sync.set(source);
    }

    /// A watcher of `resource` started: its relists are reported from zero, so a rate can be
    /// taken before the first one.
    pub fn watch_started(&self, resource: &str) {
        lock(&self.relists).entry(resource.to_string()).or_default();
    }

    pub fn count_relist(&self, resource: &str) {
        *lock(&self.relists).entry(resource.to_string()).or_default() += 1;
    }

    pub fn count_retry(&self, resource: &str, status: u16) {
        *lock(&self.retries)
            .entry((resource.to_string(), status))
            .or_default() += 1;
    }

    pub fn count_decode(&self, resource: &str, dropped_fields: usize, failed: bool) {
        let mut decode = lock(&self.decode);
        let entry = decode.entry(resource.to_string()).or_default();
        entry.0 += dropped_fields as u64;
        entry.1 += u64::from(failed);
    }

    /// Objects of `resource` that could not be decoded at all.
    #[cfg(test)]
    pub fn decode_failures(&self, resource: &str) -> u64 {
        lock(&self.decode).get(resource).map_or(0, |d| d.1)
    }

    /// Reports `store` as `resource`'s (replacing an earlier one of that name: a custom
    /// resource whose configuration changed).
    pub fn add_store(&self, resource: &str, store: Arc<KindStore>) {
        let mut stores = lock(&self.stores);
        stores.retain(|(r, _)| r != resource);
        stores.push((resource.to_string(), store));
    }

    /// Forgets a resource no longer watched (a reconfiguration dropped it).
    pub fn remove_resource(&self, resource: &str) {
        lock(&self.stores).retain(|(r, _)| r != resource);
        lock(&self.served).remove(resource);
    }

    pub fn record_scrape(&self, elapsed: std::time::Duration) {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.scrape_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts a scrape in flight until the returned guard drops, unless `limit` already are;
    /// a refusal is counted.
    pub fn start_scrape(self: &Arc<Self>, limit: u64) -> Option<ScrapeInFlight> {
        let admitted = self
            .scrapes_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            self.scrapes_rejected.fetch_add(1, Ordering::Relaxed);
        }
        admitted.then(|| ScrapeInFlight(self.clone()))
    }

    pub fn set_shard(&self, shard: u64, total: u64) {
        self.shard.store(shard, Ordering::Relaxed);
        self.total_shards.store(total, Ordering::Relaxed);
    }

    pub fn set_server_sharding(&self, resource: &str, by_server: bool) {
        lock(&self.server_sharding).insert(resource.to_string(), by_server);
    }

    pub fn set_leadership(&self, leadership: Leadership) {
        let _ = self.leadership.set(leadership);
    }

    /// A configuration file of `kind` (`config`, `customresourceconfig`) was read: `content`
    /// when it was valid and put in force, `None` when it was refused.
    pub fn config_read(&self, kind: &str, filename: &str, content: Option<&[u8]>) {
        let mut configs = lock(&self.configs);
        let state = configs
            .entry((kind.to_string(), filename.to_string()))
            .or_default();
        state.successful = content.is_some();
        if let Some(content) = content {
            state.hash = config_hash(content);
            state.success_unix_seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
        }
    }

    pub fn set_security(&self, security: Security) {
        let _ = self.security.set(security);
    }

    pub fn count_discovery(&self, success: bool) {
        self.discoveries[usize::from(success)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_served(&self, resource: &str, requested: bool, served: bool) {
        lock(&self.served).insert(resource.to_string(), (requested, served));
    }

    /// Registers the self-telemetry instruments on `meter`.
    pub fn register(self: &Arc<Self>, meter: &Meter) {
        for (name, call, help) in [
            (
                "kube_state_metrics_list_total",
                ApiCall::List,
                "Number of total resource list in kube-state-metrics",
            ),
            (
                "kube_state_metrics_watch_total",
                ApiCall::Watch,
                "Number of total resource watches in kube-state-metrics",
            ),
        ] {
            let t = self.clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| {
                    for ((c, resource, success), n) in lock(&t.calls).iter() {
                        if *c == call {
                            let result = if *success { "success" } else { "error" };
                            o.observe(
                                *n,
                                &[
                                    KeyValue::new("resource", resource.clone()),
                                    KeyValue::new("result", result),
                                ],
                            );
                        }
                    }
                })
                .build();
        }
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_metrics_shard_ordinal")
            .with_description("Current sharding ordinal/index of this instance")
            .with_callback(move |o| {
                let shard = t.shard.load(Ordering::Relaxed);
                o.observe(shard, &[KeyValue::new("shard_ordinal", shard.to_string())]);
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_metrics_total_shards")
            .with_description("Number of total shards this instance is aware of")
            .with_callback(move |o| o.observe(t.total_shards.load(Ordering::Relaxed), &[]))
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_shard_server_filtered")
            .with_description(
                "With --shard-mode=server, per resource: 1 when the API server filtered the last list by the shard selector, 0 when this exporter filters",
            )
            .with_callback(move |o| {
                for (resource, by_server) in lock(&t.server_sharding).iter() {
                    o.observe(
                        u64::from(*by_server),
                        &[KeyValue::new("resource", resource.clone())],
                    );
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_resource_served")
            .with_description(
                "Per resource: 1 when the API server serves it (it is watched), 0 when not; requested=\"true\" when --resources names it",
            )
            .with_callback(move |o| {
                for (resource, (requested, served)) in lock(&t.served).iter() {
                    o.observe(
                        u64::from(*served),
                        &[
                            KeyValue::new("resource", resource.clone()),
                            KeyValue::new("requested", requested.to_string()),
                        ],
                    );
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_leader")
            .with_description(
                "With --leader-election: 1 while this replica leads (pushes OTLP) on the lease, 0 while it follows",
            )
            .with_callback(move |o| {
                if let Some((lease, leading)) = t.leadership.get().and_then(|l| {
                    l.lease_name().map(|lease| (lease.to_string(), l.is_leader()))
                }) {
                    o.observe(u64::from(leading), &[KeyValue::new("lease", lease)]);
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_leader_lease_transitions")
            .with_description(
                "With --leader-election: how often the lease changed holder (its spec.leaseTransitions, as this replica last read it)",
            )
            .with_callback(move |o| {
                if let Some((lease, transitions)) = t.leadership.get().and_then(|l| {
                    Some((l.lease_name()?.to_string(), l.lease_transitions()?))
                }) {
                    o.observe(transitions, &[KeyValue::new("lease", lease)]);
                }
            })
            .build();
        for (name, help, read) in [
            (
                "kube_state_metrics_config_hash",
                "Hash of the currently loaded configuration.",
                (|c: &ConfigState| c.hash) as fn(&ConfigState) -> f64,
            ),
            (
                "kube_state_metrics_last_config_reload_successful",
                "Whether the last configuration reload attempt was successful.",
                |c| f64::from(u8::from(c.successful)),
            ),
            (
                "kube_state_metrics_last_config_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
                |c| c.success_unix_seconds,
            ),
        ] {
            let t = self.clone();
            meter
                .f64_observable_gauge(name)
                .with_description(help)
                .with_callback(move |o| {
                    for ((kind, filename), state) in lock(&t.configs).iter() {
                        o.observe(
                            read(state),
                            &[
                                KeyValue::new("type", kind.clone()),
                                KeyValue::new("filename", filename.clone()),
                            ],
                        );
                    }
                })
                .build();
        }
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_web_config_reloads_total")
            .with_description(
                "With --tls-config: changed web configurations applied (success) and refused, the previous one staying in force (failure)",
            )
            .with_callback(move |o| {
                if let Some(web) = t.security.get().and_then(|s| s.web.as_ref()) {
                    let (applied, refused) = web.reloads();
                    o.observe(applied, &[KeyValue::new("result", "success")]);
                    o.observe(refused, &[KeyValue::new("result", "failure")]);
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_web_config_last_reload_successful")
            .with_description(
                "With --tls-config: 1 if the web configuration last read (at start or on a change) was valid",
            )
            .with_callback(move |o| {
                if let Some(web) = t.security.get().and_then(|s| s.web.as_ref()) {
                    o.observe(u64::from(web.last_reload_successful()), &[]);
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_auth_filter_requests_total")
            .with_description(
                "With --auth-filter: /metrics requests by decision (allowed, unauthenticated, forbidden, error)",
            )
            .with_callback(move |o| {
                if let Some(auth) = t.security.get().and_then(|s| s.auth.as_ref()) {
                    for (decision, n) in Decision::ALL.iter().zip(auth.counts()) {
                        o.observe(n, &[KeyValue::new("result", decision.as_str())]);
                    }
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_relists_total")
            .with_description(
                "Lists after a watcher's first, per resource: it fell behind (410 Gone) or its watch could not be resumed",
            )
            .with_callback(move |o| {
                for (resource, n) in lock(&t.relists).iter() {
                    o.observe(*n, &[KeyValue::new("resource", resource.clone())]);
                }
            })
            .build();
        for (name, help, read) in [
            (
                "kube_state_otel_list_objects_total",
                "Objects received in lists (initial lists and relists) and kept, per resource",
                (|l: &Listed| &l.objects) as fn(&Listed) -> &AtomicU64,
            ),
            (
                "kube_state_otel_list_bytes_total",
                "Bytes of list responses (decoded), per resource",
                |l| &l.bytes,
            ),
        ] {
            let t = self.clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| {
                    for (resource, listed) in lock(&t.listed).iter() {
                        o.observe(
                            read(listed).load(Ordering::Relaxed),
                            &[KeyValue::new("resource", resource.clone())],
                        );
                    }
                })
                .build();
        }
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_resource_state")
            .with_description(
                "Per resource, 1 for its state and 0 for the others: synced (initial list done), syncing, forbidden (the API server refuses to list it; retried) or not served (not watched)",
            )
            .with_callback(move |o| {
                let Some(report) = t.sync.get().and_then(|source| source()) else {
                    return;
                };
                for (resource, current) in &report.kinds {
                    for state in KIND_STATES {
                        o.observe(
                            u64::from(state == *current),
                            &[
                                KeyValue::new("resource", *resource),
                                KeyValue::new("state", state),
                            ],
                        );
                    }
                }
            })
            .build();
        let t = self.clone();
        meter
            .f64_observable_gauge("kube_state_otel_initial_sync_duration_seconds")
            .with_description(
                "Time from start until every served kind had completed its initial list (readiness); absent until then",
            )
            .with_unit("s")
            .with_callback(move |o| {
                if let Some(took) = t
                    .sync
                    .get()
                    .and_then(|source| source())
                    .and_then(|r| r.initial_sync)
                {
                    o.observe(took.as_secs_f64(), &[]);
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_api_retries_total")
            .with_description(
                "API requests sent again because the API server answered 429 or 5xx with Retry-After, per resource and status code",
            )
            .with_callback(move |o| {
                for ((resource, code), n) in lock(&t.retries).iter() {
                    o.observe(
                        *n,
                        &[
                            KeyValue::new("resource", resource.clone()),
                            KeyValue::new("code", i64::from(*code)),
                        ],
                    );
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_discovery_total")
            .with_description("API discovery reads, by result (success or error)")
            .with_callback(move |o| {
                for (success, result) in [(true, "success"), (false, "error")] {
                    let n = t.discoveries[usize::from(success)].load(Ordering::Relaxed);
                    o.observe(n, &[KeyValue::new("result", result)]);
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_store_objects")
            .with_description("Objects held in the store, per resource")
            .with_callback(move |o| {
                for (resource, store) in lock(&t.stores).iter() {
                    o.observe(
                        store.len() as u64,
                        &[KeyValue::new("resource", resource.clone())],
                    );
                }
            })
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_store_bytes")
            .with_description("Heap bytes of the compact samples held in the store, per resource")
            .with_callback(move |o| {
                for (resource, store) in lock(&t.stores).iter() {
                    o.observe(
                        store.heap_bytes() as u64,
                        &[KeyValue::new("resource", resource.clone())],
                    );
                }
            })
            .build();
        for (name, failed, help) in [
            (
                "kube_state_otel_decode_dropped_fields_total",
                false,
                "Object fields that could not be decoded and were left out, per resource",
            ),
            (
                "kube_state_otel_decode_failed_objects_total",
                true,
                "Objects that could not be decoded at all, per resource",
            ),
        ] {
            let t = self.clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| {
                    for (resource, (dropped, objects)) in lock(&t.decode).iter() {
                        let n = if failed { *objects } else { *dropped };
                        o.observe(n, &[KeyValue::new("resource", resource.clone())]);
                    }
                })
                .build();
        }
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_scrapes_total")
            .with_description("Completed /metrics scrapes")
            .with_callback(move |o| o.observe(t.scrapes.load(Ordering::Relaxed), &[]))
            .build();
        let t = self.clone();
        meter
            .u64_observable_gauge("kube_state_otel_scrapes_in_flight")
            .with_description(
                "/metrics scrapes being encoded now (at most --max-concurrent-scrapes)",
            )
            .with_callback(move |o| o.observe(t.scrapes_in_flight.load(Ordering::Relaxed), &[]))
            .build();
        let t = self.clone();
        meter
            .u64_observable_counter("kube_state_otel_scrapes_rejected_total")
            .with_description(
                "/metrics scrapes answered 503 because --max-concurrent-scrapes were in flight",
            )
            .with_callback(move |o| o.observe(t.scrapes_rejected.load(Ordering::Relaxed), &[]))
            .build();
        let t = self.clone();
        meter
            .f64_observable_counter("kube_state_otel_scrape_duration_seconds_total")
            .with_description("Time spent producing /metrics responses")
            .with_unit("s")
            .with_callback(move |o| {
                o.observe(t.scrape_nanos.load(Ordering::Relaxed) as f64 / 1e9, &[]);
            })
            .build();
    }
}

/// A /metrics scrape counted in flight (see [`Telemetry::start_scrape`]) until dropped.
pub struct ScrapeInFlight(Arc<Telemetry>);

impl Drop for ScrapeInFlight {
    fn drop(&mut self) {
        self.0.scrapes_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
