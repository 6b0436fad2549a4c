//! A showcase for demos, beside a [`GeneratedCluster`](crate::GeneratedCluster): objects of
//! every kind the emulator serves, in the states that make dashboards and alerts worth
//! looking at (a crash-looping and a pending pod, a failed Job, a suspended CronJob, an HPA at
//! its maximum, a Terminating namespace, DaemonSets, StatefulSets with their volumes, bound,
//! pending and released PersistentVolumes, …), and [`Churn`]: a few changes every step so that
//! values move (a rolling Deployment, an HPA scaling, a CronJob running Jobs, a pod
//! restarting, leases renewed, a node going NotReady and back).
//!
//! Everything is written through [`Emulator::apply`] and [`Emulator::delete`]: each change gets
//! a resourceVersion and a watch event, as on a real API server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{SplitMix64, now_unix, rfc3339};
use crate::{Emulator, Error, Result};

/// Namespaces of the showcase (besides the system ones the generator makes).
const SHOP: &str = "shop";
const DATA: &str = "data";
const BATCH: &str = "batch";
const MONITORING: &str = "monitoring";
/// Being deleted: its finalizer has not finished (the emulator keeps it as given).
const TERMINATING: &str = "legacy-batch";

const DAY: i64 = 86_400;

/// What the churn needs to find again: the objects it changes.
#[derive(Clone, Debug)]
pub struct Showcase {
    /// Objects applied.
    pub objects: usize,
    nodes: Vec<String>,
    seed: u64,
    storefront_pods: VecDeque<String>,
    search_web_pods: Vec<String>,
    crashing_pod: String,
}

/// A ReplicaSet's name and uid, for its pods' owner references.
#[derive(Clone, Debug)]
struct Owner {
    kind: String,
    name: String,
    uid: String,
}

/// How a showcase pod is doing.
#[derive(Clone, Copy, Debug)]
enum PodState {
    Running,
    /// Started but not ready yet (a new pod of a rollout).
    Starting,
    CrashLooping {
        restarts: u32,
    },
    /// Unschedulable.
    Pending,
    Succeeded,
    Failed,
    /// Running after `restarts` restarts, the last one killed for using too much memory.
    OomKilled {
        restarts: u32,
    },
}

/// Builds the showcase's objects: deterministic names and uids from a seed, timestamps from
/// the wall clock.
struct Builder {
    now: i64,
    rng: SplitMix64,
    objects: Vec<Value>,
}

impl Builder {
    fn new(seed: u64) -> Self {
        Builder {
            now: now_unix(),
            rng: SplitMix64::new(seed ^ 0x5E0_CA5E),
            objects: Vec::new(),
        }
    }

    fn ago(&self, seconds: i64) -> String {
        rfc3339(self.now - seconds)
    }

    /// Metadata created `age` seconds ago, with a fresh uid.
    fn meta(&mut self, namespace: Option<&str>, name: &str, age: i64, labels: Value) -> Value {
        let mut meta = json!({"name": name, "uid": self.rng.uuid(),
            "creationTimestamp": self.ago(age), "labels": labels});
        if let Some(namespace) = namespace {
            meta["namespace"] = json!(namespace);
        }
        meta
    }

    /// Pushes an object of `(apiVersion, kind)` with fresh metadata (see [`Builder::meta`]) and
    /// the members of `body`.
    fn add(
        &mut self,
        (api_version, kind): (&str, &str),
        namespace: Option<&str>,
        name: &str,
        age: i64,
        labels: Value,
        body: Value,
    ) -> Value {
        let mut object = json!({"apiVersion": api_version, "kind": kind,
            "metadata": self.meta(namespace, name, age, labels)});
        if let (Some(object), Value::Object(body)) = (object.as_object_mut(), body) {
            object.extend(body);
        }
        self.push(object)
    }

    fn push(&mut self, object: Value) -> Value {
        self.objects.push(object.clone());
        object
    }

    /// Pushes `object` and returns it as an owner of other objects.
    fn owner(&mut self, object: Value) -> Owner {
        let object = self.push(object);
        Owner {
            kind: object["kind"].as_str().unwrap_or_default().to_string(),
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .into(),
            uid: object["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .into(),
        }
    }

    fn ip(&mut self, prefix: &str) -> String {
        format!(
            "{prefix}.{}.{}",
            self.rng.below(256),
            self.rng.range(2, 254)
        )
    }

    /// A pod of `owner` (in `namespace`) on `node` with one container of `image`.
    fn pod(
        &mut self,
        namespace: &str,
        owner: &Owner,
        name: &str,
        node: Option<&str>,
        image: &str,
        state: PodState,
    ) -> Value {
        let app = owner.name.split('-').next().unwrap_or_default().to_string();
        let app = if owner.kind == "ReplicaSet" || owner.kind == "Job" {
            owner
                .name
                .rsplit_once('-')
                .map_or(app, |(a, _)| a.to_string())
        } else {
            owner.name.clone()
        };
        let age = match state {
            PodState::Starting => 5,
            _ => self.rng.range(3600, 20 * DAY as u64) as i64,
        };
        let mut meta = self.meta(Some(namespace), name, age, json!({"app": app}));
        meta["ownerReferences"] = json!([{"apiVersion": api_version_of(&owner.kind),
            "kind": owner.kind, "name": owner.name, "uid": owner.uid,
            "controller": true, "blockOwnerDeletion": true}]);
        let started = self.ago(age - 2);
        let container = image.rsplit('/').next().unwrap_or(image);
        let container = container.split(':').next().unwrap_or(container);
        let (phase, ready, scheduled) = match state {
            PodState::Running | PodState::OomKilled { .. } => ("Running", true, true),
            PodState::Starting | PodState::CrashLooping { .. } => ("Running", false, true),
            PodState::Pending => ("Pending", false, false),
            PodState::Succeeded => ("Succeeded", false, true),
            PodState::Failed => ("Failed", false, true),
        };
        let (restarts, state_json, last) = match state {
            PodState::Running => (0, json!({"running": {"startedAt": started}}), json!({})),
            PodState::Starting => (
                0,
                json!({"waiting": {"reason": "ContainerCreating"}}),
                json!({}),
            ),
            PodState::CrashLooping { restarts } => (
                restarts,
                json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off 5m0s restarting failed container={container}")}}),
                json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": self.ago(70), "finishedAt": self.ago(60)}}),
            ),
            PodState::OomKilled { restarts } => (
                restarts,
                json!({"running": {"startedAt": self.ago(600)}}),
                json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": self.ago(7200), "finishedAt": self.ago(601)}}),
            ),
            PodState::Pending => (0, json!({}), json!({})),
            PodState::Succeeded => (
                0,
                json!({"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": started, "finishedAt": self.ago(age - 60)}}),
                json!({}),
            ),
            PodState::Failed => (
                0,
                json!({"terminated": {"exitCode": 2, "reason": "Error",
                    "startedAt": started, "finishedAt": self.ago(age - 30)}}),
                json!({}),
            ),
        };
        let condition = |kind: &str, status: bool| {
            json!({"type": kind, "status": if status {"True"} else {"False"},
                   "lastTransitionTime": started})
        };
        let mut status = json!({"phase": phase, "qosClass": "Burstable",
            "conditions": [condition("PodScheduled", scheduled)]});
        if scheduled {
            let conditions = status["conditions"].as_array_mut();
            if let Some(conditions) = conditions {
                conditions.push(condition("Initialized", true));
                conditions.push(condition("ContainersReady", ready));
                conditions.push(condition("Ready", ready));
            }
            status["hostIP"] = json!(self.ip("10.0"));
            status["podIP"] = json!(self.ip("10.244"));
            status["startTime"] = json!(started);
            status["containerStatuses"] = json!([{"name": container, "image": image,
                "imageID": format!("{image}@sha256:{}", self.rng.hex(64)),
                "containerID": format!("containerd://{}", self.rng.hex(64)),
                "ready": ready, "started": ready, "restartCount": restarts,
                "state": state_json, "lastState": last}]);
        } else {
            status["conditions"][0]["reason"] = json!("Unschedulable");
            status["conditions"][0]["message"] = json!(
                "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
            );
        }
        let restart_policy = if owner.kind == "Job" {
            "Never"
        } else {
            "Always"
        };
        let mut spec = json!({"containers": [{"name": container, "image": image,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                          "limits": {"memory": "512Mi"}}}],
            "restartPolicy": restart_policy, "serviceAccountName": "default",
            "schedulerName": "default-scheduler", "priority": 0});
        if let (Some(node), true) = (node, scheduled) {
            spec["nodeName"] = json!(node);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
               "status": status})
    }
}

fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "Job" | "CronJob" => "batch/v1",
        "ReplicationController" => "v1",
        _ => "apps/v1",
    }
}

fn namespace(b: &mut Builder, name: &str, terminating: bool) {
    let mut meta = b.meta(
        None,
        name,
        120 * DAY,
        json!({"kubernetes.io/metadata.name": name}),
    );
    let mut status = json!({"phase": "Active"});
    if terminating {
        meta["deletionTimestamp"] = json!(b.ago(1800));
        status = json!({"phase": "Terminating", "conditions": [
            {"type": "NamespaceContentRemaining", "status": "True",
             "reason": "SomeResourcesRemain",
             "message": "Some resources are remaining: pods. has 1 resource instances"},
            {"type": "NamespaceFinalizersRemaining", "status": "True",
             "reason": "SomeFinalizersRemain",
             "message": "Some content in the namespace has finalizers remaining: example.com/cleanup in 1 resource instances"}]});
    }
    b.push(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]}, "status": status}),
    );
}

/// A Deployment and its current ReplicaSet (`ready` of `replicas` available); returns the
/// ReplicaSet.
fn deployment(
    b: &mut Builder,
    namespace: &str,
    name: &str,
    replicas: u32,
    ready: u32,
    image: &str,
) -> Owner {
    let labels = json!({"app": name, "app.kubernetes.io/name": name});
    let mut meta = b.meta(Some(namespace), name, 90 * DAY, labels.clone());
    meta["generation"] = json!(7);
    let stuck = ready < replicas;
    let progressing = if stuck {
        json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": format!("ReplicaSet \"{name}\" has timed out progressing.")})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"})
    };
    let template = json!({"metadata": {"labels": labels},
        "spec": {"containers": [{"name": name, "image": image}]}});
    let deployment = b.owner(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": template},
        "status": {"observedGeneration": 7, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready,
                   "unavailableReplicas": replicas - ready,
                   "conditions": [{"type": "Available",
                                   "status": if stuck {"False"} else {"True"},
                                   "reason": "MinimumReplicasAvailable"}, progressing]}}));
    let hash = b.rng.name_suffix(10);
    let rs_name = format!("{name}-{hash}");
    let mut rs_meta = b.meta(
        Some(namespace),
        &rs_name,
        30 * DAY,
        json!({"app": name, "pod-template-hash": hash}),
    );
    rs_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "name": name, "uid": deployment.uid, "controller": true}]);
    b.owner(
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name,
                  "pod-template-hash": hash}}, "template": template},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready,
                   "observedGeneration": 1}}),
    )
}

/// A ClusterIP Service selecting `app`, with its Endpoints and EndpointSlice over `ips`.
fn service(b: &mut Builder, namespace: &str, name: &str, port: u16, ips: &[String]) {
    let meta = b.meta(Some(namespace), name, 90 * DAY, json!({"app": name}));
    let cluster_ip = b.ip("10.96");
    b.push(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "selector": {"app": name}, "ipFamilies": ["IPv4"],
                 "ports": [{"name": "http", "port": port, "targetPort": port,
                            "protocol": "TCP"}]}}),
    );
    let meta = b.meta(Some(namespace), name, 90 * DAY, json!({"app": name}));
    let addresses: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    b.push(
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
        "subsets": [{"addresses": addresses,
                     "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}]}),
    );
    let slice = format!("{name}-{}", b.rng.name_suffix(5));
    let mut meta = b.meta(
        Some(namespace),
        &slice,
        90 * DAY,
        json!({"kubernetes.io/service-name": name,
               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}),
    );
    meta["generateName"] = json!(format!("{name}-"));
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| {
            json!({"addresses": [ip], "conditions": {"ready": true, "serving": true,
                          "terminating": false}})
        })
        .collect();
    b.push(
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": meta, "addressType": "IPv4", "endpoints": endpoints,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}),
    );
}

fn pod_ips(pods: &[Value]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
        .collect()
}

