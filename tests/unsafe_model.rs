//! The code behind `unsafe`, checked through the safe APIs that wrap it, each against a plain
//! model under random operations (RELIABILITY.md, "Unsafe code"):
//!
//! - an object's compact block (`CompactSamples`, src/metric/compact.rs) against its families
//!   as `Vec<(labels, value)>`, with clones and drops in any order and on other threads, its
//!   common labels stored once (`Samples::share_common_labels`) or not;
//! - the store (src/store/) against a map per partition, under applies, replaces, deletes,
//!   relists and clears, read whole, by family, in pinned slices and object by object;
//! - collections through the streaming meter, whose kind callbacks lend the store's strings to
//!   the sinks (src/meter/kind.rs, the `MetricSink` contract), against text built with
//!   `format!`: on two threads, also while writer threads replace the objects;
//! - the encoders' unchecked copies (src/export/short.rs, src/export/prometheus.rs) against
//!   text built with `format!`, and against OTLP requests as prost decodes them.
//!
//! `the_model_tests_pass_under_valgrind` runs all of them again under valgrind memcheck.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use kube_state_otel::export::openmetrics::OpenMetricsEncoder;
use kube_state_otel::export::otlp::OtlpEncoder;
use kube_state_otel::export::prometheus::TextEncoder;
use kube_state_otel::meter::{
    InstrumentDesc, InstrumentKind, MetricSink, Number, OpenMetricsType, StreamingMeterProvider,
    register_kind_streaming,
};
use kube_state_otel::metric::{
    CompactSamples, FamilyDesc, MetricType, Samples, Text, format_go_float, intern,
};
use kube_state_otel::store::{KindStore, Pins, Slice, StorePartition, read_pinned};
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use proptest::prelude::*;
use prost::Message;

/// Cases per property (64 unless set): the valgrind run sets fewer.
const CASES: &str = "UNSAFE_MODEL_CASES";

fn config() -> ProptestConfig {
    let cases = std::env::var(CASES).ok().and_then(|c| c.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(64),
        ..ProptestConfig::default()
    }
}

// ---- The model of an object and its strategies ----

type Labels = Vec<(String, String)>;

/// What an object's samples are, as plain values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Object {
    identity: Vec<String>,
    start: u64,
    /// Per family, its samples: labels and the value's bits (NaN compares equal to itself).
    families: Vec<Vec<(Labels, u64)>>,
    /// The kind's common labels, when the builder shares common labels.
    kind: Option<Labels>,
}

impl Object {
    /// What reading its block gives back: the labels as pushed, however they are stored.
    fn as_read(&self) -> Object {
        Object {
            kind: None,
            ..self.clone()
        }
    }

    /// If the builder shares them and no sample has more than 32 labels: the first sample's
    /// label pairs that each other one has, each after the one before it.
    fn common_labels(&self) -> Labels {
        let samples: Vec<&Labels> = self.families.iter().flatten().map(|(l, _)| l).collect();
        let (Some((first, others)), Some(_)) = (samples.split_first(), &self.kind) else {
            return Labels::new();
        };
        if samples.iter().any(|l| l.len() > 32) {
            return Labels::new();
        }
        let mut common = first.to_vec();
        for labels in others {
            let mut at = 0;
            common.retain(|pair| match labels[at..].iter().position(|l| l == pair) {
                Some(i) => {
                    at += i + 1;
                    true
                }
                None => false,
            });
        }
        common
    }
}

/// The kind the store's objects belong to: identity labels and families, on the streaming meter.
const SCOPE: &str = "model";
const IDENTITY: &[&str] = &["namespace", "pod", "uid", "node"];
const FAMILIES: [&str; 5] = [
    "kube_model_info",
    "kube_model_restarts_total",
    "kube_model_status",
    "kube_model_labels",
    "kube_model_a_family_name_longer_than_sixty_four_bytes_for_the_long_copy",
];

/// Label names a kind table gives as `&'static str` (`Samples::push_labeled`).
const STATIC_KEYS: &[&str] = &[
    "container",
    "reason",
    "phase",
    "a_label_name_long_enough_for_two_sixteen_byte_copies",
];

/// Strings of every length the copies treat apart (0, 1–3, 4–7, 8–15, 16–31, 32–64, longer),
/// with bytes that need escaping and multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9_]{0,100}", r#"[a-zA-Z0-9_.\\"\né€ -]{0,100}"#]
}

/// Label names: static ones, valid ones, and ones that must be rewritten.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(STATIC_KEYS).prop_map(String::from),
        "[A-Za-z0-9_]{0,70}",
        text(),
    ]
}

