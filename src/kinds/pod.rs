//! Pods.
//!
//! Container and init-container families read different lists but are otherwise identical, so
//! their generators take the list as a const parameter ([`CONTAINERS`] or [`INIT_CONTAINERS`]).

use std::net::IpAddr;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::common::{self, bool_label, bool_value};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{AllowList, Family, KindOptions, Samples, SemconvMetric};

/// Selects `spec.containers` / `status.containerStatuses`.
const CONTAINERS: bool = false;
/// Selects `spec.initContainers` / `status.initContainerStatuses`.
const INIT_CONTAINERS: bool = true;

/// Selects `resources.limits` rather than `resources.requests`.
const LIMITS: bool = true;
const REQUESTS: bool = false;

pub static PODS: KindDef<Pod> = KindDef {
    resource: "pods",
    identity_labels: &["namespace", "pod", "uid"],
    identity: common::namespace_name_uid,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.pod",
        describe: entity::pod::describe,
    }),
    entity: Some(Entity {
        identity: &["k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid"],
        uid: None,
    }),
    families: &[
        Family::stable(
            "kube_pod_completion_time",
            "Completion time in unix timestamp for a pod.",
            completion_time,
        ),
        Family::stable(
            "kube_pod_container_info",
            "Information about a container in a pod.",
            container_info::<CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_container_resource_limits",
            "The number of requested limit resource by a container. It is recommended to use the kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more precise.",
            container_resources::<CONTAINERS, LIMITS>,
        )
        .semconv(&[
            SemconvMetric::updown("k8s.container.cpu.limit.desired", "{cpu}", "Maximum CPU resource limit as defined by the container spec.").double()
            .when(&[("resource", &["cpu"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.memory.limit.desired", "By", "Maximum memory resource limit as defined by the container spec.")
            .when(&[("resource", &["memory"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.storage.limit", "By", "Maximum storage resource limit set for the container.")
            .when(&[("resource", &["storage"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.ephemeral_storage.limit", "By", "Maximum ephemeral storage resource limit set for the container.")
            .when(&[("resource", &["ephemeral_storage"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
        ]),
        Family::stable(
            "kube_pod_container_resource_requests",
            "The number of requested request resource by a container. It is recommended to use the kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more precise.",
            container_resources::<CONTAINERS, REQUESTS>,
        )
        .semconv(&[
            SemconvMetric::updown("k8s.container.cpu.request.desired", "{cpu}", "CPU resource requested as defined by the container spec.").double()
            .when(&[("resource", &["cpu"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.memory.request.desired", "By", "Memory resource requested as defined by the container spec.")
            .when(&[("resource", &["memory"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.storage.request", "By", "Storage resource requested for the container.")
            .when(&[("resource", &["storage"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            SemconvMetric::updown("k8s.container.ephemeral_storage.request", "By", "Ephemeral storage resource requested for the container.")
            .when(&[("resource", &["ephemeral_storage"])])
            .attributes(&[Attr::Rename("container", "k8s.container.name")]),
        ]),
        Family::stable(
            "kube_pod_container_state_started",
            "Start time in unix timestamp for a pod container.",
            container_state_started::<CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_container_status_last_terminated_reason",
            "Describes the last reason the container was in terminated state.",
            container_last_terminated_reason::<CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_container_status_last_terminated_exitcode",
            "Describes the exit code for the last container in terminated state.",
            container_last_terminated_exitcode::<CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_container_status_last_terminated_timestamp",
            "Last terminated time for a pod container in unix timestamp.",
            container_last_terminated_timestamp::<CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_container_status_ready",
            "Describes whether the containers readiness check succeeded.",
            container_ready::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.ready", "{container}", "Indicates whether the container is currently marked as ready to accept traffic, based on its readiness probe (1 = ready, 0 = not ready).").attributes(&[Attr::Rename("container", "k8s.container.name")])]),
        Family::stable(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
            container_restarts::<CONTAINERS>,
        )
        .counter()
        .semconv(&[SemconvMetric::updown("k8s.container.restart.count", "{restart}", "Describes how many times the container has restarted (since the last counter reset).").attributes(&[Attr::Rename("container", "k8s.container.name")])]),
        Family::stable(
            "kube_pod_container_status_running",
            "Describes whether the container is currently in running state.",
            container_running::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.status.state", "{container}", "Describes the number of K8s containers that are currently in a given state.").attributes(&[
            Attr::Rename("container", "k8s.container.name"),
            Attr::Const("k8s.container.status.state", "running"),
        ])]),
        Family::stable(
            "kube_pod_container_status_terminated",
            "Describes whether the container is currently in terminated state.",
            container_terminated::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.status.state", "{container}", "Describes the number of K8s containers that are currently in a given state.").attributes(&[
            Attr::Rename("container", "k8s.container.name"),
            Attr::Const("k8s.container.status.state", "terminated"),
        ])]),
        Family::experimental(
            "kube_pod_container_status_terminated_reason",
            "Describes the reason the container is currently in terminated state.",
            container_terminated_reason::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.status.reason", "{container}", "Describes the number of K8s containers that are currently in a state for a given reason.").attributes(&[
            Attr::Rename("container", "k8s.container.name"),
            Attr::Rename("reason", "k8s.container.status.reason"),
        ])]),
        Family::stable(
            "kube_pod_container_status_waiting",
            "Describes whether the container is currently in waiting state.",
            container_waiting::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.status.state", "{container}", "Describes the number of K8s containers that are currently in a given state.").attributes(&[
            Attr::Rename("container", "k8s.container.name"),
            Attr::Const("k8s.container.status.state", "waiting"),
        ])]),
        Family::stable(
            "kube_pod_container_status_waiting_reason",
            "Describes the reason the container is currently in waiting state.",
            container_waiting_reason::<CONTAINERS>,
        )
        .semconv(&[SemconvMetric::updown("k8s.container.status.reason", "{container}", "Describes the number of K8s containers that are currently in a state for a given reason.").attributes(&[
            Attr::Rename("container", "k8s.container.name"),
            Attr::Rename("reason", "k8s.container.status.reason"),
        ])]),
        Family::stable(
            "kube_pod_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_pod_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::stable("kube_pod_info", "Information about pod.", info),
        Family::experimental("kube_pod_ips", "Pod IP addresses", ips),
        Family::stable(
            "kube_pod_init_container_info",
            "Information about an init container in a pod.",
            container_info::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_resource_limits",
            "The number of requested limit resource by an init container.",
            container_resources::<INIT_CONTAINERS, LIMITS>,
        ),
        Family::experimental(
            "kube_pod_init_container_resource_requests",
            "The number of requested request resource by an init container.",
            container_resources::<INIT_CONTAINERS, REQUESTS>,
        ),
        Family::experimental(
            "kube_pod_init_container_state_started",
            "Start time in unix timestamp for a pod init container.",
            container_state_started::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_status_last_terminated_reason",
            "Describes the last reason the init container was in terminated state.",
            container_last_terminated_reason::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_status_last_terminated_exitcode",
            "Describes the exit code for the last init container in terminated state.",
            container_last_terminated_exitcode::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_status_last_terminated_timestamp",
            "Last terminated time for a pod init container in unix timestamp.",
            container_last_terminated_timestamp::<INIT_CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_init_container_status_ready",
            "Describes whether the init containers readiness check succeeded.",
            container_ready::<INIT_CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_init_container_status_restarts_total",
            "The number of restarts for the init container.",
            container_restarts::<INIT_CONTAINERS>,
        )
        .counter(),
        Family::stable(
            "kube_pod_init_container_status_running",
            "Describes whether the init container is currently in running state.",
            container_running::<INIT_CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_init_container_status_terminated",
            "Describes whether the init container is currently in terminated state.",
            container_terminated::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_status_terminated_reason",
            "Describes the reason the init container is currently in terminated state.",
            container_terminated_reason::<INIT_CONTAINERS>,
        ),
        Family::stable(
            "kube_pod_init_container_status_waiting",
            "Describes whether the init container is currently in waiting state.",
            container_waiting::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_init_container_status_waiting_reason",
            "Describes the reason the init container is currently in waiting state.",
            container_waiting_reason::<INIT_CONTAINERS>,
        ),
        Family::experimental(
            "kube_pod_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_pod_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental(
            "kube_pod_overhead_cpu_cores",
            "The pod overhead in regards to cpu cores associated with running a pod.",
            overhead_cpu_cores,
        ),
        Family::experimental(
            "kube_pod_overhead_memory_bytes",
            "The pod overhead in regards to memory associated with running a pod.",
            overhead_memory_bytes,
        ),
        Family::stable(
            "kube_pod_owner",
            "Information about the Pod's owner.",
            common::owner,
        ),
        Family::experimental(
            "kube_pod_resourceclaim_info",
            "Information about a DRA ResourceClaim referenced by a pod, one series per pod.spec.resourceClaims entry; claim_name is the pod-local reference and resourceclaim_name is the resolved ResourceClaim object name.",
            resourceclaim_info,
        ),
        Family::stable(
            "kube_pod_restart_policy",
            "Describes the restart policy in use by this pod.",
            restart_policy,
        ),
        Family::experimental(
            "kube_pod_runtimeclass_name_info",
            "The runtimeclass associated with the pod.",
            runtimeclass_name_info,
        ),
        Family::stable(
            "kube_pod_spec_volumes_persistentvolumeclaims_info",
            "Information about persistentvolumeclaim and ephemeral volumes in a pod.",
            volume_claims_info,
        ),
        Family::stable(
            "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
            "Describes whether a persistentvolumeclaim is mounted read only. Ephemeral volumes always report 0 since the ephemeral volume source does not support a read-only flag.",
            volume_claims_readonly,
        ),
        Family::stable(
            "kube_pod_start_time",
            "Start time in unix timestamp for a pod.",
            start_time,
        ),
        Family::stable(
            "kube_pod_status_phase",
            "The pods current phase.",
            status_phase,
        )
        .semconv(&[SemconvMetric::updown("k8s.pod.status.phase", "{pod}", "Describes number of K8s Pods that are currently in a given phase.").attributes(&[Attr::Rename("phase", "k8s.pod.status.phase")])]),
        Family::experimental(
            "kube_pod_status_qos_class",
            "The pods current qosClass.",
            status_qos_class,
        ),
        Family::stable(
            "kube_pod_status_ready",
            "Describes whether the pod is ready to serve requests.",
            status_ready,
        ),
        Family::experimental(
            "kube_pod_status_ready_time",
            "Readiness achieved time in unix timestamp for a pod.",
            status_ready_time,
        ),
        Family::experimental(
            "kube_pod_status_initialized_time",
            "Initialized time in unix timestamp for a pod.",
            status_initialized_time,
        ),
        Family::experimental(
            "kube_pod_status_container_ready_time",
            "Readiness achieved time in unix timestamp for a pod containers.",
            status_container_ready_time,
        ),
        Family::experimental(
            "kube_pod_status_reason",
            "The pod status reasons",
            status_reason,
        )
        .semconv(&[SemconvMetric::updown("k8s.pod.status.reason", "{pod}", "Describes the number of K8s Pods that are currently in a state for a given reason.").attributes(&[Attr::Rename("reason", "k8s.pod.status.reason")])]),
        Family::experimental(
            "kube_pod_status_disruption_reason",
            "The pod disruption condition reason",
            status_disruption_reason,
        ),
        Family::stable(
            "kube_pod_status_scheduled",
            "Describes the status of the scheduling process for the pod.",
            status_scheduled,
        ),
        Family::stable(
            "kube_pod_status_scheduled_time",
            "Unix timestamp when pod moved into scheduled status",
            status_scheduled_time,
        ),
        Family::stable(
            "kube_pod_status_unschedulable",
            "Describes the unschedulable status for the pod.",
            status_unschedulable,
        ),
        Family::experimental(
            "kube_pod_status_unscheduled_time",
            "Unix timestamp when pod moved into unscheduled status",
            status_unscheduled_time,
        ),
        Family::experimental(
            "kube_pod_tolerations",
            "Information about the pod tolerations",
            tolerations,
        ),
        Family::experimental(
            "kube_pod_nodeselectors",
            "Describes the Pod nodeSelectors.",
            nodeselectors,
        )
        .opt_in(),
        Family::experimental(
            "kube_pod_service_account",
            "The service account for a pod.",
            service_account,
        ),
        Family::experimental("kube_pod_scheduler", "The scheduler for a pod.", scheduler),
        Family::semconv_only(
            "The resources currently applied to a running container (status.containerStatuses[].resources).",
            &[
                SemconvMetric::updown("k8s.container.cpu.limit.current", "{cpu}", "Maximum CPU resource limit currently configured for a running container.").double()
                    .when(&[("resource", &["cpu"]), ("type", &["limits"])])
                    .attributes(&[Attr::Rename("container", "k8s.container.name")]),
                SemconvMetric::updown("k8s.container.memory.limit.current", "By", "Maximum memory resource limit currently configured for a running container.")
                    .when(&[("resource", &["memory"]), ("type", &["limits"])])
                    .attributes(&[Attr::Rename("container", "k8s.container.name")]),
                SemconvMetric::updown("k8s.container.cpu.request.current", "{cpu}", "CPU resource requested currently configured for a running container.").double()
                    .when(&[("resource", &["cpu"]), ("type", &["requests"])])
                    .attributes(&[Attr::Rename("container", "k8s.container.name")]),
                SemconvMetric::updown("k8s.container.memory.request.current", "By", "Memory resource request currently configured for a running container.")
                    .when(&[("resource", &["memory"]), ("type", &["requests"])])
                    .attributes(&[Attr::Rename("container", "k8s.container.name")]),
            ],
            container_status_resources,
        ),
    ],
};

/// Stand-ins for a missing spec or status, so generators read fields without unwrapping.
static NO_SPEC: LazyLock<PodSpec> = LazyLock::new(PodSpec::default);
static NO_STATUS: LazyLock<PodStatus> = LazyLock::new(PodStatus::default);

fn spec(pod: &Pod) -> &PodSpec {
    pod.spec.as_ref().unwrap_or(&NO_SPEC)
}

fn status(pod: &Pod) -> &PodStatus {
    pod.status.as_ref().unwrap_or(&NO_STATUS)
}

fn text(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

// ---- containers and init containers ----

fn containers<const INIT: bool>(pod: &Pod) -> &[Container] {
    let spec = spec(pod);
    if INIT {
        spec.init_containers.as_deref().unwrap_or_default()
    } else {
        &spec.containers
    }
}

fn statuses<const INIT: bool>(pod: &Pod) -> &[ContainerStatus] {
    let status = status(pod);
    let list = if INIT {
        &status.init_container_statuses
    } else {
        &status.container_statuses
    };
    list.as_deref().unwrap_or_default()
}

/// One `container`-labelled sample per status of the selected list that `value` yields for.
fn per_status<const INIT: bool>(
    pod: &Pod,
    samples: &mut Samples,
    value: impl Fn(&ContainerStatus) -> Option<f64>,
) {
    for cs in statuses::<INIT>(pod) {
        if let Some(v) = value(cs) {
            samples.push_labeled(&[("container", &cs.name)], v);
        }
    }
}

/// One `container`, `reason` sample (value 1) per status of the selected list that `reason`
/// yields for.
fn per_status_reason<const INIT: bool>(
    pod: &Pod,
    samples: &mut Samples,
    reason: impl Fn(&ContainerStatus) -> Option<&str>,
) {
    for cs in statuses::<INIT>(pod) {
        if let Some(r) = reason(cs) {
            samples.push_labeled(&[("container", &cs.name), ("reason", r)], 1.0);
        }
    }
}

fn terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.state.as_ref()?.terminated.as_ref()
}

fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.last_state.as_ref()?.terminated.as_ref()
}

fn seconds(t: &Option<Time>) -> Option<f64> {
    t.as_ref().map(common::seconds)
}

fn container_info<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let specs = containers::<INIT>(pod);
    for cs in statuses::<INIT>(pod) {
        let spec = specs.iter().find(|c| c.name == cs.name);
        let mut labels = vec![
            ("container", cs.name.as_str()),
            (
                "image_spec",
                spec.map(|c| text(&c.image)).unwrap_or_default(),
            ),
            ("image", &cs.image),
            ("image_id", &cs.image_id),
            ("container_id", text(&cs.container_id)),
        ];
        // Only init containers can be sidecars, with their own restart policy.
        if INIT {
            let policy = spec.map(|c| text(&c.restart_policy)).unwrap_or_default();
            labels.push(("restart_policy", policy));
        }
        samples.push_labeled(&labels, 1.0);
    }
}

fn container_resources<const INIT: bool, const LIMITS: bool>(
    pod: &Pod,
    _: &KindOptions,
    samples: &mut Samples,
) {
    let node = text(&spec(pod).node_name);
    for c in containers::<INIT>(pod) {
        let resources = c.resources.as_ref();
        let list = resources.and_then(|r| if LIMITS { &r.limits } else { &r.requests }.as_ref());
        for (name, quantity) in list.into_iter().flatten() {
            if let Some((unit, value)) = common::resource_unit_value(name, quantity) {
                let resource = common::sanitize_label_name(name);
                samples.push_labeled(
                    &[
                        ("container", &c.name),
                        ("node", node),
                        ("resource", &resource),
                        ("unit", unit),
                    ],
                    value,
                );
            }
        }
    }
}

fn container_state_started<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| {
        let state = cs.state.as_ref()?;
        match (&state.running, &state.terminated) {
            (Some(running), _) => seconds(&running.started_at),
            (None, Some(terminated)) => seconds(&terminated.started_at),
            (None, None) => None,
        }
    });
}

fn container_last_terminated_reason<const INIT: bool>(
    pod: &Pod,
    _: &KindOptions,
    samples: &mut Samples,
) {
    per_status_reason::<INIT>(pod, samples, |cs| Some(text(&last_terminated(cs)?.reason)));
}

fn container_last_terminated_exitcode<const INIT: bool>(
    pod: &Pod,
    _: &KindOptions,
    samples: &mut Samples,
) {
    per_status::<INIT>(pod, samples, |cs| {
        Some(f64::from(last_terminated(cs)?.exit_code))
    });
}

fn container_last_terminated_timestamp<const INIT: bool>(
    pod: &Pod,
    _: &KindOptions,
    samples: &mut Samples,
) {
    per_status::<INIT>(pod, samples, |cs| {
        seconds(&last_terminated(cs)?.finished_at)
    });
}

fn container_ready<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| Some(bool_value(cs.ready)));
}

fn container_restarts<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| Some(f64::from(cs.restart_count)));
}

fn container_running<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| {
        Some(bool_value(
            cs.state.as_ref().is_some_and(|s| s.running.is_some()),
        ))
    });
}

fn container_terminated<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| {
        Some(bool_value(terminated(cs).is_some()))
    });
}

fn container_terminated_reason<const INIT: bool>(
    pod: &Pod,
    _: &KindOptions,
    samples: &mut Samples,
) {
    per_status_reason::<INIT>(pod, samples, |cs| Some(text(&terminated(cs)?.reason)));
}

fn container_waiting<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status::<INIT>(pod, samples, |cs| {
        Some(bool_value(
            cs.state.as_ref().is_some_and(|s| s.waiting.is_some()),
        ))
    });
}

fn container_waiting_reason<const INIT: bool>(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    per_status_reason::<INIT>(pod, samples, |cs| {
        Some(text(&cs.state.as_ref()?.waiting.as_ref()?.reason))
    });
}

// ---- the pod itself ----

/// The latest time any container finished, once one has.
fn completion_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let finished = statuses::<CONTAINERS>(pod)
        .iter()
        .filter_map(|cs| seconds(&terminated(cs)?.finished_at))
        .fold(0.0, f64::max);
    if finished > 0.0 {
        samples.push(finished);
    }
}

fn info(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let (spec, status) = (spec(pod), status(pod));
    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    let controller = owners.iter().find(|o| o.controller == Some(true));
    samples.push_labeled(
        &[
            ("host_ip", text(&status.host_ip)),
            ("pod_ip", text(&status.pod_ip)),
            ("node", text(&spec.node_name)),
            ("created_by_kind", controller.map_or("", |o| &o.kind)),
            ("created_by_name", controller.map_or("", |o| &o.name)),
            ("priority_class", text(&spec.priority_class_name)),
            ("host_network", bool_label(spec.host_network == Some(true))),
        ],
        1.0,
    );
}

/// Addresses that do not parse (Go's `netip.ParseAddr` rejects what Rust's parser does, leading
/// zeros included) yield no sample, as in kube-state-metrics.
fn ips(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    for ip in status(pod).pod_ips.as_deref().unwrap_or_default() {
        if let Some(family) = ip_family(&ip.ip) {
            samples.push_labeled(&[("ip", &ip.ip), ("ip_family", family)], 1.0);
        }
    }
}

/// `4` or `6`, IPv4-mapped IPv6 counting as 4 (kube-state-metrics unmaps it); `None` if
/// unparsable.
fn ip_family(ip: &str) -> Option<&'static str> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some("4"),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Some("4"),
        IpAddr::V6(_) => Some("6"),
    }
}

fn overhead_cpu_cores(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let overhead = spec(pod).overhead.as_ref();
    if let Some(cores) = overhead.and_then(|o| common::quantity_cores(o.get("cpu")?)) {
        samples.push(cores);
    }
}

fn overhead_memory_bytes(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let overhead = spec(pod).overhead.as_ref();
    if let Some(bytes) = overhead.and_then(|o| common::quantity_int_value(o.get("memory")?)) {
        samples.push(bytes);
    }
}

/// A claim made from a template is named in the status once the ResourceClaim exists; an
/// entry naming neither a claim nor a template references nothing and yields no sample.
fn resourceclaim_info(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let resolved = status(pod)
        .resource_claim_statuses
        .as_deref()
        .unwrap_or_default();
    for claim in spec(pod).resource_claims.as_deref().unwrap_or_default() {
        let template = claim.resource_claim_template_name.as_deref();
        if claim.resource_claim_name.is_none() && template.is_none() {
            continue;
        }
        let name = claim.resource_claim_name.as_deref().or_else(|| {
            let status = resolved.iter().find(|s| s.name == claim.name)?;
            status.resource_claim_name.as_deref()
        });
        samples.push_labeled(
            &[
                ("claim_name", &claim.name),
                ("resourceclaim_name", name.unwrap_or_default()),
                ("resourceclaim_template_name", template.unwrap_or_default()),
            ],
            1.0,
        );
    }
}

/// One sample labelled `label` = the field's value, when the field is set.
fn push_named(samples: &mut Samples, label: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        samples.push_labeled(&[(label, v)], 1.0);
    }
}

