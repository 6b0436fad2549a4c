//! Server-side sharding (`--shard-mode=server`, KEP-5866): the real binary against the emulator
//! in each of the three behaviours an API server can have — it filters by `shardSelector`,
//! ignores it, or rejects it. In all three, two shards split the cluster without overlap, by
//! the same hash ranges; only with support does each shard pull just its part of the bytes.

mod harness;

use std::collections::BTreeSet;

use harness::{Exporter, start_emulator, value, wait_for};
use kube_emulator::{Emulator, EmulatorConfig, GeneratedCluster, ServerHandle, ShardSelectors};
use serde_json::{Value, json};

const SHARD_0: &str = "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')";

fn cluster() -> GeneratedCluster {
    GeneratedCluster::new(6, 10, 3)
}

async fn emulator(mode: ShardSelectors) -> ServerHandle {
    let emulator = Emulator::with_config(EmulatorConfig {
        shard_selectors: mode,
        // Bytes are compared as objects, not across the 128 KiB gzip threshold a shard's
        // smaller list can fall under.
        gzip_min_bytes: usize::MAX,
        ..EmulatorConfig::default()
    })
    .expect("valid config");
    emulator.load_generated(&cluster());
    start_emulator(emulator).await
}

/// The sample lines of a scrape.
fn sample_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect()
}

/// The pods named in `kube_pod_info` lines.
fn pods(lines: &BTreeSet<String>) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("kube_pod_info{"))
        .filter_map(|l| {
            l.split("pod=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(String::from)
        })
        .collect()
}

/// Shard 0's pods as an API server that supports the selector lists them.
async fn shard_0_pods() -> BTreeSet<String> {
    let reference = emulator(ShardSelectors::Supported).await;
    let body = reqwest::Client::new()
        .get(format!("{}/api/v1/pods", reference.url()))
        .query(&[("shardSelector", SHARD_0)])
        .send()
        .await
        .expect("reference list")
        .bytes()
        .await
        .expect("reference list body");
    let list: Value = serde_json::from_slice(&body).expect("reference list is JSON");
    assert_eq!(list["metadata"]["shardInfo"]["selector"], SHARD_0);
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

/// List bytes the emulator sent to the client `token`, over every resource.
async fn list_bytes(emulator: &ServerHandle, token: &str) -> u64 {
    emulator
        .emulator()
        .stats()
        .clients
        .get(token)
        .map(|resources| resources.values().map(|r| r.list_bytes).sum())
        .unwrap_or(0)
}

/// A pod whose UID puts it in one half: FNV-1a 64 of `uid-pod-1` is 0x7adb… (shard 0), of
/// `a` 0xaf63… (shard 1).
fn live_pod(name: &str, uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "uid": uid},
           "spec": {"nodeName": "node-0", "containers": [{"name": "c", "image": "nginx"}]},
           "status": {"phase": "Running"}})
}

/// Runs one whole instance and two server-mode shards against an emulator in `mode`; checks the
/// split (lists, then a watched change) and returns (whole's list bytes, each shard's, the
/// shards' exporters).
async fn split(mode: ShardSelectors) -> (u64, [u64; 2], [Exporter; 2]) {
    let emulator = emulator(mode).await;
    let url = emulator.url();
    let whole = Exporter::start_as(&url, "whole", &[]);
    let shards = [0, 1].map(|n| {
        let shard = n.to_string();
        Exporter::start_as(
            &url,
            &format!("shard{n}"),
            &[
                "--total-shards",
                "2",
                "--shard",
                &shard,
                "--shard-mode",
                "server",
            ],
        )
    });
    whole.wait_ready().await;
    for shard in &shards {
        shard.wait_ready().await;
    }
    let all = sample_lines(&whole.metrics().await);
    let parts = [
        sample_lines(&shards[0].metrics().await),
        sample_lines(&shards[1].metrics().await),
    ];
    assert!(
        parts[0].is_disjoint(&parts[1]),
        "{mode:?}: no series in both shards"
    );
    let union: BTreeSet<String> = parts[0].union(&parts[1]).cloned().collect();
    assert_eq!(union, all, "{mode:?}: the shards together are the whole");
    // The same hash ranges whatever the server does: falling back does not move objects.
    assert_eq!(
        pods(&parts[0]),
        shard_0_pods().await,
        "{mode:?}: shard 0's pods"
    );
    assert!(!pods(&parts[1]).is_empty(), "{mode:?}: shard 1 has pods");
    let bytes = [
        list_bytes(&emulator, "shard0").await,
        list_bytes(&emulator, "shard1").await,
    ];
    let whole_bytes = list_bytes(&emulator, "whole").await;

    // Changes arrive over the watches, split the same way.
    let emu = emulator.emulator();
    emu.apply(live_pod("live-low", "uid-pod-1")).expect("apply");
    emu.apply(live_pod("live-high", "a")).expect("apply");
    wait_for("the live pods in their shards", || async {
        shards[0].metrics().await.contains("pod=\"live-low\"")
            && shards[1].metrics().await.contains("pod=\"live-high\"")
    })
    .await;
    assert!(!shards[0].metrics().await.contains("pod=\"live-high\""));
    assert!(!shards[1].metrics().await.contains("pod=\"live-low\""));
    (whole_bytes, bytes, shards)
}

fn server_filtered(telemetry: &str) -> Option<f64> {
    value(
        telemetry,
        "kube_state_otel_shard_server_filtered",
        &["resource=\"*v1.Pod\""],
    )
}

/// Splits the cluster against an API server in `mode`, then checks each shard's list bytes
/// against the whole's (`share` gives the bounds), the telemetry gauge and the log line.
async fn check(
    mode: ShardSelectors,
    share: fn(f64) -> bool,
    filtered: f64,
    log: &str,
) -> [Exporter; 2] {
    let (whole, shards, exporters) = split(mode).await;
    for (n, bytes) in shards.into_iter().enumerate() {
        assert!(
            share(bytes as f64 / whole as f64),
            "{mode:?}: shard {n} pulled {bytes} of the whole's {whole} bytes"
        );
    }
    for exporter in &exporters {
        let telemetry = exporter.telemetry().await;
        assert_eq!(server_filtered(&telemetry), Some(filtered), "{telemetry}");
        assert!(exporter.log().contains(log), "{}", exporter.log());
    }
    exporters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supporting_servers_send_each_shard_only_its_objects() {
    let about_half = |share| share < 0.6;
    check(
        ShardSelectors::Supported,
        about_half,
        1.0,
        "sends only this shard's objects",
    )
    .await;
}

/// Every shard pulls everything (the same list, bar a relist's worth of noise).
fn everything(share: f64) -> bool {
    share >= 0.9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_servers_are_detected_and_filtered_client_side() {
    check(
        ShardSelectors::Ignored,
        everything,
        0.0,
        "ignored shardSelector",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_servers_are_retried_without_the_selector_and_filtered_client_side() {
    let exporters = check(
        ShardSelectors::Rejected,
        everything,
        0.0,
        "rejected shardSelector",
    )
    .await;
    for exporter in &exporters {
        // The 400 is retried at once, inside the client: no failed list is counted.
        let telemetry = exporter.telemetry().await;
        assert_eq!(
            value(
                &telemetry,
                "kube_state_metrics_list_total",
                &["result=\"error\""]
            ),
            None,
            "{telemetry}"
        );
    }
}
