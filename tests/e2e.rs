//! The real binary against the project's Kubernetes API emulator, over HTTP: what a user would
//! see on `/metrics`, `/readyz` and the telemetry endpoint while the cluster changes.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster, ServerHandle};
use serde_json::{Value, json};

mod harness;
use harness::{
    Exporter, free_port, noise, pipe, promtool_check_metrics, samples, start_emulator, value,
    wait_for, which,
};

mod rotel;
use rotel::Rotel;

fn pod(namespace: &str, name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                      "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx:1"}]},
        "status": {"phase": phase}
    })
}

fn small_cluster() -> Emulator {
    Emulator::with_cluster(&GeneratedCluster::new(3, 4, 7))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_adds_modifies_and_deletes() {
    let emulator = start_emulator(small_cluster()).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let first = exporter.metrics().await;
    let pods = emulator.emulator().count("pods").expect("pods counted");
    assert_eq!(samples(&first, "kube_pod_info").len(), pods);
    assert_eq!(
        samples(&first, "kube_node_info").len(),
        emulator.emulator().count("nodes").expect("nodes counted")
    );
    assert!(first.contains("# HELP kube_pod_info [STABLE] Information about pod.\n"));

    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e"}}))
        .expect("namespace applied");
    e.apply(pod("e2e", "added", "Pending"))
        .expect("pod applied");
    wait_for("the added pod", || async {
        let m = exporter.metrics().await;
        value(
            &m,
            "kube_pod_status_phase",
            &["pod=\"added\"", "phase=\"Pending\""],
        ) == Some(1.0)
    })
    .await;

    e.apply(pod("e2e", "added", "Running"))
        .expect("pod modified");
    wait_for("the modified phase", || async {
        let m = exporter.metrics().await;
        value(
            &m,
            "kube_pod_status_phase",
            &["pod=\"added\"", "phase=\"Running\""],
        ) == Some(1.0)
            && value(
                &m,
                "kube_pod_status_phase",
                &["pod=\"added\"", "phase=\"Pending\""],
            ) == Some(0.0)
    })
    .await;

    e.delete("pods", Some("e2e"), "added").expect("pod deleted");
    wait_for("the deleted pod to go", || async {
        !exporter.metrics().await.contains("pod=\"added\"")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_relists_with_no_stale_or_missing_series() {
    let emulator = start_emulator(small_cluster()).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let e = emulator.emulator();
    let lists_before = list_successes(&exporter.telemetry().await, "*v1.Pod");
    let victim = samples(&exporter.metrics().await, "kube_pod_info")[0]
        .split("pod=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a pod name")
        .to_string();
    let victim_ns = e
        .list("pods")
        .expect("pods listed")
        .into_iter()
        .find(|p| p["metadata"]["name"] == victim.as_str())
        .and_then(|p| p["metadata"]["namespace"].as_str().map(String::from))
        .expect("victim namespace");

    // The watch drops and cannot resume while the cluster changes; then history is compacted
    // away, so the resumed watch gets 410 Gone and only a relist can tell what changed.
    e.forbid("pods").expect("pods forbidden");
    e.disconnect_watches();
    e.delete("pods", Some(&victim_ns), &victim)
        .expect("deleted");
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e"}}))
        .expect("namespace applied");
    e.apply(pod("e2e", "after-compaction", "Running"))
        .expect("applied");
    e.compact();
    e.allow("pods").expect("pods allowed");

    wait_for("a relist after the 410", || async {
        list_successes(&exporter.telemetry().await, "*v1.Pod") > lists_before
    })
    .await;
    wait_for("the store to match the cluster", || async {
        let m = exporter.metrics().await;
        !m.contains(&format!("pod=\"{victim}\""))
            && m.contains("pod=\"after-compaction\"")
            && samples(&m, "kube_pod_info").len() == e.count("pods").unwrap_or(0)
    })
    .await;
}

fn list_successes(telemetry: &str, resource: &str) -> f64 {
    value(
        telemetry,
        "kube_state_metrics_list_total",
        &[&format!("resource=\"{resource}\""), "result=\"success\""],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_disconnects_recover() {
    let emulator = start_emulator(small_cluster()).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e"}}))
        .expect("namespace applied");
    let pod_watches = |telemetry: String| {
        value(
            &telemetry,
            "kube_state_metrics_watch_total",
            &["resource=\"*v1.Pod\"", "result=\"success\""],
        )
        .unwrap_or(0.0)
    };
    for round in 0..3 {
        // A disconnect ends the watch asynchronously: wait for the new watch to be counted, so
        // every round really reconnects and the pod below can only come through it.
        let before = pod_watches(exporter.telemetry().await);
        e.disconnect_watches();
        wait_for("the pod watch to reconnect", || async {
            pod_watches(exporter.telemetry().await) > before
        })
        .await;
        let name = format!("after-disconnect-{round}");
        e.apply(pod("e2e", &name, "Running")).expect("applied");
        wait_for(&name, || async {
            exporter
                .metrics()
                .await
                .contains(&format!("pod=\"{name}\""))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_kind_leaves_the_others_served_and_is_counted() {
    let emulator = small_cluster();
    emulator.forbid("nodes").expect("nodes forbidden");
    let emulator = start_emulator(emulator).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    assert!(samples(&m, "kube_node_info").is_empty());
    assert!(!samples(&m, "kube_pod_info").is_empty());
    assert!(!samples(&m, "kube_deployment_spec_replicas").is_empty());
    let (_, readyz) = exporter
        .get(exporter.port, "/readyz")
        .await
        .expect("readyz answers");
    assert!(readyz.contains("nodes: forbidden"), "{readyz}");
    let errors = value(
        &exporter.telemetry().await,
        "kube_state_metrics_list_total",
        &["resource=\"*v1.Node\"", "result=\"error\""],
    );
    assert!(
        errors.is_some_and(|n| n >= 1.0),
        "list errors counted: {errors:?}"
    );

    // Granting access later brings the kind in.
    emulator.emulator().allow("nodes").expect("nodes allowed");
    wait_for("nodes after access is granted", || async {
        !samples(&exporter.metrics().await, "kube_node_info").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_apiserver_is_not_ready_and_logs_once_per_failure_period() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let exporter = Exporter::start(&closed, &["--resources", "pods,nodes"]);
    wait_for("/healthz", || async {
        matches!(
            exporter.get(exporter.port, "/healthz").await,
            Some((200, _))
        )
    })
    .await;
    // Several backoff retries happen in this time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!exporter.ready().await, "not ready without an apiserver");
    let log = exporter.log();
    let failing = log.matches("list/watch failing").count();
    assert_eq!(failing, 2, "one line per kind per failure period:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_objects_keep_what_can_be_read_and_are_counted() {
    let emulator = start_emulator(Emulator::new()).await;
    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bad"}}))
        .expect("namespace applied");
    let mut broken = pod("bad", "broken", "Running");
    broken["spec"]["priority"] = json!("very high");
    broken["status"]["startTime"] = json!(12345);
    e.apply(broken)
        .expect("the emulator stores what it is given");
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "kube_pod_status_phase",
            &["pod=\"broken\"", "phase=\"Running\""]
        ),
        Some(1.0)
    );
    assert!(samples(&m, "kube_pod_start_time").is_empty());
    let dropped = value(
        &exporter.telemetry().await,
        "kube_state_otel_decode_dropped_fields_total",
        &["resource=\"*v1.Pod\""],
    );
    assert_eq!(dropped, Some(2.0));
    assert!(exporter.log().contains("object not fully decodable"));
}

#[test]
fn bad_flags_exit_with_code_2_naming_the_flag() {
    for (args, named) in [
        (&["--port", "eighty"][..], "--port"),
        (&["--resources", "pods,bogus"][..], "--resources"),
        (
            &["--metric-labels-allowlist", "pods=app"][..],
            "--metric-labels-allowlist",
        ),
        (
            &["--metric-labels-allowlist", "podz=[app]"][..],
            "--metric-labels-allowlist",
        ),
        (
            &["--metric-annotations-allowlist", "pods=[*a*]"][..],
            "--metric-annotations-allowlist",
        ),
        (
            &["--metric-opt-in-list", "kube_pod_(nodeselectors"][..],
            "--metric-opt-in-list",
        ),
        (
            &["--metric-allowlist", "kube_(pod"][..],
            "--metric-allowlist",
        ),
        (&["--metric-denylist", "[z-a]"][..], "--metric-denylist"),
        (
            &["--max-concurrent-scrapes", "0"][..],
            "--max-concurrent-scrapes",
        ),
        (
            &["--server-write-timeout", "soon"][..],
            "--server-write-timeout",
        ),
        (
            &["--metric-allowlist", "a", "--metric-denylist", "b"][..],
            "--metric-allowlist and --metric-denylist",
        ),
        (&["--otlp-interval", "soon"][..], "--otlp-interval"),
        (&["--shard", "2", "--total-shards", "2"][..], "--shard"),
        (&["--total-shards", "0"][..], "--total-shards"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .args(args)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} names {named}: {stderr}");
    }
}

#[test]
fn bad_otlp_settings_exit_with_code_2_naming_the_setting() {
    let https = ["--otlp-endpoint", "https://127.0.0.1:4317"];
    for (args, env, named) in [
        (
            &https[..],
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
            "OTEL_EXPORTER_OTLP_CERTIFICATE: /nonexistent/ca.pem",
        ),
        (
            &https[..],
            (
                "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
                "/nonexistent/key.pem",
            ),
            "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
        ),
        (
            &[
                "--otlp-endpoint",
                "http://c:4318",
                "--otlp-certificate",
                "/nonexistent/ca.pem",
            ][..],
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            "--otlp-certificate",
        ),
        (
            &https[..],
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
            "unknown otlp protocol",
        ),
        (
            &https[..],
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization"),
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &["--otlp-header", "novalue"][..],
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            "--otlp-header",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .args(args)
            .env(env.0, env.1)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} {env:?} names {named}: {stderr}"
        );
    }
}

/// A collector that accepts connections and never answers a TLS handshake: pushes time out
/// and are retried in the background while /metrics is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_https_collector_never_blocks_metrics() {
    let emulator = start_emulator(small_cluster()).await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("https://{}", silent.local_addr().expect("address"));
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-protocol",
            "http/protobuf",
            "--otlp-interval",
            "200ms",
            "--otlp-timeout",
            "500ms",
        ],
    );
    exporter.wait_ready().await;
    wait_for("a failed push", || async {
        exporter.log().contains("otlp export failing")
    })
    .await;
    for _ in 0..3 {
        assert!(!samples(&exporter.metrics().await, "kube_pod_info").is_empty());
    }
    let telemetry = exporter.telemetry().await;
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_otlp_requests_total",
            &["result=\"success\""]
        ),
        Some(0.0)
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_scrape_equals_plain_and_promtool_accepts_it() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(20, 10, 3))).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let plain = exporter.metrics().await;
    let client = reqwest::Client::builder()
        .gzip(true)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://127.0.0.1:{}/metrics", exporter.port))
        .send()
        .await
        .expect("gzip scrape");
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        None,
        "reqwest removes the header after decoding"
    );
    let gzipped = response.text().await.expect("gzip body");
    assert_eq!(gzipped.lines().count(), plain.lines().count());

    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let compressed = raw
        .get(format!("http://127.0.0.1:{}/metrics", exporter.port))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("raw gzip scrape");
    assert_eq!(
        compressed
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    // The body is a series of gzip members (one per chunk, compressed on the scrape's
    // threads): a reader of the whole stream gets the whole text.
    let raw_body = compressed.bytes().await.expect("raw gzip body");
    let mut decoded = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&raw_body[..]),
        &mut decoded,
    )
    .expect("a valid gzip stream");
    assert_eq!(decoded.lines().count(), plain.lines().count());

    let mut promtool = Command::new(which("promtool"));
    let out = pipe(promtool.args(["check", "metrics"]), &plain);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !KSM_PROMTOOL_FINDINGS.iter().any(|known| l.contains(known)))
        .collect();
    assert!(unexpected.is_empty(), "promtool found: {unexpected:#?}");
    assert!(
        out.status.success() || !KSM_PROMTOOL_FINDINGS.is_empty(),
        "promtool failed: {report}"
    );
}

/// promtool lint findings that kube-state-metrics' own output has too (see README).
const KSM_PROMTOOL_FINDINGS: &[&str] = &[];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_pushes_otlp_to_rotel_while_serving_metrics() {
    for protocol in ["grpc", "http/protobuf"] {
        for schema in ["ksm", "semconv"] {
            pushes_otlp_to_rotel(protocol, schema).await;
        }
    }
}

/// Runs the binary with `--schema schema` pushing over `protocol` to Rotel, and checks names,
/// attributes, resource attributes and a value in Rotel's debug output.
async fn pushes_otlp_to_rotel(protocol: &str, schema: &str) {
    let emulator = start_emulator(small_cluster()).await;
    let rotel = Rotel::start(true).await;
    let endpoint = rotel.endpoint(protocol);
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-protocol",
            protocol,
            "--schema",
            schema,
            "--otlp-interval",
            "1s",
        ],
    );
    exporter.wait_ready().await;
    let pod = &emulator.emulator().list("pods").expect("pods listed")[0];
    let name = pod["metadata"]["name"].as_str().expect("pod name");
    let namespace = pod["metadata"]["namespace"].as_str().expect("namespace");
    let container = &pod["status"]["containerStatuses"][0];
    let restarts = container["restartCount"].as_u64().expect("restart count");
    let container = container["name"].as_str().expect("container name");
    // Every line must be in one resource's block of the debug output (a block per object
    // under semconv, one for all under ksm).
    let (restart_metric, wanted) = match schema {
        "ksm" => (
            "kube_pod_container_status_restarts_total",
            vec![
                "-> Name: kube_pod_info\n".to_string(),
                "-> IsMonotonic: true".to_string(),
                format!("-> pod: Str({name})"),
                format!("-> namespace: Str({namespace})"),
                format!("-> container: Str({container})"),
            ],
        ),
        _ => (
            "k8s.container.restart.count",
            vec![
                "-> Name: k8s.pod.status.phase\n".to_string(),
                "-> IsMonotonic: false".to_string(),
                // Resource attributes of the pod's resource.
                format!("-> k8s.pod.name: Str({name})"),
                format!("-> k8s.namespace.name: Str({namespace})"),
                format!("-> k8s.container.name: Str({container})"),
            ],
        ),
    };
    let wanted: Vec<String> = wanted
        .into_iter()
        .chain([
            format!("-> Name: {restart_metric}\n"),
            "-> service.name: Str(kube-state-otel)".to_string(),
            "InstrumentationScope pods".to_string(),
            format!("Value: {restarts}\n"),
        ])
        .collect();
    wait_for(
        &format!("{schema} points at Rotel over {protocol}"),
        || async {
            rotel.output().split("ResourceMetrics #").any(|resource| {
                resource.contains(&format!("Str({name})"))
                    && wanted.iter().all(|w| resource.contains(w.as_str()))
            })
        },
    )
    .await;
    wait_for("OTLP requests counted", || async {
        value(
            &exporter.telemetry().await,
            "kube_state_otel_otlp_requests_total",
            &["result=\"success\""],
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await;
    // /metrics is served meanwhile, in the same schema.
    assert!(exporter.metrics().await.contains(&format!("\"{name}\"")));
}

/// An emulator with namespaces `a`, `b` and `c`, each holding one pod.
async fn three_namespaces() -> ServerHandle {
    let emulator = Emulator::new();
    for ns in ["a", "b", "c"] {
        emulator
            .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("namespace applied");
        emulator
            .apply(pod(ns, &format!("pod-{ns}"), "Running"))
            .expect("pod applied");
    }
    start_emulator(emulator).await
}

/// The distinct families with a `# TYPE` line in a scrape.
fn families(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_their_denylist_limit_namespaced_kinds_only() {
    let emulator = three_namespaces().await;
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--resources",
            "pods,namespaces",
            "--namespaces",
            "a,b",
            "--namespaces-denylist",
            "b",
        ],
    );
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    let pods = samples(&m, "kube_pod_info");
    assert_eq!(pods.len(), 1, "{pods:#?}");
    assert!(pods[0].contains("pod=\"pod-a\""));
    // Namespaces are cluster-scoped: all of them, the denied one included.
    for ns in ["a", "b", "c"] {
        assert!(
            value(
                &m,
                "kube_namespace_created",
                &[&format!("namespace=\"{ns}\"")]
            )
            .is_some(),
            "namespace {ns}"
        );
    }

    // Live changes follow the same rules: a's new pod comes, b's and c's do not.
    let e = emulator.emulator();
    for ns in ["a", "b", "c"] {
        e.apply(pod(ns, &format!("new-{ns}"), "Running"))
            .expect("pod applied");
    }
    wait_for("the new pod of namespace a", || async {
        exporter.metrics().await.contains("pod=\"new-a\"")
    })
    .await;
    // Namespace a's watch relists after a 410 without touching what it does not own.
    e.disconnect_watches();
    e.compact();
    e.delete("pods", Some("a"), "pod-a").expect("deleted");
    wait_for("the deleted pod to go", || async {
        !exporter.metrics().await.contains("pod=\"pod-a\"")
    })
    .await;
    let m = exporter.metrics().await;
    let pods = samples(&m, "kube_pod_info");
    assert_eq!(pods.len(), 1, "{pods:#?}");
    assert!(pods[0].contains("pod=\"new-a\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_allowlist_and_denylist_select_families() {
    let emulator = three_namespaces().await;
    let allow = Exporter::start(
        &emulator.url(),
        &[
            "--resources",
            "pods,namespaces",
            "--metric-allowlist",
            "^kube_pod_info$, kube_namespace_status",
        ],
    );
    let deny = Exporter::start(
        &emulator.url(),
        &[
            "--resources",
            "pods",
            "--metric-denylist",
            "kube_pod_status_.*,^kube_pod_info$",
            "--metric-opt-in-list",
            "nodeselectors",
        ],
    );
    allow.wait_ready().await;
    deny.wait_ready().await;
    let m = allow.metrics().await;
    let mut listed = families(&m);
    listed.sort();
    assert_eq!(
        listed,
        [
            "kube_namespace_status_condition",
            "kube_namespace_status_phase",
            "kube_pod_info"
        ]
    );
    assert_eq!(samples(&m, "kube_pod_info").len(), 3);

    let m = deny.metrics().await;
    let listed = families(&m);
    assert!(!listed.is_empty());
    assert!(
        listed
            .iter()
            .all(|f| *f != "kube_pod_info" && !f.starts_with("kube_pod_status_")),
        "{listed:#?}"
    );
    assert!(listed.contains(&"kube_pod_created"));
    assert!(listed.contains(&"kube_pod_nodeselectors"), "opted in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_query_parameters_filter_kinds_per_scrape() {
    let emulator = start_emulator(small_cluster()).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let prefixes = |text: &str| {
        let mut kinds: Vec<String> = families(text)
            .iter()
            .filter_map(|f| f.strip_prefix("kube_"))
            .filter_map(|f| f.split('_').next())
            .map(String::from)
            .collect();
        kinds.dedup();
        kinds
    };
    let exporter = &exporter;
    let get = |query: &'static str| async move {
        match exporter
            .get(exporter.port, &format!("/metrics{query}"))
            .await
        {
            Some((200, body)) => body,
            other => panic!("/metrics{query} failed: {other:?}"),
        }
    };
    let all = prefixes(&exporter.metrics().await);
    assert!(all.len() > 3, "{all:?}");
    assert_eq!(
        prefixes(&get("?resources=pods,nodes").await),
        ["node", "pod"]
    );
    let without = prefixes(&get("?exclude_resources=pods,deployments").await);
    assert!(!without.contains(&"pod".to_string()) && !without.contains(&"deployment".to_string()));
    assert_eq!(without.len(), all.len() - 2, "{without:?}");
    assert_eq!(
        prefixes(&get("?resources=pods,nodes&exclude_resources=nodes").await),
        ["pod"]
    );
}

/// What Prometheus 3 sends with its default scrape protocols.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
    application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
    text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_is_served_to_scrapers_that_ask_and_parses_strictly() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(5, 10, 3))).await;
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/metrics", exporter.port))
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .expect("scrape");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8")
    );
    let body = response.text().await.expect("body");
    assert_eq!(body.lines().last(), Some("# EOF"));
    assert!(body.contains("\n# TYPE kube_pod_container_status_restarts counter\n"));
    assert!(body.contains("\nkube_pod_container_status_restarts_total{"));
    assert!(!body.contains("# TYPE kube_pod_container_status_restarts_total"));
    // The same series as the text format, plus `# EOF`.
    let text = exporter.metrics().await;
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(series(&body), series(&text));

    // prometheus_client's OpenMetrics parser is strict: it rejects `_total` on a counter's
    // TYPE line, a missing `# EOF`, misplaced metadata and bad escaping.
    let mut python = Command::new("python3");
    let out = pipe(
        python.args([
            "-c",
            "import sys\n\
             from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
             families = list(text_string_to_metric_families(sys.stdin.read()))\n\
             print(len(families), sum(len(f.samples) for f in families))",
        ]),
        &body,
    );
    assert!(
        out.status.success(),
        "prometheus_client rejected the scrape (scripts/test.sh installs prometheus-client): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<usize> = parsed
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(counts, [families(&body).len(), series(&body)], "{parsed}");
}

