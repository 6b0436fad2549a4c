//! ValidatingAdmissionPolicys: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;

use super::KindDef;
use super::common;

pub static VALIDATINGADMISSIONPOLICIES: KindDef<ValidatingAdmissionPolicy> = KindDef {
    resource: "validatingadmissionpolicies",
    identity_labels: &["namespace", "validatingadmissionpolicy"],
    identity: common::namespace_name,
    families: &[],
};
