//! One collection spread over several threads, its output still in order.
//!
//! Each part (one instrument) is encoded by whichever worker takes it next; its chunks wait in
//! a bounded per-part buffer until every earlier part has been handed out, so the body is
//! byte-for-byte what a single thread would write, and memory stays bounded by
//! `workers × lookahead` chunks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::meter::{MetricSink, Part};

/// An encoder that writes chunks through a callback and reports its series count at the end.
pub trait ChunkEncoder: MetricSink {
    fn finish(self) -> u64;
}

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
    collect_mapped_in_order(parts, workers, lookahead, encoder, |chunk| chunk, out)
}

/// [`collect_in_order`] with each chunk turned by `map` on the worker that wrote it (where
/// per-chunk work such as compression runs in parallel) before it goes to `out`.
pub fn collect_mapped_in_order<E, M, T: Send + 'static>(
    parts: Vec<Part>,
    workers: usize,
    lookahead: usize,
    encoder: M,
    map: impl Fn(Bytes) -> T + Clone + Send + Sync + 'static,
    mut out: impl FnMut(T),
) -> u64
where
    E: ChunkEncoder,
    M: Fn(Box<dyn FnMut(Bytes) + Send>) -> E + Sync,
{
    let series = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let (senders, receivers): (Vec<_>, Vec<_>) = parts
        .iter()
        .map(|_| sync_channel::<T>(lookahead.max(1)))
        .unzip();
    let senders: Vec<Mutex<Option<SyncSender<T>>>> =
        senders.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let parts = Arc::new(parts);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(part), Some(sender)) = (parts.get(index), senders.get(index)) else {
                        break;
                    };
                    let Some(sender) = sender.lock().unwrap_or_else(|p| p.into_inner()).take()
                    else {
                        continue;
                    };
                    // The reader may have gone (client disconnected): the rest is discarded.
                    let map = map.clone();
                    let mut encoder = encoder(Box::new(move |chunk| {
                        let _ = sender.send(map(chunk));
                    }));
                    part.collect(&mut encoder);
                    series.fetch_add(encoder.finish(), Ordering::Relaxed);
                }
            });
        }
        forward(receivers, &mut out);
    });
    series.into_inner()
}

/// Drains the parts' buffers in order; a buffer ends when its worker drops the sender.
fn forward<T>(receivers: Vec<Receiver<T>>, out: &mut impl FnMut(T)) {
    for receiver in receivers {
        for chunk in receiver {
            out(chunk);
        }
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
        // Tiny chunks and a lookahead of one make the workers block on each other.
        for (workers, lookahead) in [(1, 1), (2, 1), (3, 2), (2, 64)] {
            let mut parallel = String::new();
            let series = collect_in_order(
                provider.registry().parts("test"),
                workers,
                lookahead,
                |emit| TextEncoder::new(1024, emit),
                |c| parallel.push_str(&String::from_utf8_lossy(&c)),
            );
            assert_eq!(series, sequential_series);
            assert_eq!(
                parallel, sequential,
                "{workers} workers, lookahead {lookahead}"
            );
        }
        assert_eq!(sequential_series, 36_000);
    }
}
