//! One collection spread over several threads, its output still in order.
//!
//! Each part (an instrument, or a slice of its objects) is encoded by whichever worker takes
//! it next; its chunks wait in a bounded per-part buffer until every earlier part has been
//! handed out, so the body is byte-for-byte what a single thread would write. However slow
//! the reader, memory stays bounded: `lookahead` chunks for the part being handed out,
//! [`AHEAD_BYTES`] for the rest. A reader that goes away stops the collection: the parts being
//! encoded are finished and dropped, the others never started.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

use crate::meter::{MetricSink, Part};

/// An encoder that writes chunks through a callback and reports its series count at the end.
pub trait ChunkEncoder: MetricSink {
    fn finish(self) -> u64;
}

/// Bytes that parts after the one being handed out may hold, together: a slow reader must not
/// let the workers buffer the whole body, and a fast one should not leave a worker idle. A
/// scrape's parts are slices of a few MiB ([`crate::pipeline::OBJECTS_PER_SLICE`]), so a few
/// parts ahead keep both workers busy, and the chunks are still in the cache when they are
/// sent (BENCHMARKS.md, session 7).
pub const AHEAD_BYTES: usize = 8 << 20;

/// Encodes `parts` on `workers` threads with encoders from `encoder` and passes their chunks
/// to `out` in part order; returns the number of series.
pub fn collect_in_order<E, M>(
    parts: Vec<Part>,
    workers: usize,
    lookahead: usize,
    encoder: M,
    out: impl FnMut(Bytes),
) -> u64
where
    E: ChunkEncoder,
    M: Fn(Box<dyn FnMut(Bytes) + Send>) -> E + Sync,
{
    let limits = Limits {
        workers,
        lookahead,
        ahead_bytes: AHEAD_BYTES,
    };
    let never = AtomicBool::new(false);
    collect_within(parts, limits, encoder, |chunk| chunk, out, &never)
}

/// [`collect_in_order`] with each chunk turned by `map` on the worker that wrote it (where
/// per-chunk work such as compression runs in parallel) before it goes to `out`. Once `out`
/// sets `stop` (its reader has gone), no further part is started and the call returns.
pub fn collect_mapped_in_order<E, M, T: ChunkSize>(
    parts: Vec<Part>,
    workers: usize,
    lookahead: usize,
    encoder: M,
    map: impl Fn(Bytes) -> T + Clone + Send + Sync + 'static,
    out: impl FnMut(T),
    stop: &AtomicBool,
) -> u64
where
    E: ChunkEncoder,
    M: Fn(Box<dyn FnMut(Bytes) + Send>) -> E + Sync,
{
    let limits = Limits {
        workers,
        lookahead,
        ahead_bytes: AHEAD_BYTES,
    };
    collect_within(parts, limits, encoder, map, out, stop)
}

/// Threads, and what may wait for the reader.
struct Limits {
    workers: usize,
    lookahead: usize,
    ahead_bytes: usize,
}

fn collect_within<E, M, T: ChunkSize>(
    parts: Vec<Part>,
    limits: Limits,
    encoder: M,
    map: impl Fn(Bytes) -> T + Clone + Send + Sync + 'static,
    mut out: impl FnMut(T),
    stop: &AtomicBool,
) -> u64
where
    E: ChunkEncoder,
    M: Fn(Box<dyn FnMut(Bytes) + Send>) -> E + Sync,
{
    let Limits {
        workers,
        lookahead,
        ahead_bytes,
    } = limits;
    let series = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let buffers = Buffers::new(parts.len());
    let budget = Arc::new(Budget::new(ahead_bytes));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = parts.get(index) else {
                        break;
                    };
                    let (sender, receiver) = sync_channel(lookahead.max(1));
                    buffers.made(index, receiver);
                    // The reader may have gone (client disconnected): the rest is discarded.
                    let map = map.clone();
                    let budget = budget.clone();
                    let mut encoder = encoder(Box::new(move |chunk| {
                        let chunk = map(chunk);
                        let size = chunk.size();
                        let counted = budget.reserve(index, size);
                        if sender.send((chunk, counted)).is_err() && counted {
                            budget.release(size);
                        }
                    }));
                    part.collect(&mut encoder);
                    series.fetch_add(encoder.finish(), Ordering::Relaxed);
                }
            });
        }
        forward(parts.len(), &buffers, &budget, &mut out, stop);
    });
    series.into_inner()
}

