//! The exporter's own alerts and dashboard (deploy/monitoring/):
//!
//! - `promtool test rules` makes every alert fire and resolve (and no alert is left without
//!   such a case); the kube-state-metrics group is kube-state-metrics' mixin, unchanged;
//! - in a live Prometheus scraping the binary against the emulator, broken in known ways, the
//!   alerts for those breakages fire (their `for:` removed) and the others stay quiet;
//! - the Grafana dashboard is well formed (layout, data source, PromQL that promtool accepts,
//!   the self-telemetry it must show), and every one of its queries returns data from a
//!   Prometheus that scraped `--demo`.
//!
//! Prometheus and promtool come from the Debian package `prometheus` (scripts/test.sh installs
//! it); without them these tests fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster};
use serde_json::{Value, json};

mod harness;
use harness::prometheus::Prometheus;
use harness::{Exporter, free_port, poll_within, start_emulator, which};

mod scenarios;
use scenarios::{Alert, now_unix, rfc3339, without_for};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const RULES: &str = "deploy/monitoring/kube-state-otel.rules.yaml";
const RULE_TESTS: &str = "deploy/monitoring/kube-state-otel.rules.test.yaml";
const DASHBOARD: &str = "deploy/monitoring/kube-state-otel.dashboard.json";

fn yaml(path: &str) -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(root().join(path)).expect(path);
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every alert of the rules file, by name.
fn alerts() -> BTreeMap<String, serde_yaml_ng::Value> {
    let rules = yaml(RULES);
    rules["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("alerts only").to_string(),
                r.clone(),
            )
        })
        .collect()
}

/// Runs promtool with `args` in the repository; its exit code and output.
fn promtool(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(which("promtool"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), report)
}

