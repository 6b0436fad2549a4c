//! deploy/helm/kube-state-otel: the chart renders, offline, through Helm's own engine (the
//! `helm-python-sdk` package from PyPI bundles Helm v4's Go library; `Chart.load(dir).render()`
//! contacts no cluster), the same objects as the kustomize overlay of each topology, validates
//! against the Kubernetes schemas, and grants each workload exactly list/watch on the kinds of
//! its `--resources` (and, where it elects a leader, get/create/update on leases in its
//! Lease's namespace; where it reads a Custom Resource State config, list/watch on the CRDs and
//! the custom resources the config names, enough for the binary run against the emulator with
//! everything else refused). The helpers mirror tests/deploy.rs.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use kube_state_otel::rbac;
use serde_json::json;
use serde_yaml_ng::Value;

mod crs_cases;
mod harness;
mod manifests;
mod pki;
use manifests::*;

const CHART: &str = "deploy/helm/kube-state-otel";

/// The example Custom Resource State config (cert-manager's) the custom-resources overlay ships.
fn example_crs_config() -> String {
    std::fs::read_to_string(
        root().join("deploy/overlays/custom-resources/custom-resource-state.yaml"),
    )
    .expect("the overlay's config")
}

/// [`example_crs_config`] as a map (the form kube-state-metrics' chart takes), each entry with
/// its `resourcePlural` (the CRD's: the kind, lowercase, plus `s`).
fn example_crs_config_with_plurals() -> serde_json::Value {
    let mut config: serde_json::Value = serde_yaml_ng::from_str(&example_crs_config()).unwrap();
    for entry in config["spec"]["resources"].as_array_mut().unwrap() {
        let kind = entry["groupVersionKind"]["kind"].as_str().unwrap();
        entry["resourcePlural"] = json!(format!("{}s", kind.to_lowercase()));
    }
    config
}

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
            "secure",
            json!({"topology": "single",
                   "tls": {"enabled": true, "secretName": "kube-state-otel-tls"},
                   "authFilter": {"enabled": true,
                                  "scrapers": [{"name": "prometheus-k8s", "namespace": "monitoring"}]}}),
            Some("secure"),
        ),
        (
            "sharded-by-kind+mtls+basic-auth",
            json!({"topology": "sharded-by-kind",
                   "tls": {"enabled": true, "secretName": "kso-tls",
                           "clientAuthType": "RequireAndVerifyClientCert"},
                   "basicAuth": {"users": {"prometheus": BCRYPT_HASH}},
                   "serviceMonitor": {
                       "tlsConfig": {"cert": {"secret": {"name": "prometheus-client", "key": "tls.crt"}},
                                     "keySecret": {"name": "prometheus-client", "key": "tls.key"}},
                       "basicAuth": {"username": {"name": "kso-basic-auth", "key": "username"},
                                     "password": {"name": "kso-basic-auth", "key": "password"}}}}),
            None,
        ),
        (
            "pods-daemonset+auth-filter+ha",
            json!({"topology": "pods-daemonset", "leaderElection": {"enabled": true},
                   "tls": {"enabled": true, "secretName": "kso-tls", "minVersion": "TLS13",
                           "clientAuthType": "VerifyClientCertIfGiven"},
                   "authFilter": {"enabled": true},
                   "serviceMonitor": {"authorization": {"credentials": {"name": "prometheus-token", "key": "token"}}}}),
            None,
        ),
        (
            "otlp-tls",
            json!({"topology": "hash-sharded",
                   "otlpEndpoint": "https://otel-gateway.observability.svc:4317",
                   "otlp": {"tls": {"secretName": "otlp-client", "cert": "tls.crt", "key": "tls.key"},
                            "headers": {"secretName": "otlp-headers"}}}),
            None,
        ),
        (
            "custom-resources",
            json!({"topology": "single",
                   "customResourceState": {"enabled": true, "config": example_crs_config()}}),
            Some("custom-resources"),
        ),
        (
            "single+crs-only",
            json!({"topology": "single",
                   "customResourceState": {"enabled": true, "only": true,
                                           "config": example_crs_config_with_plurals()}}),
            None,
        ),
        (
            "hash-sharded+crs-only",
            json!({"topology": "hash-sharded",
            "customResourceState": {"enabled": true, "only": true, "config": {
                "kind": "CustomResourceStateMetrics",
                "spec": {"resources": [
                    {"groupVersionKind": {"group": "b.example.io", "version": "v1", "kind": "Bee"},
                     "resourcePlural": "bees",
                     "metrics": [{"name": "bee_info", "help": "A bee.",
                                  "each": {"type": "Info", "info": {"labelsFromPath": {"name": ["metadata", "name"]}}}}]},
                    {"groupVersionKind": {"group": "b.example.io", "version": "v1", "kind": "Wasp"},
                     "resourcePlural": "wasps",
                     "metrics": [{"name": "wasp_info", "help": "A wasp.",
                                  "each": {"type": "Info", "info": {"labelsFromPath": {"name": ["metadata", "name"]}}}}]},
                    {"groupVersionKind": {"group": "a.example.io", "version": "*", "kind": "*"},
                     "resourcePlural": "ignored",
                     "metrics": [{"name": "any_info", "help": "Anything.",
                                  "each": {"type": "Info", "info": {"labelsFromPath": {"name": ["metadata", "name"]}}}}]}
                ]}}}}),
            None,
        ),
        (
            "sharded-by-kind+crs+ha",
            json!({"topology": "sharded-by-kind", "leaderElection": {"enabled": true},
                   "customResourceState": {"enabled": true, "config": example_crs_config()}}),
            None,
        ),
        (
            "pods-daemonset+crs",
            json!({"topology": "pods-daemonset",
                   "customResourceState": {"enabled": true, "config": example_crs_config()}}),
            None,
        ),
        (
            "sharded-by-kind-no-monitor",
            json!({"topology": "sharded-by-kind", "serviceMonitor": {"enabled": false},
                   "prometheusRule": {"enabled": false},
                   "grafanaDashboard": {"enabled": false},
                   "image": {"repository": "registry.example/kso", "tag": "v1.2.3",
                             "pullPolicy": "IfNotPresent"}}),
            None,
        ),
    ]
}

