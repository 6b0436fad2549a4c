//! HorizontalPodAutoscalers.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus, MetricSpec, MetricStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::common::{self, push_conditions, push_int, quantity_cores};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static HORIZONTALPODAUTOSCALERS: KindDef<HorizontalPodAutoscaler> = KindDef {
    resource: "horizontalpodautoscalers",
    identity_labels: &["namespace", "horizontalpodautoscaler"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.hpa",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.hpa.name"],
        uid: Some("k8s.hpa.uid"),
    }),
    families: &[
        Family::experimental(
            "kube_horizontalpodautoscaler_info",
            "Information about this autoscaler.",
            info,
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_metadata_generation",
            "The generation observed by the HorizontalPodAutoscaler controller.",
            common::metadata_generation,
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
            |h, _, s| push_int(s, spec(h).map(|sp| sp.max_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.hpa.pod.max", "{pod}", "The upper limit for the number of replica pods to which the autoscaler can scale up.")]),
        Family::stable(
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
            // An omitted minReplicas is the API default, 1, as kube-state-metrics reports it.
            |h, _, s| s.push(f64::from(spec(h).and_then(|sp| sp.min_replicas).unwrap_or(1))),
        )
        .semconv(&[SemconvMetric::updown("k8s.hpa.pod.min", "{pod}", "The lower limit for the number of replica pods to which the autoscaler can scale down.")]),
        Family::experimental(
            "kube_horizontalpodautoscaler_spec_target_metric",
            "The metric specifications used by this autoscaler when calculating the desired replica count.",
            |h, _, s| {
                let metrics = spec(h).and_then(|sp| sp.metrics.as_deref());
                metrics
                    .unwrap_or_default()
                    .iter()
                    .filter_map(spec_target)
                    .for_each(|t| t.push(s));
            },
        )
        .semconv(&[
            SemconvMetric::gauge("k8s.hpa.metric.target.cpu.value", "{cpu}", "Target value for CPU resource in HPA config.").double()
            .when(&[("metric_name", &["cpu"]), ("metric_target_type", &["value"])])
            .attributes(METRIC_SOURCE),
            SemconvMetric::gauge("k8s.hpa.metric.target.cpu.average_value", "{cpu}", "Target average value for CPU resource in HPA config.").double()
            .when(&[("metric_name", &["cpu"]), ("metric_target_type", &["average"])])
            .attributes(METRIC_SOURCE),
            SemconvMetric::gauge("k8s.hpa.metric.target.cpu.average_utilization", "1", "Target average utilization, in percentage, for CPU resource in HPA config.").double()
            .when(&[("metric_name", &["cpu"]), ("metric_target_type", &["utilization"])])
            .attributes(METRIC_SOURCE),
        ]),
        Family::experimental(
            "kube_horizontalpodautoscaler_spec_behavior_scale_down_tolerance",
            "The tolerance on the ratio between the current and desired metric value below which no scale down occurs.",
            |h, _, s| tolerance(h, s, |b| &b.scale_down),
        ),
        Family::experimental(
            "kube_horizontalpodautoscaler_spec_behavior_scale_up_tolerance",
            "The tolerance on the ratio between the current and desired metric value below which no scale up occurs.",
            |h, _, s| tolerance(h, s, |b| &b.scale_up),
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_status_target_metric",
            "The current metric status used by this autoscaler when calculating the desired replica count.",
            |h, _, s| {
                let metrics = status(h).and_then(|st| st.current_metrics.as_deref());
                metrics
                    .unwrap_or_default()
                    .iter()
                    .filter_map(status_target)
                    .for_each(|t| t.push(s));
            },
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_status_current_replicas",
            "Current number of replicas of pods managed by this autoscaler.",
            |h, _, s| push_int(s, status(h).and_then(|st| st.current_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.hpa.pod.current", "{pod}", "Current number of replica pods managed by this horizontal pod autoscaler, as last seen by the autoscaler.")]),
        Family::stable(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "Desired number of replicas of pods managed by this autoscaler.",
            |h, _, s| push_int(s, status(h).map(|st| st.desired_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.hpa.pod.desired", "{pod}", "Desired number of replica pods managed by this horizontal pod autoscaler, as last calculated by the autoscaler.")]),
        Family::experimental(
            "kube_horizontalpodautoscaler_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::stable(
            "kube_horizontalpodautoscaler_status_condition",
            "The condition of this autoscaler.",
            |h, _, s| {
                let conditions = status(h).and_then(|st| st.conditions.as_deref());
                push_conditions(s, conditions, |c| (&c.type_, &c.status));
            },
        ),
        Family::experimental(
            "kube_horizontalpodautoscaler_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_horizontalpodautoscaler_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
    ],
};

fn spec(h: &HorizontalPodAutoscaler) -> Option<&HorizontalPodAutoscalerSpec> {
    h.spec.as_ref()
}

fn status(h: &HorizontalPodAutoscaler) -> Option<&HorizontalPodAutoscalerStatus> {
    h.status.as_ref()
}

/// The scale target; `scaletargetref_api_version` is left out, not empty, when unset.
fn info(h: &HorizontalPodAutoscaler, _: &KindOptions, samples: &mut Samples) {
    let target = spec(h).map(|sp| &sp.scale_target_ref);
    let api_version = target.and_then(|t| t.api_version.as_deref());
    let mut labels: Vec<(&'static str, &str)> = api_version
        .filter(|v| !v.is_empty())
        .map(|v| ("scaletargetref_api_version", v))
        .into_iter()
        .collect();
    labels.push(("scaletargetref_kind", target.map_or("", |t| &t.kind)));
    labels.push(("scaletargetref_name", target.map_or("", |t| &t.name)));
    samples.push_labeled(&labels, 1.0);
}

/// A scaling direction's tolerance, only when set (the controller's default is a flag that
/// kube-state-metrics cannot see).
fn tolerance(
    h: &HorizontalPodAutoscaler,
    samples: &mut Samples,
    rules: fn(&HorizontalPodAutoscalerBehavior) -> &Option<HPAScalingRules>,
) {
    let behavior = spec(h).and_then(|sp| sp.behavior.as_ref());
    let tolerance = behavior
        .and_then(|b| rules(b).as_ref())
        .and_then(|r| r.tolerance.as_ref());
    if let Some(value) = tolerance.and_then(common::quantity_value) {
        samples.push(value);
    }
}

/// The source of a CPU target: a container resource names its container, a resource none.
const METRIC_SOURCE: &[Attr] = &[
    Attr::IfSet(
        "container",
        "k8s.hpa.metric.type",
        "ContainerResource",
        "Resource",
    ),
    Attr::Rename("container", "k8s.container.name"),
];

/// One metric of a spec or status: its name, container (for container resources) and the
/// values it targets or reports, each one sample with its `metric_target_type`.
struct Target<'a> {
    name: &'a str,
    container: &'a str,
    value: Option<&'a Quantity>,
    utilization: Option<i32>,
    average: Option<&'a Quantity>,
}

impl Target<'_> {
    /// Quantities in milli-unit precision (Go's `MilliValue() / 1000`), so `500m` is 0.5.
    fn push(&self, samples: &mut Samples) {
        let values = [
            ("value", self.value.and_then(quantity_cores)),
            ("utilization", self.utilization.map(f64::from)),
            ("average", self.average.and_then(quantity_cores)),
        ];
        for (target_type, value) in values {
            if let Some(value) = value {
                samples.push_labeled(
                    &[
                        ("metric_name", self.name),
                        ("metric_target_type", target_type),
                        ("container", self.container),
                    ],
                    value,
                );
            }
        }
    }
}

/// A spec metric. Every source type may target an average value; only objects and external
/// metrics report a plain value, only (container) resources a utilization. Unknown types, or a
/// type without its source, are skipped.
fn spec_target(m: &MetricSpec) -> Option<Target<'_>> {
    let (name, container, target, has_value, has_utilization) = match m.type_.as_str() {
        "Object" => m
            .object
            .as_ref()
            .map(|o| (&*o.metric.name, "", &o.target, true, false))?,
        "Pods" => m
            .pods
            .as_ref()
            .map(|p| (&*p.metric.name, "", &p.target, false, false))?,
        "Resource" => m
            .resource
            .as_ref()
            .map(|r| (&*r.name, "", &r.target, false, true))?,
        "ContainerResource" => m
            .container_resource
            .as_ref()
            .map(|c| (&*c.name, &*c.container, &c.target, false, true))?,
        "External" => m
            .external
            .as_ref()
            .map(|e| (&*e.metric.name, "", &e.target, true, false))?,
        _ => return None,
    };
    Some(Target {
        name,
        container,
        value: target.value.as_ref().filter(|_| has_value),
        utilization: target.average_utilization.filter(|_| has_utilization),
        average: target.average_value.as_ref(),
    })
}

/// A status metric: every value the controller reported.
fn status_target(m: &MetricStatus) -> Option<Target<'_>> {
    let (name, container, current) = match m.type_.as_str() {
        "Object" => m
            .object
            .as_ref()
            .map(|o| (&*o.metric.name, "", &o.current))?,
        "Pods" => m.pods.as_ref().map(|p| (&*p.metric.name, "", &p.current))?,
        "Resource" => m.resource.as_ref().map(|r| (&*r.name, "", &r.current))?,
        "ContainerResource" => m
            .container_resource
            .as_ref()
            .map(|c| (&*c.name, &*c.container, &c.current))?,
        "External" => m
            .external
            .as_ref()
            .map(|e| (&*e.metric.name, "", &e.current))?,
        _ => return None,
    };
    Some(Target {
        name,
        container,
        value: current.value.as_ref(),
        utilization: current.average_utilization,
        average: current.average_value.as_ref(),
    })
}

/// The receiver names the kind `HPA` (`k8s.hpa.uid`, `hpa.creation_timestamp`).
fn describe_entity(
    h: &HorizontalPodAutoscaler,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    entity::push_generic(h, "HPA", options, samples);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kinds::common::test_family;

    fn family(json: serde_json::Value, name: &str) -> Vec<String> {
        test_family(&HORIZONTALPODAUTOSCALERS, json, name)
    }

    #[test]
    fn tolerances_only_when_set() {
        let hpa = json!({"metadata": {"name": "h"}, "spec": {
            "maxReplicas": 3,
            "scaleTargetRef": {"kind": "Deployment", "name": "d"},
            "behavior": {"scaleDown": {"tolerance": "50m"}, "scaleUp": {}},
        }});
        let down = "kube_horizontalpodautoscaler_spec_behavior_scale_down_tolerance";
        let up = "kube_horizontalpodautoscaler_spec_behavior_scale_up_tolerance";
        assert_eq!(family(hpa.clone(), down), [" 0.05"]);
        assert!(family(hpa, up).is_empty());
    }

    #[test]
    fn unknown_types_and_missing_sources_are_skipped() {
        let hpa = json!({"metadata": {"name": "h"}, "spec": {"metrics": [
            {"type": "Object"},
            {"type": "Custom", "resource": {"name": "cpu", "target": {"averageUtilization": 5}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"value": "3"}}},
        ]}});
        assert!(family(hpa, "kube_horizontalpodautoscaler_spec_target_metric").is_empty());
    }

    #[test]
    fn bare_autoscaler_yields_defaults_not_a_panic() {
        let hpa = json!({"metadata": {"name": "h"}});
        assert_eq!(
            family(hpa.clone(), "kube_horizontalpodautoscaler_info"),
            ["scaletargetref_kind=,scaletargetref_name= 1"]
        );
        for zero in [
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "kube_horizontalpodautoscaler_status_desired_replicas",
        ] {
            assert_eq!(family(hpa.clone(), zero), [" 0"], "{zero}");
        }
        assert_eq!(
            family(
                hpa.clone(),
                "kube_horizontalpodautoscaler_spec_min_replicas"
            ),
            [" 1"]
        );
        for empty in [
            "kube_horizontalpodautoscaler_status_target_metric",
            "kube_horizontalpodautoscaler_status_condition",
        ] {
            assert!(family(hpa.clone(), empty).is_empty(), "{empty}");
        }
    }
}