fn restart_policy(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_named(samples, "type", &spec(pod).restart_policy);
}

fn runtimeclass_name_info(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_named(samples, "runtimeclass_name", &spec(pod).runtime_class_name);
}

fn service_account(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_named(samples, "service_account", &spec(pod).service_account_name);
}

fn scheduler(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_named(samples, "name", &spec(pod).scheduler_name);
}

/// One sample per PVC-backed volume, labelled `volume`, `persistentvolumeclaim`, `ephemeral`,
/// with `value(read_only)`. Generic ephemeral volumes get the PVC Kubernetes creates for them,
/// `<pod>-<volume>`, and are never read-only.
fn push_volume_claims(pod: &Pod, samples: &mut Samples, value: fn(bool) -> f64) {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    for volume in spec(pod).volumes.as_deref().unwrap_or_default() {
        let (claim, ephemeral, read_only) =
            match (&volume.persistent_volume_claim, &volume.ephemeral) {
                (Some(pvc), _) => (pvc.claim_name.clone(), false, pvc.read_only == Some(true)),
                (None, Some(_)) => (format!("{pod_name}-{}", volume.name), true, false),
                (None, None) => continue,
            };
        samples.push_labeled(
            &[
                ("volume", &volume.name),
                ("persistentvolumeclaim", &claim),
                ("ephemeral", bool_label(ephemeral)),
            ],
            value(read_only),
        );
    }
}

