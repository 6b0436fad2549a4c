//! NetworkPolicies.

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::common;
use super::{KindDef, Read};
use crate::metric::Family;

pub static NETWORKPOLICIES: KindDef<NetworkPolicy> = KindDef {
    resource: "networkpolicies",
    identity_labels: &["namespace", "networkpolicy"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_networkpolicy_created",
            "Unix creation timestamp of network policy",
            common::created,
        ),
        Family::experimental(
            "kube_networkpolicy_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_networkpolicy_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_networkpolicy_spec_ingress_rules",
            "Number of ingress rules on the networkpolicy",
            |p, _, s| s.push(count(p.spec.as_ref().and_then(|sp| sp.ingress.as_deref()))),
        ),
        Family::experimental(
            "kube_networkpolicy_spec_egress_rules",
            "Number of egress rules on the networkpolicy",
            |p, _, s| s.push(count(p.spec.as_ref().and_then(|sp| sp.egress.as_deref()))),
        ),
    ],
};

/// The number of rules; an unset list has none.
fn count<T>(rules: Option<&[T]>) -> f64 {
    rules.map_or(0, <[T]>::len) as f64
}
