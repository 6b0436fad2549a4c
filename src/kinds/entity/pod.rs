//! A pod's entities, as the receiver's `pod.GetMetadata` and `container.GetMetadata` make them:
//! the pod (`k8s.pod`) and each of its started containers (`container`, identified by
//! `container.id`).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::{Attributes, CONTAINER, NAMESPACE_NAME, OBJECT, SELECTOR_LABELS, intern, rfc3339};
use crate::metric::{KindOptions, Samples};

pub const POD_NAME: &str = "k8s.pod.name";
pub const POD_UID: &str = "k8s.pod.uid";
pub const NODE_NAME: &str = "k8s.node.name";

/// Pushes the pod's entity, its containers' and its label set.
pub fn describe(pod: &Pod, options: &KindOptions, samples: &mut Samples) {
    let Some(mut attributes) = Attributes::of(pod, POD_UID) else {
        return;
    };
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    attributes.set_allowed(
        "k8s.pod.label.",
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    attributes.set(
        "pod.creation_timestamp",
        &rfc3339(meta.creation_timestamp.as_ref()),
    );
    let phase = status
        .and_then(|s| s.phase.as_deref())
        .filter(|p| !p.is_empty());
    attributes.set("k8s.pod.phase", phase.unwrap_or("Unknown"));
    if let Some(reason) = status
        .and_then(|s| s.reason.as_deref())
        .filter(|r| !r.is_empty())
    {
        attributes.set("k8s.pod.status_reason", reason);
    }
    // A ReplicaSet's or Job's pod gets its workload from that object when sent
    // (`related`): the Deployment or CronJob above it, if any.
    attributes.set_owners(meta, &["ReplicaSet", "Job"]);
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let name = meta.name.as_deref().unwrap_or_default();
    attributes.set(NAMESPACE_NAME, namespace);
    attributes.set(POD_NAME, name);
    // Not in the receiver's pod entity (its containers have it): where the pod runs.
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if let Some(node) = node.filter(|n| !n.is_empty()) {
        attributes.set(NODE_NAME, node);
    }
    attributes.push(samples, OBJECT);
    let uid = meta.uid.as_deref().unwrap_or_default();
    for container in status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
    {
        if let Some(entity) = container_entity(container, (namespace, name, uid), node) {
            entity.push(samples, CONTAINER);
        }
    }
    // Service selectors match every label, not only the allowed ones.
    if let Some(labels) = meta.labels.as_ref().filter(|l| !l.is_empty()) {
        samples.push_dynamic(
            labels.iter().map(|(k, v)| (intern(k), intern(v))),
            SELECTOR_LABELS,
        );
    }
}

/// A started container (one with an ID) as its own entity.
fn container_entity(
    status: &ContainerStatus,
    (namespace, pod, uid): (&str, &str, &str),
    node: Option<&str>,
) -> Option<Attributes> {
    let id = strip_runtime(status.container_id.as_deref()?);
    if id.is_empty() {
        return None;
    }
    let mut attributes = Attributes::new("container.id", id);
    if let Some((name, tag)) = image_name_tag(&status.image) {
        attributes.set("container.image.name", name);
        attributes.set("container.image.tag", tag);
    }
    attributes.set("k8s.container.name", &status.name);
    attributes.set(POD_NAME, pod);
    attributes.set(POD_UID, uid);
    attributes.set(NAMESPACE_NAME, namespace);
    attributes.set(NODE_NAME, node.unwrap_or_default());
    let state = status.state.as_ref();
    if let Some(running) = state.and_then(|s| s.running.as_ref()) {
        attributes.set("container.status", "running");
        if let Some(started) = &running.started_at {
            attributes.set("container.creation_timestamp", &rfc3339(Some(started)));
        }
    }
    if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
        attributes.set("container.status", "terminated");
        attributes.set(
            "container.status.reason",
            terminated.reason.as_deref().unwrap_or_default(),
        );
        if let Some(started) = &terminated.started_at {
            attributes.set("container.creation_timestamp", &rfc3339(Some(started)));
        }
    }
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        attributes.set("container.status", "waiting");
        attributes.set(
            "container.status.reason",
            waiting.reason.as_deref().unwrap_or_default(),
        );
    }
    Some(attributes)
}

/// The container ID without its runtime's scheme (`containerd://abc` → `abc`).
fn strip_runtime(id: &str) -> &str {
    match id.split_once("://") {
        Some((scheme, rest)) if scheme.chars().all(|c| c.is_alphanumeric() || c == '_') => rest,
        _ => id,
    }
}

