//! StatefulSets.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetStatus};

use super::common::{self, push_if_set, push_int};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static STATEFULSETS: KindDef<StatefulSet> = KindDef {
    resource: "statefulsets",
    identity_labels: &["namespace", "statefulset"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.statefulset",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.statefulset.name"],
        uid: Some("k8s.statefulset.uid"),
    }),
    families: &[
        Family::stable(
            "kube_statefulset_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_statefulset_status_replicas",
            "The number of replicas per StatefulSet.",
            |s, _, out| push_int(out, status(s).map(|st| st.replicas)),
        ),
        Family::stable(
            "kube_statefulset_status_replicas_available",
            "The number of available replicas per StatefulSet.",
            |s, _, out| push_int(out, status(s).and_then(|st| st.available_replicas)),
        ),
        Family::stable(
            "kube_statefulset_status_replicas_current",
            "The number of current replicas per StatefulSet.",
            |s, _, out| push_int(out, status(s).and_then(|st| st.current_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.statefulset.pod.current", "{pod}", "The number of replica pods created by the statefulset controller from the statefulset version indicated by currentRevision.")]),
        Family::stable(
            "kube_statefulset_status_replicas_ready",
            "The number of ready replicas per StatefulSet.",
            |s, _, out| push_int(out, status(s).and_then(|st| st.ready_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.statefulset.pod.ready", "{pod}", "The number of replica pods created for this statefulset with a Ready Condition.")]),
        Family::stable(
            "kube_statefulset_status_replicas_updated",
            "The number of updated replicas per StatefulSet.",
            |s, _, out| push_int(out, status(s).and_then(|st| st.updated_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.statefulset.pod.updated", "{pod}", "Number of replica pods created by the statefulset controller from the statefulset version indicated by updateRevision.")]),
        Family::stable(
            "kube_statefulset_status_observed_generation",
            "The generation observed by the StatefulSet controller.",
            |s, _, out| push_int(out, status(s).and_then(|st| st.observed_generation)),
        ),
        Family::stable(
            "kube_statefulset_replicas",
            "Number of desired pods for a StatefulSet.",
            |s, _, out| push_if_set(out, spec(s).and_then(|sp| sp.replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.statefulset.pod.desired", "{pod}", "Number of desired replica pods in this statefulset.")]),
        Family::stable(
            "kube_statefulset_ordinals_start",
            "Start ordinal of the StatefulSet.",
            |s, _, out| {
                if let Some(ordinals) = spec(s).and_then(|sp| sp.ordinals.as_ref()) {
                    push_int(out, ordinals.start);
                }
            },
        ),
        Family::stable(
            "kube_statefulset_metadata_generation",
            "Sequence number representing a specific generation of the desired state for the StatefulSet.",
            common::metadata_generation,
        ),
        Family::stable(
            "kube_statefulset_persistentvolumeclaim_retention_policy",
            "Count of retention policy for StatefulSet template PVCs",
            retention_policy,
        ),
        Family::stable(
            "kube_statefulset_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_statefulset_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_statefulset_status_current_revision",
            "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).",
            |s, _, out| revision(out, status(s).and_then(|st| st.current_revision.as_deref())),
        ),
        Family::stable(
            "kube_statefulset_status_update_revision",
            "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)",
            |s, _, out| revision(out, status(s).and_then(|st| st.update_revision.as_deref())),
        ),
        Family::stable(
            "kube_statefulset_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
    ],
};

fn spec(s: &StatefulSet) -> Option<&StatefulSetSpec> {
    s.spec.as_ref()
}

fn status(s: &StatefulSet) -> Option<&StatefulSetStatus> {
    s.status.as_ref()
}

/// Always one sample: kube-state-metrics reports an unset revision as an empty label.
fn revision(samples: &mut Samples, revision: Option<&str>) {
    samples.push_labeled(&[("revision", revision.unwrap_or_default())], 1.0);
}

/// One sample when either policy is set; unset ones are empty labels.
fn retention_policy(s: &StatefulSet, _: &KindOptions, samples: &mut Samples) {
    let policy = spec(s).and_then(|sp| sp.persistent_volume_claim_retention_policy.as_ref());
    let when_deleted = policy
        .and_then(|p| p.when_deleted.as_deref())
        .unwrap_or_default();
    let when_scaled = policy
        .and_then(|p| p.when_scaled.as_deref())
        .unwrap_or_default();
    if !when_deleted.is_empty() || !when_scaled.is_empty() {
        samples.push_labeled(
            &[("when_deleted", when_deleted), ("when_scaled", when_scaled)],
            1.0,
        );
    }
}

/// The receiver's statefulset entity: the generic one and the current and update revisions.
fn describe_entity(
    s: &StatefulSet,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    if let Some(mut attributes) = entity::generic(s, "StatefulSet", options) {
        let status = s.status.as_ref();
        let current = status.and_then(|s| s.current_revision.as_deref());
        let update = status.and_then(|s| s.update_revision.as_deref());
        attributes.set("current_revision", current.unwrap_or_default());
        attributes.set("update_revision", update.unwrap_or_default());
        attributes.push(samples, entity::OBJECT);
    }
}
