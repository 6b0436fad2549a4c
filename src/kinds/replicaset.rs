//! ReplicaSets.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};

use super::common::{self, push_if_set, push_int};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, SemconvMetric};

pub static REPLICASETS: KindDef<ReplicaSet> = KindDef {
    resource: "replicasets",
    identity_labels: &["namespace", "replicaset"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.replicaset",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.replicaset.name"],
        uid: Some("k8s.replicaset.uid"),
    }),
    families: &[
        Family::stable(
            "kube_replicaset_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_replicaset_status_replicas",
            "The number of replicas per ReplicaSet.",
            |r, _, s| push_int(s, status(r).map(|st| st.replicas)),
        ),
        Family::stable(
            "kube_replicaset_status_fully_labeled_replicas",
            "The number of fully labeled replicas per ReplicaSet.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.fully_labeled_replicas)),
        ),
        Family::stable(
            "kube_replicaset_status_ready_replicas",
            "The number of ready replicas per ReplicaSet.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.ready_replicas)),
        ),
        Family::experimental(
            "kube_replicaset_status_terminating_replicas",
            "The number of terminating replicas per ReplicaSet.",
            |r, _, s| push_if_set(s, status(r).and_then(|st| st.terminating_replicas)),
        ),
        Family::stable(
            "kube_replicaset_status_observed_generation",
            "The generation observed by the ReplicaSet controller.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.observed_generation)),
        ),
        Family::stable(
            "kube_replicaset_spec_replicas",
            "Number of desired pods for a ReplicaSet.",
            |r: &ReplicaSet, _, s| push_if_set(s, r.spec.as_ref().and_then(|spec| spec.replicas)),
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.replicaset.pod.desired",
            "{pod}",
            "Number of desired replica pods in this replicaset.",
        )]),
        Family::stable(
            "kube_replicaset_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            common::metadata_generation,
        ),
        Family::stable(
            "kube_replicaset_owner",
            "Information about the ReplicaSet's owner.",
            common::owner,
        ),
        Family::experimental(
            "kube_replicaset_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_replicaset_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::semconv_only(
            "The number of available replicas per ReplicaSet.",
            &[SemconvMetric::updown(
                "k8s.replicaset.pod.available",
                "{pod}",
                "Total number of available replica pods (ready for at least minReadySeconds) targeted by this replicaset.",
            )],
            |r, _, s| push_int(s, status(r).and_then(|st| st.available_replicas)),
        ),
    ],
};

fn status(r: &ReplicaSet) -> Option<&ReplicaSetStatus> {
    r.status.as_ref()
}

fn describe_entity(
    r: &ReplicaSet,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    entity::push_generic(r, "ReplicaSet", options, samples);
}
