//! Roles: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::rbac::v1::Role;

use super::KindDef;
use super::common;

pub static ROLES: KindDef<Role> = KindDef {
    resource: "roles",
    identity_labels: &["namespace", "role"],
    identity: common::namespace_name,
    families: &[],
};
