//! ClusterRoleBindings.

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static CLUSTERROLEBINDINGS: KindDef<ClusterRoleBinding> = KindDef {
    resource: "clusterrolebindings",
    identity_labels: &["clusterrolebinding"],
    identity: common::name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_clusterrolebinding_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_clusterrolebinding_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_clusterrolebinding_info",
            "Information about clusterrolebinding.",
            |crb, _, s| common::push_role_ref(s, &crb.role_ref),
        ),
        Family::experimental(
            "kube_clusterrolebinding_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_clusterrolebinding_metadata_resource_version",
            "Resource version representing a specific version of the clusterrolebinding.",
            common::resource_version,
        ),
    ],
};