fn volume_claims_info(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_volume_claims(pod, samples, |_| 1.0);
}

fn volume_claims_readonly(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_volume_claims(pod, samples, bool_value);
}

fn start_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    if let Some(t) = seconds(&status(pod).start_time) {
        samples.push(t);
    }
}

fn status_phase(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let phases = ["Pending", "Succeeded", "Failed", "Unknown", "Running"];
    common::push_one_of(samples, "phase", &phases, status(pod).phase.as_deref());
}

fn status_qos_class(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let classes = ["BestEffort", "Burstable", "Guaranteed"];
    let class = status(pod).qos_class.as_deref();
    common::push_one_of(samples, "qos_class", &classes, class);
}

fn conditions(pod: &Pod) -> impl Iterator<Item = &PodCondition> {
    status(pod).conditions.iter().flatten()
}

/// For each condition of `type_`: one sample per status, labelled `condition`.
fn push_condition_status(pod: &Pod, samples: &mut Samples, type_: &str) {
    for c in conditions(pod).filter(|c| c.type_ == type_) {
        for (label, wanted) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
            samples.push_labeled(&[("condition", label)], bool_value(c.status == wanted));
        }
    }
}

/// When each condition of `type_` with `status` last changed.
fn push_condition_time(pod: &Pod, samples: &mut Samples, type_: &str, status: &str) {
    for c in conditions(pod).filter(|c| c.type_ == type_ && c.status == status) {
        if let Some(t) = seconds(&c.last_transition_time) {
            samples.push(t);
        }
    }
}

