//! ClusterRoles: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::rbac::v1::ClusterRole;

use super::KindDef;
use super::common;

pub static CLUSTERROLES: KindDef<ClusterRole> = KindDef {
    resource: "clusterroles",
    identity_labels: &["clusterrole"],
    identity: common::name,
    families: &[],
};
