//! Ingresss: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::networking::v1::Ingress;

use super::KindDef;
use super::common;

pub static INGRESSES: KindDef<Ingress> = KindDef {
    resource: "ingresses",
    identity_labels: &["namespace", "ingress"],
    identity: common::namespace_name,
    families: &[],
};
