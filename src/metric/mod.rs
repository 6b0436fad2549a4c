//! The tiny metric model shared by the kind tables, the store, the meter and the exporters.
//!
//! A kind turns one Kubernetes object into [`Samples`]: per enabled family, a list of label
//! pairs and a value. The store keeps exactly that (not the object), and the meter replays it to
//! OpenTelemetry callbacks on every collection.

mod allow;
mod float;
pub mod semconv;
mod text;

pub use allow::{AllowList, KindOptions};
pub use float::{format_go_float, write_go_float};
pub use semconv::{Schema, SemconvMetric};
pub use text::{Text, intern};

use std::sync::Arc;

use text::{prefetch, prefetch_str};

/// The instrument a family is registered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// An observable gauge.
    Gauge,
    /// An observable (monotonic) counter: the `*_total` families.
    Counter,
}

impl MetricType {
    /// The name Prometheus' `# TYPE` line uses.
    pub fn prometheus_name(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// kube-state-metrics' stability levels; stable families get `[STABLE] ` in their HELP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stability {
    Stable,
    Experimental,
}

/// Produces a family's samples for one object.
pub type Generate<O> = fn(&O, &KindOptions, &mut Samples);

/// One metric family of a kind: one row of the kind's table.
pub struct Family<O: 'static> {
    pub name: &'static str,
    /// HELP text without the stability prefix.
    pub help: &'static str,
    pub metric_type: MetricType,
    pub stability: Stability,
    /// Off unless named in `--metric-opt-in-list`.
    pub opt_in: bool,
    /// False for a row that exists only for its semconv metrics (kube-state-metrics has no
    /// such family); its `name` is then the first semconv metric's.
    pub ksm: bool,
    /// The semantic-conventions metrics fed by this family's samples.
    pub semconv: &'static [SemconvMetric],
    pub generate: Generate<O>,
}

impl<O> Family<O> {
    /// A stable gauge.
    pub const fn stable(name: &'static str, help: &'static str, generate: Generate<O>) -> Self {
        Family {
            name,
            help,
            metric_type: MetricType::Gauge,
            stability: Stability::Stable,
            opt_in: false,
            ksm: true,
            semconv: &[],
            generate,
        }
    }

    /// A row with semconv metrics only (`metrics` must not be empty).
    pub const fn semconv_only(
        help: &'static str,
        metrics: &'static [SemconvMetric],
        generate: Generate<O>,
    ) -> Self {
        Family {
            ksm: false,
            semconv: metrics,
            ..Family::experimental(metrics[0].name, help, generate)
        }
    }

    /// The same family with its semantic-conventions counterparts.
    pub const fn semconv(self, metrics: &'static [SemconvMetric]) -> Self {
        Family {
            semconv: metrics,
            ..self
        }
    }

    /// An experimental gauge.
    pub const fn experimental(
        name: &'static str,
        help: &'static str,
        generate: Generate<O>,
    ) -> Self {
        Family {
            stability: Stability::Experimental,
            ..Family::stable(name, help, generate)
        }
    }

    /// The same family as a counter.
    pub const fn counter(self) -> Self {
        Family {
            metric_type: MetricType::Counter,
            ..self
        }
    }

    /// The same family, off by default.
    pub const fn opt_in(self) -> Self {
        Family {
            opt_in: true,
            ..self
        }
    }

    /// The HELP text as kube-state-metrics prints it.
    pub fn help_line(&self) -> String {
        match self.stability {
            Stability::Stable => format!("[STABLE] {}", self.help),
            Stability::Experimental => self.help.to_string(),
        }
    }
}

/// A family as the meter and the exporters see it, without its generator.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyDesc {
    pub name: &'static str,
    /// HELP as kube-state-metrics prints it (`[STABLE] ` included).
    pub help_line: String,
    pub metric_type: MetricType,
    /// Whether kube-state-metrics has this family (see [`Family::ksm`]).
    pub ksm: bool,
    pub semconv: &'static [SemconvMetric],
}

