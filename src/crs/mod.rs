//! Custom Resource State: metrics from custom resources, configured as kube-state-metrics'
//! `--custom-resource-state-config[-file]` (v2.20) configures them.
//!
//! A pure engine, independent of watchers and exporters:
//!
//! - [`CrsConfig::parse`] decodes and validates the YAML config and compiles every path once.
//! - [`CrsResource::serves`] tells which served group/version/kind an entry covers (`version`
//!   and `kind` may be `"*"`; the caller resolves them against the installed CRDs, and takes
//!   the plural from the CRD rather than [`CrsResource::resource_plural`], as KSM does).
//! - [`CrsResource::samples`] turns one object of a served group/version/kind into
//!   [`Samples`]: one family per [`CrsResource::families`] entry, in order, with labels sorted
//!   by name. The object is not kept.
//! - [`CrsResource::kind_labels`] gives the labels that are the same on every sample of a
//!   served resource. Given to [`Samples::share_common_labels`], they are stored once for all
//!   its objects, and the other labels all of an object's samples have (`name`, `namespace`)
//!   once per object instead of once per sample.
//!
//! Family names follow KSM's prefix rule: `metricNamePrefix` absent or null gives
//! `kube_customresource_<name>`, `""` gives the bare name. [`CrsFamily::metric_type`] is
//! what OpenMetrics declares; the Prometheus text format prints all three as `gauge`.
//!
//! # What KSM does, and we do too
//! - Strings become values through `true`/`yes` (1) and `false`/`no`/`unknown` (0) in any
//!   case, then RFC 3339 (fraction dropped), Kubernetes quantities, whole percentages
//!   (`85%` → 0.85; `12.5%` gives no sample), then a float parse. `nilIsZero` on a path that
//!   does not resolve gives one sample 0.
//! - Label values are Go's `%v` of the JSON value: `100`, `0.5`, `1.23456785e+07`, `true`,
//!   `[red blue]`, `map[oncall:bob team:lab]`. Label names from paths are sanitised
//!   (`[^a-zA-Z0-9_]` → `_`), so a `"**"` copy gives `_bar`.
//! - `customresource_group`/`_version`/`_kind` replace resource-level `commonLabels` of the
//!   same name; metric-level `commonLabels` and any `labelsFromPath` replace them.
//! - Over a map, each-level `labelsFromPath` resolve against each entry and then against the
//!   map itself (the second wins when it resolves); a label named like `labelFromKey` replaces
//!   the key.
//! - Decoding is lenient: unknown fields are ignored, `type` matches in any case, `kind:` is
//!   optional, only the first YAML document is read, scalars are kept as written.
//!
//! # Where we differ from KSM v2.20, on purpose
//! - An unknown `type`, a malformed `[key]` lookup (no `=`), a type without its block (Gauge
//!   without `gauge`, …): KSM runs on without any CRS metric; we reject the config, naming the
//!   entry and field.
//! - Two entries that serve the same group/version/kind (equal, or overlapping through `"*"`):
//!   KSM keeps the last silently (its docs say it exits); we reject the config, naming both.
//! - An entry without `group` (or `version`, `kind`): KSM skips it with a log line; we reject it.
//!   So are a metric without `name` and a StateSet without `labelName` (KSM would print an
//!   invalid metric or label name).
//! - `commonLabels` keys are sanitised like path-derived label names (KSM prints `team.name`).
//! - Evaluation errors (a value that is not a number, …) are warnings, or debug lines when the
//!   resource's or metric's `errorLogV` is above 0; KSM logs them as errors at that klog
//!   verbosity (so, by default, always).

mod config;
mod eval;
mod path;
mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::metric::{KindLabels, Samples, intern};

/// Why a config was rejected; every variant names where.
#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    /// Not YAML, or not the config's shape (`key` as `spec.resources[0].metrics`).
    #[error("custom resource state config: {key}: {message}")]
    Decode { key: String, message: String },
    #[error("custom resource state config: {entry}: {field}: {message}")]
    Invalid {
        entry: String,
        field: String,
        message: String,
    },
    #[error(
        "custom resource state config: {first} and {second} serve the same group/version/kind; keep one entry"
    )]
    Duplicate { first: String, second: String },
}

/// A parsed and compiled config.
#[derive(Debug)]
pub struct CrsConfig {
    pub resources: Vec<CrsResource>,
}

