//! Endpointss: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::Endpoints;

use super::KindDef;
use super::common;

pub static ENDPOINTS: KindDef<Endpoints> = KindDef {
    resource: "endpoints",
    identity_labels: &["namespace", "endpoint"],
    identity: common::namespace_name,
    families: &[],
};
