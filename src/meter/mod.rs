//! The project's own OpenTelemetry `InstrumentProvider`: a streaming meter for high cardinality.
//!
//! Kinds register observable instruments through the standard `opentelemetry::metrics::Meter`
//! API. A collection calls their callbacks with an [`AsyncInstrument`] that hands every
//! observation straight to a [`MetricSink`] (a Prometheus or OTLP encoder): no aggregation map,
//! no copy of the points — an object's series are unique by construction. See `design.md`.

mod kind;

pub use kind::{
    CUSTOM_RESOURCE_IDENTITY, SEMCONV_SCHEMA_URL, register_custom_semconv, register_kind,
    register_kind_streaming, register_semconv,
};

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use opentelemetry::InstrumentationScope;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    AsyncInstrument, AsyncInstrumentBuilder, Callback, InstrumentProvider, Meter, MeterProvider,
    ObservableCounter, ObservableGauge, ObservableUpDownCounter,
};

use crate::metric::CompactSamples;
use crate::store::{Pins, Slice, read_pinned};

/// What an instrument reports, for the encoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstrumentKind {
    Gauge,
    /// Monotonic sum.
    Counter,
    /// Non-monotonic sum.
    UpDownCounter,
}

/// How OpenMetrics declares an instrument's family where it knows more than OpenTelemetry:
/// kube-state-metrics' Custom Resource State `Info` and `StateSet` families are OTel gauges
/// (and `gauge` in the Prometheus text format), but `info`/`stateset` in OpenMetrics. The
/// OpenTelemetry API has no slot for it, so [`StreamingMeterProvider::declaring_meter`] takes
/// it beside the instruments it registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenMetricsType {
    /// As the instrument's kind says.
    #[default]
    FromKind,
    Info,
    StateSet,
}

/// An observed value, in the instrument's own number type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    F64(f64),
    I64(i64),
    U64(u64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::F64(v) => v,
            Number::I64(v) => v as f64,
            Number::U64(v) => v as f64,
        }
    }
}

/// The static description of an instrument.
#[derive(Clone, Debug)]
pub struct InstrumentDesc {
    pub scope: Arc<str>,
    /// The scope's schema URL: the semantic-conventions version its instruments follow
    /// (empty for kube-state-metrics names).
    pub schema_url: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub description: Cow<'static, str>,
    pub unit: Cow<'static, str>,
    pub kind: InstrumentKind,
    pub openmetrics: OpenMetricsType,
}

/// Something that can run one collection into a sink.
pub type Collect = Arc<dyn Fn(&mut dyn MetricSink) + Send + Sync>;

/// Receives one collection, instrument by instrument.
///
/// # Safety
/// An implementation keeps nothing of the `attributes` it is given (nor clones of them) after
/// the call returns: it copies what it needs. The streaming meter's kind callbacks lend the
/// store's strings to the observation without reference counting, valid only during it.
pub unsafe trait MetricSink: Send {
    /// The next observations belong to `desc`.
    fn begin(&mut self, desc: &InstrumentDesc);

    /// The next observations continue `desc`, begun by an earlier part of the same collection
    /// (a slice of its objects): sinks that write a header per instrument write none here.
    fn resume(&mut self, desc: &InstrumentDesc) {
        self.begin(desc);
    }
    fn observe(&mut self, value: Number, attributes: &[KeyValue]);

    /// An observation whose series started counting at `start_unix_nanos` (an object's
    /// creation; 0 if unknown). Only sums have start times; sinks without them ignore it.
    fn observe_since(&mut self, value: Number, attributes: &[KeyValue], start_unix_nanos: u64) {
        let _ = start_unix_nanos;
        self.observe(value, attributes);
    }

    /// [`MetricSink::observe_since`] of an observation about the object `object` (a key
    /// unique among the objects of one [`MetricSink::objects`] set; 0 if unknown).
    fn observe_object(
        &mut self,
        value: Number,
        attributes: &[KeyValue],
        start_unix_nanos: u64,
        object: usize,
    ) {
        let _ = object;
        self.observe_since(value, attributes, start_unix_nanos);
    }