/// Bits of a sample value: any, small integers, and the special values.
fn value_bits() -> impl Strategy<Value = u64> {
    let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.5, 1.5e9];
    prop_oneof![
        any::<u64>(),
        (-1000i32..1000).prop_map(|v| f64::from(v).to_bits()),
        prop::sample::select(special.map(f64::to_bits).to_vec()),
    ]
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec((key(), text()), 0..4)
}

/// Objects as built-in kinds build them, some sharing common labels, and objects as custom
/// resources build them.
fn object() -> impl Strategy<Value = Object> {
    let family = prop::collection::vec((labels(), value_bits()), 0..4);
    let plain = (
        prop::collection::vec(text(), 0..=IDENTITY.len()),
        any::<u64>(),
        prop::collection::vec(family, 0..=FAMILIES.len()),
        prop::option::of(labels()),
    )
        .prop_map(|(identity, start, families, kind)| Object {
            identity,
            start,
            families,
            kind,
        });
    prop_oneof![plain, custom_object()]
}

/// Labels sorted by name.
fn sorted_labels(count: std::ops::Range<usize>) -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), text(), count)
}

/// An object whose samples' labels are sorted by name and have some pairs in common; the
/// kind's labels are some of those (all present or not: one the samples lack).
fn custom_object() -> impl Strategy<Value = Object> {
    let family = prop::collection::vec((sorted_labels(0..3), value_bits()), 0..4);
    (
        sorted_labels(0..5),
        prop::collection::vec(family, 0..=FAMILIES.len()),
        any::<u8>(),
        prop::option::of((key(), text())),
        any::<u64>(),
    )
        .prop_map(|(common, families, kind_bits, stranger, start)| {
            let families = families
                .into_iter()
                .map(|samples| {
                    let with_common = |(mut own, bits): (BTreeMap<String, String>, u64)| {
                        own.extend(common.clone());
                        (own.into_iter().collect(), bits)
                    };
                    samples.into_iter().map(with_common).collect()
                })
                .collect();
            let of_kind = |(i, _): &(usize, _)| kind_bits >> i & 1 == 1;
            let kind = common
                .into_iter()
                .enumerate()
                .filter(of_kind)
                .map(|(_, l)| l);
            let mut kind: BTreeMap<_, _> = kind.collect();
            kind.extend(stranger);
            Object {
                identity: Vec::new(),
                start,
                families,
                kind: Some(kind.into_iter().collect()),
            }
        })
}

