//! Families and helpers every kind shares, written once.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::KubeObject;
use crate::metric::{KindOptions, Samples, Text, intern};

fn meta<O: KubeObject>(object: &O) -> &ObjectMeta {
    k8s_openapi::Metadata::metadata(object)
}

/// Identity of a cluster-scoped object: its name.
pub fn name<O: KubeObject>(object: &O) -> Vec<Text> {
    vec![intern(meta(object).name.as_deref().unwrap_or_default())]
}

/// Identity of a namespaced object: namespace, name.
pub fn namespace_name<O: KubeObject>(object: &O) -> Vec<Text> {
    let m = meta(object);
    vec![
        intern(m.namespace.as_deref().unwrap_or_default()),
        intern(m.name.as_deref().unwrap_or_default()),
    ]
}

/// Identity of a namespaced object that also carries its uid (pods): namespace, name, uid.
pub fn namespace_name_uid<O: KubeObject>(object: &O) -> Vec<Text> {
    let m = meta(object);
    vec![
        intern(m.namespace.as_deref().unwrap_or_default()),
        intern(m.name.as_deref().unwrap_or_default()),
        intern(m.uid.as_deref().unwrap_or_default()),
    ]
}

/// Unix seconds, as kube-state-metrics reports timestamps.
pub fn seconds(time: &Time) -> f64 {
    time.0.as_second() as f64
}

pub fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

pub fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// One sample per possible condition status (`true`, `false`, `unknown`), 1 for the actual one;
/// `labels` come first, then `status`.
pub fn push_condition(samples: &mut Samples, labels: &[(&'static str, &str)], status: &str) {
    for (label, wanted) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        let mut all: Vec<(&'static str, &str)> = labels.to_vec();
        all.push(("status", label));
        samples.push_labeled(&all, bool_value(status == wanted));
    }
}

/// `kube_<kind>_created`: the creation timestamp, when set.
pub fn created<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    if let Some(t) = &meta(object).creation_timestamp {
        samples.push(seconds(t));
    }
}

/// `kube_<kind>_deletion_timestamp`: when deletion was requested, if it was.
pub fn deletion_timestamp<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    if let Some(t) = &meta(object).deletion_timestamp {
        samples.push(seconds(t));
    }
}

/// `kube_<kind>_metadata_generation`.
pub fn metadata_generation<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    samples.push(meta(object).generation.unwrap_or_default() as f64);
}

/// `kube_<kind>_metadata_resource_version`, when the version is numeric.
pub fn resource_version<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    if let Some(v) = meta(object)
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse::<f64>().ok())
    {
        samples.push(v);
    }
}

/// `kube_<kind>_labels`: allowed Kubernetes labels as `label_*`; nothing without an allowlist.
pub fn labels<O: KubeObject>(object: &O, options: &KindOptions, samples: &mut Samples) {
    if options.allow_labels.is_empty() {
        return;
    }
    let labels = options
        .allow_labels
        .prometheus_labels("label", meta(object).labels.as_ref());
    samples.push_dynamic(labels, 1.0);
}

/// `kube_<kind>_annotations`: allowed annotations as `annotation_*`; nothing without an allowlist.
pub fn annotations<O: KubeObject>(object: &O, options: &KindOptions, samples: &mut Samples) {
    if options.allow_annotations.is_empty() {
        return;
    }
    let annotations = options
        .allow_annotations
        .prometheus_labels("annotation", meta(object).annotations.as_ref());
    samples.push_dynamic(annotations, 1.0);
}

/// `kube_<kind>_owner` with `owner_kind`, `owner_name`, `owner_is_controller`; one empty
/// sample when the object has no owner, as kube-state-metrics does.
pub fn owner<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    let owners = meta(object).owner_references.as_deref().unwrap_or_default();
    if owners.is_empty() {
        samples.push_labeled(
            &[
                ("owner_kind", ""),
                ("owner_name", ""),
                ("owner_is_controller", ""),
            ],
            1.0,
        );
    }
    for o in owners {
        let controller = bool_label(o.controller.unwrap_or(false));
        samples.push_labeled(
            &[
                ("owner_kind", &o.kind),
                ("owner_name", &o.name),
                ("owner_is_controller", controller),
            ],
            1.0,
        );
    }
}

