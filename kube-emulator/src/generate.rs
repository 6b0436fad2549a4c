//! Deterministic synthetic clusters: namespaces, nodes, deployments → replicasets → pods.
//!
//! Every object is derived from `(seed, kind, index)` alone, so the same settings give
//! byte-identical objects however many threads build them. Objects are written straight to
//! JSON bytes ([`crate::jsonw`]); per-workload parts shared by its pods (container specs) are
//! written once and copied.

use serde_json::Value;

use crate::jsonw::{Pairs, Quoted, Raw, Ts, jw, raw};
use crate::object::{Parts, StoredObject};
use crate::resources::{self, ResourceId};
use crate::util::SplitMix64;

/// Settings of a synthetic cluster. `GeneratedCluster::new(nodes, pods_per_node, seed)`
/// fills the rest with realistic defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedCluster {
    /// Number of nodes.
    pub nodes: usize,
    /// Pods per node; the cluster has `nodes * pods_per_node` pods.
    pub pods_per_node: usize,
    /// Seed for every random choice.
    pub seed: u64,
    /// Roughly how many pods share a namespace.
    pub pods_per_namespace: usize,
    /// Fewest workload namespaces (besides `default`, `kube-system`, ...).
    pub min_namespaces: usize,
    /// Largest deployment size; sizes are drawn from `1..=max_replicas`.
    pub max_replicas: usize,
    /// Fraction of pods crash-looping.
    pub crashloop_ratio: f64,
    /// Fraction of pods pending (unschedulable).
    pub pending_ratio: f64,
    /// Nodes labelled and tainted as control plane (capped by `nodes`).
    pub control_plane_nodes: usize,
    /// "Now" for timestamps, in Unix seconds; fixed so output does not depend on the clock.
    pub now_unix: i64,
}

const STREAM_PLAN: u64 = 1;
const STREAM_NS: u64 = 2;
const STREAM_NODE: u64 = 3;
const STREAM_DEPLOY: u64 = 4;
const STREAM_POD: u64 = 5;

/// System namespaces every cluster has; workload namespaces follow them.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "identity",
    "platform",
    "data",
    "growth",
    "ads",
    "media",
    "support",
    "billing",
    "catalog",
    "inventory",
    "shipping",
    "ml",
    "observability",
];
const ROLES: &[&str] = &[
    "api",
    "web",
    "worker",
    "consumer",
    "gateway",
    "scheduler",
    "cache",
    "frontend",
    "backend",
    "indexer",
    "notifier",
    "exporter",
];
const ZONES: &[&str] = &["us-west-2a", "us-west-2b", "us-west-2c"];
const INSTANCE_TYPES: &[(&str, u64, u64)] = &[
    // (type, cpus, memory GiB)
    ("m5.2xlarge", 8, 32),
    ("m5.4xlarge", 16, 64),
    ("c5.4xlarge", 16, 32),
    ("r5.4xlarge", 16, 128),
    ("m5.8xlarge", 32, 128),
];
const CPU_REQUESTS: &[&str] = &["50m", "100m", "200m", "250m", "500m", "1"];
const MEM_REQUESTS: &[&str] = &["64Mi", "128Mi", "256Mi", "512Mi", "1Gi", "2Gi"];
/// Stands in for the per-pod service-account volume name (a JSON string, quotes included)
/// in the shared pod spec.
const SA_PLACEHOLDER: &[u8] = b"@@KUBE_API_ACCESS@@";

/// A workload's place in the cluster, decided up front.
struct WorkloadPlan {
    /// Index among the workload namespaces.
    ns: usize,
    first_pod: usize,
    replicas: usize,
    revision: u64,
}

/// What a workload looks like; shared by its deployment, replicasets and pods.
struct Workload {
    index: usize,
    namespace: String,
    name: String,
    app: String,
    role: &'static str,
    replicas: usize,
    first_pod: usize,
    uid: String,
    created: i64,
    revision: u64,
    hash: String,
    rs_uid: String,
    rs_created: i64,
    old_rs: Option<(String, String)>,
    labels: Vec<(String, String)>,
    /// Deployment/ReplicaSet `spec.template.spec`.
    template_spec: Raw,
    /// Pod `spec` members up to (not including) `nodeName` and the closing brace, split at
    /// the service-account volume name.
    pod_spec: Vec<Vec<u8>>,
    containers: Vec<ContainerPlan>,
    init: Option<ContainerPlan>,
    qos: &'static str,
}

struct ContainerPlan {
    name: String,
    image: String,
    image_id: String,
}

/// Resource ids of the generated kinds (all in the static table; a unit test checks).
struct Ids {
    namespace: ResourceId,
    service_account: ResourceId,
    config_map: ResourceId,
    node: ResourceId,
    deployment: ResourceId,
    replica_set: ResourceId,
    pod: ResourceId,
}

impl Ids {
    fn new() -> Self {
        let id = |n: &str| resources::by_name(n).unwrap_or_default();
        Self {
            namespace: id("namespaces"),
            service_account: id("serviceaccounts"),
            config_map: id("configmaps"),
            node: id("nodes"),
            deployment: id("deployments.apps"),
            replica_set: id("replicasets.apps"),
            pod: id("pods"),
        }
    }
}

