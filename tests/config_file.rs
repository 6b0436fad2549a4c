//! The `--config` file: the example parses, every key in it is documented in docs/config.md
//! and every documented key is in the example; the binary runs a pipeline from it and exits
//! with code 2 naming the key of a bad value.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kube_emulator::{Emulator, GeneratedCluster};
use kube_state_otel::config::file::ConfigFile;
use serde_yaml_ng::Value;

mod harness;
use harness::{Exporter, free_port, samples, start_emulator, wait_for};

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).expect(file)
}

/// Key paths as docs/config.md writes them: `pipelines[].exporters.otlp.endpoint`, with the
/// keys of free-form maps (`selectors` by resource, `headers` by name) as `*`.
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Sequence(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().expect("string keys");
                let key = if prefix.ends_with(".selectors") || prefix.ends_with(".headers") {
                    "*"
                } else {
                    key
                };
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                key_paths(value, &path, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_parses_and_every_key_is_documented_both_ways() {
    let example = read("docs/example-config.yaml");
    ConfigFile::parse("docs/example-config.yaml", &example).expect("the example is valid");
    let mut in_example = BTreeSet::new();
    key_paths(
        &serde_yaml_ng::from_str(&example).expect("YAML"),
        "",
        &mut in_example,
    );
    let doc = read("docs/config.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect();
    assert_eq!(
        in_example, documented,
        "docs/config.md and docs/example-config.yaml disagree"
    );
}

#[test]
fn bad_config_exits_with_code_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (text, pipeline, named) in [
        (
            "pipelines:\n- name: a\n  schema: otel\n",
            None,
            "pipelines[0].schema",
        ),
        (
            "pipelines:\n- name: a\n  sharding: {total_shards: x}\n",
            None,
            "pipelines[0].sharding.total_shards",
        ),
        ("pipelines:\n- name: a\n  bogus: 1\n", None, "bogus"),
        (
            "pipelines:\n- name: a\n  selectors: {podz: {label_selector: a}}\n",
            None,
            "selectors.podz",
        ),
        (
            "pipelines:\n- name: a\n- name: b\n",
            None,
            "exporters.prometheus.port",
        ),
        ("pipelines:\n- name: a\n", Some("b"), "--pipeline"),
        (
            "pipelines:\n- name: a\n  resources: [bogus]\n",
            None,
            "--resources",
        ),
        (
            "pipelines:\n- name: a\n  exporters: {otlp: {protocol: http/xml}}\n",
            None,
            "pipelines[0].exporters.otlp.protocol",
        ),
        (
            "pipelines:\n- name: a\n  exporters: {otlp: {endpoint: 'https://c:4317', certificate: /nonexistent/ca.pem}}\n",
            None,
            "--otlp-certificate",
        ),
    ] {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).expect("config written");
        let mut command = Command::new(env!("CARGO_BIN_EXE_kube-state-otel"));
        command.arg("--config").arg(&path);
        if let Some(name) = pipeline {
            command.args(["--pipeline", name]);
        }
        let out = command.output().expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(named), "{text} names {named}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_from_the_file_runs_with_flags_winning() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    // The file's ports are taken by nothing; the flags' ports (the harness's) win.
    std::fs::write(
        &path,
        "pipelines:\n\
         - name: other\n  resources: [nodes]\n\
         - name: pods\n  resources: [pods, nodes]\n  selectors:\n    pods: {field_selector: status.phase=Running}\n  exporters: {prometheus: {port: 1}}\n",
    )
    .expect("config written");
    let config = path.to_str().expect("utf-8 path");
    let exporter = Exporter::start(&emulator.url(), &["--config", config, "--pipeline", "pods"]);
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    let running = emulator
        .emulator()
        .list("pods")
        .expect("pods listed")
        .into_iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    assert!(running > 0);
    assert_eq!(samples(&m, "kube_pod_info").len(), running);
    assert_eq!(samples(&m, "kube_node_info").len(), 2);
    assert!(samples(&m, "kube_deployment_created").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_pipelines_run_in_one_process_each_pulling_only_its_kinds() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    let [pods, pods_telemetry, rest, rest_telemetry] = [(); 4].map(|()| free_port());
    let exporters = |port: u16, telemetry: u16| {
        format!(
            "  exporters: {{prometheus: {{host: 127.0.0.1, port: {port}, telemetry_host: 127.0.0.1, telemetry_port: {telemetry}}}}}\n"
        )
    };
    std::fs::write(
        &path,
        format!(
            "pipelines:\n- name: pods\n  resources: [pods]\n{}- name: rest\n  resources: [nodes, namespaces]\n{}",
            exporters(pods, pods_telemetry),
            exporters(rest, rest_telemetry)
        ),
    )
    .expect("config written");
    let config = path.to_str().expect("utf-8 path");
    let exporter = Exporter::start_with_args(
        &emulator.url(),
        (pods, pods_telemetry),
        &["--config", config],
    );
    exporter.wait_ready().await;
    let pods_scrape = exporter.metrics().await;
    wait_for("the second pipeline's /readyz", || async {
        matches!(exporter.get(rest, "/readyz").await, Some((200, _)))
    })
    .await;
    let (_, rest_scrape) = exporter
        .get(rest, "/metrics")
        .await
        .expect("second /metrics");

    assert_eq!(samples(&pods_scrape, "kube_pod_info").len(), 6);
    assert!(samples(&pods_scrape, "kube_node_info").is_empty());
    assert_eq!(samples(&rest_scrape, "kube_node_info").len(), 2);
    assert!(!samples(&rest_scrape, "kube_namespace_created").is_empty());
    assert!(samples(&rest_scrape, "kube_pod_info").is_empty());

    // One process, one list per kind: no pipeline pulls another's kinds.
    let stats = emulator.emulator().stats();
    for resource in ["pods", "nodes", "namespaces"] {
        assert_eq!(
            stats.get("exporter", resource).list_requests,
            1,
            "{resource}"
        );
    }
    assert_eq!(stats.get("exporter", "deployments").list_requests, 0);
    // Each pipeline counts its own API calls on its own telemetry endpoint.
    let (_, rest_telemetry_scrape) = exporter
        .get(rest_telemetry, "/metrics")
        .await
        .expect("second telemetry");
    let pods_telemetry_scrape = exporter.telemetry().await;
    assert!(pods_telemetry_scrape.contains("resource=\"*v1.Pod\""));
    assert!(!pods_telemetry_scrape.contains("resource=\"*v1.Node\""));
    assert!(rest_telemetry_scrape.contains("resource=\"*v1.Node\""));
    assert!(!rest_telemetry_scrape.contains("resource=\"*v1.Pod\""));
    let log = exporter.log();
    assert!(
        log.contains("pipeline{name=\"pods\"}") || log.contains("pipeline{name=pods}"),
        "logs name the pipeline: {log}"
    );
}