/// `kube_<kind>_owner` with only `owner_kind` and `owner_name` (deployments).
pub fn owner_kind_name<O: KubeObject>(object: &O, _: &KindOptions, samples: &mut Samples) {
    let owners = meta(object).owner_references.as_deref().unwrap_or_default();
    if owners.is_empty() {
        samples.push_labeled(&[("owner_kind", ""), ("owner_name", "")], 1.0);
    }
    for o in owners {
        samples.push_labeled(&[("owner_kind", &o.kind), ("owner_name", &o.name)], 1.0);
    }
}

/// A Kubernetes quantity as an exact decimal: `±digits × 10^exp10 × 2^exp2`.
struct ParsedQuantity {
    negative: bool,
    digits: u128,
    exp10: i32,
    exp2: u32,
}

/// Parses a quantity as apimachinery does (`[+-]digits[.digits][suffix]`, suffix one of the
/// decimal SI, binary SI or `e<exponent>` forms); `None` when malformed or over 38 digits.
fn parse_quantity(s: &str) -> Option<ParsedQuantity> {
    if s.is_empty() {
        return None;
    }
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') {
        return None;
    }
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => (suffix.strip_prefix(['e', 'E'])?.parse().ok()?, 0),
    };
    Some(ParsedQuantity {
        negative,
        digits,
        exp10: exp10.checked_sub(i32::try_from(frac.len()).ok()?)?,
        exp2,
    })
}

impl ParsedQuantity {
    fn signed(&self, magnitude: f64) -> f64 {
        if self.negative { -magnitude } else { magnitude }
    }

    /// The value as the nearest f64.
    fn value(&self) -> f64 {
        let binary = self.digits as f64 * 2f64.powi(self.exp2 as i32);
        // Dividing by an exact power of ten rounds once, so "250m" is exactly 0.25.
        let magnitude = if self.exp10 < 0 {
            binary / 10f64.powi(-self.exp10)
        } else {
            binary * 10f64.powi(self.exp10)
        };
        self.signed(magnitude)
    }

    /// The value × 10^scale rounded away from zero, as Go's `Quantity.ScaledValue`.
    fn scaled_rounded_up(&self, scale: i32) -> f64 {
        let shift = self.exp10 + scale;
        let Some(binary) = self.digits.checked_mul(1 << self.exp2) else {
            // Beyond u128 no f64 has a fractional part left to round.
            return self.value() * 10f64.powi(scale);
        };
        if shift >= 0 {
            return self.signed(binary as f64 * 10f64.powi(shift));
        }
        let magnitude = match 10u128.checked_pow(shift.unsigned_abs()) {
            Some(divisor) => binary.div_ceil(divisor),
            None => u128::from(binary != 0),
        };
        self.signed(magnitude as f64)
    }
}

/// A quantity's exact value (`"250m"` → 0.25, `"1Gi"` → 1073741824); `None` when malformed.
pub fn quantity_value(quantity: &Quantity) -> Option<f64> {
    quantity_str_value(&quantity.0)
}

/// [`quantity_value`] of a quantity's text (custom resources carry quantities as plain strings).
pub fn quantity_str_value(s: &str) -> Option<f64> {
    parse_quantity(s).map(|q| q.value())
}

/// Go's `Quantity.Value()`: the value rounded up (away from zero) to an integer, as
/// kube-state-metrics reports memory, storage and other non-CPU resources.
pub fn quantity_int_value(quantity: &Quantity) -> Option<f64> {
    parse_quantity(&quantity.0).map(|q| q.scaled_rounded_up(0))
}