    /// The observations of the instruments begun from now until the next call are about one
    /// set of objects (a slice of a kind's objects), each point's first attributes, named
    /// `identity`, identifying its object; empty `identity`: they are not. A sink may regroup
    /// them object by object (an OTLP resource per object); others ignore it.
    fn objects(&mut self, identity: &'static [&'static str]) {
        let _ = identity;
    }
}

thread_local! {
    /// The start time and key of the object a callback observes next on this thread: the OTel
    /// API's `observe` has no place for them, so they travel beside the call (see
    /// [`set_object`]).
    static OBJECT: std::cell::Cell<(u64, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Sets the object the points a callback observes next on this thread are about (its start
/// time and its key, see [`MetricSink::observe_object`]), until the next call or the end of
/// the instrument's collection.
pub fn set_object(object: &CompactSamples) {
    OBJECT.set((object.start_time(), object.address()));
}

enum Callbacks {
    F64(Vec<Callback<f64>>),
    I64(Vec<Callback<i64>>),
    U64(Vec<Callback<u64>>),
}

struct Instrument {
    desc: InstrumentDesc,
    callbacks: Callbacks,
    /// Registered through [`StreamingMeterProvider::sliceable_meter`].
    sliceable: bool,
}

/// All instruments registered through meters of one [`StreamingMeterProvider`].
#[derive(Default)]
pub struct Registry {
    instruments: Mutex<Vec<Arc<Instrument>>>,
}

impl Registry {
    /// Drops the instruments of `scope` (a custom resource whose configuration changed).
    pub fn remove_scope(&self, scope: &str) {
        self.instruments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|i| &*i.desc.scope != scope);
    }

    fn add(&self, instrument: Instrument) {
        self.instruments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(instrument));
    }

    /// Runs the callbacks of every instrument of `scope`, in registration order, into `sink`.
    pub fn collect(&self, scope: &str, sink: &mut dyn MetricSink) {
        for part in self.parts(scope) {
            part.collect(sink);
        }
    }

    /// The instruments of `scope` as separate parts of a collection, in registration order, so
    /// a collection can be spread over threads.
    pub fn parts(&self, scope: &str) -> Vec<Part> {
        self.parts_where(|desc| &*desc.scope == scope)
    }

    /// The instruments whose description satisfies `wanted`, in registration order.
    pub fn parts_where(&self, wanted: impl Fn(&InstrumentDesc) -> bool) -> Vec<Part> {
        self.instruments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|i| wanted(&i.desc))
            .map(|i| Part {
                instrument: i.clone(),
                read: None,
                continues: false,
            })
            .collect()
    }

    /// The instruments of `scope` as [`Registry::parts`] does, with each sliceable instrument
    /// split into `slices` parts (a slice of the store's objects each); all of them read the
    /// stores through `pins`, so the slices of an instrument cover each object exactly once.
    pub fn sliced_parts(&self, scope: &str, slices: usize, pins: &Arc<Pins>) -> Vec<Part> {
        self.parts(scope)
            .into_iter()
            .flat_map(|whole| {
                (0..whole.slice_count(slices)).map(move |index| whole.slice(index, slices, pins))
            })
            .collect()
    }

    /// The instruments `wanted` selects, sliced as [`Registry::sliced_parts`] does but slice
    /// by slice: the parts of the first slice of every instrument, then of the second, … (an
    /// instrument that cannot be sliced comes whole, with the first). Every instrument of a
    /// kind reads the same objects in a row, while they are in the cache: walking each family
    /// over the whole store instead loads every object from memory once per family.
    pub fn slice_major_parts(
        &self,
        wanted: impl Fn(&InstrumentDesc) -> bool,
        slices: usize,
        pins: &Arc<Pins>,
    ) -> Vec<Vec<Part>> {
        let wholes = self.parts_where(wanted);
        (0..slices.max(1))
            .map(|index| {
                wholes
                    .iter()
                    .filter(|whole| index < whole.slice_count(slices))
                    .map(|whole| whole.slice(index, slices, pins))
                    .collect()
            })
            .collect()
    }

    /// The scopes that have instruments, in registration order.
    pub fn scopes(&self) -> Vec<Arc<str>> {
        let mut scopes: Vec<Arc<str>> = Vec::new();
        for i in self
            .instruments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if !scopes.contains(&i.desc.scope) {
                scopes.push(i.desc.scope.clone());
            }
        }
        scopes
    }
}

