//! HorizontalPodAutoscalers: not implemented yet (not registered in `pipeline::all_kinds`).

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::KindDef;
use super::common;

pub static HORIZONTALPODAUTOSCALERS: KindDef<HorizontalPodAutoscaler> = KindDef {
    resource: "horizontalpodautoscalers",
    identity_labels: &["namespace", "horizontalpodautoscaler"],
    identity: common::namespace_name,
    families: &[],
};
