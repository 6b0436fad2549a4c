//! Deterministic synthetic clusters: namespaces, nodes, deployments → replicasets → pods.
//!
//! Every object is derived from `(seed, kind, index)` alone, so the same settings give
//! byte-identical objects however many threads build them.

use serde_json::{Value, json};

use crate::emulator::resource_of;
use crate::object::StoredObject;
use crate::util::{SplitMix64, rfc3339};

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
    labels: Value,
    template_spec: Value,
    containers: Vec<ContainerPlan>,
    init: Option<ContainerPlan>,
    priority_class: Option<&'static str>,
}

#[derive(Clone)]
struct ContainerPlan {
    name: String,
    image: String,
    image_id: String,
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

    /// Total pods.
    pub fn pod_count(&self) -> usize {
        self.nodes * self.pods_per_node
    }

    fn namespace_names(&self) -> Vec<String> {
        let n = (self.pod_count() / self.pods_per_namespace.max(1)).max(self.min_namespaces);
        let mut out: Vec<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        out.extend((0..n).map(|i| format!("{}-{i}", TEAMS[i % TEAMS.len()])));
        out
    }

    /// Workload sizes and namespaces; cheap, sequential and the only cross-object state.
    fn plan(&self) -> Vec<(usize, usize, usize)> {
        // (namespace index among workload namespaces, first pod, replicas)
        let total = self.pod_count();
        let n_ns = self.namespace_names().len() - 4;
        let mut g = SplitMix64::for_item(self.seed, STREAM_PLAN, 0);
        let mut out = Vec::new();
        let mut pod = 0;
        while pod < total {
            let replicas = (g.range(1, self.max_replicas.max(1) as u64) as usize).min(total - pod);
            out.push((pod * n_ns / total.max(1), pod, replicas));
            pod += replicas;
        }
        out
    }