/// A StatefulSet with a volume claim per replica, bound to PersistentVolumes attached to the
/// pods' nodes; `pending` of its replicas cannot be scheduled (their claims wait too).
fn statefulset(
    b: &mut Builder,
    nodes: &[String],
    name: &str,
    replicas: u32,
    pending: u32,
    image: &str,
) -> Vec<Value> {
    let meta = b.meta(Some(DATA), name, 200 * DAY, json!({"app": name}));
    let ready = replicas - pending;
    let owner = b.owner(
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
        "spec": {"replicas": replicas, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}},
                 "podManagementPolicy": "OrderedReady",
                 "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                     "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                              "resources": {"requests": {"storage": "50Gi"}}}}]},
        "status": {"observedGeneration": 3, "replicas": replicas, "readyReplicas": ready,
                   "currentReplicas": replicas, "updatedReplicas": replicas,
                   "availableReplicas": ready, "currentRevision": format!("{name}-5d8f7c9b4"),
                   "updateRevision": format!("{name}-5d8f7c9b4"), "collisionCount": 0}}),
    );
    let mut pods = Vec::new();
    for i in 0..replicas {
        let pod_name = format!("{name}-{i}");
        let claim = format!("data-{pod_name}");
        let node = nodes
            .get(i as usize % nodes.len().max(1))
            .map(String::as_str);
        let state = if i >= ready {
            PodState::Pending
        } else if i == 1 {
            PodState::OomKilled { restarts: 3 }
        } else {
            PodState::Running
        };
        let mut pod = b.pod(DATA, &owner, &pod_name, node, image, state);
        pod["spec"]["volumes"] = json!([{"name": "data",
            "persistentVolumeClaim": {"claimName": claim}}]);
        b.push(pod.clone());
        pods.push(pod);
        let bound = i < ready;
        let volume = format!("pvc-{}", b.rng.uuid());
        let mut meta = b.meta(Some(DATA), &claim, 200 * DAY, json!({"app": name}));
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
            "volumeMode": "Filesystem", "resources": {"requests": {"storage": "50Gi"}}});
        let status = if bound {
            meta["annotations"] = json!({"pv.kubernetes.io/bind-completed": "yes"});
            spec["volumeName"] = json!(volume);
            json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "50Gi"}})
        } else {
            json!({"phase": "Pending"})
        };
        let claim_object = b.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta, "spec": spec, "status": status}));
        if bound {
            persistent_volume(b, &volume, "Bound", Some(&claim_object));
            if let Some(node) = node {
                let attachment = format!("csi-{}", b.rng.hex(64));
                b.add(
                    ("storage.k8s.io/v1", "VolumeAttachment"),
                    None,
                    &attachment,
                    200 * DAY,
                    json!({}),
                    json!({"spec": {"attacher": "ebs.csi.aws.com", "nodeName": node,
                             "source": {"persistentVolumeName": volume}},
                    "status": {"attached": true,
                               "attachmentMetadata": {"devicePath": "/dev/xvdba"}}}),
                );
            }
        }
    }
    pods
}

/// A PersistentVolume in `phase`, bound to `claim` when given.
fn persistent_volume(b: &mut Builder, name: &str, phase: &str, claim: Option<&Value>) {
    let meta = b.meta(None, name, 200 * DAY, json!({}));
    let mut spec = json!({"capacity": {"storage": "50Gi"}, "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": if phase == "Bound" {"Delete"} else {"Retain"},
        "storageClassName": "standard", "volumeMode": "Filesystem",
        "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": format!("vol-{}", b.rng.hex(17)),
                "fsType": "ext4"}});
    if let Some(claim) = claim {
        spec["claimRef"] = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "namespace": claim["metadata"]["namespace"], "name": claim["metadata"]["name"],
            "uid": claim["metadata"]["uid"]});
    }
    let mut status = json!({"phase": phase});
    if phase == "Failed" {
        status["message"] = json!("recycler failed: the volume is not empty");
    }
    b.push(
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta,
        "spec": spec, "status": status}),
    );
}

/// A PodDisruptionBudget keeping `min_available` of the 3 pods of `app`, `healthy` of them
/// healthy.
fn disruption_budget(
    b: &mut Builder,
    namespace: &str,
    app: &str,
    min_available: u32,
    healthy: u32,
) {
    let allowed = healthy.saturating_sub(min_available);
    b.add(
        ("policy/v1", "PodDisruptionBudget"),
        Some(namespace),
        app,
        90 * DAY,
        json!({}),
        json!({"spec": {"minAvailable": min_available,
                        "selector": {"matchLabels": {"app": app}}},
               "status": {"currentHealthy": healthy, "desiredHealthy": min_available,
                          "disruptionsAllowed": allowed, "expectedPods": 3,
                          "observedGeneration": 1}}),
    );
}

/// A DaemonSet over `nodes`: `unavailable` of them not ready (a rollout in progress); with
/// `pods`, one pod per node.
fn daemonset(
    b: &mut Builder,
    namespace: &str,
    name: &str,
    nodes: &[String],
    unavailable: usize,
    pods: bool,
) {
    let meta = b.meta(Some(namespace), name, 300 * DAY, json!({"app": name}));
    let desired = nodes.len();
    let available = desired.saturating_sub(unavailable);
    let image = format!("registry.k8s.io/{name}:v1.35.0");
    let owner = b.owner(
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "updateStrategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxUnavailable": 1}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                   "numberReady": available, "numberAvailable": available,
                   "numberUnavailable": unavailable, "numberMisscheduled": 0,
                   "updatedNumberScheduled": available, "observedGeneration": 2}}),
    );
    if pods {
        for node in nodes {
            let name = format!("{name}-{}", b.rng.name_suffix(5));
            let pod = b.pod(
                namespace,
                &owner,
                &name,
                Some(node),
                &image,
                PodState::Running,
            );
            b.push(pod);
        }
    }
}

/// A Job started `age` seconds ago: `Complete`, `Failed` or running (`active` pods, as many as
/// `parallelism`).
fn job(
    b: &mut Builder,
    name: &str,
    outcome: &str,
    parallelism: u32,
    age: i64,
    cronjob: Option<&Owner>,
) -> Owner {
    let mut meta = b.meta(Some(BATCH), name, age, json!({"job-name": name}));
    if let Some(cronjob) = cronjob {
        meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "CronJob",
            "name": cronjob.name, "uid": cronjob.uid, "controller": true}]);
    }
    let started = b.ago(age);
    let ended = b.ago(age / 2);
    let status = match outcome {
        "Complete" => json!({"startTime": started, "completionTime": ended,
            "succeeded": parallelism, "ready": 0, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True", "lastTransitionTime": ended}]}),
        "Failed" => json!({"startTime": started, "failed": 4, "ready": 0, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit",
                 "lastTransitionTime": ended}]}),
        _ => json!({"startTime": started, "active": parallelism, "ready": parallelism}),
    };
    b.owner(
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {"parallelism": parallelism, "completions": parallelism, "backoffLimit": 3,
                 "completionMode": "NonIndexed", "suspend": false,
                 "template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "ghcr.io/acme/batch:2.4.1"}]}}},
        "status": status}),
    )
}

fn cronjob(b: &mut Builder, name: &str, schedule: &str, suspended: bool) -> Owner {
    let meta = b.meta(Some(BATCH), name, 150 * DAY, json!({"app": name}));
    let mut status = json!({});
    if !suspended {
        status = json!({"lastScheduleTime": b.ago(3 * 3600),
                        "lastSuccessfulTime": b.ago(2 * 3600)});
    }
    b.owner(
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
        "spec": {"schedule": schedule, "suspend": suspended, "concurrencyPolicy": "Forbid",
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "startingDeadlineSeconds": 300,
                 "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                     "containers": [{"name": name, "image": "ghcr.io/acme/batch:2.4.1"}]}}}}},
        "status": status}),
    )
}

