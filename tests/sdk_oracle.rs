//! The streaming meter against the official SDK: the same kind registrations over the same
//! stores must yield the same data points under `opentelemetry_sdk` (in-memory exporter,
//! cardinality limit raised) as under our `StreamingMeterProvider`, in both schemas; and the
//! OTLP encodings of those points against each other.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use kube_state_otel::export::otlp::{OtlpEncoder, OtlpRequest};
use kube_state_otel::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number};
use kube_state_otel::metric::semconv::ValueType;
use kube_state_otel::metric::{AllowList, KindOptions, Schema};
use kube_state_otel::pipeline::{Pipeline, PipelineSettings, ResourceFilter, all_kinds};
use kube_state_otel::telemetry::Telemetry;
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as PointValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, Stream,
};
use prost::Message;
use serde_json::Value;

mod ksm;
use ksm::{kind_of, vectors_dir};

/// (scope, metric name, instrument kind and unit, sorted attributes, value as text)
type Point = (String, String, String, Vec<(String, String)>, String);

fn attrs<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = kvs
        .map(|kv| (kv.key.as_str().to_string(), kv.value.as_str().to_string()))
        .collect();
    a.sort();
    a
}

#[derive(Default)]
struct Recorder {
    begins: usize,
    scope: String,
    name: String,
    kind: String,
    points: Vec<Point>,
}

// SAFETY: it records copies of the attributes as `String`s and keeps no attribute.
unsafe impl MetricSink for Recorder {
    fn begin(&mut self, desc: &InstrumentDesc) {
        self.begins += 1;
        self.scope = desc.scope.to_string();
        self.name = desc.name.to_string();
        let kind = match desc.kind {
            InstrumentKind::Gauge => "gauge",
            InstrumentKind::Counter => "counter",
            InstrumentKind::UpDownCounter => "updowncounter",
        };
        self.kind = format!("{kind} {}", desc.unit);
    }

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        self.points.push((
            self.scope.clone(),
            self.name.clone(),
            self.kind.clone(),
            attrs(attributes.iter()),
            value.as_f64().to_string(),
        ));
    }
}

/// A pipeline of every kind, every family (opt-in too) and every label and annotation, its
/// stores filled with every conformance vector object, each made unique.
fn pipeline(schema: Schema) -> Pipeline {
    let kinds = all_kinds();
    let everything = KindOptions {
        allow_labels: AllowList::new(["*"]),
        allow_annotations: AllowList::new(["*"]),
        ..KindOptions::default()
    };
    let settings = PipelineSettings {
        resources: kinds.iter().map(|k| k.resource().to_string()).collect(),
        opt_in: kinds
            .iter()
            .flat_map(|k| k.families())
            .filter(|f| f.opt_in)
            .map(|f| f.desc.name.to_string())
            .collect(),
        options: kinds
            .iter()
            .map(|k| (k.resource().to_string(), everything.clone()))
            .collect(),
        schema,
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(settings, Telemetry::new()).expect("valid settings");
    let mut objects = Vec::new();
    for kind in kinds {
        let name = kind_of(kind.resource()).expect("every kind is a KSM kind");
        let file = vectors_dir().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&file).expect("conformance vectors readable");
        let vectors: Vec<Value> = serde_json::from_str(&text).expect("vectors are JSON");
        for (i, vector) in vectors.iter().enumerate() {
            let mut object = vector["object"].clone();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("object")
                .to_string();
            object["metadata"]["name"] = Value::from(format!("{name}-{i}"));
            object["metadata"]["uid"] = Value::from(format!("{}-uid-{i}", kind.resource()));
            object["kind"] = Value::from(kind.object_kind());
            objects.push(object);
        }
    }
    let n = objects.len();
    assert_eq!(
        pipeline.load_objects(objects),
        n,
        "every vector object is stored"
    );
    pipeline
}

fn streaming_points(pipeline: &Pipeline) -> Vec<Point> {
    let mut recorder = Recorder::default();
    pipeline.collect(&mut recorder);
    recorder.points
}

fn sdk_points(pipeline: &Pipeline) -> Vec<Point> {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .with_view(|_: &opentelemetry_sdk::metrics::Instrument| {
            Stream::builder()
                .with_cardinality_limit(1_000_000)
                .build()
                .ok()
        })
        .build();
    pipeline.register_instruments(&provider);
    provider.force_flush().expect("sdk collects");
    let mut points = Vec::new();
    let finished = exporter.get_finished_metrics().expect("sdk exported");
    let last = finished.last().expect("one export");
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            let mut push = |kind: &str, a: Vec<(String, String)>, v: f64| {
                points.push((
                    scope.scope().name().to_string(),
                    metric.name().to_string(),
                    format!("{kind} {}", metric.unit()),
                    a,
                    v.to_string(),
                ))
            };
            match metric.data() {
                AggregatedMetrics::F64(data) => number_points(data, |v| v, &mut push),
                // Semconv metrics the model says are integers.
                AggregatedMetrics::I64(data) => number_points(data, |v| v as f64, &mut push),
                AggregatedMetrics::U64(data) => number_points(data, |v| v as f64, &mut push),
            }
        }
    }
    points
}

