//! ClusterRoleBindings: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use super::KindDef;
use super::common;

pub static CLUSTERROLEBINDINGS: KindDef<ClusterRoleBinding> = KindDef {
    resource: "clusterrolebindings",
    identity_labels: &["clusterrolebinding"],
    identity: common::name,
    families: &[],
};
