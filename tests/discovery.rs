//! Every supported Kubernetes minor: the binary with its default flags against the emulator
//! serving exactly what that minor serves is ready within seconds, says which kinds are not
//! served, and reports every kind that is; a kind that appears or disappears later (an upgrade,
//! a runtime-config change) is picked up by the next discovery without a restart and without
//! relisting the other kinds.

use std::collections::BTreeSet;
use std::time::Duration;

use kube_emulator::surface::{self, GroupVersionResource};
use kube_emulator::{Emulator, EmulatorConfig, NEWEST_MINOR, OLDEST_MINOR, ServerHandle};
use kube_state_otel::pipeline::{OPTIONAL_RESOURCES, all_kinds};
use serde_json::{Value, json};

mod harness;
use harness::{Exporter, poll_within, start_emulator, value, wait_for};

mod ksm;

const MAP: &str = "mutatingadmissionpolicies";
const MAPB: &str = "mutatingadmissionpolicybindings";

/// An emulator reporting `version`, holding one object of every kind that version serves.
async fn cluster(version: &str) -> ServerHandle {
    let config = EmulatorConfig {
        kubernetes_version: version.to_string(),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::with_config(config).expect("a supported version");
    let server = start_emulator(emulator).await;
    let minor = surface::parse_minor(version).expect("version");
    let served = surface::served(minor).expect("minor in range");
    let objects: Vec<Value> = one_object_per_kind()
        .into_iter()
        .filter(|(resource, _)| served.iter().any(|s| s.resource == *resource))
        .map(|(_, object)| object)
        .collect();
    server
        .emulator()
        .apply_all(objects)
        .expect("objects of served kinds are stored");
    server
}

/// The first KSM vector object of every kind this build watches, renamed so they do not clash.
fn one_object_per_kind() -> Vec<(&'static str, Value)> {
    all_kinds()
        .into_iter()
        .map(|kind| {
            let stem = ksm::kind_of(kind.resource()).expect("a KSM kind");
            let path = ksm::vectors_dir().join(format!("{stem}.json"));
            let text = std::fs::read_to_string(&path).expect("vector file");
            let vectors: Value = serde_json::from_str(&text).expect("vector JSON");
            let mut object = vectors[0]["object"].clone();
            object["metadata"]["name"] = json!(format!("discovery-{stem}"));
            object["metadata"]["uid"] = json!(format!("uid-discovery-{stem}"));
            (kind.resource(), object)
        })
        .collect()
}

/// The default kinds (those watched without `--resources`) a minor serves, and those it does not.
fn default_kinds(
    served: &[GroupVersionResource],
) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    all_kinds()
        .into_iter()
        .filter(|k| !OPTIONAL_RESOURCES.contains(&k.resource()))
        .map(|k| k.resource())
        .partition(|resource| {
            let kind = all_kinds()
                .into_iter()
                .find(|k| k.resource() == *resource)
                .expect("a kind");
            served.iter().any(|s| {
                s.group == kind.api_group()
                    && s.version == kind.api_version()
                    && s.resource == *resource
            })
        })
}

/// `/readyz`'s body.
async fn readyz(exporter: &Exporter) -> String {
    let (_, body) = exporter
        .get(exporter.port, "/readyz")
        .await
        .expect("readyz answers");
    body
}

/// The exporter with `args` against `url`, once ready, and its `/readyz` body then.
async fn ready_exporter(url: &str, args: &[&str]) -> (Exporter, String) {
    let exporter = Exporter::start(url, args);
    exporter.wait_ready().await;
    let body = readyz(&exporter).await;
    (exporter, body)
}

/// The families of `resource`'s kind.
fn family_names(resource: &str) -> Vec<&'static str> {
    all_kinds()
        .into_iter()
        .find(|k| k.resource() == resource)
        .expect("a kind")
        .families()
        .into_iter()
        .map(|f| f.desc.name)
        .collect()
}

