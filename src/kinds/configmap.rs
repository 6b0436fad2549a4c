//! ConfigMaps.

use k8s_openapi::api::core::v1::ConfigMap;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static CONFIGMAPS: KindDef<ConfigMap> = KindDef {
    resource: "configmaps",
    identity_labels: &["namespace", "configmap"],
    identity: common::namespace_name,
    read: Read::Metadata,
    entity_events: None,
    entity: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_read_only_metadata() {
        common::assert_metadata_only(
            &CONFIGMAPS,
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "n", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "a"}, "annotations": {"note": "x"}},
                "data": {"big": "0123456789"}, "binaryData": {"b": "AAEC"}
            }),
        );
    }
}
