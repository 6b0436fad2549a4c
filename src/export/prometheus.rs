//! Prometheus text exposition (format 0.0.4), byte-compatible with kube-state-metrics.

use bytes::Bytes;
use opentelemetry::{KeyValue, Value};

use super::short::{Refuse, push_if};
use crate::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number};
use crate::metric::write_go_float;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buffered text handed out in chunks of about `chunk_size` bytes, so a body is streamed rather
/// than built whole; shared by the text encoders.
pub(crate) struct Chunks<F: FnMut(Bytes) + Send> {
    pub(crate) buf: String,
    chunk_size: usize,
    emit: F,
    series: u64,
}

impl<F: FnMut(Bytes) + Send> Chunks<F> {
    pub(crate) fn new(chunk_size: usize, emit: F) -> Self {
        Chunks {
            buf: String::with_capacity(chunk_size + 1024),
            chunk_size,
            emit,
            series: 0,
        }
    }

    /// Hands out what is left; returns how many series were written.
    pub(crate) fn finish(mut self) -> u64 {
        if !self.buf.is_empty() {
            (self.emit)(Bytes::from(std::mem::take(&mut self.buf)));
        }
        self.series
    }

    /// `# HELP name help` with `help` escaped by `escape`, then `# TYPE name kind`.
    pub(crate) fn header(
        &mut self,
        name: &str,
        help: &str,
        kind: &str,
        escape: fn(&mut String, &str),
    ) {
        self.buf.push_str("# HELP ");
        self.buf.push_str(name);
        self.buf.push(' ');
        escape(&mut self.buf, help);
        self.buf.push_str("\n# TYPE ");
        self.buf.push_str(name);
        self.buf.push(' ');
        self.buf.push_str(kind);
        self.buf.push('\n');
    }

    /// One sample line: `name{k="v",…} value`.
    pub(crate) fn sample(&mut self, name: &str, value: Number, attributes: &[KeyValue]) {
        let buf = &mut self.buf;
        buf.push_str(name);
        if !attributes.is_empty() {
            buf.push('{');
            for (i, kv) in attributes.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                push_label_name(buf, kv.key.as_str());
                buf.push_str("=\"");
                match &kv.value {
                    // Without the `Cow` `Value::as_str` makes: this runs for every label.
                    Value::String(value) => escape_label_value(buf, value.as_str()),
                    other => escape_label_value(buf, &other.as_str()),
                }
                buf.push('"');
            }
            buf.push('}');
        }
        buf.push(' ');
        match value {
            Number::F64(v) => write_go_float(buf, v),
            Number::I64(v) => buf.push_str(itoa::Buffer::new().format(v)),
            Number::U64(v) => buf.push_str(itoa::Buffer::new().format(v)),
        }
        buf.push('\n');
        self.series += 1;
        if self.buf.len() >= self.chunk_size {
            let chunk =
                std::mem::replace(&mut self.buf, String::with_capacity(self.chunk_size + 1024));
            (self.emit)(Bytes::from(chunk));
        }
    }
}

/// Writes a collection as Prometheus text, handing out chunks of about `chunk_size` bytes.
pub struct TextEncoder<F: FnMut(Bytes) + Send> {
    out: Chunks<F>,
    name: String,
}

impl<F: FnMut(Bytes) + Send> TextEncoder<F> {
    pub fn new(chunk_size: usize, emit: F) -> Self {
        TextEncoder {
            out: Chunks::new(chunk_size, emit),
            name: String::new(),
        }
    }

    /// Hands out what is left; returns how many series were written.
    pub fn finish(self) -> u64 {
        self.out.finish()
    }
}

// SAFETY: it writes the attributes into its text buffer and keeps no attribute.
unsafe impl<F: FnMut(Bytes) + Send> MetricSink for TextEncoder<F> {
    fn begin(&mut self, desc: &InstrumentDesc) {
        set_metric_name(&mut self.name, desc);
        let kind = match desc.kind {
            InstrumentKind::Counter => "counter",
            InstrumentKind::Gauge | InstrumentKind::UpDownCounter => "gauge",
        };
        self.out
            .header(&self.name, &desc.description, kind, escape_help);
    }

    fn resume(&mut self, desc: &InstrumentDesc) {
        set_metric_name(&mut self.name, desc);
    }

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        self.out.sample(&self.name, value, attributes);
    }
}