async fn check_minor(minor: u32) {
    let version = format!("v1.{minor}.0");
    let server = cluster(&version).await;
    let served = surface::served(minor).expect("minor in range");
    let (watched, not_served) = default_kinds(&served);
    let (exporter, readyz) = ready_exporter(&server.url(), &[]).await;
    for resource in &not_served {
        assert!(
            readyz.contains(&format!("{resource}: not served (0 objects)")),
            "{version}: {resource} not served\n{readyz}"
        );
    }
    let metrics = exporter.metrics().await;
    let telemetry = exporter.telemetry().await;
    for resource in &watched {
        assert!(
            readyz.contains(&format!("{resource}: synced (1 objects)")),
            "{version}: {resource} synced with its object\n{readyz}"
        );
        let families = family_names(resource);
        assert!(
            metrics
                .lines()
                .any(|l| families.iter().any(|f| l.starts_with(&format!("{f}{{")))),
            "{version}: /metrics has {resource}'s series"
        );
        let served_gauge = format!("resource=\"{resource}\"");
        assert_eq!(
            value(
                &telemetry,
                "kube_state_otel_resource_served",
                &[&served_gauge]
            ),
            Some(1.0),
            "{version}: {resource} counted as served"
        );
    }
    for resource in &not_served {
        let label = format!("resource=\"{resource}\"");
        assert_eq!(
            value(
                &telemetry,
                "kube_state_otel_resource_served",
                &[&label, "requested=\"false\""]
            ),
            Some(0.0),
            "{version}: {resource} counted as not served"
        );
        // Not watched: no list or watch call was ever made for it.
        assert!(
            !telemetry.contains(&format!("resource=\"*v1.{}", kind_name(resource))),
            "{version}: {resource} was never listed"
        );
    }
    if minor >= 36 {
        assert!(
            not_served.is_empty(),
            "{version} serves every kind: {not_served:?}"
        );
    } else {
        assert_eq!(
            not_served,
            BTreeSet::from([MAP, MAPB]),
            "{version}: only MutatingAdmissionPolicy v1 is missing"
        );
    }
    assert!(
        !exporter.log().contains("list/watch failing"),
        "{version}: nothing retried\n{}",
        exporter.log()
    );
}

fn kind_name(resource: &str) -> &'static str {
    all_kinds()
        .into_iter()
        .find(|k| k.resource() == resource)
        .expect("a kind")
        .object_kind()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_flags_are_ready_on_every_supported_minor() {
    let minors: Vec<u32> = (OLDEST_MINOR..=NEWEST_MINOR).collect();
    assert!(minors.contains(&31) && minors.contains(&36), "{minors:?}");
    futures::future::join_all(minors.into_iter().map(check_minor)).await;
}

/// A server (or a proxy in front of it) without aggregated discovery: the legacy documents
/// decide the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_discovery_decides_the_same() {
    let emulator = Emulator::with_config(EmulatorConfig {
        kubernetes_version: "v1.33.0".into(),
        aggregated_discovery: false,
        ..EmulatorConfig::default()
    })
    .expect("version");
    let server = start_emulator(emulator).await;
    let (_exporter, readyz) = ready_exporter(&server.url(), &[]).await;
    for resource in [MAP, MAPB] {
        assert!(
            readyz.contains(&format!("{resource}: not served")),
            "{readyz}"
        );
    }
    assert!(
        readyz.contains("validatingadmissionpolicies: synced"),
        "{readyz}"
    );
    assert!(readyz.contains("pods: synced"), "{readyz}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_kind_that_is_not_served_is_a_warning_and_counted() {
    let server = cluster("v1.33.0").await;
    let (exporter, _) =
        ready_exporter(&server.url(), &["--resources", &format!("pods,{MAP}")]).await;
    let telemetry = exporter.telemetry().await;
    let label = format!("resource=\"{MAP}\"");
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_resource_served",
            &[&label, "requested=\"true\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_resource_served",
            &["resource=\"pods\"", "requested=\"true\""]
        ),
        Some(1.0)
    );
    let log = exporter.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains(MAP) && l.contains("not served")),
        "{log}"
    );
}