#[test]
fn every_alert_fires_and_resolves_under_promtool() {
    let (code, report) = promtool(&["check", "rules", RULES]);
    assert_eq!(code, Some(0), "promtool check rules:\n{report}");
    let dir = root().join("deploy/monitoring");
    let (code, report) = promtool(&[
        "test",
        "rules",
        dir.join("kube-state-otel.rules.test.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, Some(0), "promtool test rules:\n{report}");
    // Each alert has a case where it fires and a later one, on the same series, where it has
    // resolved.
    let tests = yaml(RULE_TESTS);
    let mut covered: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        let mut fired_at: BTreeMap<&str, u64> = BTreeMap::new();
        for case in test["alert_rule_test"].as_sequence().expect("cases") {
            let name = case["alertname"].as_str().expect("alertname");
            let at = humantime::parse_duration(case["eval_time"].as_str().expect("eval_time"))
                .expect("a duration")
                .as_secs();
            let expected = case["exp_alerts"].as_sequence().expect("exp_alerts");
            let entry = covered.entry(name.to_string()).or_default();
            if !expected.is_empty() {
                entry.0 = true;
                fired_at.insert(name, at);
            } else if fired_at.get(name).is_some_and(|fired| *fired < at) {
                entry.1 = true;
            }
        }
    }
    for name in alerts().keys() {
        assert_eq!(
            covered.get(name),
            Some(&(true, true)),
            "{name}: a case where it fires and a later one where it resolved, in {RULE_TESTS}"
        );
    }
}

/// The kube-state-metrics group is kube-state-metrics' own mixin alerts as kube-prometheus
/// renders them (`../shared/mixin/`), unchanged: the exporter keeps the self-metrics they read.
#[test]
fn the_kube_state_metrics_group_is_its_mixin_unchanged() {
    let path = root().join("../shared/mixin/kube-prometheus_kubeStateMetrics.rules.yaml");
    let text = std::fs::read_to_string(&path).expect("../shared/mixin is readable");
    let mixin: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let ours = yaml(RULES);
    let group = |doc: &serde_yaml_ng::Value| {
        doc["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "kube-state-metrics")
            .cloned()
            .expect("a kube-state-metrics group")
    };
    assert_eq!(group(&ours), group(&mixin));
    let alerts = alerts();
    let names: Vec<&str> = alerts
        .keys()
        .map(String::as_str)
        .filter(|n| n.starts_with("KubeStateMetrics"))
        .collect();
    assert_eq!(
        names,
        [
            "KubeStateMetricsListErrors",
            "KubeStateMetricsShardingMismatch",
            "KubeStateMetricsShardsMissing",
            "KubeStateMetricsWatchErrors",
        ]
    );
}

/// An OTLP/HTTP receiver refusing every request with 400 (not retried): each collection is
/// given up.
async fn refusing_receiver() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(|| async { http::StatusCode::BAD_REQUEST }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (port, task)
}

async fn firing(prometheus: &Prometheus) -> Vec<Alert> {
    prometheus
        .alerts_json()
        .await
        .iter()
        .map(Alert::from_json)
        .filter(|a| a.state == "firing")
        .collect()
}

/// Three exporters against one emulated cluster, each broken in its own way, scraped by a live
/// Prometheus evaluating the rules without their `for:`.
/// - A names `secrets`, which RBAC forbids (list errors, a forbidden resource), and
///   `mutatingadmissionpolicies`, which 1.35 does not serve; its OTLP receiver refuses
///   everything;
/// - B says it is shard 1 of 3 while A says 0 of 1 (sharding mismatch, shards missing);
/// - C elects on a Lease another holder keeps (no leader).
///
/// Once secrets are allowed, their alert resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporters_alerts_fire_in_a_real_prometheus() {
    let emulator = Emulator::with_cluster(&GeneratedCluster::new(2, 3, 9));
    emulator.forbid("secrets").unwrap();
    let renewed = format!("{}.000000Z", rfc3339(now_unix()).trim_end_matches('Z'));
    emulator
        .apply(
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "kube-state-otel", "namespace": "default"},
            "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 3600,
                     "acquireTime": renewed, "renewTime": renewed, "leaseTransitions": 0}}),
        )
        .unwrap();
    let server = start_emulator(emulator).await;
    let (receiver, _receiver_task) = refusing_receiver().await;
    let endpoint = format!("http://127.0.0.1:{receiver}");
    let a = Exporter::start(
        &server.url(),
        &[
            "--resources",
            "pods,secrets,mutatingadmissionpolicies",
            "--otlp-protocol",
            "http/protobuf",
            "--otlp-endpoint",
            &endpoint,
            "--otlp-interval",
            "1s",
        ],
    );
    let b = Exporter::start(
        &server.url(),
        &["--resources", "pods", "--total-shards", "3", "--shard", "1"],
    );
    let c = Exporter::start(
        &server.url(),
        &[
            "--resources",
            "pods",
            "--leader-election",
            "--leader-election-namespace",
            "default",
        ],
    );
    for exporter in [&a, &b, &c] {
        exporter.wait_ready().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rule_files, _, removed) = without_for(&[root().join(RULES)], dir.path());
    assert!(removed >= 8, "the `for:` clauses were removed ({removed})");
    let targets = [a.port, a.telemetry_port, b.telemetry_port, c.telemetry_port];
    let mut prometheus = Prometheus::start(&targets, &rule_files);
    prometheus.wait_ready().await;

    let expected: [(&str, &[(&str, &str)]); 7] = [
        ("KubeStateMetricsListErrors", &[]),
        ("KubeStateMetricsShardingMismatch", &[]),
        ("KubeStateMetricsShardsMissing", &[]),
        ("KubeStateOtelResourceForbidden", &[("resource", "secrets")]),
        (
            "KubeStateOtelResourceNotServed",
            &[("resource", "mutatingadmissionpolicies")],
        ),
        ("KubeStateOtelOtlpExportFailing", &[]),
        ("KubeStateOtelNoLeader", &[("lease", "kube-state-otel")]),
    ];
    let all_fire = poll_within(Duration::from_secs(90), || async {
        let alerts = firing(&prometheus).await;
        expected.iter().all(|(name, labels)| {
            alerts
                .iter()
                .any(|alert| alert.name() == *name && alert.has(labels))
        })
    })
    .await;
    let alerts = firing(&prometheus).await;
    let names: BTreeSet<&str> = alerts.iter().map(Alert::name).collect();
    assert!(
        all_fire,
        "expected {:?}, firing {names:?}\nprometheus:\n{}",
        expected.map(|e| e.0),
        prometheus.log()
    );
    for quiet in [
        "KubeStateMetricsWatchErrors",
        "KubeStateOtelScrapeNearTimeout",
        "KubeStateOtelLeaderFlapping",
    ] {
        assert!(!names.contains(quiet), "{quiet} fired: {alerts:#?}");
    }
    let otlp: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.name() == "KubeStateOtelOtlpExportFailing")
        .collect();
    assert_eq!(otlp.len(), 1, "only A pushes: {otlp:#?}");
    assert!(
        otlp[0].has(&[("instance", &format!("127.0.0.1:{}", a.telemetry_port))]),
        "{otlp:#?}"
    );

    server.emulator().allow("secrets").unwrap();
    let resolved = poll_within(Duration::from_secs(60), || async {
        !firing(&prometheus)
            .await
            .iter()
            .any(|a| a.name() == "KubeStateOtelResourceForbidden")
    })
    .await;
    assert!(
        resolved,
        "the forbidden alert resolves once secrets may be listed"
    );
}

// ---- The dashboard ----