fn status_ready(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_status(pod, samples, "Ready");
}

fn status_ready_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_time(pod, samples, "Ready", "True");
}

fn status_initialized_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_time(pod, samples, "Initialized", "True");
}

fn status_container_ready_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_time(pod, samples, "ContainersReady", "True");
}

fn status_scheduled(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_status(pod, samples, "PodScheduled");
}

fn status_scheduled_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_time(pod, samples, "PodScheduled", "True");
}

fn status_unscheduled_time(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    push_condition_time(pod, samples, "PodScheduled", "False");
}

fn status_unschedulable(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let unscheduled = conditions(pod).filter(|c| c.type_ == "PodScheduled" && c.status == "False");
    for _ in unscheduled {
        samples.push(1.0);
    }
}

/// `reason` itself when it is one of `known`, else `Other`, so the label stays bounded.
fn bounded_reason<'a>(known: &[&'a str], reason: &str) -> &'a str {
    known
        .iter()
        .find(|k| **k == reason)
        .copied()
        .unwrap_or("Other")
}

/// `status.reason`, or `SchedulingGated` for a pod its scheduling gates hold (a `PodScheduled`
/// condition, False with that reason: the gate is in a condition, not in `status.reason`); at
/// most one sample, as kube-state-metrics v2.20 reports it. Exact matches only.
fn status_reason(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    const KNOWN: &[&str] = &[
        "Evicted",
        "NodeAffinity",
        "NodeLost",
        "PreemptionByScheduler",
        "SchedulingGated",
        "Shutdown",
        "TerminationByKubelet",
        "UnexpectedAdmissionError",
    ];
    let gated = || {
        conditions(pod).any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("SchedulingGated")
        })
    };
    let reason = match text(&status(pod).reason) {
        "" if gated() => "SchedulingGated",
        reason => reason,
    };
    if !reason.is_empty() {
        samples.push_labeled(&[("reason", bounded_reason(KNOWN, reason))], 1.0);
    }
}