/// The object's block, built as a kind's generators build one.
fn build(o: &Object) -> CompactSamples {
    let mut samples = Samples::new(o.identity.iter().map(|v| intern(v)).collect());
    samples.set_start_time(o.start);
    if let Some(kind) = &o.kind {
        let kind: Vec<_> = kind.iter().map(|(k, v)| (intern(k), intern(v))).collect();
        samples.share_common_labels(&kind.into());
    }
    for family in &o.families {
        samples.begin_family();
        for (labels, bits) in family {
            let value = f64::from_bits(*bits);
            let fixed: Option<Vec<(&'static str, &str)>> = labels
                .iter()
                .map(|(k, v)| Some((*STATIC_KEYS.iter().find(|s| **s == k)?, v.as_str())))
                .collect();
            match fixed {
                Some(fixed) => samples.push_labeled(&fixed, value),
                None => {
                    samples.push_dynamic(labels.iter().map(|(k, v)| (intern(k), intern(v))), value)
                }
            }
        }
    }
    samples.finish()
}

fn strings(labels: &[(Text, Text)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a block gives back: each sample's labels with the common ones (if any) where its order
/// says.
fn read(o: &CompactSamples) -> Object {
    let common = strings(&o.common_labels().cloned().collect::<Vec<_>>());
    let family = |f| {
        o.family_with_common(f)
            .map(|(labels, order, value)| {
                if common.is_empty() {
                    return (strings(labels), value.to_bits());
                }
                let (mut common, mut own) = (common.iter(), labels.iter());
                let all = (0..common.len() + own.len()).map(|i| match order >> i & 1 {
                    1 => own.next().map(|(k, v)| (k.to_string(), v.to_string())),
                    _ => common.next().cloned(),
                });
                let all: Option<Labels> = all.collect();
                (all.expect("an order of as many labels"), value.to_bits())
            })
            .collect()
    };
    Object {
        identity: o.identity().iter().map(|v| v.to_string()).collect(),
        start: o.start_time(),
        families: (0..o.family_count()).map(family).collect(),
        kind: None,
    }
}

/// Every read of the block agrees with the model.
fn check_block(o: &CompactSamples, model: &Object) {
    assert_eq!(read(o), model.as_read());
    let common = strings(&o.common_labels().cloned().collect::<Vec<_>>());
    assert_eq!(common, model.common_labels());
    assert_eq!(o.has_common_labels(), !common.is_empty());
    let samples: usize = model.families.iter().map(Vec::len).sum();
    assert_eq!(o.len(), samples);
    assert_eq!(o.is_empty(), samples == 0);
    for f in 0..model.families.len() + 2 {
        let has = model.families.get(f).is_some_and(|s| !s.is_empty());
        assert_eq!(o.has_samples(f), has, "family {f}");
        assert_eq!(o.family(f).next().is_some(), has, "family {f}");
    }
}

#[derive(Clone, Debug)]
enum HandleOp {
    Build(Object),
    Clone(usize),
    Drop(usize),
    /// A clone read and dropped on another thread while this one goes on.
    Send(usize),
}

fn handle_op() -> impl Strategy<Value = HandleOp> {
    prop_oneof![
        3 => object().prop_map(HandleOp::Build),
        2 => any::<usize>().prop_map(HandleOp::Clone),
        2 => any::<usize>().prop_map(HandleOp::Drop),
        1 => any::<usize>().prop_map(HandleOp::Send),
    ]
}

// ---- The store's model ----

const PARTITIONS: usize = 2;

#[derive(Clone, Debug)]
enum StoreOp {
    Apply(usize, u8, Object),
    Delete(usize, u8),
    BeginRelist(usize),
    RelistApply(usize, u8, Object),
    FinishRelist(usize),
    Clear,
    /// Every read checked against the model, slices of `n` objects for the sliced ones.
    Check(usize),
}

impl StoreOp {
    /// The partition it changes (none: all or none).
    fn partition(&self) -> Option<usize> {
        match self {
            StoreOp::Apply(p, ..)
            | StoreOp::Delete(p, _)
            | StoreOp::BeginRelist(p)
            | StoreOp::RelistApply(p, ..)
            | StoreOp::FinishRelist(p) => Some(*p),
            StoreOp::Clear | StoreOp::Check(_) => None,
        }
    }

    fn object_mut(&mut self) -> Option<&mut Object> {
        match self {
            StoreOp::Apply(_, _, o) | StoreOp::RelistApply(_, _, o) => Some(o),
            _ => None,
        }
    }
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    let (p, uid) = (0..PARTITIONS, 0u8..6);
    prop_oneof![
        5 => (p.clone(), uid.clone(), object()).prop_map(|(p, u, o)| StoreOp::Apply(p, u, o)),
        2 => (p.clone(), uid.clone()).prop_map(|(p, u)| StoreOp::Delete(p, u)),
        1 => p.clone().prop_map(StoreOp::BeginRelist),
        2 => (p.clone(), uid, object()).prop_map(|(p, u, o)| StoreOp::RelistApply(p, u, o)),
        1 => p.prop_map(StoreOp::FinishRelist),
        1 => Just(StoreOp::Clear),
        2 => (1usize..5).prop_map(StoreOp::Check),
    ]
}

/// The store as plain maps.
#[derive(Default)]
struct StoreModel {
    partitions: [BTreeMap<u8, Object>; PARTITIONS],
    relists: [Option<BTreeMap<u8, Object>>; PARTITIONS],
    synced: [bool; PARTITIONS],
}

impl StoreModel {
    fn apply(&mut self, op: &StoreOp) {
        match op {
            StoreOp::Apply(p, u, o) => drop(self.partitions[*p].insert(*u, o.clone())),
            StoreOp::Delete(p, u) => drop(self.partitions[*p].remove(u)),
            StoreOp::BeginRelist(p) => self.relists[*p] = Some(BTreeMap::new()),
            StoreOp::RelistApply(p, u, o) => {
                if let Some(staged) = &mut self.relists[*p] {
                    staged.insert(*u, o.clone());
                }
            }
            StoreOp::FinishRelist(p) => {
                if let Some(staged) = self.relists[*p].take() {
                    self.partitions[*p] = staged;
                }
                self.synced[*p] = true;
            }
            StoreOp::Clear => *self = StoreModel::default(),
            StoreOp::Check(_) => {}
        }
    }

    /// The objects as reading the store gives them back.
    fn objects(&self) -> Vec<Object> {
        sorted(
            self.partitions
                .iter()
                .flat_map(|p| p.values().map(Object::as_read)),
        )
    }
}

fn apply(store: &KindStore, partitions: &[StorePartition], op: &StoreOp) {
    let uid = |u: &u8| format!("uid-{u}");
    match op {
        StoreOp::Apply(p, u, o) => partitions[*p].apply(&uid(u), build(o)),
        StoreOp::Delete(p, u) => partitions[*p].delete(&uid(u)),
        StoreOp::BeginRelist(p) => partitions[*p].begin_relist(),
        StoreOp::RelistApply(p, u, o) => partitions[*p].relist_apply(&uid(u), build(o)),
        StoreOp::FinishRelist(p) => partitions[*p].finish_relist(),
        StoreOp::Clear => store.clear(),
        StoreOp::Check(_) => {}
    }
}

fn sorted<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort();
    items
}

/// A store of `PARTITIONS` partitions whose kind is registered on a streaming meter.
struct Kind {
    store: Arc<KindStore>,
    partitions: Vec<StorePartition>,
    provider: StreamingMeterProvider,
}

impl Kind {
    fn new() -> Kind {
        let store = Arc::new(KindStore::with_partitions(PARTITIONS));
        let families: Vec<FamilyDesc> = FAMILIES
            .iter()
            .enumerate()
            .map(|(f, name)| FamilyDesc {
                name,
                help_line: format!("help of {name}"),
                metric_type: [MetricType::Gauge, MetricType::Counter][f % 2],
                ksm: true,
                semconv: &[],
            })
            .collect();
        let provider = StreamingMeterProvider::new();
        register_kind_streaming(&provider, SCOPE, IDENTITY, &families, &store);
        Kind {
            partitions: store.partitions(),
            store,
            provider,
        }
    }

    /// A collection in `slices` slices per family, encoded on two threads at once as
    /// `/metrics` does, as sorted lines.
    fn collect(&self, slices: usize) -> Vec<String> {
        let pins = Arc::new(Pins::default());
        let registry = self.provider.registry();
        let parts: Vec<_> = registry
            .slice_major_parts(|_| true, slices, &pins)
            .into_iter()
            .flatten()
            .collect();
        let parts = &parts;
        let texts = std::thread::scope(|s| {
            let threads = [0, 1].map(|half| {
                s.spawn(move || {
                    encode_text(17, |sink| {
                        parts
                            .iter()
                            .skip(half)
                            .step_by(2)
                            .for_each(|part| part.collect(sink))
                    })
                })
            });
            threads.map(|t| t.join().expect("a collection thread"))
        });
        sorted(texts.iter().flat_map(|t| t.lines().map(String::from)))
    }

    /// Every read of the store agrees with the model.
    fn check(&self, model: &StoreModel, slices: usize) {
        let (store, expected) = (&self.store, model.objects());
        assert_eq!(store.len(), expected.len());
        assert_eq!(store.is_empty(), expected.is_empty());
        assert_eq!(store.is_synced(), model.synced.iter().all(|s| *s));
        for (p, partition) in self.partitions.iter().enumerate() {
            assert_eq!(partition.len(), model.partitions[p].len());
            assert_eq!(partition.is_synced(), model.synced[p]);
        }
        let mut whole = Vec::new();
        store.for_each(|o| whole.push(read(o)));
        assert_eq!(sorted(whole), expected);
        for f in 0..=FAMILIES.len() {
            let seen =
                store.with_family_objects(f, |objects| sorted(objects.iter().map(|o| read(o))));
            let has = |o: &&Object| o.families.get(f).is_some_and(|s| !s.is_empty());
            assert_eq!(
                seen,
                expected.iter().filter(has).cloned().collect::<Vec<_>>()
            );
        }
        // The slices of one pinned collection hold each object once.
        let (pins, mut sliced) = (Arc::new(Pins::default()), Vec::new());
        for index in 0..slices {
            let slice = Slice {
                index,
                count: slices,
            };
            read_pinned(&pins, slice, || store.for_each(|o| sliced.push(read(o))));
        }
        assert_eq!(sorted(sliced), expected);
        let mut one_by_one = Vec::new();
        store.for_each_object(|| {
            let mut seen = Vec::new();
            store.for_each(|o| seen.push(read(o)));
            assert_eq!(seen.len(), 1, "one object at a time");
            one_by_one.extend(seen);
        });
        assert_eq!(sorted(one_by_one), expected);
        let mut lines = headers();
        lines.extend(expected.iter().flat_map(object_lines));
        assert_eq!(self.collect(slices), sorted(lines));
    }
}

// ---- Text as the formats define it, built with `format!` ----

fn label_name(k: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    k.chars().map(|c| if valid(c) { c } else { '_' }).collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

fn sample_line(name: &str, labels: &[(String, String)], value: &str) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", label_name(k), escape(v)))
        .collect();
    match labels.is_empty() {
        true => format!("{name} {value}"),
        false => format!("{name}{{{}}} {value}", labels.join(",")),
    }
}

/// The HELP and TYPE lines of the kind's families.
fn headers() -> Vec<String> {
    let kind = |f: usize| ["gauge", "counter"][f % 2];
    FAMILIES
        .iter()
        .enumerate()
        .flat_map(|(f, name)| {
            [
                format!("# HELP {name} help of {name}"),
                format!("# TYPE {name} {}", kind(f)),
            ]
        })
        .collect()
}

/// The sample lines of an object's families.
fn object_lines(o: &Object) -> Vec<String> {
    let identity = IDENTITY
        .iter()
        .map(|k| k.to_string())
        .zip(o.identity.iter().cloned());
    let identity: Vec<(String, String)> = identity.collect();
    let mut lines = Vec::new();
    for (name, samples) in FAMILIES.iter().zip(&o.families) {
        for (labels, bits) in samples {
            let all: Vec<_> = identity.iter().chain(labels).cloned().collect();
            lines.push(sample_line(
                name,
                &all,
                &format_go_float(f64::from_bits(*bits)),
            ));
        }
    }
    lines
}

/// Text a sink writes, chunks of about `chunk_size` bytes joined.
fn encode_text(chunk_size: usize, collect: impl FnOnce(&mut dyn MetricSink)) -> String {
    let mut text = String::new();
    let mut encoder = TextEncoder::new(chunk_size, |chunk: Bytes| push_utf8(&mut text, &chunk));
    collect(&mut encoder);
    encoder.finish();
    text
}

fn push_utf8(text: &mut String, chunk: &[u8]) {
    text.push_str(std::str::from_utf8(chunk).expect("chunks end at line ends"));
}

// ---- Instruments fed to the encoders directly ----

#[derive(Clone, Debug)]
enum Attribute {
    Str(String),
    Int(i64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug)]
enum Num {
    F64(u64),
    I64(i64),
    U64(u64),
}

impl Num {
    fn number(self) -> Number {
        match self {
            Num::F64(bits) => Number::F64(f64::from_bits(bits)),
            Num::I64(v) => Number::I64(v),
            Num::U64(v) => Number::U64(v),
        }
    }

    fn text(self) -> String {
        match self {
            Num::F64(bits) => format_go_float(f64::from_bits(bits)),
            Num::I64(v) => v.to_string(),
            Num::U64(v) => v.to_string(),
        }
    }
}

type Observation = (Vec<(String, Attribute)>, Num);

#[derive(Clone, Debug)]
struct Instrument {
    scope: &'static str,
    name: String,
    help: String,
    kind: InstrumentKind,
    /// Continues the instrument begun before (a later slice of it): no header.
    resume: bool,
    observations: Vec<Observation>,
}

impl Instrument {
    fn desc(&self) -> InstrumentDesc {
        InstrumentDesc {
            scope: Arc::from(self.scope),
            schema_url: Cow::Borrowed(""),
            name: Cow::Owned(self.name.clone()),
            description: Cow::Owned(self.help.clone()),
            unit: Cow::Borrowed(""),
            kind: self.kind,
            openmetrics: OpenMetricsType::FromKind,
        }
    }
}

fn attribute() -> impl Strategy<Value = (String, Attribute)> {
    let value = prop_oneof![
        4 => text().prop_map(Attribute::Str),
        1 => any::<i64>().prop_map(Attribute::Int),
        1 => any::<bool>().prop_map(Attribute::Bool),
    ];
    // Leading `k8s.*.name` and `.uid` attributes are the OTLP resource of an object.
    let key = prop_oneof![4 => key(), 1 => Just("k8s.pod.name".to_string())];
    (key, value)
}

fn instrument() -> impl Strategy<Value = Instrument> {
    let num = prop_oneof![
        value_bits().prop_map(Num::F64),
        any::<i64>().prop_map(Num::I64),
        any::<u64>().prop_map(Num::U64),
    ];
    let kind = prop::sample::select(vec![
        InstrumentKind::Gauge,
        InstrumentKind::Counter,
        InstrumentKind::UpDownCounter,
    ]);
    (
        prop::sample::select(vec!["pods", "nodes"]),
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,99}",
        text(),
        kind,
        any::<bool>(),
        prop::collection::vec((prop::collection::vec(attribute(), 0..6), num), 0..6),
    )
        .prop_map(
            |(scope, name, help, kind, resume, observations)| Instrument {
                scope,
                name,
                help,
                kind,
                resume,
                observations,
            },
        )
}

/// Feeds the instruments to `sink` as a collection does.
fn feed(instruments: &[Instrument], sink: &mut dyn MetricSink) {
    for (i, instrument) in instruments.iter().enumerate() {
        let desc = instrument.desc();
        match instrument.resume && i > 0 {
            true => sink.resume(&desc),
            false => sink.begin(&desc),
        }
        for (attributes, num) in &instrument.observations {
            let attributes: Vec<KeyValue> = attributes
                .iter()
                .map(|(k, v)| match v {
                    Attribute::Str(s) => KeyValue::new(k.clone(), s.clone()),
                    Attribute::Int(n) => KeyValue::new(k.clone(), *n),
                    Attribute::Bool(b) => KeyValue::new(k.clone(), *b),
                })
                .collect();
            sink.observe(num.number(), &attributes);
        }
    }
}

/// The text both formats give the instruments; `header` writes an instrument's metadata.
fn model_text(instruments: &[Instrument], header: fn(&Instrument) -> String) -> String {
    let mut text = String::new();
    for (i, instrument) in instruments.iter().enumerate() {
        if !(instrument.resume && i > 0) {
            text += &header(instrument);
        }
        for (attributes, num) in &instrument.observations {
            let labels: Vec<(String, String)> = attributes
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Attribute::Str(s) => s.clone(),
                        Attribute::Int(n) => n.to_string(),
                        Attribute::Bool(b) => b.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect();
            text += &sample_line(&instrument.name, &labels, &num.text());
            text.push('\n');
        }
    }
    text
}

fn prometheus_header(i: &Instrument) -> String {
    let kind = match i.kind {
        InstrumentKind::Counter => "counter",
        InstrumentKind::Gauge | InstrumentKind::UpDownCounter => "gauge",
    };
    let help = i.help.replace('\\', r"\\").replace('\n', r"\n");
    format!("# HELP {0} {help}\n# TYPE {0} {kind}\n", i.name)
}

fn openmetrics_header(i: &Instrument) -> String {
    let (family, kind) = match (i.kind, i.name.strip_suffix("_total")) {
        (InstrumentKind::Counter, Some(family)) => (family, "counter"),
        (InstrumentKind::Counter, None) => (&*i.name, "unknown"),
        _ => (&*i.name, "gauge"),
    };
    format!(
        "# HELP {family} {}\n# TYPE {family} {kind}\n",
        escape(&i.help)
    )
}

/// Decoded OTLP points: scope, metric, kind, attributes (the object's resource ones first) and
/// value, in order.
type Point = (String, String, String, Vec<(String, String)>, String);

fn model_points(instruments: &[Instrument]) -> Vec<Point> {
    let mut points = Vec::new();
    for i in instruments {
        let kind = match i.kind {
            InstrumentKind::Gauge => "gauge",
            InstrumentKind::Counter => "monotonic sum",
            InstrumentKind::UpDownCounter => "sum",
        };
        for (attributes, num) in &i.observations {
            let attributes = attributes.iter().map(|(k, v)| {
                let v = match v {
                    Attribute::Str(s) => format!("string {s}"),
                    Attribute::Int(n) => format!("int {n}"),
                    Attribute::Bool(b) => format!("bool {b}"),
                };
                (k.clone(), v)
            });
            let value = match *num {
                Num::F64(bits) => format!("double {bits:x}"),
                Num::I64(v) => format!("int {v}"),
                Num::U64(v) => match i64::try_from(v) {
                    Ok(v) => format!("int {v}"),
                    Err(_) => format!("double {:x}", (v as f64).to_bits()),
                },
            };
            let (scope, name) = (i.scope.to_string(), i.name.clone());
            points.push((scope, name, kind.into(), attributes.collect(), value));
        }
    }
    points
}

fn decoded_points(requests: &[Bytes]) -> Vec<Point> {
    let attribute = |kv: &opentelemetry_proto::tonic::common::v1::KeyValue| {
        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => format!("string {s}"),
            Some(any_value::Value::IntValue(n)) => format!("int {n}"),
            Some(any_value::Value::BoolValue(b)) => format!("bool {b}"),
            other => panic!("unexpected attribute value {other:?}"),
        };
        (kv.key.clone(), value)
    };
    let mut points = Vec::new();
    for body in requests {
        let request = ExportMetricsServiceRequest::decode(body.clone()).expect("a request");
        for resource in request.resource_metrics {
            let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
            // The first is the process's `service.name`.
            let object: Vec<_> = attributes.iter().skip(1).map(attribute).collect();
            for scope in resource.scope_metrics {
                let scope_name = scope.scope.map(|s| s.name).unwrap_or_default();
                for m in scope.metrics {
                    let (kind, data_points) = match m.data {
                        Some(metric::Data::Gauge(g)) => ("gauge", g.data_points),
                        Some(metric::Data::Sum(s)) if s.is_monotonic => {
                            ("monotonic sum", s.data_points)
                        }
                        Some(metric::Data::Sum(s)) => ("sum", s.data_points),
                        other => panic!("unexpected data {other:?}"),
                    };
                    for p in data_points {
                        let value = match p.value {
                            Some(number_data_point::Value::AsDouble(v)) => {
                                format!("double {:x}", v.to_bits())
                            }
                            Some(number_data_point::Value::AsInt(v)) => format!("int {v}"),
                            None => panic!("a point without a value"),
                        };
                        let attributes = object.iter().cloned();
                        let attributes = attributes.chain(p.attributes.iter().map(attribute));
                        let (scope, name) = (scope_name.clone(), m.name.clone());
                        points.push((scope, name, kind.into(), attributes.collect(), value));
                    }
                }
            }
        }
    }
    points
}

