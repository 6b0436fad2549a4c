//! Secrets, read as server-side Tables: the families need `.type` besides metadata, and the
//! API server prints it as the `Type` column, so a Secret's data is never sent.

use k8s_openapi::api::core::v1::Secret;

use super::common::{self, text};
use super::{KindDef, Read, TableColumn};
use crate::metric::Family;

pub static SECRETS: KindDef<Secret> = KindDef {
    resource: "secrets",
    identity_labels: &["namespace", "secret"],
    identity: common::namespace_name,
    read: Read::Table(&[TableColumn {
        column: "Type",
        field: "type",
    }]),
    entity_events: None,
    entity: None,
    families: &[
        Family::stable(
            "kube_secret_info",
            "Information about secret.",
            common::info,
        ),
        Family::stable("kube_secret_type", "Type about secret.", |secret, _, s| {
            s.push_labeled(&[("type", text(&secret.type_))], 1.0)
        }),
        Family::experimental(
            "kube_secret_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_secret_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_secret_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_secret_metadata_resource_version",
            "Resource version representing a specific version of secret.",
            common::resource_version,
        ),
        Family::experimental(
            "kube_secret_owner",
            "Information about the Secret's owner.",
            common::owner,
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_read_only_metadata_and_the_type_column() {
        common::assert_table_read(
            &SECRETS,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "n", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "a"}, "annotations": {"note": "x"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p",
                                              "uid": "u2", "controller": true}]},
                "data": {"tls.key": "c2VjcmV0"}, "stringData": {"k": "v"}, "immutable": true
            }),
        );
    }
}
