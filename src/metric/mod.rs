//! The tiny metric model shared by the kind tables, the store, the meter and the exporters.
//!
//! A kind turns one Kubernetes object into [`Samples`]: per enabled family, a list of label
//! pairs and a value. The store keeps exactly that (not the object), and the meter replays it to
//! OpenTelemetry callbacks on every collection.

mod allow;
mod compact;
mod float;
pub mod semconv;
mod text;

pub use allow::{AllowList, KindOptions};
pub use compact::{CompactSamples, FamilySamples, KindLabels, interleave};
pub use float::{format_go_float, write_go_float};
pub use semconv::{Schema, SemconvMetric};
pub use text::{Text, intern, leak_once};

use std::borrow::Borrow;

use compact::{CommonLabels, KindSlot, MAX_INTERLEAVED};

/// The instrument a family is registered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// An observable gauge.
    Gauge,
    /// An observable (monotonic) counter: the `*_total` families.
    Counter,
    /// Gauges that OpenMetrics declares `info` and `stateset` (Custom Resource State's types).
    Info,
    StateSet,
}

impl MetricType {
    /// The name Prometheus' text format `# TYPE` line uses (it has no `info` or `stateset`).
    pub fn prometheus_name(self) -> &'static str {
        match self {
            MetricType::Gauge | MetricType::Info | MetricType::StateSet => "gauge",
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
    /// Where the object's common labels go among these (see [`interleave`]).
    order: u32,
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
    /// Set by [`Samples::share_common_labels`]: the kind's common labels.
    kind_labels: Option<KindLabels>,
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
            order: 0,
        });
    }

    /// Stores the label pairs every sample has once for the object instead of once per sample,
    /// and `kind`'s once for every object that has them all (in this order), as a reference:
    /// for kinds whose samples carry the same labels (custom resources: `name`, `namespace`,
    /// `customresource_group`/`_kind`/`_version` on every sample). Labels that are not in the
    /// same order in every sample stay in each, as do all labels of an object with a sample of
    /// more than 32. Not for kinds with semantic-conventions tables: `register_semconv` reads a
    /// sample's own labels only (custom resources' semconv instruments are registered as their
    /// families are, and put the common labels back).
    pub fn share_common_labels(&mut self, kind: &KindLabels) {
        self.kind_labels = Some(kind.clone());
    }

    /// Closes the last family and freezes the samples for long-term storage.
    pub fn finish(mut self) -> CompactSamples {
        self.family_start.push(self.samples.len() as u32);
        let common = match self.kind_labels.take() {
            Some(kind) => self.take_common_labels(kind),
            None => CommonLabels::default(),
        };
        CompactSamples::new(
            &self.identity,
            self.start_unix_nanos,
            common,
            self.labels,
            &self.samples,
            &self.family_start,
        )
    }

    /// Takes the label pairs every sample has out of the samples (all or none of `kind`'s
    /// among them), and sets each sample's order. Labels are interned: equal ones are
    /// mostly the same pointer, so the comparisons are cheap.
    fn take_common_labels(&mut self, kind: KindLabels) -> CommonLabels {
        let all = &self.labels;
        let of = |s: &Sample| all.get(s.labels_start as usize..s.labels_end as usize);
        let labels: Option<Vec<&[(Text, Text)]>> = self.samples.iter().map(of).collect();
        let Some(labels) = labels.filter(|l| l.iter().all(|l| l.len() <= MAX_INTERLEAVED)) else {
            return CommonLabels::default();
        };
        let Some((first, others)) = labels.split_first() else {
            return CommonLabels::default();
        };
        // The first sample's labels that every other one has, in the same order (each found
        // after the one before it: one pass when the samples agree).
        let mut common: Vec<&(Text, Text)> = first.iter().collect();
        for labels in others {
            let mut rest = labels.iter();
            common.retain(|pair| {
                let mut ahead = rest.clone();
                let found = ahead.any(|label| label == *pair);
                if found {
                    rest = ahead;
                }
                found
            });
        }
        if common.is_empty() {
            return CommonLabels::default();
        }
        // Each sample's order: bit `i` set where its label `i` is its own (all the common
        // ones match: they are in every sample, in this order).
        let orders: Vec<u32> = labels.iter().map(|l| order_of(l, &common).0).collect();
        // The kind's labels, if the common ones have them all (in order): bit `i` set where
        // common label `i` is the object's.
        let (object_bits, matched) = order_of(&common, &kind);
        let kind = (matched == kind.len() && !kind.is_empty()).then_some(kind);
        let object: Vec<(Text, Text)> = common
            .iter()
            .enumerate()
            .filter(|(i, _)| kind.is_none() || object_bits >> i & 1 == 1)
            .map(|(_, pair)| (*pair).clone())
            .collect();
        // Where the kind's labels go among the object's: the common labels not the object's.
        let kind_order = !object_bits & low_bits(common.len());
        let mut own = Vec::with_capacity(self.labels.len());
        let mut pushed = std::mem::take(&mut self.labels).into_iter();
        for (sample, order) in self.samples.iter_mut().zip(orders) {
            let start = own.len() as u32;
            let count = (sample.labels_end - sample.labels_start) as usize;
            let labels = pushed.by_ref().take(count).enumerate();
            own.extend(labels.filter(|(i, _)| order >> i & 1 == 1).map(|(_, l)| l));
            sample.labels_start = start;
            sample.labels_end = own.len() as u32;
            sample.order = order;
        }
        self.labels = own;
        let kind = kind.map(|labels| KindSlot {
            labels,
            order: kind_order,
        });
        CommonLabels { kind, object }
    }
}

/// Walks `labels` (at most 32), matching `wanted` in order: the bits of the labels that are
/// not the next wanted one, and how many wanted ones matched.
fn order_of<A, B>(labels: &[A], wanted: &[B]) -> (u32, usize)
where
    A: Borrow<(Text, Text)>,
    B: Borrow<(Text, Text)>,
{
    let mut matched = 0;
    let mut order = 0u32;
    for (i, label) in labels.iter().enumerate() {
        if wanted.get(matched).map(Borrow::borrow) == Some(label.borrow()) {
            matched += 1;
        } else {
            order |= 1u32.checked_shl(i as u32).unwrap_or(0);
        }
    }
    (order, matched)
}

/// The `count` low bits set.
fn low_bits(count: usize) -> u32 {
    let unset = u32::BITS.saturating_sub(count as u32);
    u32::MAX.checked_shr(unset).unwrap_or(0)
}
