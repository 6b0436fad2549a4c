//! Helpers shared by the manifest tests (kustomize overlays, Helm chart).

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use kube_state_otel::config::Cli;
use kube_state_otel::config::file::ConfigFile;
use kube_state_otel::leader::{LEASE_VERBS, LeaderConfig};
use kube_state_otel::rbac;
use serde_yaml_ng::Value;

/// The kinds of object that run the exporter.
pub const WORKLOADS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

pub fn kind(doc: &Value) -> &str {
    s(doc, &["kind"]).unwrap_or_default()
}

pub fn name(doc: &Value) -> &str {
    s(doc, &["metadata", "name"]).unwrap_or_default()
}

pub fn seq(v: Option<&Value>) -> Vec<&Value> {
    v.and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

pub fn strings(v: Option<&Value>) -> Vec<String> {
    seq(v)
        .into_iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

pub fn check_service_monitor(path: &str, monitor: &Value, docs: &[Value]) {
    assert_eq!(
        s(monitor, &["apiVersion"]),
        Some("monitoring.coreos.com/v1")
    );
    assert!(s(monitor, &["metadata", "namespace"]).is_some(), "{path}");
    let selector = get(monitor, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_mapping)
        .expect("spec.selector.matchLabels");
    let services: Vec<&Value> = docs.iter().filter(|d| kind(d) == "Service").collect();
    let selected: Vec<&&Value> = services
        .iter()
        .filter(|svc| {
            selector
                .iter()
                .all(|(k, v)| get(svc, &["metadata", "labels"]).and_then(|l| l.get(k)) == Some(v))
        })
        .collect();
    assert_eq!(
        selected.len(),
        1,
        "{path}: the ServiceMonitor selects one Service"
    );
    let service = selected[0];
    let service_ports: BTreeSet<&str> = seq(get(service, &["spec", "ports"]))
        .into_iter()
        .filter_map(|p| s(p, &["name"]))
        .collect();
    let endpoints = seq(get(monitor, &["spec", "endpoints"]));
    let ports: BTreeSet<&str> = endpoints.iter().filter_map(|e| s(e, &["port"])).collect();
    assert_eq!(
        ports,
        BTreeSet::from(["http-metrics", "telemetry"]),
        "{path}: ServiceMonitor endpoints"
    );
    assert!(ports.is_subset(&service_ports), "{path}");
    for endpoint in &endpoints {
        let allowed = [
            "port",
            "interval",
            "scrapeTimeout",
            "honorLabels",
            "scheme",
            "path",
        ];
        for key in endpoint.as_mapping().unwrap().keys() {
            assert!(
                allowed.contains(&key.as_str().unwrap()),
                "{path}: endpoint field {key:?}"
            );
        }
    }
    let metrics = endpoints
        .iter()
        .find(|e| s(e, &["port"]) == Some("http-metrics"))
        .unwrap();
    assert_eq!(
        get(metrics, &["honorLabels"]).and_then(Value::as_bool),
        Some(true),
        "{path}: the exported namespace/pod labels win over the target's"
    );
    for key in monitor.as_mapping().unwrap().keys() {
        assert!(
            ["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str().unwrap()),
            "{path}: {key:?}"
        );
    }
}

/// The kinds a container's `--resources` flag names, or the default set.
pub fn watched(args: &[String]) -> BTreeSet<String> {
    let flag = args.iter().find_map(|a| a.strip_prefix("--resources="));
    match flag {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        None => rbac::default_resources()
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

pub fn exporter_container(workload: &Value) -> &Value {
    seq(get(workload, &["spec", "template", "spec", "containers"]))
        .into_iter()
        .find(|c| s(c, &["name"]) == Some("kube-state-otel"))
        .expect("a kube-state-otel container")
}

/// `$(VAR)` in a container's args as the kubelet expands it from the container's `env`: the
/// downward API's `metadata.namespace` is the workload's namespace, `metadata.name` a pod of it,
/// `spec.nodeName` a node. A variable the env does not define would reach the binary as the
/// literal `$(VAR)`: that fails here.
pub fn expand(what: &str, workload: &Value, arg: &str) -> String {
    let env = seq(get(exporter_container(workload), &["env"]));
    let mut out = arg.to_string();
    while let Some(start) = out.find("$(") {
        let end = start + out[start..].find(')').expect("$(VAR) closed");
        let var = &out[start + 2..end];
        let entry = env
            .iter()
            .find(|e| s(e, &["name"]) == Some(var))
            .unwrap_or_else(|| panic!("{what}: {arg}: {var} is not in the container's env"));
        let value = match (
            s(entry, &["value"]),
            s(entry, &["valueFrom", "fieldRef", "fieldPath"]),
        ) {
            (Some(value), _) => value.to_string(),
            (_, Some("metadata.namespace")) => s(workload, &["metadata", "namespace"])
                .expect("namespace")
                .to_string(),
            (_, Some("metadata.name")) => format!("{}-0", name(workload)),
            (_, Some("spec.nodeName")) => "node-0".to_string(),
            other => panic!("{what}: {var}: no value this test knows: {other:?}"),
        };
        out.replace_range(start..=end, &value);
    }
    out
}

/// What a workload's exporter runs: each pipeline's name and effective flags, as the binary
/// computes them from the container's args and the `--config` file its pod mounts.
pub fn effective(what: &str, workload: &Value, docs: &[Value]) -> Vec<(Option<String>, Cli)> {
    let container = exporter_container(workload);
    let args: Vec<String> = strings(get(container, &["args"]))
        .iter()
        .map(|a| expand(what, workload, a))
        .collect();
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("kube-state-otel".to_string()).chain(args))
        .unwrap_or_else(|e| panic!("{what}: args: {e}"));
    let cli = Cli::from_arg_matches(&matches).expect("flags");
    let Some(path) = cli.config.clone() else {
        return vec![(None, cli)];
    };
    // The ConfigMap mounted where --config points.
    let dir = path.parent().and_then(Path::to_str).expect("--config dir");
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .expect("--config file");
    let mount = seq(get(container, &["volumeMounts"]))
        .into_iter()
        .find(|m| s(m, &["mountPath"]) == Some(dir))
        .unwrap_or_else(|| panic!("{what}: nothing mounted at {dir}"));
    let volume = seq(get(workload, &["spec", "template", "spec", "volumes"]))
        .into_iter()
        .find(|v| s(v, &["name"]) == s(mount, &["name"]))
        .expect("the mounted volume");
    let config_map = s(volume, &["configMap", "name"]).expect("a ConfigMap volume");
    let text = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d) == config_map)
        .and_then(|d| s(d, &["data", file]))
        .unwrap_or_else(|| panic!("{what}: ConfigMap {config_map} with {file}"));
    let shown = path.display().to_string();
    let pipelines = ConfigFile::parse(&shown, text)
        .and_then(|f| f.select(&shown, cli.pipeline.as_deref()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    pipelines
        .into_iter()
        .map(|pipeline| {
            let mut flags = cli.clone();
            // As main.rs: a flag given on the command line or by environment wins.
            pipeline.apply(&mut flags, |id| {
                matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            });
            (Some(pipeline.name), flags)
        })
        .collect()
}

/// The Leases a workload's pipelines elect on (none without leader election), as the binary
/// names them; the default namespace is the service account's, the pod's own.
pub fn leases(what: &str, workload: &Value, docs: &[Value]) -> Vec<LeaderConfig> {
    let namespace = s(workload, &["metadata", "namespace"]).expect("namespace");
    effective(what, workload, docs)
        .into_iter()
        .filter(|(_, cli)| cli.leader_election)
        .map(|(pipeline, cli)| {
            // Hash shards elect per shard; automated sharding's count is known at run time only.
            let shard = (cli.total_shards > 1).then_some((cli.shard, cli.total_shards));
            LeaderConfig::from_cli(&cli, pipeline.as_deref(), shard, namespace)
        })
        .collect()
}

/// Whether a workload runs kube-state-metrics' automated sharding (`--pod` and
/// `--pod-namespace`, in flags or config).
pub fn autoshards(what: &str, workload: &Value, docs: &[Value]) -> bool {
    effective(what, workload, docs).iter().any(|(_, cli)| {
        [&cli.pod, &cli.pod_namespace]
            .iter()
            .all(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    })
}

/// Whether `selector` (`matchLabels`) selects the pods of `workload`.
fn selects(selector: Option<&Value>, workload: &Value) -> bool {
    let labels = get(workload, &["spec", "template", "metadata", "labels"]);
    selector.and_then(Value::as_mapping).is_some_and(|m| {
        !m.is_empty()
            && m.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    })
}

/// Workloads that elect a leader have a standby and keep it: a Deployment (a DaemonSet's pods
/// each watch their own node, and automated sharding's replicas are each their own shard, so
/// one Lease would silence all but one of them), at least two replicas, a PodDisruptionBudget
/// keeping one, anti-affinity spreading them over nodes, and a Lease no other workload elects
/// on. Returns how many workloads elect.
pub fn check_leader_election(label: &str, docs: &[Value]) -> usize {
    let mut taken: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut electing = 0;
    for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
        let what = format!("{label}: {} {}", kind(workload), name(workload));
        let leases = leases(&what, workload, docs);
        if leases.is_empty() {
            continue;
        }
        electing += 1;
        assert_eq!(
            kind(workload),
            "Deployment",
            "{what}: elects, so a Deployment"
        );
        assert!(!autoshards(&what, workload, docs), "{what}");
        let replicas = get(workload, &["spec", "replicas"]).and_then(Value::as_u64);
        assert!(
            replicas >= Some(2),
            "{what}: a standby: replicas {replicas:?}"
        );
        let budgets: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) == "PodDisruptionBudget")
            .filter(|d| selects(get(d, &["spec", "selector", "matchLabels"]), workload))
            .collect();
        assert_eq!(budgets.len(), 1, "{what}: one PodDisruptionBudget");
        assert_eq!(
            get(budgets[0], &["spec", "minAvailable"]).and_then(Value::as_u64),
            Some(1),
            "{what}: PodDisruptionBudget minAvailable"
        );
        assert_eq!(
            s(budgets[0], &["metadata", "namespace"]),
            s(workload, &["metadata", "namespace"]),
            "{what}"
        );
        let spread = seq(get(
            workload,
            &[
                "spec",
                "template",
                "spec",
                "affinity",
                "podAntiAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ],
        ))
        .into_iter()
        .any(|term| {
            s(term, &["podAffinityTerm", "topologyKey"]) == Some("kubernetes.io/hostname")
                && selects(
                    get(term, &["podAffinityTerm", "labelSelector", "matchLabels"]),
                    workload,
                )
        });
        assert!(
            spread,
            "{what}: preferred anti-affinity of its pods by hostname"
        );
        for lease in leases {
            let key = (lease.namespace, lease.lease_name);
            if let Some(other) = taken.insert(key.clone(), what.clone()) {
                panic!("{what} and {other} elect on the same Lease {key:?}");
            }
        }
    }
    electing
}

/// Each workload's account is bound to one ClusterRole granting exactly list/watch on the kinds
/// of its `--resources` (or the default set); namespaced grants are only what automated
/// sharding reads (when it runs) and what leader election needs in its Lease's namespace (when
/// it elects): exactly [`LEASE_VERBS`] on leases; together the workloads watch every default
/// kind.
pub fn check_workload_rbac(label: &str, docs: &[Value]) {
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| WORKLOADS.contains(&kind(d)))
        .collect();
    assert!(!workloads.is_empty(), "{label}");
    let mut all_watched = BTreeSet::new();
    for workload in workloads {
        let what = format!("{label}: {} {}", kind(workload), name(workload));
        let args = strings(get(exporter_container(workload), &["args"]));
        let kinds = watched(&args);
        all_watched.extend(kinds.clone());
        let want: BTreeSet<(String, String)> =
            rbac::group_resources(&kinds.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .into_iter()
                .map(|(g, r)| (g.to_string(), r.to_string()))
                .collect();
        let account = s(
            workload,
            &["spec", "template", "spec", "serviceAccountName"],
        )
        .unwrap_or_else(|| panic!("{what}: serviceAccountName"));
        let namespace = s(workload, &["metadata", "namespace"]).expect("namespace");
        assert!(
            docs.iter().any(|d| kind(d) == "ServiceAccount"
                && name(d) == account
                && s(d, &["metadata", "namespace"]) == Some(namespace)),
            "{what}: ServiceAccount {account}"
        );
        // Cluster-wide grants to the account: its ClusterRoleBindings' ClusterRoles.
        let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
        let mut roles = 0;
        for binding in docs.iter().filter(|d| kind(d) == "ClusterRoleBinding") {
            let binds = seq(get(binding, &["subjects"])).into_iter().any(|sub| {
                s(sub, &["kind"]) == Some("ServiceAccount")
                    && s(sub, &["name"]) == Some(account)
                    && s(sub, &["namespace"]) == Some(namespace)
            });
            if !binds {
                continue;
            }
            assert_eq!(s(binding, &["roleRef", "kind"]), Some("ClusterRole"));
            let role_name = s(binding, &["roleRef", "name"]).unwrap();
            let role = docs
                .iter()
                .find(|d| kind(d) == "ClusterRole" && name(d) == role_name)
                .unwrap_or_else(|| panic!("{what}: ClusterRole {role_name} missing"));
            roles += 1;
            for rule in seq(get(role, &["rules"])) {
                let rule_map = rule.as_mapping().unwrap();
                for key in rule_map.keys() {
                    assert!(
                        ["apiGroups", "resources", "verbs"].contains(&key.as_str().unwrap()),
                        "{what}: rule field {key:?} in {role_name}"
                    );
                }
                let verbs: BTreeSet<String> = strings(get(rule, &["verbs"])).into_iter().collect();
                assert_eq!(
                    verbs,
                    BTreeSet::from(["list".to_string(), "watch".to_string()]),
                    "{what}: {role_name} verbs"
                );
                for group in strings(get(rule, &["apiGroups"])) {
                    for resource in strings(get(rule, &["resources"])) {
                        assert!(!group.contains('*') && !resource.contains('*'));
                        granted.insert((group.clone(), resource));
                    }
                }
            }
        }
        assert_eq!(roles, 1, "{what}: one ClusterRole bound to {account}");
        assert_eq!(granted, want, "{what}: ClusterRole grants vs --resources");
        // Namespaced grants: the account's RoleBindings in any namespace, each to a Role there.
        let autoshard = autoshards(&what, workload, docs);
        let lease_namespaces: BTreeSet<String> = leases(&what, workload, docs)
            .into_iter()
            .map(|l| l.namespace)
            .collect();
        let mut lease_grants: BTreeMap<String, usize> = BTreeMap::new();
        for binding in docs.iter().filter(|d| kind(d) == "RoleBinding") {
            let binds = seq(get(binding, &["subjects"])).into_iter().any(|sub| {
                s(sub, &["kind"]) == Some("ServiceAccount")
                    && s(sub, &["name"]) == Some(account)
                    && s(sub, &["namespace"]) == Some(namespace)
            });
            if !binds {
                continue;
            }
            let role_namespace = s(binding, &["metadata", "namespace"]).expect("namespace");
            assert_eq!(s(binding, &["roleRef", "kind"]), Some("Role"), "{what}");
            let role_name = s(binding, &["roleRef", "name"]).unwrap();
            let role = docs
                .iter()
                .find(|d| {
                    kind(d) == "Role"
                        && name(d) == role_name
                        && s(d, &["metadata", "namespace"]) == Some(role_namespace)
                })
                .unwrap_or_else(|| panic!("{what}: Role {role_namespace}/{role_name} missing"));
            for rule in seq(get(role, &["rules"])) {
                let verbs: BTreeSet<String> = strings(get(rule, &["verbs"])).into_iter().collect();
                let resources = strings(get(rule, &["resources"]));
                if resources.iter().any(|r| r == "leases") {
                    // Leader election: exactly its verbs on leases, where its Lease is.
                    assert_eq!(
                        strings(get(rule, &["apiGroups"])),
                        vec!["coordination.k8s.io"],
                        "{what}: {role_name}"
                    );
                    assert_eq!(resources, vec!["leases"], "{what}: {role_name}");
                    // RBAC cannot limit create by name: resourceNames would forbid it.
                    assert!(
                        get(rule, &["resourceNames"]).is_none(),
                        "{what}: {role_name}: resourceNames on leases"
                    );
                    let want: BTreeSet<String> =
                        LEASE_VERBS.iter().map(|v| v.to_string()).collect();
                    assert_eq!(verbs, want, "{what}: {role_name} verbs on leases");
                    assert!(
                        lease_namespaces.contains(role_namespace),
                        "{what}: {role_name} grants leases in {role_namespace}, where it elects \
                         on none (its Leases: {lease_namespaces:?})"
                    );
                    *lease_grants.entry(role_namespace.to_string()).or_default() += 1;
                    continue;
                }
                // Automated sharding reads its pod and StatefulSet.
                assert!(
                    autoshard,
                    "{what}: {role_name} grants {resources:?} without --pod"
                );
                assert_eq!(verbs, BTreeSet::from(["get".to_string()]), "{what}");
                for resource in resources {
                    assert!(
                        ["pods", "statefulsets"].contains(&resource.as_str()),
                        "{what}: {role_name} grants {resource}"
                    );
                }
            }
        }
        let want: BTreeMap<String, usize> = lease_namespaces.into_iter().map(|n| (n, 1)).collect();
        assert_eq!(
            lease_grants, want,
            "{what}: one Role granting leases in each namespace it elects in, none elsewhere"
        );
    }
    // Together the workloads cover the default set (pods-daemonset: the Deployment).
    for kind in rbac::default_resources() {
        assert!(all_watched.contains(kind), "{label}: nobody watches {kind}");
    }
}
