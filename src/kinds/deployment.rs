//! Deployments.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, RollingUpdateDeployment};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::common::{self, push_condition, push_if_set, push_int};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::Entity;
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static DEPLOYMENTS: KindDef<Deployment> = KindDef {
    resource: "deployments",
    identity_labels: &["namespace", "deployment"],
    identity: common::namespace_name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.deployment",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.deployment.name"],
        uid: Some("k8s.deployment.uid"),
    }),
    families: &[
        Family::experimental(
            "kube_deployment_owner",
            "Information about the Deployment's owner.",
            common::owner_kind_name,
        ),
        Family::stable(
            "kube_deployment_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::stable(
            "kube_deployment_status_replicas",
            "The number of replicas per deployment.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.replicas)),
        ),
        Family::stable(
            "kube_deployment_status_replicas_ready",
            "The number of ready replicas per deployment.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.ready_replicas)),
        ),
        Family::stable(
            "kube_deployment_status_replicas_available",
            "The number of available replicas per deployment.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.available_replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.deployment.pod.available", "{pod}", "Total number of available replica pods (ready for at least minReadySeconds) targeted by this deployment.")]),
        Family::stable(
            "kube_deployment_status_replicas_unavailable",
            "The number of unavailable replicas per deployment.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.unavailable_replicas)),
        ),
        Family::stable(
            "kube_deployment_status_replicas_updated",
            "The number of updated replicas per deployment.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.updated_replicas)),
        ),
        Family::experimental(
            "kube_deployment_status_terminating_replicas",
            "The number of terminating replicas per deployment.",
            |d, _, s| push_if_set(s, status(d).and_then(|st| st.terminating_replicas)),
        ),
        Family::stable(
            "kube_deployment_status_observed_generation",
            "The generation observed by the deployment controller.",
            |d, _, s| push_int(s, status(d).and_then(|st| st.observed_generation)),
        ),
        Family::stable(
            "kube_deployment_status_condition",
            "The current status conditions of a deployment.",
            status_condition,
        ),
        Family::stable(
            "kube_deployment_spec_replicas",
            "Number of desired pods for a deployment.",
            |d: &Deployment, _, s| push_if_set(s, d.spec.as_ref().and_then(|spec| spec.replicas)),
        )
        .semconv(&[SemconvMetric::updown("k8s.deployment.pod.desired", "{pod}", "Number of desired replica pods in this deployment.")]),
        Family::stable(
            "kube_deployment_spec_paused",
            "Whether the deployment is paused and will not be processed by the deployment controller.",
            |d, _, s| {
                let paused = d.spec.as_ref().and_then(|spec| spec.paused);
                s.push(common::bool_value(paused.unwrap_or(false)));
            },
        ),
        Family::stable(
            "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
            "Maximum number of unavailable replicas during a rolling update of a deployment.",
            |d, _, s| push_if_set(s, rolling_update_limit(d, |r| &r.max_unavailable, false)),
        ),
        Family::stable(
            "kube_deployment_spec_strategy_rollingupdate_max_surge",
            "Maximum number of replicas that can be scheduled above the desired number of replicas during a rolling update of a deployment.",
            |d, _, s| push_if_set(s, rolling_update_limit(d, |r| &r.max_surge, true)),
        ),
        Family::stable(
            "kube_deployment_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            common::metadata_generation,
        ),
        Family::experimental(
            "kube_deployment_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::experimental(
            "kube_deployment_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_deployment_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
    ],
};

fn status(d: &Deployment) -> Option<&DeploymentStatus> {
    d.status.as_ref()
}

/// Condition reasons the deployment controller sets; any other reason is reported as `unknown`
/// so that free-form reasons cannot blow up the label's cardinality.
const KNOWN_REASONS: &[&str] = &[
    "",
    "DeploymentPaused",
    "DeploymentResumed",
    "FoundNewReplicaSet",
    "MinimumReplicasAvailable",
    "MinimumReplicasUnavailable",
    "NewReplicaSetAvailable",
    "NewReplicaSetCreated",
    "ProgressDeadlineExceeded",
    "ReplicaSetCreateError",
    "ReplicaSetUpdated",
];

fn status_condition(d: &Deployment, _: &KindOptions, samples: &mut Samples) {
    let conditions = status(d).and_then(|st| st.conditions.as_deref());
    for c in conditions.unwrap_or_default() {
        let reason = c.reason.as_deref().unwrap_or_default();
        let reason = if KNOWN_REASONS.contains(&reason) {
            reason
        } else {
            "unknown"
        };
        push_condition(
            samples,
            &[("reason", reason), ("condition", &c.type_)],
            &c.status,
        );
    }
}

/// A rolling-update limit (`maxSurge`, `maxUnavailable`) in replicas. Nothing without a rolling
/// update, without `spec.replicas` to scale a percentage against, or for a malformed value.
fn rolling_update_limit(
    d: &Deployment,
    limit: fn(&RollingUpdateDeployment) -> &Option<IntOrString>,
    round_up: bool,
) -> Option<i64> {
    let spec = d.spec.as_ref()?;
    let replicas = spec.replicas?;
    let rolling_update = spec.strategy.as_ref()?.rolling_update.as_ref()?;
    scaled_value(limit(rolling_update).as_ref()?, replicas, round_up)
}

/// Go's `intstr.GetScaledValueFromIntOrPercent`: an int as is, `"N%"` as N% of `total`
/// (rounded up or down); any other string is an error, here `None`.
fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            // Same float arithmetic as Go, so rounding matches at the edges.
            let scaled = percent as f64 * f64::from(total) / 100.0;
            let rounded = if round_up {
                scaled.ceil()
            } else {
                scaled.floor()
            };
            Some(rounded as i64)
        }
    }
}

/// The receiver's deployment entity: the generic one and `k8s.deployment.name`.
fn describe_entity(
    d: &Deployment,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    if let Some(mut attributes) = entity::generic(d, "Deployment", options) {
        attributes.set(
            "k8s.deployment.name",
            d.metadata.name.as_deref().unwrap_or_default(),
        );
        attributes.push(samples, entity::OBJECT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(s: &str) -> IntOrString {
        IntOrString::String(s.to_string())
    }

    #[test]
    fn percentages_scale_against_replicas() {
        assert_eq!(scaled_value(&percent("25%"), 10, true), Some(3));
        assert_eq!(scaled_value(&percent("25%"), 10, false), Some(2));
        assert_eq!(scaled_value(&IntOrString::Int(4), 10, true), Some(4));
        assert_eq!(scaled_value(&percent("0%"), 0, true), Some(0));
    }

    #[test]
    fn malformed_values_yield_nothing() {
        assert_eq!(scaled_value(&percent("abc%"), 10, true), None);
        assert_eq!(scaled_value(&percent("5"), 10, true), None);
        assert_eq!(scaled_value(&percent("%"), 10, false), None);
    }
}
