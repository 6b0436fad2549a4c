//! Evaluation of compiled families on one object, as kube-state-metrics' `generate`: the
//! family's base labels, the `each` block's values, then the base labels under each value's own.

use serde_json::Value;

use super::path::{Got, Path};
use super::value::{GoDisplay, to_float64};
use crate::kinds::common::sanitize_label_name;
use crate::metric::{Samples, Text, intern};

/// A label set being built; later writes win, as in Go's maps. Sets are small (a dozen labels),
/// so a vector beats a map.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Labels(pub(super) Vec<(Text, Text)>);

impl Labels {
    pub(super) fn set(&mut self, name: Text, value: Text) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    fn set_default(&mut self, name: &Text, value: &Text) {
        if !self.0.iter().any(|(n, _)| n == name) {
            self.0.push((name.clone(), value.clone()));
        }
    }

    fn sort(&mut self) {
        self.0.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
}

/// One value of an `each` block.
#[derive(Debug, PartialEq)]
pub(super) struct EachValue {
    pub(super) labels: Labels,
    pub(super) value: f64,
}

impl EachValue {
    fn new(value: f64) -> EachValue {
        EachValue {
            labels: Labels::default(),
            value,
        }
    }
}

/// The text of a resolved value for a label.
fn label_text(got: Got<'_>) -> Text {
    match got {
        Got::Value(Value::String(s)) => intern(s),
        other => intern(&GoDisplay(other).to_string()),
    }
}

/// `labelsFromPath`, compiled: map copies (`"*"`, `"prefix_*"`) first, in name order, then
/// named labels, which override the copies.
#[derive(Debug, Default, PartialEq)]
pub(super) struct LabelPaths {
    /// The text before a trailing `*` (None for a key that only starts with `*`), and the path
    /// of the map to copy.
    copies: Vec<(Option<String>, Path)>,
    /// Sanitised label names.
    named: Vec<(Text, Path)>,
}

impl LabelPaths {
    /// `paths` in name order.
    pub(super) fn new(paths: Vec<(String, Path)>) -> LabelPaths {
        let mut compiled = LabelPaths::default();
        for (name, path) in paths {
            if let Some(prefix) = name.strip_suffix('*') {
                compiled.copies.push((Some(prefix.to_string()), path));
            } else if name.starts_with('*') {
                compiled.copies.push((None, path));
            } else {
                compiled
                    .named
                    .push((intern(&sanitize_label_name(&name)), path));
            }
        }
        compiled
    }

    /// kube-state-metrics' `addPathLabels`: paths relative to `at`; a path that does not
    /// resolve adds nothing.
    pub(super) fn add(&self, at: Got<'_>, labels: &mut Labels) {
        for (prefix, path) in &self.copies {
            let Got::Value(Value::Object(map)) = path.get(at) else {
                continue;
            };
            for (key, value) in map {
                let name = match prefix {
                    Some(prefix) => sanitize_label_name(&format!("{prefix}{key}")),
                    None => sanitize_label_name(key),
                };
                // A null inside a copied map is printed (`<nil>`), unlike a null path.
                let value = match value {
                    Value::Null => intern("<nil>"),
                    v => label_text(Got::Value(v)),
                };
                labels.set(intern(&name), value);
            }
        }
        for (name, path) in &self.named {
            let got = path.get(at);
            if !got.is_nil() {
                labels.set(name.clone(), label_text(got));
            }
        }
    }
}

/// The `each` block of a family.
#[derive(Debug, PartialEq)]
pub(super) enum Each {
    Gauge(Gauge),
    Info(Info),
    StateSet(StateSet),
}

#[derive(Debug, PartialEq)]
pub(super) struct Gauge {
    pub(super) path: Path,
    pub(super) labels: LabelPaths,
    pub(super) value_from: Path,
    pub(super) nil_is_zero: bool,
    pub(super) label_from_key: Option<Text>,
}

#[derive(Debug, PartialEq)]
pub(super) struct Info {
    pub(super) path: Path,
    pub(super) labels: LabelPaths,
    pub(super) label_from_key: Option<Text>,
}

#[derive(Debug, PartialEq)]
pub(super) struct StateSet {
    pub(super) path: Path,
    pub(super) labels: LabelPaths,
    pub(super) value_from: Path,
    pub(super) label_name: Text,
    pub(super) list: Vec<Text>,
}

/// How a family's evaluation errors are logged. kube-state-metrics logs them as errors at its
/// `errorLogV` klog verbosity: with the default 0 always, with a higher one only when klog runs
/// that verbose. Here 0 is a warning, and a higher level is debug (`--log-level debug`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum ErrorLog {
    Warn,
    Debug,
}