/// bcrypt (cost 10) of the password `kube-state-otel-test`, made with Python's bcrypt package.
const BCRYPT_HASH: &str = "$2b$10$V6e4q1vMkYqcEWevLG76TOQ4FKH82Wsfe/esel/RWbYqIefbaR9Hi";

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
        // The chart generates the web config that the overlay ships as a file: the same
        // settings, not the same text.
        if kind(&doc) == "Secret"
            && let Some(Value::Mapping(data)) = doc.get_mut("data")
        {
            for (key, value) in data.iter_mut() {
                let text = decode_secret_value(&format!("{key:?}"), value.as_str().unwrap());
                *value = serde_yaml_ng::from_str(&text).expect("YAML");
            }
        }
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
        for doc in docs.iter().filter(|d| !CUSTOM_KINDS.contains(&kind(d))) {
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
            assert!(
                !docs.iter().any(|d| kind(d) == "PrometheusRule"),
                "{case}: prometheusRule.enabled=false"
            );
            assert!(
                !docs.iter().any(|d| name(d) == "kube-state-otel-dashboard"),
                "{case}: grafanaDashboard.enabled=false"
            );
        } else {
            assert_eq!(monitors.len(), 1, "{case}: one ServiceMonitor");
            check_service_monitor(case, monitors[0], docs);
            check_prometheus_rules(case, docs);
            check_dashboard(case, docs);
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
    check_tool_passes(
        &format!("{CHART} does not validate"),
        Command::new("kubernetes-validate")
            .args(["-k", "1.33.0", "--strict", "--quiet"])
            .args(&files),
        "kubernetes-validate (PyPI)",
    );
}

/// Without kube-state-metrics' own group (where kube-prometheus runs it already), only the
/// exporter's alerts remain; extra labels reach the PrometheusRule (a ruleSelector's).
#[test]
fn prometheus_rule_values_reach_the_rule() {
    let rendered = render(&[json!({"prometheusRule": {"kubeStateMetricsAlerts": false,
                                                     "labels": {"release": "kps"}}})]);
    let docs = parse(rendered[0].as_ref().unwrap());
    let rule = docs.iter().find(|d| kind(d) == "PrometheusRule").unwrap();
    let groups: Vec<&str> = seq(get(rule, &["spec", "groups"]))
        .into_iter()
        .filter_map(|g| s(g, &["name"]))
        .collect();
    assert_eq!(groups, ["kube-state-otel"]);
    assert_eq!(s(rule, &["metadata", "labels", "release"]), Some("kps"));
    assert_eq!(
        s(rule, &["metadata", "labels", "app.kubernetes.io/name"]),
        Some("kube-state-metrics")
    );
}