/// The sample lines of a scrape (headers are the same in every shard that has the kind).
fn sample_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_shards_split_every_kind_without_overlap() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(4, 6, 3))).await;
    let url = emulator.url();
    let whole = Exporter::start(&url, &[]);
    let shards =
        [0, 1].map(|n| Exporter::start(&url, &["--total-shards", "2", "--shard", &n.to_string()]));
    whole.wait_ready().await;
    for shard in &shards {
        shard.wait_ready().await;
    }
    let check = || async {
        let all = sample_lines(&whole.metrics().await);
        let parts = [
            sample_lines(&shards[0].metrics().await),
            sample_lines(&shards[1].metrics().await),
        ];
        let pods = |lines: &BTreeSet<String>| {
            lines
                .iter()
                .filter(|l| l.starts_with("kube_pod_info{"))
                .count()
        };
        assert!(
            pods(&parts[0]) > 0 && pods(&parts[1]) > 0,
            "both shards hold pods"
        );
        assert!(parts[0].is_disjoint(&parts[1]), "no series in both shards");
        let union: BTreeSet<String> = parts[0].union(&parts[1]).cloned().collect();
        assert_eq!(union, all, "the shards together are the whole");
    };
    check().await;
    for (n, shard) in shards.iter().enumerate() {
        let t = shard.telemetry().await;
        assert_eq!(value(&t, "kube_state_metrics_total_shards", &[]), Some(2.0));
        let ordinal = format!("shard_ordinal=\"{n}\"");
        assert_eq!(
            value(&t, "kube_state_metrics_shard_ordinal", &[&ordinal]),
            Some(n as f64)
        );
    }

    // A live pod lands in exactly one shard; a relist after 410 Gone keeps the split.
    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e"}}))
        .expect("namespace applied");
    e.apply(pod("e2e", "live", "Running")).expect("pod applied");
    wait_for("the live pod", || async {
        whole.metrics().await.contains("pod=\"live\"")
    })
    .await;
    wait_for("the live pod in a shard", || async {
        shards[0].metrics().await.contains("pod=\"live\"")
            || shards[1].metrics().await.contains("pod=\"live\"")
    })
    .await;
    // Counted before the watches drop, and forbidden while they are down, so the resumed
    // watch can only meet the compacted history (410) and every shard must relist.
    let lists = |t: String| list_successes(&t, "*v1.Pod");
    let before = [
        lists(shards[0].telemetry().await),
        lists(shards[1].telemetry().await),
    ];
    e.forbid("pods").expect("pods forbidden");
    e.disconnect_watches();
    e.apply(pod("e2e", "after-relist", "Running"))
        .expect("pod applied");
    e.compact();
    e.allow("pods").expect("pods allowed");
    for (shard, before) in shards.iter().zip(before) {
        wait_for("a relist", || async {
            lists(shard.telemetry().await) > before
        })
        .await;
    }
    wait_for("every exporter to see the new pod", || async {
        whole.metrics().await.contains("pod=\"after-relist\"")
            && (shards[0].metrics().await.contains("pod=\"after-relist\"")
                || shards[1].metrics().await.contains("pod=\"after-relist\""))
    })
    .await;
    check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_unscheduled_instances_split_pods_only() {
    let emulator = Emulator::new();
    emulator
        .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e"}}))
        .expect("namespace applied");
    for (name, node) in [
        ("on-a", Some("node-a")),
        ("on-b", Some("node-b")),
        ("waiting", None),
    ] {
        let mut p = pod("e2e", name, "Pending");
        match node {
            Some(node) => p["spec"]["nodeName"] = json!(node),
            None => {
                if let Some(spec) = p["spec"].as_object_mut() {
                    spec.remove("nodeName");
                }
            }
        }
        emulator.apply(p).expect("pod applied");
    }
    for node in ["node-a", "node-b"] {
        emulator
            .apply(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
            .expect("node applied");
    }
    let emulator = start_emulator(emulator).await;
    let url = emulator.url();
    let resources = ["--resources", "pods,nodes"];
    let on_a = Exporter::start(&url, &[&resources[..], &["--node", "node-a"]].concat());
    let unscheduled = Exporter::start(
        &url,
        &[
            &resources[..],
            &["--node", "node-a", "--track-unscheduled-pods"],
        ]
        .concat(),
    );
    on_a.wait_ready().await;
    unscheduled.wait_ready().await;
    for (exporter, want) in [(&on_a, "on-a"), (&unscheduled, "waiting")] {
        let m = exporter.metrics().await;
        let pods = samples(&m, "kube_pod_info");
        assert_eq!(pods.len(), 1, "{pods:#?}");
        assert!(pods[0].contains(&format!("pod=\"{want}\"")), "{pods:#?}");
        // Nodes are not node-sharded.
        assert_eq!(samples(&m, "kube_node_info").len(), 2);
    }

    // Scheduling the waiting pod moves it from the unscheduled instance to its node's.
    let mut scheduled = pod("e2e", "waiting", "Running");
    scheduled["spec"]["nodeName"] = json!("node-a");
    emulator.emulator().apply(scheduled).expect("pod scheduled");
    wait_for("the pod to move", || async {
        on_a.metrics().await.contains("pod=\"waiting\"")
            && !unscheduled.metrics().await.contains("pod=\"waiting\"")
    })
    .await;
}

/// An emulator with a generated cluster plus namespace `ns` holding StatefulSet `ksm` (2
/// replicas), its pods `ksm-0` and `ksm-1`, and `loner`, a pod no StatefulSet controls.
async fn statefulset_cluster() -> ServerHandle {
    let emulator = Emulator::with_cluster(&GeneratedCluster::new(3, 6, 5));
    emulator
        .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}))
        .expect("namespace applied");
    emulator
        .apply(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "ksm", "namespace": "ns", "uid": "uid-sts-ksm",
                          "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 2, "serviceName": "ksm",
                     "selector": {"matchLabels": {"app": "ksm"}},
                     "template": {"metadata": {"labels": {"app": "ksm"}},
                                  "spec": {"containers": [{"name": "ksm", "image": "ksm:1"}]}}}
        }))
        .expect("statefulset applied");
    for name in ["ksm-0", "ksm-1", "loner"] {
        let mut p = pod("ns", name, "Running");
        if name != "loner" {
            p["metadata"]["ownerReferences"] = json!([{
                "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "ksm",
                "uid": "uid-sts-ksm", "controller": true, "blockOwnerDeletion": true
            }]);
        }
        emulator.apply(p).expect("pod applied");
    }
    start_emulator(emulator).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automated_sharding_reads_the_ordinal_and_replicas_of_the_pods_statefulset() {
    let emulator = statefulset_cluster().await;
    let url = emulator.url();
    let whole = Exporter::start(&url, &[]);
    // The StatefulSet's settings win over the flags'.
    let shards = [0, 1].map(|n| {
        let pod = format!("--pod=ksm-{n}");
        Exporter::start(
            &url,
            &[
                &pod,
                "--pod-namespace",
                "ns",
                "--shard",
                "0",
                "--total-shards",
                "5",
            ],
        )
    });
    whole.wait_ready().await;
    for shard in &shards {
        shard.wait_ready().await;
    }
    for (n, shard) in shards.iter().enumerate() {
        let t = shard.telemetry().await;
        assert_eq!(
            value(&t, "kube_state_metrics_total_shards", &[]),
            Some(2.0),
            "{}",
            shard.log()
        );
        let ordinal = format!("shard_ordinal=\"{n}\"");
        assert_eq!(
            value(&t, "kube_state_metrics_shard_ordinal", &[&ordinal]),
            Some(n as f64)
        );
        assert!(
            shard.log().contains(&format!("shard {n} of 2")),
            "{}",
            shard.log()
        );
    }
    let all = sample_lines(&whole.metrics().await);
    let parts = [
        sample_lines(&shards[0].metrics().await),
        sample_lines(&shards[1].metrics().await),
    ];
    let pods = |lines: &BTreeSet<String>| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("kube_pod_"))
            .cloned()
            .collect()
    };
    let pod_parts = [pods(&parts[0]), pods(&parts[1])];
    assert!(
        !pod_parts[0].is_empty() && !pod_parts[1].is_empty(),
        "both shards hold pods"
    );
    assert!(
        pod_parts[0].is_disjoint(&pod_parts[1]),
        "no pod series in both shards"
    );
    let pod_union: BTreeSet<String> = pod_parts[0].union(&pod_parts[1]).cloned().collect();
    assert_eq!(
        pod_union,
        pods(&all),
        "the shards' pods together are the whole"
    );
    assert!(parts[0].is_disjoint(&parts[1]), "no series in both shards");
    let union: BTreeSet<String> = parts[0].union(&parts[1]).cloned().collect();
    assert_eq!(union, all, "the shards together are the whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automated_sharding_failures_exit_with_code_1_and_say_why() {
    let emulator = statefulset_cluster().await;
    let forbidden = Emulator::new();
    forbidden.forbid("pods").expect("pods forbidden");
    let forbidden = start_emulator(forbidden).await;
    for (url, pod, expected) in [
        (emulator.url(), "missing", "not found"),
        (emulator.url(), "loner", "no controlling owner StatefulSet"),
        (forbidden.url(), "ksm-0", "forbidden"),
    ] {
        let mut exporter = Exporter::start(&url, &["--pod", pod, "--pod-namespace", "ns"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while exporter.running() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(exporter.exit_code(), Some(1), "{pod}: {}", exporter.log());
        let log = exporter.log();
        assert!(
            log.contains(&format!("--pod ns/{pod}")) && log.contains(expected),
            "{pod}: {log}"
        );
    }
    // Half of the pair is a usage error.
    for args in [&["--pod", "ksm-0"][..], &["--pod-namespace", "ns"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .args(args)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--pod-namespace"), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_are_watched_metadata_only_with_the_same_series() {
    let emulator = start_emulator(small_cluster()).await;
    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}))
        .expect("namespace applied");
    let mut versions = Vec::new();
    for i in 0..20 {
        let applied = e
            .apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm{i}"), "namespace": "big",
                             "labels": {"app": "a", "index": i.to_string()},
                             "annotations": {"note": format!("n{i}")},
                             "creationTimestamp": "2026-01-01T00:00:00Z"},
                "data": {"payload": noise(i, 10 * 1024)}
            }))
            .expect("configmap applied");
        versions.push(applied.resource_version);
    }
    e.reset_stats();
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--resources",
            "configmaps",
            "--metric-labels-allowlist",
            "configmaps=[*]",
            "--metric-annotations-allowlist",
            "configmaps=[note]",
        ],
    );
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    let count = e.count("configmaps").expect("configmaps counted");
    assert_eq!(samples(&m, "kube_configmap_info").len(), count);
    assert_eq!(samples(&m, "kube_configmap_created").len(), count);
    for (i, version) in versions.iter().enumerate() {
        let cm = format!("configmap=\"cm{i}\"");
        let labels = ["namespace=\"big\"", cm.as_str()];
        assert_eq!(value(&m, "kube_configmap_info", &labels), Some(1.0));
        assert_eq!(
            value(&m, "kube_configmap_created", &labels),
            Some(1767225600.0)
        );
        assert_eq!(
            value(&m, "kube_configmap_metadata_resource_version", &labels),
            Some(*version as f64)
        );
        let index = format!("label_index=\"{i}\"");
        let note = format!("annotation_note=\"n{i}\"");
        assert_eq!(
            value(
                &m,
                "kube_configmap_labels",
                &[cm.as_str(), "label_app=\"a\"", &index]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&m, "kube_configmap_annotations", &[cm.as_str(), &note]),
            Some(1.0)
        );
    }

    // The watch follows label changes and deletions through metadata-only events.
    e.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm0", "namespace": "big", "labels": {"app": "b"}},
        "data": {"payload": "small"}
    }))
    .expect("configmap updated");
    e.delete("configmaps", Some("big"), "cm1")
        .expect("configmap deleted");
    wait_for("the relabelled and the deleted configmap", || async {
        let m = exporter.metrics().await;
        value(
            &m,
            "kube_configmap_labels",
            &["configmap=\"cm0\"", "label_app=\"b\""],
        ) == Some(1.0)
            && value(&m, "kube_configmap_info", &["configmap=\"cm1\""]).is_none()
    })
    .await;

    // Only metadata was pulled: the exporter's list and watch of configmaps together are a
    // fraction of one full list, which alone carries the 18 × 10 KiB of data left.
    let full = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("http client")
        .get(format!("{}/api/v1/configmaps", emulator.url()))
        .bearer_auth("full")
        .send()
        .await
        .expect("full list")
        .bytes()
        .await
        .expect("full list body")
        .len() as u64;
    assert!(full > 18 * 10 * 1024, "full list of {full} bytes");
    let stats = e.stats();
    let pulled = &stats.clients["exporter"]["configmaps"];
    let bytes = pulled.list_bytes + pulled.watch_bytes;
    assert!(pulled.list_requests >= 1 || pulled.watch_requests >= 1);
    assert!(
        bytes * 10 < full,
        "the exporter pulled {bytes} bytes of configmaps, a full list is {full}"
    );
}

