//! DaemonSets.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};

use super::common::{self, push_int};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, SemconvMetric};

pub static DAEMONSETS: KindDef<DaemonSet> = KindDef {
    resource: "daemonsets",
    identity_labels: &["namespace", "daemonset"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.daemonset",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.daemonset.name"],
        uid: Some("k8s.daemonset.uid"),
    }),
    families: &[
        Family::stable(
            "kube_daemonset_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_daemonset_status_current_number_scheduled",
            "The number of nodes running at least one daemon pod and are supposed to.",
            |d, _, s| push_int(s, status(d).map(|st| st.current_number_scheduled)),
        )
        .semconv(&[SemconvMetric::updown("k8s.daemonset.node.current_scheduled", "{node}", "Number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.")]),
        Family::stable(
            "kube_daemonset_status_desired_number_scheduled",
            "The number of nodes that should be running the daemon pod.",
            |d, _, s| push_int(s, status(d).map(|st| st.desired_number_scheduled)),
        )
        .semconv(&[SemconvMetric::updown("k8s.daemonset.node.desired_scheduled", "{node}", "Number of nodes that should be running the daemon pod (including nodes currently running the daemon pod).")]),
        Family::stable(
            "kube_daemonset_status_number_available",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available",
            |d, _, s| push_int(s, status(d).and_then(|st| st.number_available)),
        ),
        Family::stable(
            "kube_daemonset_status_number_misscheduled",
            "The number of nodes running a daemon pod but are not supposed to.",
            |d, _, s| push_int(s, status(d).map(|st| st.number_misscheduled)),
        )
        .semconv(&[SemconvMetric::updown("k8s.daemonset.node.misscheduled", "{node}", "Number of nodes that are running the daemon pod, but are not supposed to run the daemon pod.")]),
        Family::stable(
            "kube_daemonset_status_number_ready",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            |d, _, s| push_int(s, status(d).map(|st| st.number_ready)),
        )
        .semconv(&[SemconvMetric::updown("k8s.daemonset.node.ready", "{node}", "Number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.")]),
        Family::stable(
            "kube_daemonset_status_number_unavailable",
            "The number of nodes that should be running the daemon pod and have none of the daemon pod running and available",
            |d, _, s| push_int(s, status(d).and_then(|st| st.number_unavailable)),
        ),
        Family::stable(
            "kube_daemonset_status_observed_generation",
            "The most recent generation observed by the daemon set controller.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.observed_generation)),
        ),
        Family::stable(
            "kube_daemonset_status_updated_number_scheduled",
            "The total number of nodes that are running updated daemon pod",
            |d, _, s| push_int(s, status(d).and_then(|st| st.updated_number_scheduled)),
        ),
        Family::stable(
            "kube_daemonset_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            common::metadata_generation,
        ),
        Family::experimental(
            "kube_daemonset_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::experimental(
            "kube_daemonset_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_daemonset_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

fn status(d: &DaemonSet) -> Option<&DaemonSetStatus> {
    d.status.as_ref()
}

fn describe_entity(
    d: &DaemonSet,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    entity::push_generic(d, "DaemonSet", options, samples);
}
