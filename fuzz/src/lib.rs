//! What the fuzz targets share: the exposition oracle, and a collection rendered in both
//! formats /metrics serves.

pub mod exposition;

use bytes::Bytes;
use kube_state_otel::export::openmetrics::OpenMetricsEncoder;
use kube_state_otel::export::prometheus::TextEncoder;
use kube_state_otel::meter::MetricSink;

/// Small chunks, so that a family or a sample is split over several.
const CHUNK: usize = 64;

/// A collection as Prometheus text and as an OpenMetrics document, from the real encoders.
pub fn render(collect: impl Fn(&mut dyn MetricSink)) -> (String, String) {
    let mut text = String::new();
    let mut encoder = TextEncoder::new(CHUNK, |chunk: Bytes| push_chunk(&mut text, &chunk));
    collect(&mut encoder);
    encoder.finish();
    let mut open_metrics = String::new();
    let mut encoder =
        OpenMetricsEncoder::new(CHUNK, |chunk: Bytes| push_chunk(&mut open_metrics, &chunk));
    collect(&mut encoder);
    encoder.finish_document();
    (text, open_metrics)
}

/// Every chunk must be UTF-8 on its own: the encoders write into their buffers unchecked.
fn push_chunk(out: &mut String, chunk: &[u8]) {
    match std::str::from_utf8(chunk) {
        Ok(text) => out.push_str(text),
        Err(e) => panic!("an encoder wrote a chunk that is not UTF-8 ({e}): {chunk:?}"),
    }
}