impl ErrorLog {
    pub(super) fn at(error_log_v: u32) -> Self {
        if error_log_v == 0 {
            ErrorLog::Warn
        } else {
            ErrorLog::Debug
        }
    }
}

/// A family being evaluated, to name in its errors.
#[derive(Clone, Copy)]
pub(super) struct Evaluating<'a> {
    pub(super) family: &'a str,
    pub(super) log: ErrorLog,
}

impl Evaluating<'_> {
    fn error(&self, path: &Path, error: std::fmt::Arguments<'_>) {
        let family = self.family;
        match self.log {
            ErrorLog::Warn => {
                tracing::warn!(family, %path, "custom resource metric not computed: {error}")
            }
            ErrorLog::Debug => {
                tracing::debug!(family, %path, "custom resource metric not computed: {error}")
            }
        }
    }
}

impl Each {
    /// The values for `object`, sorted by their own labels as kube-state-metrics sorts them.
    pub(super) fn values(&self, object: Got<'_>, family: Evaluating<'_>, out: &mut Vec<EachValue>) {
        match self {
            Each::Gauge(gauge) => gauge.values(gauge.path.get(object), family, out),
            Each::Info(info) => info.values(info.path.get(object), out),
            Each::StateSet(set) => match set.path.get(object) {
                Got::Value(Value::Array(items)) => {
                    for item in items {
                        set.values(Got::of(Some(item)), family, out);
                    }
                }
                at => set.values(at, family, out),
            },
        }
        for value in out.iter_mut() {
            value.labels.sort();
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
}

impl Gauge {
    fn values(&self, at: Got<'_>, family: Evaluating<'_>, out: &mut Vec<EachValue>) {
        let path = &self.path;
        match at {
            Got::Value(Value::Object(map)) => {
                for (key, item) in map {
                    let item = Got::of(Some(item));
                    // A one-segment valueFrom naming this very key takes the entry itself.
                    let own = if self.value_from.single_key() == Some(key.as_str()) {
                        match to_float64(item, self.nil_is_zero) {
                            Some(v) => Some(EachValue::new(v)),
                            None => {
                                family.error(path, format_args!("{key}: value is not a number"));
                                continue;
                            }
                        }
                    } else {
                        // kube-state-metrics drops these errors silently.
                        self.value(item).ok().flatten()
                    };
                    let Some(mut value) = own else {
                        continue;
                    };
                    if let Some(name) = &self.label_from_key
                        && !key.is_empty()
                    {
                        value.labels.set(name.clone(), intern(key));
                    }
                    self.labels.add(item, &mut value.labels);
                    // Then relative to the map itself: a path that resolves there wins.
                    self.labels.add(at, &mut value.labels);
                    out.push(value);
                }
            }
            Got::Value(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let item = Got::of(Some(item));
                    match self.value(item) {
                        Ok(Some(mut value)) => {
                            self.labels.add(item, &mut value.labels);
                            out.push(value);
                        }
                        Ok(None) => {}
                        Err(error) => family.error(path, format_args!("[{index}]: {error}")),
                    }
                }
            }
            at => match self.value(at) {
                Ok(Some(mut value)) => {
                    self.labels.add(at, &mut value.labels);
                    out.push(value);
                }
                Ok(None) => {}
                Err(error) => family.error(path, format_args!("{error}")),
            },
        }
    }

    /// kube-state-metrics' `compiledGauge.value`: `Ok(None)` when `valueFrom` does not
    /// resolve below an existing element.
    fn value(&self, at: Got<'_>) -> Result<Option<EachValue>, GaugeError> {
        let got = self.value_from.get(at);
        if got.is_nil() {
            if self.nil_is_zero {
                return Ok(Some(EachValue::new(0.0)));
            }
            return if at.is_nil() {
                Err(GaugeError::Nil)
            } else {
                Ok(None)
            };
        }
        match to_float64(got, self.nil_is_zero) {
            Some(v) => Ok(Some(EachValue::new(v))),
            None => Err(GaugeError::NotNumber {
                path: self.value_from.to_string(),
                value: GoDisplay(got).to_string(),
            }),
        }
    }
}

impl Info {
    fn values(&self, at: Got<'_>, out: &mut Vec<EachValue>) {
        match at {
            Got::Value(Value::Array(items)) => {
                for item in items {
                    self.value(Got::of(Some(item)), out);
                }
            }
            Got::Value(Value::Object(map)) => {
                for (key, item) in map {
                    let mut value = EachValue::new(1.0);
                    if let Some(name) = &self.label_from_key
                        && !key.is_empty()
                    {
                        value.labels.set(name.clone(), intern(key));
                    }
                    self.labels.add(Got::of(Some(item)), &mut value.labels);
                    if !value.labels.0.is_empty() {
                        out.push(value);
                    }
                }
                self.value(at, out);
            }
            at => self.value(at, out),
        }
    }

