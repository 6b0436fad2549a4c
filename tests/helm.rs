//! deploy/helm/kube-state-otel: the chart renders, offline, through Helm's own engine (the
//! `helm-python-sdk` package from PyPI bundles Helm v4's Go library; `Chart.load(dir).render()`
//! contacts no cluster), the same objects as the kustomize overlay of each topology, validates
//! against the Kubernetes schemas, and grants each workload exactly list/watch on the kinds of
//! its `--resources` (and, where it elects a leader, get/create/update on leases in its
//! Lease's namespace). The helpers mirror tests/deploy.rs.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use kube_state_otel::rbac;
use serde_json::json;
use serde_yaml_ng::Value;

mod manifests;
use manifests::*;

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
            "ha",
            json!({"topology": "single", "leaderElection": {"enabled": true},
                   "otlpEndpoint": "http://otel-gateway.observability.svc:4317"}),
            Some("ha"),
        ),
        (
            "sharded-by-kind+ha",
            json!({"topology": "sharded-by-kind", "leaderElection": {"enabled": true}}),
            None,
        ),
        (
            "pods-daemonset+ha",
            json!({"topology": "pods-daemonset", "leaderElection": {"enabled": true}}),
            None,
        ),
        (
            "single+ha-tuned",
            json!({"topology": "single", "leaderElection": {"enabled": true, "replicas": 3,
                   "leaseName": "kso", "leaseDuration": "30s", "renewDeadline": "20s",
                   "retryPeriod": "4s", "metricsLeaderOnly": false}}),
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
/// name=, namespace=)` returns {template path: manifest}; a case the chart refuses gives
/// `{"error": message}`.
const RENDER: &str = r#"
import json, sys
import helm_python
chart = helm_python.Chart.load(sys.argv[1])
out = []
for values in json.loads(sys.argv[2]):
    try:
        manifests = chart.render(values=values, name="kube-state-otel", namespace="monitoring")
    except Exception as e:
        out.append({"error": str(e)})
        continue
    out.append("".join("---\n" + manifests[k] + "\n" for k in sorted(manifests)))
json.dump(out, sys.stdout)
"#;

/// The chart rendered with each of `values`: the manifests, or the chart's error.
fn render(values: &[serde_json::Value]) -> Vec<Result<String, String>> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(RENDER)
        .arg(root().join(CHART))
        .arg(serde_json::to_string(values).unwrap())
        .output()
        .expect("python3 must be installed");
    assert!(
        output.status.success(),
        "rendering {CHART} (helm-python-sdk from PyPI must be installed: scripts/test.sh does):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(out.len(), values.len());
    out.into_iter()
        .map(|v| match v {
            serde_json::Value::String(text) => Ok(text),
            other => Err(other["error"].as_str().unwrap_or_default().to_string()),
        })
        .collect()
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
        let values: Vec<serde_json::Value> = cases.iter().map(|c| c.1.clone()).collect();
        cases
            .iter()
            .zip(render(&values))
            .map(|((name, _, _), text)| {
                let text = text.unwrap_or_else(|e| panic!("{name}: {e}"));
                (*name, parse(&text))
            })
            .collect()
    })
}

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

#[test]
fn each_workload_may_list_and_watch_exactly_its_kinds() {
    for (case, docs) in rendered() {
        check_workload_rbac(case, docs);
    }
}

/// Leader election runs each Deployment as a pair with a standby ([`check_leader_election`]),
/// never the DaemonSet; without it nothing elects.
#[test]
fn workloads_that_elect_have_a_standby() {
    let expected = BTreeMap::from([
        ("ha", 1),
        ("sharded-by-kind+ha", 3),
        ("pods-daemonset+ha", 1),
        ("single+ha-tuned", 1),
    ]);
    for (case, docs) in rendered() {
        let electing = check_leader_election(case, docs);
        assert_eq!(electing, expected.get(case).copied().unwrap_or(0), "{case}");
    }
}

/// The chart refuses what cannot work: election where no replica has a standby, and a direct
/// OTLP endpoint beside the sidecar that is the endpoint.
#[test]
fn contradictory_values_are_refused() {
    let refused = render(&[
        json!({"topology": "hash-sharded", "leaderElection": {"enabled": true}}),
        json!({"otelCollector": {"enabled": true}, "otlpEndpoint": "http://gw:4317"}),
    ]);
    let reasons = [
        "leaderElection: hash-sharded replicas are each their own shard",
        "otlpEndpoint: with otelCollector.enabled",
    ];
    for (result, reason) in refused.iter().zip(reasons) {
        let error = result.as_ref().expect_err("refused");
        assert!(error.contains(reason), "{error}");
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
    // Leader election: the flags, each Deployment's own Lease, and only with it a Role.
    let docs = &rendered()["single+ha-tuned"];
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    assert_eq!(
        get(deployment, &["spec", "replicas"]).and_then(Value::as_u64),
        Some(3)
    );
    let args = strings(get(exporter_container(deployment), &["args"]));
    for flag in [
        "--leader-election",
        "--leader-election-lease-duration=30s",
        "--leader-election-renew-deadline=20s",
        "--leader-election-retry-period=4s",
    ] {
        assert!(args.contains(&flag.to_string()), "{flag}: {args:?}");
    }
    assert!(
        !args.contains(&"--metrics-leader-only".to_string()),
        "{args:?}"
    );
    let lease = &leases("single+ha-tuned", deployment, docs)[0];
    assert_eq!(
        (lease.namespace.as_str(), lease.lease_name.as_str()),
        ("monitoring", "kso-default")
    );
    let docs = &rendered()["sharded-by-kind+ha"];
    let mut names: Vec<String> = docs
        .iter()
        .filter(|d| kind(d) == "Deployment")
        .flat_map(|d| leases("sharded-by-kind+ha", d, docs))
        .map(|l| l.lease_name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kube-state-otel-default",
            "kube-state-otel-nodes-default",
            "kube-state-otel-pods-default"
        ]
    );
    let docs = &rendered()["pods-daemonset+ha"];
    let roles: Vec<&str> = docs
        .iter()
        .filter(|d| kind(d) == "Role")
        .map(name)
        .collect();
    assert_eq!(
        roles,
        ["kube-state-otel-leader-election"],
        "the Deployment's only"
    );

    let docs = &rendered()["sharded-by-kind-no-monitor"];
    for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
        let exporter = exporter_container(workload);
        assert_eq!(s(exporter, &["image"]), Some("registry.example/kso:v1.2.3"));
        assert_eq!(s(exporter, &["imagePullPolicy"]), Some("IfNotPresent"));
    }
}
