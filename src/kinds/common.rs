//! Families and helpers every kind shares, written once.

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