proptest! {
    #![proptest_config(config())]

    /// Blocks built, cloned and dropped in any order, some clones read and dropped on other
    /// threads: every handle reads what its object was built from until its last clone goes.
    #[test]
    fn compact_blocks_give_back_what_they_were_built_from(
        ops in prop::collection::vec(handle_op(), 1..40)
    ) {
        let mut handles: Vec<(CompactSamples, Arc<Object>)> = Vec::new();
        std::thread::scope(|s| {
            for op in ops {
                let at = |i: usize| i % handles.len().max(1);
                match op {
                    HandleOp::Build(o) => handles.push((build(&o), Arc::new(o))),
                    HandleOp::Clone(i) if !handles.is_empty() => {
                        let (o, model) = &handles[at(i)];
                        handles.push((o.clone(), model.clone()));
                    }
                    HandleOp::Drop(i) if !handles.is_empty() => drop(handles.swap_remove(at(i))),
                    HandleOp::Send(i) if !handles.is_empty() => {
                        let (o, model) = handles[at(i)].clone();
                        s.spawn(move || check_block(&o, &model));
                    }
                    _ => {}
                }
                handles.iter().for_each(|(o, model)| check_block(o, model));
            }
        });
    }

    /// A store under random writes: every read agrees with the model (whole, by family, in
    /// pinned slices, object by object, and a collection through the streaming meter).
    #[test]
    fn the_store_reads_as_its_model(ops in prop::collection::vec(store_op(), 1..40)) {
        let (kind, mut model) = (Kind::new(), StoreModel::default());
        for op in &ops {
            apply(&kind.store, &kind.partitions, op);
            model.apply(op);
            if let StoreOp::Check(slices) = op {
                kind.check(&model, *slices);
            }
        }
        kind.check(&model, 3);
    }

    /// One writer thread per partition while collections run on two other threads: each
    /// collection shows every object whole, once, in one version, and the store ends as the
    /// model does.
    #[test]
    fn shared_store_collections_see_whole_objects_while_writers_change_them(
        ops in prop::collection::vec(store_op(), 1..40),
        slices in 1usize..5,
    ) {
        // Each object's identity names its partition and uid and the write that made it.
        let mut writes: [Vec<StoreOp>; PARTITIONS] = Default::default();
        let mut versions = HashMap::new();
        for (n, mut op) in ops.into_iter().enumerate() {
            let Some(p) = op.partition() else { continue };
            if let StoreOp::Apply(_, u, _) | StoreOp::RelistApply(_, u, _) = op {
                let identity = vec![format!("p{p}-u{u}"), format!("v{n}")];
                let object = op.object_mut().expect("a write with an object");
                object.identity = identity;
                versions.insert(format!("v{n}"), sorted(object_lines(object)));
            }
            writes[p].push(op);
        }
        let (kind, mut model) = (Kind::new(), StoreModel::default());
        std::thread::scope(|s| {
            let writers = writes.each_ref().map(|ops| {
                let kind = &kind;
                s.spawn(move || ops.iter().for_each(|op| apply(&kind.store, &kind.partitions, op)))
            });
            let mut collections = 0;
            while collections < 2 || !writers.iter().all(|w| w.is_finished()) {
                check_versions(&kind.collect(slices), &versions);
                collections += 1;
            }
        });
        writes.iter().flatten().for_each(|op| model.apply(op));
        kind.check(&model, slices);
    }

    /// Prometheus text and OpenMetrics, in chunks of any size, as built with `format!`.
    #[test]
    fn text_encoders_write_what_the_formats_define(
        instruments in prop::collection::vec(instrument(), 0..6),
        chunk_size in 1usize..300,
    ) {
        let text = encode_text(chunk_size, |sink| feed(&instruments, sink));
        prop_assert_eq!(text, model_text(&instruments, prometheus_header));
        let mut text = String::new();
        let mut encoder = OpenMetricsEncoder::new(chunk_size, |c: Bytes| push_utf8(&mut text, &c));
        feed(&instruments, &mut encoder);
        encoder.finish_document();
        prop_assert_eq!(text, model_text(&instruments, openmetrics_header) + "# EOF\n");
    }

    /// OTLP requests of any size limit decode to the points observed, in order.
    #[test]
    fn otlp_requests_decode_to_the_points_observed(
        instruments in prop::collection::vec(instrument(), 0..6),
        max_request_bytes in 2048usize..20_000,
    ) {
        let mut requests = Vec::new();
        let resource = [KeyValue::new("service.name", "model")];
        let mut encoder = OtlpEncoder::new(&resource, max_request_bytes, 1, 2, |request| {
            requests.push(request.body.clone());
            ControlFlow::Continue(())
        });
        feed(&instruments, &mut encoder);
        let summary = encoder.finish();
        prop_assert_eq!(summary.points_dropped, 0);
        prop_assert_eq!(decoded_points(&requests), model_points(&instruments));
    }
}