fn status_disruption_reason(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    const KNOWN: &[&str] = &[
        "DeletionByPodGC",
        "DeletionByTaintManager",
        "EvictionByEvictionAPI",
        "PreemptionByScheduler",
        "TerminationByKubelet",
    ];
    for c in conditions(pod).filter(|c| c.type_ == "DisruptionTarget") {
        let reason = bounded_reason(KNOWN, text(&c.reason));
        samples.push_labeled(&[("reason", reason)], 1.0);
    }
}

/// One sample per distinct toleration (a repeat would be a duplicate series).
fn tolerations(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let all = spec(pod).tolerations.as_deref().unwrap_or_default();
    for (i, t) in all.iter().enumerate() {
        if all[..i].contains(t) {
            continue;
        }
        let seconds = t.toleration_seconds.map(|s| s.to_string());
        samples.push_labeled(
            &[
                ("key", text(&t.key)),
                ("operator", text(&t.operator)),
                ("value", text(&t.value)),
                ("effect", text(&t.effect)),
                ("toleration_seconds", text(&seconds)),
            ],
            1.0,
        );
    }
}

/// Every node selector as a `nodeselector_*` label; always one sample.
fn nodeselectors(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    let selectors =
        AllowList::new(["*"]).prometheus_labels("nodeselector", spec(pod).node_selector.as_ref());
    samples.push_dynamic(selectors, 1.0);
}

