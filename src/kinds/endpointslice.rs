//! EndpointSlices.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};

use super::common::{self, bool_label, text};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples, Text, intern};

pub static ENDPOINTSLICES: KindDef<EndpointSlice> = KindDef {
    resource: "endpointslices",
    identity_labels: &["endpointslice", "namespace"],
    identity: name_namespace,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_endpointslice_info",
            "Information about endpointslice.",
            |s, _, samples| samples.push_labeled(&[("addresstype", &s.address_type)], 1.0),
        ),
        Family::experimental(
            "kube_endpointslice_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_endpointslice_endpoints_hints",
            "Topology routing hints attached to endpoints",
            endpoints_hints,
        ),
        Family::experimental(
            "kube_endpointslice_endpoints",
            "Endpoints attached to the endpointslice.",
            endpoints,
        ),
        Family::experimental(
            "kube_endpointslice_ports",
            "Ports attached to the endpointslice.",
            |s, _, samples| {
                for p in s.ports.iter().flatten() {
                    common::push_port(samples, &p.name, &p.protocol, p.port);
                }
            },
        ),
        Family::experimental(
            "kube_endpointslice_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::experimental(
            "kube_endpointslice_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

/// KSM labels endpoint slices name first, then namespace.
fn name_namespace(s: &EndpointSlice) -> Vec<Text> {
    let m = &s.metadata;
    vec![intern(text(&m.name)), intern(text(&m.namespace))]
}

/// One sample per zone hint, on the endpoint's first address (all its addresses are fungible).
fn endpoints_hints(s: &EndpointSlice, _: &KindOptions, samples: &mut Samples) {
    for ep in &s.endpoints {
        let Some(address) = ep.addresses.first() else {
            continue;
        };
        let zones = ep.hints.as_ref().and_then(|h| h.for_zones.as_deref());
        for zone in zones.unwrap_or_default() {
            samples.push_labeled(&[("address", address), ("for_zone", &zone.name)], 1.0);
        }
    }
}

/// An unset condition is empty rather than `false`.
fn condition(ep: &Endpoint, field: fn(&EndpointConditions) -> Option<bool>) -> &'static str {
    ep.conditions
        .as_ref()
        .and_then(field)
        .map_or("", bool_label)
}

/// One sample per address of each endpoint; unset fields are empty labels.
fn endpoints(s: &EndpointSlice, _: &KindOptions, samples: &mut Samples) {
    for ep in &s.endpoints {
        let target = ep.target_ref.as_ref();
        let target_text = |f: fn(&ObjectReference) -> &Option<String>| {
            target.map(|t| text(f(t))).unwrap_or_default()
        };
        for address in &ep.addresses {
            samples.push_labeled(
                &[
                    ("ready", condition(ep, |c| c.ready)),
                    ("serving", condition(ep, |c| c.serving)),
                    ("terminating", condition(ep, |c| c.terminating)),
                    ("hostname", text(&ep.hostname)),
                    ("targetref_kind", target_text(|t| &t.kind)),
                    ("targetref_name", target_text(|t| &t.name)),
                    ("targetref_namespace", target_text(|t| &t.namespace)),
                    ("endpoint_nodename", text(&ep.node_name)),
                    ("endpoint_zone", text(&ep.zone)),
                    ("address", address),
                ],
                1.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_fields_are_empty_labels_and_hints_need_an_address() {
        let slice = json!({"addressType": "IPv4", "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": false}},
            {"addresses": [], "hints": {"forZones": [{"name": "z"}]}},
        ]});
        assert_eq!(
            common::test_family(
                &ENDPOINTSLICES,
                slice.clone(),
                "kube_endpointslice_endpoints"
            ),
            [
                "ready=false,serving=,terminating=,hostname=,targetref_kind=,targetref_name=,\
              targetref_namespace=,endpoint_nodename=,endpoint_zone=,address=10.0.0.1 1"
            ]
        );
        let hints =
            common::test_family(&ENDPOINTSLICES, slice, "kube_endpointslice_endpoints_hints");
        assert!(hints.is_empty());
    }
}
