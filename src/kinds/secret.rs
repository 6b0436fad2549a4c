//! Secrets.

use k8s_openapi::api::core::v1::Secret;

use super::KindDef;
use super::common::{self, text};
use crate::metric::Family;

pub static SECRETS: KindDef<Secret> = KindDef {
    resource: "secrets",
    identity_labels: &["namespace", "secret"],
    identity: common::namespace_name,
    metadata_only: false,
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