impl CrsConfig {
    /// Decodes the config (its first YAML document) and compiles it.
    pub fn parse(yaml: &str) -> Result<CrsConfig, CrsError> {
        let empty = || CrsError::Decode {
            key: ".".to_string(),
            message: "the config is empty".to_string(),
        };
        let document = serde_yaml_ng::Deserializer::from_str(yaml)
            .next()
            .ok_or_else(empty)?;
        // An empty document (comments only) decodes as none.
        let raw: Option<config::RawConfig> =
            serde_path_to_error::deserialize(document).map_err(|e| CrsError::Decode {
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        let raw = raw.ok_or_else(empty)?;
        Ok(CrsConfig {
            resources: config::compile(raw)?,
        })
    }
}

/// The instrument a family is declared as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrsMetricType {
    Gauge,
    StateSet,
    Info,
}

/// One family of a resource entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CrsFamily {
    /// The full name, prefix included.
    pub name: String,
    /// As written in the config (unescaped).
    pub help: String,
    pub metric_type: CrsMetricType,
}

/// One `spec.resources` entry; equal entries compute the same samples (a reload keeps their
/// stores).
#[derive(Debug, PartialEq)]
pub struct CrsResource {
    pub group: String,
    /// A version, or `"*"` for every served version.
    pub version: String,
    /// A kind, or `"*"` for every kind of the group.
    pub kind: String,
    /// `resourcePlural` as configured; a CRD's plural takes precedence.
    pub resource_plural: Option<String>,
    pub families: Vec<CrsFamily>,
    /// Parallel to `families`.
    compiled: Vec<eval::CompiledFamily>,
}

impl CrsResource {
    /// Whether this entry covers objects of the served `group`/`version`/`kind`.
    pub fn serves(&self, group: &str, version: &str, kind: &str) -> bool {
        self.group == group
            && (self.version == "*" || self.version == version)
            && (self.kind == "*" || self.kind == kind)
    }

    /// Whether an object could be served by both entries.
    fn overlaps(&self, other: &CrsResource) -> bool {
        let meet = |a: &str, b: &str| a == b || a == "*" || b == "*";
        self.group == other.group
            && meet(&self.version, &other.version)
            && meet(&self.kind, &other.kind)
    }

    /// Every family's samples for one object of the served group/version/kind (the implicit
    /// `customresource_group`/`_version`/`_kind` labels come from these): calls
    /// [`Samples::begin_family`] once per family in [`CrsResource::families`] order, then
    /// pushes that family's samples with [`Samples::push_dynamic`], labels sorted by name.
    pub fn samples(
        &self,
        object: &Value,
        group: &str,
        version: &str,
        kind: &str,
        samples: &mut Samples,
    ) {
        let all: Vec<usize> = (0..self.families.len()).collect();
        self.samples_of(&all, object, group, version, kind, samples);
    }

    /// The labels every sample of the families at `enabled` sets to the same value on every
    /// object of the served group/version/kind (`customresource_group`/`_version`/`_kind`, and
    /// `commonLabels` all of them have), sorted by name: what
    /// [`Samples::share_common_labels`] stores once for all the resource's objects.
    pub fn kind_labels(
        &self,
        enabled: &[usize],
        group: &str,
        version: &str,
        kind: &str,
    ) -> KindLabels {
        let gvk = [intern(group), intern(version), intern(kind)];
        let mut families = enabled.iter().filter_map(|&i| self.compiled.get(i));
        let Some(first) = families.next() else {
            return KindLabels::default();
        };
        let mut labels = first.constant_labels(&gvk);
        for family in families {
            let theirs = family.constant_labels(&gvk);
            labels.retain(|pair| theirs.contains(pair));
        }
        Arc::new(labels)
    }

    /// [`CrsResource::samples`] of the families at `enabled` (indices into
    /// [`CrsResource::families`], in order) only: `--metric-allowlist`/`--metric-denylist`.
    pub fn samples_of(
        &self,
        enabled: &[usize],
        object: &Value,
        group: &str,
        version: &str,
        kind: &str,
        samples: &mut Samples,
    ) {
        let gvk = [intern(group), intern(version), intern(kind)];
        let mut scratch = Vec::new();
        for &i in enabled {
            let (Some(family), Some(compiled)) = (self.families.get(i), self.compiled.get(i))
            else {
                continue;
            };
            samples.begin_family();
            compiled.push(&family.name, object, &gvk, &mut scratch, samples);
        }
    }
}