/// Go's `Quantity.MilliValue() / 1000`: the value rounded up to milli-units, as
/// kube-state-metrics reports CPU cores.
pub fn quantity_cores(quantity: &Quantity) -> Option<f64> {
    parse_quantity(&quantity.0).map(|q| q.scaled_rounded_up(3) / 1000.0)
}

#[cfg(test)]
mod quantity_tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    #[test]
    fn parses_exact_values() {
        for (s, want) in [
            ("250m", 0.25),
            ("1Gi", 1073741824.0),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1e-3", 0.001),
            ("1.5", 1.5),
            ("100M", 1e8),
            ("128974848", 128974848.0),
            ("129e6", 129e6),
            ("123Mi", 128974848.0),
            ("-2k", -2000.0),
            ("+3", 3.0),
            ("0", 0.0),
            ("0.1", 0.1),
            (".5", 0.5),
            ("5.", 5.0),
            ("2Ei", 2f64.powi(61)),
            ("10n", 1e-8),
            ("7u", 7e-6),
        ] {
            assert_eq!(quantity_value(&q(s)), Some(want), "{s}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "abc",
            "1Qi",
            "1.2.3",
            "1e",
            "1 Gi",
            "1ki",
            "12345678901234567890123456789012345678901",
        ] {
            assert_eq!(quantity_value(&q(s)), None, "{s}");
        }
    }

    #[test]
    fn rounds_like_go() {
        assert_eq!(quantity_int_value(&q("1.5")), Some(2.0));
        assert_eq!(quantity_int_value(&q("-1.5")), Some(-2.0));
        assert_eq!(quantity_int_value(&q("1m")), Some(1.0));
        assert_eq!(quantity_int_value(&q("1Gi")), Some(1073741824.0));
        assert_eq!(quantity_int_value(&q("0.5Ki")), Some(512.0));
        assert_eq!(quantity_int_value(&q("1e-50")), Some(1.0));
        assert_eq!(quantity_cores(&q("250m")), Some(0.25));
        assert_eq!(quantity_cores(&q("100m")), Some(0.1));
        assert_eq!(quantity_cores(&q("2")), Some(2.0));
        assert_eq!(quantity_cores(&q("0.0001")), Some(0.001));
        assert_eq!(quantity_cores(&q("1n")), Some(0.001));
    }
}

/// An integer field as kube-state-metrics reads it from Go, where unset is 0.
pub fn push_int(samples: &mut Samples, value: Option<impl Into<i64>>) {
    samples.push(value.map_or(0, Into::into) as f64);
}

/// An optional (pointer) integer field: a sample only when it is set.
pub fn push_if_set(samples: &mut Samples, value: Option<impl Into<i64>>) {
    if let Some(v) = value {
        samples.push(v.into() as f64);
    }
}

