//! Label values and HELP text in both exposition formats: whatever the text, the output parses
//! (strictly, to the formats' specifications) and unescapes to exactly that text.
//!
//! Input: any bytes, read as UTF-8 (invalid sequences replaced), used as a label value, as a
//! Kubernetes label key (→ `label_*` name) and as HELP; the first 8 bytes are also the sample
//! value's bits.
#![no_main]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use kube_state_otel::meter::{InstrumentDesc, InstrumentKind, Number, OpenMetricsType};
use kube_state_otel::metric::AllowList;
use kube_state_otel_fuzz::exposition::{Format, parse};
use kube_state_otel_fuzz::render;
use libfuzzer_sys::fuzz_target;
use opentelemetry::KeyValue;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let value = data
        .first_chunk::<8>()
        .map_or(1.0, |bits| f64::from_le_bytes(*bits));
    let keys = BTreeMap::from([(text.clone(), text.clone())]);
    let dynamic = AllowList::new(["*"]).prometheus_labels("label", Some(&keys));
    let [(label, _)] = &dynamic[..] else {
        panic!("one key, one label: {dynamic:?}");
    };
    let desc = InstrumentDesc {
        scope: Arc::from("fuzz"),
        schema_url: Cow::Borrowed(""),
        name: Cow::Borrowed("fuzz_escaping"),
        description: Cow::Owned(text.clone()),
        unit: Cow::Borrowed(""),
        kind: InstrumentKind::Gauge,
        openmetrics: OpenMetricsType::FromKind,
    };
    let attributes = [
        KeyValue::new("value", text.clone()),
        KeyValue::new(label.to_key(), text.clone()),
    ];
    let (prometheus, open_metrics) = render(|sink| {
        sink.begin(&desc);
        sink.observe(Number::F64(value), &attributes);
    });
    for (output, format) in [
        (&prometheus, Format::Text),
        (&open_metrics, Format::OpenMetrics),
    ] {
        let families = parse(output, format)
            .unwrap_or_else(|e| panic!("{format:?} output does not parse: {e}\n{output}"));
        let [family] = &families[..] else {
            panic!("one family expected: {families:?}");
        };
        // The text format's parsers skip the blanks between a HELP line's name and its text:
        // leading blanks cannot be told from the separator (OpenMetrics has exactly one).
        let help = match format {
            Format::Text => text.trim_start_matches([' ', '\t']),
            Format::OpenMetrics => &text,
        };
        assert_eq!(family.help, help, "{format:?} HELP");
        let [sample] = &family.samples[..] else {
            panic!("one sample expected: {family:?}");
        };
        let expected = [
            ("value".to_string(), text.clone()),
            (label.to_string(), text.clone()),
        ];
        assert_eq!(sample.labels, expected, "{format:?} labels");
        assert!(
            sample.value.to_bits() == value.to_bits() || value.is_nan() && sample.value.is_nan(),
            "{format:?} value {} is not {value:?}",
            sample.value
        );
    }
});
