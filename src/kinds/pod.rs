//! Pods (families to be filled in).

use k8s_openapi::api::core::v1::Pod;

use super::KindDef;
use super::common;

pub static PODS: KindDef<Pod> = KindDef {
    resource: "pods",
    identity_labels: &["pod"],
    identity: common::name,
    families: &[],
};
