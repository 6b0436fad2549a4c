//! PersistentVolumes: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::PersistentVolume;

use super::KindDef;
use super::common;

pub static PERSISTENTVOLUMES: KindDef<PersistentVolume> = KindDef {
    resource: "persistentvolumes",
    identity_labels: &["persistentvolume"],
    identity: common::name,
    families: &[],
};
