//! What a person running the exporter sees of its work: the initial sync's progress (log lines,
//! `/readyz`, self-telemetry) and the `--demo` mode (a cluster with every kind, churn, and the
//! OTLP pushes summarised by the built-in receiver).

use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster};

mod harness;
use harness::{Exporter, start_emulator, value};

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
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (code, readyz) = exporter.get(exporter.port, "/readyz").await.unwrap();
    assert_eq!(code, 503, "{readyz}");
    let line = sync_line(&readyz);
    let (synced, total, objects) = sync_counts(line);
    assert!(synced < total, "still syncing: {line}");
    assert!(objects > 0, "objects listed so far: {line}");
    assert!(line.contains("(1 forbidden)"), "{line}");
    assert!(line.ends_with(" s so far"), "{line}");

    exporter.wait_ready().await;
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
