//! ClusterRoles.

use k8s_openapi::api::rbac::v1::ClusterRole;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static CLUSTERROLES: KindDef<ClusterRole> = KindDef {
    resource: "clusterroles",
    identity_labels: &["clusterrole"],
    identity: common::name,
    read: Read::Metadata,
    entity_events: None,
    entity: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_read_only_metadata() {
        common::assert_metadata_only(
            &CLUSTERROLES,
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "n", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "a"}, "annotations": {"note": "x"}},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}
            }),
        );
    }
}
