//! LimitRanges: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::LimitRange;

use super::KindDef;
use super::common;

pub static LIMITRANGES: KindDef<LimitRange> = KindDef {
    resource: "limitranges",
    identity_labels: &["namespace", "limitrange"],
    identity: common::namespace_name,
    families: &[],
};
