//! Roles.

use k8s_openapi::api::rbac::v1::Role;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static ROLES: KindDef<Role> = KindDef {
    resource: "roles",
    identity_labels: &["namespace", "role"],
    identity: common::namespace_name,
    read: Read::Metadata,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_role_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_role_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental("kube_role_info", "Information about role.", common::info),
        Family::experimental(
            "kube_role_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_role_metadata_resource_version",
            "Resource version representing a specific version of the role.",
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
            &ROLES,
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "n", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "a"}, "annotations": {"note": "x"}},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
            }),
        );
    }
}
