//! IngressClasss: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::networking::v1::IngressClass;

use super::KindDef;
use super::common;

pub static INGRESSCLASSES: KindDef<IngressClass> = KindDef {
    resource: "ingressclasses",
    identity_labels: &["ingressclass"],
    identity: common::name,
    families: &[],
};
