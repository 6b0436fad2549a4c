//! Per-client, per-resource request and byte counters, plus server-side serving time.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::resources::{self, ResourceId};

/// Live counters for one (client, resource); handlers keep an `Arc` for the request's life.
#[derive(Debug, Default)]
pub struct Counters {
    list_requests: AtomicU64,
    list_bytes: AtomicU64,
    list_serve_ns: AtomicU64,
    watch_requests: AtomicU64,
    watch_bytes: AtomicU64,
    watch_events: AtomicU64,
    watch_serve_ns: AtomicU64,
    get_requests: AtomicU64,
    get_bytes: AtomicU64,
    write_requests: AtomicU64,
    errors: AtomicU64,
    object_bodies: AtomicU64,
}

impl Counters {
    /// Counts a list request.
    pub fn list_request(&self) {
        self.list_requests.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts list response bytes (as sent, after compression) and the time spent producing them.
    pub fn list_sent(&self, bytes: usize, serve: Duration) {
        self.list_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.list_serve_ns
            .fetch_add(serve.as_nanos() as u64, Ordering::Relaxed);
    }
    /// Counts a watch request.
    pub fn watch_request(&self) {
        self.watch_requests.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts watch stream bytes, events and the time spent producing them.
    pub fn watch_sent(&self, bytes: usize, events: usize, serve: Duration) {
        self.watch_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.watch_events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.watch_serve_ns
            .fetch_add(serve.as_nanos() as u64, Ordering::Relaxed);
    }
    /// Counts a get of one object.
    pub fn get_sent(&self, bytes: usize) {
        self.get_requests.fetch_add(1, Ordering::Relaxed);
        self.get_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    /// Counts a create, update, patch or delete.
    pub fn write_request(&self) {
        self.write_requests.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts an error response (403, 410, ...).
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts objects sent whole, with everything beyond their metadata (a Secret's data).
    pub fn object_bodies_sent(&self, objects: usize) {
        self.object_bodies
            .fetch_add(objects as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ResourceStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ResourceStats {
            list_requests: l(&self.list_requests),
            list_bytes: l(&self.list_bytes),
            list_serve_ns: l(&self.list_serve_ns),
            watch_requests: l(&self.watch_requests),
            watch_bytes: l(&self.watch_bytes),
            watch_events: l(&self.watch_events),
            watch_serve_ns: l(&self.watch_serve_ns),
            get_requests: l(&self.get_requests),
            get_bytes: l(&self.get_bytes),
            write_requests: l(&self.write_requests),
            errors: l(&self.errors),
            object_bodies: l(&self.object_bodies),
        }
    }

    fn reset(&self) {
        for a in [
            &self.list_requests,
            &self.list_bytes,
            &self.list_serve_ns,
            &self.watch_requests,
            &self.watch_bytes,
            &self.watch_events,
            &self.watch_serve_ns,
            &self.get_requests,
            &self.get_bytes,
            &self.write_requests,
            &self.errors,
            &self.object_bodies,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// A snapshot of one (client, resource)'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ResourceStats {
    /// List requests.
    pub list_requests: u64,
    /// List response bytes on the wire (compressed when gzip was negotiated).
    pub list_bytes: u64,
    /// Nanoseconds the emulator spent producing list responses.
    pub list_serve_ns: u64,
    /// Watch requests.
    pub watch_requests: u64,
    /// Watch stream bytes on the wire.
    pub watch_bytes: u64,
    /// Watch events sent (including bookmarks and errors).
    pub watch_events: u64,
    /// Nanoseconds the emulator spent producing watch stream bytes.
    pub watch_serve_ns: u64,
    /// Single-object GETs.
    pub get_requests: u64,
    /// Bytes of single-object GET responses.
    pub get_bytes: u64,
    /// Creates, updates, patches and deletes.
    #[serde(default)]
    pub write_requests: u64,
    /// Error responses (403, 404, 410, ...), including ERROR watch events.
    pub errors: u64,
    /// Objects sent whole — list items, watch events, gets, write responses and Table rows
    /// with `includeObject=Object` — rather than as metadata or Table cells: for Secrets, the
    /// responses that carried their data.
    #[serde(default)]
    pub object_bodies: u64,
}

impl ResourceStats {
    fn add(&mut self, o: &ResourceStats) {
        self.list_requests += o.list_requests;
        self.list_bytes += o.list_bytes;
        self.list_serve_ns += o.list_serve_ns;
        self.watch_requests += o.watch_requests;
        self.watch_bytes += o.watch_bytes;
        self.watch_events += o.watch_events;
        self.watch_serve_ns += o.watch_serve_ns;
        self.get_requests += o.get_requests;
        self.get_bytes += o.get_bytes;
        self.write_requests += o.write_requests;
        self.errors += o.errors;
        self.object_bodies += o.object_bodies;
    }

    /// Bytes of list and watch responses together.
    pub fn total_bytes(&self) -> u64 {
        self.list_bytes + self.watch_bytes + self.get_bytes
    }

    /// Serving time of lists and watches together.
    pub fn serve_time(&self) -> Duration {
        Duration::from_nanos(self.list_serve_ns + self.watch_serve_ns)
    }
}

/// All counters at one moment.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// The store's latest resourceVersion.
    pub resource_version: u64,
    /// Watches currently streaming.
    pub active_watches: u64,
    /// Client (bearer token or `anonymous`) → resource (`pods`, `deployments.apps`) → counters.
    pub clients: BTreeMap<String, BTreeMap<String, ResourceStats>>,
    /// Sum over all clients and resources.
    pub totals: ResourceStats,
}

impl StatsSnapshot {
    /// Counters of one client for one resource (zero when never used).
    pub fn get(&self, client: &str, resource: &str) -> ResourceStats {
        self.clients
            .get(client)
            .and_then(|m| m.get(resource))
            .copied()
            .unwrap_or_default()
    }

    /// Sum of one client's counters over all resources.
    pub fn client_total(&self, client: &str) -> ResourceStats {
        let mut t = ResourceStats::default();
        for s in self
            .clients
            .get(client)
            .into_iter()
            .flat_map(|m| m.values())
        {
            t.add(s);
        }
        t
    }
}

/// The registry of counters.
#[derive(Default)]
pub struct Stats {
    counters: Mutex<HashMap<(String, ResourceId), Arc<Counters>>>,
    active_watches: AtomicU64,
}

impl Stats {
    /// The counters for `client` and `resource`, created on first use.
    pub fn counters(&self, client: &str, resource: ResourceId) -> Arc<Counters> {
        let mut m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((client.to_string(), resource)).or_default().clone()
    }

    /// Marks a watch as started; the guard marks it finished when dropped.
    pub fn watch_started(self: &Arc<Self>) -> ActiveWatch {
        self.active_watches.fetch_add(1, Ordering::Relaxed);
        ActiveWatch(self.clone())
    }

    /// Current values.
    pub fn snapshot(&self, resource_version: u64) -> StatsSnapshot {
        let m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = StatsSnapshot {
            resource_version,
            active_watches: self.active_watches.load(Ordering::Relaxed),
            ..Default::default()
        };
        for ((client, r), c) in m.iter() {
            let s = c.snapshot();
            if s == ResourceStats::default() {
                continue;
            }
            out.totals.add(&s);
            out.clients
                .entry(client.clone())
                .or_default()
                .insert(resources::get(*r).qualified_name(), s);
        }
        out
    }

    /// Zeroes every counter. Counters stay registered so requests in flight keep counting.
    pub fn reset(&self) {
        let m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for c in m.values() {
            c.reset();
        }
    }
}

/// Decrements the active watch count on drop.
pub struct ActiveWatch(Arc<Stats>);

impl Drop for ActiveWatch {
    fn drop(&mut self) {
        self.0.active_watches.fetch_sub(1, Ordering::Relaxed);
    }
}