/// One instrument's share of a collection: all of it, or one slice of the objects it reads.
pub struct Part {
    instrument: Arc<Instrument>,
    /// The pins and slice its store reads use ([`Registry::sliced_parts`]).
    read: Option<(Arc<Pins>, Slice)>,
    /// Continues an instrument of the same name begun by an earlier part (another
    /// resource's family of that name): no header of its own.
    continues: bool,
}

impl Part {
    /// How many slices the instrument is read in when a collection asks for `slices`.
    fn slice_count(&self, slices: usize) -> usize {
        if self.instrument.sliceable {
            slices.max(1)
        } else {
            1
        }
    }

    /// Slice `index` of the instrument's objects, read through `pins`.
    fn slice(&self, index: usize, slices: usize, pins: &Arc<Pins>) -> Part {
        let count = self.slice_count(slices);
        Part {
            instrument: self.instrument.clone(),
            read: Some((pins.clone(), Slice { index, count })),
            continues: self.continues,
        }
    }

    /// The instrument's name.
    pub fn name(&self) -> &str {
        &self.instrument.desc.name
    }

    /// Its scope's schema URL (empty for kube-state-metrics names).
    pub fn schema_url(&self) -> &str {
        &self.instrument.desc.schema_url
    }

    /// This part, writing no header: an earlier part of the collection began its name.
    pub fn continuing(self) -> Part {
        Part {
            continues: true,
            ..self
        }
    }

    /// Runs the instrument's callbacks into `sink`.
    pub fn collect(&self, sink: &mut dyn MetricSink) {
        let instrument = &self.instrument;
        match &self.read {
            Some((_, slice)) if slice.index > 0 => sink.resume(&instrument.desc),
            _ if self.continues => sink.resume(&instrument.desc),
            _ => sink.begin(&instrument.desc),
        }
        let observer = Observer {
            sink: Mutex::new(sink),
        };
        let run = || {
            OBJECT.set((0, 0));
            match &instrument.callbacks {
                Callbacks::F64(cbs) => cbs.iter().for_each(|cb| cb(&observer)),
                Callbacks::I64(cbs) => cbs.iter().for_each(|cb| cb(&observer)),
                Callbacks::U64(cbs) => cbs.iter().for_each(|cb| cb(&observer)),
            }
            OBJECT.set((0, 0));
        };
        match &self.read {
            Some((pins, slice)) => read_pinned(pins, *slice, run),
            None => run(),
        }
    }
}

/// The [`AsyncInstrument`] a callback observes into during one collection.
struct Observer<'a> {
    sink: Mutex<&'a mut dyn MetricSink>,
}

impl Observer<'_> {
    fn emit(&self, value: Number, attributes: &[KeyValue]) {
        let (start, object) = OBJECT.get();
        self.sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe_object(value, attributes, start, object);
    }
}

impl AsyncInstrument<f64> for Observer<'_> {
    fn observe(&self, value: f64, attributes: &[KeyValue]) {
        self.emit(Number::F64(value), attributes);
    }
}

impl AsyncInstrument<i64> for Observer<'_> {
    fn observe(&self, value: i64, attributes: &[KeyValue]) {
        self.emit(Number::I64(value), attributes);
    }
}

impl AsyncInstrument<u64> for Observer<'_> {
    fn observe(&self, value: u64, attributes: &[KeyValue]) {
        self.emit(Number::U64(value), attributes);
    }
}

/// A `MeterProvider` whose meters register into one [`Registry`].
#[derive(Clone, Default)]
pub struct StreamingMeterProvider {
    registry: Arc<Registry>,
}

