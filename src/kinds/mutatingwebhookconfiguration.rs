//! MutatingWebhookConfigurations.

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static MUTATINGWEBHOOKCONFIGURATIONS: KindDef<MutatingWebhookConfiguration> = KindDef {
    resource: "mutatingwebhookconfigurations",
    identity_labels: &["namespace", "mutatingwebhookconfiguration"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_mutatingwebhookconfiguration_info",
            "Information about the MutatingWebhookConfiguration.",
            common::info,
        ),
        Family::experimental(
            "kube_mutatingwebhookconfiguration_created",
            "Unix creation timestamp.",
            common::created,
        ),
        Family::experimental(
            "kube_mutatingwebhookconfiguration_metadata_resource_version",
            "Resource version representing a specific version of the MutatingWebhookConfiguration.",
            common::resource_version,
        ),
        Family::experimental(
            "kube_mutatingwebhookconfiguration_webhook_clientconfig_service",
            "Service used by the apiserver to connect to a mutating webhook.",
            |c, _, s| {
                let webhooks = c.webhooks.iter().flatten();
                common::push_webhook_services(s, webhooks.map(|w| (&*w.name, &w.client_config)));
            },
        ),
    ],
};
