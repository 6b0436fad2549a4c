//! Services.

use k8s_openapi::api::core::v1::{Service, ServiceSpec};

use super::common::{self, text};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static SERVICES: KindDef<Service> = KindDef {
    resource: "services",
    identity_labels: &["namespace", "service", "uid"],
    identity: common::namespace_name_uid,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.service",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.service.name", "k8s.service.uid"],
        uid: None,
    }),
    families: &[
        Family::stable("kube_service_info", "Information about service.", info),
        Family::stable(
            "kube_service_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable("kube_service_spec_type", "Type about service.", spec_type),
        Family::experimental(
            "kube_service_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_service_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_service_spec_external_ip",
            "Service external ips. One series for each ip",
            spec_external_ip,
        ),
        Family::stable(
            "kube_service_status_load_balancer_ingress",
            "Service load balancer ingress status",
            status_load_balancer_ingress,
        ),
        Family::experimental(
            "kube_service_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::semconv_only(
            "Number of load balancer ingress points assigned to a LoadBalancer service.",
            &[SemconvMetric::gauge(
                "k8s.service.load_balancer.ingress.count",
                "{ingress}",
                "Number of load balancer ingress points (external IPs/hostnames) assigned to the service.",
            )],
            load_balancer_ingress_count,
        ),
    ],
};

/// A string field of the spec; empty (Go's zero value) when unset or without a spec.
fn spec_text(s: &Service, field: fn(&ServiceSpec) -> &Option<String>) -> &str {
    let value = s.spec.as_ref().and_then(|spec| field(spec).as_deref());
    value.unwrap_or_default()
}

fn info(s: &Service, _: &KindOptions, samples: &mut Samples) {
    samples.push_labeled(
        &[
            ("cluster_ip", spec_text(s, |sp| &sp.cluster_ip)),
            ("external_name", spec_text(s, |sp| &sp.external_name)),
            (
                "external_traffic_policy",
                spec_text(s, |sp| &sp.external_traffic_policy),
            ),
            ("load_balancer_ip", spec_text(s, |sp| &sp.load_balancer_ip)),
        ],
        1.0,
    );
}

fn spec_type(s: &Service, _: &KindOptions, samples: &mut Samples) {
    samples.push_labeled(&[("type", spec_text(s, |sp| &sp.type_))], 1.0);
}

fn spec_external_ip(s: &Service, _: &KindOptions, samples: &mut Samples) {
    let ips = s.spec.as_ref().and_then(|sp| sp.external_ips.as_deref());
    for ip in ips.unwrap_or_default() {
        samples.push_labeled(&[("external_ip", ip)], 1.0);
    }
}

fn status_load_balancer_ingress(s: &Service, _: &KindOptions, samples: &mut Samples) {
    let ingresses = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref());
    for ingress in ingresses.unwrap_or_default() {
        samples.push_labeled(
            &[
                ("ip", text(&ingress.ip)),
                ("hostname", text(&ingress.hostname)),
            ],
            1.0,
        );
    }
}

/// The ingress points of a `LoadBalancer` service (others have none to count).
fn load_balancer_ingress_count(svc: &Service, _: &KindOptions, samples: &mut Samples) {
    if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
        return;
    }
    let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    let count = ingress
        .and_then(|lb| lb.ingress.as_ref())
        .map_or(0, Vec::len);
    samples.push(count as f64);
}

/// The receiver's service entity: namespace, name, creation time, the selector (all of it:
/// pods are matched against it), allowed labels and annotations.
fn describe_entity(
    svc: &Service,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    let Some(mut attributes) = entity::Attributes::of(svc, "k8s.service.uid") else {
        return;
    };
    let meta = &svc.metadata;
    attributes.set(
        entity::NAMESPACE_NAME,
        meta.namespace.as_deref().unwrap_or_default(),
    );
    attributes.set(
        entity::related::SERVICE_NAME,
        meta.name.as_deref().unwrap_or_default(),
    );
    attributes.set(
        "k8s.service.creation_timestamp",
        &entity::rfc3339(meta.creation_timestamp.as_ref()),
    );
    let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
    for (key, value) in selector.into_iter().flatten() {
        attributes.set(&format!("{}{key}", entity::related::SELECTOR_PREFIX), value);
    }
    attributes.set_allowed(
        "k8s.service.label.",
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    attributes.set_allowed(
        "k8s.service.annotation.",
        &options.allow_annotations,
        meta.annotations.as_ref(),
    );
    attributes.push(samples, entity::OBJECT);
}