/// The dashboard ConfigMap's labels and annotations come from the values (a sidecar's own
/// label, its folder annotation), beside the service's labels.
#[test]
fn dashboard_values_reach_the_config_map() {
    let values = json!({"grafanaDashboard": {"labels": {"team-dashboards": "yes"},
                                             "annotations": {"grafana_folder": "Kubernetes"}}});
    let docs = parse(render(&[values])[0].as_ref().unwrap());
    let map = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d) == "kube-state-otel-dashboard")
        .expect("the dashboard ConfigMap");
    let label = |key: &str| s(map, &["metadata", "labels", key]);
    assert_eq!(label("team-dashboards"), Some("yes"));
    assert_eq!(label("app.kubernetes.io/part-of"), Some("kube-state-otel"));
    assert_eq!(
        s(map, &["metadata", "annotations", "grafana_folder"]),
        Some("Kubernetes")
    );
}

#[test]
fn each_workload_may_list_and_watch_exactly_its_kinds() {
    for (case, docs) in rendered() {
        check_workload_rbac(case, docs);
    }
}

/// Every workload of every case runs hardened and probed as its endpoints allow
/// ([`check_pod`]), and every file its args name is one its volumes provide.
#[test]
fn pods_are_hardened_probed_and_mounted() {
    let pki = TestPki::new();
    for (case, docs) in rendered() {
        for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
            let what = format!("{case}: {} {}", kind(workload), name(workload));
            check_pod(&what, workload, docs);
            let args = strings(get(exporter_container(workload), &["args"]));
            Mounts::new(&what, workload, docs, &pki).args(&what, &args);
        }
    }
}

/// Every web config the chart generates passes `promtool check web-config`, with the files it
/// names where the pod mounts them.
#[test]
fn rendered_web_configs_pass_promtool() {
    let mut checked = Vec::new();
    for (case, docs) in rendered() {
        for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
            let what = format!("{case}: {} {}", kind(workload), name(workload));
            if check_web_config_with_promtool(&what, workload, docs) {
                checked.push(*case);
            }
        }
    }
    checked.dedup();
    assert_eq!(
        checked,
        [
            "pods-daemonset+auth-filter+ha",
            "secure",
            "sharded-by-kind+mtls+basic-auth"
        ]
    );
}

/// Leader election runs each Deployment as a pair with a standby ([`check_leader_election`]),
/// never the DaemonSet; without it nothing elects.
#[test]
fn workloads_that_elect_have_a_standby() {
    let expected = BTreeMap::from([
        ("ha", 1),
        ("sharded-by-kind+ha", 3),
        ("sharded-by-kind+crs+ha", 3),
        ("pods-daemonset+ha", 1),
        ("pods-daemonset+auth-filter+ha", 1),
        ("single+ha-tuned", 1),
    ]);
    for (case, docs) in rendered() {
        let electing = check_leader_election(case, docs);
        assert_eq!(electing, expected.get(case).copied().unwrap_or(0), "{case}");
    }
}