/// An image reference's repository and tag (`latest` when it names none); `None` for a
/// reference that is only a digest.
fn image_name_tag(image: &str) -> Option<(&str, &str)> {
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    if without_digest.is_empty() {
        return None;
    }
    // A tag follows the last `:` after the last `/` (a registry's port is before it).
    let last_part = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_part..].rfind(':') {
        Some(colon) => {
            let split = last_part + colon;
            Some((&without_digest[..split], &without_digest[split + 1..]))
        }
        None => Some((without_digest, "latest")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{entity_samples, map};
    use super::*;
    use crate::kinds::pod::PODS;
    use crate::metric::AllowList;

    #[test]
    fn image_references_split_as_docker_parses_them() {
        assert_eq!(image_name_tag("nginx"), Some(("nginx", "latest")));
        assert_eq!(image_name_tag("nginx:1.25"), Some(("nginx", "1.25")));
        assert_eq!(
            image_name_tag("registry:5000/team/app:v2@sha256:abc"),
            Some(("registry:5000/team/app", "v2"))
        );
        assert_eq!(
            image_name_tag("registry:5000/team/app"),
            Some(("registry:5000/team/app", "latest"))
        );
        assert_eq!(image_name_tag("@sha256:abc"), None);
        assert_eq!(strip_runtime("containerd://0123"), "0123");
        assert_eq!(strip_runtime("0123"), "0123");
    }

    #[test]
    fn a_pod_and_its_started_containers_are_entities() {
        let pod = serde_json::json!({
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "p-1",
                "creationTimestamp": "2025-01-02T03:04:05Z",
                "labels": {"app": "web", "team": "a"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d", "uid": "rs-1"}
                ]
            },
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "sidecar"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "app", "image": "nginx:1.25", "imageID": "", "ready": true,
                     "restartCount": 0, "containerID": "containerd://c-1",
                     "state": {"running": {"startedAt": "2025-01-02T03:05:00Z"}}},
                    {"name": "sidecar", "image": "envoy", "imageID": "", "ready": false,
                     "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}}
                ]
            }
        });
        let options = KindOptions {
            allow_labels: AllowList::new(["app"]),
            ..KindOptions::default()
        };
        let samples = entity_samples(&PODS, pod, &options);
        let pod_entity = map(&[
            ("k8s.pod.uid", "p-1"),
            ("k8s.pod.label.app", "web"),
            ("pod.creation_timestamp", "2025-01-02T03:04:05Z"),
            ("k8s.pod.phase", "Running"),
            ("k8s.replicaset.name", "web-7d"),
            ("k8s.replicaset.uid", "rs-1"),
            ("k8s.namespace.name", "shop"),
            ("k8s.pod.name", "web-1"),
            ("k8s.node.name", "node-a"),
        ]);
        let container = map(&[
            ("container.id", "c-1"),
            ("container.image.name", "nginx"),
            ("container.image.tag", "1.25"),
            ("k8s.container.name", "app"),
            ("k8s.pod.name", "web-1"),
            ("k8s.pod.uid", "p-1"),
            ("k8s.namespace.name", "shop"),
            ("k8s.node.name", "node-a"),
            ("container.status", "running"),
            ("container.creation_timestamp", "2025-01-02T03:05:00Z"),
        ]);
        let labels = map(&[("app", "web"), ("team", "a")]);
        // The identifying pair comes first; the waiting container has no ID yet.
        assert_eq!(
            samples,
            [
                (OBJECT, pod_entity),
                (CONTAINER, container),
                (SELECTOR_LABELS, labels)
            ]
        );
    }

    #[test]
    fn a_pod_without_phase_or_uid() {
        let pending = serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "nu"}]},
            "status": {"reason": "Evicted"}
        });
        let samples = entity_samples(&PODS, pending, &KindOptions::default());
        assert_eq!(
            samples,
            [(
                OBJECT,
                map(&[
                    ("k8s.pod.uid", "u"),
                    ("pod.creation_timestamp", "0001-01-01T00:00:00Z"),
                    ("k8s.pod.phase", "Unknown"),
                    ("k8s.pod.status_reason", "Evicted"),
                    ("k8s.node.name", "n1"),
                    ("k8s.node.uid", "nu"),
                    ("k8s.workload.kind", "Node"),
                    ("k8s.workload.name", "n1"),
                    ("k8s.namespace.name", "n"),
                    ("k8s.pod.name", "p"),
                ])
            )]
        );
        let no_uid = serde_json::json!({"metadata": {"name": "p", "namespace": "n"}});
        assert!(entity_samples(&PODS, no_uid, &KindOptions::default()).is_empty());
    }
}