/// `--schema both`: the semconv series beside kube-state-metrics' on `/metrics` (Prometheus
/// compatibility names, resource attributes as labels, promtool-clean), and over OTLP/gRPC to
/// Rotel one resource per object carrying its identifying attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semconv_schema_over_prometheus_and_otlp_to_rotel() {
    let emulator = Emulator::new();
    let mut web = pod("shop", "web-0", "Running");
    web["status"]["containerStatuses"] = json!([{
        "name": "app", "image": "nginx:1", "imageID": "", "ready": true, "restartCount": 3,
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    }]);
    for object in [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"},
               "status": {"phase": "Active"}}),
        web,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
               "spec": {"replicas": 3, "selector": {}, "template": {}},
               "status": {"availableReplicas": 2}}),
    ] {
        emulator.apply(object).expect("object applied");
    }
    let emulator = start_emulator(emulator).await;
    let rotel = Rotel::start(true).await;
    let endpoint = format!("http://{}", rotel.addr);
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--schema",
            "both",
            "--resources",
            "pods,deployments,namespaces",
            "--otlp-endpoint",
            &endpoint,
            "--otlp-interval",
            "1s",
        ],
    );
    exporter.wait_ready().await;

    let text = exporter.metrics().await;
    let pod = r#"k8s_namespace_name="shop",k8s_pod_name="web-0",k8s_pod_uid="uid-web-0""#;
    for line in [
        format!(r#"k8s_pod_status_phase{{{pod},k8s_pod_status_phase="Running"}} 1"#),
        format!(r#"k8s_pod_status_phase{{{pod},k8s_pod_status_phase="Pending"}} 0"#),
        format!(r#"k8s_container_restart_count{{{pod},k8s_container_name="app"}} 3"#),
        format!(
            r#"k8s_container_status_state{{{pod},k8s_container_name="app",k8s_container_status_state="running"}} 1"#
        ),
        r#"k8s_deployment_pod_desired{k8s_namespace_name="shop",k8s_deployment_name="web",k8s_deployment_uid="uid-web"} 3"#.to_string(),
        r#"k8s_namespace_phase{k8s_namespace_name="shop",k8s_namespace_phase="active"} 1"#.to_string(),
        "# TYPE k8s_pod_status_phase gauge".to_string(),
    ] {
        assert!(text.contains(&format!("{line}\n")), "no {line} in:\n{text}");
    }
    // kube-state-metrics' series are all there too.
    assert_eq!(
        value(
            &text,
            "kube_pod_container_status_restarts_total",
            &["pod=\"web-0\""]
        ),
        Some(3.0)
    );
    // The one lint finding is the semconv name itself (`k8s.container.restart.count`).
    let (_, report) = promtool_check_metrics(&text);
    let findings: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        findings,
        [
            "k8s_container_restart_count non-histogram and non-summary metrics should not have \"_count\" suffix"
        ],
        "{report}"
    );

    // Rotel prints each ResourceMetrics as a block: its resource attributes, then its metrics.
    let wanted: [(&str, &[&str]); 2] = [
        (
            "-> k8s.pod.uid: Str(uid-web-0)",
            &[
                "-> service.name: Str(kube-state-otel)",
                "-> k8s.namespace.name: Str(shop)",
                "-> k8s.pod.name: Str(web-0)",
                "-> Name: k8s.pod.status.phase\n",
                "-> k8s.pod.status.phase: Str(Running)",
                "-> Name: k8s.container.restart.count\n",
                "-> k8s.container.name: Str(app)",
                "-> IsMonotonic: false",
                "Value: 3\n",
            ],
        ),
        (
            "-> k8s.deployment.uid: Str(uid-web)",
            &[
                "-> k8s.deployment.name: Str(web)",
                "-> Name: k8s.deployment.pod.desired\n",
                "-> Name: k8s.deployment.pod.available\n",
                "Value: 2\n",
            ],
        ),
    ];
    wait_for("semconv resources at Rotel", || async {
        let out = rotel.output();
        wanted.iter().all(|(resource, lines)| {
            out.split("ResourceMetrics #")
                .filter(|block| block.contains(resource))
                .any(|block| lines.iter().all(|line| block.contains(line)))
        })
    })
    .await;
    // A resource per object: the pod's points are not on the deployment's resource.
    let out = rotel.output();
    assert!(
        out.split("ResourceMetrics #")
            .filter(|block| block.contains("k8s.deployment.uid"))
            .all(|block| !block.contains("k8s.pod.uid")),
        "{out}"
    );
}
