//! The lenient decoder of every kind: an object as a watch event carries it, decoded as the
//! watcher decodes it, turned into samples, stored, and collected through the streaming meter
//! into both exposition formats.
//!
//! Input: one byte choosing the kind (its index among `all_kinds()`, modulo their number), then
//! the object's JSON.
//!
//! Checks: any JSON is decoded (only text that is not JSON is an error); both outputs parse
//! strictly (valid, unique label names; escaping); every kube-state-metrics sample starts with
//! the kind's identity labels, and each sample the kind generated is collected exactly once.
//! Not checked: that no series is written twice. An object whose lists repeat a name (two
//! `containerStatuses` named alike) gives a series twice, as kube-state-metrics does; Kubernetes
//! keys these lists by name, so a well-formed object has none (RELIABILITY.md, Fuzzing).
#![no_main]

use std::collections::HashMap;
use std::sync::Arc;

use kube_state_otel::meter::{
    SEMCONV_SCHEMA_URL, StreamingMeterProvider, register_kind_streaming, register_semconv,
};
use kube_state_otel::metric::{AllowList, FamilyDesc, KindOptions};
use kube_state_otel::pipeline::all_kinds;
use kube_state_otel::store::KindStore;
use kube_state_otel_fuzz::exposition::{Format, parse};
use kube_state_otel_fuzz::render;
use libfuzzer_sys::fuzz_target;
use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::MeterProvider;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, json)) = data.split_first() else {
        return;
    };
    let kinds = all_kinds();
    let kind = kinds[usize::from(choice) % kinds.len()];
    let descs: Vec<FamilyDesc> = kind.families().into_iter().map(|f| f.desc).collect();
    let enabled: Vec<usize> = (0..descs.len()).collect();
    // Every key allowed, the semconv UID and the entity attributes kept: the most generators
    // run (`--schema both --entity-events`).
    let options = KindOptions {
        allow_labels: AllowList::new(["*"]),
        allow_annotations: AllowList::new(["*"]),
        semconv_uid: true,
        entity_events: true,
    };
    let decoded = kind.samples_from_event_json(json, &enabled, &options);
    let is_json = serde_json::from_slice::<serde_json::Value>(json).is_ok();
    assert_eq!(decoded.is_ok(), is_json, "{decoded:?}");
    let Ok(Some(object)) = decoded else {
        return;
    };
    // Samples per kube-state-metrics family name.
    let mut expected: HashMap<&str, usize> = HashMap::new();
    for (position, desc) in descs.iter().enumerate().filter(|(_, d)| d.ksm) {
        *expected.entry(desc.name).or_default() += object.samples.family(position).count();
    }

    let store = Arc::new(KindStore::new());
    store.apply(&object.uid, object.samples);
    let provider = StreamingMeterProvider::new();
    let resource = kind.resource();
    register_kind_streaming(&provider, resource, kind.identity_labels(), &descs, &store);
    if let Some(entity) = kind.entity() {
        let scope = InstrumentationScope::builder(resource)
            .with_schema_url(SEMCONV_SCHEMA_URL)
            .build();
        register_semconv(
            &provider.meter_with_scope(scope),
            entity,
            &descs,
            &store,
            |_| true,
        );
    }
    let (prometheus, open_metrics) = render(|sink| provider.registry().collect(resource, sink));

    for (output, format) in [
        (&prometheus, Format::Text),
        (&open_metrics, Format::OpenMetrics),
    ] {
        let families = parse(output, format)
            .unwrap_or_else(|e| panic!("{resource}: {format:?} output does not parse: {e}"));
        // By sample name: an OpenMetrics counter family is named without its `_total`.
        let mut collected: HashMap<&str, usize> = HashMap::new();
        let samples = families.iter().flat_map(|f| &f.samples);
        for sample in samples.filter(|s| expected.contains_key(s.name.as_str())) {
            *collected.entry(sample.name.as_str()).or_default() += 1;
            let names = sample.labels.iter().map(|(name, _)| name.as_str());
            let identity = kind.identity_labels();
            assert!(
                names.take(identity.len()).eq(identity.iter().copied()),
                "{resource}: {} does not start with {identity:?}: {:?}",
                sample.name,
                sample.labels
            );
        }
        expected.retain(|_, count| *count > 0);
        assert_eq!(
            collected, expected,
            "{resource}: {format:?} samples per family"
        );
    }
});
