//! ClusterRoles.

use k8s_openapi::api::rbac::v1::ClusterRole;

use super::KindDef;
use super::common;
use crate::metric::Family;

pub static CLUSTERROLES: KindDef<ClusterRole> = KindDef {
    resource: "clusterroles",
    identity_labels: &["clusterrole"],
    identity: common::name,
    families: &[
        Family::experimental(
            "kube_clusterrole_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_clusterrole_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_clusterrole_info",
            "Information about cluster role.",
            common::info,
        ),
        Family::experimental(
            "kube_clusterrole_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_clusterrole_metadata_resource_version",
            "Resource version representing a specific version of the cluster role.",
            common::resource_version,
        ),
    ],
};
