//! EndpointSlices: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::KindDef;
use super::common;

pub static ENDPOINTSLICES: KindDef<EndpointSlice> = KindDef {
    resource: "endpointslices",
    identity_labels: &["endpointslice"],
    identity: common::name,
    families: &[],
};
