//! Helpers shared by the manifest tests (kustomize overlays, Helm chart).

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

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

/// Each workload's account is bound to one ClusterRole granting exactly list/watch on the kinds
/// of its `--resources` (or the default set); namespaced grants are only what automated
/// sharding reads; together the workloads watch every default kind.
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
        // Namespaced grants are only what automated sharding reads (hash-sharded).
        for binding in docs.iter().filter(|d| kind(d) == "RoleBinding") {
            let binds = seq(get(binding, &["subjects"]))
                .into_iter()
                .any(|sub| s(sub, &["name"]) == Some(account));
            if !binds {
                continue;
            }
            let role_name = s(binding, &["roleRef", "name"]).unwrap();
            let role = docs
                .iter()
                .find(|d| kind(d) == "Role" && name(d) == role_name)
                .unwrap_or_else(|| panic!("{what}: Role {role_name} missing"));
            for rule in seq(get(role, &["rules"])) {
                assert_eq!(strings(get(rule, &["verbs"])), vec!["get"], "{what}");
                for resource in strings(get(rule, &["resources"])) {
                    assert!(
                        ["pods", "statefulsets"].contains(&resource.as_str()),
                        "{what}: {role_name} grants {resource}"
                    );
                }
            }
        }
    }
    // Together the workloads cover the default set (pods-daemonset: the Deployment).
    for kind in rbac::default_resources() {
        assert!(all_watched.contains(kind), "{label}: nobody watches {kind}");
    }
}
