//! deploy/helm/kube-state-otel: the chart renders, offline, through Helm's own engine (the
//! `helm-python-sdk` package from PyPI bundles Helm v4's Go library; `Chart.load(dir).render()`
//! contacts no cluster), the same objects as the kustomize overlay of each topology, validates
//! against the Kubernetes schemas, and grants each workload exactly list/watch on the kinds of
//! its `--resources`. The helpers mirror tests/deploy.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use kube_state_otel::rbac;
use serde_json::json;
use serde_yaml_ng::Value;

const CHART: &str = "deploy/helm/kube-state-otel";

/// (case, chart values, the overlay rendering the same objects).
fn cases() -> Vec<(&'static str, serde_json::Value, Option<&'static str>)> {
    vec![
        ("single", json!({"topology": "single"}), Some("single")),
        (
            "sharded-by-kind",
            json!({"topology": "sharded-by-kind"}),
            Some("sharded-by-kind"),
        ),
        (
            "hash-sharded",
            json!({"topology": "hash-sharded"}),
            Some("hash-sharded"),
        ),
        (
            "pods-daemonset",
            json!({"topology": "pods-daemonset"}),
            Some("pods-daemonset"),
        ),
        (
            "with-otel-collector",
            json!({"topology": "single", "otelCollector": {"enabled": true}}),
            Some("with-otel-collector"),
        ),
        (
            "hash-sharded+otel",
            json!({"topology": "hash-sharded", "otelCollector": {"enabled": true},
                   "hashSharded": {"replicas": 3}}),
            None,
        ),
        (
            "pods-daemonset+otel",
            json!({"topology": "pods-daemonset", "otelCollector": {"enabled": true}}),
            None,
        ),
        (
            "sharded-by-kind-no-monitor",
            json!({"topology": "sharded-by-kind", "serviceMonitor": {"enabled": false},
                   "image": {"repository": "registry.example/kso", "tag": "v1.2.3",
                             "pullPolicy": "IfNotPresent"}}),
            None,
        ),
    ]
}

/// Renders every case in one Python process: `helm_python.Chart.load(chart).render(values,
/// name=, namespace=)` returns {template path: manifest}.
const RENDER: &str = r#"
import json, sys
import helm_python
chart = helm_python.Chart.load(sys.argv[1])
out = []
for values in json.loads(sys.argv[2]):
    manifests = chart.render(values=values, name="kube-state-otel", namespace="monitoring")
    out.append("".join("---\n" + manifests[k] + "\n" for k in sorted(manifests)))
