//! Nodes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::common::{self, push_condition};
use super::entity::{self, EntityDef};
use super::{KindDef, Read};
use crate::metric::semconv::{Attr, Entity};
use crate::metric::{Family, KindOptions, Samples, SemconvMetric};

pub static NODES: KindDef<Node> = KindDef {
    resource: "nodes",
    identity_labels: &["node"],
    identity: common::name,
    read: Read::Objects,
    entity_events: Some(EntityDef {
        entity_type: "k8s.node",
        describe: describe_entity,
    }),
    entity: Some(Entity {
        identity: &["k8s.node.name"],
        uid: Some("k8s.node.uid"),
    }),
    families: &[
        Family::experimental(
            "kube_node_annotations",
            "Kubernetes annotations converted to Prometheus labels.",
            common::annotations,
        ),
        Family::stable(
            "kube_node_created",
            "Unix creation timestamp",
            common::created,
        ),
        Family::experimental(
            "kube_node_deletion_timestamp",
            "Unix deletion timestamp",
            common::deletion_timestamp,
        ),
        Family::stable("kube_node_info", "Information about a cluster node.", info),
        Family::stable(
            "kube_node_labels",
            "Kubernetes labels converted to Prometheus labels.",
            common::labels,
        ),
        Family::experimental("kube_node_role", "The role of a cluster node.", role),
        Family::experimental(
            "kube_node_spec_pod_cidrs",
            "The pod CIDRs of a cluster node.",
            pod_cidrs,
        ),
        Family::stable(
            "kube_node_spec_taint",
            "The taint of a cluster node.",
            taint,
        ),
        Family::stable(
            "kube_node_spec_unschedulable",
            "Whether a node can schedule new pods.",
            |n, _, s| {
                let unschedulable = spec(n).and_then(|sp| sp.unschedulable);
                s.push(common::bool_value(unschedulable.unwrap_or(false)));
            },
        ),
        Family::stable(
            "kube_node_status_allocatable",
            "The allocatable for different resources of a node that are available for scheduling.",
            |n, _, s| resources(s, status(n).and_then(|st| st.allocatable.as_ref())),
        )
        .semconv(&[
            SemconvMetric::updown(
                "k8s.node.cpu.allocatable",
                "{cpu}",
                "Amount of CPU allocatable on the node.",
            )
            .double()
            .when(&[("resource", &["cpu"])]),
            SemconvMetric::updown(
                "k8s.node.memory.allocatable",
                "By",
                "Amount of memory allocatable on the node.",
            )
            .when(&[("resource", &["memory"])]),
            SemconvMetric::updown(
                "k8s.node.ephemeral_storage.allocatable",
                "By",
                "Amount of ephemeral-storage allocatable on the node.",
            )
            .when(&[("resource", &["ephemeral_storage"])]),
            SemconvMetric::updown(
                "k8s.node.pod.allocatable",
                "{pod}",
                "Amount of pods allocatable on the node.",
            )
            .when(&[("resource", &["pods"])]),
        ]),
        Family::stable(
            "kube_node_status_capacity",
            "The capacity for different resources of a node.",
            |n, _, s| resources(s, status(n).and_then(|st| st.capacity.as_ref())),
        ),
        Family::stable(
            "kube_node_status_condition",
            "The condition of a cluster node.",
            status_condition,
        )
        .semconv(&[SemconvMetric::updown(
            "k8s.node.condition.status",
            "{node}",
            "Describes the condition of a particular Node.",
        )
        .attributes(&[
            Attr::Rename("condition", "k8s.node.condition.type"),
            Attr::Rename("status", "k8s.node.condition.status"),
        ])]),
        Family::experimental(
            "kube_node_status_addresses",
            "Node address information.",
            addresses,
        ),
    ],
};

fn spec(n: &Node) -> Option<&NodeSpec> {
    n.spec.as_ref()
}