/// The limits and requests a container runs with (`status.containerStatuses[].resources`), one
/// sample per resource with its `type` (`limits`, `requests`), in the units of
/// `kube_pod_container_resource_*`.
fn container_status_resources(pod: &Pod, _: &KindOptions, samples: &mut Samples) {
    for cs in statuses::<CONTAINERS>(pod) {
        let Some(resources) = cs.resources.as_ref() else {
            continue;
        };
        for (kind, list) in [
            ("limits", &resources.limits),
            ("requests", &resources.requests),
        ] {
            for (name, quantity) in list.iter().flatten() {
                if let Some((_, value)) = common::resource_unit_value(name, quantity) {
                    let resource = common::sanitize_label_name(name);
                    samples.push_labeled(
                        &[
                            ("container", &cs.name),
                            ("resource", &resource),
                            ("type", kind),
                        ],
                        value,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::CompactSamples;

    fn all_samples(json: serde_json::Value) -> CompactSamples {
        let pod: Pod = serde_json::from_value(json).expect("test pod");
        let enabled: Vec<usize> = (0..PODS.families.len()).collect();
        PODS.samples(&pod, &enabled, &KindOptions::default())
    }

    #[test]
    fn a_bare_pod_yields_only_unconditional_families() {
        let samples = all_samples(serde_json::json!({"metadata": {"name": "p"}}));
        // kube_pod_info, kube_pod_owner (no owner) and kube_pod_nodeselectors.
        assert_eq!(samples.len(), 3);
    }

    #[test]
    fn partial_states_yield_fewer_samples_not_panics() {
        let samples = all_samples(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "x"}}}]},
            "status": {"containerStatuses": [{
                "name": "c", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}
            }], "conditions": [{"type": "PodScheduled", "status": "True"}]}
        }));
        assert!(!samples.is_empty());
    }

    #[test]
    fn ip_families_follow_go() {
        assert_eq!(ip_family("10.0.0.1"), Some("4"));
        assert_eq!(ip_family("::ffff:10.0.0.1"), Some("4"));
        assert_eq!(ip_family("fd00::1"), Some("6"));
        assert_eq!(ip_family("nonsense"), None);
        assert_eq!(ip_family("010.1.1.1"), None);
    }

    #[test]
    fn reasons_are_bounded() {
        assert_eq!(bounded_reason(&["Evicted"], "Evicted"), "Evicted");
        assert_eq!(bounded_reason(&["Evicted"], "whatever"), "Other");
    }
}
