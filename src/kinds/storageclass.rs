//! StorageClasses.

use k8s_openapi::api::storage::v1::StorageClass;

use super::common;
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static STORAGECLASSES: KindDef<StorageClass> = KindDef {
    resource: "storageclasses",
    identity_labels: &["storageclass"],
    identity: common::name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::stable(
            "kube_storageclass_info",
            "Information about storageclass.",
            info,
        ),
        Family::stable(
            "kube_storageclass_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_storageclass_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_storageclass_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

/// Unset policies are reported as the API server's defaults, as kube-state-metrics does.
fn info(sc: &StorageClass, _: &KindOptions, samples: &mut Samples) {
    samples.push_labeled(
        &[
            ("provisioner", &sc.provisioner),
            (
                "reclaim_policy",
                sc.reclaim_policy.as_deref().unwrap_or("Delete"),
            ),
            (
                "volume_binding_mode",
                sc.volume_binding_mode.as_deref().unwrap_or("Immediate"),
            ),
        ],
        1.0,
    );
}
