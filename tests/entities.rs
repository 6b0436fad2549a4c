//! Entity events (`--entity-events`) from the real binary, watching the Kubernetes API
//! emulator, to a real OTLP receiver that accepts logs (Rotel, its debug output read back):
//! the states of a pod (with its container, workload and Service), a node and a deployment in
//! the k8scluster receiver's layout, a change sent within seconds, deletes, the periodic whole
//! state, the specification's layout over OTLP/HTTP, and only the leader sending under leader
//! election.

mod harness;
mod rotel;

use std::time::Duration;

use harness::{Exporter, start_emulator, value, wait_for_within};
use kube_emulator::{Emulator, ServerHandle};
use rotel::Rotel;
use serde_json::{Value, json};

/// One log record as Rotel prints it, with the resource it came under.
#[derive(Debug, Clone)]
struct Record {
    resource: String,
    event_name: String,
    attributes: Vec<String>,
}

impl Record {
    /// The value Rotel prints for attribute `key` (`Str(k8s.pod)`, `Map(...)`).
    fn get(&self, key: &str) -> Option<&str> {
        let prefix = format!("-> {key}: ");
        self.attributes
            .iter()
            .find_map(|line| line.trim().strip_prefix(prefix.as_str()))
    }

    fn is(&self, event: &str, entity_type: &str) -> bool {
        self.get("otel.entity.event.type") == Some(&format!("Str({event})"))
            && self.get("otel.entity.type") == Some(&format!("Str({entity_type})"))
    }

    /// Whether map attribute `key` holds `inner` = `value`.
    fn has(&self, key: &str, inner: &str, value: &str) -> bool {
        self.get(key).is_some_and(|map| {
            map.contains(&format!("({inner}:Str({value}),"))
                || map.contains(&format!(" {inner}:Str({value}),"))
                || map.contains(&format!(" {inner}:Str({value}))"))
                || map.contains(&format!("({inner}:Str({value})))"))
        })
    }
}

/// The records in Rotel's debug output.
fn records(output: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for resource_logs in output.split("ResourceLog #").skip(1) {
        let resource: String = resource_logs
            .split("ScopeLogs #")
            .next()
            .unwrap_or_default()
            .to_string();
        for record in resource_logs.split("LogRecord #").skip(1) {
            let attributes = record
                .lines()
                .filter(|l| l.trim_start().starts_with("-> "))
                .map(String::from)
                .collect();
            let event_name = record
                .lines()
                .find_map(|l| l.trim().strip_prefix("EventName: "))
                .unwrap_or_default()
                .to_string();
            out.push(Record {
                resource: resource.clone(),
                event_name,
                attributes,
            });
        }
    }
    out
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({"name": name, "uid": format!("uid-{name}"),
                          "creationTimestamp": "2026-01-02T03:04:05Z"});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    meta
}

fn pod(phase: &str) -> Value {
    let mut meta = meta("web-1", Some("shop"));
    meta["labels"] = json!({"app": "web", "pod-template-hash": "7d"});
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-7d", "uid": "uid-web-7d", "controller": true}]);
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx:1.25"}]},
        "status": {"phase": phase, "containerStatuses": [{
            "name": "app", "image": "nginx:1.25", "imageID": "", "ready": true, "restartCount": 0,
            "containerID": "containerd://c0ffee",
            "state": {"running": {"startedAt": "2026-01-02T03:05:00Z"}}}]}
    })
}

/// A namespace, a node, a Deployment with its ReplicaSet and pod, and a Service selecting it.
fn cluster() -> Emulator {
    let emulator = Emulator::new();
    let mut rs_meta = meta("web-7d", Some("shop"));
    rs_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "name": "web", "uid": "uid-web", "controller": true}]);
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop", None),
               "status": {"phase": "Active"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": meta("node-a", None),
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", Some("shop")),
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta,
               "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("web", Some("shop")),
               "spec": {"selector": {"app": "web"}}}),
        pod("Running"),
    ];
    for object in objects {
        emulator.apply(object).expect("object applied");
    }
    emulator
}

/// The first receiver-layout state of `entity_type` in `all`, with the `id` map and
/// `attributes` asserted.
fn check_state(all: &[Record], entity_type: &str, id: &str, attributes: &[(&str, &str)]) {
    let record = all
        .iter()
        .find(|r| r.is("entity_state", entity_type))
        .unwrap_or_else(|| panic!("a {entity_type} state in {all:#?}"));
    assert_eq!(
        record.get("otel.entity.id"),
        Some(format!("Map({id})").as_str())
    );
    for (key, value) in attributes {
        assert!(
            record.has("otel.entity.attributes", key, value),
            "{key}={value} in {record:#?}"
        );
    }
}