/// A HorizontalPodAutoscaler of Deployment `target` at `current` replicas.
fn hpa(b: &mut Builder, target: &str, min: u32, max: u32, current: u32) {
    let meta = b.meta(Some(SHOP), target, 60 * DAY, json!({"app": target}));
    b.push(hpa_object(meta, target, min, max, current));
}

fn hpa_object(meta: Value, target: &str, min: u32, max: u32, current: u32) -> Value {
    let limited = current >= max;
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": target},
                 "minReplicas": min, "maxReplicas": max,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                     "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": current, "desiredReplicas": current,
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                       "current": {"averageUtilization": if limited {96} else {64},
                                   "averageValue": "180m"}}}],
                   "conditions": [
                       {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                       {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
                       {"type": "ScalingLimited", "status": if limited {"True"} else {"False"},
                        "reason": if limited {"TooManyReplicas"} else {"DesiredWithinRange"}}]}})
}

/// Cluster-scoped configuration: storage and ingress classes, certificate requests, admission
/// webhooks and policies, RBAC.
fn cluster_objects(b: &mut Builder) {
    let mut meta = b.meta(None, "standard", 400 * DAY, json!({}));
    meta["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
    b.push(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
        "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true,
        "parameters": {"type": "gp3"}}),
    );
    b.add(
        ("storage.k8s.io/v1", "StorageClass"),
        None,
        "fast-ssd",
        100 * DAY,
        json!({}),
        json!({"provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate", "parameters": {"type": "io2", "iops": "10000"}}),
    );
    for (name, phase) in [
        ("pv-archive-01", "Released"),
        ("pv-scratch-07", "Available"),
        ("pv-legacy-nfs", "Failed"),
    ] {
        persistent_volume(b, name, phase, None);
    }
    let mut meta = b.meta(None, "nginx", 300 * DAY, json!({}));
    meta["annotations"] = json!({"ingressclass.kubernetes.io/is-default-class": "true"});
    b.push(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": meta, "spec": {"controller": "k8s.io/ingress-nginx"}}),
    );
    for (name, condition) in [
        ("csr-node-bootstrap", Some(("Approved", "AutoApproved"))),
        ("csr-team-payments-client", None),
        ("csr-unknown-signer", Some(("Denied", "SignerNotAllowed"))),
    ] {
        let name = format!("{name}-{}", b.rng.name_suffix(5));
        let meta = b.meta(None, &name, 2 * 3600, json!({}));
        let mut status = json!({});
        if let Some((kind, reason)) = condition {
            status = json!({"conditions": [{"type": kind, "status": "True", "reason": reason,
                                            "lastUpdateTime": b.ago(3000)}]});
            if kind == "Approved" {
                status["certificate"] = json!("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==");
            }
        }
        b.push(json!({"apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest", "metadata": meta,
            "spec": {"request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "client auth"], "username": "kubelet"},
            "status": status}));
    }
    b.add(
        (
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
        ),
        None,
        "cert-manager-webhook",
        200 * DAY,
        json!({}),
        json!({"webhooks": [{"name": "webhook.cert-manager.io", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "failurePolicy": "Fail",
            "clientConfig": {"service": {"name": "cert-manager-webhook",
                                         "namespace": "cert-manager", "path": "/mutate"}}}]}),
    );
    b.add(
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
        ),
        None,
        "ingress-nginx-admission",
        200 * DAY,
        json!({}),
        json!({"webhooks": [{"name": "validate.nginx.ingress.kubernetes.io",
            "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
            "clientConfig": {"service": {"name": "ingress-nginx-controller-admission",
                "namespace": "ingress-nginx", "path": "/networking/v1/ingresses"}}}]}),
    );
    for (version, kind, binding) in [
        (
            "v1",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ),
        (
            "v1",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
        ),
    ] {
        let name = if kind.starts_with("Validating") {
            "require-team-label"
        } else {
            "default-resources"
        };
        let mut meta = b.meta(None, name, 30 * DAY, json!({}));
        meta["generation"] = json!(2);
        b.push(
            json!({"apiVersion": format!("admissionregistration.k8s.io/{version}"),
            "kind": kind, "metadata": meta,
            "spec": {"failurePolicy": "Fail",
                     "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"],
                         "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                         "resources": ["deployments"]}]},
                     "validations": [{"expression": "has(object.metadata.labels.team)"}]},
            "status": {"observedGeneration": 2}}),
        );
        b.add(
            (&format!("admissionregistration.k8s.io/{version}"), binding),
            None,
            &format!("{name}-binding"),
            30 * DAY,
            json!({}),
            json!({"spec": {"policyName": name, "validationActions": ["Deny"]}}),
        );
    }
    b.add(
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        None,
        "kube-state-otel",
        30 * DAY,
        json!({}),
        json!({"rules": [{"apiGroups": [""], "resources": ["pods", "nodes"],
                                      "verbs": ["list", "watch"]}]}),
    );
    b.add(
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        None,
        "kube-state-otel",
        30 * DAY,
        json!({}),
        json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "kube-state-otel"},
        "subjects": [{"kind": "ServiceAccount", "name": "kube-state-otel",
                      "namespace": MONITORING}]}),
    );
}

/// A healthy Deployment of the shop with its `replicas` pods, spread over `nodes`; the pods
/// are named after the ReplicaSet plus a random suffix, or after the Deployment plus their
/// index when `indexed` (the churn scales those by index).
fn pods_of(
    b: &mut Builder,
    nodes: &[String],
    name: &str,
    replicas: u32,
    image: &str,
    indexed: bool,
) -> Vec<Value> {
    let owner = deployment(b, SHOP, name, replicas, replicas, image);
    let first = b.rng.below(nodes.len() as u64) as usize;
    (0..replicas as usize)
        .map(|i| {
            let pod_name = if indexed {
                format!("{name}-{i}")
            } else {
                format!("{}-{}", owner.name, b.rng.name_suffix(5))
            };
            let node = nodes.get((first + i) % nodes.len().max(1));
            let pod = b.pod(
                SHOP,
                &owner,
                &pod_name,
                node.map(String::as_str),
                image,
                PodState::Running,
            );
            b.push(pod)
        })
        .collect()
}

fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The shop: Deployments (one rolling, one at its autoscaler's maximum, one crash-looping, one
/// stuck), their Services, an Ingress with its TLS Secret, network policies, a quota near its
/// limit, a disruption budget and a ReplicationController of old.
fn shop(b: &mut Builder, nodes: &[String], showcase: &mut Showcase) {
    let storefront = pods_of(
        b,
        nodes,
        "storefront",
        3,
        "ghcr.io/acme/storefront:4.2.0",
        false,
    );
    showcase.storefront_pods = storefront.iter().map(name_of).collect();
    service(b, SHOP, "storefront", 8080, &pod_ips(&storefront));
    let checkout = pods_of(
        b,
        nodes,
        "checkout-api",
        4,
        "ghcr.io/acme/checkout:1.9.3",
        false,
    );
    service(b, SHOP, "checkout-api", 8080, &pod_ips(&checkout));
    hpa(b, "checkout-api", 2, 4, 4);
    let search = pods_of(b, nodes, "search-web", 3, "ghcr.io/acme/search:7.0.1", true);
    showcase.search_web_pods = search.iter().map(name_of).collect();
    hpa(b, "search-web", 2, 8, 3);
    let node = |i: usize| nodes.get(i % nodes.len().max(1)).map(String::as_str);
    let inventory = deployment(
        b,
        SHOP,
        "inventory-sync",
        1,
        0,
        "ghcr.io/acme/inventory:0.8.0",
    );
    let name = format!("{}-{}", inventory.name, b.rng.name_suffix(5));
    let pod = b.pod(
        SHOP,
        &inventory,
        &name,
        node(3),
        "ghcr.io/acme/inventory:0.8.0",
        PodState::CrashLooping { restarts: 12 },
    );
    b.push(pod);
    showcase.crashing_pod = name;
    b.add(
        ("v1", "ReplicationController"),
        Some(SHOP),
        "legacy-frontend",
        700 * DAY,
        json!({"app": "legacy"}),
        json!({"spec": {"replicas": 2, "selector": {"app": "legacy"},
                 "template": {"metadata": {"labels": {"app": "legacy"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.14"}]}}},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                   "availableReplicas": 2, "observedGeneration": 1}}),
    );
    b.add(("v1", "Service"), Some(SHOP), "shop-lb", 90 * DAY, json!({"app": "storefront"}), json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.96.18.3", "selector": {"app": "storefront"},
                 "externalTrafficPolicy": "Local",
                 "ports": [{"name": "https", "port": 443, "targetPort": 8080,
                            "nodePort": 31443, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"hostname":
            "a1b2c3-1234567890.us-west-2.elb.amazonaws.com"}]}}}));
    b.add(
        ("v1", "Service"),
        Some(SHOP),
        "legacy-db",
        400 * DAY,
        json!({}),
        json!({"spec": {"type": "ExternalName", "externalName": "db.legacy.example.com"}}),
    );
    b.add(
        ("networking.k8s.io/v1", "Ingress"),
        Some(SHOP),
        "shop",
        90 * DAY,
        json!({"app": "storefront"}),
        json!({"spec": {"ingressClassName": "nginx",
                 "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                 "rules": [{"host": "shop.example.com", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix", "backend": {"service":
                         {"name": "storefront", "port": {"number": 8080}}}},
                     {"path": "/api/checkout", "pathType": "Prefix", "backend": {"service":
                         {"name": "checkout-api", "port": {"number": 8080}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}}),
    );
    for (name, kind) in [
        ("shop-tls", "kubernetes.io/tls"),
        ("checkout-db", "Opaque"),
        ("registry-credentials", "kubernetes.io/dockerconfigjson"),
    ] {
        b.add(
            ("v1", "Secret"),
            Some(SHOP),
            name,
            60 * DAY,
            json!({}),
            json!({"type": kind,
            "data": {"value": "c2VjcmV0"}}),
        );
    }
    b.add(
        ("v1", "ConfigMap"),
        Some(SHOP),
        "storefront-config",
        60 * DAY,
        json!({"app": "storefront"}),
        json!({"data": {"FEATURE_FLAGS": "new-cart,express-checkout"}}),
    );
    b.add(
        ("networking.k8s.io/v1", "NetworkPolicy"),
        Some(SHOP),
        "default-deny",
        90 * DAY,
        json!({}),
        json!({"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    );
    b.add(
        ("networking.k8s.io/v1", "NetworkPolicy"),
        Some(SHOP),
        "allow-from-ingress",
        90 * DAY,
        json!({}),
        json!({"spec": {"podSelector": {"matchLabels": {"app": "storefront"}},
                 "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels":
                     {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                     "ports": [{"port": 8080, "protocol": "TCP"}]}]}}),
    );
    disruption_budget(b, SHOP, "storefront", 2, 3);
    b.add(
        ("v1", "ResourceQuota"),
        Some(SHOP),
        "compute",
        90 * DAY,
        json!({}),
        json!({"spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20",
                          "limits.memory": "16Gi"}},
        "status": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20",
                            "limits.memory": "16Gi"},
                   "used": {"requests.cpu": "3900m", "requests.memory": "6Gi", "pods": "12",
                            "limits.memory": "12Gi"}}}),
    );
    b.add(
        ("v1", "LimitRange"),
        Some(SHOP),
        "defaults",
        90 * DAY,
        json!({}),
        json!({"spec": {"limits": [{"type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "2", "memory": "4Gi"}, "min": {"cpu": "10m", "memory": "16Mi"}}]}}),
    );
    b.add(
        ("v1", "ServiceAccount"),
        Some(SHOP),
        "storefront",
        90 * DAY,
        json!({}),
        json!({}),
    );
    b.add(("rbac.authorization.k8s.io/v1", "Role"), Some(SHOP), "storefront-reader", 90 * DAY, json!({}), json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}));
    b.add(
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        Some(SHOP),
        "storefront-reader",
        90 * DAY,
        json!({}),
        json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "storefront-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "storefront", "namespace": SHOP}]}),
    );
}

/// Data: two StatefulSets (PostgreSQL healthy but for an OOM-killed restart, Kafka with a
/// replica that cannot be scheduled), a claim waiting for its volume, a blocking disruption
/// budget.
fn data(b: &mut Builder, nodes: &[String]) {
    let postgres = statefulset(b, nodes, "postgres", 3, 0, "postgres:17.2");
    service(b, DATA, "postgres", 5432, &pod_ips(&postgres));
    let kafka = statefulset(b, nodes, "kafka", 3, 1, "apache/kafka:3.9.0");
    service(b, DATA, "kafka", 9092, &pod_ips(&kafka));
    b.add(
        ("v1", "PersistentVolumeClaim"),
        Some(DATA),
        "uploads",
        2 * 3600,
        json!({"app": "uploads"}),
        json!({"spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "fast-ssd",
                 "resources": {"requests": {"storage": "500Gi"}}},
        "status": {"phase": "Pending"}}),
    );
    disruption_budget(b, DATA, "kafka", 3, 2);
}

/// Batch: a completed, a failed and a running Job, a scheduled CronJob, a suspended one, and
/// the one the churn runs.
fn batch(b: &mut Builder, nodes: &[String]) {
    let nightly = cronjob(b, "nightly-report", "0 2 * * *", false);
    let done = job(
        b,
        "nightly-report-29434560",
        "Complete",
        1,
        3 * 3600,
        Some(&nightly),
    );
    job_pods(b, nodes, &done, 1, PodState::Succeeded);
    cronjob(b, "cache-warmer", "*/15 * * * *", true);
    cronjob(b, "cleanup", "* * * * *", false);
    let failed = job(b, "report-export", "Failed", 1, 3 * 3600, None);
    job_pods(b, nodes, &failed, 2, PodState::Failed);
    let running = job(b, "backfill-2026", "Running", 2, 3 * 3600, None);
    job_pods(b, nodes, &running, 2, PodState::Running);
}

/// `count` pods of Job `job`, all in `state`.
fn job_pods(b: &mut Builder, nodes: &[String], job: &Owner, count: usize, state: PodState) {
    for i in 0..count {
        let pod_name = format!("{}-{}", job.name, b.rng.name_suffix(5));
        let node = nodes.get(i % nodes.len().max(1)).map(String::as_str);
        let pod = b.pod(
            BATCH,
            job,
            &pod_name,
            node,
            "ghcr.io/acme/batch:2.4.1",
            state,
        );
        b.push(pod);
    }
}

/// The control plane's and the nodes' leases, the system DaemonSets and the `kubernetes`
/// Service.
fn system(b: &mut Builder, nodes: &[String]) {
    daemonset(b, "kube-system", "kube-proxy", nodes, 0, true);
    daemonset(
        b,
        "kube-system",
        "fluent-bit",
        nodes,
        1.min(nodes.len()),
        false,
    );
    daemonset(b, MONITORING, "node-exporter", nodes, 0, false);
    for holder in ["kube-controller-manager", "kube-scheduler"] {
        let meta = b.meta(Some("kube-system"), holder, 400 * DAY, json!({}));
        let identity = format!("{holder}-ip-10-0-0-4_{}", b.rng.uuid());
        b.push(lease(meta, &identity, 15, b.now));
    }
    for node in nodes {
        let meta = b.meta(Some("kube-node-lease"), node, 400 * DAY, json!({}));
        b.push(lease(meta, node, 40, b.now));
    }
    let mut meta = b.meta(
        Some("default"),
        "kubernetes",
        400 * DAY,
        json!({
        "component": "apiserver", "provider": "kubernetes"}),
    );
    meta["labels"]["app"] = json!("kubernetes");
    b.push(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                 "ports": [{"name": "https", "port": 443, "targetPort": 6443,
                            "protocol": "TCP"}]}}),
    );
    b.add(
        ("v1", "ServiceAccount"),
        Some(MONITORING),
        "kube-state-otel",
        30 * DAY,
        json!({}),
        json!({}),
    );
    b.add(
        ("v1", "ConfigMap"),
        Some(TERMINATING),
        "report-archive",
        500 * DAY,
        json!({}),
        json!({"data": {"retention": "400d"}}),
    );
}

fn lease(meta: Value, holder: &str, seconds: u32, renewed: i64) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                 "acquireTime": rfc3339(renewed - 86_400), "renewTime": format!("{}.000000Z",
                     rfc3339(renewed).trim_end_matches('Z')),
                 "leaseTransitions": 2}})
}