impl<O> From<&Family<O>> for FamilyDesc {
    fn from(f: &Family<O>) -> Self {
        FamilyDesc {
            name: f.name,
            help_line: f.help_line(),
            metric_type: f.metric_type,
            ksm: f.ksm,
            semconv: f.semconv,
        }
    }
}

/// One sample of a family: its own labels (a range of [`Samples::labels`]) and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub value: f64,
    labels_start: u32,
    labels_end: u32,
}

/// The samples one object yields, grouped by family; a kind's generators append to it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Samples {
    identity: Vec<Text>,
    /// When the object was created (Unix nanoseconds; 0 if unknown): the start of its
    /// cumulative counters, whoever counts them and whenever they started.
    start_unix_nanos: u64,
    labels: Vec<(Text, Text)>,
    samples: Vec<Sample>,
    /// `family_start[i]..family_start[i + 1]` are the samples of enabled family `i`.
    family_start: Vec<u32>,
}

impl Samples {
    /// Samples of an object whose identity labels (`namespace`, `pod`, …) have these values.
    pub fn new(identity: Vec<Text>) -> Self {
        Samples {
            identity,
            ..Samples::default()
        }
    }

    /// When the object's counters started counting (its creation), in Unix nanoseconds.
    pub fn set_start_time(&mut self, unix_nanos: u64) {
        self.start_unix_nanos = unix_nanos;
    }

    /// Starts the samples of the next family; families must be started in table order.
    pub fn begin_family(&mut self) {
        self.family_start.push(self.samples.len() as u32);
    }

    /// A sample with no labels of its own.
    pub fn push(&mut self, value: f64) {
        self.push_labeled(&[], value);
    }

    /// A sample whose label names are fixed by the family.
    pub fn push_labeled(&mut self, labels: &[(&'static str, &str)], value: f64) {
        let labels_start = self.labels.len() as u32;
        self.labels.extend(
            labels
                .iter()
                .map(|(k, v)| (Text::from_static(k), intern(v))),
        );
        self.finish_sample(labels_start, value);
    }

    /// A sample whose label names come from the object (`label_*`, `annotation_*`).
    pub fn push_dynamic(&mut self, labels: impl IntoIterator<Item = (Text, Text)>, value: f64) {
        let labels_start = self.labels.len() as u32;
        self.labels.extend(labels);
        self.finish_sample(labels_start, value);
    }

    fn finish_sample(&mut self, labels_start: u32, value: f64) {
        self.samples.push(Sample {
            value,
            labels_start,
            labels_end: self.labels.len() as u32,
        });
    }

    /// Closes the last family and trims the buffers to size for long-term storage.
    pub fn finish(mut self) -> CompactSamples {
        self.family_start.push(self.samples.len() as u32);
        CompactSamples {
            identity: self.identity.iter().map(Text::to_shared).collect(),
            start_unix_nanos: self.start_unix_nanos,
            labels: self.labels.into_boxed_slice(),
            samples: self.samples.into_boxed_slice(),
            family_start: self.family_start.into_boxed_slice(),
        }
    }
}

/// What the store keeps per object: [`Samples`] frozen, with no spare capacity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompactSamples {
    /// Plain shared strings, not [`Text`]s: they are read for every sample of every family,
    /// and a `Text` is one pointer more to follow.
    identity: Box<[Arc<str>]>,
    start_unix_nanos: u64,
    labels: Box<[(Text, Text)]>,
    samples: Box<[Sample]>,
    family_start: Box<[u32]>,
}

impl CompactSamples {
    /// Values of the kind's identity labels, in the kind's order.
    pub fn identity(&self) -> &[Arc<str>] {
        &self.identity
    }

    /// When the object's counters started counting (Unix nanoseconds; 0 if unknown).
    pub fn start_time(&self) -> u64 {
        self.start_unix_nanos
    }

