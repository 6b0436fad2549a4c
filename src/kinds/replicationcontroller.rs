//! ReplicationControllers: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::ReplicationController;

use super::KindDef;
use super::common;

pub static REPLICATIONCONTROLLERS: KindDef<ReplicationController> = KindDef {
    resource: "replicationcontrollers",
    identity_labels: &["namespace", "replicationcontroller"],
    identity: common::namespace_name,
    families: &[],
};
