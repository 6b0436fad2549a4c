//! Namespaces.

use k8s_openapi::api::core::v1::Namespace;

use super::common::{self, push_condition};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static NAMESPACES: KindDef<Namespace> = KindDef {
    resource: "namespaces",
    identity_labels: &["namespace"],
    identity: common::name,
    read: Read::Objects,
    entity: Some(Entity {
        identity: &["k8s.namespace.name"],
        uid: None,
    }),
    families: &[
        Family::experimental(
            "kube_namespace_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_namespace_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_namespace_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_namespace_status_phase",
            "kubernetes namespace status phase.",
            status_phase,
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.namespace.phase",
            "{namespace}",
            "Describes number of K8s namespaces that are currently in a given phase.",
        )
        .attributes(&[Attr::Map(
            "phase",
            "k8s.namespace.phase",
            &[("Active", "active"), ("Terminating", "terminating")],
        )])]),
        Family::experimental(
            "kube_namespace_status_condition",
            "The condition of a namespace.",
            status_condition,
        ),
    ],
};

/// Both phases, always: kube-state-metrics reports 0 for each when `status.phase` is unset.
fn status_phase(ns: &Namespace, _: &KindOptions, samples: &mut Samples) {
    let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
    for candidate in ["Active", "Terminating"] {
        samples.push_labeled(
            &[("phase", candidate)],
            common::bool_value(phase == Some(candidate)),
        );
    }
}

fn status_condition(ns: &Namespace, _: &KindOptions, samples: &mut Samples) {
    let conditions = ns.status.as_ref().and_then(|s| s.conditions.as_deref());
    for c in conditions.unwrap_or_default() {
        push_condition(samples, &[("condition", &c.type_)], &c.status);
    }
}
