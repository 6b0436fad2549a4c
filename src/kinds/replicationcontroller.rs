//! ReplicationControllers.

use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerStatus};

use super::common::{self, push_if_set, push_int};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, SemconvMetric};

pub static REPLICATIONCONTROLLERS: KindDef<ReplicationController> = KindDef {
    resource: "replicationcontrollers",
    identity_labels: &["namespace", "replicationcontroller"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.replicationcontroller",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.replicationcontroller.name"],
        uid: Some("k8s.replicationcontroller.uid"),
    }),
    families: &[
        Family::stable(
            "kube_replicationcontroller_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_replicationcontroller_status_replicas",
            "The number of replicas per ReplicationController.",
            |r, _, s| push_int(s, status(r).map(|st| st.replicas)),
        ),
        Family::stable(
            "kube_replicationcontroller_status_fully_labeled_replicas",
            "The number of fully labeled replicas per ReplicationController.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.fully_labeled_replicas)),
        ),
        Family::stable(
            "kube_replicationcontroller_status_ready_replicas",
            "The number of ready replicas per ReplicationController.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.ready_replicas)),
        ),
        Family::stable(
            "kube_replicationcontroller_status_available_replicas",
            "The number of available replicas per ReplicationController.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.available_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.replicationcontroller.pod.available", "{pod}", "Total number of available replica pods (ready for at least minReadySeconds) targeted by this replication controller.")]),
        Family::stable(
            "kube_replicationcontroller_status_observed_generation",
            "The generation observed by the ReplicationController controller.",
            |r, _, s| push_int(s, status(r).and_then(|st| st.observed_generation)),
        ),
        Family::stable(
            "kube_replicationcontroller_spec_replicas",
            "Number of desired pods for a ReplicationController.",
            |r: &ReplicationController, _, s| {
                push_if_set(s, r.spec.as_ref().and_then(|spec| spec.replicas))
            },
        )
        .semconv(&[SemconvMetric::updown("k8s.replicationcontroller.pod.desired", "{pod}", "Number of desired replica pods in this replication controller.")]),
        Family::stable(
            "kube_replicationcontroller_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            common::metadata_generation,
        ),
        Family::experimental(
            "kube_replicationcontroller_owner",
            "Information about the ReplicationController's owner.",
            common::owner,
        ),
    ],
};

fn status(r: &ReplicationController) -> Option<&ReplicationControllerStatus> {
    r.status.as_ref()
}

fn describe_entity(
    r: &ReplicationController,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    entity::push_generic(r, "ReplicationController", options, samples);
}
