//! `crs`: Custom Resource State at scale. The release emulator serves a generated cluster and
//! `--objects` custom resources of one CRD; the release exporter watches the pods and the
//! custom resources (a config of five metrics per object: three gauges, a three-state StateSet,
//! an Info). Figures: time to ready, RSS, one full scrape, and the store's bytes per series of
//! the custom resources against the pods'. The exporter's CPU time beside the wall times: on a
//! busy machine it varies less.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::e2e::{Lines, exporter_command, read_body};
use crate::proc::{Cluster, Proc, block_on, cpu, free_port, mib, rss, wait_ready};

#[derive(clap::Args)]
pub struct Args {
    /// Custom resources.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Nodes of the generated cluster (its pods are the comparison).
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

const CRD: &str = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
 "metadata": {"name": "widgets.bench.example.com"},
 "spec": {"group": "bench.example.com", "scope": "Namespaced",
  "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
  "versions": [{"name": "v1", "served": true, "storage": true,
   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}"#;

const CONFIG: &str = r#"kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: bench.example.com, version: v1, kind: Widget}
      labelsFromPath:
        name: [metadata, name]
        namespace: [metadata, namespace]
      metrics:
        - name: replicas
          help: Desired replicas.
          each: {type: Gauge, gauge: {path: [spec, replicas]}}
        - name: ready
          help: Whether the widget is ready.
          each: {type: Gauge, gauge: {path: [status, ready]}}
        - name: last_transition_time
          help: When the widget last changed phase.
          each: {type: Gauge, gauge: {path: [status, lastTransitionTime]}}
        - name: phase
          help: The widget's phase.
          each: {type: StateSet, stateSet: {labelName: phase, path: [status, phase], list: [Pending, Running, Failed]}}
        - name: info
          help: The widget's owner and tier.
          each: {type: Info, info: {labelsFromPath: {owner: [spec, owner], tier: [spec, tier]}}}
"#;

/// Custom resources `from..to` as a JSON array for the emulator's apply.
fn widgets(from: usize, to: usize) -> String {
    let phases = ["Pending", "Running", "Failed"];
    let items: Vec<String> = (from..to)
        .map(|i| {
            format!(
                r#"{{"apiVersion": "bench.example.com/v1", "kind": "Widget",
 "metadata": {{"name": "widget-{i}", "namespace": "ns-{}", "labels": {{"app": "bench"}}}},
 "spec": {{"replicas": {}, "owner": "team-{}", "tier": "tier-{}"}},
 "status": {{"ready": {}, "phase": "{}", "lastTransitionTime": "2026-12-0{}T10:00:00Z"}}}}"#,
                i % 50,
                i % 7,
                i % 20,
                i % 3,
                i % 4 != 0,
                phases[i % 3],
                1 + i % 9
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

async fn apply(http: &crate::http::Client, url: &str, body: String) -> anyhow::Result<()> {
    let response = http
        .post(format!("{url}/_emulator/apply"))
        .body(body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("apply: {} {}", response.status(), response.text().await?);
    }
    Ok(())
}

/// The exporter's `kube_state_otel_store_<what>{resource=...}`.
fn store_figure(telemetry: &str, what: &str, resource: &str) -> Option<f64> {
    let prefix = format!("kube_state_otel_store_{what}{{resource=\"{resource}\"}} ");
    telemetry
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::plain();
    let cluster = Cluster::start(&http, "crs", args.nodes, args.pods_per_node, "exporter").await?;
    let url = cluster.emulator.url.clone();
    apply(&http, &url, CRD.to_string()).await?;
    for from in (0..args.objects).step_by(10_000) {
        apply(
            &http,
            &url,
            widgets(from, (from + 10_000).min(args.objects)),
        )
        .await?;
    }
    let dir = cluster
        .kubeconfig
        .parent()
        .context("the cluster's directory")?;
    let config = dir.join("crs.yaml");
    std::fs::write(&config, CONFIG)?;

    let (port, telemetry_port) = (free_port()?, free_port()?);
    let mut command = exporter_command(&cluster.kubeconfig, port, telemetry_port)?;
    command
        .args(["--resources", "pods"])
        .arg("--custom-resource-state-config-file")
        .arg(&config);
    let started = Instant::now();
    let exporter = Proc(command.spawn().context("starting kube-state-otel")?);
    wait_ready(&http, port).await?;
    let ready = started.elapsed();
    let ready_cpu = cpu(exporter.0.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (steady, _) = rss(exporter.0.id());

    let scrape_cpu = cpu(exporter.0.id());
    let scrape_started = Instant::now();
    let response = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await?;
    let body = read_body(response, Lines::Count).await?;
    let scrape = scrape_started.elapsed();
    let scrape_cpu = cpu(exporter.0.id()) - scrape_cpu;

    let telemetry = http
        .get(format!("http://127.0.0.1:{telemetry_port}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let pods = args.nodes * args.pods_per_node;
    let figure = |what, resource| {
        store_figure(&telemetry, what, resource)
            .with_context(|| format!("kube_state_otel_store_{what} of {resource}"))
    };
    let crs_objects = figure("objects", "widgets.bench.example.com/v1")?;
    let crs_bytes = figure("bytes", "widgets.bench.example.com/v1")?;
    let pod_bytes = figure("bytes", "pods")?;
    // Series per object: what the config defines (3 gauges, a StateSet of 3, an Info).
    let crs_series = crs_objects * 7.0;
    let pod_series = body.series() as f64 - crs_series;
    println!(
        "| {} custom resources × 5 metrics (7 series), {pods} pods | |",
        args.objects
    );
    println!("|---|---|");
    println!(
        "| time to ready | {:.2} s ({:.2} s of CPU) |",
        ready.as_secs_f64(),
        ready_cpu.as_secs_f64()
    );
    println!("| RSS, steady | {:.0} MiB |", mib(steady));
    println!(
        "| full scrape | {:.2} s ({:.2} s of CPU), {:.1} MiB, {} series |",
        scrape.as_secs_f64(),
        scrape_cpu.as_secs_f64(),
        mib(body.bytes as u64),
        body.series()
    );
    println!(
        "| store, custom resources | {:.1} MiB, {:.0} B per object, {:.1} B per series |",
        crs_bytes / 1048576.0,
        crs_bytes / crs_objects,
        crs_bytes / crs_series
    );
    println!(
        "| store, pods | {:.1} MiB, {:.0} B per object, {:.1} B per series |",
        pod_bytes / 1048576.0,
        pod_bytes / pods as f64,
        pod_bytes / pod_series
    );
    drop(exporter);
    Ok(())
}
