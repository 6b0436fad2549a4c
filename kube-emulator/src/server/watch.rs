//! Watch streams: one JSON event per line over a chunked response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::api::{Matcher, Params, Target};
use super::status::{self, status_value};
use super::{AppState, Format, table};
use crate::object::{StoredObject, type_prefix};
use crate::resources::{self, ResourceId};
use crate::stats::Counters;
use crate::store::{Event, EventType, Gone, WatchFrom, WatchStart};
use crate::surface::Surface;

/// Bytes buffered before a write to the connection.
const FLUSH_AT: usize = 64 * 1024;

/// Validates a watch request and starts streaming it.
pub(crate) fn start(
    st: &AppState,
    t: &Target,
    matcher: Matcher,
    p: &Params,
    format: Format,
    counters: Arc<Counters>,
) -> Response {
    counters.watch_request();
    let emu = &st.emu;
    if let Some(send) = p.send_initial_events {
        if !emu.streaming_lists() {
            return status::invalid_list_options(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            );
        }
        if send && !p.allow_watch_bookmarks {
            return status::invalid_list_options(
                "allowWatchBookmarks",
                "allowWatchBookmarks must be set to true when sendInitialEvents is provided",
            );
        }
        if p.resource_version_match.as_deref() != Some("NotOlderThan") {
            return status::invalid_list_options(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            );
        }
    } else if p.resource_version_match.is_some() {
        return status::invalid_list_options(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        );
    }
    let rv = match p.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return status::bad_request(&format!("invalid resource version {s:?}")),
        },
    };
    let current = emu.store.current_rv();
    let (from, initial_end) = match (p.send_initial_events, rv) {
        (Some(true), _) => (WatchFrom::Snapshot, true),
        (Some(false), None) => (WatchFrom::ResourceVersion(current), false),
        (_, Some(n)) => (WatchFrom::ResourceVersion(n), false),
        (None, None) => (WatchFrom::Snapshot, false),
    };
    let from_rv = match from {
        WatchFrom::ResourceVersion(n) => n,
        WatchFrom::Snapshot => 0,
    };
    let mut writer = EventWriter::new(t.r, &t.version, format, counters);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let disconnect = emu.disconnect.subscribe();
    let silence = emu.silence.subscribe();
    let mut surface = emu.subscribe_surface();
    // The route was resolved against an earlier snapshot: check it again once started.
    surface.mark_changed();
    let shutdown = st.shutdown.clone();
    let timeout = p
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(emu.config().default_watch_timeout);
    let buffer = emu.config().store.watch_buffer.max(16);
    let bookmarks = p.allow_watch_bookmarks.then(|| emu.bookmark_interval());
    match emu.store.watch(t.r, t.namespace.as_deref(), from) {
        Ok(start) => {
            let emu = emu.clone();
            let active = emu.stats.watch_started();
            let r = t.r;
            let version = t.version.clone();
            tokio::spawn(async move {
                let _active = active;
                let ctx = WatchCtx {
                    store_rv: Box::new(move || emu.store.progress_rv(r)),
                    matcher,
                    timeout,
                    bookmarks,
                    initial_end,
                    from_rv,
                    buffer,
                    disconnect,
                    silence,
                    surface,
                    served: Box::new(move |s: &Surface| s.serves(r, &version)),
                    shutdown,
                };
                run(ctx, start, &mut writer, &tx).await;
            });
        }
        Err(Gone { requested, oldest }) => {
            // The apiserver answers a watch from a compacted resourceVersion with a 200 stream
            // holding one ERROR event.
            writer.counters.error();
            writer.push_error(410, "Expired", &status::too_old_message(requested, oldest));
            let _ = tx.try_send(writer.take());
        }
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

struct WatchCtx {
    /// resourceVersion bookmarks may report (everything up to it was already broadcast).
    store_rv: Box<dyn Fn() -> u64 + Send>,
    matcher: Matcher,
    timeout: Duration,
    bookmarks: Option<Duration>,
    initial_end: bool,
    /// The resourceVersion the client asked to watch from (0 for "now").
    from_rv: u64,
    /// The broadcast buffer size; a receiver this far behind has lost events.
    buffer: usize,
    disconnect: tokio::sync::watch::Receiver<u64>,
    silence: tokio::sync::watch::Receiver<u64>,
    /// The emulator's surface: the watch ends when `served` stops holding (an upgrade or
    /// runtime-config change stopped serving the watched version).
    surface: tokio::sync::watch::Receiver<Arc<Surface>>,
    served: Box<dyn Fn(&Surface) -> bool + Send>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

async fn run(mut ctx: WatchCtx, start: WatchStart, w: &mut EventWriter, tx: &mpsc::Sender<Bytes>) {
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    let WatchStart {
        mut rx,
        snapshot,
        replay,
        rv: start_rv,
    } = start;
    let capacity = ctx.buffer;
    for o in snapshot {
        if ctx.matcher.matches(&o) {
            w.push_object("ADDED", &o);
            if w.len() >= FLUSH_AT && !flush(w, tx, &Lag { rx: &rx, capacity }).await {
                return;
            }
        }
    }
    if ctx.initial_end {
        w.push_bookmark(start_rv, true);
    }
    for ev in replay {
        w.push_event(&ev, &ctx.matcher);
        if w.len() >= FLUSH_AT && !flush(w, tx, &Lag { rx: &rx, capacity }).await {
            return;
        }
    }
    if !flush(w, tx, &Lag { rx: &rx, capacity }).await {
        return;
    }
    // A watch from a resourceVersion ahead of the store skips events up to it.
    let mut last_rv = start_rv.max(ctx.from_rv);
    let mut ticker = ctx.bookmarks.map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    loop {
        tokio::select! {
            // Control first: once a watch is cut or silenced, it delivers nothing more.
            biased;
            _ = ctx.disconnect.changed() => break,
            _ = ctx.silence.changed() => {
                // Open, silent, until the client gives up, the connection is cut (a load
                // balancer timing the flow out) or the server stops.
                tokio::select! {
                    _ = tx.closed() => {}
                    _ = ctx.disconnect.changed() => {}
                    _ = ctx.shutdown.changed() => {}
                }
                return;
            }
            changed = ctx.surface.changed() => {
                if changed.is_err() || !(ctx.served)(&ctx.surface.borrow_and_update()) {
                    // Events published before serving stopped (the DELETED events of a CRD's
                    // objects) still go out, as the apiserver sends them before the CRD's
                    // storage is torn down.
                    while drain(&mut rx, w, &ctx.matcher, &mut last_rv) && w.len() > 0 {
                        if !flush(w, tx, &Lag { rx: &rx, capacity }).await {
                            return;
                        }
                    }
                    break;
                }
            }
            _ = ctx.shutdown.changed() => break,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tx.closed() => break,
            _ = async {
                match ticker.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                // Everything up to this resourceVersion is already in the channel: deliver it
                // first so the bookmark never runs ahead of an undelivered event.
                let rv = (ctx.store_rv)();
                if !drain(&mut rx, w, &ctx.matcher, &mut last_rv) {
                    break;
                }
                w.push_bookmark(rv.max(last_rv), false);
                last_rv = rv.max(last_rv);
                if !flush(w, tx, &Lag { rx: &rx, capacity }).await {
                    return;
                }
            }
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if ev.rv > last_rv {
                        last_rv = ev.rv;
                        w.push_event(&ev, &ctx.matcher);
                    }
                    if !drain(&mut rx, w, &ctx.matcher, &mut last_rv) {
                        break;
                    }
                    if !flush(w, tx, &Lag { rx: &rx, capacity }).await {
                        return;
                    }
                }
                // A watcher too slow to keep up is dropped, as the apiserver does; the client
                // re-watches from its last resourceVersion.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "closing lagging watch");
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    let _ = flush(w, tx, &Lag { rx: &rx, capacity }).await;
}

/// Moves already-queued events into the writer (up to a flush's worth). False if lagged.
fn drain(
    rx: &mut broadcast::Receiver<Arc<Event>>,
    w: &mut EventWriter,
    m: &Matcher,
    last_rv: &mut u64,
) -> bool {
    while w.len() < FLUSH_AT {
        match rx.try_recv() {
            Ok(ev) => {
                if ev.rv > *last_rv {
                    *last_rv = ev.rv;
                    w.push_event(&ev, m);
                }
            }
            Err(broadcast::error::TryRecvError::Lagged(_)) => return false,
            Err(_) => break,
        }
    }
    true
}

/// Hands buffered bytes to the connection. False when the client went away or fell so far
/// behind while we waited that it missed events: then the watch ends, as the apiserver ends
/// watches whose buffers overflow.
async fn flush(w: &mut EventWriter, tx: &mpsc::Sender<Bytes>, rx: &Lag<'_>) -> bool {
    if w.len() == 0 {
        return true;
    }
    loop {
        tokio::select! {
            permit = tx.reserve() => return match permit {
                Ok(p) => {
                    p.send(w.take());
                    true
                }
                Err(_) => false,
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if rx.lagged() {
                    return false;
                }
            }
        }
    }
}

/// Tells whether a receiver has fallen out of its broadcast buffer.
struct Lag<'a> {
    rx: &'a broadcast::Receiver<Arc<Event>>,
    capacity: usize,
}

impl Lag<'_> {
    fn lagged(&self) -> bool {
        self.rx.len() >= self.capacity
    }
}

/// Serializes events into a buffer and accounts for them.
pub(crate) struct EventWriter {
    r: ResourceId,
    version: String,
    format: Format,
    /// `{"kind":..,"apiVersion":..,` of event objects.
    prefix: Vec<u8>,
    /// Whether an event went out: the apiserver sends a Table's `columnDefinitions` with a
    /// stream's first event only (`watchEmbeddedEncoder` sets `NoHeaders` after it).
    headers_sent: bool,
    buf: Vec<u8>,
    events: usize,
    serve: Duration,
    pub(crate) counters: Arc<Counters>,
}

impl EventWriter {
    fn new(r: ResourceId, version: &str, format: Format, counters: Arc<Counters>) -> Self {
        let rt = resources::get(r);
        let prefix = match format {
            Format::Metadata => type_prefix("PartialObjectMetadata", "meta.k8s.io/v1"),
            Format::Table(_) => type_prefix("Table", "meta.k8s.io/v1"),
            Format::Full => type_prefix(rt.kind, &rt.api_version(version)),
        };
        Self {
            r,
            version: version.to_string(),
            format,
            prefix,
            headers_sent: false,
            buf: Vec::with_capacity(FLUSH_AT + 8192),
            events: 0,
            serve: Duration::ZERO,
            counters,
        }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn start_event(&mut self, ty: &str) {
        self.buf.extend_from_slice(b"{\"type\":\"");
        self.buf.extend_from_slice(ty.as_bytes());
        self.buf.extend_from_slice(b"\",\"object\":");
    }

    fn end_event(&mut self) {
        self.buf.extend_from_slice(b"}\n");
        self.events += 1;
        self.headers_sent = true;
    }

    fn push_object(&mut self, ty: &str, o: &Arc<StoredObject>) {
        let t = Instant::now();
        self.start_event(ty);
        match self.format {
            Format::Full => {
                self.buf.extend_from_slice(&self.prefix);
                self.buf.extend_from_slice(&o.body);
                self.buf.push(b'}');
                self.counters.object_bodies_sent(1);
            }
            Format::Metadata => {
                self.buf.extend_from_slice(&self.prefix);
                self.buf.extend_from_slice(o.metadata_member());
                self.buf.push(b'}');
            }
            Format::Table(include) => {
                let row = table::table(
                    self.r,
                    &self.version,
                    std::slice::from_ref(o),
                    None,
                    include,
                    !self.headers_sent,
                );
                self.buf.extend_from_slice(&row);
                self.counters.object_bodies_sent(include.bodies(1));
            }
        }
        self.end_event();
        self.serve += t.elapsed();
    }

    /// Writes `ev` as the selection sees it: an object entering the selection is ADDED,
    /// one leaving it is DELETED, as the apiserver's watch cache reports them.
    fn push_event(&mut self, ev: &Event, m: &Matcher) {
        let now = m.matches(&ev.obj);
        let before = ev.prev.as_ref().is_some_and(|p| m.matches(p));
        let ty = match (ev.kind, before, now) {
            (EventType::Added, _, true) => "ADDED",
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            (EventType::Deleted, _, true) => "DELETED",
            _ => return,
        };
        self.push_object(ty, &ev.obj);
    }

    fn push_bookmark(&mut self, rv: u64, initial_end: bool) {
        let t = Instant::now();
        self.start_event("BOOKMARK");
        let meta = if initial_end {
            json!({"resourceVersion": rv.to_string(),
                   "annotations": {"k8s.io/initial-events-end": "true"}})
        } else {
            json!({"resourceVersion": rv.to_string()})
        };
        if let Format::Table(include) = self.format {
            let table = table::bookmark(self.r, &self.version, &meta, include, !self.headers_sent);
            self.buf.extend_from_slice(&table);
        } else {
            self.buf.extend_from_slice(&self.prefix);
            self.buf.extend_from_slice(b"\"metadata\":");
            self.buf.extend_from_slice(meta.to_string().as_bytes());
            self.buf.push(b'}');
        }
        self.end_event();
        self.serve += t.elapsed();
    }

    fn push_error(&mut self, code: u16, reason: &str, message: &str) {
        self.start_event("ERROR");
        self.buf.extend_from_slice(
            status_value(code, reason, message, None)
                .to_string()
                .as_bytes(),
        );
        self.end_event();
    }

    fn take(&mut self) -> Bytes {
        let out = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_AT + 8192));
        self.counters
            .watch_sent(out.len(), self.events, std::mem::take(&mut self.serve));
        self.events = 0;
        Bytes::from(out)
    }
}
