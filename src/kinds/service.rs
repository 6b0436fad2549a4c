//! Services: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::Service;

use super::KindDef;
use super::common;

pub static SERVICES: KindDef<Service> = KindDef {
    resource: "services",
    identity_labels: &["namespace", "service"],
    identity: common::namespace_name,
    families: &[],
};
