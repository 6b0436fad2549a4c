//! API traffic of sharding setups: how many bytes the exporter instances of each setup pull
//! from one emulated API server (lists and watches, on the wire), against one all-kinds
//! instance.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use kube_state_otel::pipeline::{OPTIONAL_RESOURCES, all_kinds};
use serde_json::Value;

use crate::proc::{Proc, free_port, mib, sibling, wait_until};

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 500)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// How long to keep the instances running after all are ready (watch streams, bookmarks).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    settle: Duration,
}

/// One exporter instance of a setup: its client token (the emulator's stats key) and the
/// flags that make it a part of the whole.
struct Instance {
    token: String,
    flags: Vec<String>,
}

struct Setup {
    name: &'static str,
    instances: Vec<Instance>,
}

/// The default resources (every kind but the optional ones), as `--resources` would name them.
fn default_resources() -> Vec<&'static str> {
    all_kinds()
        .iter()
        .map(|k| k.resource())
        .filter(|r| !OPTIONAL_RESOURCES.contains(r))
        .collect()
}

fn setups() -> Vec<Setup> {
    let instance = |token: &str, flags: &[&str]| Instance {
        token: token.to_string(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
    };
    let rest = default_resources()
        .into_iter()
        .filter(|r| *r != "pods" && *r != "nodes")
        .collect::<Vec<_>>()
        .join(",");
    vec![
        Setup {
            name: "(a) one instance, all kinds",
            instances: vec![instance("a-all", &[])],
        },
        Setup {
            name: "(b) by resource type: pods / nodes / the rest",
            instances: vec![
                instance("b-pods", &["--resources", "pods"]),
                instance("b-nodes", &["--resources", "nodes"]),
                instance("b-rest", &["--resources", &rest]),
            ],
        },
        Setup {
            name: "(c) hash sharding, --total-shards 3",
            instances: (0..3)
                .map(|i| {
                    instance(
                        &format!("c-shard{i}"),
                        &["--total-shards", "3", "--shard", &i.to_string()],
                    )
                })
                .collect(),
        },
    ]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("kso-bench-traffic-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;

    let base = rows.first().map(|r| r.2).unwrap_or(0).max(1);
    println!(
        "## traffic: {} nodes × {} pods/node ({} pods)",
        args.nodes,
        args.pods_per_node,
        args.nodes * args.pods_per_node
    );
    println!();
    println!("| setup | instances | bytes pulled (MiB) | ratio to (a) |");
    println!("|---|---|---|---|");
    for (name, instances, bytes) in rows {
        println!(
            "| {name} | {instances} | {:.2} | {:.2}× |",
            mib(bytes),
            bytes as f64 / base as f64
        );
    }
    Ok(())
}

/// Runs every setup against one emulator: (setup, instances, list + watch bytes).
async fn measure(args: &Args, dir: &Path) -> anyhow::Result<Vec<(&'static str, usize, u64)>> {
    let emulator_port = free_port()?;
    let emulator_url = format!("http://127.0.0.1:{emulator_port}");
    let http = reqwest::Client::builder().no_gzip().build()?;
    let _emulator = Proc(
        Command::new(sibling("kube-emulator")?)
            .args(["--port", &emulator_port.to_string()])
            .args(["--nodes", &args.nodes.to_string()])
            .args(["--pods-per-node", &args.pods_per_node.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting kube-emulator")?,
    );
    wait_until(Duration::from_secs(600), || async {
        http.get(format!("{emulator_url}/_emulator/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
    .context("emulator did not come up")?;

    let exporter = sibling("kube-state-otel")?;
    let mut rows = Vec::new();
    for setup in setups() {
        http.post(format!("{emulator_url}/_emulator/stats/reset"))
            .send()
            .await?
            .error_for_status()
            .context("resetting the emulator's stats")?;
        let mut running = Vec::new();
        for instance in &setup.instances {
            let kubeconfig = dir.join(format!("{}.kubeconfig", instance.token));
            kube_emulator::write_kubeconfig(&kubeconfig, &emulator_url, &instance.token)?;
            let (port, telemetry_port) = (free_port()?, free_port()?);
            let child = Proc(
                Command::new(&exporter)
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"])
                    .args([
                        "--port",
                        &port.to_string(),
                        "--telemetry-port",
                        &telemetry_port.to_string(),
                    ])
                    .args(&instance.flags)
                    .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting kube-state-otel ({})", instance.token))?,
            );
            running.push((child, port));
        }
        for ((_, port), instance) in running.iter().zip(&setup.instances) {
            wait_until(Duration::from_secs(600), || async {
                http.get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await
            .with_context(|| format!("exporter {} did not become ready", instance.token))?;
        }
        tokio::time::sleep(args.settle).await;
        let stats: Value = http
            .get(format!("{emulator_url}/_emulator/stats"))
            .send()
            .await?
            .json()
            .await?;
        let bytes: u64 = setup
            .instances
            .iter()
            .map(|i| client_bytes(&stats, &i.token))
            .sum();
        if bytes == 0 {
            bail!(
                "{}: the emulator counted no bytes for its clients",
                setup.name
            );
        }
        drop(running);
        rows.push((setup.name, setup.instances.len(), bytes));
    }
    Ok(rows)
}

/// `list_bytes + watch_bytes` over every resource of one client.
fn client_bytes(stats: &Value, token: &str) -> u64 {
    stats["clients"][token]
        .as_object()
        .map(|resources| {
            resources
                .values()
                .map(|r| {
                    r["list_bytes"].as_u64().unwrap_or(0) + r["watch_bytes"].as_u64().unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}