/// Rotel printing logs, the emulator serving [`cluster`], and the exporter sending entity
/// events to Rotel over `protocol` with `extra` flags, ready.
async fn start(protocol: &str, extra: &[&str]) -> (Rotel, ServerHandle, Exporter) {
    let rotel = Rotel::start_printing(Some("logs")).await;
    let server = start_emulator(cluster()).await;
    let endpoint = rotel.endpoint(protocol);
    let mut args = vec![
        "--entity-events",
        "--otlp-endpoint",
        &endpoint,
        "--otlp-protocol",
        protocol,
    ];
    args.extend(extra);
    let exporter = Exporter::start(&server.url(), &args);
    exporter.wait_ready().await;
    (rotel, server, exporter)
}

const RESOURCES: &str = "pods,nodes,namespaces,deployments,replicasets,services";

async fn wait_for_record(
    rotel: &Rotel,
    what: &str,
    skip: usize,
    found: impl Fn(&Record) -> bool,
) -> Record {
    let mut seen = None;
    wait_for_within(what, Duration::from_secs(30), || {
        let hit = records(&rotel.output()).into_iter().skip(skip).find(&found);
        let done = hit.is_some();
        seen = hit.or(seen.take());
        async move { done }
    })
    .await;
    seen.unwrap_or_else(|| panic!("{what}: no record"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_changes_and_deletes_reach_a_real_receiver() {
    let (rotel, server, exporter) = start(
        "grpc",
        &[
            "--resources",
            RESOURCES,
            "--metric-labels-allowlist",
            "pods=[app]",
        ],
    )
    .await;
    let pod_state = wait_for_record(&rotel, "the pod's state", 0, |r| {
        r.is("entity_state", "k8s.pod")
    })
    .await;
    let a = "otel.entity.attributes";
    assert_eq!(
        pod_state.get("otel.entity.id"),
        Some("Map(k8s.pod.uid:Str(uid-web-1))")
    );
    assert_eq!(pod_state.get("otel.entity.interval"), Some("Int(300000)"));
    for (key, value) in [
        ("k8s.pod.name", "web-1"),
        ("k8s.namespace.name", "shop"),
        ("k8s.pod.phase", "Running"),
        ("k8s.pod.label.app", "web"),
        ("pod.creation_timestamp", "2026-01-02T03:04:05Z"),
        ("k8s.replicaset.name", "web-7d"),
        ("k8s.replicaset.uid", "uid-web-7d"),
        ("k8s.workload.kind", "Deployment"),
        ("k8s.workload.name", "web"),
        ("k8s.deployment.name", "web"),
        ("k8s.deployment.uid", "uid-web"),
        ("k8s.node.name", "node-a"),
        ("k8s.service.web", ""),
    ] {
        assert!(
            pod_state.has(a, key, value),
            "{key}={value} in {pod_state:#?}"
        );
    }
    // Labels outside the allowlist are not sent.
    assert!(
        !pod_state
            .get(a)
            .unwrap_or_default()
            .contains("pod-template-hash")
    );
    assert!(
        pod_state
            .resource
            .contains("service.name: Str(kube-state-otel)")
    );
    let output = rotel.output();
    assert!(
        output.contains("otel.entity.event_as_log: Bool(true)"),
        "{output}"
    );

    let all = records(&output);
    check_state(
        &all,
        "container",
        "container.id:Str(c0ffee)",
        &[
            ("container.image.name", "nginx"),
            ("container.image.tag", "1.25"),
            ("k8s.container.name", "app"),
            ("k8s.pod.uid", "uid-web-1"),
            ("container.status", "running"),
        ],
    );
    check_state(
        &all,
        "k8s.node",
        "k8s.node.uid:Str(uid-node-a)",
        &[
            ("k8s.node.name", "node-a"),
            ("k8s.node.condition_ready", "true"),
        ],
    );
    check_state(
        &all,
        "k8s.deployment",
        "k8s.deployment.uid:Str(uid-web)",
        &[
            ("k8s.deployment.name", "web"),
            ("k8s.workload.kind", "Deployment"),
            ("k8s.namespace.name", "shop"),
            ("deployment.creation_timestamp", "2026-01-02T03:04:05Z"),
        ],
    );

    // A change is sent within seconds.
    let before = records(&rotel.output()).len();
    let changed = std::time::Instant::now();
    server.emulator().apply(pod("Failed")).expect("pod updated");
    let failed = wait_for_record(&rotel, "the pod's new state", before, |r| {
        r.is("entity_state", "k8s.pod")
    })
    .await;
    assert!(failed.has(a, "k8s.pod.phase", "Failed"), "{failed:#?}");
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "sent {:?} after the change",
        changed.elapsed()
    );
    // A status change that no entity attribute shows sends nothing.
    let mut restarted = pod("Failed");
    restarted["status"]["containerStatuses"][0]["restartCount"] = json!(3);
    let before = records(&rotel.output()).len();
    server.emulator().apply(restarted).expect("pod updated");

    // A delete is sent at once, for the pod and its container.
    server
        .emulator()
        .delete("pods", Some("shop"), "web-1")
        .expect("pod deleted");
    let deleted = wait_for_record(&rotel, "the pod's delete", before, |r| {
        r.is("entity_delete", "k8s.pod")
    })
    .await;
    assert_eq!(
        deleted.get("otel.entity.id"),
        Some("Map(k8s.pod.uid:Str(uid-web-1))")
    );
    assert_eq!(deleted.get(a), None, "a delete carries no attributes");
    let after = records(&rotel.output());
    assert!(
        after[before..]
            .iter()
            .any(|r| r.is("entity_delete", "container")
                && r.get("otel.entity.id") == Some("Map(container.id:Str(c0ffee))")),
        "the container's delete in {after:#?}"
    );
    assert!(
        !after[before..]
            .iter()
            .any(|r| r.is("entity_state", "k8s.pod")),
        "the restart count alone sent a state: {after:#?}"
    );
    let telemetry = exporter.telemetry().await;
    let sent = value(
        &telemetry,
        "kube_state_otel_entity_events_total",
        &["result=\"success\""],
    );
    assert!(sent.is_some_and(|n| n >= 10.0), "{telemetry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_state_comes_every_interval() {
    let (rotel, _server, _exporter) = start(
        "grpc",
        &[
            "--resources",
            "nodes,namespaces",
            "--entity-events-interval",
            "2s",
        ],
    )
    .await;
    let node_states = || {
        records(&rotel.output())
            .into_iter()
            .filter(|r| r.is("entity_state", "k8s.node"))
            .collect::<Vec<_>>()
    };
    wait_for_within("three node states", Duration::from_secs(20), || async {
        node_states().len() >= 3
    })
    .await;
    // Without any change to the node: the periodic state, announcing its interval.
    assert_eq!(
        node_states()[0].get("otel.entity.interval"),
        Some("Int(2000)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specification_layout_over_http() {
    let (rotel, server, _exporter) = start(
        "http/protobuf",
        &["--resources", RESOURCES, "--entity-events-format", "spec"],
    )
    .await;
    let state = wait_for_record(&rotel, "a node state", 0, |r| {
        r.get("entity.type") == Some("Str(k8s.node)")
    })
    .await;
    assert_eq!(state.event_name, "entity.state", "{state:#?}");
    assert_eq!(
        state.get("entity.id"),
        Some("Map(k8s.node.uid:Str(uid-node-a))")
    );
    assert_eq!(state.get("entity.report.interval"), Some("Int(300)"));
    assert!(state.has("entity.description", "k8s.node.name", "node-a"));
    assert_eq!(state.get("otel.entity.event.type"), None);
    let before = records(&rotel.output()).len();
    server
        .emulator()
        .delete("deployments", Some("shop"), "web")
        .expect("deployment deleted");
    let deleted = wait_for_record(&rotel, "the deployment's delete", before, |r| {
        r.event_name == "entity.delete"
    })
    .await;
    assert_eq!(deleted.get("entity.type"), Some("Str(k8s.deployment)"));
    assert_eq!(
        deleted.get("entity.id"),
        Some("Map(k8s.deployment.uid:Str(uid-web))")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_sends_and_a_new_leader_sends_the_whole_state() {
    let rotel = Rotel::start_printing(Some("logs")).await;
    let server = start_emulator(cluster()).await;
    let endpoint = rotel.endpoint("grpc");
    let replica = |name: &str| {
        let attributes = format!("service.instance.id={name}");
        Exporter::start_with_env(
            &server.url(),
            &[
                "--resources",
                "nodes",
                "--entity-events",
                "--otlp-endpoint",
                &endpoint,
                "--leader-election",
                "--leader-election-namespace",
                "default",
                "--leader-election-lease-duration",
                "3s",
                "--leader-election-renew-deadline",
                "2s",
                "--leader-election-retry-period",
                "500ms",
            ],
            &[("OTEL_RESOURCE_ATTRIBUTES", &attributes)],
        )
    };
    let first = replica("first");
    wait_for_record(&rotel, "the first replica's node state", 0, |r| {
        r.is("entity_state", "k8s.node")
    })
    .await;
    let second = replica("second");
    second.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let senders = |records: &[Record]| -> Vec<bool> {
        ["first", "second"]
            .iter()
            .map(|name| {
                let id = format!("service.instance.id: Str({name})");
                records.iter().any(|r| r.resource.contains(&id))
            })
            .collect()
    };
    let all = records(&rotel.output());
    assert_eq!(senders(&all), [true, false], "only the leader sends");
    // The leader goes; the follower takes over and sends the whole state.
    let before = all.len();
    first.signal("TERM");
    wait_for_record(&rotel, "the new leader's node state", before, |r| {
        r.is("entity_state", "k8s.node") && r.resource.contains("service.instance.id: Str(second)")
    })
    .await;
    drop(second);
}

#[test]
fn entity_events_without_an_endpoint_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
        .args(["--entity-events", "--kubeconfig", "/nonexistent"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--entity-events: no OTLP endpoint"),
        "{stderr}"
    );
}
