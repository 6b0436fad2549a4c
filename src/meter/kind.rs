//! A kind's families as observable instruments whose callbacks read the kind's store.

use std::cell::RefCell;
use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, AsyncInstrumentBuilder, Meter};
use opentelemetry::{InstrumentationScope, Key, KeyValue};

use super::{OpenMetricsType, StreamingMeterProvider};
use crate::metric::semconv::{Entity, Instrument, ValueType};
use crate::metric::{CompactSamples, FamilyDesc, MetricType, SemconvMetric, Text, interleave};
use crate::store::KindStore;

/// The semantic-conventions schema URL of the instruments [`register_semconv`] registers.
pub const SEMCONV_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.44.0";

/// Registers one instrument per enabled family (in store order) on `meter`; rows without a
/// kube-state-metrics family are skipped.
pub fn register_kind(
    meter: &Meter,
    identity_labels: &'static [&'static str],
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
) {
    register_families(meter, identity_labels, families, store, Strings::Shared);
}

/// [`register_kind`] on the streaming meter, under the instrumentation scope `scope`: its
/// callbacks lend label strings to `observe` instead of counting references to them, and a
/// scrape may split each family into slices of the store's objects.
pub fn register_kind_streaming(
    provider: &StreamingMeterProvider,
    scope: &'static str,
    identity_labels: &'static [&'static str],
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
) {
    let scope = InstrumentationScope::builder(scope).build();
    register_streaming(provider, scope, identity_labels, families, store);
}

/// The resource attributes of a custom resource's object under the semconv schema, in the
/// order of the identity values its samples keep (docs/semconv.md): namespaced, then cluster
/// scoped. The semantic conventions have none for custom resources; these follow their
/// `k8s.<kind>.name`/`.uid` pattern with the kind `customresource`, as kube-state-metrics'
/// `customresource_*` labels do.
pub const CUSTOM_RESOURCE_IDENTITY: [&[&str]; 2] = [
    &[
        "k8s.namespace.name",
        "k8s.customresource.name",
        "k8s.customresource.uid",
    ],
    &["k8s.customresource.name", "k8s.customresource.uid"],
];

/// A custom resource's families under the semconv schema: on the scope `scope` with
/// [`SEMCONV_SCHEMA_URL`], each point led by its object's [`CUSTOM_RESOURCE_IDENTITY`] (which an
/// OTLP encoder moves to the object's resource), then the config's labels.
pub fn register_custom_semconv(
    provider: &StreamingMeterProvider,
    scope: &'static str,
    namespaced: bool,
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
) {
    let identity = CUSTOM_RESOURCE_IDENTITY[usize::from(!namespaced)];
    let scope = InstrumentationScope::builder(scope)
        .with_schema_url(SEMCONV_SCHEMA_URL)
        .build();
    register_streaming(provider, scope, identity, families, store);
}

fn register_streaming(
    provider: &StreamingMeterProvider,
    scope: InstrumentationScope,
    identity_labels: &'static [&'static str],
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
) {
    let declared = families
        .iter()
        .filter_map(|f| match f.metric_type {
            MetricType::Info => Some((f.name, OpenMetricsType::Info)),
            MetricType::StateSet => Some((f.name, OpenMetricsType::StateSet)),
            MetricType::Gauge | MetricType::Counter => None,
        })
        .collect();
    let meter = provider.declaring_meter(scope, declared);
    register_families(&meter, identity_labels, families, store, Strings::Lent);
}

/// How a callback hands label strings to `observe`.
#[derive(Clone, Copy)]
enum Strings {
    /// Reference-counted: any OpenTelemetry meter may keep what it observes.
    Shared,
    /// Lent for the duration of the call, without touching reference counts: only for the
    /// streaming meter, whose sinks keep nothing they are given (see
    /// [`MetricSink`](super::MetricSink)). Counting references wrote to every string of every
    /// sample: cache lines made dirty, and bounced between the threads of a scrape (about a
    /// sixth of a collection's time at 150,000 pods).
    Lent,
}

impl Strings {
    fn identity(self, key: &'static str, value: &Arc<str>) -> KeyValue {
        match self {
            Strings::Shared => KeyValue::new(Key::from_static_str(key), Arc::clone(value)),
            // SAFETY: see `lend`.
            Strings::Lent => KeyValue::new(Key::from_static_str(key), unsafe { lend(value) }),
        }
    }

    fn label(self, key: &Text, value: &Text) -> KeyValue {
        match self {
            Strings::Shared => KeyValue::new(key.to_key(), value.to_value()),
            // SAFETY: see `lend`.
            Strings::Lent => unsafe { KeyValue::new(Key::from_static_str(lend(key)), lend(value)) },
        }
    }
}

/// `s` with its lifetime erased.
///
/// # Safety
/// The result, and every attribute made of it, must be gone before `s` is freed. Callbacks
/// registered with [`Strings::Lent`] observe only into the streaming meter, whose
/// [`MetricSink`](super::MetricSink)s keep nothing of the attributes past the call, and
/// clear their attributes before the store snapshot that holds the strings is released.
unsafe fn lend(s: &str) -> &'static str {
    // SAFETY: the caller upholds the contract above.
    unsafe { &*(s as *const str) }
}

