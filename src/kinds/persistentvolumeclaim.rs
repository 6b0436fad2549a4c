//! PersistentVolumeClaims: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use super::KindDef;
use super::common;

pub static PERSISTENTVOLUMECLAIMS: KindDef<PersistentVolumeClaim> = KindDef {
    resource: "persistentvolumeclaims",
    identity_labels: &["namespace", "persistentvolumeclaim"],
    identity: common::namespace_name,
    families: &[],
};
