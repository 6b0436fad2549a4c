//! ConfigMaps.

use k8s_openapi::api::core::v1::ConfigMap;

use super::KindDef;
use super::common;
use crate::metric::Family;

pub static CONFIGMAPS: KindDef<ConfigMap> = KindDef {
    resource: "configmaps",
    identity_labels: &["namespace", "configmap"],
    identity: common::namespace_name,
    families: &[
        Family::experimental(
            "kube_configmap_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_configmap_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_configmap_info",
            "Information about configmap.",
            common::info,
        ),
        Family::stable(
            "kube_configmap_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_configmap_metadata_resource_version",
            "Resource version representing a specific version of the configmap.",
            common::resource_version,
        ),
    ],
};