json.dump(out, sys.stdout)
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(text: &str) -> Vec<Value> {
    text.split("\n---")
        .flat_map(|doc| doc.strip_prefix("---").or(Some(doc)))
        .map(|doc| serde_yaml_ng::from_str::<Value>(&format!("{doc}\n")).expect("rendered YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Each case's rendered documents, rendered once per test binary.
fn rendered() -> &'static BTreeMap<&'static str, Vec<Value>> {
    static RENDERED: OnceLock<BTreeMap<&'static str, Vec<Value>>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let cases = cases();
        let values: Vec<&serde_json::Value> = cases.iter().map(|c| &c.1).collect();
        let output = Command::new("python3")
            .arg("-c")
            .arg(RENDER)
            .arg(root().join(CHART))
            .arg(serde_json::to_string(&values).unwrap())
            .output()
            .expect("python3 must be installed");
        assert!(
            output.status.success(),
            "rendering {CHART} (helm-python-sdk from PyPI must be installed: scripts/test.sh does):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let texts: Vec<String> = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(texts.len(), cases.len());
        cases
            .iter()
            .zip(texts)
            .map(|((name, _, _), text)| (*name, parse(&text)))
            .collect()
    })
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

fn kind(doc: &Value) -> &str {
    s(doc, &["kind"]).unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    s(doc, &["metadata", "name"]).unwrap_or_default()
}

fn seq(v: Option<&Value>) -> Vec<&Value> {
    v.and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    seq(v)
        .into_iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

const WORKLOADS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

#[test]
fn values_match_the_kind_tables_and_the_sidecar_config() {
    let text = std::fs::read_to_string(root().join(CHART).join("values.yaml")).unwrap();
    let values: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut have: Vec<(String, String)> = Vec::new();
    for entry in seq(get(&values, &["kinds"])) {
        let group = s(entry, &["group"]).expect("group");
        for resource in strings(get(entry, &["resources"])) {
            have.push((group.to_string(), resource));
        }
    }
    let want: Vec<(String, String)> = rbac::group_resources(&rbac::default_resources())
        .unwrap()
        .into_iter()
        .map(|(g, r)| (g.to_string(), r.to_string()))
        .collect();
    assert_eq!(
        have, want,
        "{CHART}/values.yaml kinds: the default kinds by API group, sorted, as src/rbac.rs has them"
    );
    let copy = std::fs::read_to_string(root().join(CHART).join("files/sidecar.yaml")).unwrap();
    let original = std::fs::read_to_string(root().join("otel-config/sidecar.yaml")).unwrap();
    assert!(
        copy == original,
        "{CHART}/files/sidecar.yaml is a copy of otel-config/sidecar.yaml: copy it again"
    );
}

/// Kustomize's generated ConfigMap names end in a content hash; container args in any order.
fn normalize(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("otel-collector-sidecar-") => {
            *s = "otel-collector-sidecar".to_string();
        }
        Value::Sequence(items) => items.iter_mut().for_each(normalize),
        Value::Mapping(map) => {
            for (key, value) in map.iter_mut() {
                normalize(value);
                if key.as_str() == Some("args")
                    && let Value::Sequence(args) = value
                {
                    args.sort_by_key(|a| a.as_str().unwrap_or_default().to_string());
                }
            }
        }
        _ => {}
    }
}

fn keyed(docs: &[Value]) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for doc in docs {
        let mut doc = doc.clone();
        normalize(&mut doc);
        let key = (kind(&doc).to_string(), name(&doc).to_string());
        assert!(out.insert(key.clone(), doc).is_none(), "{key:?} twice");
    }
    out
}

#[test]
fn each_topology_renders_the_same_objects_as_its_overlay() {
    for (case, _, overlay) in cases() {
        let Some(overlay) = overlay else { continue };
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(root().join("deploy/overlays").join(overlay))
            .output()
            .expect("kubectl (Debian: kubernetes-client) must be installed: scripts/test.sh does");
        assert!(output.status.success(), "kubectl kustomize {overlay}");
        let kustomized = keyed(&parse(&String::from_utf8(output.stdout).unwrap()));
        let helm = keyed(&rendered()[case]);
        assert_eq!(
            helm.keys().collect::<Vec<_>>(),
            kustomized.keys().collect::<Vec<_>>(),
            "{case}: objects vs deploy/overlays/{overlay}"
        );
        for (key, want) in &kustomized {
            assert!(
                &helm[key] == want,
                "{case}: {key:?} differs from deploy/overlays/{overlay}:\nhelm:\n{}\nkustomize:\n{}",
                serde_yaml_ng::to_string(&helm[key]).unwrap(),
                serde_yaml_ng::to_string(want).unwrap()
            );
        }
    }
}

#[test]
fn renders_validate_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (case, docs) in rendered() {
        let mut text = String::new();
        for doc in docs.iter().filter(|d| kind(d) != "ServiceMonitor") {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(doc).unwrap());
        }
        let file = dir.path().join(format!("{case}.yaml"));
        std::fs::write(&file, text).unwrap();
        files.push(file);
        // Custom resources are not in the bundled schemas: checked structurally.
        let monitors: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) == "ServiceMonitor")
            .collect();
        if *case == "sharded-by-kind-no-monitor" {
            assert!(monitors.is_empty(), "{case}: serviceMonitor.enabled=false");
        } else {
            assert_eq!(monitors.len(), 1, "{case}: one ServiceMonitor");
            check_service_monitor(case, monitors[0], docs);
        }
        let services: Vec<&Value> = docs.iter().filter(|d| kind(d) == "Service").collect();
        assert_eq!(services.len(), 1, "{case}");
        assert_eq!(
            s(
                services[0],
                &["metadata", "labels", "app.kubernetes.io/name"]
            ),
            Some("kube-state-metrics"),
            "{case}: the Service kube-prometheus selects as job=\"kube-state-metrics\""
        );
    }
    let output = Command::new("kubernetes-validate")
        .args(["-k", "1.33.0", "--strict", "--quiet"])
        .args(&files)
        .output()
        .expect("kubernetes-validate (PyPI) must be installed: scripts/test.sh does");
    assert!(
        output.status.success(),
        "{CHART} does not validate:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check_service_monitor(case: &str, monitor: &Value, docs: &[Value]) {
    assert_eq!(
        s(monitor, &["apiVersion"]),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(s(monitor, &["metadata", "namespace"]), Some("monitoring"));
    let selector = get(monitor, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_mapping)
        .expect("spec.selector.matchLabels");
    let selected: Vec<&Value> = docs
        .iter()
        .filter(|d| kind(d) == "Service")
        .filter(|svc| {
            selector
                .iter()
                .all(|(k, v)| get(svc, &["metadata", "labels"]).and_then(|l| l.get(k)) == Some(v))
        })
        .collect();
    assert_eq!(
        selected.len(),
        1,
        "{case}: the ServiceMonitor selects one Service"
    );
    let service_ports: BTreeSet<&str> = seq(get(selected[0], &["spec", "ports"]))
        .into_iter()
        .filter_map(|p| s(p, &["name"]))
        .collect();
    let endpoints = seq(get(monitor, &["spec", "endpoints"]));
    let ports: BTreeSet<&str> = endpoints.iter().filter_map(|e| s(e, &["port"])).collect();
    assert_eq!(
        ports,
        BTreeSet::from(["http-metrics", "telemetry"]),
        "{case}"
    );
    assert!(ports.is_subset(&service_ports), "{case}");
    let metrics = endpoints
        .iter()
        .find(|e| s(e, &["port"]) == Some("http-metrics"))
        .unwrap();
    assert_eq!(
        get(metrics, &["honorLabels"]).and_then(Value::as_bool),
        Some(true),
        "{case}"
    );
    for key in monitor.as_mapping().unwrap().keys() {
        assert!(
            ["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str().unwrap()),
            "{case}: {key:?}"
        );
    }
}

/// The kinds a container's `--resources` flag names, or the default set.
fn watched(args: &[String]) -> BTreeSet<String> {
    match args.iter().find_map(|a| a.strip_prefix("--resources=")) {
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

fn exporter_container(workload: &Value) -> &Value {
    seq(get(workload, &["spec", "template", "spec", "containers"]))
        .into_iter()
        .find(|c| s(c, &["name"]) == Some("kube-state-otel"))
        .expect("a kube-state-otel container")
}

#[test]
fn each_workload_may_list_and_watch_exactly_its_kinds() {
    for (case, docs) in rendered() {
        let workloads: Vec<&Value> = docs
            .iter()
            .filter(|d| WORKLOADS.contains(&kind(d)))
            .collect();
        assert!(!workloads.is_empty(), "{case}");
        let mut all_watched = BTreeSet::new();
        for workload in workloads {
            let what = format!("{case}: {} {}", kind(workload), name(workload));
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
                    for key in rule.as_mapping().unwrap().keys() {
                        assert!(
                            ["apiGroups", "resources", "verbs"].contains(&key.as_str().unwrap()),
                            "{what}: rule field {key:?} in {role_name}"
                        );
                    }
                    let verbs: BTreeSet<String> =
                        strings(get(rule, &["verbs"])).into_iter().collect();
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
        for kind in rbac::default_resources() {
            assert!(all_watched.contains(kind), "{case}: nobody watches {kind}");
        }
    }
}

#[test]
fn values_reach_the_rendered_objects() {
    let docs = &rendered()["hash-sharded+otel"];
    let sts = docs.iter().find(|d| kind(d) == "StatefulSet").unwrap();
    assert_eq!(
        get(sts, &["spec", "replicas"]).and_then(Value::as_u64),
        Some(3)
    );
    let containers = seq(get(sts, &["spec", "template", "spec", "containers"]));
    assert!(
        containers
            .iter()
            .any(|c| s(c, &["name"]) == Some("otel-collector"))
    );
    assert!(
        strings(get(exporter_container(sts), &["args"]))
            .contains(&"--otlp-endpoint=http://localhost:4317".to_string())
    );
    let docs = &rendered()["pods-daemonset+otel"];
    for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
        let containers = seq(get(workload, &["spec", "template", "spec", "containers"]));
        assert_eq!(
            containers.len(),
            2,
            "{}: a Collector sidecar",
            name(workload)
        );
    }
    let docs = &rendered()["sharded-by-kind-no-monitor"];
    for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
        let exporter = exporter_container(workload);
        assert_eq!(s(exporter, &["image"]), Some("registry.example/kso:v1.2.3"));
        assert_eq!(s(exporter, &["imagePullPolicy"]), Some("IfNotPresent"));
    }
}
