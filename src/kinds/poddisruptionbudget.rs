//! PodDisruptionBudgets.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};

use super::common::{self, push_int};
use super::{KindDef, Read};
use crate::metric::Family;

pub static PODDISRUPTIONBUDGETS: KindDef<PodDisruptionBudget> = KindDef {
    resource: "poddisruptionbudgets",
    identity_labels: &["namespace", "poddisruptionbudget"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_poddisruptionbudget_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_poddisruptionbudget_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_poddisruptionbudget_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_poddisruptionbudget_status_current_healthy",
            "Current number of healthy pods",
            |p, _, s| push_int(s, status(p).map(|st| st.current_healthy)),
        ),
        Family::stable(
            "kube_poddisruptionbudget_status_desired_healthy",
            "Minimum desired number of healthy pods",
            |p, _, s| push_int(s, status(p).map(|st| st.desired_healthy)),
        ),
        Family::stable(
            "kube_poddisruptionbudget_status_pod_disruptions_allowed",
            "Number of pod disruptions that are currently allowed",
            |p, _, s| push_int(s, status(p).map(|st| st.disruptions_allowed)),
        ),
        Family::stable(
            "kube_poddisruptionbudget_status_expected_pods",
            "Total number of pods counted by this disruption budget",
            |p, _, s| push_int(s, status(p).map(|st| st.expected_pods)),
        ),
        Family::stable(
            "kube_poddisruptionbudget_status_observed_generation",
            "Most recent generation observed when updating this PDB status",
            |p, _, s| push_int(s, status(p).and_then(|st| st.observed_generation)),
        ),
        Family::experimental(
            "kube_poddisruptionbudget_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
    ],
};

fn status(p: &PodDisruptionBudget) -> Option<&PodDisruptionBudgetStatus> {
    p.status.as_ref()
}
