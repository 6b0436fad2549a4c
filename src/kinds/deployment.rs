//! Deployments (families to be filled in).

use k8s_openapi::api::apps::v1::Deployment;

use super::KindDef;
use super::common;

pub static DEPLOYMENTS: KindDef<Deployment> = KindDef {
    resource: "deployments",
    identity_labels: &["deployment"],
    identity: common::name,
    families: &[],
};
