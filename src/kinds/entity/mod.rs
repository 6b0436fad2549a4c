//! Entity events: what each kind tells about its objects as OpenTelemetry entities, copied
//! from the Collector's k8scluster receiver (`receiver/k8sclusterreceiver`, each kind's
//! `GetMetadata`): the entity type (`k8s.pod`), the identifying attribute (`k8s.pod.uid`) and
//! the descriptive attributes.
//!
//! A kind's [`EntityDef`] writes them as one more family of the object's samples, after its
//! metric families, so the store keeps them with the object and drops them with it (the
//! decoded object is never kept): one sample per entity, its labels the attribute pairs, the
//! identifying pair first, its value saying what it is ([`OBJECT`], [`CONTAINER`]). Pods also
//! keep their whole label set ([`SELECTOR_LABELS`]) to find the Services selecting them.
//! What a pod's entity takes from other objects (its workload through its ReplicaSet or Job,
//! its Services) is resolved when its events are sent ([`related`]).

pub mod pod;
pub mod related;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::KubeObject;
use crate::metric::{AllowList, KindOptions, Samples, Text, intern};

/// The sample of the object's own entity.
pub const OBJECT: f64 = 0.0;
/// The sample of one of a pod's containers (entity type [`CONTAINER_TYPE`]).
pub const CONTAINER: f64 = 1.0;
/// A pod's labels, all of them: not an entity, what Service selectors are matched against.
pub const SELECTOR_LABELS: f64 = 2.0;

/// The entity type of a pod's containers, as the receiver names it.
pub const CONTAINER_TYPE: &str = "container";

/// How a kind's objects become entities.
pub struct EntityDef<O: 'static> {
    /// `k8s.pod`, `k8s.deployment`, …
    pub entity_type: &'static str,
    /// Pushes the object's entity samples (nothing for an object without a UID).
    pub describe: fn(&O, &KindOptions, &mut Samples),
}

/// The attribute pairs of one entity, the identifying pair first; setting a key again
/// replaces its value, as the receiver's map does.
pub struct Attributes(Vec<(Text, Text)>);

impl Attributes {
    /// An entity identified by `key` = `id`.
    pub fn new(key: &str, id: &str) -> Self {
        Attributes(vec![(intern(key), intern(id))])
    }

    /// The entity of `object`, identified by `key` = its UID; `None` without a UID.
    pub fn of<O: KubeObject>(object: &O, key: &str) -> Option<Self> {
        let uid = meta(object).uid.as_deref().filter(|uid| !uid.is_empty())?;
        Some(Attributes::new(key, uid))
    }

    pub fn set(&mut self, key: &str, value: &str) {
        let value = intern(value);
        match self.0.iter_mut().skip(1).find(|(k, _)| k.as_str() == key) {
            Some((_, existing)) => *existing = value,
            None => self.0.push((intern(key), value)),
        }
    }

    /// `prefix<key>` = value for each entry of `map` `allow` lets through.
    pub fn set_allowed(
        &mut self,
        prefix: &str,
        allow: &AllowList,
        map: Option<&BTreeMap<String, String>>,
    ) {
        for (key, value) in allow.allowed(map) {
            self.set(&format!("{prefix}{key}"), value);
        }
    }

    /// `k8s.<kind>.name` and `k8s.<kind>.uid` of each owner; the workload (`k8s.workload.*`)
    /// too for owners other than `skip_workload` kinds.
    pub fn set_owners(&mut self, meta: &ObjectMeta, skip_workload: &[&str]) {
        for owner in meta.owner_references.iter().flatten() {
            let kind = owner.kind.to_lowercase();
            self.set(&format!("k8s.{kind}.name"), &owner.name);
            self.set(&format!("k8s.{kind}.uid"), &owner.uid);
            if !skip_workload.contains(&owner.kind.as_str()) {
                self.set(WORKLOAD_KIND, &owner.kind);
                self.set(WORKLOAD_NAME, &owner.name);
            }
        }
    }

