//! StatefulSets: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::apps::v1::StatefulSet;

use super::KindDef;
use super::common;

pub static STATEFULSETS: KindDef<StatefulSet> = KindDef {
    resource: "statefulsets",
    identity_labels: &["namespace", "statefulset"],
    identity: common::namespace_name,
    families: &[],
};