/// Writes one object: metadata first (so the metadata-only form is a prefix), then the rest.
fn build(
    parts: Parts<'_>,
    meta: impl FnOnce(&mut Vec<u8>),
    rest: impl FnOnce(&mut Vec<u8>),
) -> StoredObject {
    let mut body = Vec::with_capacity(2048);
    body.extend_from_slice(b"\"metadata\":");
    meta(&mut body);
    let meta_len = body.len();
    rest(&mut body);
    StoredObject::from_parts(parts, body, meta_len)
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl GeneratedCluster {
    /// A cluster of `nodes` × `pods_per_node` pods with default proportions.
    pub fn new(nodes: usize, pods_per_node: usize, seed: u64) -> Self {
        Self {
            nodes,
            pods_per_node,
            seed,
            pods_per_namespace: 50,
            min_namespaces: 3,
            max_replicas: 5,
            crashloop_ratio: 0.02,
            pending_ratio: 0.005,
            control_plane_nodes: 3,
            // 2025-06-15T15:06:40Z
            now_unix: 1_750_000_000,
        }
    }

    /// The same cluster with timestamps relative to the wall clock (for demos; the output
    /// then depends on when it is generated).
    pub fn at_current_time(mut self) -> Self {
        self.now_unix = crate::util::now_unix();
        self
    }

    /// Total pods.
    pub fn pod_count(&self) -> usize {
        self.nodes * self.pods_per_node
    }

    fn namespace_names(&self) -> Vec<String> {
        let n = (self.pod_count() / self.pods_per_namespace.max(1)).max(self.min_namespaces);
        let mut out: Vec<String> = SYSTEM_NAMESPACES.iter().map(|s| s.to_string()).collect();
        out.extend((0..n).map(|i| format!("{}-{i}", TEAMS[i % TEAMS.len()])));
        out
    }

    /// Workload sizes, namespaces and revisions; cheap, sequential and the only
    /// cross-object state.
    fn plan(&self) -> Vec<WorkloadPlan> {
        let total = self.pod_count();
        let n_ns = self.namespace_names().len() - SYSTEM_NAMESPACES.len();
        let mut g = SplitMix64::for_item(self.seed, STREAM_PLAN, 0);
        let mut out = Vec::new();
        let mut pod = 0;
        while pod < total {
            let replicas = (g.range(1, self.max_replicas.max(1) as u64) as usize).min(total - pod);
            out.push(WorkloadPlan {
                ns: pod * n_ns / total.max(1),
                first_pod: pod,
                replicas,
                revision: g.range(1, 12),
            });
            pod += replicas;
        }
        out
    }

    /// All objects in creation order, with kind, apiVersion and resourceVersions `1..`.
    /// Meant for small clusters (it parses every object into a `Value`).
    pub fn objects(&self) -> Vec<Value> {
        self.stored_objects(1)
            .iter()
            .filter_map(|o| {
                o.to_value(resources::get(o.resource).preferred_version())
                    .ok()
            })
            .collect()
    }

    /// How many objects each unit (namespace, node, workload) generates.
    fn unit_sizes(&self, namespaces: &[String], plan: &[WorkloadPlan]) -> Vec<usize> {
        let mut sizes = vec![3; namespaces.len()];
        sizes.extend(std::iter::repeat_n(1, self.nodes));
        sizes.extend(
            plan.iter()
                .map(|w| 2 + usize::from(w.revision > 1) + w.replicas),
        );
        sizes
    }

    /// Builds stored objects with resourceVersions `first_rv..` in creation order
    /// (namespaces, nodes, then each deployment with its replicasets and pods), on all cores.
    pub(crate) fn stored_objects(&self, first_rv: u64) -> Vec<StoredObject> {
        let (namespaces, plan) = (self.namespace_names(), self.plan());
        let sizes = self.unit_sizes(&namespaces, &plan);
        let units = sizes.len();
        let mut first = Vec::with_capacity(units);
        let mut next = first_rv;
        for s in &sizes {
            first.push(next);
            next += *s as u64;
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 16);
        // Split by object count so threads get similar work.
        let per_thread = (next - first_rv).div_ceil(threads as u64).max(1);
        let mut bounds = vec![0];
        for (u, f) in first.iter().enumerate() {
            if f - first_rv >= per_thread * bounds.len() as u64 {
                bounds.push(u);
            }
        }
        bounds.push(units);
        bounds.dedup();
        let ids = Ids::new();
        let (namespaces, plan, first, ids) = (&namespaces, &plan, &first, &ids);
        std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .windows(2)
                .map(|w| {
                    let (start, end) = (w[0], w[1]);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for (u, rv) in first.iter().enumerate().take(end).skip(start) {
                            self.unit(ids, namespaces, plan, u, *rv, &mut out);
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    fn unit(
        &self,
        ids: &Ids,
        namespaces: &[String],
        plan: &[WorkloadPlan],
        u: usize,
        rv: u64,
        out: &mut Vec<StoredObject>,
    ) {
        if u < namespaces.len() {
            self.namespace_objects(ids, u, &namespaces[u], rv, out);
        } else if u < namespaces.len() + self.nodes {
            out.push(self.node(ids, u - namespaces.len(), rv));
        } else {
            let d = u - namespaces.len() - self.nodes;
            let p = &plan[d];
            let w = self.workload(d, p, &namespaces[SYSTEM_NAMESPACES.len() + p.ns]);
            let mut rv = rv;
            out.push(self.deployment(ids, &w, rv));
            rv += 1;
            if let Some(o) = self.old_replicaset(ids, &w, rv) {
                out.push(o);
                rv += 1;
            }
            out.push(self.replicaset(ids, &w, rv));
            rv += 1;
            for p in 0..w.replicas {
                out.push(self.pod(ids, &w, p, rv));
                rv += 1;
            }
        }
    }

    fn namespace_objects(
        &self,
        ids: &Ids,
        i: usize,
        name: &str,
        rv: u64,
        out: &mut Vec<StoredObject>,
    ) {
        let mut g = SplitMix64::for_item(self.seed, STREAM_NS, i as u64);
        let system = i < SYSTEM_NAMESPACES.len();
        let age = if system {
            400 * 86_400
        } else {
            g.range(30, 390) as i64 * 86_400
        };
        let created = self.now_unix - age;
        let mut labels = pairs(&[("kubernetes.io/metadata.name", name)]);
        if !system {
            let team = TEAMS[(i - SYSTEM_NAMESPACES.len()) % TEAMS.len()];
            labels.push((
                "environment".into(),
                g.pick(&["production", "staging"]).to_string(),
            ));
            labels.push(("team".into(), team.into()));
        }
        let uid = g.uuid();
        out.push(build(
            Parts {
                resource: ids.namespace,
                namespace: "",
                name,
                uid: &uid,
                created_unix: created,
                resource_version: rv,
                labels: &labels,
                fields: &[("status.phase", "Active")],
            },
            |b| {
                jw!(b; {"name": name, "uid": uid, "resourceVersion": Quoted(rv),
                        "creationTimestamp": Ts(created), "labels": Pairs(&labels)})
            },
            |b| {
                b.extend_from_slice(b",\"spec\":");
                jw!(b; {"finalizers": ["kubernetes"]});
                b.extend_from_slice(b",\"status\":");
                jw!(b; {"phase": "Active"});
            },
        ));
        let uid = g.uuid();
        out.push(build(
            Parts {
                resource: ids.service_account,
                namespace: name,
                name: "default",
                uid: &uid,
                created_unix: created,
                resource_version: rv + 1,
                labels: &[],
                fields: &[],
            },
            |b| {
                jw!(b; {"name": "default", "namespace": name, "uid": uid,
                        "resourceVersion": Quoted(rv + 1), "creationTimestamp": Ts(created)})
            },
            |_| {},
        ));
        let uid = g.uuid();
        let ca = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            g.hex(64)
        );
        out.push(build(
            Parts {
                resource: ids.config_map,
                namespace: name,
                name: "kube-root-ca.crt",
                uid: &uid,
                created_unix: created,
                resource_version: rv + 2,
                labels: &[],
                fields: &[],
            },
            |b| {
                jw!(b; {"name": "kube-root-ca.crt", "namespace": name, "uid": uid,
                        "resourceVersion": Quoted(rv + 2), "creationTimestamp": Ts(created),
                        "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}})
            },
            |b| {
                b.extend_from_slice(b",\"data\":");
                jw!(b; {"ca.crt": ca});
            },
        ));
    }

    fn node_name(i: usize) -> String {
        let (a, b) = (i / 250, i % 250 + 4);
        format!(
            "ip-10-{}-{}-{b}.us-west-2.compute.internal",
            a / 256,
            a % 256
        )
    }

    fn node_ip(i: usize) -> String {
        let (a, b) = (i / 250, i % 250 + 4);
        format!("10.{}.{}.{b}", a / 256, a % 256)
    }

    fn pod_cidr_base(i: usize) -> String {
        format!("10.{}.{}", 100 + (i / 256) % 156, i % 256)
    }

    fn node(&self, ids: &Ids, i: usize, rv: u64) -> StoredObject {
        let mut g = SplitMix64::for_item(self.seed, STREAM_NODE, i as u64);
        let name = Self::node_name(i);
        let ip = Self::node_ip(i);
        let control_plane = i < self.control_plane_nodes.min(self.nodes);
        let (itype, cpus, mem_gib) = *g.pick(INSTANCE_TYPES);
        let zone = ZONES[i % ZONES.len()];
        let created = self.now_unix - (g.range(1, 200) as i64 * 86_400 + g.below(86_400) as i64);
        let heartbeat = self.now_unix - g.below(40) as i64;
        let mut labels = pairs(&[
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/instance-type", itype),
            ("beta.kubernetes.io/os", "linux"),
            ("failure-domain.beta.kubernetes.io/region", "us-west-2"),
            ("failure-domain.beta.kubernetes.io/zone", zone),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", &name),
            ("kubernetes.io/os", "linux"),
            ("node.kubernetes.io/instance-type", itype),
            ("topology.kubernetes.io/region", "us-west-2"),
            ("topology.kubernetes.io/zone", zone),
        ]);
        let mut taints: Vec<Raw> = Vec::new();
        if control_plane {
            labels.push((
                "node-role.kubernetes.io/control-plane".into(),
                String::new(),
            ));
            taints.push(
                raw!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}),
            );
        } else {
            labels.push(("node-role.kubernetes.io/worker".into(), String::new()));
            let pool = *g.pick(&["general", "general", "compute", "memory"]);
            labels.push(("pool".into(), pool.into()));
            if g.chance(0.03) {
                taints.push(raw!({"key": "dedicated", "value": "batch", "effect": "NoSchedule"}));
            }
        }
        let not_ready = !control_plane && g.chance(0.002);
        let cordoned = !control_plane && g.chance(0.003);
        if not_ready {
            taints.push(
                raw!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                              "timeAdded": Ts(heartbeat)}),
            );
        }
        if cordoned {
            taints.push(
                raw!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                              "timeAdded": Ts(heartbeat)}),
            );
        }
        let pods_cap = (self.pods_per_node + 10).max(110).to_string();
        let mem_ki = mem_gib * 1024 * 1024 - g.below(600_000);
        let cidr = format!("{}.0/24", Self::pod_cidr_base(i));
        let cond = |t: &str, status: &str, reason: &str, msg: &str| {
            raw!({"type": t, "status": status, "lastHeartbeatTime": Ts(heartbeat),
                  "lastTransitionTime": Ts(created), "reason": reason, "message": msg})
        };
        let ready = if not_ready {
            cond(
                "Ready",
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        } else {
            cond(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            )
        };
        let images: Vec<Raw> = [
            ("registry.k8s.io/kube-proxy", "v1.33.1", 30_000_000),
            ("docker.io/envoyproxy/envoy", "v1.31.2", 60_000_000),
            ("cr.fluentbit.io/fluent/fluent-bit", "3.1.9", 35_000_000),
            ("registry.k8s.io/pause", "3.10", 320_000),
        ]
        .iter()
        .map(|(img, tag, size)| {
            raw!({"names": [format!("{img}@sha256:{}", g.hex(64)), format!("{img}:{tag}")],
                  "sizeBytes": size + g.below(1_000_000)})
        })
        .collect();
        let uid = g.uuid();
        let provider = format!("aws:///{zone}/i-0{}", g.hex(16));
        let (machine, system_uuid, boot) = (g.hex(32), g.uuid(), g.uuid());
        let unschedulable = if cordoned { "true" } else { "" };
        build(
            Parts {
                resource: ids.node,
                namespace: "",
                name: &name,
                uid: &uid,
                created_unix: created,
                resource_version: rv,
                labels: &labels,
                fields: &[("spec.unschedulable", unschedulable)],
            },
            |b| {
                jw!(b; {
                    "name": name, "uid": uid, "resourceVersion": Quoted(rv),
                    "creationTimestamp": Ts(created), "labels": Pairs(&labels),
                    "annotations": {
                        "alpha.kubernetes.io/provided-node-ip": ip,
                        "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true"
                    }
                })
            },
            |b| {
                b.extend_from_slice(b",\"spec\":");
                jw!(b; {
                    "podCIDR": cidr, "podCIDRs": [cidr], "providerID": provider,
                    opt "taints": (!taints.is_empty()).then_some(&taints),
                    opt "unschedulable": cordoned.then_some(true),
                });
                b.extend_from_slice(b",\"status\":");
                jw!(b; {
                    "capacity": {"cpu": cpus.to_string(), "ephemeral-storage": "104845292Ki",
                                 "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                                 "memory": format!("{mem_ki}Ki"), "pods": pods_cap},
                    "allocatable": {"cpu": format!("{}m", cpus * 1000 - 90 - cpus * 5),
                                    "ephemeral-storage": "95551679124", "hugepages-1Gi": "0",
                                    "hugepages-2Mi": "0",
                                    "memory": format!("{}Ki", mem_ki - mem_ki / 20),
                                    "pods": pods_cap},
                    "conditions": [
                        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                        ready,
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": ip},
                        {"type": "InternalDNS", "address": name},
                        {"type": "Hostname", "address": name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250u64}},
                    "nodeInfo": {
                        "machineID": machine, "systemUUID": system_uuid, "bootID": boot,
                        "kernelVersion": "6.1.112-124.190.amzn2023.x86_64",
                        "osImage": "Amazon Linux 2023.6.20241010",
                        "containerRuntimeVersion": "containerd://1.7.22",
                        "kubeletVersion": "v1.33.1", "kubeProxyVersion": "v1.33.1",
                        "operatingSystem": "linux", "architecture": "amd64"
                    },
                    "images": images,
                });
            },
        )
    }

    fn workload(&self, index: usize, plan: &WorkloadPlan, namespace: &str) -> Workload {
        let mut g = SplitMix64::for_item(self.seed, STREAM_DEPLOY, index as u64);
        // Workloads belong to their namespace's team.
        let team = TEAMS[plan.ns % TEAMS.len()];
        let role = *g.pick(ROLES);
        let app = format!("{team}-{role}");
        let name = format!("{app}-{index}");
        let created = self.now_unix - g.range(2 * 86_400, 380 * 86_400) as i64;
        let rs_created = if plan.revision == 1 {
            created
        } else {
            created + g.below((self.now_unix - created - 3600).max(1) as u64) as i64
        };
        let hash = g.name_suffix(10);
        let version = format!("v{}.{}.{}", g.range(1, 4), g.below(30), g.below(10));
        let labels = pairs(&[
            ("app.kubernetes.io/component", role),
            ("app.kubernetes.io/instance", &name),
            ("app.kubernetes.io/name", &app),
            ("app.kubernetes.io/version", &version),
            ("team", team),
        ]);
        let port = *g.pick(&[8080u64, 8000, 9000, 3000]);
        let mut containers = vec![ContainerPlan {
            name: role.to_string(),
            image: format!("ghcr.io/acme/{app}:{version}"),
            image_id: format!("ghcr.io/acme/{app}@sha256:{}", g.hex(64)),
        }];
        let guaranteed = g.chance(0.2);
        let cpu = *g.pick(CPU_REQUESTS);
        let mem = *g.pick(MEM_REQUESTS);
        let (cpu_limit, mem_limit) = if guaranteed {
            (cpu.to_string(), mem.to_string())
        } else {
            ("2".to_string(), double_quantity(mem))
        };
        let sidecars = g.below(3);
        if sidecars >= 1 {
            containers.push(ContainerPlan {
                name: "envoy".into(),
                image: "docker.io/envoyproxy/envoy:v1.31.2".into(),
                image_id: format!("docker.io/envoyproxy/envoy@sha256:{}", g.hex(64)),
            });
        }
        if sidecars >= 2 {
            containers.push(ContainerPlan {
                name: "log-shipper".into(),
                image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9".into(),
                image_id: format!("cr.fluentbit.io/fluent/fluent-bit@sha256:{}", g.hex(64)),
            });
        }
        let init = g.chance(0.25).then(|| ContainerPlan {
            name: "init-config".into(),
            image: "docker.io/library/busybox:1.36.1".into(),
            image_id: format!("docker.io/library/busybox@sha256:{}", g.hex(64)),
        });
        let priority_class = g.chance(0.15).then_some("high-priority");
        let node_selector = g.chance(0.1);
        let old_rs = (plan.revision > 1).then(|| (g.name_suffix(10), g.uuid()));
        let uid = g.uuid();
        let rs_uid = g.uuid();

        // Container specs, with or without the service-account token mount admission adds
        // to pods.
        let write_containers = |b: &mut Vec<u8>, sa_mount: bool| {
            let sa = sa_mount.then(|| {
                raw!({"name": Raw(SA_PLACEHOLDER.to_vec()), "readOnly": true,
                      "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
            });
            let main_mounts: Vec<Raw> = std::iter::once(
                raw!({"name": "config", "mountPath": "/etc/app", "readOnly": true}),
            )
            .chain(sa.clone())
            .collect();
            let mut specs: Vec<Raw> = vec![raw!({
                "name": role,
                "image": containers[0].image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["--port", port.to_string(), "--log-format=json"],
                "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090u64, "protocol": "TCP"}],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "APP_ENV", "value": "production"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
                    {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"containerName": role, "divisor": "1", "resource": "limits.cpu"}}},
                ],
                "resources": {"requests": {"cpu": cpu, "memory": mem},
                              "limits": {"cpu": cpu_limit, "memory": mem_limit}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                                  "initialDelaySeconds": 10u64, "timeoutSeconds": 1u64, "periodSeconds": 10u64,
                                  "successThreshold": 1u64, "failureThreshold": 3u64},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                                   "timeoutSeconds": 1u64, "periodSeconds": 5u64,
                                   "successThreshold": 1u64, "failureThreshold": 3u64},
                "volumeMounts": main_mounts,
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
            })];
            if sidecars >= 1 {
                let (c_cpu, c_mem) = if guaranteed {
                    ("100m", "128Mi")
                } else {
                    ("50m", "64Mi")
                };
                specs.push(raw!({
                    "name": "envoy", "image": containers[1].image, "imagePullPolicy": "IfNotPresent",
                    "args": ["-c", "/etc/envoy/envoy.yaml", "--service-cluster", app],
                    "ports": [{"name": "envoy-admin", "containerPort": 9901u64, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": c_cpu, "memory": c_mem},
                                  "limits": {"cpu": if guaranteed { "100m" } else { "500m" }, "memory": "128Mi"}},
                    opt "volumeMounts": sa.as_ref().map(|m| vec![m]),
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }));
            }
            if sidecars >= 2 {
                let mounts: Vec<Raw> = std::iter::once(
                    raw!({"name": "varlog", "mountPath": "/var/log", "readOnly": true}),
                )
                .chain(sa.clone())
                .collect();
                specs.push(raw!({
                    "name": "log-shipper", "image": containers[2].image, "imagePullPolicy": "IfNotPresent",
                    "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                                  "limits": {"cpu": if guaranteed { "20m" } else { "200m" },
                                             "memory": if guaranteed { "32Mi" } else { "64Mi" }}},
                    "volumeMounts": mounts,
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }));
            }
            b.extend_from_slice(b"\"containers\":");
            jw!(b; specs);
            if let Some(ic) = &init {
                b.extend_from_slice(b",\"initContainers\":");
                jw!(b; [{
                    "name": ic.name, "image": ic.image, "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "cp /config-template/* /etc/app/ && echo done"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, ..sa.clone()],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }]);
            }
        };
        let volumes = |b: &mut Vec<u8>, sa_volume: bool| {
            jw!(b; [
                {"name": "config", "configMap": {"name": format!("{name}-config"), "defaultMode": 420u64}},
                ..(sidecars >= 2).then(|| raw!({"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}})),
                ..sa_volume.then(|| raw!({"name": Raw(SA_PLACEHOLDER.to_vec()), "projected": {"sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607u64, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ], "defaultMode": 420u64}})),
            ]);
        };
        let common_members = |b: &mut Vec<u8>| {
            jw!(b; {
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30u64,
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default",
                "serviceAccount": "default",
                "securityContext": {"fsGroup": 2000u64, "runAsUser": 1000u64},
                "schedulerName": "default-scheduler",
                opt "priorityClassName": priority_class,
                opt "nodeSelector": node_selector.then(|| raw!({"pool": "general"})),
            });
        };
        // Template spec: containers, common members, volumes.
        let mut t = vec![b'{'];
        write_containers(&mut t, false);
        let mut common = Vec::new();
        common_members(&mut common);
        // Splice the common object's members (without its braces) into the spec.
        t.push(b',');
        t.extend_from_slice(&common[1..common.len() - 1]);
        t.extend_from_slice(b",\"volumes\":");
        volumes(&mut t, false);
        t.push(b'}');
        // Pod spec: the same plus what admission and the scheduler add.
        let mut p = vec![b'{'];
        write_containers(&mut p, true);
        p.push(b',');
        p.extend_from_slice(&common[1..common.len() - 1]);
        p.extend_from_slice(b",\"volumes\":");
        volumes(&mut p, true);
        let mut extra = Vec::new();
        jw!(&mut extra; {
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300u64},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300u64}
            ],
            "priority": if priority_class.is_some() { 1_000_000u64 } else { 0 },
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        p.push(b',');
        p.extend_from_slice(&extra[1..extra.len() - 1]);
        let pod_spec = split_pod_spec(p);
        let qos = if guaranteed {
            "Guaranteed"
        } else {
            "Burstable"
        };
        Workload {
            index,
            namespace: namespace.to_string(),
            name,
            app,
            role,
            replicas: plan.replicas,
            first_pod: plan.first_pod,
            uid,
            created,
            revision: plan.revision,
            hash,
            rs_uid,
            rs_created,
            old_rs,
            labels,
            template_spec: Raw(t),
            pod_spec,
            containers,
            init,
            qos,
        }
    }

    fn selector_labels(w: &Workload) -> Vec<(String, String)> {
        pairs(&[
            ("app.kubernetes.io/instance", &w.name),
            ("app.kubernetes.io/name", &w.app),
        ])
    }

    fn pod_state(&self, w: &Workload, p: usize) -> PodState {
        let i = w.first_pod + p;
        let mut g = SplitMix64::for_item(self.seed, STREAM_POD, i as u64);
        let pending = g.chance(self.pending_ratio);
        let crashloop = !pending && g.chance(self.crashloop_ratio);
        PodState {
            g,
            pending,
            crashloop,
        }
    }

    fn ready_pods(&self, w: &Workload) -> usize {
        (0..w.replicas)
            .filter(|p| {
                let s = self.pod_state(w, *p);
                !s.pending && !s.crashloop
            })
            .count()
    }

    fn deployment(&self, ids: &Ids, w: &Workload, rv: u64) -> StoredObject {
        let ready = self.ready_pods(w);
        let generation = w.revision + (w.index as u64 % 3);
        let rs_name = format!("{}-{}", w.name, w.hash);
        let available = if ready >= w.replicas.saturating_sub(w.replicas / 4).max(1) {
            raw!({"type": "Available", "status": "True", "lastUpdateTime": Ts(w.rs_created),
                  "lastTransitionTime": Ts(w.rs_created), "reason": "MinimumReplicasAvailable",
                  "message": "Deployment has minimum availability."})
        } else {
            raw!({"type": "Available", "status": "False", "lastUpdateTime": Ts(self.now_unix - 600),
                  "lastTransitionTime": Ts(self.now_unix - 600), "reason": "MinimumReplicasUnavailable",
                  "message": "Deployment does not have minimum availability."})
        };
        let ready_opt = (ready > 0).then_some(ready);
        build(
            Parts {
                resource: ids.deployment,
                namespace: &w.namespace,
                name: &w.name,
                uid: &w.uid,
                created_unix: w.created,
                resource_version: rv,
                labels: &w.labels,
                fields: &[],
            },
            |b| {
                jw!(b; {
                    "name": w.name, "namespace": w.namespace, "uid": w.uid,
                    "resourceVersion": Quoted(rv), "generation": generation,
                    "creationTimestamp": Ts(w.created), "labels": Pairs(&w.labels),
                    "annotations": {"deployment.kubernetes.io/revision": w.revision.to_string()}
                })
            },
            |b| {
                b.extend_from_slice(b",\"spec\":");
                jw!(b; {
                    "replicas": w.replicas,
                    "selector": {"matchLabels": Pairs(&Self::selector_labels(w))},
                    "template": {"metadata": {"labels": Pairs(&w.labels),
                                              "annotations": {"prometheus.io/port": "9090", "prometheus.io/scrape": "true"}},
                                 "spec": w.template_spec},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                    "revisionHistoryLimit": 10u64,
                    "progressDeadlineSeconds": 600u64
                });
                b.extend_from_slice(b",\"status\":");
                jw!(b; {
                    "observedGeneration": generation,
                    "replicas": w.replicas,
                    "updatedReplicas": w.replicas,
                    opt "readyReplicas": ready_opt,
                    opt "availableReplicas": ready_opt,
                    opt "unavailableReplicas": (ready < w.replicas).then_some(w.replicas - ready),
                    "conditions": [
                        available,
                        {"type": "Progressing", "status": "True", "lastUpdateTime": Ts(w.rs_created + 30),
                         "lastTransitionTime": Ts(w.created), "reason": "NewReplicaSetAvailable",
                         "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed.")}
                    ]
                });
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn rs_object(
        &self,
        ids: &Ids,
        w: &Workload,
        hash: &str,
        uid: &str,
        created: i64,
        replicas: usize,
        revision: u64,
        ready: usize,
        rv: u64,
    ) -> StoredObject {
        let mut labels = w.labels.clone();
        labels.push(("pod-template-hash".into(), hash.into()));
        labels.sort();
        let mut selector = Self::selector_labels(w);
        selector.push(("pod-template-hash".into(), hash.into()));
        let name = format!("{}-{hash}", w.name);
        let replicas_s = replicas.to_string();
        let ready_opt = (ready > 0).then_some(ready);
        build(
            Parts {
                resource: ids.replica_set,
                namespace: &w.namespace,
                name: &name,
                uid,
                created_unix: created,
                resource_version: rv,
                labels: &labels,
                fields: &[("status.replicas", &replicas_s)],
            },
            |b| {
                jw!(b; {
                    "name": name, "namespace": w.namespace, "uid": uid,
                    "resourceVersion": Quoted(rv), "generation": if replicas == 0 { 2u64 } else { 1 },
                    "creationTimestamp": Ts(created), "labels": Pairs(&labels),
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (w.replicas + w.replicas.div_ceil(4)).to_string(),
                        "deployment.kubernetes.io/revision": revision.to_string()
                    },
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name,
                                         "uid": w.uid, "controller": true, "blockOwnerDeletion": true}]
                })
            },
            |b| {
                b.extend_from_slice(b",\"spec\":");
                jw!(b; {
                    "replicas": replicas,
                    "selector": {"matchLabels": Pairs(&selector)},
                    "template": {"metadata": {"labels": Pairs(&labels),
                                              "annotations": {"prometheus.io/port": "9090", "prometheus.io/scrape": "true"}},
                                 "spec": w.template_spec}
                });
                b.extend_from_slice(b",\"status\":");
                jw!(b; {
                    "replicas": replicas,
                    opt "fullyLabeledReplicas": (replicas > 0).then_some(replicas),
                    opt "readyReplicas": ready_opt,
                    opt "availableReplicas": ready_opt,
                    "observedGeneration": if replicas == 0 { 2u64 } else { 1 },
                });
            },
        )
    }

    fn replicaset(&self, ids: &Ids, w: &Workload, rv: u64) -> StoredObject {
        let ready = self.ready_pods(w);
        self.rs_object(
            ids,
            w,
            &w.hash,
            &w.rs_uid,
            w.rs_created,
            w.replicas,
            w.revision,
            ready,
            rv,
        )
    }

    fn old_replicaset(&self, ids: &Ids, w: &Workload, rv: u64) -> Option<StoredObject> {
        let (hash, uid) = w.old_rs.as_ref()?;
        Some(self.rs_object(ids, w, hash, uid, w.created, 0, w.revision - 1, 0, rv))
    }

    fn pod(&self, ids: &Ids, w: &Workload, p: usize, rv: u64) -> StoredObject {
        let i = w.first_pod + p;
        let PodState {
            mut g,
            pending,
            crashloop,
        } = self.pod_state(w, p);
        let node = i % self.nodes.max(1);
        let node_name = Self::node_name(node);
        let name = format!("{}-{}-{}", w.name, w.hash, g.name_suffix(5));
        let uid = g.uuid();
        let age = (self.now_unix - w.rs_created).max(60);
        let created = self.now_unix - g.below(age as u64) as i64;
        let scheduled = created + 1;
        let started = scheduled + 2 + g.below(8) as i64;
        let ready_at = started + 5 + g.below(30) as i64;
        let mut labels = w.labels.clone();
        labels.push(("pod-template-hash".into(), w.hash.clone()));
        labels.sort();
        let sa_volume = format!("kube-api-access-{}", g.name_suffix(5));
        let cond = |t: &str, s: &str, at: i64| raw!({"type": t, "status": s, "lastProbeTime": null, "lastTransitionTime": Ts(at)});
        let mut status = Vec::with_capacity(2048);
        let (phase, ip) = if pending {
            jw!(&mut status; {
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": null,
                    "lastTransitionTime": Ts(scheduled), "reason": "Unschedulable",
                    "message": format!("0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.", n = self.nodes)
                }],
                "qosClass": w.qos
            });
            ("Pending", String::new())
        } else {
            let crash_idx = crashloop.then(|| g.below(w.containers.len() as u64) as usize);
            let statuses: Vec<Raw> = w
                .containers
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    let cid = format!("containerd://{}", g.hex(64));
                    if crash_idx == Some(ci) {
                        let restarts = g.range(3, 250);
                        let finished = self.now_unix - g.range(5, 280) as i64;
                        let began = finished - g.range(1, 20) as i64;
                        let last_cid = format!("containerd://{}", g.hex(64));
                        raw!({
                            "name": c.name, "state": {"waiting": {"reason": "CrashLoopBackOff",
                                "message": format!("back-off 5m0s restarting failed container={} pod={name}_{}({uid})", c.name, w.namespace)}},
                            "lastState": {"terminated": {"exitCode": 1u64, "reason": "Error",
                                "startedAt": Ts(began), "finishedAt": Ts(finished), "containerID": last_cid}},
                            "ready": false, "restartCount": restarts, "image": c.image, "imageID": c.image_id,
                            "containerID": cid, "started": false
                        })
                    } else if g.chance(0.05) {
                        let restarts = g.range(1, 4);
                        let finished =
                            started + g.below((self.now_unix - started).max(1) as u64) as i64;
                        let last_cid = format!("containerd://{}", g.hex(64));
                        raw!({
                            "name": c.name, "state": {"running": {"startedAt": Ts(finished + 1)}},
                            "lastState": {"terminated": {"exitCode": 137u64, "reason": "OOMKilled",
                                "startedAt": Ts(started), "finishedAt": Ts(finished), "containerID": last_cid}},
                            "ready": true, "restartCount": restarts, "image": c.image, "imageID": c.image_id,
                            "containerID": cid, "started": true
                        })
                    } else {
                        raw!({
                            "name": c.name, "state": {"running": {"startedAt": Ts(started)}},
                            "lastState": {}, "ready": true, "restartCount": 0u64, "image": c.image,
                            "imageID": c.image_id, "containerID": cid, "started": true
                        })
                    }
                })
                .collect();
            let ready = crash_idx.is_none();
            let ready_cond = |t: &str| {
                if ready {
                    cond(t, "True", ready_at)
                } else {
                    raw!({"type": t, "status": "False", "lastProbeTime": null,
                          "lastTransitionTime": Ts(self.now_unix - 300), "reason": "ContainersNotReady",
                          "message": format!("containers with unready status: [{}]",
                                             w.containers[crash_idx.unwrap_or(0)].name)})
                }
            };
            let ip = format!(
                "{}.{}",
                Self::pod_cidr_base(node),
                2 + (i / self.nodes.max(1)) % 250
            );
            let host_ip = Self::node_ip(node);
            let init_status = w.init.as_ref().map(|ic| {
                let (c1, c2) = (
                    format!("containerd://{}", g.hex(64)),
                    format!("containerd://{}", g.hex(64)),
                );
                raw!([{
                    "name": ic.name, "state": {"terminated": {"exitCode": 0u64, "reason": "Completed",
                        "startedAt": Ts(scheduled + 1), "finishedAt": Ts(started - 1), "containerID": c2}},
                    "lastState": {}, "ready": true, "restartCount": 0u64, "image": ic.image,
                    "imageID": ic.image_id, "containerID": c1, "started": false
                }])
            });
            jw!(&mut status; {
                "phase": "Running",
                "conditions": [
                    cond("PodReadyToStartContainers", "True", started),
                    cond("Initialized", "True", started),
                    ready_cond("Ready"),
                    ready_cond("ContainersReady"),
                    cond("PodScheduled", "True", scheduled),
                ],
                "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": Ts(scheduled),
                opt "initContainerStatuses": init_status,
                "containerStatuses": statuses,
                "qosClass": w.qos,
            });
            ("Running", ip)
        };
        let rs_name = format!("{}-{}", w.name, w.hash);
        let generate_name = format!("{rs_name}-");
        let node_field = if pending { "" } else { node_name.as_str() };
        build(
            Parts {
                resource: ids.pod,
                namespace: &w.namespace,
                name: &name,
                uid: &uid,
                created_unix: created,
                resource_version: rv,
                labels: &labels,
                fields: &[
                    ("spec.nodeName", node_field),
                    ("spec.restartPolicy", "Always"),
                    ("spec.schedulerName", "default-scheduler"),
                    ("spec.serviceAccountName", "default"),
                    ("status.phase", phase),
                    ("status.podIP", &ip),
                ],
            },
            |b| {
                jw!(b; {
                    "name": name, "generateName": generate_name, "namespace": w.namespace,
                    "uid": uid, "resourceVersion": Quoted(rv), "creationTimestamp": Ts(created),
                    "labels": Pairs(&labels),
                    "annotations": {
                        opt "cluster-autoscaler.kubernetes.io/safe-to-evict": (w.role == "worker").then_some("true"),
                        "prometheus.io/port": "9090", "prometheus.io/scrape": "true"
                    },
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": rs_name, "uid": w.rs_uid,
                                         "controller": true, "blockOwnerDeletion": true}]
                })
            },
            |b| {
                b.extend_from_slice(b",\"spec\":");
                for (k, seg) in w.pod_spec.iter().enumerate() {
                    if k > 0 {
                        jw!(b; sa_volume);
                    }
                    b.extend_from_slice(seg);
                }
                if !pending {
                    b.extend_from_slice(b",\"nodeName\":");
                    jw!(b; node_name);
                }
                b.push(b'}');
                b.extend_from_slice(b",\"status\":");
                b.extend_from_slice(&status);
            },
        )
    }
}

/// Splits the open pod spec object at each service-account volume placeholder.
fn split_pod_spec(p: Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest: &[u8] = &p;
    while let Some(pos) = rest
        .windows(SA_PLACEHOLDER.len())
        .position(|w| w == SA_PLACEHOLDER)
    {
        out.push(rest[..pos].to_vec());
        rest = &rest[pos + SA_PLACEHOLDER.len()..];
    }
    out.push(rest.to_vec());
    out
}

struct PodState {
    g: SplitMix64,
    pending: bool,
    crashloop: bool,
}

/// `128Mi` → `256Mi`.
fn double_quantity(q: &str) -> String {
    let digits: String = q.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &q[digits.len()..];
    format!("{}{unit}", digits.parse::<u64>().unwrap_or(1) * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_determinism() {
        let c = GeneratedCluster::new(10, 30, 7);
        let objs = c.objects();
        let count = |k: &str| objs.iter().filter(|o| o["kind"] == k).count();
        assert_eq!(count("Pod"), 300);
        assert_eq!(count("Node"), 10);
        assert_eq!(count("Namespace"), 4 + 6);
        assert_eq!(count("Deployment"), c.plan().len());
        assert!(count("ReplicaSet") >= count("Deployment"));
        assert_eq!(objs, GeneratedCluster::new(10, 30, 7).objects());
        assert_ne!(objs, GeneratedCluster::new(10, 30, 8).objects());
        let stored = c.stored_objects(1);
        assert_eq!(stored.len(), objs.len());
        assert!(
            stored
                .windows(2)
                .all(|w| w[0].resource_version + 1 == w[1].resource_version)
        );
        let pods: Vec<_> = objs.iter().filter(|o| o["kind"] == "Pod").collect();
        let avg = pods
            .iter()
            .map(|p| serde_json::to_vec(p).unwrap().len())
            .sum::<usize>()
            / pods.len();
        assert!((2500..7000).contains(&avg), "average pod size {avg}");
        // Every pod's owner is a generated replicaset.
        let rs: std::collections::HashSet<&str> = objs
            .iter()
            .filter(|o| o["kind"] == "ReplicaSet")
            .map(|o| o["metadata"]["uid"].as_str().unwrap())
            .collect();
        assert!(
            pods.iter()
                .all(|p| rs.contains(p["metadata"]["ownerReferences"][0]["uid"].as_str().unwrap()))
        );
    }

    /// The directly written parts (key, labels, indexed fields, ...) must agree with what
    /// ingesting the same JSON the ordinary way yields.
    #[test]
    fn written_parts_match_the_json() {
        let c = GeneratedCluster {
            crashloop_ratio: 0.2,
            pending_ratio: 0.1,
            ..GeneratedCluster::new(6, 20, 3)
        };
        for o in c.stored_objects(1) {
            let v: Value = serde_json::from_slice(&o.item_bytes())
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.body)));
            let again = StoredObject::from_value(o.resource, v, o.resource_version).unwrap();
            assert_eq!(o.key, again.key);
            assert_eq!(o.namespace, again.namespace);
            assert_eq!(o.uid, again.uid);
            assert_eq!(o.created_unix, again.created_unix);
            assert_eq!(o.labels, again.labels, "{}", o.key);
            assert_eq!(o.fields, again.fields, "{}", o.key);
            assert_eq!(o.meta_len, again.meta_len, "{}", o.key);
        }
    }

    #[test]
    fn qos_matches_resources() {
        for v in GeneratedCluster::new(3, 20, 5).objects() {
            if v["kind"] != "Pod" {
                continue;
            }
            let cs = v["spec"]["containers"].as_array().unwrap();
            let guaranteed = cs.iter().all(|c| {
                let r = &c["resources"];
                r["requests"]["cpu"] == r["limits"]["cpu"]
                    && r["requests"]["memory"] == r["limits"]["memory"]
            });
            let want = if guaranteed {
                "Guaranteed"
            } else {
                "Burstable"
            };
            assert_eq!(v["status"]["qosClass"], want);
        }
    }
}
