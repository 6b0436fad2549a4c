//! MutatingAdmissionPolicyBindings.

use k8s_openapi::api::admissionregistration::v1::ParamRef;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

/// `admissionregistration.k8s.io/v1` MutatingAdmissionPolicyBinding, which the Kubernetes API
/// version k8s-openapi is built for lacks: only the fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicyBinding {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<MutatingAdmissionPolicyBindingSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicyBindingSpec {
    pub policy_name: Option<String>,
    pub param_ref: Option<ParamRef>,
}

common::cluster_resource!(
    MutatingAdmissionPolicyBinding,
    "admissionregistration.k8s.io",
    "v1",
    "MutatingAdmissionPolicyBinding",
    "mutatingadmissionpolicybindings"
);

pub static MUTATINGADMISSIONPOLICYBINDINGS: KindDef<MutatingAdmissionPolicyBinding> = KindDef {
    resource: "mutatingadmissionpolicybindings",
    identity_labels: &["namespace", "mutatingadmissionpolicybinding"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_mutatingadmissionpolicybinding_info",
            "Information about the MutatingAdmissionPolicyBinding.",
            |b, _, s| {
                let spec = b.spec.as_ref();
                let policy = spec.and_then(|sp| sp.policy_name.as_deref());
                common::push_admission_binding_info(
                    s,
                    policy,
                    spec.and_then(|sp| sp.param_ref.as_ref()),
                );
            },
        ),
        Family::experimental(
            "kube_mutatingadmissionpolicybinding_created",
            "Unix creation timestamp.",
            common::created,
        ),
    ],
};
