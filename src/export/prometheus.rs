//! Prometheus text exposition (format 0.0.4), byte-compatible with kube-state-metrics.

use bytes::Bytes;
use opentelemetry::KeyValue;

use crate::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number};
use crate::metric::write_go_float;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes a collection as Prometheus text, handing out chunks of about `chunk_size` bytes so the
/// body is streamed rather than built whole.
pub struct TextEncoder<F: FnMut(Bytes) + Send> {
    buf: String,
    name: String,
    chunk_size: usize,
    emit: F,
    series: u64,
}

impl<F: FnMut(Bytes) + Send> TextEncoder<F> {
    pub fn new(chunk_size: usize, emit: F) -> Self {
        TextEncoder {
            buf: String::with_capacity(chunk_size + 1024),
            name: String::new(),
            chunk_size,
            emit,
            series: 0,
        }
    }

    /// Hands out what is left; returns how many series were written.
    pub fn finish(mut self) -> u64 {
        if !self.buf.is_empty() {
            (self.emit)(Bytes::from(std::mem::take(&mut self.buf)));
        }
        self.series
    }

    fn maybe_emit(&mut self) {
        if self.buf.len() >= self.chunk_size {
            let chunk =
                std::mem::replace(&mut self.buf, String::with_capacity(self.chunk_size + 1024));
            (self.emit)(Bytes::from(chunk));
        }
    }
}

impl<F: FnMut(Bytes) + Send> MetricSink for TextEncoder<F> {
    fn begin(&mut self, desc: &InstrumentDesc) {
        self.name.clear();
        self.name.push_str(&desc.name);
        let kind = match desc.kind {
            InstrumentKind::Counter => "counter",
            InstrumentKind::Gauge | InstrumentKind::UpDownCounter => "gauge",
        };
        self.buf.push_str("# HELP ");
        self.buf.push_str(&desc.name);
        self.buf.push(' ');
        escape_help(&mut self.buf, &desc.description);
        self.buf.push_str("\n# TYPE ");
        self.buf.push_str(&desc.name);
        self.buf.push(' ');
        self.buf.push_str(kind);
        self.buf.push('\n');
    }

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        self.buf.push_str(&self.name);
        if !attributes.is_empty() {
            self.buf.push('{');
            for (i, kv) in attributes.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                self.buf.push_str(kv.key.as_str());
                self.buf.push_str("=\"");
                escape_label_value(&mut self.buf, &kv.value.as_str());
                self.buf.push('"');
            }
            self.buf.push('}');
        }
        self.buf.push(' ');
        match value {
            Number::F64(v) => write_go_float(&mut self.buf, v),
            Number::I64(v) => self.buf.push_str(itoa::Buffer::new().format(v)),
            Number::U64(v) => self.buf.push_str(itoa::Buffer::new().format(v)),
        }
        self.buf.push('\n');
        self.series += 1;
        self.maybe_emit();
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    if memchr::memchr3(b'\\', b'"', b'\n', value.as_bytes()).is_none() {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The whole collection as one string, for tests and small outputs.
pub fn collect_to_string(collect: impl FnOnce(&mut dyn MetricSink)) -> String {
    let mut out = String::new();
    let mut encoder = TextEncoder::new(64 * 1024, |chunk: Bytes| {
        out.push_str(&String::from_utf8_lossy(&chunk));
    });
    collect(&mut encoder);
    encoder.finish();
    out
}
