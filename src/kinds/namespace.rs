//! Namespaces.

use k8s_openapi::api::core::v1::Namespace;

use super::common::{self, push_condition};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static NAMESPACES: KindDef<Namespace> = KindDef {
    resource: "namespaces",
    identity_labels: &["namespace"],
    identity: common::name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.namespace",
        describe: describe_entity,
    }),
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

/// The receiver's namespace entity: name, phase (lower case, `unknown` when unset) and
/// creation time; no labels.
fn describe_entity(
    ns: &Namespace,
    _: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    let Some(mut attributes) = entity::Attributes::of(ns, "k8s.namespace.uid") else {
        return;
    };
    attributes.set(
        entity::NAMESPACE_NAME,
        ns.metadata.name.as_deref().unwrap_or_default(),
    );
    let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
    let phase = phase.filter(|p| !p.is_empty()).map(str::to_lowercase);
    attributes.set("k8s.namespace.phase", phase.as_deref().unwrap_or("unknown"));
    attributes.set(
        "k8s.namespace.creation_timestamp",
        &entity::rfc3339(ns.metadata.creation_timestamp.as_ref()),
    );
    attributes.push(samples, entity::OBJECT);
}
