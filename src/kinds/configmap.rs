//! ConfigMaps: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::core::v1::ConfigMap;

use super::KindDef;
use super::common;

pub static CONFIGMAPS: KindDef<ConfigMap> = KindDef {
    resource: "configmaps",
    identity_labels: &["namespace", "configmap"],
    identity: common::namespace_name,
    families: &[],
};
