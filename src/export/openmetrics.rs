//! OpenMetrics text 1.0, for scrapers that ask for it (Prometheus does by default), negotiated
//! as kube-state-metrics negotiates it (`expfmt.NegotiateIncludingOpenMetrics`).
//!
//! The samples are the Prometheus text format's; what differs: a counter family is named
//! without its `_total` suffix on the HELP/TYPE lines (its samples keep it), HELP escapes double
//! quotes, and the body ends with `# EOF`. kube-state-metrics writes its counters' TYPE lines
//! with `_total`, which strict OpenMetrics parsers reject; we follow the specification there.

use bytes::Bytes;
use opentelemetry::KeyValue;

use super::prometheus::{Chunks, escape_label_value, set_metric_name};
use crate::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number, OpenMetricsType};

/// The exposition format a scrape gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics text; the full content type, version and escaping scheme included.
    OpenMetrics(String),
}

impl Format {
    /// The format for an `Accept` header, chosen as kube-state-metrics does: the clauses by
    /// falling quality; the first that is Prometheus text (0.0.4 or unversioned), OpenMetrics
    /// (1.0.0, 0.0.1 or unversioned) or the protobuf format decides; protobuf, which neither
    /// serves, and no match at all get text. The content type carries the escaping scheme of
    /// the last `escaping` parameter seen (default `underscores`), as prometheus/common's does.
    pub fn negotiate(accept: &str) -> Format {
        let mut escaping = "underscores";
        for clause in parse_accept(accept) {
            if let Some(scheme) = clause.param("escaping")
                && ["allow-utf-8", "underscores", "dots", "values"].contains(&scheme)
            {
                escaping = scheme;
            }
            let version = clause.param("version").unwrap_or_default();
            match clause.media_type {
                "application/vnd.google.protobuf"
                    if clause.param("proto") == Some("io.prometheus.client.MetricFamily")
                        && matches!(
                            clause.param("encoding"),
                            Some("delimited" | "text" | "compact-text")
                        ) =>
                {
                    return Format::Text;
                }
                "text/plain" if matches!(version, "0.0.4" | "") => return Format::Text,
                "application/openmetrics-text" if matches!(version, "1.0.0" | "0.0.1" | "") => {
                    let version = if version == "1.0.0" { "1.0.0" } else { "0.0.1" };
                    return Format::OpenMetrics(format!(
                        "application/openmetrics-text; version={version}; charset=utf-8; escaping={escaping}"
                    ));
                }
                _ => {}
            }
        }
        Format::Text
    }
}

/// One clause of an `Accept` header.
struct Clause<'a> {
    media_type: &'a str,
    q: f64,
    wildcard: bool,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Clause<'a> {
    fn param(&self, key: &str) -> Option<&'a str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The clauses by falling quality, `*` types after concrete ones (goautoneg's `ParseAccept`).
fn parse_accept(accept: &str) -> Vec<Clause<'_>> {
    let mut clauses: Vec<Clause> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let media_type = pieces.next()?.trim();
            let (kind, subtype) = media_type.split_once('/').unwrap_or((media_type, ""));
            if subtype.is_empty() && kind != "*" {
                return None;
            }
            let mut clause = Clause {
                media_type,
                q: 1.0,
                wildcard: kind == "*" || subtype == "*",
                params: Vec::new(),
            };
            for param in pieces {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                match key.trim() {
                    "q" => clause.q = value.trim().parse().unwrap_or(0.0),
                    key => clause.params.push((key, value.trim())),
                }
            }
            Some(clause)
        })
        .collect();
    clauses.sort_by(|a, b| b.q.total_cmp(&a.q).then(a.wildcard.cmp(&b.wildcard)));
    clauses
}

/// The line that ends an OpenMetrics document.
pub const EOF: &str = "# EOF\n";

/// Writes a collection as OpenMetrics text, in chunks like [`super::prometheus::TextEncoder`].
pub struct OpenMetricsEncoder<F: FnMut(Bytes) + Send> {
    out: Chunks<F>,
    /// The sample name of the current family.
    name: String,
}

impl<F: FnMut(Bytes) + Send> OpenMetricsEncoder<F> {
    pub fn new(chunk_size: usize, emit: F) -> Self {
        OpenMetricsEncoder {
            out: Chunks::new(chunk_size, emit),
            name: String::new(),
        }
    }

    /// Hands out what is left without ending the document (a part of a collection split over
    /// several encoders); returns how many series were written.
    pub fn finish(self) -> u64 {
        self.out.finish()
    }

    /// Writes the closing `# EOF` and hands out what is left; returns how many series were
    /// written.
    pub fn finish_document(mut self) -> u64 {
        self.out.buf.push_str(EOF);
        self.out.finish()
    }
}

