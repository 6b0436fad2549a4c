//! The OpenTelemetry semantic conventions (v1.44, Kubernetes) counterpart of a family.
//!
//! A family row may carry [`SemconvMetric`]s: the semconv metric name, unit and instrument, which
//! of the family's samples it takes and how their KSM labels become semconv attributes. The same
//! generator feeds both schemas: the store keeps the KSM samples once, and the semconv
//! instruments read them through the mapping. A kind's [`Entity`] names the resource attributes
//! its identity labels become (`namespace` → `k8s.namespace.name`, …).

use std::str::FromStr;

use serde::Deserialize;

use super::{Text, intern};

/// The series schema a pipeline reports in.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// kube-state-metrics v2.20 names and labels.
    #[default]
    Ksm,
    /// OpenTelemetry semantic conventions v1.44 for Kubernetes.
    Semconv,
    /// Both side by side, for migrations.
    Both,
}

impl Schema {
    pub fn ksm(self) -> bool {
        self != Schema::Semconv
    }

    pub fn semconv(self) -> bool {
        self != Schema::Ksm
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown schema {0:?} (expected ksm, semconv or both)")]
pub struct UnknownSchema(String);

impl FromStr for Schema {
    type Err = UnknownSchema;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ksm" => Ok(Schema::Ksm),
            "semconv" => Ok(Schema::Semconv),
            "both" => Ok(Schema::Both),
            other => Err(UnknownSchema(other.to_string())),
        }
    }
}

/// The instrument the semantic conventions prescribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrument {
    Gauge,
    UpDownCounter,
    Counter,
}

impl Instrument {
    /// As the model files spell it (`instrument: updowncounter`).
    pub fn model_name(self) -> &'static str {
        match self {
            Instrument::Gauge => "gauge",
            Instrument::UpDownCounter => "updowncounter",
            Instrument::Counter => "counter",
        }
    }
}

/// The number type of a metric's values, as the model's `metric_value_type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Int,
    /// Also where the model does not say (the HPA's CPU targets).
    Double,
}

impl ValueType {
    /// As the model files spell it.
    pub fn model_name(self) -> &'static str {
        match self {
            ValueType::Int => "int",
            ValueType::Double => "double",
        }
    }
}

/// How one semconv attribute is made from a sample's KSM labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    /// The KSM label `.0`, renamed `.1`, its value kept.
    Rename(&'static str, &'static str),
    /// The KSM label `.0`, renamed `.1`, its value mapped by `.2` (values not listed are kept).
    Map(
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    ),
    /// The KSM label `.0`, renamed `.1`, with the prefix `.2` cut from its value.
    TrimPrefix(&'static str, &'static str, &'static str),
    /// A constant attribute `.0` = `.1` (the family a sample comes from decides it).
    Const(&'static str, &'static str),
    /// Attribute `.1`: `.2` when the KSM label `.0` is set (not empty), else `.3`.
    IfSet(&'static str, &'static str, &'static str, &'static str),
}

impl Attr {
    /// The semconv attribute name.
    pub fn name(&self) -> &'static str {
        match *self {
            Attr::Rename(_, to) | Attr::Map(_, to, _) | Attr::TrimPrefix(_, to, _) => to,
            Attr::Const(to, _) | Attr::IfSet(_, to, _, _) => to,
        }
    }

    /// The attribute's value for a sample with `labels`; `None` when the label is missing or
    /// empty (kube-state-metrics' way to say "not set").
    pub fn value(&self, labels: &[(Text, Text)]) -> Option<AttrValue> {
        let label = |from: &str| {
            labels
                .iter()
                .find(|(k, v)| k.as_str() == from && !v.as_str().is_empty())
                .map(|(_, v)| v)
        };
        match *self {
            Attr::Rename(from, _) => label(from).map(|v| AttrValue::Text(v.clone())),
            Attr::Map(from, _, values) => {
                label(from).map(
                    |v| match values.iter().find(|(ksm, _)| *ksm == v.as_str()) {
                        Some((_, semconv)) => AttrValue::Static(semconv),
                        None => AttrValue::Text(v.clone()),
                    },
                )
            }
            // Rare (hugepage sizes): the trimmed value is interned, so it is allocated once.
            Attr::TrimPrefix(from, _, prefix) => label(from).map(|v| {
                AttrValue::Text(intern(
                    v.as_str().strip_prefix(prefix).unwrap_or(v.as_str()),
                ))
            }),
            Attr::Const(_, value) => Some(AttrValue::Static(value)),
            Attr::IfSet(from, _, set, unset) => Some(AttrValue::Static(if label(from).is_some() {
                set
            } else {
                unset
            })),
        }
    }
}

/// An attribute value, borrowed from the tables or shared with the store.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Static(&'static str),
    Text(Text),
}

impl AttrValue {
    pub fn as_str(&self) -> &str {
        match self {
            AttrValue::Static(s) => s,
            AttrValue::Text(t) => t.as_str(),
        }
    }

    pub fn to_value(&self) -> opentelemetry::Value {
        match self {
            AttrValue::Static(s) => opentelemetry::Value::from(*s),
            AttrValue::Text(t) => t.to_value(),
        }
    }
}

