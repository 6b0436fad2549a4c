//! ServiceAccounts.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::common::{self, bool_label, text};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static SERVICEACCOUNTS: KindDef<ServiceAccount> = KindDef {
    resource: "serviceaccounts",
    identity_labels: &["namespace", "serviceaccount", "uid"],
    identity: common::namespace_name_uid,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_serviceaccount_info",
            "Information about a service account",
            |sa, _, s| {
                // Unset means "defer to the pod", reported as empty rather than false.
                let automount = sa.automount_service_account_token.map_or("", bool_label);
                s.push_labeled(&[("automount_token", automount)], 1.0);
            },
        ),
        Family::experimental(
            "kube_serviceaccount_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_serviceaccount_deleted",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::experimental(
            "kube_serviceaccount_secret",
            "Secret being referenced by a service account",
            secret,
        ),
        Family::experimental(
            "kube_serviceaccount_image_pull_secret",
            "Secret being referenced by a service account for the purpose of pulling images",
            image_pull_secret,
        ),
        Family::experimental(
            "kube_serviceaccount_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_serviceaccount_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

fn secret(sa: &ServiceAccount, _: &KindOptions, samples: &mut Samples) {
    for s in sa.secrets.iter().flatten() {
        samples.push_labeled(&[("name", text(&s.name))], 1.0);
    }
}

fn image_pull_secret(sa: &ServiceAccount, _: &KindOptions, samples: &mut Samples) {
    for s in sa.image_pull_secrets.iter().flatten() {
        samples.push_labeled(&[("name", &s.name)], 1.0);
    }
}