/// Each part's buffer, made when a worker takes the part, until the reader's turn comes: a
/// scrape has thousands of parts, and the ones far ahead, which the budget keeps the workers
/// from reaching, cost nothing.
struct Buffers<T> {
    made: Mutex<Vec<Option<Receiver<Counted<T>>>>>,
    changed: Condvar,
}

impl<T> Buffers<T> {
    fn new(parts: usize) -> Self {
        Buffers {
            made: Mutex::new((0..parts).map(|_| None).collect()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Receiver<Counted<T>>>>> {
        self.made.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Once [`Buffers::close`]d, the buffer is dropped: its worker's sends fail.
    fn made(&self, part: usize, buffer: Receiver<Counted<T>>) {
        if let Some(slot) = self.lock().get_mut(part) {
            *slot = Some(buffer);
        }
        self.changed.notify_all();
    }

    /// The reader has gone: every buffer is dropped, so no worker waits to send.
    fn close(&self) {
        self.lock().clear();
    }

    /// Waits for `part`'s buffer: parts are taken in order, so every part before the last one
    /// taken has its buffer, or is about to.
    fn take(&self, part: usize) -> Receiver<Counted<T>> {
        let mut made = self.lock();
        loop {
            if let Some(buffer) = made.get_mut(part).and_then(Option::take) {
                return buffer;
            }
            made = self.changed.wait(made).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// What may wait for the reader: chunks of the part being handed out wait in its channel only;
/// chunks of the parts ahead of it also count against a shared byte budget.
struct Budget {
    state: Mutex<BudgetState>,
    changed: Condvar,
    limit: usize,
}

#[derive(Default)]
struct BudgetState {
    /// The part being handed out.
    forwarding: usize,
    /// Bytes of chunks of later parts not yet handed out.
    ahead: usize,
    /// The reader has gone: nothing is handed out any more, so nothing waits for room.
    stopped: bool,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Budget {
            state: Mutex::default(),
            changed: Condvar::new(),
            limit,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a chunk of `size` bytes of `part` may be buffered; returns whether it counts
    /// against the budget (it does not once its part is the one being handed out).
    fn reserve(&self, part: usize, size: usize) -> bool {
        let mut state = self.state();
        while !state.stopped
            && state.forwarding != part
            && state.ahead > 0
            && state.ahead + size > self.limit
        {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        let counted = state.forwarding != part;
        if counted {
            state.ahead += size;
        }
        counted
    }

    fn release(&self, size: usize) {
        self.state().ahead -= size;
        self.changed.notify_all();
    }

    fn next_part(&self) {
        self.state().forwarding += 1;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.state().stopped = true;
        self.changed.notify_all();
    }
}

/// A chunk, and whether it counts against the [`Budget`].
type Counted<T> = (T, bool);

/// A chunk's size in memory, for the budget.
pub trait ChunkSize: Send + 'static {
    fn size(&self) -> usize;
}

impl ChunkSize for Bytes {
    fn size(&self) -> usize {
        self.len()
    }
}

/// Drains the parts' buffers in order; a buffer ends when its worker drops the sender. Once
/// `out` has set `stop`, the buffers are dropped: a worker's next send fails at once, and
/// workers waiting for room in the budget stop waiting.
fn forward<T: ChunkSize>(
    parts: usize,
    buffers: &Buffers<T>,
    budget: &Budget,
    out: &mut impl FnMut(T),
    stop: &AtomicBool,
) {
    for part in 0..parts {
        for (chunk, counted) in buffers.take(part).iter() {
            let size = chunk.size();
            out(chunk);
            if counted {
                budget.release(size);
            }
            if stop.load(Ordering::Relaxed) {
                budget.stop();
                buffers.close();
                return;
            }
        }
        budget.next_part();
    }
}

impl<F: FnMut(Bytes) + Send> ChunkEncoder for super::prometheus::TextEncoder<F> {
    fn finish(self) -> u64 {
        super::prometheus::TextEncoder::finish(self)
    }
}

impl<F: FnMut(Bytes) + Send> ChunkEncoder for super::openmetrics::OpenMetricsEncoder<F> {
    fn finish(self) -> u64 {
        super::openmetrics::OpenMetricsEncoder::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::prometheus::TextEncoder;
    use crate::meter::StreamingMeterProvider;
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider;

    /// A provider with `n` gauges of `points` points each, in one scope.
    fn provider(n: usize, points: usize) -> StreamingMeterProvider {
        let provider = StreamingMeterProvider::new();
        let meter = provider.meter("test");
        for g in 0..n {
            meter
                .u64_observable_gauge(format!("gauge_{g}"))
                .with_description("d")
                .with_callback(move |o| {
                    for p in 0..points {
                        o.observe((g * points + p) as u64, &[KeyValue::new("p", p as i64)]);
                    }
                })
                .build();
        }
        provider
    }

    #[test]
    fn parallel_output_is_the_sequential_output() {
        let provider = provider(12, 3000);
        let mut sequential = String::new();
        let mut encoder = TextEncoder::new(1024, |c: Bytes| {
            sequential.push_str(&String::from_utf8_lossy(&c))
        });
        provider.registry().collect("test", &mut encoder);
        let sequential_series = encoder.finish();
        // Tiny chunks, a lookahead of one and budgets of a few chunks make the workers block
        // on each other and on the reader.
        for (workers, lookahead, ahead_bytes) in [
            (1, 1, AHEAD_BYTES),
            (2, 1, AHEAD_BYTES),
            (3, 2, AHEAD_BYTES),
            (2, 64, AHEAD_BYTES),
            (2, 64, 4096),
            (3, 8, 1),
        ] {
            let mut parallel = String::new();
            let limits = Limits {
                workers,
                lookahead,
                ahead_bytes,
            };
            let series = collect_within(
                provider.registry().parts("test"),
                limits,
                |emit| TextEncoder::new(1024, emit),
                |chunk| chunk,
                |c: Bytes| parallel.push_str(&String::from_utf8_lossy(&c)),
                &AtomicBool::new(false),
            );
            assert_eq!(series, sequential_series);
            assert_eq!(
                parallel, sequential,
                "{workers} workers, lookahead {lookahead}"
            );
        }
        assert_eq!(sequential_series, 36_000);
    }

    /// A reader that goes away after its first chunk: the workers, blocked on the budget or
    /// on a full buffer, are released, and the parts not yet started never are.
    #[test]
    fn a_reader_that_goes_away_stops_the_collection() {
        let provider = provider(12, 3000);
        let encoded = |ahead_bytes: usize, stop_after: Option<usize>| {
            let chunks = Arc::new(AtomicUsize::new(0));
            let counted = chunks.clone();
            let stop = AtomicBool::new(false);
            let mut read = 0;
            let limits = Limits {
                workers: 2,
                lookahead: 1,
                ahead_bytes,
            };
            collect_within(
                provider.registry().parts("test"),
                limits,
                |emit| TextEncoder::new(1024, emit),
                move |chunk| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    chunk
                },
                |_| {
                    read += 1;
                    if stop_after.is_some_and(|n| read >= n) {
                        stop.store(true, Ordering::Relaxed);
                    }
                },
                &stop,
            );
            chunks.load(Ordering::Relaxed)
        };
        let all = encoded(AHEAD_BYTES, None);
        // Workers waiting for room in the budget, then waiting to send into a full buffer.
        for ahead_bytes in [1, AHEAD_BYTES] {
            let stopped = encoded(ahead_bytes, Some(1));
            // Each of the 12 parts is about a 12th of the chunks; at most the two being
            // encoded when the reader went, and one more each worker may have taken
            // meanwhile, are.
            assert!(stopped * 3 <= all, "{stopped} of {all} chunks encoded");
        }
    }
}