/// A semconv metric fed by a family's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemconvMetric {
    pub name: &'static str,
    pub unit: &'static str,
    /// The model's brief, the instrument's description.
    pub brief: &'static str,
    pub instrument: Instrument,
    /// Reported as integers (`as_int` points) or doubles; the store keeps every value as f64.
    pub value_type: ValueType,
    /// Only samples whose label `.0` has one of the values `.1` (a value ending in `*` is a
    /// prefix); every condition must hold. Empty: all samples.
    pub when: &'static [(&'static str, &'static [&'static str])],
    /// The sample's attributes, in this order; KSM labels not used here are dropped.
    pub attributes: &'static [Attr],
}

impl SemconvMetric {
    pub const fn updown(name: &'static str, unit: &'static str, brief: &'static str) -> Self {
        SemconvMetric {
            name,
            unit,
            brief,
            instrument: Instrument::UpDownCounter,
            // Most of the model's Kubernetes metrics are counts of objects or bytes.
            value_type: ValueType::Int,
            when: &[],
            attributes: &[],
        }
    }

    pub const fn gauge(name: &'static str, unit: &'static str, brief: &'static str) -> Self {
        SemconvMetric {
            instrument: Instrument::Gauge,
            ..SemconvMetric::updown(name, unit, brief)
        }
    }

    /// Reported as doubles (CPU amounts, in cores).
    pub const fn double(self) -> Self {
        SemconvMetric {
            value_type: ValueType::Double,
            ..self
        }
    }

    pub const fn when(self, when: &'static [(&'static str, &'static [&'static str])]) -> Self {
        SemconvMetric { when, ..self }
    }

    pub const fn attributes(self, attributes: &'static [Attr]) -> Self {
        SemconvMetric { attributes, ..self }
    }

    /// Whether a sample with `labels` belongs to this metric.
    pub fn selects(&self, labels: &[(Text, Text)]) -> bool {
        self.when.iter().all(|(label, accepted)| {
            labels
                .iter()
                .find(|(k, _)| k.as_str() == *label)
                .is_some_and(|(_, v)| accepted.iter().any(|a| value_matches(a, v.as_str())))
        })
    }
}

fn value_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// The semconv entity of a kind: the resource attributes of its objects.
#[derive(Clone, Copy, Debug)]
pub struct Entity {
    /// The resource attribute each identity label becomes, in the kind's identity order.
    pub identity: &'static [&'static str],
    /// The attribute the object's UID goes to, when the KSM identity lacks it
    /// (`k8s.deployment.uid`); the store then keeps the UID after the identity values.
    pub uid: Option<&'static str>,
}

/// Attribute names that are resource attributes (the identifying and descriptive attributes
/// of the entities whose objects we watch): an OTLP encoder moves leading attributes with
/// these names to the resource.
pub fn is_resource_attribute(key: &str) -> bool {
    key.starts_with("k8s.")
        && (key.ends_with(".uid") || key.ends_with(".name"))
        && !NOT_RESOURCE.contains(&key)
}

/// `k8s.*.name` attributes that describe a data point, not the object.
/// A container is not an object we watch: its metrics stay on their pod's resource.
const NOT_RESOURCE: &[&str] = &[
    "k8s.container.name",
    "k8s.storageclass.name",
    "k8s.resourcequota.resource_name",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(Text, Text)> {
        pairs.iter().map(|(k, v)| (intern(k), intern(v))).collect()
    }

    #[test]
    fn selection_and_attribute_mapping() {
        let m = SemconvMetric::updown("x", "1", "X.")
            .when(&[("resource", &["cpu", "count/*"]), ("type", &["hard"])]);
        assert!(m.selects(&labels(&[("resource", "cpu"), ("type", "hard")])));
        assert!(m.selects(&labels(&[("resource", "count/pods"), ("type", "hard")])));
        assert!(!m.selects(&labels(&[("resource", "cpu"), ("type", "used")])));
        assert!(!m.selects(&labels(&[("type", "hard")])));

        let l = labels(&[("phase", "Active"), ("resource", "requests.hugepages-2Mi")]);
        let map = Attr::Map("phase", "k8s.namespace.phase", &[("Active", "active")]);
        assert_eq!(
            map.value(&l).map(|v| v.as_str().to_string()),
            Some("active".into())
        );
        let trim = Attr::TrimPrefix("resource", "k8s.hugepage.size", "requests.hugepages-");
        assert_eq!(
            trim.value(&l).map(|v| v.as_str().to_string()),
            Some("2Mi".into())
        );
        assert!(Attr::Rename("missing", "x").value(&l).is_none());
        assert_eq!(
            Attr::Const("a", "b").value(&l),
            Some(AttrValue::Static("b"))
        );
        let kind = Attr::IfSet("phase", "k", "set", "unset");
        assert_eq!(kind.value(&l), Some(AttrValue::Static("set")));
        let empty = labels(&[("phase", "")]);
        assert_eq!(kind.value(&empty), Some(AttrValue::Static("unset")));
    }

    #[test]
    fn schema_names() {
        assert_eq!("both".parse::<Schema>().ok(), Some(Schema::Both));
        assert!("otel".parse::<Schema>().is_err());
        assert!(Schema::Both.ksm() && Schema::Both.semconv());
        assert!(!Schema::Ksm.semconv() && !Schema::Semconv.ksm());
    }

    #[test]
    fn resource_attributes() {
        assert!(is_resource_attribute("k8s.pod.uid"));
        assert!(is_resource_attribute("k8s.namespace.name"));
        assert!(!is_resource_attribute("k8s.container.name"));
        assert!(!is_resource_attribute("k8s.storageclass.name"));
        assert!(!is_resource_attribute("k8s.pod.status.phase"));
        assert!(!is_resource_attribute("namespace"));
    }
}