impl Showcase {
    /// Adds the showcase to `emulator` beside what it holds, on its nodes (read from it: load
    /// the generated cluster first). Objects of kinds the emulated version does not serve are
    /// skipped, as a real cluster of that version would refuse them.
    pub fn load(emulator: &Emulator, seed: u64) -> Result<Showcase> {
        let nodes: Vec<String> = emulator
            .list("nodes")?
            .iter()
            .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
            .collect();
        let mut b = Builder::new(seed);
        let mut showcase = Showcase {
            objects: 0,
            nodes: nodes.clone(),
            seed,
            storefront_pods: VecDeque::new(),
            search_web_pods: Vec::new(),
            crashing_pod: String::new(),
        };
        for name in [SHOP, DATA, BATCH, MONITORING] {
            namespace(&mut b, name, false);
        }
        namespace(&mut b, TERMINATING, true);
        cluster_objects(&mut b);
        shop(&mut b, &nodes, &mut showcase);
        data(&mut b, &nodes);
        batch(&mut b, &nodes);
        system(&mut b, &nodes);
        for object in b.objects {
            match emulator.apply(object) {
                Ok(_) => showcase.objects += 1,
                Err(Error::NotServed { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(showcase)
    }

    /// The churn of this showcase on `emulator`.
    pub fn churn(&self, emulator: Arc<Emulator>) -> Churn {
        Churn {
            emulator,
            builder: Builder::new(self.seed ^ 0xC4_0123),
            showcase: self.clone(),
            step: 0,
            cleanup_jobs: VecDeque::new(),
        }
    }
}

/// Small changes to the showcase, step by step: each step changes a few objects.
pub struct Churn {
    emulator: Arc<Emulator>,
    builder: Builder,
    showcase: Showcase,
    step: u64,
    /// The cleanup CronJob's Jobs, oldest first, with their pods.
    cleanup_jobs: VecDeque<(String, String)>,
}

/// Steps between two runs of the cleanup CronJob; a run completes half-way to the next.
const CLEANUP_EVERY: u64 = 15;

impl Churn {
    /// Runs a step every `period` until the task is aborted.
    pub fn spawn(mut self, period: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = self.step() {
                    tracing::warn!(%error, "demo churn step failed");
                }
            }
        })
    }

    /// One step of changes.
    pub fn step(&mut self) -> Result<()> {
        self.step += 1;
        self.builder.now = now_unix();
        let step = self.step;
        self.roll_storefront()?;
        self.renew_node_lease()?;
        if step.is_multiple_of(5) {
            self.restart_crashing_pod()?;
        }
        if step.is_multiple_of(10) {
            self.scale_search_web()?;
        }
        if step % CLEANUP_EVERY == 1 {
            self.run_cleanup()?;
        } else if step % CLEANUP_EVERY == CLEANUP_EVERY / 2 {
            self.finish_cleanup()?;
        }
        if step % 40 == 20 || step % 40 == 26 {
            self.flap_node(step % 40 == 20)?;
        }
        Ok(())
    }

    /// Reads an object, changes it and writes it back; a missing object (deleted by hand) is
    /// left alone.
    fn update(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Option<Value>> {
        let Some(mut object) = self.emulator.get(resource, namespace, name)? else {
            return Ok(None);
        };
        change(&mut object);
        self.emulator.apply(object.clone())?;
        Ok(Some(object))
    }

    /// The owner reference of a pod's first owner, as an [`Owner`].
    fn owner_of(&self, resource: &str, namespace: &str, name: &str) -> Result<Option<Owner>> {
        Ok(self
            .emulator
            .get(resource, Some(namespace), name)?
            .map(|o| Owner {
                kind: o["kind"].as_str().unwrap_or_default().to_string(),
                name: name.to_string(),
                uid: o["metadata"]["uid"].as_str().unwrap_or_default().into(),
            }))
    }

    fn node(&self, i: u64) -> Option<String> {
        let nodes = &self.showcase.nodes;
        (!nodes.is_empty()).then(|| nodes[i as usize % nodes.len()].clone())
    }

    /// A rolling restart without end: every fourth step the oldest storefront pod goes and a
    /// new one starts; it is ready the step after.
    fn roll_storefront(&mut self) -> Result<()> {
        let phase = self.step % 4;
        if phase == 2 {
            let Some(newest) = self.showcase.storefront_pods.back().cloned() else {
                return Ok(());
            };
            self.update("pods", Some(SHOP), &newest, |pod| {
                pod["status"]["containerStatuses"][0]["ready"] = json!(true);
                pod["status"]["containerStatuses"][0]["started"] = json!(true);
                pod["status"]["containerStatuses"][0]["state"] =
                    json!({"running": {"startedAt": rfc3339(now_unix())}});
                for condition in pod["status"]["conditions"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    condition["status"] = json!("True");
                }
            })?;
            return Ok(());
        }
        if phase != 0 {
            return Ok(());
        }
        let Some(oldest) = self.showcase.storefront_pods.pop_front() else {
            return Ok(());
        };
        let Some(pod) = self.emulator.get("pods", Some(SHOP), &oldest)? else {
            return Ok(());
        };
        let rs = pod["metadata"]["ownerReferences"][0]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.emulator.delete("pods", Some(SHOP), &oldest)?;
        let Some(owner) = self.owner_of("replicasets", SHOP, &rs)? else {
            return Ok(());
        };
        let name = format!("{rs}-{}", self.builder.rng.name_suffix(5));
        let node = self.node(self.step / 4);
        let pod = self.builder.pod(
            SHOP,
            &owner,
            &name,
            node.as_deref(),
            "ghcr.io/acme/storefront:4.2.0",
            PodState::Starting,
        );
        self.emulator.apply(pod)?;
        self.showcase.storefront_pods.push_back(name);
        Ok(())
    }

    /// The node's kubelet renews its lease: one node a step.
    fn renew_node_lease(&self) -> Result<()> {
        let Some(node) = self.node(self.step) else {
            return Ok(());
        };
        let renewed = format!("{}.000000Z", rfc3339(now_unix()).trim_end_matches('Z'));
        self.update("leases", Some("kube-node-lease"), &node, |lease| {
            lease["spec"]["renewTime"] = json!(renewed);
        })?;
        Ok(())
    }

    /// The crash-looping container fails again.
    fn restart_crashing_pod(&self) -> Result<()> {
        let now = rfc3339(now_unix());
        self.update("pods", Some(SHOP), &self.showcase.crashing_pod, |pod| {
            let status = &mut pod["status"]["containerStatuses"][0];
            let restarts = status["restartCount"].as_u64().unwrap_or(0);
            status["restartCount"] = json!(restarts + 1);
            status["lastState"]["terminated"]["finishedAt"] = json!(now);
        })?;
        Ok(())
    }

    /// search-web's autoscaler follows the load: between its minimum and one under its maximum,
    /// the Deployment and its pods with it.
    fn scale_search_web(&mut self) -> Result<()> {
        // 2, 3, 5, 7, 5, 3, … replicas.
        let wave = [2u32, 3, 5, 7, 5, 3];
        let replicas = wave[(self.step / 10) as usize % wave.len()];
        self.update(
            "horizontalpodautoscalers",
            Some(SHOP),
            "search-web",
            |hpa| {
                let meta = hpa["metadata"].clone();
                *hpa = hpa_object(meta, "search-web", 2, 8, replicas);
            },
        )?;
        self.update("deployments", Some(SHOP), "search-web", |d| {
            d["spec"]["replicas"] = json!(replicas);
            for field in [
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
            ] {
                d["status"][field] = json!(replicas);
            }
        })?;
        let pods = &mut self.showcase.search_web_pods;
        while pods.len() > replicas as usize {
            if let Some(name) = pods.pop() {
                self.emulator.delete("pods", Some(SHOP), &name)?;
            }
        }
        let Some(template) = pods.first().cloned() else {
            return Ok(());
        };
        let Some(template) = self.emulator.get("pods", Some(SHOP), &template)? else {
            return Ok(());
        };
        while pods.len() < replicas as usize {
            let name = format!("search-web-{}", pods.len());
            let mut pod = template.clone();
            // A new pod: the API server gives it a uid and stamps it.
            if let Some(meta) = pod["metadata"].as_object_mut() {
                meta.insert("name".into(), json!(name));
                meta.remove("uid");
                meta.remove("creationTimestamp");
                meta.remove("resourceVersion");
            }
            self.emulator.apply(pod)?;
            pods.push(name);
        }
        Ok(())
    }

    /// The cleanup CronJob starts a Job with one pod; the oldest beyond the history limit (3)
    /// goes with its pod.
    fn run_cleanup(&mut self) -> Result<()> {
        let Some(cronjob) = self.owner_of("cronjobs", BATCH, "cleanup")? else {
            return Ok(());
        };
        let now = now_unix();
        // As a CronJob names its Jobs: after the scheduled minute (increasing with each run).
        let name = format!(
            "cleanup-{}",
            now.unsigned_abs() / 60 + self.step / CLEANUP_EVERY
        );
        let job = job(&mut self.builder, &name, "Running", 1, 1, Some(&cronjob));
        let pod_name = format!("{name}-{}", self.builder.rng.name_suffix(5));
        let node = self.node(self.step);
        let pod = self.builder.pod(
            BATCH,
            &job,
            &pod_name,
            node.as_deref(),
            "ghcr.io/acme/batch:2.4.1",
            PodState::Starting,
        );
        self.builder.objects.push(pod);
        for object in std::mem::take(&mut self.builder.objects) {
            self.emulator.apply(object)?;
        }
        self.update("cronjobs", Some(BATCH), "cleanup", |c| {
            c["status"]["lastScheduleTime"] = json!(rfc3339(now));
            c["status"]["active"] = json!([{"kind": "Job", "namespace": BATCH, "name": name,
                "apiVersion": "batch/v1", "uid": job.uid}]);
        })?;
        self.cleanup_jobs.push_back((name, pod_name));
        while self.cleanup_jobs.len() > 3 {
            if let Some((job, pod)) = self.cleanup_jobs.pop_front() {
                self.emulator.delete("pods", Some(BATCH), &pod)?;
                self.emulator.delete("jobs", Some(BATCH), &job)?;
            }
        }
        Ok(())
    }

    /// The cleanup Job running now completes.
    fn finish_cleanup(&self) -> Result<()> {
        let Some((job, pod)) = self.cleanup_jobs.back() else {
            return Ok(());
        };
        let now = rfc3339(now_unix());
        self.update("pods", Some(BATCH), pod, |p| {
            p["status"]["phase"] = json!("Succeeded");
            p["status"]["containerStatuses"][0]["ready"] = json!(false);
            p["status"]["containerStatuses"][0]["state"] = json!({"terminated": {
                "exitCode": 0, "reason": "Completed", "finishedAt": now}});
        })?;
        self.update("jobs", Some(BATCH), job, |j| {
            j["status"] = json!({"startTime": j["status"]["startTime"], "completionTime": now,
                "succeeded": 1, "ready": 0, "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True", "lastTransitionTime": now}]});
        })?;
        self.update("cronjobs", Some(BATCH), "cleanup", |c| {
            c["status"]["lastSuccessfulTime"] = json!(now);
            if let Some(status) = c["status"].as_object_mut() {
                status.remove("active");
            }
        })?;
        Ok(())
    }

