//! ValidatingAdmissionPolicyBindings.

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static VALIDATINGADMISSIONPOLICYBINDINGS: KindDef<ValidatingAdmissionPolicyBinding> = KindDef {
    resource: "validatingadmissionpolicybindings",
    identity_labels: &["namespace", "validatingadmissionpolicybinding"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_validatingadmissionpolicybinding_info",
            "Information about the ValidatingAdmissionPolicyBinding.",
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
            "kube_validatingadmissionpolicybinding_created",
            "Unix creation timestamp.",
            common::created,
        ),
        Family::experimental(
            "kube_validatingadmissionpolicybinding_validation_action",
            "Validation actions for the ValidatingAdmissionPolicyBinding.",
            |b, _, s| {
                let spec = b.spec.as_ref();
                common::push_each(
                    s,
                    "action",
                    spec.and_then(|sp| sp.validation_actions.as_deref()),
                );
            },
        ),
    ],
};
