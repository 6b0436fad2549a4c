//! ResourceQuotas: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::ResourceQuota;

use super::KindDef;
use super::common;

pub static RESOURCEQUOTAS: KindDef<ResourceQuota> = KindDef {
    resource: "resourcequotas",
    identity_labels: &["namespace", "resourcequota"],
    identity: common::namespace_name,
    families: &[],
};