    /// A worker node stops reporting (Ready Unknown), and comes back six steps later.
    fn flap_node(&self, down: bool) -> Result<()> {
        let nodes = &self.showcase.nodes;
        // The last node: the first ones are the control plane.
        let Some(node) = nodes.last() else {
            return Ok(());
        };
        let now = rfc3339(now_unix());
        self.update("nodes", None, node, |n| {
            for condition in n["status"]["conditions"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if condition["type"] == "Ready" {
                    condition["status"] = json!(if down { "Unknown" } else { "True" });
                    condition["reason"] = json!(if down {
                        "NodeStatusUnknown"
                    } else {
                        "KubeletReady"
                    });
                    condition["lastTransitionTime"] = json!(now);
                }
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GeneratedCluster;

    fn names(emulator: &Emulator, resource: &str, namespace: &str, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = emulator
            .list(resource)
            .unwrap()
            .iter()
            .filter(|o| o["metadata"]["namespace"] == namespace)
            .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    fn ready_condition(emulator: &Emulator, node: &str) -> String {
        let node = emulator.get("nodes", None, node).unwrap().unwrap();
        node["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap()
    }

    /// The interesting states are there (that every kind the exporter watches has objects is
    /// checked by its `tests/operability.rs`).
    #[test]
    fn the_showcase_has_every_kind_in_telling_states() {
        let emulator = Emulator::with_config(crate::EmulatorConfig {
            kubernetes_version: format!("v1.{}.0", crate::NEWEST_MINOR),
            ..crate::EmulatorConfig::default()
        })
        .unwrap();
        emulator.load_generated(&GeneratedCluster::new(4, 3, 1));
        let showcase = Showcase::load(&emulator, 1).unwrap();
        assert!(showcase.objects > 100, "{}", showcase.objects);
        let pod = |name: &str| emulator.get("pods", Some(SHOP), name).unwrap().unwrap();
        let crashing = pod(&showcase.crashing_pod);
        assert_eq!(
            crashing["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        let kafka = emulator
            .get("pods", Some(DATA), "kafka-2")
            .unwrap()
            .unwrap();
        assert_eq!(kafka["status"]["phase"], "Pending");
        let namespace = emulator
            .get("namespaces", None, TERMINATING)
            .unwrap()
            .unwrap();
        assert_eq!(namespace["status"]["phase"], "Terminating");
        let hpa = emulator
            .get("horizontalpodautoscalers", Some(SHOP), "checkout-api")
            .unwrap()
            .unwrap();
        assert_eq!(hpa["status"]["currentReplicas"], hpa["spec"]["maxReplicas"]);
        let cache_warmer = emulator
            .get("cronjobs", Some(BATCH), "cache-warmer")
            .unwrap()
            .unwrap();
        assert_eq!(cache_warmer["spec"]["suspend"], true);
        let failed = emulator
            .get("jobs", Some(BATCH), "report-export")
            .unwrap()
            .unwrap();
        assert_eq!(failed["status"]["conditions"][1]["type"], "Failed");
        assert_eq!(
            names(&emulator, "pods", "kube-system", "kube-proxy-").len(),
            4,
            "a kube-proxy pod per node"
        );
    }

    /// Steps change objects through the API (each a resourceVersion and a watch event) and
    /// keep the showcase consistent: the rollout keeps three pods, the autoscaled Deployment
    /// has as many pods as its autoscaler says, the CronJob keeps three Jobs, the node that
    /// went NotReady comes back.
    #[test]
    fn the_churn_keeps_the_showcase_consistent() {
        let emulator = Arc::new(Emulator::with_cluster(&GeneratedCluster::new(3, 2, 1)));
        let showcase = Showcase::load(&emulator, 1).unwrap();
        let storefront = names(&emulator, "pods", SHOP, "storefront-");
        let mut churn = showcase.churn(emulator.clone());
        let node = showcase.nodes.last().unwrap().clone();
        let mut version = emulator.resource_version();
        for step in 1..=80 {
            churn.step().unwrap();
            assert!(emulator.resource_version() > version, "step {step} wrote");
            version = emulator.resource_version();
            match step {
                20 => assert_eq!(ready_condition(&emulator, &node), "Unknown"),
                26 => assert_eq!(ready_condition(&emulator, &node), "True"),
                _ => {}
            }
        }
        let now = names(&emulator, "pods", SHOP, "storefront-");
        assert_eq!(now.len(), 3, "{now:?}");
        assert_ne!(now, storefront, "the storefront rolled");
        let hpa = emulator
            .get("horizontalpodautoscalers", Some(SHOP), "search-web")
            .unwrap()
            .unwrap();
        let replicas = hpa["status"]["currentReplicas"].as_u64().unwrap() as usize;
        assert_eq!(
            names(&emulator, "pods", SHOP, "search-web-").len(),
            replicas
        );
        let jobs = names(&emulator, "jobs", BATCH, "cleanup-");
        assert!((1..=3).contains(&jobs.len()), "{jobs:?}");
        let crashing = emulator
            .get("pods", Some(SHOP), &showcase.crashing_pod)
            .unwrap()
            .unwrap();
        assert_eq!(
            crashing["status"]["containerStatuses"][0]["restartCount"],
            12 + 80 / 5
        );
    }
}