/// A gauge's or a sum's points, each as (instrument kind, attributes, value).
fn number_points<T: Copy + std::fmt::Debug>(
    data: &MetricData<T>,
    value: impl Fn(T) -> f64,
    push: &mut impl FnMut(&str, Vec<(String, String)>, f64),
) {
    match data {
        MetricData::Gauge(g) => g
            .data_points()
            .for_each(|p| push("gauge", attrs(p.attributes()), value(p.value()))),
        MetricData::Sum(s) => {
            let kind = if s.is_monotonic() {
                "counter"
            } else {
                "updowncounter"
            };
            s.data_points()
                .for_each(|p| push(kind, attrs(p.attributes()), value(p.value())))
        }
        other => panic!("unexpected aggregation: {other:?}"),
    }
}

#[test]
fn streaming_meter_matches_the_sdk() {
    for schema in [Schema::Ksm, Schema::Both] {
        same_points(&pipeline(schema));
    }
}

/// Under `semconv`, the vectors give points of the semconv metrics, and nothing else.
#[test]
fn semconv_points_match_the_sdk() {
    let pipeline = pipeline(Schema::Semconv);
    let ours = same_points(&pipeline);
    assert!(ours.iter().all(|p| p.1.starts_with("k8s.")));
    for name in [
        "k8s.pod.status.phase",
        "k8s.container.restart.count",
        "k8s.deployment.pod.desired",
        "k8s.node.condition.status",
        "k8s.namespace.phase",
        "k8s.hpa.pod.max",
        "k8s.container.status.state",
    ] {
        assert!(ours.iter().any(|p| p.1 == name), "no {name} point");
    }
}

fn same_points(pipeline: &Pipeline) -> Vec<Point> {
    let ours = streaming_points(pipeline);
    let theirs = sdk_points(pipeline);
    assert!(
        ours.len() > 100,
        "the vectors yield many points, got {}",
        ours.len()
    );
    let ours_set: BTreeSet<&Point> = ours.iter().collect();
    assert_eq!(
        ours_set.len(),
        ours.len(),
        "our points are unique per series"
    );
    let theirs_set: BTreeSet<&Point> = theirs.iter().collect();
    let missing: Vec<_> = ours_set.difference(&theirs_set).take(5).collect();
    let extra: Vec<_> = theirs_set.difference(&ours_set).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "only ours: {missing:#?}\nonly the SDK's: {extra:#?}"
    );
    ours
}

/// A scrape encodes each family in slices of its kind's objects, on several threads. With one
/// object per slice (each family in as many parts as its kind has objects) the text must be the
/// same, byte for byte, as with every family whole: each object once, in the same order, and
/// each family's HELP and TYPE written once.
#[test]
fn a_scrape_in_slices_is_the_scrape_whole() {
    use kube_state_otel::export::prometheus::TextEncoder;
    for schema in [Schema::Ksm, Schema::Both] {
        let pipeline = pipeline(schema);
        let scrape = |objects_per_slice| {
            let parts = pipeline.parts_in_slices(&ResourceFilter::default(), objects_per_slice);
            let mut text = String::new();
            let mut encoder = TextEncoder::new(1024, |chunk: bytes::Bytes| {
                text.push_str(std::str::from_utf8(&chunk).expect("the text is UTF-8"));
            });
            parts.iter().for_each(|part| part.collect(&mut encoder));
            encoder.finish();
            (parts.len(), text)
        };
        let (whole_parts, whole) = scrape(usize::MAX);
        let (sliced_parts, sliced) = scrape(1);
        assert!(
            sliced_parts > 3 * whole_parts,
            "{sliced_parts} parts in slices, {whole_parts} whole"
        );
        assert!(whole.lines().count() > 1000, "the vectors yield many lines");
        assert_eq!(
            whole.lines().filter(|l| l.starts_with("# HELP ")).count(),
            whole_parts,
            "one header per family"
        );
        assert!(
            sliced == whole,
            "the sliced scrape differs from the whole one"
        );
    }
}

/// An OTLP collection goes through a kind's instruments slice by slice of its objects. With one
/// object per slice (each instrument begun once per object) it must yield the same points as
/// with one slice per kind: each object once in each instrument, none lost or repeated.
#[test]
fn an_otlp_collection_in_slices_has_the_points_of_a_whole_one() {
    for schema in [Schema::Ksm, Schema::Both] {
        let pipeline = pipeline(schema);
        let collect = |objects_per_slice| {
            let mut recorder = Recorder::default();
            pipeline.collect_resources(
                &ResourceFilter::default(),
                objects_per_slice,
                &mut recorder,
            );
            recorder.points.sort();
            (recorder.begins, recorder.points)
        };
        let (whole_begins, whole) = collect(usize::MAX);
        let (sliced_begins, sliced) = collect(1);
        assert!(
            sliced_begins > 3 * whole_begins,
            "{sliced_begins} instruments begun in slices, {whole_begins} whole"
        );
        assert!(whole.len() > 1000, "the vectors yield many points");
        assert!(sliced == whole, "the sliced collection's points differ");
    }
}