/// Sets `name` to the instrument's Prometheus name. kube-state-metrics names are Prometheus
/// names already; OpenTelemetry names (`k8s.pod.status.phase`) follow the specification's
/// Prometheus compatibility: invalid characters become `_`, the unit is appended as a word
/// (`By` → `_bytes`, `s` → `_seconds`, `1` → `_ratio` for gauges; `{pod}` annotations are
/// dropped) and counters end in `_total`.
pub(crate) fn set_metric_name(name: &mut String, desc: &InstrumentDesc) {
    name.clear();
    if is_prometheus_name(&desc.name) {
        name.push_str(&desc.name);
        return;
    }
    push_sanitized(name, &desc.name);
    let unit = match (&*desc.unit, desc.kind) {
        ("By", _) => "bytes",
        ("s", _) => "seconds",
        ("1", InstrumentKind::Gauge) => "ratio",
        _ => "",
    };
    if !unit.is_empty() && !name.ends_with(unit) {
        name.push('_');
        name.push_str(unit);
    }
    if desc.kind == InstrumentKind::Counter && !name.ends_with("_total") {
        name.push_str("_total");
    }
}

fn is_prometheus_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn push_sanitized(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
}

/// A label name: attribute names with dots (`k8s.pod.name`) as `k8s_pod_name`.
fn push_label_name(out: &mut String, key: &str) {
    if !push_if(out, key, Refuse::NonLabelNameBytes) {
        out.extend(
            key.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
}

/// Escapes backslashes, double quotes and newlines, as both text formats do in label values
/// (and OpenMetrics in HELP too).
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    if push_if(out, value, Refuse::Escapes) {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;
    use crate::meter::OpenMetricsType;

    fn name(name: &'static str, unit: &'static str, kind: InstrumentKind) -> String {
        let desc = InstrumentDesc {
            scope: Arc::from("pods"),
            schema_url: Cow::Borrowed(""),
            name: Cow::Borrowed(name),
            description: Cow::Borrowed(""),
            unit: Cow::Borrowed(unit),
            kind,
            openmetrics: OpenMetricsType::FromKind,
        };
        let mut out = String::new();
        set_metric_name(&mut out, &desc);
        out
    }

    #[test]
    fn opentelemetry_names_follow_the_compatibility_rules() {
        use InstrumentKind::*;
        for (otel, unit, kind, prometheus) in [
            ("kube_pod_info", "", Gauge, "kube_pod_info"),
            ("kube_x_total", "", Counter, "kube_x_total"),
            (
                "k8s.pod.status.phase",
                "{pod}",
                UpDownCounter,
                "k8s_pod_status_phase",
            ),
            (
                "k8s.container.memory.limit.desired",
                "By",
                UpDownCounter,
                "k8s_container_memory_limit_desired_bytes",
            ),
            ("k8s.pod.uptime", "s", Gauge, "k8s_pod_uptime_seconds"),
            (
                "k8s.hpa.metric.target.cpu.average_utilization",
                "1",
                Gauge,
                "k8s_hpa_metric_target_cpu_average_utilization_ratio",
            ),
            (
                "k8s.pod.cpu.time",
                "s",
                Counter,
                "k8s_pod_cpu_time_seconds_total",
            ),
        ] {
            assert_eq!(name(otel, unit, kind), prometheus);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\"b\\c\nd");
        assert_eq!(out, "a\\\"b\\\\c\\nd");
        escape_label_value(&mut out, "-plain é");
        assert_eq!(out, "a\\\"b\\\\c\\nd-plain é");
    }

    #[test]
    fn attribute_names_become_label_names() {
        let out = collect_to_string(|sink| {
            sink.begin(&InstrumentDesc {
                scope: Arc::from("pods"),
                schema_url: Cow::Borrowed(""),
                name: Cow::Borrowed("k8s.pod.status.phase"),
                description: Cow::Borrowed("Phase."),
                unit: Cow::Borrowed("{pod}"),
                kind: InstrumentKind::UpDownCounter,
                openmetrics: OpenMetricsType::FromKind,
            });
            sink.observe(
                Number::F64(1.0),
                &[
                    KeyValue::new("k8s.pod.name", "p"),
                    KeyValue::new("k8s.pod.status.phase", "Running"),
                ],
            );
        });
        assert_eq!(
            out,
            "# HELP k8s_pod_status_phase Phase.\n# TYPE k8s_pod_status_phase gauge\n\
             k8s_pod_status_phase{k8s_pod_name=\"p\",k8s_pod_status_phase=\"Running\"} 1\n"
        );
    }
}
