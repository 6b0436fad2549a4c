//! What a person running the exporter sees of its work: the initial sync's progress (log lines,
//! `/readyz`, self-telemetry) and the `--demo` mode (a cluster with every kind, churn, and the
//! OTLP pushes summarised by the built-in receiver).

use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster};
use kube_state_otel::pipeline::all_kinds;

mod harness;
use harness::{Exporter, free_port, samples, start_emulator, value, wait_for};

/// The `sync:` line of a `/readyz` body.
fn sync_line(readyz: &str) -> &str {
    readyz
        .lines()
        .find_map(|l| l.strip_prefix("sync: "))
        .unwrap_or_else(|| panic!("no sync line in /readyz:\n{readyz}"))
}

/// `(synced, total, objects)` of a sync line (`12/37 kinds synced …, 4500 objects, …`).
fn sync_counts(line: &str) -> (usize, usize, u64) {
    let (kinds, rest) = line
        .split_once(" kinds synced")
        .unwrap_or_else(|| panic!("{line}"));
    let (synced, total) = kinds.split_once('/').unwrap_or_else(|| panic!("{line}"));
    let objects = rest
        .split(", ")
        .find_map(|part| part.strip_suffix(" objects"))
        .unwrap_or_else(|| panic!("{line}"));
    (
        synced.parse().unwrap(),
        total.parse().unwrap(),
        objects.parse().unwrap(),
    )
}