/// The chart refuses what cannot work: election where no replica has a standby, a direct
/// OTLP endpoint (or its TLS and headers) beside the sidecar that is the endpoint, credentials
/// without TLS, two users of the Authorization header, and a ServiceMonitor that could not
/// pass the endpoints' checks.
#[test]
fn contradictory_values_are_refused() {
    let tls = json!({"enabled": true, "secretName": "kso-tls"});
    let users = json!({"users": {"prometheus": BCRYPT_HASH}});
    let monitor_basic = json!({"basicAuth": {"username": {"name": "b", "key": "u"},
                                             "password": {"name": "b", "key": "p"}}});
    let refused = render(&[
        json!({"topology": "hash-sharded", "leaderElection": {"enabled": true}}),
        json!({"otelCollector": {"enabled": true}, "otlpEndpoint": "http://gw:4317"}),
        json!({"otelCollector": {"enabled": true}, "otlp": {"tls": {"secretName": "otlp"}}}),
        json!({"otelCollector": {"enabled": true}, "otlp": {"headers": {"secretName": "h"}}}),
        json!({"basicAuth": users, "serviceMonitor": monitor_basic}),
        json!({"authFilter": {"enabled": true}}),
        json!({"tls": tls, "basicAuth": users, "authFilter": {"enabled": true},
               "serviceMonitor": monitor_basic}),
        json!({"tls": {"enabled": true}}),
        json!({"tls": {"clientAuthType": "RequireAndVerifyClientCert"}}),
        json!({"tls": {"enabled": true, "secretName": "kso-tls",
                       "clientAuthType": "RequireAndVerifyClientCert"}}),
        json!({"tls": tls, "basicAuth": users}),
        json!({"otlp": {"tls": {"secretName": "otlp", "cert": "tls.crt"}}}),
    ]);
    let reasons = [
        "leaderElection: hash-sharded replicas are each their own shard",
        "otlpEndpoint: with otelCollector.enabled",
        "otlp.tls, otlp.headers: with otelCollector.enabled",
        "otlp.tls, otlp.headers: with otelCollector.enabled",
        "basicAuth, authFilter: credentials without tls.enabled",
        "basicAuth, authFilter: credentials without tls.enabled",
        "basicAuth with authFilter",
        "tls.secretName: tls.enabled needs the Secret",
        "tls.clientAuthType: client certificates need tls.enabled",
        "serviceMonitor.tlsConfig.cert and .keySecret",
        "serviceMonitor.basicAuth: basicAuth.users needs",
        "otlp.tls.cert and otlp.tls.key: both or neither",
    ];
    assert_eq!(refused.len(), reasons.len());
    for (result, reason) in refused.iter().zip(reasons) {
        let error = result.as_ref().expect_err("refused");
        assert!(error.contains(reason), "{error}");
    }
}

/// The chart refuses Custom Resource State values that cannot work: no config or two, a
/// ConfigMap of the user's without grants for its custom resources, `only` where the main
/// workload watches what no other does, grants for nothing or beyond list/watch, and a config
/// it cannot read the groups from.
#[test]
fn contradictory_custom_resource_state_values_are_refused() {
    let grants = json!([{"apiGroups": ["cert-manager.io"], "resources": ["certificates"],
                         "verbs": ["list", "watch"]}]);
    let crs = |more: serde_json::Value| {
        let mut values = json!({"enabled": true});
        values
            .as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        values
    };
    let refused = render(&[
        json!({"customResourceState": crs(json!({}))}),
        json!({"customResourceState": crs(json!({"config": example_crs_config(),
                                                 "existingConfigMap": "mine"})),
               "rbac": {"extraRules": grants}}),
        json!({"customResourceState": crs(json!({"existingConfigMap": "mine"}))}),
        json!({"customResourceState": crs(json!({"existingConfigMap": "mine", "key": ""})),
               "rbac": {"extraRules": grants}}),
        json!({"customResourceState": {"only": true}}),
        json!({"customResourceState": {"existingConfigMap": "mine"}, "rbac": {"extraRules": grants}}),
        json!({"rbac": {"extraRules": grants}}),
        json!({"topology": "sharded-by-kind",
               "customResourceState": crs(json!({"config": example_crs_config(), "only": true}))}),
        json!({"topology": "pods-daemonset",
               "customResourceState": crs(json!({"config": example_crs_config(), "only": true}))}),
        json!({"customResourceState": crs(json!({"existingConfigMap": "mine"})),
               "rbac": {"extraRules": [{"apiGroups": ["cert-manager.io"],
                                        "resources": ["certificates"], "verbs": ["get", "list"]}]}}),
        json!({"customResourceState": crs(json!({"existingConfigMap": "mine"})),
               "rbac": {"extraRules": [{"apiGroups": ["cert-manager.io"], "verbs": ["list"]}]}}),
        json!({"customResourceState": crs(json!({"config": "spec: [resources"}))}),
        json!({"customResourceState": crs(json!({"config": "kind: CustomResourceStateMetrics\n"}))}),
        json!({"customResourceState": crs(json!({"config": {"spec": {"resources": {"a": 1}}}}))}),
        json!({"customResourceState": crs(json!({"config": {"spec": {"resources": [
            {"groupVersionKind": {"version": "v1", "kind": "Certificate"}}]}}}))}),
        json!({"customResourceState": crs(json!({"config": ["spec"]}))}),
    ]);
    let reasons = [
        "customResourceState.enabled: needs .config or .existingConfigMap",
        "customResourceState.config and .existingConfigMap: one or the other",
        "customResourceState.existingConfigMap: the chart cannot read it",
        "customResourceState.key: the key of existingConfigMap",
        "customResourceState.only: needs customResourceState.enabled",
        "customResourceState.existingConfigMap: needs customResourceState.enabled",
        "rbac.extraRules: for the custom resources of customResourceState",
        "customResourceState.only: with topology sharded-by-kind",
        "customResourceState.only: with topology pods-daemonset",
        "rbac.extraRules[0]: verbs list and watch only",
        "rbac.extraRules[0]: apiGroups, resources and verbs",
        "customResourceState.config: not YAML",
        "customResourceState.config: no spec.resources",
        "customResourceState.config: spec.resources is not a list",
        "customResourceState.config: spec.resources[0] has no groupVersionKind.group",
        "customResourceState.config: the config as a string or a map",
    ];
    assert_eq!(refused.len(), reasons.len());
    for (result, reason) in refused.iter().zip(reasons) {
        let error = result.as_ref().expect_err(reason);
        assert!(error.contains(reason), "{reason}: {error}");
    }
}

