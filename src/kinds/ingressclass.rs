//! IngressClasses.

use k8s_openapi::api::networking::v1::IngressClass;

use super::common::{self, text};
use super::{KindDef, Read};
use crate::metric::Family;

pub static INGRESSCLASSES: KindDef<IngressClass> = KindDef {
    resource: "ingressclasses",
    identity_labels: &["ingressclass"],
    identity: common::name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_ingressclass_info",
            "Information about ingressclass.",
            |c, _, s| {
                let controller = c.spec.as_ref().map(|spec| text(&spec.controller));
                s.push_labeled(&[("controller", controller.unwrap_or_default())], 1.0);
            },
        ),
        Family::experimental(
            "kube_ingressclass_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_ingressclass_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_ingressclass_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};