// SAFETY: it writes the attributes into its text buffer and keeps no attribute.
unsafe impl<F: FnMut(Bytes) + Send> MetricSink for OpenMetricsEncoder<F> {
    fn begin(&mut self, desc: &InstrumentDesc) {
        set_metric_name(&mut self.name, desc);
        let (family, kind) = match desc.kind {
            InstrumentKind::Counter => match self.name.strip_suffix("_total") {
                Some(family) => (family, "counter"),
                // A counter's samples must be `<family>_total`; renaming ours would change
                // the series, so such a family is declared `unknown` instead.
                None => (&*self.name, "unknown"),
            },
            InstrumentKind::Gauge | InstrumentKind::UpDownCounter => (&*self.name, "gauge"),
        };
        // As kube-state-metrics declares its Custom Resource State types in OpenMetrics.
        let kind = match desc.openmetrics {
            OpenMetricsType::FromKind => kind,
            OpenMetricsType::Info => "info",
            OpenMetricsType::StateSet => "stateset",
        };
        self.out
            .header(family, &desc.description, kind, escape_label_value);
    }

    fn resume(&mut self, desc: &InstrumentDesc) {
        set_metric_name(&mut self.name, desc);
    }

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        self.out.sample(&self.name, value, attributes);
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;

    fn desc(name: &'static str, help: &'static str, kind: InstrumentKind) -> InstrumentDesc {
        InstrumentDesc {
            scope: Arc::from("pods"),
            schema_url: Cow::Borrowed(""),
            name: Cow::Borrowed(name),
            description: Cow::Borrowed(help),
            unit: Cow::Borrowed(""),
            kind,
            openmetrics: OpenMetricsType::FromKind,
        }
    }

    fn encode(write: impl FnOnce(&mut dyn MetricSink)) -> String {
        let mut out = String::new();
        let mut encoder = OpenMetricsEncoder::new(16, |chunk: Bytes| {
            out.push_str(&String::from_utf8_lossy(&chunk));
        });
        write(&mut encoder);
        encoder.finish_document();
        out
    }

    #[test]
    fn counters_drop_total_on_metadata_and_the_body_ends_with_eof() {
        let text = encode(|sink| {
            sink.begin(&desc(
                "kube_pod_container_status_restarts_total",
                "[STABLE] The number of \"restarts\".",
                InstrumentKind::Counter,
            ));
            sink.observe(Number::F64(3.0), &[KeyValue::new("pod", "a\"b")]);
            sink.begin(&desc("kube_pod_info", "Info.", InstrumentKind::Gauge));
            sink.observe(Number::F64(1.0), &[]);
            sink.begin(&desc("odd_counter", "No suffix.", InstrumentKind::Counter));
            sink.observe(Number::U64(2), &[]);
        });
        assert_eq!(
            text,
            "# HELP kube_pod_container_status_restarts [STABLE] The number of \\\"restarts\\\".\n\
             # TYPE kube_pod_container_status_restarts counter\n\
             kube_pod_container_status_restarts_total{pod=\"a\\\"b\"} 3\n\
             # HELP kube_pod_info Info.\n\
             # TYPE kube_pod_info gauge\n\
             kube_pod_info 1\n\
             # HELP odd_counter No suffix.\n\
             # TYPE odd_counter unknown\n\
             odd_counter 2\n\
             # EOF\n"
        );
        assert_eq!(encode(|_| {}), "# EOF\n");
    }

    fn open_metrics(version: &str, escaping: &str) -> Format {
        Format::OpenMetrics(format!(
            "application/openmetrics-text; version={version}; charset=utf-8; escaping={escaping}"
        ))
    }

    #[test]
    fn negotiation_follows_kube_state_metrics() {
        // What Prometheus 3 sends by default.
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
            application/openmetrics-text;version=0.0.1;q=0.5,\
            text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
            text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(
            Format::negotiate(prometheus),
            open_metrics("1.0.0", "allow-utf-8")
        );
        assert_eq!(
            Format::negotiate("application/openmetrics-text; version=1.0.0"),
            open_metrics("1.0.0", "underscores")
        );
        assert_eq!(
            Format::negotiate("application/openmetrics-text"),
            open_metrics("0.0.1", "underscores")
        );
        // Quality orders the clauses, not their position.
        assert_eq!(
            Format::negotiate(
                "text/plain;version=0.0.4;q=0.3,application/openmetrics-text;version=1.0.0;q=0.5"
            ),
            open_metrics("1.0.0", "underscores")
        );
        for text in [
            "",
            "*/*",
            "text/plain",
            "text/plain;version=0.0.4,application/openmetrics-text",
            "application/openmetrics-text;version=2.0.0",
            // Protobuf first: KSM serves text then, not the next clause.
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
             encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.5",
        ] {
            assert_eq!(Format::negotiate(text), Format::Text, "{text:?}");
        }
    }
}
