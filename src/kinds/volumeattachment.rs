//! VolumeAttachments: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::storage::v1::VolumeAttachment;

use super::KindDef;
use super::common;

pub static VOLUMEATTACHMENTS: KindDef<VolumeAttachment> = KindDef {
    resource: "volumeattachments",
    identity_labels: &["volumeattachment"],
    identity: common::name,
    families: &[],
};
