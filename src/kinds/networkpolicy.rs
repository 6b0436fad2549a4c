//! NetworkPolicys: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::KindDef;
use super::common;

pub static NETWORKPOLICIES: KindDef<NetworkPolicy> = KindDef {
    resource: "networkpolicies",
    identity_labels: &["namespace", "networkpolicy"],
    identity: common::namespace_name,
    families: &[],
};
