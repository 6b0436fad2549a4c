//! Ingresses.

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressRule};

use super::common::{self, text};
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples};

pub static INGRESSES: KindDef<Ingress> = KindDef {
    resource: "ingresses",
    identity_labels: &["namespace", "ingress"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::stable("kube_ingress_info", "Information about ingress.", info),
        Family::experimental(
            "kube_ingress_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_ingress_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_ingress_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_ingress_metadata_resource_version",
            "Resource version representing a specific version of ingress.",
            common::resource_version,
        ),
        Family::stable(
            "kube_ingress_path",
            "Ingress host, paths and backend service information.",
            path,
        ),
        Family::stable(
            "kube_ingress_tls",
            "Ingress TLS host and secret information.",
            tls,
        ),
    ],
};

/// The legacy `kubernetes.io/ingress.class` annotation wins over `spec.ingressClassName`, as
/// in KSM; `_default` when neither is set.
fn info(i: &Ingress, _: &KindOptions, samples: &mut Samples) {
    let annotation = i
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"));
    let spec_class = i.spec.as_ref().and_then(|s| s.ingress_class_name.as_ref());
    let class = annotation.or(spec_class).map_or("_default", String::as_str);
    samples.push_labeled(&[("ingressclass", class)], 1.0);
}

/// One sample per HTTP path, labelled with its service backend or, failing that, its resource
/// backend; a path with neither yields nothing.
fn path(i: &Ingress, _: &KindOptions, samples: &mut Samples) {
    let rules = i.spec.as_ref().and_then(|s| s.rules.as_deref());
    for rule in rules.unwrap_or_default() {
        let paths = rule.http.as_ref().map(|h| h.paths.as_slice());
        for p in paths.unwrap_or_default() {
            push_path(samples, rule, p);
        }
    }
}

fn push_path(samples: &mut Samples, rule: &IngressRule, p: &HTTPIngressPath) {
    let base = [
        ("host", text(&rule.host)),
        ("path", text(&p.path)),
        ("path_type", p.path_type.as_str()),
    ];
    if let Some(service) = &p.backend.service {
        // A named port has no number: Go's zero value.
        let number = service.port.as_ref().and_then(|port| port.number);
        let port = number.unwrap_or_default().to_string();
        let labels = [
            ("service_name", service.name.as_str()),
            ("service_port", &port),
        ];
        samples.push_labeled(&[&base[..], &labels[..]].concat(), 1.0);
    } else if let Some(resource) = &p.backend.resource {
        let labels = [
            ("resource_api_group", text(&resource.api_group)),
            ("resource_kind", resource.kind.as_str()),
            ("resource_name", resource.name.as_str()),
        ];
        samples.push_labeled(&[&base[..], &labels[..]].concat(), 1.0);
    }
}

fn tls(i: &Ingress, _: &KindOptions, samples: &mut Samples) {
    let tls = i.spec.as_ref().and_then(|s| s.tls.as_deref());
    for t in tls.unwrap_or_default() {
        for host in t.hosts.iter().flatten() {
            samples.push_labeled(&[("tls_host", host), ("secret", text(&t.secret_name))], 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn family(json: serde_json::Value, name: &str) -> Vec<String> {
        common::test_family(&INGRESSES, json, name)
    }

    #[test]
    fn class_annotation_wins_over_spec() {
        let ingress = json!({
            "metadata": {"annotations": {"kubernetes.io/ingress.class": "legacy"}},
            "spec": {"ingressClassName": "modern"},
        });
        assert_eq!(
            family(ingress, "kube_ingress_info"),
            ["ingressclass=legacy 1"]
        );
    }

    #[test]
    fn named_ports_are_zero_and_backendless_paths_are_skipped() {
        let ingress = json!({"spec": {"rules": [{"http": {"paths": [
            {"path": "/a", "pathType": "Prefix",
             "backend": {"service": {"name": "svc", "port": {"name": "http"}}}},
            {"path": "/b", "pathType": "Prefix", "backend": {}},
        ]}}]}});
        assert_eq!(
            family(ingress, "kube_ingress_path"),
            ["host=,path=/a,path_type=Prefix,service_name=svc,service_port=0 1"]
        );
    }
}
