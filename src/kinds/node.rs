//! Nodes (families to be filled in).

use k8s_openapi::api::core::v1::Node;

use super::KindDef;
use super::common;

pub static NODES: KindDef<Node> = KindDef {
    resource: "nodes",
    identity_labels: &["node"],
    identity: common::name,
    families: &[],
};