    /// All objects in creation order, with kind and apiVersion (resourceVersion unset).
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::new();
        self.for_each_unit(0..self.unit_count(), |v| out.push(v));
        out
    }

    fn unit_count(&self) -> usize {
        self.namespace_names().len() + self.nodes + self.plan().len()
    }

    /// Generates units (namespaces, then nodes, then workloads) in `range`.
    fn for_each_unit(&self, range: std::ops::Range<usize>, mut emit: impl FnMut(Value)) {
        let namespaces = self.namespace_names();
        let plan = self.plan();
        for u in range {
            if u < namespaces.len() {
                for v in self.namespace_objects(u, &namespaces[u]) {
                    emit(v);
                }
            } else if u < namespaces.len() + self.nodes {
                emit(self.node(u - namespaces.len()));
            } else {
                let d = u - namespaces.len() - self.nodes;
                let (ns, first_pod, replicas) = plan[d];
                let w = self.workload(d, ns, &namespaces[4 + ns], first_pod, replicas);
                emit(self.deployment(&w));
                if let Some(v) = self.old_replicaset(&w) {
                    emit(v);
                }
                emit(self.replicaset(&w));
                for p in 0..w.replicas {
                    emit(self.pod(&w, p));
                }
            }
        }
    }

    /// Builds stored objects with resourceVersions `first_rv..`, on all cores.
    pub(crate) fn stored_objects(&self, first_rv: u64) -> Vec<StoredObject> {
        let units = self.unit_count();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 16);
        let chunk = units.div_ceil(threads).max(1);
        let parts: Vec<Vec<(crate::resources::ResourceId, Value)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..units)
                .step_by(chunk)
                .map(|start| {
                    s.spawn(move || {
                        let mut out = Vec::new();
                        self.for_each_unit(start..(start + chunk).min(units), |v| {
                            // Generated kinds are all in the resource table.
                            if let Ok(r) = resource_of(&v) {
                                out.push((r, v));
                            }
                        });
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        // Serialize in parallel too, with resourceVersions following the creation order.
        let mut offsets = Vec::with_capacity(parts.len());
        let mut next = first_rv;
        for p in &parts {
            offsets.push(next);
            next += p.len() as u64;
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .zip(offsets)
                .map(|(part, base)| {
                    s.spawn(move || {
                        part.into_iter()
                            .enumerate()
                            .filter_map(|(i, (r, v))| {
                                StoredObject::from_value(r, v, base + i as u64).ok()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    fn ts(&self, secs_ago: i64) -> String {
        rfc3339(self.now_unix - secs_ago.max(0))
    }

    fn namespace_objects(&self, i: usize, name: &str) -> Vec<Value> {
        let mut g = SplitMix64::for_item(self.seed, STREAM_NS, i as u64);
        let age = if i < 4 {
            400 * 86_400
        } else {
            g.range(30, 390) as i64 * 86_400
        };
        let created = self.ts(age);
        let mut labels = json!({"kubernetes.io/metadata.name": name});
        if i >= 4 {
            labels["team"] = json!(TEAMS[(i - 4) % TEAMS.len()]);
            labels["environment"] = json!(*g.pick(&["production", "staging"]));
        }
        vec![
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": g.uuid(), "creationTimestamp": created,
                             "labels": labels},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            }),
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name, "uid": g.uuid(),
                             "creationTimestamp": created}
            }),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": name, "uid": g.uuid(),
                             "creationTimestamp": created,
                             "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", g.hex(64))}
            }),
        ]
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

    fn node(&self, i: usize) -> Value {
        let mut g = SplitMix64::for_item(self.seed, STREAM_NODE, i as u64);
        let name = Self::node_name(i);
        let control_plane = i < self.control_plane_nodes.min(self.nodes);
        let (itype, cpus, mem_gib) = *g.pick(INSTANCE_TYPES);
        let zone = ZONES[i % ZONES.len()];
        let age = g.range(1, 200) as i64 * 86_400 + g.below(86_400) as i64;
        let created = self.ts(age);
        let heartbeat = self.ts(g.below(40) as i64);
        let mut labels = json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": itype,
            "beta.kubernetes.io/os": "linux",
            "failure-domain.beta.kubernetes.io/region": "us-west-2",
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": itype,
            "topology.kubernetes.io/region": "us-west-2",
            "topology.kubernetes.io/zone": zone,
        });
        let mut taints = Vec::new();
        if control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            taints.push(
                json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}),
            );
        } else {
            labels["node-role.kubernetes.io/worker"] = json!("");
            labels["pool"] = json!(*g.pick(&["general", "general", "compute", "memory"]));
            if g.chance(0.03) {
                taints.push(json!({"key": "dedicated", "value": "batch", "effect": "NoSchedule"}));
            }
        }
        let not_ready = !control_plane && g.chance(0.002);
        let cordoned = !control_plane && g.chance(0.003);
        if not_ready {
            taints.push(
                json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                               "timeAdded": heartbeat}),
            );
        }
        if cordoned {
            taints.push(
                json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                               "timeAdded": heartbeat}),
            );
        }
        let pods_cap = (self.pods_per_node + 10).max(110);
        let mem_ki = mem_gib * 1024 * 1024 - g.below(600_000);
        let kernel = "6.1.112-124.190.amzn2023.x86_64";
        let cidr = format!("{}.0/24", Self::pod_cidr_base(i));
        let cond = |t: &str, reason: &str, msg: &str, status: &str| {
            json!({"type": t, "status": status, "lastHeartbeatTime": heartbeat,
                   "lastTransitionTime": created, "reason": reason, "message": msg})
        };
        let ready = if not_ready {
            cond(
                "Ready",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
                "Unknown",
            )
        } else {
            cond(
                "Ready",
                "KubeletReady",
                "kubelet is posting ready status",
                "True",
            )
        };
        let images: Vec<Value> = [
            ("registry.k8s.io/kube-proxy", "v1.33.1", 30_000_000),
            ("docker.io/envoyproxy/envoy", "v1.31.2", 60_000_000),
            ("cr.fluentbit.io/fluent/fluent-bit", "3.1.9", 35_000_000),
            ("registry.k8s.io/pause", "3.10", 320_000),
        ]
        .iter()
        .map(|(img, tag, size)| {
            json!({"names": [format!("{img}@sha256:{}", g.hex(64)), format!("{img}:{tag}")],
                   "sizeBytes": size + g.below(1_000_000)})
        })
        .collect();
        let mut spec = json!({
            "podCIDR": cidr,
            "podCIDRs": [cidr],
            "providerID": format!("aws:///{zone}/i-0{}", g.hex(16)),
        });
        if !taints.is_empty() {
            spec["taints"] = Value::Array(taints);
        }
        if cordoned {
            spec["unschedulable"] = json!(true);
        }
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name, "uid": g.uuid(), "creationTimestamp": created,
                "labels": labels,
                "annotations": {
                    "alpha.kubernetes.io/provided-node-ip": Self::node_ip(i),
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true"
                }
            },
            "spec": spec,
            "status": {
                "capacity": {"cpu": cpus.to_string(), "ephemeral-storage": "104845292Ki",
                             "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                             "memory": format!("{mem_ki}Ki"), "pods": pods_cap.to_string()},
                "allocatable": {"cpu": format!("{}m", cpus * 1000 - 90 - cpus * 5),
                                "ephemeral-storage": "95551679124", "hugepages-1Gi": "0",
                                "hugepages-2Mi": "0",
                                "memory": format!("{}Ki", mem_ki - mem_ki / 20),
                                "pods": pods_cap.to_string()},
                "conditions": [
                    cond("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", "False"),
                    cond("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "False"),
                    cond("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available", "False"),
                    ready,
                ],
                "addresses": [
                    {"type": "InternalIP", "address": Self::node_ip(i)},
                    {"type": "InternalDNS", "address": name},
                    {"type": "Hostname", "address": name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": g.hex(32), "systemUUID": g.uuid(), "bootID": g.uuid(),
                    "kernelVersion": kernel, "osImage": "Amazon Linux 2023.6.20241010",
                    "containerRuntimeVersion": "containerd://1.7.22",
                    "kubeletVersion": "v1.33.1", "kubeProxyVersion": "v1.33.1",
                    "operatingSystem": "linux", "architecture": "amd64"
                },
                "images": images,
            }
        })
    }

    fn workload(
        &self,
        index: usize,
        ns_index: usize,
        namespace: &str,
        first_pod: usize,
        replicas: usize,
    ) -> Workload {
        let mut g = SplitMix64::for_item(self.seed, STREAM_DEPLOY, index as u64);
        // Workloads belong to their namespace's team.
        let team = TEAMS[ns_index % TEAMS.len()];
        let role = *g.pick(ROLES);
        let app = format!("{team}-{role}");
        let name = format!("{app}-{index}");
        let created = self.now_unix - g.range(2 * 86_400, 380 * 86_400) as i64;
        let revision = g.range(1, 12);
        let rs_created = if revision == 1 {
            created
        } else {
            created + g.below((self.now_unix - created - 3600).max(1) as u64) as i64
        };
        let hash = g.name_suffix(10);
        let version = format!("v{}.{}.{}", g.range(1, 4), g.below(30), g.below(10));
        let labels = json!({
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": role,
            "app.kubernetes.io/version": version,
            "team": team,
        });
        let port = *g.pick(&[8080u64, 8000, 9000, 3000]);
        let main = ContainerPlan {
            name: role.to_string(),
            image: format!("ghcr.io/acme/{app}:{version}"),
            image_id: format!("ghcr.io/acme/{app}@sha256:{}", g.hex(64)),
        };
        let mut containers = vec![main];
        let mut specs = Vec::new();
        let guaranteed = g.chance(0.2);
        let cpu = *g.pick(CPU_REQUESTS);
        let mem = *g.pick(MEM_REQUESTS);
        let limits = if guaranteed {
            json!({"cpu": cpu, "memory": mem})
        } else {
            json!({"cpu": "2", "memory": double_quantity(mem)})
        };
        specs.push(json!({
            "name": role,
            "image": containers[0].image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["--port", port.to_string(), "--log-format=json"],
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "env": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "APP_ENV", "value": "production"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
                {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"containerName": role, "divisor": "1", "resource": "limits.cpu"}}},
            ],
            "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": limits},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                              "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10,
                              "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                               "timeoutSeconds": 1, "periodSeconds": 5,
                               "successThreshold": 1, "failureThreshold": 3},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
        }));
        let sidecars = g.below(3);
        if sidecars >= 1 {
            let c = ContainerPlan {
                name: "envoy".into(),
                image: "docker.io/envoyproxy/envoy:v1.31.2".into(),
                image_id: format!("docker.io/envoyproxy/envoy@sha256:{}", g.hex(64)),
            };
            let (c_cpu, c_mem) = if guaranteed {
                ("100m", "128Mi")
            } else {
                ("50m", "64Mi")
            };
            specs.push(json!({
                "name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent",
                "args": ["-c", "/etc/envoy/envoy.yaml", "--service-cluster", app],
                "ports": [{"name": "envoy-admin", "containerPort": 9901, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": c_cpu, "memory": c_mem},
                              "limits": {"cpu": if guaranteed { "100m" } else { "500m" }, "memory": "128Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }));
            containers.push(c);
        }
        if sidecars >= 2 {
            let c = ContainerPlan {
                name: "log-shipper".into(),
                image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9".into(),
                image_id: format!("cr.fluentbit.io/fluent/fluent-bit@sha256:{}", g.hex(64)),
            };
            specs.push(json!({
                "name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent",
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                              "limits": {"cpu": if guaranteed { "20m" } else { "200m" },
                                         "memory": if guaranteed { "32Mi" } else { "64Mi" }}},
                "volumeMounts": [{"name": "varlog", "mountPath": "/var/log", "readOnly": true}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }));
            containers.push(c);
        }
        let init = g.chance(0.25).then(|| ContainerPlan {
            name: "init-config".into(),
            image: "docker.io/library/busybox:1.36.1".into(),
            image_id: format!("docker.io/library/busybox@sha256:{}", g.hex(64)),
        });
        let priority_class = if g.chance(0.15) {
            Some("high-priority")
        } else {
            None
        };
        let mut volumes = vec![
            json!({"name": "config", "configMap": {"name": format!("{name}-config"), "defaultMode": 420}}),
        ];
        if sidecars >= 2 {
            volumes.push(json!({"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}}));
        }
        let mut template_spec = json!({
            "containers": specs,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {"fsGroup": 2000, "runAsUser": 1000},
            "schedulerName": "default-scheduler",
            "volumes": volumes,
        });
        if let Some(ic) = &init {
            template_spec["initContainers"] = json!([{
                "name": ic.name, "image": ic.image, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "cp /config-template/* /etc/app/ && echo done"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }]);
        }
        if let Some(pc) = priority_class {
            template_spec["priorityClassName"] = json!(pc);
        }
        if g.chance(0.1) {
            template_spec["nodeSelector"] = json!({"pool": "general"});
        }
        let old_rs = (revision > 1).then(|| (g.name_suffix(10), g.uuid()));
        Workload {
            index,
            namespace: namespace.to_string(),
            name,
            app,
            role,
            replicas,
            first_pod,
            uid: g.uuid(),
            created,
            revision,
            hash,
            rs_uid: g.uuid(),
            rs_created,
            old_rs,
            labels,
            template_spec,
            containers,
            init,
            priority_class,
        }
    }

    fn selector_labels(w: &Workload) -> Value {
        json!({"app.kubernetes.io/name": w.app, "app.kubernetes.io/instance": w.name})
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

    fn deployment(&self, w: &Workload) -> Value {
        let ready = self.ready_pods(w);
        let generation = w.revision + (w.index as u64 % 3);
        let rs_name = format!("{}-{}", w.name, w.hash);
        let available = if ready >= w.replicas.saturating_sub(w.replicas / 4).max(1) {
            json!({"type": "Available", "status": "True", "lastUpdateTime": rfc3339(w.rs_created),
                   "lastTransitionTime": rfc3339(w.rs_created), "reason": "MinimumReplicasAvailable",
                   "message": "Deployment has minimum availability."})
        } else {
            json!({"type": "Available", "status": "False", "lastUpdateTime": self.ts(600),
                   "lastTransitionTime": self.ts(600), "reason": "MinimumReplicasUnavailable",
                   "message": "Deployment does not have minimum availability."})
        };
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": w.replicas,
            "updatedReplicas": w.replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                available,
                {"type": "Progressing", "status": "True", "lastUpdateTime": rfc3339(w.rs_created + 30),
                 "lastTransitionTime": rfc3339(w.created), "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed.")}
            ]
        });
        if ready < w.replicas {
            status["unavailableReplicas"] = json!(w.replicas - ready);
        }
        if ready == 0
            && let Some(o) = status.as_object_mut()
        {
            o.remove("readyReplicas");
            o.remove("availableReplicas");
        }
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": w.name, "namespace": w.namespace, "uid": w.uid,
                "creationTimestamp": rfc3339(w.created), "generation": generation,
                "labels": w.labels,
                "annotations": {"deployment.kubernetes.io/revision": w.revision.to_string()}
            },
            "spec": {
                "replicas": w.replicas,
                "selector": {"matchLabels": Self::selector_labels(w)},
                "template": {"metadata": {"labels": w.labels,
                                          "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
                             "spec": w.template_spec},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            },
            "status": status
        })
    }

    fn rs_common(
        &self,
        w: &Workload,
        hash: &str,
        uid: &str,
        created: i64,
        replicas: usize,
        revision: u64,
    ) -> Value {
        let mut labels = w.labels.clone();
        labels["pod-template-hash"] = json!(hash);
        let mut selector = Self::selector_labels(w);
        selector["pod-template-hash"] = json!(hash);
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{}-{hash}", w.name), "namespace": w.namespace, "uid": uid,
                "creationTimestamp": rfc3339(created), "generation": if replicas == 0 { 2 } else { 1 },
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
                    "deployment.kubernetes.io/max-replicas": (w.replicas + w.replicas.div_ceil(4)).to_string(),
                    "deployment.kubernetes.io/revision": revision.to_string()
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name,
                                     "uid": w.uid, "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": labels,
                                          "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
                             "spec": w.template_spec}
            }
        })
    }

    fn replicaset(&self, w: &Workload) -> Value {
        let ready = self.ready_pods(w);
        let mut v = self.rs_common(w, &w.hash, &w.rs_uid, w.rs_created, w.replicas, w.revision);
        let mut status = json!({"replicas": w.replicas, "fullyLabeledReplicas": w.replicas,
                                "readyReplicas": ready, "availableReplicas": ready,
                                "observedGeneration": 1});
        if ready == 0
            && let Some(o) = status.as_object_mut()
        {
            o.remove("readyReplicas");
            o.remove("availableReplicas");
        }
        v["status"] = status;
        v
    }

    fn old_replicaset(&self, w: &Workload) -> Option<Value> {
        let (hash, uid) = w.old_rs.as_ref()?;
        let mut v = self.rs_common(w, hash, uid, w.created, 0, w.revision - 1);
        v["status"] = json!({"replicas": 0, "observedGeneration": 2});
        Some(v)
    }

    fn pod(&self, w: &Workload, p: usize) -> Value {
        let i = w.first_pod + p;
        let PodState {
            mut g,
            pending,
            crashloop,
        } = self.pod_state(w, p);
        let node = i % self.nodes.max(1);
        let name = format!("{}-{}-{}", w.name, w.hash, g.name_suffix(5));
        let uid = g.uuid();
        let age = (self.now_unix - w.rs_created).max(60);
        let created = self.now_unix - g.below(age as u64) as i64;
        let scheduled = created + 1;
        let started = scheduled + 2 + g.below(8) as i64;
        let ready_at = started + 5 + g.below(30) as i64;
        let mut labels = w.labels.clone();
        labels["pod-template-hash"] = json!(w.hash);
        let mut spec = w.template_spec.clone();
        let sa_vol = format!("kube-api-access-{}", g.name_suffix(5));
        // The service-account token volume and its mounts are added to every pod by admission.
        if let Some(cs) = spec["containers"].as_array_mut() {
            for c in cs {
                let mount = json!({"name": sa_vol, "readOnly": true,
                                   "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"});
                match c["volumeMounts"].as_array_mut() {
                    Some(m) => m.push(mount),
                    None => c["volumeMounts"] = json!([mount]),
                }
            }
        }
        if let Some(vs) = spec["volumes"].as_array_mut() {
            vs.push(json!({"name": sa_vol, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ], "defaultMode": 420}}));
        }
        spec["tolerations"] = json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]);
        spec["priority"] = json!(if w.priority_class.is_some() {
            1_000_000
        } else {
            0
        });
        spec["enableServiceLinks"] = json!(true);
        spec["preemptionPolicy"] = json!("PreemptLowerPriority");
        if !pending {
            spec["nodeName"] = json!(Self::node_name(node));
        }
        let qos = qos_class(&w.template_spec);
        let cond = |t: &str, s: &str, at: i64| json!({"type": t, "status": s, "lastProbeTime": null, "lastTransitionTime": rfc3339(at)});
        let status = if pending {
            json!({
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": null,
                    "lastTransitionTime": rfc3339(scheduled), "reason": "Unschedulable",
                    "message": format!("0/{} nodes are available: {} Insufficient cpu. preemption: 0/{} nodes are available: {} No preemption victims found for incoming pod.", self.nodes, self.nodes, self.nodes, self.nodes)
                }],
                "qosClass": qos
            })
        } else {
            let crash_idx = if crashloop {
                Some(g.below(w.containers.len() as u64) as usize)
            } else {
                None
            };
            let statuses: Vec<Value> = w
                .containers
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    let cid = format!("containerd://{}", g.hex(64));
                    let mut st = json!({
                        "name": c.name, "image": c.image, "imageID": c.image_id,
                        "containerID": cid, "ready": true, "started": true, "restartCount": 0,
                        "state": {"running": {"startedAt": rfc3339(started)}},
                        "lastState": {},
                    });
                    if crash_idx == Some(ci) {
                        let restarts = g.range(3, 250);
                        let finished = self.now_unix - g.range(5, 280) as i64;
                        st["ready"] = json!(false);
                        st["started"] = json!(false);
                        st["restartCount"] = json!(restarts);
                        st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                            "message": format!("back-off 5m0s restarting failed container={} pod={name}_{}({uid})", c.name, w.namespace)}});
                        st["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                            "startedAt": rfc3339(finished - g.range(1, 20) as i64),
                            "finishedAt": rfc3339(finished), "containerID": format!("containerd://{}", g.hex(64))}});
                    } else if g.chance(0.05) {
                        let restarts = g.range(1, 4);
                        let finished = started + g.below((self.now_unix - started).max(1) as u64) as i64;
                        st["restartCount"] = json!(restarts);
                        st["state"] = json!({"running": {"startedAt": rfc3339(finished + 1)}});
                        st["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                            "startedAt": rfc3339(started), "finishedAt": rfc3339(finished),
                            "containerID": format!("containerd://{}", g.hex(64))}});
                    }
                    st
                })
                .collect();
            let ready = crash_idx.is_none();
            let ready_cond = |t: &str| {
                if ready {
                    cond(t, "True", ready_at)
                } else {
                    let mut c = cond(t, "False", self.now_unix - 300);
                    c["reason"] = json!("ContainersNotReady");
                    c["message"] = json!(format!(
                        "containers with unready status: [{}]",
                        w.containers[crash_idx.unwrap_or(0)].name
                    ));
                    c
                }
            };
            let ip = format!(
                "{}.{}",
                Self::pod_cidr_base(node),
                2 + (i / self.nodes.max(1)) % 250
            );
            let host_ip = Self::node_ip(node);
            let mut status = json!({
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
                "startTime": rfc3339(scheduled),
                "containerStatuses": statuses,
                "qosClass": qos,
            });
            if let Some(ic) = &w.init {
                status["initContainerStatuses"] = json!([{
                    "name": ic.name, "image": ic.image, "imageID": ic.image_id,
                    "containerID": format!("containerd://{}", g.hex(64)),
                    "ready": true, "restartCount": 0, "started": false,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": rfc3339(scheduled + 1), "finishedAt": rfc3339(started - 1),
                        "containerID": format!("containerd://{}", g.hex(64))}},
                    "lastState": {}
                }]);
            }
            status
        };
        let mut meta = json!({
            "name": name, "generateName": format!("{}-{}-", w.name, w.hash),
            "namespace": w.namespace, "uid": uid, "creationTimestamp": rfc3339(created),
            "labels": labels,
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": format!("{}-{}", w.name, w.hash), "uid": w.rs_uid,
                                 "controller": true, "blockOwnerDeletion": true}]
        });
        if w.role == "worker" {
            meta["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] = json!("true");
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status})
    }
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

/// The pod's QoS class from its containers' requests and limits, as the kubelet computes it.
fn qos_class(spec: &Value) -> &'static str {
    let containers = spec["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut any = false;
    let mut all_guaranteed = true;
    for c in containers {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        if !req.is_null() || !lim.is_null() {
            any = true;
        }
        for r in ["cpu", "memory"] {
            if lim[r].is_null() || (!req[r].is_null() && req[r] != lim[r]) {
                all_guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if all_guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
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
        assert!(
            pods.iter().any(|p| p["status"]["phase"] == "Pending") || c.pending_ratio * 300.0 < 3.0
        );
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

    #[test]
    fn qos() {
        assert_eq!(qos_class(&json!({"containers": [{}]})), "BestEffort");
        assert_eq!(
            qos_class(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
            ),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
    }
}
