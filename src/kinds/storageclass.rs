//! StorageClasss: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::storage::v1::StorageClass;

use super::KindDef;
use super::common;

pub static STORAGECLASSES: KindDef<StorageClass> = KindDef {
    resource: "storageclasses",
    identity_labels: &["storageclass"],
    identity: common::name,
    families: &[],
};