/// A resource name as kube-state-metrics writes it into the `resource` label: every character
/// outside `[a-zA-Z0-9_]` becomes `_` (`nvidia.com/gpu` → `nvidia_com_gpu`).
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `unit` label and value kube-state-metrics reports a resource-list entry (requests,
/// limits, overhead) with: CPU in cores; memory, storage, hugepages and attachable volumes in
/// bytes; extended resources (`vendor.io/thing`) as integers. `None` for any other resource
/// and for malformed quantities.
pub fn resource_unit_value(name: &str, quantity: &Quantity) -> Option<(&'static str, f64)> {
    let unit = match name {
        "cpu" => return Some(("core", quantity_cores(quantity)?)),
        "memory" | "storage" | "ephemeral-storage" => "byte",
        _ if name.starts_with("hugepages-") || name.starts_with("attachable-volumes-") => "byte",
        _ if is_extended_resource(name) => "integer",
        _ => return None,
    };
    Some((unit, quantity_int_value(quantity)?))
}

/// Kubernetes' `IsExtendedResourceName`: a domain-prefixed name outside `kubernetes.io` that
/// is still a valid qualified name once quota's `requests.` prefix is added.
fn is_extended_resource(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    if native || name.starts_with("requests.") {
        return false;
    }
    match format!("requests.{name}").split_once('/') {
        Some((prefix, rest)) => is_dns_subdomain(prefix) && is_qualified_name_part(rest),
        None => false,
    }
}

/// A lowercase RFC 1123 subdomain of at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let bytes = label.as_bytes();
            let edge =
                |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            edge(bytes.first())
                && edge(bytes.last())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

/// The name part of a qualified name: at most 63 characters of `[-A-Za-z0-9_.]`, alphanumeric
/// at both ends (a second `/` fails the character check).
fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    s.len() <= 63
        && edge(bytes.first())
        && edge(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod resource_tests {
    use super::*;

    fn unit_value(name: &str, quantity: &str) -> Option<(&'static str, f64)> {
        resource_unit_value(name, &Quantity(quantity.to_string()))
    }

    #[test]
    fn units_follow_kube_state_metrics() {
        assert_eq!(unit_value("cpu", "250m"), Some(("core", 0.25)));
        assert_eq!(unit_value("memory", "1Gi"), Some(("byte", 1073741824.0)));
        assert_eq!(unit_value("ephemeral-storage", "300M"), Some(("byte", 3e8)));
        assert_eq!(unit_value("storage", "1.5"), Some(("byte", 2.0)));
        assert_eq!(
            unit_value("hugepages-2Mi", "4Mi"),
            Some(("byte", 4194304.0))
        );
        assert_eq!(
            unit_value("attachable-volumes-aws-ebs", "39"),
            Some(("byte", 39.0))
        );
        assert_eq!(unit_value("nvidia.com/gpu", "1"), Some(("integer", 1.0)));
        assert_eq!(
            unit_value("example.com/Foo_bar", "2"),
            Some(("integer", 2.0))
        );
        assert_eq!(unit_value("pods", "110"), None);
        assert_eq!(unit_value("kubernetes.io/something", "1"), None);
        assert_eq!(unit_value("requests.example.com/x", "1"), None);
        assert_eq!(unit_value("Example.com/x", "1"), None);
        assert_eq!(unit_value("example.com/x/y", "1"), None);
        assert_eq!(unit_value("example.com/-x", "1"), None);
        assert_eq!(unit_value("memory", "lots"), None);
    }

    #[test]
    fn resource_names_are_sanitised() {
        assert_eq!(sanitize_label_name("nvidia.com/gpu"), "nvidia_com_gpu");
        assert_eq!(
            sanitize_label_name("ephemeral-storage"),
            "ephemeral_storage"
        );
        assert_eq!(sanitize_label_name("hugepages-2Mi"), "hugepages_2Mi");
    }
}

/// An optional string as Go reads it: unset is empty.
pub fn text(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// A single sample of 1 with no labels of its own: the `_info` families that only say the
/// object exists.
pub fn info<O: KubeObject>(_: &O, _: &KindOptions, samples: &mut Samples) {
    samples.push(1.0);
}

/// One `port_name`, `port_protocol`, `port_number` sample (value 1) for an endpoint or
/// endpoint slice port; an unset number is empty.
pub fn push_port(
    samples: &mut Samples,
    name: &Option<String>,
    protocol: &Option<String>,
    number: Option<i32>,
) {
    let number = number.map(|n| n.to_string()).unwrap_or_default();
    samples.push_labeled(
        &[
            ("port_name", text(name)),
            ("port_protocol", text(protocol)),
            ("port_number", &number),
        ],
        1.0,
    );
}

use k8s_openapi::api::admissionregistration::v1::{ParamKind, ParamRef, WebhookClientConfig};
use k8s_openapi::api::rbac::v1::RoleRef;

/// An RBAC binding's `_info` sample: the `roleref_kind` and `roleref_name` it grants.
pub fn push_role_ref(samples: &mut Samples, role_ref: &RoleRef) {
    samples.push_labeled(
        &[
            ("roleref_kind", &role_ref.kind),
            ("roleref_name", &role_ref.name),
        ],
        1.0,
    );
}

/// `_webhook_clientconfig_service` of a webhook configuration: per `(name, clientConfig)` the
/// service the apiserver calls; both service labels are empty for a webhook reached by URL.
pub fn push_webhook_services<'a>(
    samples: &mut Samples,
    webhooks: impl IntoIterator<Item = (&'a str, &'a WebhookClientConfig)>,
) {
    for (name, config) in webhooks {
        let service = config.service.as_ref();
        samples.push_labeled(
            &[
                ("webhook_name", name),
                ("service_name", service.map_or("", |s| &s.name)),
                ("service_namespace", service.map_or("", |s| &s.namespace)),
            ],
            1.0,
        );
    }
}

/// An admission policy's `_info` sample: its `paramKind` and `failurePolicy` (empty when
/// unset), then the policy type's `extra` labels.
pub fn push_admission_policy_info<'a>(
    samples: &mut Samples,
    param_kind: Option<&'a ParamKind>,
    failure_policy: Option<&'a str>,
    extra: &[(&'static str, &'a str)],
) {
    let mut labels = vec![
        (
            "param_api_version",
            param_kind.map_or("", |k| text(&k.api_version)),
        ),
        ("param_kind", param_kind.map_or("", |k| text(&k.kind))),
        ("failure_policy", failure_policy.unwrap_or_default()),
    ];
    labels.extend_from_slice(extra);
    samples.push_labeled(&labels, 1.0);
}

/// An admission policy binding's `_info` sample: the policy it binds and its `paramRef`
/// (empty when unset).
pub fn push_admission_binding_info(
    samples: &mut Samples,
    policy_name: Option<&str>,
    param_ref: Option<&ParamRef>,
) {
    let param = |field: fn(&ParamRef) -> &Option<String>| param_ref.map_or("", |p| text(field(p)));
    samples.push_labeled(
        &[
            ("policy_name", policy_name.unwrap_or_default()),
            ("param_name", param(|p| &p.name)),
            ("param_namespace", param(|p| &p.namespace)),
            (
                "param_not_found_action",
                param(|p| &p.parameter_not_found_action),
            ),
        ],
        1.0,
    );
}

/// Implements `k8s_openapi::Resource` and `Metadata` for a cluster-scoped type (with a
/// `metadata: ObjectMeta` field) defined here because k8s-openapi's API version lacks it.
macro_rules! cluster_resource {
    ($type:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $type {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::ClusterResourceScope;
        }

        impl k8s_openapi::Metadata for $type {
            type Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use cluster_resource;

/// One sample per value in `candidates` under `label`, 1 for `actual` and 0 for the others;
/// nothing when `actual` is unset or empty (phases, as kube-state-metrics reports them).
pub fn push_one_of(
    samples: &mut Samples,
    label: &'static str,
    candidates: &[&str],
    actual: Option<&str>,
) {
    let Some(actual) = actual.filter(|a| !a.is_empty()) else {
        return;
    };
    for candidate in candidates {
        samples.push_labeled(&[(label, candidate)], bool_value(*candidate == actual));
    }
}

/// One sample of 1 per value, each under `label` (access modes, CIDRs).
pub fn push_each(samples: &mut Samples, label: &'static str, values: Option<&[String]>) {
    for value in values.unwrap_or_default() {
        samples.push_labeled(&[(label, value)], 1.0);
    }
}

/// `status_condition` families: [`push_condition`] with a `condition` label for each condition,
/// whose type and status `fields` reads.
pub fn push_conditions<C>(
    samples: &mut Samples,
    conditions: Option<&[C]>,
    fields: fn(&C) -> (&str, &str),
) {
    for c in conditions.unwrap_or_default() {
        let (type_, status) = fields(c);
        push_condition(samples, &[("condition", type_)], status);
    }
}

/// One sample per possible condition status under the single label `label`
/// (`condition="true"`, …), 1 for the actual one.
pub fn push_condition_as(samples: &mut Samples, label: &'static str, status: &str) {
    for (value, wanted) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        samples.push_labeled(&[(label, value)], bool_value(status == wanted));
    }
}

/// An optional timestamp: a sample in Unix seconds only when it is set.
pub fn push_time(samples: &mut Samples, time: Option<&Time>) {
    if let Some(t) = time {
        samples.push(seconds(t));
    }
}

/// For kind tests: the samples of family `name` for an object decoded from `json`, as
/// `label=value,… value` strings.
#[cfg(test)]
pub fn test_family<O: KubeObject>(
    kind: &super::KindDef<O>,
    json: serde_json::Value,
    name: &str,
) -> Vec<String> {
    let object: O = serde_json::from_value(json).expect("test object decodes");
    let index = kind.families.iter().position(|f| f.name == name);
    let samples = kind.samples(
        &object,
        &[index.expect("family exists")],
        &KindOptions::default(),
    );
    samples
        .family(0)
        .map(|(labels, value)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {value}", labels.join(","))
        })
        .collect()
}

/// For metadata-only kinds' unit tests: every family (labels and annotations allowed) gives the
/// same samples for the full object decoded from `json` as for its metadata-only form, which
/// is all a metadata-only watch delivers; and some samples are given.
#[cfg(test)]
pub fn assert_metadata_only<O: KubeObject + Default>(
    kind: &super::KindDef<O>,
    json: serde_json::Value,
) {
    assert_eq!(
        kind.read,
        super::Read::Metadata,
        "{} is not read metadata-only",
        kind.resource
    );
    let full: O = serde_json::from_value(json).expect("test object decodes");
    let mut partial = O::default();
    *k8s_openapi::Metadata::metadata_mut(&mut partial) = meta(&full).clone();
    assert_same_samples(kind, &full, &partial);
}

/// For Table-read kinds' unit tests: every family gives the same samples for the full object
/// decoded from `json` as for its Table form — its metadata and, at each read column's field,
/// that field (the cell the API server prints from it) — and some samples are given.
#[cfg(test)]
pub fn assert_table_read<O: KubeObject>(kind: &super::KindDef<O>, json: serde_json::Value) {
    let super::Read::Table(columns) = kind.read else {
        panic!("{} is not read as Tables", kind.resource)
    };
    let mut row = serde_json::json!({"metadata": json["metadata"]});
    for column in columns {
        row[column.field] = json[column.field].clone();
    }
    let full: O = serde_json::from_value(json).expect("test object decodes");
    let table: O = serde_json::from_value(row).expect("Table form decodes");
    assert_same_samples(kind, &full, &table);
}

/// Every family (labels and annotations allowed) gives some samples for `full`, and the same
/// for `reduced`, the part of it the kind's watch pulls.
#[cfg(test)]
fn assert_same_samples<O: KubeObject>(kind: &super::KindDef<O>, full: &O, reduced: &O) {
    use crate::metric::AllowList;
    let options = KindOptions {
        allow_labels: AllowList::new(["*"]),
        allow_annotations: AllowList::new(["*"]),
        ..KindOptions::default()
    };
    let all: Vec<usize> = (0..kind.families.len()).collect();
    let from_full = kind.samples(full, &all, &options);
    for &index in &all {
        assert!(
            from_full.family(index).next().is_some(),
            "{}: the test object gives no samples for {}",
            kind.resource,
            kind.families[index].name
        );
    }
    assert_eq!(
        from_full,
        kind.samples(reduced, &all, &options),
        "{}: a family reads more than its watch pulls",
        kind.resource
    );
}