/// The workloads of a rendered case that read a Custom Resource State config: the exporter's
/// args and the config.
fn crs_workloads<'a>(case: &str, docs: &'a [Value]) -> Vec<(&'a Value, Vec<String>, String)> {
    docs.iter()
        .filter(|d| WORKLOADS.contains(&kind(d)))
        .filter_map(|w| {
            let what = format!("{case}: {} {}", kind(w), name(w));
            let config = custom_resource_config(&what, w, docs)?;
            Some((w, strings(get(exporter_container(w), &["args"])), config))
        })
        .collect()
}

/// Custom Resource State reaches the main workload only: the config, as given, in the
/// ConfigMap mounted as a directory where the flag points; `only` drops the built-in kinds from
/// the args and the ClusterRole; the ClusterRole's custom rules come from the config's groups
/// and plurals, or from rbac.extraRules with a ConfigMap of the user's.
#[test]
fn custom_resource_state_values_reach_the_rendered_objects() {
    let flag = "--custom-resource-state-config-file=/etc/kube-state-otel-crs/config.yaml";
    let rules_of = |docs: &[Value], role: &str| -> Vec<Value> {
        let role = docs
            .iter()
            .find(|d| kind(d) == "ClusterRole" && name(d) == role)
            .unwrap_or_else(|| panic!("ClusterRole {role}"));
        seq(get(role, &["rules"])).into_iter().cloned().collect()
    };
    let rule = |text: &str| -> Value { serde_yaml_ng::from_str(text).unwrap() };
    let crd_rule = rule(
        "{apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], \
          verbs: [list, watch]}",
    );

    // A string: into the ConfigMap byte for byte, mounted as a directory (no subPath).
    let docs = &rendered()["custom-resources"];
    let config_map = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d) == "kube-state-otel-custom-resource-state")
        .expect("the generated ConfigMap");
    assert_eq!(
        s(config_map, &["data", "config.yaml"]),
        Some(example_crs_config().as_str())
    );
    let [(deployment, args, config)] = &crs_workloads("custom-resources", docs)[..] else {
        panic!("one workload reads the config");
    };
    assert_eq!(config, &example_crs_config());
    assert_has_flags(args, &[flag]);
    assert!(!args.contains(&"--custom-resource-state-only".to_string()));
    let mount = seq(get(exporter_container(deployment), &["volumeMounts"]))
        .into_iter()
        .find(|m| s(m, &["mountPath"]) == Some("/etc/kube-state-otel-crs"))
        .expect("mounted");
    assert!(get(mount, &["subPath"]).is_none(), "{mount:?}");
    let rules = rules_of(docs, "kube-state-otel");
    assert_eq!(
        rules[rules.len() - 2..],
        [
            crd_rule.clone(),
            rule("{apiGroups: [cert-manager.io], resources: ['*'], verbs: [list, watch]}")
        ]
    );

    // A map with plurals and only: the config written out, the plurals granted, no built-in
    // kind watched or granted.
    let docs = &rendered()["single+crs-only"];
    let [(_, args, config)] = &crs_workloads("single+crs-only", docs)[..] else {
        panic!("one workload reads the config");
    };
    let written: serde_json::Value = serde_yaml_ng::from_str(config).unwrap();
    assert_eq!(written, example_crs_config_with_plurals());
    assert_has_flags(args, &[flag, "--custom-resource-state-only"]);
    assert!(!args.iter().any(|a| a.starts_with("--resources")));
    assert_eq!(
        rules_of(docs, "kube-state-otel"),
        [
            crd_rule.clone(),
            rule(
                "{apiGroups: [cert-manager.io], resources: [certificates, issuers], \
                  verbs: [list, watch]}"
            )
        ]
    );
    // A kind "*" takes the whole group whatever its resourcePlural; every replica reads it.
    let docs = &rendered()["hash-sharded+crs-only"];
    assert_eq!(crs_workloads("hash-sharded+crs-only", docs).len(), 1);
    assert_eq!(
        rules_of(docs, "kube-state-otel"),
        [
            crd_rule.clone(),
            rule("{apiGroups: [a.example.io], resources: ['*'], verbs: [list, watch]}"),
            rule("{apiGroups: [b.example.io], resources: [bees, wasps], verbs: [list, watch]}"),
        ]
    );
    // The main Deployment only: not the pods' or nodes' ones, nor the pods' DaemonSet.
    for case in ["sharded-by-kind+crs+ha", "pods-daemonset+crs"] {
        let docs = &rendered()[case];
        let readers: Vec<&str> = crs_workloads(case, docs)
            .iter()
            .map(|(w, _, _)| name(w))
            .collect();
        assert_eq!(readers, ["kube-state-otel"], "{case}");
        let pods = rules_of(docs, "kube-state-otel-pods");
        assert!(!pods.contains(&crd_rule), "{case}");
    }

    // A ConfigMap of the user's: mounted as it is, its key in the flag, none generated, the
    // grants from rbac.extraRules.
    let extra = json!([{"apiGroups": ["cert-manager.io"], "resources": ["certificates", "issuers"],
                        "verbs": ["list", "watch"]}]);
    let mine = render(&[json!({"customResourceState": {"enabled": true,
                                                       "existingConfigMap": "my-crs",
                                                       "key": "crs.yaml"},
                               "rbac": {"extraRules": extra}})]);
    let docs = parse(mine[0].as_ref().unwrap());
    assert!(
        !docs.iter().filter(|d| kind(d) == "ConfigMap").any(|d| ![
            "kube-state-otel-config",
            "kube-state-otel-dashboard"
        ]
        .contains(&name(d))),
        "no custom resource state ConfigMap generated"
    );
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    assert_has_flags(
        &strings(get(exporter_container(deployment), &["args"])),
        &["--custom-resource-state-config-file=/etc/kube-state-otel-crs/crs.yaml"],
    );
    let volumes = seq(get(deployment, &["spec", "template", "spec", "volumes"]));
    assert!(
        volumes
            .iter()
            .any(|v| s(v, &["configMap", "name"]) == Some("my-crs"))
    );
    let rules = rules_of(&docs, "kube-state-otel");
    assert_eq!(
        rules[rules.len() - 2..],
        [crd_rule, serde_yaml_ng::to_value(&extra[0]).unwrap()]
    );
}

