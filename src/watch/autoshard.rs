//! kube-state-metrics' automated sharding (`--pod`, `--pod-namespace`): the exporter runs as a
//! StatefulSet, reads its own pod, follows the pod's controlling owner to the StatefulSet, and
//! takes its shard from the pod name's ordinal (`<statefulset>-<n>`) and the shard count from
//! the StatefulSet's `spec.replicas` (1 when unset), as KSM's `detectStatefulSet` and
//! `shardingSettingsFromStatefulSet` do. The result overrides `--shard`/`--total-shards`.
//!
//! KSM also watches that StatefulSet and reshards in place when `spec.replicas` changes; we
//! read it once at startup, so scaling the StatefulSet needs its pods restarted (a rollout) to
//! reshard. Until then the old replicas keep the old split.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Api, Client};

use super::Shard;

/// Why the shard could not be read from the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--pod {namespace}/{pod}: reading the pod: {}", describe(.source))]
    Pod {
        namespace: String,
        pod: String,
        source: Box<kube::Error>,
    },
    #[error(
        "--pod {namespace}/{pod}: the pod has no controlling owner StatefulSet (apps/v1); \
         automated sharding runs the exporter as a StatefulSet"
    )]
    NotInStatefulSet { namespace: String, pod: String },
    #[error("--pod {namespace}/{pod}: reading its StatefulSet {statefulset}: {}", describe(.source))]
    StatefulSet {
        namespace: String,
        pod: String,
        statefulset: String,
        source: Box<kube::Error>,
    },
    #[error(
        "--pod {pod}: the name is not `{statefulset}-<ordinal>` (its StatefulSet's name, a dash \
         and a number)"
    )]
    BadOrdinal { pod: String, statefulset: String },
    #[error(
        "--pod {pod}: ordinal {ordinal} is not below StatefulSet {statefulset}'s {replicas} \
         replicas (scaling down?)"
    )]
    OrdinalNotBelowReplicas {
        pod: String,
        statefulset: String,
        ordinal: u32,
        replicas: i32,
    },
}

/// The API server's answer, with what to do about the usual ones.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 404 => {
            format!("not found ({})", status.message)
        }
        kube::Error::Api(status) if status.code == 403 => format!(
            "forbidden ({}); automated sharding needs `get` on its pod and its StatefulSet in \
             its namespace",
            status.message
        ),
        other => other.to_string(),
    }
}

/// The name of the StatefulSet that controls a pod with these owner references, as KSM picks
/// it: `apiVersion: apps/v1`, `kind: StatefulSet`, `controller: true`.
pub fn controlling_statefulset(owners: &[OwnerReference]) -> Option<&str> {
    owners
        .iter()
        .find(|o| {
            o.api_version == "apps/v1" && o.kind == "StatefulSet" && o.controller == Some(true)
        })
        .map(|o| o.name.as_str())
}

/// The ordinal of StatefulSet `statefulset`'s pod `pod` (`<statefulset>-<n>`).
pub fn ordinal(statefulset: &str, pod: &str) -> Option<u32> {
    let digits = pod.strip_prefix(statefulset)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// This pod's shard in `statefulset`: its ordinal out of `spec.replicas`.
pub fn shard_in(statefulset: &StatefulSet, pod: &str) -> Result<Shard, Error> {
    let name = statefulset.metadata.name.clone().unwrap_or_default();
    let ordinal = ordinal(&name, pod).ok_or_else(|| Error::BadOrdinal {
        pod: pod.to_string(),
        statefulset: name.clone(),
    })?;
    let replicas = statefulset
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    match u32::try_from(replicas) {
        Ok(total) if ordinal < total => Ok(Shard {
            ordinal,
            total,
            ..Shard::default()
        }),
        _ => Err(Error::OrdinalNotBelowReplicas {
            pod: pod.to_string(),
            statefulset: name,
            ordinal,
            replicas,
        }),
    }
}

/// Reads pod `namespace/pod` and its StatefulSet; returns the StatefulSet's name and the shard.
pub async fn detect(client: &Client, namespace: &str, pod: &str) -> Result<(String, Shard), Error> {
    let the_pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .get(pod)
        .await
        .map_err(|source| Error::Pod {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            source: Box::new(source),
        })?;
    let owners = the_pod.metadata.owner_references.unwrap_or_default();
    let statefulset = controlling_statefulset(&owners).ok_or_else(|| Error::NotInStatefulSet {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
    })?;
    let object = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .get(statefulset)
        .await
        .map_err(|source| Error::StatefulSet {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            statefulset: statefulset.to_string(),
            source: Box::new(source),
        })?;
    let shard = shard_in(&object, pod)?;
    Ok((statefulset.to_string(), shard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use kube::api::ObjectMeta;

    fn owner(
        api_version: &str,
        kind: &str,
        name: &str,
        controller: Option<bool>,
    ) -> OwnerReference {
        OwnerReference {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            uid: format!("uid-{name}"),
            controller,
            block_owner_deletion: None,
        }
    }

    fn statefulset(name: &str, replicas: Option<i32>) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                replicas,
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn ordinals_are_the_number_after_the_statefulset_name() {
        assert_eq!(ordinal("ksm", "ksm-0"), Some(0));
        assert_eq!(ordinal("ksm", "ksm-12"), Some(12));
        assert_eq!(ordinal("kube-state-otel", "kube-state-otel-3"), Some(3));
        assert_eq!(ordinal("a-b", "a-b-1"), Some(1));
        for bad in [
            "ksm", "ksm-", "ksm0", "ksm-x", "ksm-1a", "ksm--1", "ksm-+1", "other-1", "ksm-1-2",
        ] {
            assert_eq!(ordinal("ksm", bad), None, "{bad}");
        }
        assert_eq!(ordinal("ksm", "ksm-99999999999"), None, "beyond u32");
    }

    #[test]
    fn the_controlling_apps_v1_statefulset_is_the_owner() {
        assert_eq!(controlling_statefulset(&[]), None);
        let owners = [
            owner("v1", "Node", "n", Some(true)),
            owner("apps/v1", "StatefulSet", "not-controller", Some(false)),
            owner("apps/v1", "StatefulSet", "unset", None),
            owner("apps/v1beta1", "StatefulSet", "old-api", Some(true)),
            owner("apps/v1", "ReplicaSet", "rs", Some(true)),
        ];
        assert_eq!(controlling_statefulset(&owners), None);
        let mut with = owners.to_vec();
        with.push(owner("apps/v1", "StatefulSet", "ksm", Some(true)));
        assert_eq!(controlling_statefulset(&with), Some("ksm"));
    }

    #[test]
    fn shards_come_from_the_ordinal_and_replicas() {
        let ksm = statefulset("ksm", Some(3));
        assert_eq!(
            shard_in(&ksm, "ksm-2").unwrap(),
            Shard {
                ordinal: 2,
                total: 3,
                ..Shard::default()
            }
        );
        // Unset replicas mean 1, as in KSM.
        assert_eq!(
            shard_in(&statefulset("ksm", None), "ksm-0").unwrap(),
            Shard::default()
        );
        assert!(matches!(
            shard_in(&ksm, "ksm-3"),
            Err(Error::OrdinalNotBelowReplicas { ordinal: 3, .. })
        ));
        assert!(matches!(
            shard_in(&statefulset("ksm", Some(0)), "ksm-0"),
            Err(Error::OrdinalNotBelowReplicas { .. })
        ));
        let error = shard_in(&ksm, "other-0").unwrap_err();
        assert!(matches!(error, Error::BadOrdinal { .. }));
        assert!(error.to_string().contains("`ksm-<ordinal>`"), "{error}");
    }
}
