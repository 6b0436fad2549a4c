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
pub use compact::{CompactSamples, FamilySamples};
pub use float::{format_go_float, write_go_float};
pub use semconv::{Schema, SemconvMetric};
pub use text::{Text, intern, leak_once};

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

    /// Closes the last family and freezes the samples for long-term storage.
    pub fn finish(mut self) -> CompactSamples {
        self.family_start.push(self.samples.len() as u32);
        CompactSamples::new(
            &self.identity,
            self.start_unix_nanos,
            self.labels,
            &self.samples,
            &self.family_start,
        )
    }
}