fn assert_has_flags(args: &[String], flags: &[&str]) {
    for flag in flags {
        assert!(args.contains(&flag.to_string()), "{flag}: {args:?}");
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
    assert_has_flags(
        &args,
        &[
            "--leader-election",
            "--leader-election-lease-duration=30s",
            "--leader-election-renew-deadline=20s",
            "--leader-election-retry-period=4s",
        ],
    );
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

    // Secure endpoints: the generated web config, and the TLS client of the OTLP push.
    let docs = &rendered()["sharded-by-kind+mtls+basic-auth"];
    let nodes = docs
        .iter()
        .find(|d| kind(d) == "Deployment" && name(d) == "kube-state-otel-nodes")
        .unwrap();
    let config = web_config("mtls", nodes, docs).unwrap();
    let want = serde_yaml_ng::to_value(json!({
        "tls_server_config": {
            "cert_file": "/etc/kube-state-otel-tls/tls.crt",
            "key_file": "/etc/kube-state-otel-tls/tls.key",
            "min_version": "TLS12",
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": "/etc/kube-state-otel-tls/ca.crt",
        },
        "basic_auth_users": {"prometheus": BCRYPT_HASH},
    }))
    .unwrap();
    assert_eq!(config, want);
    let docs = &rendered()["otlp-tls"];
    let sts = docs.iter().find(|d| kind(d) == "StatefulSet").unwrap();
    let exporter = exporter_container(sts);
    let args = strings(get(exporter, &["args"]));
    assert_has_flags(
        &args,
        &[
            "--otlp-endpoint=https://otel-gateway.observability.svc:4317",
            "--otlp-certificate=/etc/kube-state-otel-otlp-tls/ca.crt",
            "--otlp-client-certificate=/etc/kube-state-otel-otlp-tls/tls.crt",
            "--otlp-client-key=/etc/kube-state-otel-otlp-tls/tls.key",
        ],
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--tls-config")),
        "{args:?}"
    );
    let headers = seq(get(exporter, &["env"]))
        .into_iter()
        .find(|e| s(e, &["name"]) == Some("OTEL_EXPORTER_OTLP_HEADERS"))
        .expect("OTEL_EXPORTER_OTLP_HEADERS");
    assert_eq!(
        get(headers, &["valueFrom", "secretKeyRef"]),
        Some(&serde_yaml_ng::from_str("{name: otlp-headers, key: headers}").unwrap())
    );
    let volumes = seq(get(sts, &["spec", "template", "spec", "volumes"]));
    assert!(
        volumes
            .iter()
            .any(|v| s(v, &["secret", "secretName"]) == Some("otlp-client"))
    );

    // A web config of the user's own: mounted as it is, none generated.
    let mine = render(&[json!({"tls": {"enabled": true, "secretName": "kso-tls"},
                               "webConfig": {"existingSecret": "my-web-config", "tcpProbes": true}})]);
    let docs = parse(mine[0].as_ref().unwrap());
    assert!(!docs.iter().any(|d| kind(d) == "Secret"));
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let volumes = seq(get(deployment, &["spec", "template", "spec", "volumes"]));
    assert!(
        volumes
            .iter()
            .any(|v| s(v, &["secret", "secretName"]) == Some("my-web-config"))
    );
    let exporter = exporter_container(deployment);
    assert!(
        strings(get(exporter, &["args"]))
            .contains(&"--tls-config=/etc/kube-state-otel-web/web-config.yaml".to_string())
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            s(exporter, &[probe, "tcpSocket", "port"]),
            Some("http-metrics")
        );
    }
}

