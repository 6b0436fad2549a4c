//! RoleBindings: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::rbac::v1::RoleBinding;

use super::KindDef;
use super::common;

pub static ROLEBINDINGS: KindDef<RoleBinding> = KindDef {
    resource: "rolebindings",
    identity_labels: &["namespace", "rolebinding"],
    identity: common::namespace_name,
    families: &[],
};
