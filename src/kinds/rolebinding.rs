//! RoleBindings.

use k8s_openapi::api::rbac::v1::RoleBinding;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static ROLEBINDINGS: KindDef<RoleBinding> = KindDef {
    resource: "rolebindings",
    identity_labels: &["namespace", "rolebinding"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_rolebinding_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_rolebinding_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_rolebinding_info",
            "Information about rolebinding.",
            |rb, _, s| common::push_role_ref(s, &rb.role_ref),
        ),
        Family::experimental(
            "kube_rolebinding_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_rolebinding_metadata_resource_version",
            "Resource version representing a specific version of the rolebinding.",
            common::resource_version,
        ),
    ],
};