/// Every point of OTLP requests as text: scope, name, value type, the resource's attributes
/// (but `service.name`) and the point's, sorted, and the value.
fn otlp_points(requests: &[OtlpRequest]) -> Vec<String> {
    let text = |kv: &ProtoKeyValue| {
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        format!("{}={value:?}", kv.key)
    };
    let mut out = Vec::new();
    for request in requests {
        let decoded = ExportMetricsServiceRequest::decode(request.body.clone()).expect("decodes");
        for rm in decoded.resource_metrics {
            let resource = rm.resource.map(|r| r.attributes).unwrap_or_default();
            for sm in rm.scope_metrics {
                let scope = sm.scope.map(|s| s.name).unwrap_or_default();
                for metric in sm.metrics {
                    let points = match metric.data {
                        Some(Data::Gauge(g)) => g.data_points,
                        Some(Data::Sum(s)) => s.data_points,
                        other => panic!("{other:?}"),
                    };
                    for point in points {
                        let mut attributes: Vec<String> = resource
                            .iter()
                            .filter(|kv| kv.key != "service.name")
                            .chain(&point.attributes)
                            .map(text)
                            .collect();
                        attributes.sort();
                        out.push(format!(
                            "{scope} {} {attributes:?} {:?}",
                            metric.name, point.value
                        ));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// A collection encoded into requests of at most `limit` bytes, with or without identity on
/// the resource, its kinds read in slices of `objects_per_slice`.
fn encode(
    pipeline: &Pipeline,
    on: bool,
    objects_per_slice: usize,
    limit: usize,
) -> Vec<OtlpRequest> {
    let mut requests = Vec::new();
    let service = [KeyValue::new("service.name", "oracle")];
    let mut encoder = OtlpEncoder::new(&service, limit, 1, 2, |r| {
        requests.push(r);
        ControlFlow::Continue(())
    })
    .identity_on_resource(on);
    pipeline.collect_resources(&ResourceFilter::default(), objects_per_slice, &mut encoder);
    let summary = encoder.finish();
    assert_eq!(summary.points_dropped, 0);
    requests
}

/// Identity on the resource moves each object's identity labels from its points to one
/// resource per object and loses nothing: with each resource's attributes put back on its
/// points, the requests hold exactly the points of the default encoding, whatever the slices
/// and the request limit.
#[test]
fn identity_on_the_resource_keeps_every_point() {
    let pipeline = pipeline(Schema::Both);
    let default = encode(&pipeline, false, 512, usize::MAX);
    let want = otlp_points(&default);
    assert!(want.len() > 1000, "the vectors yield many points");
    for (objects_per_slice, limit) in [(1, 4 * 1024), (3, 64 * 1024), (512, usize::MAX)] {
        let requests = encode(&pipeline, true, objects_per_slice, limit);
        assert!(requests.iter().all(|r| r.body.len() <= limit));
        assert_eq!(
            otlp_points(&requests),
            want,
            "{objects_per_slice} per slice, limit {limit}"
        );
    }
    let resources = |requests: &[OtlpRequest]| -> usize {
        requests
            .iter()
            .map(|r| ExportMetricsServiceRequest::decode(r.body.clone()).expect("decodes"))
            .map(|r| r.resource_metrics.len())
            .sum()
    };
    // Beside the process resource and the semconv points' per-object resources, one per
    // object of the kube-state-metrics points.
    let on = encode(&pipeline, true, 512, usize::MAX);
    let (with, without) = (resources(&on), resources(&default));
    assert!(2 * with > 3 * without, "{with} resources against {without}");
}

/// The semconv metrics the model says are integers come as `as_int` points, the others as
/// doubles.
#[test]
fn semconv_int_metrics_are_int_points() {
    let int: BTreeMap<&str, bool> = all_kinds()
        .iter()
        .flat_map(|k| k.families())
        .flat_map(|f| f.desc.semconv)
        .map(|m| (m.name, m.value_type == ValueType::Int))
        .collect();
    let requests = encode(&pipeline(Schema::Semconv), false, 512, usize::MAX);
    let mut seen = BTreeMap::new();
    for request in &requests {
        let decoded = ExportMetricsServiceRequest::decode(request.body.clone()).expect("decodes");
        for metric in decoded
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            let points = match &metric.data {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) => &s.data_points,
                other => panic!("{other:?}"),
            };
            let want_int = int[metric.name.as_str()];
            for point in points {
                let is_int = matches!(point.value, Some(PointValue::AsInt(_)));
                assert_eq!(is_int, want_int, "{}: {:?}", metric.name, point.value);
                seen.insert(metric.name.clone(), is_int);
            }
        }
    }
    for name in ["k8s.pod.status.phase", "k8s.container.memory.limit.desired"] {
        assert_eq!(seen.get(name), Some(&true), "{name}");
    }
    for name in [
        "k8s.container.cpu.limit.desired",
        "k8s.node.cpu.allocatable",
    ] {
        assert_eq!(seen.get(name), Some(&false), "{name}");
    }
}
