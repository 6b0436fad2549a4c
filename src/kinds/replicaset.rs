//! ReplicaSets (families to be filled in).

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::KindDef;
use super::common;

pub static REPLICASETS: KindDef<ReplicaSet> = KindDef {
    resource: "replicasets",
    identity_labels: &["replicaset"],
    identity: common::name,
    families: &[],
};