impl StreamingMeterProvider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A meter whose instruments a scrape may split into slices
    /// ([`Registry::sliced_parts`]): their callbacks must read objects only from
    /// [`KindStore`](crate::store::KindStore)s, which show each callback its slice.
    pub fn sliceable_meter(&self, scope: &'static str) -> Meter {
        self.declaring_meter(InstrumentationScope::builder(scope).build(), Vec::new())
    }

    /// [`StreamingMeterProvider::sliceable_meter`] of `scope`, whose instruments named in
    /// `declared` are declared so in OpenMetrics.
    pub fn declaring_meter(
        &self,
        scope: InstrumentationScope,
        declared: Vec<(&'static str, OpenMetricsType)>,
    ) -> Meter {
        self.scoped(scope, true, declared)
    }

    fn scoped(
        &self,
        scope: InstrumentationScope,
        sliceable: bool,
        declared: Vec<(&'static str, OpenMetricsType)>,
    ) -> Meter {
        Meter::new(Arc::new(ScopedInstruments {
            scope: Arc::from(scope.name()),
            schema_url: Cow::Owned(scope.schema_url().unwrap_or_default().to_string()),
            registry: self.registry.clone(),
            sliceable,
            declared,
        }))
    }
}

impl MeterProvider for StreamingMeterProvider {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        self.scoped(scope, false, Vec::new())
    }
}

/// The `InstrumentProvider` behind one meter (one instrumentation scope).
struct ScopedInstruments {
    scope: Arc<str>,
    schema_url: Cow<'static, str>,
    registry: Arc<Registry>,
    sliceable: bool,
    /// Instruments (by name) OpenMetrics declares otherwise than their kind says.
    declared: Vec<(&'static str, OpenMetricsType)>,
}

impl ScopedInstruments {
    fn add<I, M>(
        &self,
        builder: AsyncInstrumentBuilder<'_, I, M>,
        kind: InstrumentKind,
        wrap: fn(Vec<Callback<M>>) -> Callbacks,
    ) {
        let openmetrics = self
            .declared
            .iter()
            .find(|(name, _)| *name == builder.name)
            .map_or(OpenMetricsType::FromKind, |&(_, declared)| declared);
        self.registry.add(Instrument {
            desc: InstrumentDesc {
                scope: self.scope.clone(),
                schema_url: self.schema_url.clone(),
                name: builder.name,
                description: builder.description.unwrap_or_default(),
                unit: builder.unit.unwrap_or_default(),
                kind,
                openmetrics,
            },
            callbacks: wrap(builder.callbacks),
            sliceable: self.sliceable,
        });
    }
}

impl InstrumentProvider for ScopedInstruments {
    fn f64_observable_gauge(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableGauge<f64>, f64>,
    ) -> ObservableGauge<f64> {
        self.add(builder, InstrumentKind::Gauge, Callbacks::F64);
        ObservableGauge::new()
    }

    fn i64_observable_gauge(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableGauge<i64>, i64>,
    ) -> ObservableGauge<i64> {
        self.add(builder, InstrumentKind::Gauge, Callbacks::I64);
        ObservableGauge::new()
    }

    fn u64_observable_gauge(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableGauge<u64>, u64>,
    ) -> ObservableGauge<u64> {
        self.add(builder, InstrumentKind::Gauge, Callbacks::U64);
        ObservableGauge::new()
    }

    fn f64_observable_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableCounter<f64>, f64>,
    ) -> ObservableCounter<f64> {
        self.add(builder, InstrumentKind::Counter, Callbacks::F64);
        ObservableCounter::new()
    }

    fn u64_observable_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableCounter<u64>, u64>,
    ) -> ObservableCounter<u64> {
        self.add(builder, InstrumentKind::Counter, Callbacks::U64);
        ObservableCounter::new()
    }

    fn f64_observable_up_down_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableUpDownCounter<f64>, f64>,
    ) -> ObservableUpDownCounter<f64> {
        self.add(builder, InstrumentKind::UpDownCounter, Callbacks::F64);
        ObservableUpDownCounter::new()
    }

    fn i64_observable_up_down_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, ObservableUpDownCounter<i64>, i64>,
    ) -> ObservableUpDownCounter<i64> {
        self.add(builder, InstrumentKind::UpDownCounter, Callbacks::I64);
        ObservableUpDownCounter::new()
    }
}
