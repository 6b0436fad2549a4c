//! MutatingWebhookConfigurations: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;

use super::KindDef;
use super::common;

pub static MUTATINGWEBHOOKCONFIGURATIONS: KindDef<MutatingWebhookConfiguration> = KindDef {
    resource: "mutatingwebhookconfigurations",
    identity_labels: &["namespace", "mutatingwebhookconfiguration"],
    identity: common::namespace_name,
    families: &[],
};