/// The chart's Custom Resource State with `only` as a cluster runs it, against an API server
/// that answers only what the chart's RBAC grants (list/watch on the CRDs and on the plurals
/// the config names, no built-in kind) and serves cert-manager's CRDs and objects as
/// kube-state-metrics v2.20 was recorded on them: ready, refused nothing, no built-in kind
/// reported, the custom resources as KSM reported them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_state_only_runs_with_only_the_rbac_the_chart_derives() {
    let case = "single+crs-only";
    let docs = &rendered()[case];
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let account = s(
        deployment,
        &["spec", "template", "spec", "serviceAccountName"],
    )
    .unwrap();
    let recorded = crs_cases::cases_dir().join("13-cert-manager");
    let emulator =
        kube_emulator::Emulator::with_cluster(&kube_emulator::GeneratedCluster::new(2, 3, 7));
    crs_cases::load(&emulator, &recorded);
    enforce_rbac(&emulator, docs, account, "monitoring");
    let server = harness::start_emulator(emulator).await;
    let pki = TestPki::new();
    let mounts = Mounts::new(case, deployment, docs, &pki);
    // The ports are the harness's (free ones).
    let args: Vec<String> = mounts
        .args(
            case,
            &strings(get(exporter_container(deployment), &["args"])),
        )
        .into_iter()
        .filter(|a| !a.starts_with("--port=") && !a.starts_with("--telemetry-port="))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = harness::Exporter::start(&server.url(), &args);
    exporter.wait_ready().await;
    let want = std::fs::read_to_string(recorded.join("expected.prom")).expect("expected.prom");
    let as_ksm = harness::poll_within(std::time::Duration::from_secs(20), || async {
        crs_cases::differences(&exporter.metrics().await, &want).is_empty()
    })
    .await;
    let metrics = exporter.metrics().await;
    assert!(
        as_ksm,
        "{case}: not what kube-state-metrics printed:\n{}\n{}",
        crs_cases::differences(&metrics, &want).join("\n"),
        exporter.log()
    );
    assert!(!metrics.contains("kube_pod_info"), "{metrics}");
    let log = exporter.log();
    assert!(!log.contains("Forbidden"), "refused:\n{log}");
}
