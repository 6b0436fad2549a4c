//! Secrets: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::Secret;

use super::KindDef;
use super::common;

pub static SECRETS: KindDef<Secret> = KindDef {
    resource: "secrets",
    identity_labels: &["namespace", "secret"],
    identity: common::namespace_name,
    families: &[],
};