    /// The samples of enabled family `family`, each with its label pairs.
    pub fn family(&self, family: usize) -> impl Iterator<Item = (&[(Text, Text)], f64)> {
        self.family_samples(self.family_range(family))
    }

    /// How many families the object has samples (or none) for.
    pub fn family_count(&self) -> usize {
        self.family_start.len().saturating_sub(1)
    }

    /// Where the samples of enabled family `family` are; empty when it has none.
    pub fn family_range(&self, family: usize) -> std::ops::Range<usize> {
        match (
            self.family_start.get(family),
            self.family_start.get(family + 1),
        ) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }

    /// The samples in `range` (from [`CompactSamples::family_range`]) with their label pairs.
    pub fn family_samples(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (&[(Text, Text)], f64)> {
        let samples = self.samples.get(range).unwrap_or_default();
        samples.iter().map(|s| {
            (
                &self.labels[s.labels_start as usize..s.labels_end as usize],
                s.value,
            )
        })
    }

    /// Prefetch stage 1 of a collection (see [`CompactSamples::PREFETCH_STAGES`]): the
    /// object itself.
    fn prefetch_object(&self, _family: usize) {
        let object: *const Self = self;
        prefetch(object);
        prefetch(object.wrapping_add(1).cast::<u8>().wrapping_sub(1));
    }

    /// Stage 2: where the family's samples are.
    fn prefetch_family_start(&self, family: usize) {
        prefetch(self.family_start.get(family..).unwrap_or_default().as_ptr());
    }

    /// Stage 3: the family's samples, and the identity.
    fn prefetch_samples(&self, family: usize) {
        let samples = self
            .samples
            .get(self.family_range(family))
            .unwrap_or_default();
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            prefetch(first);
            prefetch(last);
            prefetch(self.identity.as_ptr());
        }
    }

    /// Stage 4: the identity strings and the samples' labels.
    fn prefetch_labels(&self, family: usize) {
        let labels = self.family_labels(family);
        if let Some(labels) = labels {
            self.identity.iter().for_each(|s| prefetch_str(s));
            prefetch(labels.as_ptr());
            prefetch(labels.as_ptr_range().end.wrapping_sub(1));
        }
    }

    /// Stage 5: the label value texts.
    fn prefetch_texts(&self, family: usize) {
        let labels = self.family_labels(family).unwrap_or_default();
        labels.iter().for_each(|(_, value)| value.prefetch());
    }

    /// Stage 6: the strings of the label value texts.
    fn prefetch_strs(&self, family: usize) {
        let labels = self.family_labels(family).unwrap_or_default();
        labels.iter().for_each(|(_, value)| value.prefetch_str());
    }

    /// The labels of the family's samples (`Some` and maybe empty if it has samples).
    fn family_labels(&self, family: usize) -> Option<&[(Text, Text)]> {
        let samples = self.samples.get(self.family_range(family))?;
        let (first, last) = (samples.first()?, samples.last()?);
        self.labels
            .get(first.labels_start as usize..last.labels_end as usize)
    }

    /// A collection reads an object's family through six levels of pointers (object, family
    /// start, samples, labels, texts, strings). Run stage `i` on an object several batches
    /// before it is read, the lowest stage furthest ahead, and each level arrives in the cache
    /// while other objects are read: the misses overlap instead of stalling one by one.
    pub const PREFETCH_STAGES: [fn(&CompactSamples, usize); 6] = [
        CompactSamples::prefetch_object,
        CompactSamples::prefetch_family_start,
        CompactSamples::prefetch_samples,
        CompactSamples::prefetch_labels,
        CompactSamples::prefetch_texts,
        CompactSamples::prefetch_strs,
    ];

    /// How many samples all families hold together.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Heap bytes held (label strings are shared and not counted).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.identity)
            + std::mem::size_of_val(&*self.labels)
            + std::mem::size_of_val(&*self.samples)
            + std::mem::size_of_val(&*self.family_start)
    }
}