fn dashboard() -> Value {
    let text = std::fs::read_to_string(root().join(DASHBOARD)).expect(DASHBOARD);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every query of the dashboard: (panel title, expression).
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or_default().into()))
        })
        .collect()
}

/// An expression as Grafana sends it with every instance selected.
fn substituted(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$instance", ".+")
}

/// The self-telemetry the dashboard must show: sync, list/watch results, store objects and
/// bytes, scrape duration, OTLP pushes, leadership.
const SHOWN: &[&str] = &[
    "kube_state_otel_resource_state",
    "kube_state_otel_initial_sync_duration_seconds",
    "kube_state_otel_list_bytes_total",
    "kube_state_metrics_list_total",
    "kube_state_metrics_watch_total",
    "kube_state_otel_relists_total",
    "kube_state_otel_store_objects",
    "kube_state_otel_store_bytes",
    "kube_state_otel_scrape_duration_seconds_total",
    "scrape_duration_seconds",
    "kube_state_otel_otlp_requests_total",
    "kube_state_otel_otlp_points_total",
    "kube_state_otel_otlp_collections_failed_total",
    "kube_state_otel_leader",
    "kube_state_otel_leader_lease_transitions",
    "kube_state_metrics_total_shards",
];

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard = dashboard();
    for key in ["title", "uid", "description"] {
        assert!(
            dashboard[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}"
        );
    }
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a data source variable");
    assert_eq!(
        (&datasource["type"], &datasource["query"]),
        (&json!("datasource"), &json!("prometheus"))
    );
    let source = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut ids = BTreeSet::new();
    // Occupied cells of the 24-column grid: panels must not overlap.
    let mut cells: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels {
        let title = panel["title"].as_str().expect("a title").to_string();
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id"
        );
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| grid[k].as_u64().expect("gridPos"));
        assert!(w >= 1 && h >= 1 && x + w <= 24, "{title}: gridPos {grid}");
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            if let Some(other) = cells.insert(cell, title.clone()) {
                panic!("{title} overlaps {other}");
            }
        }
        match panel["type"].as_str() {
            Some("row") => {
                assert_eq!((w, h), (24, 1), "{title}: a row spans the grid");
                continue;
            }
            Some("timeseries" | "stat") => {}
            other => panic!("{title}: panel type {other:?}"),
        }
        assert_eq!(panel["datasource"], source, "{title}");
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: says what it shows"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: queries");
        let refs: BTreeSet<&str> = targets.iter().filter_map(|t| t["refId"].as_str()).collect();
        assert_eq!(refs.len(), targets.len(), "{title}: distinct refIds");
        for target in targets {
            assert_eq!(target["datasource"], source, "{title}");
            let expr = target["expr"].as_str().expect("expr");
            assert!(
                expr.contains("job=\"kube-state-metrics\""),
                "{title}: selects the exporter's job: {expr}"
            );
        }
    }
    let exprs: Vec<String> = queries(&dashboard).into_iter().map(|q| q.1).collect();
    for family in SHOWN {
        assert!(
            exprs.iter().any(|e| e.contains(&format!("{family}{{"))),
            "the dashboard shows {family}"
        );
    }
    // Valid PromQL: promtool checks each query as a recording rule.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, expr)| json!({"record": format!("dashboard:query_{i}"), "expr": substituted(expr)}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.yaml");
    let doc = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let (code, report) = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "the dashboard's PromQL:\n{report}");
}

/// Every query of the dashboard returns data from a Prometheus that scraped the demo (with
/// leader election, so that leadership has data too, and frequent OTLP pushes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_the_demo() {
    let ports = (free_port(), free_port());
    let (port, telemetry_port) = (ports.0.to_string(), ports.1.to_string());
    let exporter = Exporter::start_with_args(
        "http://127.0.0.1:1",
        ports,
        &[
            "--demo",
            "--demo-nodes",
            "3",
            "--demo-pods-per-node",
            "4",
            "--leader-election",
            "--otlp-interval",
            "1s",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--telemetry-host",
            "127.0.0.1",
            "--telemetry-port",
            &telemetry_port,
        ],
    );
    exporter.wait_ready().await;
    let mut prometheus = Prometheus::start(&[ports.0, ports.1], &[]);
    prometheus.wait_ready().await;
    let mut empty = Vec::new();
    for (title, expr) in queries(&dashboard()) {
        let query = substituted(&expr);
        let has_data = poll_within(Duration::from_secs(60), || async {
            !prometheus.query(&query).await.is_empty()
        })
        .await;
        if !has_data {
            empty.push(format!("{title}: {query}"));
        }
    }
    assert!(
        empty.is_empty(),
        "queries without data:\n{}\nexporter log:\n{}",
        empty.join("\n"),
        exporter.log()
    );
}
