//! The exposition fuzz target's corpus (`fuzz/corpus/exposition`: label values and HELP texts
//! with quotes, backslashes, line breaks, control and non-ASCII characters, invalid UTF-8, the
//! lengths where the encoders' SSE copies change strategy) through the real encoders, then the
//! real parsers: `promtool check metrics` (Prometheus' own text parser and linter) accepts the
//! text format with no finding, and prometheus_client's strict OpenMetrics parser reads back
//! every HELP, label value and sample value exactly. The fuzz target checks the same
//! round trip with a small parser of its own, on every input it makes (RELIABILITY.md).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use kube_state_otel::export::openmetrics::OpenMetricsEncoder;
use kube_state_otel::export::prometheus::collect_to_string;
use kube_state_otel::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number, OpenMetricsType};
use kube_state_otel::metric::AllowList;
use opentelemetry::KeyValue;
use serde_json::Value;

mod harness;
use harness::{pipe, promtool_check_metrics};

/// One corpus file as the fuzz target reads it: its bytes as UTF-8 (invalid sequences
/// replaced) are the text; its first 8 bytes, if it has them, the sample value's bits.
struct Case {
    file: String,
    text: String,
    value: f64,
}

fn help(case: &Case) -> String {
    format!("Case {}: {}", case.file, case.text)
}

fn corpus() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/exposition");
    let mut cases: Vec<Case> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            Case {
                file: path
                    .file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned(),
                text: String::from_utf8_lossy(&data).into_owned(),
                value: data
                    .first_chunk::<8>()
                    .map_or(1.0, |bits| f64::from_le_bytes(*bits)),
            }
        })
        .collect();
    cases.sort_by(|a, b| a.file.cmp(&b.file));
    assert!(
        cases.len() >= 30,
        "the corpus lost its cases: {}",
        cases.len()
    );
    cases
}

/// Each case as one family `escaping_case_N`: its text in the HELP (after `Case FILE: `, as
/// promtool lints an empty HELP), as the `value` label, and as a Kubernetes label key (→ a
/// `label_*` name) whose value it also is; `file` names the case.
fn collect(cases: &[Case], sink: &mut dyn MetricSink) {
    for (i, case) in cases.iter().enumerate() {
        let keys = BTreeMap::from([(case.text.clone(), case.text.clone())]);
        let mut attributes = vec![
            KeyValue::new("file", case.file.clone()),
            KeyValue::new("value", case.text.clone()),
        ];
        let dynamic = AllowList::new(["*"]).prometheus_labels("label", Some(&keys));
        attributes.extend(
            dynamic
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_key(), v.to_value())),
        );
        sink.begin(&InstrumentDesc {
            scope: Arc::from("escaping"),
            schema_url: Cow::Borrowed(""),
            name: Cow::Owned(format!("escaping_case_{i}")),
            description: Cow::Owned(help(case)),
            unit: Cow::Borrowed(""),
            kind: InstrumentKind::Gauge,
            openmetrics: OpenMetricsType::FromKind,
        });
        sink.observe(Number::F64(case.value), &attributes);
    }
}

#[test]
fn promtool_accepts_every_label_value_and_help_of_the_corpus() {
    let cases = corpus();
    let text = collect_to_string(|sink| collect(&cases, sink));
    let (passed, report) = promtool_check_metrics(&text);
    assert!(
        passed && report.trim().is_empty(),
        "promtool check metrics: {report}\n{text}"
    );
}

#[test]
fn prometheus_client_reads_back_every_label_value_and_help_of_the_corpus() {
    let cases = corpus();
    let mut body = String::new();
    let mut encoder = OpenMetricsEncoder::new(64 * 1024, |chunk: Bytes| {
        body.push_str(std::str::from_utf8(&chunk).expect("UTF-8 chunks"));
    });
    collect(&cases, &mut encoder);
    encoder.finish_document();

    let parsed = parse_open_metrics(&body);
    assert_eq!(parsed.len(), cases.len(), "families");
    for (i, (case, family)) in cases.iter().zip(&parsed).enumerate() {
        let [name, documentation, samples] = &family[..] else {
            panic!("{family:?}");
        };
        assert_eq!(name, &format!("escaping_case_{i}"));
        assert_eq!(documentation, &help(case), "HELP of {}", case.file);
        let [sample] = &samples.as_array().expect("samples")[..] else {
            panic!("{samples:?}");
        };
        let labels = &sample["labels"];
        assert_eq!(labels["file"], case.file.as_str());
        assert_eq!(labels["value"], case.text.as_str(), "{}", case.file);
        let dynamic = labels
            .as_object()
            .expect("labels")
            .iter()
            .filter(|(k, _)| k.starts_with("label_"));
        assert!(
            dynamic
                .map(|(_, v)| v)
                .eq([&Value::from(case.text.as_str())]),
            "{}: {labels}",
            case.file
        );
        let value: f64 = sample["value"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("a float");
        // Numerically: prometheus_client reads an integer-looking `-0` as the integer 0.
        assert!(
            value == case.value || value.is_nan() && case.value.is_nan(),
            "{}: {value} for {}",
            case.file,
            case.value
        );
    }
}

/// `[name, help, [{labels, value}]]` per family, as prometheus_client's strict OpenMetrics
/// parser reads `body`. (Its text-format parser is no oracle: it strips a HELP's trailing
/// blanks and ends lines at `\r`, which the format and Prometheus keep.)
fn parse_open_metrics(body: &str) -> Vec<Vec<Value>> {
    let script = "import json, sys\n\
         from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
         out = [[f.name, f.documentation,\n\
                 [{'labels': s.labels, 'value': repr(s.value)} for s in f.samples]]\n\
                for f in text_string_to_metric_families(sys.stdin.read())]\n\
         print(json.dumps(out))";
    let out = pipe(Command::new("python3").args(["-c", script]), body);
    assert!(
        out.status.success(),
        "prometheus_client rejected the OpenMetrics output (scripts/test.sh installs \
         prometheus-client): {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}
