//! Endpoints.

use k8s_openapi::api::core::v1::Endpoints;

use super::common::{self, text};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static ENDPOINTS: KindDef<Endpoints> = KindDef {
    resource: "endpoints",
    identity_labels: &["namespace", "endpoint"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::stable(
            "kube_endpoint_info",
            "Information about endpoint.",
            common::info,
        ),
        Family::stable(
            "kube_endpoint_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_endpoint_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_endpoint_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_endpoint_address",
            "Information about Endpoint available and non available addresses.",
            address,
        ),
        // Stable and deprecated since v2.14.0 in KSM: the note is part of its HELP.
        Family::stable(
            "kube_endpoint_ports",
            "(Deprecated since v2.14.0) Information about the Endpoint ports.",
            ports,
        ),
    ],
};

/// One sample per port × address of each subset, ready addresses first.
fn address(e: &Endpoints, _: &KindOptions, samples: &mut Samples) {
    for subset in e.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let number = port.port.to_string();
            let groups = [
                (&subset.addresses, "true"),
                (&subset.not_ready_addresses, "false"),
            ];
            for (addresses, ready) in groups {
                for a in addresses.iter().flatten() {
                    samples.push_labeled(
                        &[
                            ("port_protocol", text(&port.protocol)),
                            ("port_number", &number),
                            ("port_name", text(&port.name)),
                            ("ip", &a.ip),
                            ("ready", ready),
                        ],
                        1.0,
                    );
                }
            }
        }
    }
}

fn ports(e: &Endpoints, _: &KindOptions, samples: &mut Samples) {
    for subset in e.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            common::push_port(samples, &port.name, &port.protocol, Some(port.port));
        }
    }
}