fn register_families(
    meter: &Meter,
    identity_labels: &'static [&'static str],
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
    strings: Strings,
) {
    for (position, family) in families.iter().enumerate() {
        if !family.ksm {
            continue;
        }
        let store = store.clone();
        let callback = move |observer: &dyn AsyncInstrument<f64>| {
            observe_family(&store, identity_labels, position, strings, observer);
        };
        match family.metric_type {
            MetricType::Gauge | MetricType::Info | MetricType::StateSet => {
                meter
                    .f64_observable_gauge(family.name)
                    .with_description(family.help_line.clone())
                    .with_callback(callback)
                    .build();
            }
            MetricType::Counter => {
                meter
                    .f64_observable_counter(family.name)
                    .with_description(family.help_line.clone())
                    .with_callback(callback)
                    .build();
            }
        }
    }
}

/// Objects per step of a collection: each step prefetches later objects' data, one level of
/// pointers per batch of distance (see [`CompactSamples::PREFETCH_STAGES`]).
const BATCH: usize = 16;

fn observe_family(
    store: &KindStore,
    identity_labels: &'static [&'static str],
    position: usize,
    strings: Strings,
    observer: &dyn AsyncInstrument<f64>,
) {
    let mut attributes: Vec<KeyValue> = Vec::with_capacity(8);
    let stages = CompactSamples::PREFETCH_STAGES;
    store.with_family_objects(position, |objects| {
        let mut common = Vec::new();
        for start in (0..objects.len()).step_by(BATCH) {
            for (stage, prefetch) in stages.iter().enumerate() {
                let ahead = start + (stages.len() - stage) * BATCH;
                let batch = objects.get(ahead..).unwrap_or_default();
                batch.iter().take(BATCH).for_each(|o| prefetch(o, position));
            }
            let batch = objects.get(start..).unwrap_or_default();
            for object in batch.iter().take(BATCH) {
                if !object.has_samples(position) {
                    continue;
                }
                // Counters count since the object was created, not since this process started;
                // an OTLP encoder may group points by object.
                super::set_object(object);
                // The identity attributes are built once per object, not per sample.
                attributes.clear();
                attributes.extend(
                    identity_labels
                        .iter()
                        .zip(object.identity())
                        .map(|(k, v)| strings.identity(k, v)),
                );
                let identity = attributes.len();
                if object.has_common_labels() {
                    let buffers = (&mut common, &mut attributes);
                    observe_with_common(object, position, strings, buffers, observer);
                    continue;
                }
                for (labels, value) in object.family(position) {
                    attributes.truncate(identity);
                    attributes.extend(labels.iter().map(|(k, v)| strings.label(k, v)));
                    observer.observe(value, &attributes);
                }
            }
        }
        // Lent strings must not outlive the snapshot.
        attributes.clear();
    });
}

/// The samples of an object that keeps the labels common to them once: each with the common
/// labels (found once, into `common`) put back among its own, after the `attributes` there
/// are (its identity). Apart from the built-in kinds' loop, which it would slow down.
#[inline(never)]
fn observe_with_common<'a>(
    object: &'a CompactSamples,
    position: usize,
    strings: Strings,
    (common, attributes): (&mut Vec<&'a (Text, Text)>, &mut Vec<KeyValue>),
    observer: &dyn AsyncInstrument<f64>,
) {
    common.clear();
    common.extend(object.common_labels());
    let identity = attributes.len();
    for (labels, order, value) in object.family_with_common(position) {
        attributes.truncate(identity);
        let all = interleave(order, common.iter().copied(), labels);
        attributes.extend(all.map(|(k, v)| strings.label(k, v)));
        observer.observe(value, attributes);
    }
}