    fn value(&self, at: Got<'_>, out: &mut Vec<EachValue>) {
        if at.is_nil() {
            return;
        }
        let mut value = EachValue::new(1.0);
        self.labels.add(at, &mut value.labels);
        if !value.labels.0.is_empty() {
            out.push(value);
        }
    }
}

impl StateSet {
    fn values(&self, at: Got<'_>, family: Evaluating<'_>, out: &mut Vec<EachValue>) {
        let current = match self.value_from.get(at) {
            Got::Value(Value::String(s)) => s,
            other => {
                family.error(
                    &self.path,
                    format_args!("state is not a string: {}", GoDisplay(other)),
                );
                return;
            }
        };
        let mut own = Labels::default();
        self.labels.add(at, &mut own);
        for entry in &self.list {
            let mut value = EachValue {
                labels: Labels(vec![(self.label_name.clone(), entry.clone())]),
                value: f64::from(u8::from(entry.as_str() == current)),
            };
            // The entry's label is set first, so a path label of the same name replaces it.
            for (name, text) in &own.0 {
                value.labels.set(name.clone(), text.clone());
            }
            out.push(value);
        }
    }
}

/// Why a gauge has no value where kube-state-metrics logs an error.
#[derive(Debug, thiserror::Error)]
pub(super) enum GaugeError {
    #[error("got nil while resolving path")]
    Nil,
    #[error("valueFrom {path}: expected a number, got {value:?}")]
    NotNumber { path: String, value: String },
}

/// A constant label value, or one of the served group/version/kind.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum CommonValue {
    Fixed(Text),
    Group,
    Version,
    Kind,
}

impl CommonValue {
    fn text(&self, gvk: &[Text; 3]) -> Text {
        match self {
            CommonValue::Fixed(text) => text.clone(),
            CommonValue::Group => gvk[0].clone(),
            CommonValue::Version => gvk[1].clone(),
            CommonValue::Kind => gvk[2].clone(),
        }
    }
}

/// A compiled family: its constant labels, its object-level label paths and its `each`.
#[derive(Debug, PartialEq)]
pub(super) struct CompiledFamily {
    pub(super) error_log: ErrorLog,
    pub(super) common: Vec<(Text, CommonValue)>,
    pub(super) labels: LabelPaths,
    pub(super) each: Each,
}

impl CompiledFamily {
    /// The constant labels of the family's samples, sorted by name (a label path or an `each`
    /// label of the same name may replace one on some samples).
    pub(super) fn constant_labels(&self, gvk: &[Text; 3]) -> Vec<(Text, Text)> {
        let mut labels: Vec<(Text, Text)> = self
            .common
            .iter()
            .map(|(name, value)| (name.clone(), value.text(gvk)))
            .collect();
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        labels
    }

    /// Pushes the family's samples for `object`, labels sorted by name.
    pub(super) fn push(
        &self,
        family: &str,
        object: &Value,
        gvk: &[Text; 3],
        scratch: &mut Vec<EachValue>,
        samples: &mut Samples,
    ) {
        let object = Got::Value(object);
        scratch.clear();
        let family = Evaluating {
            family,
            log: self.error_log,
        };
        self.each.values(object, family, scratch);
        if scratch.is_empty() {
            return;
        }
        let mut base = Labels::default();
        for (name, value) in &self.common {
            base.set(name.clone(), value.text(gvk));
        }
        self.labels.add(object, &mut base);
        for mut value in scratch.drain(..) {
            for (name, text) in &base.0 {
                value.labels.set_default(name, text);
            }
            value.labels.sort();
            samples.push_dynamic(value.labels.0, value.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(segments: &[&str]) -> Path {
        Path::compile(&segments.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// `Test_values`' errors: nil where the path itself did not resolve; none where only
    /// `valueFrom` did not; a value that is no number.
    #[test]
    fn gauge_errors() {
        let gauge = |value_from: &[&str]| Gauge {
            path: Path::default(),
            labels: LabelPaths::default(),
            value_from: path(value_from),
            nil_is_zero: false,
            label_from_key: None,
        };
        let object = json!({"replicas": 1, "text": "abc"});
        let at = Got::Value(&object);
        let error = |g: Gauge, at: Got<'_>| g.value(at).unwrap_err().to_string();
        assert_eq!(
            error(gauge(&["creationTimestamp"]), Got::Nil),
            "got nil while resolving path"
        );
        assert!(matches!(gauge(&["non-existent"]).value(at), Ok(None)));
        assert_eq!(
            error(gauge(&["text"]), at),
            "valueFrom [text]: expected a number, got \"abc\""
        );
        assert_eq!(
            gauge(&["replicas"]).value(at).unwrap(),
            Some(EachValue::new(1.0))
        );
    }
}