/// One collection's sample lines, grouped by the object version they name (identity
/// `namespace="p0-u1",pod="v7"`): each version's lines are all of its lines, and no object
/// shows in two versions.
fn check_versions(lines: &[String], versions: &HashMap<String, Vec<String>>) {
    let mut by_version: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut version_of: HashMap<&str, &str> = HashMap::new();
    for line in lines.iter().filter(|l| !l.starts_with('#')) {
        let identity = line
            .split_once("{namespace=\"")
            .and_then(|(_, rest)| rest.split_once("\",pod=\""))
            .and_then(|(key, rest)| Some((key, rest.split_once('"')?.0)));
        let Some((key, version)) = identity else {
            panic!("a line without its object's identity: {line}");
        };
        if let Some(other) = version_of.insert(key, version) {
            assert_eq!(other, version, "{key} in two versions in one collection");
        }
        by_version.entry(version).or_default().push(line.clone());
    }
    for (version, lines) in by_version {
        assert_eq!(Some(&sorted(lines)), versions.get(version), "{version}");
    }
}

/// Every other test of this binary again under valgrind memcheck, with fewer cases: an invalid
/// read or write, a use of uninitialised memory or a leak fails it (about a minute).
///
/// Valgrind sees the heap through the allocator it replaces: glibc's malloc. The binaries use
/// mimalloc (`#[global_allocator]` in src/main.rs), which takes memory from the kernel with
/// mmap, where valgrind could not tell a block from its neighbour; this test binary links
/// only the library, so its `Vec`s, `Arc`s and compact blocks come from the system allocator
/// and valgrind checks each one (no `--soname-synonyms` needed).
#[test]
fn the_model_tests_pass_under_valgrind() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let me = "the_model_tests_pass_under_valgrind";
    let listed = Command::new(&exe)
        .args(["--list", "--format", "terse"])
        .output()
        .expect("the test binary lists its tests");
    let others = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.ends_with(": test") && !l.starts_with(me))
        .count();
    let output = Command::new("valgrind")
        .args([
            "--error-exitcode=1",
            "--leak-check=full",
            // Not "possibly lost": hash tables (the string interner's) point into their
            // allocation, not at its start.
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
        ])
        .arg(&exe)
        .args(["--skip", me])
        .env(CASES, "16")
        .output()
        .unwrap_or_else(|e| {
            panic!("valgrind did not start ({e}): install it (Debian's valgrind package)")
        });
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let summary = stderr.lines().find(|l| l.contains("ERROR SUMMARY"));
    println!("{}", summary.unwrap_or("no ERROR SUMMARY line"));
    assert!(
        output.status.success() && summary.is_some_and(|l| l.contains("ERROR SUMMARY: 0 errors")),
        "valgrind found errors ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let passed = format!("test result: ok. {others} passed; 0 failed");
    assert!(
        others > 0 && stdout.contains(&passed),
        "expected {passed}:\n{stdout}"
    );
}
