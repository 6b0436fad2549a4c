//! ValidatingAdmissionPolicyBindings: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;

use super::KindDef;
use super::common;

pub static VALIDATINGADMISSIONPOLICYBINDINGS: KindDef<ValidatingAdmissionPolicyBinding> = KindDef {
    resource: "validatingadmissionpolicybindings",
    identity_labels: &["namespace", "validatingadmissionpolicybinding"],
    identity: common::namespace_name,
    families: &[],
};