/// Lists answered slowly, page by page: the sync is reported while it runs (log lines every
/// 5 s, counts in `/readyz`), a forbidden kind is counted apart, and once ready the last line
/// says how long it took, with the objects and bytes listed, as the telemetry does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_progress_is_logged_and_in_readyz() {
    let emulator = Emulator::with_cluster(&GeneratedCluster::new(3, 10, 3));
    emulator.forbid("secrets").unwrap();
    emulator.set_list_delay(Duration::from_millis(1200));
    let server = start_emulator(emulator).await;
    // 30 pods in pages of 5: six pages of 1.2 s each, so the pods take over 7 s.
    let exporter = Exporter::start(&server.url(), &["--list-page-size", "5"]);
    // Once some kinds have listed (a page each, 1.2 s), long before the pods have.
    let last = std::sync::Mutex::new(String::new());
    wait_for("objects listed while syncing", || async {
        if let Some((503, body)) = exporter.get(exporter.port, "/readyz").await {
            *last.lock().unwrap() = body;
        }
        let readyz = last.lock().unwrap();
        readyz.lines().any(|l| l.starts_with("sync: ")) && sync_counts(sync_line(&readyz)).2 > 0
    })
    .await;
    let readyz = last.into_inner().unwrap();
    let line = sync_line(&readyz);
    let (synced, total, objects) = sync_counts(line);
    assert!(synced < total, "still syncing: {line}");
    assert!(objects > 0, "objects listed so far: {line}");
    assert!(line.contains("(1 forbidden)"), "{line}");
    assert!(line.ends_with(" s so far"), "{line}");

    exporter.wait_ready().await;
    // Logged once readiness is seen (checked every 50 ms).
    wait_for("the final sync line", || async {
        exporter.log().contains("initial sync done: ")
    })
    .await;
    let log = exporter.log();
    let progress: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("initial sync: "))
        .collect();
    assert!(
        !progress.is_empty() && progress.iter().all(|l| l.contains("s so far")),
        "progress lines while syncing:\n{log}"
    );
    let done: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("initial sync done: "))
        .collect();
    assert_eq!(done.len(), 1, "one final line:\n{log}");
    assert!(done[0].contains(", ready in "), "{}", done[0]);

    let (code, readyz) = exporter.get(exporter.port, "/readyz").await.unwrap();
    assert_eq!(code, 200, "{readyz}");
    let line = sync_line(&readyz);
    let (synced, total, objects) = sync_counts(line);
    // Every kind but the forbidden one synced; the objects are those the kinds hold.
    assert_eq!(synced + 1, total, "{line}");
    let held: u64 = readyz
        .lines()
        .filter_map(|l| l.split_once(" (")?.1.strip_suffix(" objects)"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert_eq!(objects, held, "{readyz}");
    assert!(line.contains(", ready in "), "{line}");

    let telemetry = exporter.telemetry().await;
    let state = |resource: &str, state: &str| {
        let (resource, state) = (
            format!("resource=\"{resource}\""),
            format!("state=\"{state}\""),
        );
        value(
            &telemetry,
            "kube_state_otel_resource_state",
            &[&resource, &state],
        )
    };
    assert_eq!(state("pods", "synced"), Some(1.0));
    assert_eq!(state("pods", "syncing"), Some(0.0));
    assert_eq!(state("secrets", "forbidden"), Some(1.0));
    assert_eq!(state("secrets", "synced"), Some(0.0));
    let took = value(
        &telemetry,
        "kube_state_otel_initial_sync_duration_seconds",
        &[],
    )
    .expect("the sync's duration once ready");
    assert!(took > 7.0, "six pages of pods at 1.2 s each: {took}");
    let pods = value(
        &telemetry,
        "kube_state_otel_list_objects_total",
        &["resource=\"*v1.Pod\""],
    );
    assert_eq!(pods, Some(30.0));
    let pod_bytes = value(
        &telemetry,
        "kube_state_otel_list_bytes_total",
        &["resource=\"*v1.Pod\""],
    )
    .expect("bytes of the pod lists");
    // The generated pods average ~5.7 KB of JSON each.
    assert!(pod_bytes > 30.0 * 3000.0, "{pod_bytes}");
}

/// The exporter in `--demo` mode on a small cluster, with `extra` flags.
fn demo(extra: &[&str]) -> Exporter {
    let ports = (free_port(), free_port());
    let (port, telemetry_port) = (ports.0.to_string(), ports.1.to_string());
    let mut args = vec!["--demo", "--demo-nodes", "3", "--demo-pods-per-node", "4"];
    args.extend(["--host", "127.0.0.1", "--port", &port]);
    args.extend([
        "--telemetry-host",
        "127.0.0.1",
        "--telemetry-port",
        &telemetry_port,
    ]);
    args.extend(extra);
    // The demo brings its own cluster: the harness's kubeconfig is not read.
    Exporter::start_with_args("http://127.0.0.1:1", ports, &args)
}

/// The lines of the demo's standard output that start with `prefix`.
fn lines_starting(exporter: &Exporter, prefix: &str) -> Vec<String> {
    exporter
        .stdout()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// The summary lines of the pushes the demo's receiver printed.
fn push_lines(exporter: &Exporter) -> Vec<String> {
    lines_starting(exporter, "OTLP push ")
}

/// The summary lines of the entity events it received.
fn entity_lines(exporter: &Exporter) -> Vec<String> {
    lines_starting(exporter, "OTLP entity events received: ")
}

/// With every kind asked for, on the newest minor (which serves them all), every kind has
/// objects, among them the states worth a look (and an alert).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_every_kind_in_telling_states() {
    let resources: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
    let version = format!("v1.{}.0", kube_emulator::NEWEST_MINOR);
    let resources = resources.join(",");
    let exporter = demo(&["--demo-k8s-version", &version, "--resources", &resources]);
    exporter.wait_ready().await;
    let (_, readyz) = exporter.get(exporter.port, "/readyz").await.unwrap();
    for kind in all_kinds() {
        let line = readyz
            .lines()
            .find(|l| l.starts_with(&format!("{}: ", kind.resource())))
            .unwrap_or_else(|| panic!("{} in /readyz:\n{readyz}", kind.resource()));
        let objects: usize = line
            .strip_prefix(&format!("{}: synced (", kind.resource()))
            .and_then(|rest| rest.strip_suffix(" objects)"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not synced: {line}"));
        assert!(objects > 0, "no {} in the demo", kind.resource());
    }
    let metrics = exporter.metrics().await;
    for (family, labels, want) in [
        (
            "kube_pod_container_status_waiting_reason",
            &["reason=\"CrashLoopBackOff\""][..],
            1.0,
        ),
        (
            "kube_pod_status_phase",
            &["pod=\"kafka-2\"", "phase=\"Pending\""],
            1.0,
        ),
        (
            "kube_job_failed",
            &["job_name=\"report-export\"", "condition=\"true\""],
            1.0,
        ),
        (
            "kube_cronjob_spec_suspend",
            &["cronjob=\"cache-warmer\""],
            1.0,
        ),
        (
            "kube_horizontalpodautoscaler_status_current_replicas",
            &["horizontalpodautoscaler=\"checkout-api\""],
            4.0,
        ),
        (
            "kube_horizontalpodautoscaler_spec_max_replicas",
            &["horizontalpodautoscaler=\"checkout-api\""],
            4.0,
        ),
        (
            "kube_namespace_status_phase",
            &["namespace=\"legacy-batch\"", "phase=\"Terminating\""],
            1.0,
        ),
        (
            "kube_persistentvolume_status_phase",
            &["persistentvolume=\"pv-archive-01\"", "phase=\"Released\""],
            1.0,
        ),
        (
            "kube_persistentvolumeclaim_status_phase",
            &["persistentvolumeclaim=\"uploads\"", "phase=\"Pending\""],
            1.0,
        ),
        (
            "kube_daemonset_status_number_unavailable",
            &["daemonset=\"fluent-bit\""],
            1.0,
        ),
    ] {
        assert_eq!(
            value(&metrics, family, labels),
            Some(want),
            "{family}{labels:?}"
        );
    }
}

/// The demo cluster changes while it is watched, and each OTLP push to the built-in receiver
/// is summarised on standard output, over gRPC (the default) and OTLP/HTTP (protobuf and JSON); with an endpoint
/// of one's own, the built-in receiver stays out of the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_changes_and_prints_each_otlp_push() {
    let exporter = demo(&["--otlp-interval", "1s"]);
    exporter.wait_ready().await;
    let banner = exporter.stdout();
    assert!(
        banner.contains(&format!("curl http://127.0.0.1:{}/metrics", exporter.port))
            && banner.contains("built-in receiver"),
        "{banner}"
    );
    wait_for("two pushes summarised", || async {
        push_lines(&exporter).len() >= 2
    })
    .await;
    let line = &push_lines(&exporter)[0];
    let points: u64 = line
        .split(", ")
        .find_map(|part| part.split_once(" points in ").map(|(n, _)| n))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(points > 1000, "{line}");
    assert!(
        line.contains("1 request,") && line.contains(" scopes"),
        "{line}"
    );
    let telemetry = exporter.telemetry().await;
    assert!(
        value(&telemetry, "kube_state_otel_otlp_points_total", &[]).unwrap_or(0.0) > 1000.0,
        "the pushes were acknowledged"
    );
    // Every churn step renews a node's lease.
    let leases = |text: &str| -> Vec<String> {
        samples(text, "kube_lease_renew_time")
            .into_iter()
            .filter(|l| l.contains("namespace=\"kube-node-lease\""))
            .map(String::from)
            .collect()
    };
    let before = leases(&exporter.metrics().await);
    assert_eq!(before.len(), 3, "a lease per node");
    wait_for("a node lease renewed", || async {
        leases(&exporter.metrics().await) != before
    })
    .await;

    // Entity events too, over each protocol: the demo's pods, nodes, … as entity states.
    for protocol in ["grpc", "http/protobuf", "http/json"] {
        let args = ["--otlp-interval", "1s", "--otlp-protocol", protocol];
        let http = demo(&[&args[..], &["--entity-events"]].concat());
        http.wait_ready().await;
        wait_for("a push and entity events summarised", || async {
            !push_lines(&http).is_empty() && !entity_lines(&http).is_empty()
        })
        .await;
        let line = &push_lines(&http)[0];
        assert!(!line.contains(" 0 points"), "{protocol}: {line}");
        let states: u64 = entity_lines(&http)[0]
            .strip_prefix("OTLP entity events received: ")
            .and_then(|rest| rest.split_once(" states")?.0.parse().ok())
            .unwrap_or_else(|| panic!("{protocol}: {}", http.stdout()));
        assert!(states > 100, "{protocol}: {}", http.stdout());
    }

    let elsewhere = format!("http://127.0.0.1:{}", free_port());
    let own = demo(&["--otlp-interval", "1s", "--otlp-endpoint", &elsewhere]);
    own.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        own.stdout().contains("pushed to the configured endpoint"),
        "{}",
        own.stdout()
    );
    assert!(push_lines(&own).is_empty(), "{}", own.stdout());
}
