//! DaemonSets: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::apps::v1::DaemonSet;

use super::KindDef;
use super::common;

pub static DAEMONSETS: KindDef<DaemonSet> = KindDef {
    resource: "daemonsets",
    identity_labels: &["namespace", "daemonset"],
    identity: common::namespace_name,
    families: &[],
};
