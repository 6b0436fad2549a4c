//! ValidatingWebhookConfigurations: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;

use super::KindDef;
use super::common;

pub static VALIDATINGWEBHOOKCONFIGURATIONS: KindDef<ValidatingWebhookConfiguration> = KindDef {
    resource: "validatingwebhookconfigurations",
    identity_labels: &["namespace", "validatingwebhookconfiguration"],
    identity: common::namespace_name,
    families: &[],
};
