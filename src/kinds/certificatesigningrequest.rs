//! CertificateSigningRequests: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

use super::KindDef;
use super::common;

pub static CERTIFICATESIGNINGREQUESTS: KindDef<CertificateSigningRequest> = KindDef {
    resource: "certificatesigningrequests",
    identity_labels: &["certificatesigningrequest"],
    identity: common::name,
    families: &[],
};