    /// Adds the entity to `samples` as a sample of value `what`.
    pub fn push(self, samples: &mut Samples, what: f64) {
        samples.push_dynamic(self.0, what);
    }
}

pub const WORKLOAD_KIND: &str = "k8s.workload.kind";
pub const WORKLOAD_NAME: &str = "k8s.workload.name";
pub const NAMESPACE_NAME: &str = "k8s.namespace.name";

pub fn meta<O: KubeObject>(object: &O) -> &ObjectMeta {
    k8s_openapi::Metadata::metadata(object)
}

/// A time as Go's `time.Format(time.RFC3339)` writes a Kubernetes time (UTC, seconds).
pub fn rfc3339(time: Option<&Time>) -> String {
    match time {
        Some(time) => time.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Go's zero time, which the receiver writes for an unset creation timestamp.
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// The receiver's `GetGenericMetadata`, which most workload kinds use: allowed labels as
/// `k8s.<kind>.label.<key>`, the object as its own workload (`kind` as given: `Deployment`,
/// `HPA`), `<kind>.creation_timestamp`, its namespace and its owners. The entity type is
/// `k8s.<kind>`, identified by `k8s.<kind>.uid`.
pub fn generic<O: KubeObject>(object: &O, kind: &str, options: &KindOptions) -> Option<Attributes> {
    let lower = kind.to_lowercase();
    let meta = meta(object);
    let mut attributes = Attributes::of(object, &format!("k8s.{lower}.uid"))?;
    attributes.set_allowed(
        &format!("k8s.{lower}.label."),
        &options.allow_labels,
        meta.labels.as_ref(),
    );
    let name = meta.name.as_deref().unwrap_or_default();
    attributes.set(WORKLOAD_KIND, kind);
    attributes.set(WORKLOAD_NAME, name);
    attributes.set(
        &format!("{lower}.creation_timestamp"),
        &rfc3339(meta.creation_timestamp.as_ref()),
    );
    attributes.set(
        NAMESPACE_NAME,
        meta.namespace.as_deref().unwrap_or_default(),
    );
    attributes.set_owners(meta, &[]);
    Some(attributes)
}

/// Pushes the [`generic`] entity of `object` (kinds with nothing of their own).
pub fn push_generic<O: KubeObject>(
    object: &O,
    kind: &str,
    options: &KindOptions,
    samples: &mut Samples,
) {
    if let Some(attributes) = generic(object, kind, options) {
        attributes.push(samples, OBJECT);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use super::super::KindDef;
    use super::*;

    /// The entity samples `kind` keeps for `object` (JSON) with `options`: (value, pairs).
    pub fn entity_samples<O: KubeObject>(
        kind: &KindDef<O>,
        object: serde_json::Value,
        options: &KindOptions,
    ) -> Vec<(f64, BTreeMap<String, String>)> {
        let object: O = serde_json::from_value(object).expect("a valid object");
        let options = KindOptions {
            entity_events: true,
            ..options.clone()
        };
        let samples = kind.samples(&object, &[], &options);
        let last = samples.family_count() - 1;
        samples
            .family(last)
            .map(|(labels, value)| {
                let pairs = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (value, pairs)
            })
            .collect()
    }

    pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{entity_samples, map};
    use super::*;
    use crate::kinds::{cronjob, deployment, horizontalpodautoscaler, namespace, node, service};

    fn options() -> KindOptions {
        KindOptions {
            allow_labels: AllowList::new(["team"]),
            allow_annotations: AllowList::new(["owner"]),
            ..KindOptions::default()
        }
    }

    #[test]
    fn each_kind_describes_its_objects_as_the_receiver_does() {
        let meta = serde_json::json!({
            "name": "x", "namespace": "ns", "uid": "u-1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"team": "a", "app": "b"}, "annotations": {"owner": "me", "other": "no"}
        });
        let deployment = serde_json::json!({"metadata": meta});
        assert_eq!(
            entity_samples(&deployment::DEPLOYMENTS, deployment, &options()),
            [(
                OBJECT,
                map(&[
                    ("k8s.deployment.uid", "u-1"),
                    ("k8s.deployment.label.team", "a"),
                    ("k8s.workload.kind", "Deployment"),
                    ("k8s.workload.name", "x"),
                    ("deployment.creation_timestamp", "2025-01-01T00:00:00Z"),
                    ("k8s.namespace.name", "ns"),
                    ("k8s.deployment.name", "x"),
                ])
            )]
        );
        let hpa = serde_json::json!({"metadata": meta, "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "x"}}});
        let samples = entity_samples(
            &horizontalpodautoscaler::HORIZONTALPODAUTOSCALERS,
            hpa,
            &options(),
        );
        assert_eq!(
            samples[0].1.get("k8s.hpa.uid").map(String::as_str),
            Some("u-1")
        );
        assert_eq!(
            samples[0].1.get("k8s.workload.kind").map(String::as_str),
            Some("HPA")
        );
        assert!(samples[0].1.contains_key("hpa.creation_timestamp"));
        let cronjob = serde_json::json!({"metadata": meta, "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {}}});
        let samples = entity_samples(&cronjob::CRONJOBS, cronjob, &options());
        assert_eq!(
            samples[0].1.get("schedule").map(String::as_str),
            Some("*/5 * * * *")
        );
        assert_eq!(
            samples[0].1.get("concurrency_policy").map(String::as_str),
            Some("Forbid")
        );
        let node = serde_json::json!({
            "metadata": {"name": "n1", "uid": "n-1", "labels": {"team": "a"}},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "PIDPressure", "status": "False"},
                {"type": "NetworkUnavailable", "status": "Unknown"},
                {"type": "CustomProblem", "status": "True"}
            ]}
        });
        assert_eq!(
            entity_samples(&node::NODES, node, &options()),
            [(
                OBJECT,
                map(&[
                    ("k8s.node.uid", "n-1"),
                    ("k8s.node.label.team", "a"),
                    ("k8s.node.name", "n1"),
                    ("node.creation_timestamp", "0001-01-01T00:00:00Z"),
                    ("k8s.node.condition_ready", "true"),
                    ("k8s.node.condition_pid_pressure", "false"),
                    ("k8s.node.condition_network_unavailable", "unknown"),
                ])
            )]
        );
        let ns = serde_json::json!({"metadata": {"name": "shop", "uid": "ns-1", "labels": {"team": "a"}}, "status": {"phase": "Terminating"}});
        assert_eq!(
            entity_samples(&namespace::NAMESPACES, ns, &options()),
            [(
                OBJECT,
                map(&[
                    ("k8s.namespace.uid", "ns-1"),
                    ("k8s.namespace.name", "shop"),
                    ("k8s.namespace.phase", "terminating"),
                    ("k8s.namespace.creation_timestamp", "0001-01-01T00:00:00Z"),
                ])
            )]
        );
        let svc = serde_json::json!({"metadata": meta, "spec": {"selector": {"app": "b"}}});
        assert_eq!(
            entity_samples(&service::SERVICES, svc, &options()),
            [(
                OBJECT,
                map(&[
                    ("k8s.service.uid", "u-1"),
                    ("k8s.namespace.name", "ns"),
                    ("k8s.service.name", "x"),
                    ("k8s.service.creation_timestamp", "2025-01-01T00:00:00Z"),
                    ("k8s.service.selector.app", "b"),
                    ("k8s.service.label.team", "a"),
                    ("k8s.service.annotation.owner", "me"),
                ])
            )]
        );
    }

    #[test]
    fn without_entity_events_no_family_is_added() {
        let object: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "a", "uid": "u"}}))
                .expect("valid");
        let samples = namespace::NAMESPACES.samples(&object, &[0], &KindOptions::default());
        assert_eq!(samples.family_count(), 1);
    }
}
