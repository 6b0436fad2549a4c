//! CertificateSigningRequests.

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

use super::common;
use super::{KindDef, Read};
use crate::metric::{Family, KindOptions, Samples, Text, intern};

pub static CERTIFICATESIGNINGREQUESTS: KindDef<CertificateSigningRequest> = KindDef {
    resource: "certificatesigningrequests",
    identity_labels: &["certificatesigningrequest", "signer_name"],
    identity,
    read: Read::Objects,
    entity_events: None,
    entity: None,
    families: &[
        Family::experimental(
            "kube_certificatesigningrequest_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_certificatesigningrequest_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_certificatesigningrequest_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_certificatesigningrequest_condition",
            "The number of each certificatesigningrequest condition",
            condition,
        ),
        Family::stable(
            "kube_certificatesigningrequest_cert_length",
            "Length of the issued cert",
            |csr, _, s| {
                let cert = csr.status.as_ref().and_then(|st| st.certificate.as_ref());
                s.push(cert.map_or(0, |c| c.0.len()) as f64);
            },
        ),
    ],
};

fn identity(csr: &CertificateSigningRequest) -> Vec<Text> {
    vec![
        intern(csr.metadata.name.as_deref().unwrap_or_default()),
        intern(&csr.spec.signer_name),
    ]
}

/// How many conditions of each type the request has; a condition counts whatever its status,
/// as kube-state-metrics counts them.
fn condition(csr: &CertificateSigningRequest, _: &KindOptions, samples: &mut Samples) {
    let conditions = csr.status.as_ref().and_then(|st| st.conditions.as_deref());
    let conditions = conditions.unwrap_or_default();
    for (label, type_) in [
        ("approved", "Approved"),
        ("denied", "Denied"),
        ("failed", "Failed"),
    ] {
        let count = conditions.iter().filter(|c| c.type_ == type_).count();
        samples.push_labeled(&[("condition", label)], count as f64);
    }
}