/// Lists of `resource` so far (`*v1.Pod`), from the exporter's own telemetry.
async fn lists(exporter: &Exporter, resource_label: &str) -> f64 {
    let telemetry = exporter.telemetry().await;
    let label = format!("resource=\"{resource_label}\"");
    value(
        &telemetry,
        "kube_state_metrics_list_total",
        &[&label, "result=\"success\""],
    )
    .unwrap_or(0.0)
}

async fn put(server: &ServerHandle, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .put(format!("{}/_emulator/{path}", server.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("control call");
    assert!(response.status().is_success(), "{path}: {response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_in_place_is_watched_without_restart_or_relist() {
    let server = cluster("v1.35.0").await;
    let (mut exporter, body) = ready_exporter(&server.url(), &["--discovery-interval", "1s"]).await;
    assert!(body.contains(&format!("{MAP}: not served")), "{body}");
    let pod_lists = lists(&exporter, "*v1.Pod").await;
    assert!(pod_lists >= 1.0);

    // The control plane is upgraded; MutatingAdmissionPolicy v1 is served from now on.
    put(&server, "version", json!({"version": "v1.36.0"})).await;
    let objects: Vec<Value> = one_object_per_kind()
        .into_iter()
        .filter(|(r, _)| [MAP, MAPB].contains(r))
        .map(|(_, o)| o)
        .collect();
    server.emulator().apply_all(objects).expect("served now");
    wait_for("the new kinds' series", || async {
        let metrics = exporter.metrics().await;
        metrics.contains("kube_mutatingadmissionpolicy_info{")
            && metrics.contains("kube_mutatingadmissionpolicybinding_info{")
    })
    .await;
    let body = readyz(&exporter).await;
    assert!(
        body.contains(&format!("{MAP}: synced (1 objects)")),
        "{body}"
    );
    assert!(exporter.ready().await);
    assert!(exporter.running(), "no restart");
    assert_eq!(
        lists(&exporter, "*v1.Pod").await,
        pod_lists,
        "the other kinds were not relisted"
    );

    // Turned off again (runtime-config): the kind's watch stops and its series go.
    put(
        &server,
        "runtime-config",
        json!({"admissionregistration.k8s.io/v1": false}),
    )
    .await;
    wait_for("the kinds no longer served to be dropped", || async {
        !exporter
            .metrics()
            .await
            .contains("kube_mutatingadmissionpolicy_info{")
    })
    .await;
    let readyz = exporter
        .get(exporter.port, "/readyz")
        .await
        .expect("readyz");
    assert_eq!(readyz.0, 200, "{readyz:?}");
    assert!(
        readyz.1.contains(&format!("{MAP}: not served (0 objects)")),
        "{readyz:?}"
    );
    assert_eq!(lists(&exporter, "*v1.Pod").await, pod_lists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_that_fails_at_start_watches_every_kind_and_retries() {
    // Nothing listens at first: discovery and the watchers fail, then the server comes up.
    let port = harness::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let exporter = Exporter::start(&url, &["--discovery-interval", "1s"]);
    assert!(
        !poll_within(Duration::from_secs(2), || exporter.ready()).await,
        "not ready without a server"
    );
    let emulator = Emulator::with_config(EmulatorConfig {
        kubernetes_version: "v1.33.0".into(),
        ..EmulatorConfig::default()
    })
    .expect("version");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let _server = std::sync::Arc::new(emulator)
        .serve(addr)
        .await
        .expect("emulator on the port");
    exporter.wait_ready().await;
    let body = readyz(&exporter).await;
    assert!(body.contains(&format!("{MAP}: not served")), "{body}");
    let telemetry = exporter.telemetry().await;
    for result in ["success", "error"] {
        let label = format!("result=\"{result}\"");
        let reads = value(&telemetry, "kube_state_otel_discovery_total", &[&label]);
        assert!(reads.is_some_and(|n| n >= 1.0), "{result}: {reads:?}");
    }
    assert!(
        exporter.log().contains("API discovery failed"),
        "{}",
        exporter.log()
    );
}
