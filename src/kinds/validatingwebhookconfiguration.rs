//! ValidatingWebhookConfigurations.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static VALIDATINGWEBHOOKCONFIGURATIONS: KindDef<ValidatingWebhookConfiguration> = KindDef {
    resource: "validatingwebhookconfigurations",
    identity_labels: &["namespace", "validatingwebhookconfiguration"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_validatingwebhookconfiguration_info",
            "Information about the ValidatingWebhookConfiguration.",
            common::info,
        ),
        Family::experimental(
            "kube_validatingwebhookconfiguration_created",
            "Unix creation timestamp.",
            common::created,
        ),
        Family::experimental(
            "kube_validatingwebhookconfiguration_metadata_resource_version",
            "Resource version representing a specific version of the ValidatingWebhookConfiguration.",
            common::resource_version,
        ),
        Family::experimental(
            "kube_validatingwebhookconfiguration_webhook_clientconfig_service",
            "Service used by the apiserver to connect to a validating webhook.",
            |c, _, s| {
                let webhooks = c.webhooks.iter().flatten();
                common::push_webhook_services(s, webhooks.map(|w| (&*w.name, &w.client_config)));
            },
        ),
    ],
};