fn status(n: &Node) -> Option<&NodeStatus> {
    n.status.as_ref()
}

fn info(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let spec = spec(n);
    let node_info = status(n).and_then(|st| st.node_info.as_ref());
    let info =
        |field: fn(&NodeSystemInfo) -> &String| node_info.map(field).map_or("", String::as_str);
    // The last InternalIP wins, as in kube-state-metrics.
    let internal_ip = status(n)
        .and_then(|st| st.addresses.as_deref())
        .unwrap_or_default()
        .iter()
        .rfind(|a| a.type_ == "InternalIP")
        .map_or("", |a| a.address.as_str());
    samples.push_labeled(
        &[
            ("kernel_version", info(|i| &i.kernel_version)),
            ("os_image", info(|i| &i.os_image)),
            (
                "container_runtime_version",
                info(|i| &i.container_runtime_version),
            ),
            ("kubelet_version", info(|i| &i.kubelet_version)),
            // kube-proxy no longer reports its version; kube-state-metrics keeps the label.
            ("kubeproxy_version", "deprecated"),
            (
                "provider_id",
                spec.and_then(|sp| sp.provider_id.as_deref())
                    .unwrap_or_default(),
            ),
            (
                "pod_cidr",
                spec.and_then(|sp| sp.pod_cidr.as_deref())
                    .unwrap_or_default(),
            ),
            ("system_uuid", info(|i| &i.system_uuid)),
            ("internal_ip", internal_ip),
        ],
        1.0,
    );
}

/// One sample per `node-role.kubernetes.io/<role>` label (only that prefix, as
/// kube-state-metrics; the legacy `kubernetes.io/role` label is not a role here).
fn role(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let labels = n.metadata.labels.iter().flatten();
    for role in labels.filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/")) {
        samples.push_labeled(&[("role", role)], 1.0);
    }
}

fn pod_cidrs(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let cidrs = spec(n).and_then(|sp| sp.pod_cidrs.as_deref());
    for cidr in cidrs.unwrap_or_default() {
        samples.push_labeled(&[("pod_cidr", cidr)], 1.0);
    }
}

fn taint(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let taints = spec(n).and_then(|sp| sp.taints.as_deref());
    for t in taints.unwrap_or_default() {
        let value = t.value.as_deref().unwrap_or_default();
        samples.push_labeled(
            &[("key", &t.key), ("value", value), ("effect", &t.effect)],
            1.0,
        );
    }
}

/// Capacity or allocatable, one sample per resource kube-state-metrics knows a unit for.
fn resources(samples: &mut Samples, list: Option<&BTreeMap<String, Quantity>>) {
    for (name, quantity) in list.into_iter().flatten() {
        // Pods are a node-only resource, counted as an integer.
        let unit = match name.as_str() {
            "pods" => Some("integer"),
            _ => common::resource_unit_value(name, quantity).map(|(unit, _)| unit),
        };
        // Unlike pods, nodes report every resource as `MilliValue() / 1000`, bytes included.
        let (Some(unit), Some(value)) = (unit, common::quantity_cores(quantity)) else {
            continue;
        };
        let resource = common::sanitize_label_name(name);
        samples.push_labeled(&[("resource", &resource), ("unit", unit)], value);
    }
}

fn status_condition(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let conditions = status(n).and_then(|st| st.conditions.as_deref());
    for c in conditions.unwrap_or_default() {
        push_condition(samples, &[("condition", &c.type_)], &c.status);
    }
}

fn addresses(n: &Node, _: &KindOptions, samples: &mut Samples) {
    let addresses = status(n).and_then(|st| st.addresses.as_deref());
    for a in addresses.unwrap_or_default() {
        samples.push_labeled(&[("type", &a.type_), ("address", &a.address)], 1.0);
    }
}

