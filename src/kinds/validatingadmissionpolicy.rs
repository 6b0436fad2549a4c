//! ValidatingAdmissionPolicies.

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static VALIDATINGADMISSIONPOLICIES: KindDef<ValidatingAdmissionPolicy> = KindDef {
    resource: "validatingadmissionpolicies",
    identity_labels: &["namespace", "validatingadmissionpolicy"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_validatingadmissionpolicy_info",
            "Information about the ValidatingAdmissionPolicy.",
            |p, _, s| {
                let spec = p.spec.as_ref();
                let param_kind = spec.and_then(|sp| sp.param_kind.as_ref());
                let failure_policy = spec.and_then(|sp| sp.failure_policy.as_deref());
                common::push_admission_policy_info(s, param_kind, failure_policy, &[]);
            },
        ),
        Family::experimental(
            "kube_validatingadmissionpolicy_created",
            "Unix creation timestamp.",
            common::created,
        ),
    ],
};
