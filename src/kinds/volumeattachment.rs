//! VolumeAttachments.

use std::collections::BTreeMap;

use k8s_openapi::api::storage::v1::{VolumeAttachment, VolumeAttachmentStatus};

use super::common;
use super::{KindDef, Read};
use crate::metric::{AllowList, Family, KindOptions, Samples};

pub static VOLUMEATTACHMENTS: KindDef<VolumeAttachment> = KindDef {
    resource: "volumeattachments",
    identity_labels: &["volumeattachment"],
    identity: common::name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_volumeattachment_labels",
            "Kubernetes labels converted to Prometheus labels.",
            |va, _, s| push_map(s, "label", va.metadata.labels.as_ref()),
        ),
        Family::experimental(
            "kube_volumeattachment_info",
            "Information about volumeattachment.",
            info,
        ),
        Family::experimental(
            "kube_volumeattachment_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_volumeattachment_spec_source_persistentvolume",
            "PersistentVolume source reference.",
            source_persistentvolume,
        ),
        Family::experimental(
            "kube_volumeattachment_status_attached",
            "Information about volumeattachment.",
            |va, _, s| s.push(common::bool_value(status(va).is_some_and(|st| st.attached))),
        ),
        Family::experimental(
            "kube_volumeattachment_status_attachment_metadata",
            "volumeattachment metadata.",
            |va, _, s| {
                let metadata = status(va).and_then(|st| st.attachment_metadata.as_ref());
                push_map(s, "metadata", metadata);
            },
        ),
    ],
};

fn status(va: &VolumeAttachment) -> Option<&VolumeAttachmentStatus> {
    va.status.as_ref()
}

/// Every entry of `map` as a `prefix_<key>` label on one sample. Unlike other kinds'
/// `_labels`, kube-state-metrics applies no allowlist here.
fn push_map(samples: &mut Samples, prefix: &str, map: Option<&BTreeMap<String, String>>) {
    samples.push_dynamic(AllowList::new(["*"]).prometheus_labels(prefix, map), 1.0);
}

fn info(va: &VolumeAttachment, _: &KindOptions, samples: &mut Samples) {
    samples.push_labeled(
        &[
            ("attacher", &va.spec.attacher),
            ("node", &va.spec.node_name),
        ],
        1.0,
    );
}

fn source_persistentvolume(va: &VolumeAttachment, _: &KindOptions, samples: &mut Samples) {
    if let Some(volume) = &va.spec.source.persistent_volume_name {
        samples.push_labeled(&[("volumename", volume)], 1.0);
    }
}