/// Registers the semantic-conventions metrics of the enabled families (in store order) on
/// `meter` (whose scope should carry [`SEMCONV_SCHEMA_URL`]): one instrument per semconv name
/// that `enabled` accepts, with one callback per family feeding it (the container states come
/// from three families). Identity values become the `entity`'s attributes, first.
pub fn register_semconv(
    meter: &Meter,
    entity: Entity,
    families: &[FamilyDesc],
    store: &Arc<KindStore>,
    enabled: impl Fn(&str) -> bool,
) {
    let mut names: Vec<&'static str> = Vec::new();
    for metric in families.iter().flat_map(|f| f.semconv) {
        if !names.contains(&metric.name) && enabled(metric.name) {
            names.push(metric.name);
        }
    }
    for name in names {
        let sources: Vec<(usize, &'static SemconvMetric)> = families
            .iter()
            .enumerate()
            .flat_map(|(position, f)| f.semconv.iter().map(move |m| (position, m)))
            .filter(|(_, m)| m.name == name)
            .collect();
        let Some((_, first)) = sources.first() else {
            continue;
        };
        let callbacks = sources.iter().map(|&(position, metric)| {
            let store = store.clone();
            move |observer: &dyn AsyncInstrument<f64>| {
                observe_semconv(&store, entity, position, metric, observer);
            }
        });
        let ints = || {
            callbacks
                .clone()
                .map(|cb| move |o: &dyn AsyncInstrument<i64>| cb(&AsInt(o)))
        };
        match (first.instrument, first.value_type) {
            (Instrument::Gauge, ValueType::Double) => {
                with_callbacks(meter.f64_observable_gauge(name), first, callbacks).build();
            }
            (Instrument::Gauge, ValueType::Int) => {
                with_callbacks(meter.i64_observable_gauge(name), first, ints()).build();
            }
            (Instrument::UpDownCounter, ValueType::Double) => {
                let builder = meter.f64_observable_up_down_counter(name);
                with_callbacks(builder, first, callbacks).build();
            }
            (Instrument::UpDownCounter, ValueType::Int) => {
                let builder = meter.i64_observable_up_down_counter(name);
                with_callbacks(builder, first, ints()).build();
            }
            (Instrument::Counter, ValueType::Double) => {
                with_callbacks(meter.f64_observable_counter(name), first, callbacks).build();
            }
            // The API's only integer observable counter counts in u64.
            (Instrument::Counter, ValueType::Int) => {
                let uints = callbacks.map(|cb| move |o: &dyn AsyncInstrument<u64>| cb(&AsInt(o)));
                with_callbacks(meter.u64_observable_counter(name), first, uints).build();
            }
        }
    }
}

/// An integer instrument seen as the f64 one the store's values are observed into: each value
/// is rounded to the instrument's type (saturating; NaN is 0).
struct AsInt<'a, T>(&'a dyn AsyncInstrument<T>);

impl AsyncInstrument<f64> for AsInt<'_, i64> {
    fn observe(&self, value: f64, attributes: &[KeyValue]) {
        self.0.observe(value.round() as i64, attributes);
    }
}

impl AsyncInstrument<f64> for AsInt<'_, u64> {
    fn observe(&self, value: f64, attributes: &[KeyValue]) {
        self.0.observe(value.round() as u64, attributes);
    }
}

fn with_callbacks<'a, I, M, F>(
    mut builder: AsyncInstrumentBuilder<'a, I, M>,
    metric: &SemconvMetric,
    callbacks: impl Iterator<Item = F>,
) -> AsyncInstrumentBuilder<'a, I, M>
where
    F: Fn(&dyn AsyncInstrument<M>) + Send + Sync + 'static,
{
    builder = builder
        .with_unit(metric.unit)
        .with_description(metric.brief);
    for callback in callbacks {
        builder = builder.with_callback(callback);
    }
    builder
}

/// The entity's resource attributes of `object`: its identity values, then its UID when the
/// kind keeps it separately.
fn entity_attributes(entity: Entity, object: &CompactSamples, out: &mut Vec<KeyValue>) {
    let identity = object.identity();
    out.extend(
        entity
            .identity
            .iter()
            .zip(identity)
            .map(|(k, v)| KeyValue::new(Key::from_static_str(k), Arc::clone(v))),
    );
    if let (Some(key), Some(uid)) = (entity.uid, identity.get(entity.identity.len())) {
        out.push(KeyValue::new(Key::from_static_str(key), Arc::clone(uid)));
    }
}

thread_local! {
    /// The attribute buffer of [`observe_semconv`], reused: under object-by-object collection
    /// the callback runs once per object and instrument.
    static SEMCONV_ATTRIBUTES: RefCell<Vec<KeyValue>> = const { RefCell::new(Vec::new()) };
}

fn observe_semconv(
    store: &KindStore,
    entity: Entity,
    position: usize,
    metric: &SemconvMetric,
    observer: &dyn AsyncInstrument<f64>,
) {
    SEMCONV_ATTRIBUTES.with(|buffer| {
        // A callback observing into a sink that collects again would find it borrowed.
        let Ok(mut attributes) = buffer.try_borrow_mut() else {
            return observe_semconv_into(
                store,
                entity,
                position,
                metric,
                observer,
                &mut Vec::new(),
            );
        };
        observe_semconv_into(store, entity, position, metric, observer, &mut attributes);
        attributes.clear();
    });
}

fn observe_semconv_into(
    store: &KindStore,
    entity: Entity,
    position: usize,
    metric: &SemconvMetric,
    observer: &dyn AsyncInstrument<f64>,
    attributes: &mut Vec<KeyValue>,
) {
    store.for_each(|object| {
        if !object.has_samples(position) {
            return;
        }
        super::set_object(object);
        attributes.clear();
        entity_attributes(entity, object, attributes);
        let identity = attributes.len();
        for (labels, value) in object.family(position) {
            if !metric.selects(labels) {
                continue;
            }
            attributes.truncate(identity);
            attributes.extend(metric.attributes.iter().filter_map(|attr| {
                let value = attr.value(labels)?;
                Some(KeyValue::new(
                    Key::from_static_str(attr.name()),
                    value.to_value(),
                ))
            }));
            observer.observe(value, attributes);
        }
    });
}