/// The receiver's node entity: allowed labels, name, creation time and the kubelet's own
/// conditions as `k8s.node.condition_<snake_case>` = `true`/`false`/`unknown`.
fn describe_entity(
    node: &Node,
    options: &crate::metric::KindOptions,
    samples: &mut crate::metric::Samples,
) {
    const KUBELET_CONDITIONS: [(&str, &str); 5] = [
        ("Ready", "k8s.node.condition_ready"),
        ("MemoryPressure", "k8s.node.condition_memory_pressure"),
        ("DiskPressure", "k8s.node.condition_disk_pressure"),
        ("PIDPressure", "k8s.node.condition_pid_pressure"),
        (
            "NetworkUnavailable",
            "k8s.node.condition_network_unavailable",
        ),
    ];
    let Some(mut attributes) = entity::Attributes::of(node, "k8s.node.uid") else {
        return;
    };
    let meta = &node.metadata;
    attributes.set_allowed(
        "k8s.node.label.",
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    attributes.set("k8s.node.name", meta.name.as_deref().unwrap_or_default());
    attributes.set(
        "node.creation_timestamp",
        &entity::rfc3339(meta.creation_timestamp.as_ref()),
    );
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_deref());
    for condition in conditions.unwrap_or_default() {
        if let Some((_, key)) = KUBELET_CONDITIONS
            .iter()
            .find(|(t, _)| *t == condition.type_)
        {
            attributes.set(key, &condition.status.to_lowercase());
        }
    }
    attributes.push(samples, entity::OBJECT);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples of family `name` for a node decoded from `json`, as `labels=value` strings.
    fn family(json: serde_json::Value, name: &str) -> Vec<String> {
        let node: Node = serde_json::from_value(json).expect("test node decodes");
        let index = NODES.families.iter().position(|f| f.name == name);
        let index = index.expect("family exists");
        let samples = NODES.samples(&node, &[index], &KindOptions::default());
        samples
            .family(0)
            .map(|(labels, value)| {
                let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} {value}", labels.join(","))
            })
            .collect()
    }

    #[test]
    fn resources_get_units_or_are_left_out() {
        let node = serde_json::json!({
            "metadata": {"name": "n"},
            "status": {"capacity": {
                "attachable-volumes-aws-ebs": "39",
                "cpu": "1500m",
                "example.com/dongle": "2",
                "hugepages-2Mi": "4Mi",
                "kubernetes.io/thing": "1",
                "pods": "110",
            }},
        });
        assert_eq!(
            family(node, "kube_node_status_capacity"),
            [
                "resource=attachable_volumes_aws_ebs,unit=byte 39",
                "resource=cpu,unit=core 1.5",
                "resource=example_com_dongle,unit=integer 2",
                "resource=hugepages_2Mi,unit=byte 4194304",
                "resource=pods,unit=integer 110",
            ]
        );
    }

    #[test]
    fn bare_node_yields_defaults_not_a_panic() {
        let node = serde_json::json!({"metadata": {"name": "n"}});
        assert_eq!(family(node.clone(), "kube_node_spec_unschedulable"), [" 0"]);
        assert_eq!(
            family(node.clone(), "kube_node_info"),
            [
                "kernel_version=,os_image=,container_runtime_version=,kubelet_version=,\
              kubeproxy_version=deprecated,provider_id=,pod_cidr=,system_uuid=,internal_ip= 1"
            ]
        );
        for empty in [
            "kube_node_role",
            "kube_node_status_capacity",
            "kube_node_spec_taint",
        ] {
            assert!(family(node.clone(), empty).is_empty(), "{empty}");
        }
    }

    #[test]
    fn roles_come_from_node_role_labels_only() {
        let node = serde_json::json!({"metadata": {"name": "n", "labels": {
            "kubernetes.io/role": "legacy",
            "node-role.kubernetes.io/control-plane": "",
            "node-role.kubernetes.io/worker": "true",
        }}});
        assert_eq!(
            family(node, "kube_node_role"),
            ["role=control-plane 1", "role=worker 1"]
        );
    }
}
