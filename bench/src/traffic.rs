//! API traffic of sharding setups: how many bytes the exporter instances of each setup pull
//! from one emulated API server (lists and watches, on the wire), against one all-kinds
//! instance. Server-side sharding is measured against the emulator supporting `shardSelector`
//! and ignoring it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use kube_state_otel::pipeline::{OPTIONAL_RESOURCES, all_kinds};
use serde_json::Value;

use crate::proc::{Proc, block_on, free_port, mib, sibling, start_emulator, wait_ready};

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
    /// ConfigMaps applied after the sharding setups, for the full vs metadata-only comparison
    /// (0 skips it).
    #[arg(long, default_value_t = 2000)]
    configmaps: usize,
    /// KiB of data per applied ConfigMap.
    #[arg(long, default_value_t = 10)]
    configmap_kib: usize,
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
    /// How the emulator treats `shardSelector` meanwhile (`supported`, `ignored`).
    shard_selectors: &'static str,
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
    let hash_shards = |prefix: &str, mode: &str| -> Vec<Instance> {
        (0..3)
            .map(|i| {
                instance(
                    &format!("{prefix}-shard{i}"),
                    &[
                        "--total-shards",
                        "3",
                        "--shard",
                        &i.to_string(),
                        "--shard-mode",
                        mode,
                    ],
                )
            })
            .collect()
    };
    vec![
        Setup {
            name: "(a) one instance, all kinds",
            instances: vec![instance("a-all", &[])],
            shard_selectors: "ignored",
        },
        Setup {
            name: "(b) by resource type: pods / nodes / the rest",
            instances: vec![
                instance("b-pods", &["--resources", "pods"]),
                instance("b-nodes", &["--resources", "nodes"]),
                instance("b-rest", &["--resources", &rest]),
            ],
            shard_selectors: "ignored",
        },
        Setup {
            name: "(c) hash sharding (kube-state-metrics style), --total-shards 3",
            instances: hash_shards("c", "ksm"),
            shard_selectors: "ignored",
        },
        Setup {
            name: "(d) server-side hash sharding, --total-shards 3 --shard-mode server",
            instances: hash_shards("d", "server"),
            shard_selectors: "supported",
        },
        Setup {
            name: "(e) as (d), the API server ignoring shardSelector (before 1.36, gate off)",
            instances: hash_shards("e", "server"),
            shard_selectors: "ignored",
        },
    ]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("kso-bench-traffic-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let (rows, configmaps) = result?;

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
    if let Some(ConfigMapBytes { full, metadata }) = configmaps {
        println!();
        println!(
            "## configmaps: {} × {} KiB of data, full objects vs metadata-only",
            args.configmaps, args.configmap_kib
        );
        println!();
        println!("| what is pulled | bytes (MiB) | ratio to full |");
        println!("|---|---|---|");
        println!(
            "| full objects: one paged list (limit 500, gzip), as a typed watcher lists | {:.2} | 1.00× |",
            mib(full)
        );
        println!(
            "| metadata-only: kube-state-otel --resources configmaps (list + watch) | {:.2} | {:.3}× |",
            mib(metadata),
            metadata as f64 / full.max(1) as f64
        );
    }
    Ok(())
}

/// Bytes of configmaps pulled as full objects and by the exporter's metadata-only watch.
struct ConfigMapBytes {
    full: u64,
    metadata: u64,
}

/// `n` bytes of text gzip cannot shrink much (hex of a xorshift sequence).
fn noise(seed: u64, n: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(n);
    out
}

/// Applies `args.configmaps` ConfigMaps of `args.configmap_kib` KiB, then measures a full
/// paged list of them (client `cm-full`) against one exporter watching only configmaps
/// (client `cm-meta`, metadata-only).
async fn measure_configmaps(
    args: &Args,
    dir: &Path,
    http: &crate::http::Client,
    emulator_url: &str,
) -> anyhow::Result<ConfigMapBytes> {
    let items: Vec<Value> = (0..args.configmaps)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("bench-cm-{i}"), "namespace": "default",
                             "labels": {"app": "bench"}},
                "data": {"payload": noise(i as u64, args.configmap_kib * 1024)}
            })
        })
        .collect();
    for chunk in items.chunks(200) {
        http.post(format!("{emulator_url}/_emulator/apply"))
            .json(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": chunk}))
            .send()
            .await?
            .error_for_status()
            .context("applying configmaps")?;
    }
    reset_stats(http, emulator_url).await?;
    // Decodes gzip transparently, and asks for it as kube's client does.
    let gzip = crate::http::Client::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500".to_string())];
        query.extend(next.take().map(|token| ("continue", token)));
        let page: Value = gzip
            .get(format!("{emulator_url}/api/v1/configmaps"))
            .query(&query)
            .bearer_auth("cm-full")
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        next = page["metadata"]["continue"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(String::from);
        if next.is_none() {
            break;
        }
    }
    let instance = Instance {
        token: "cm-meta".to_string(),
        flags: vec!["--resources".to_string(), "configmaps".to_string()],
    };
    let running = start_instance(dir, emulator_url, &instance)?;
    wait_ready(http, running.1)
        .await
        .with_context(|| format!("exporter {} did not become ready", instance.token))?;
    tokio::time::sleep(args.settle).await;
    let stats = stats(http, emulator_url).await?;
    drop(running);
    Ok(ConfigMapBytes {
        full: client_bytes(&stats, "cm-full"),
        metadata: client_bytes(&stats, "cm-meta"),
    })
}

async fn reset_stats(http: &crate::http::Client, emulator_url: &str) -> anyhow::Result<()> {
    http.post(format!("{emulator_url}/_emulator/stats/reset"))
        .send()
        .await?
        .error_for_status()
        .context("resetting the emulator's stats")?;
    Ok(())
}

async fn stats(http: &crate::http::Client, emulator_url: &str) -> anyhow::Result<Value> {
    http.get(format!("{emulator_url}/_emulator/stats"))
        .send()
        .await?
        .json()
        .await
}

/// Starts one exporter instance against the emulator: the process and its metrics port.
fn start_instance(
    dir: &Path,
    emulator_url: &str,
    instance: &Instance,
) -> anyhow::Result<(Proc, u16)> {
    let kubeconfig = dir.join(format!("{}.kubeconfig", instance.token));
    kube_emulator::write_kubeconfig(&kubeconfig, emulator_url, &instance.token)?;
    let (port, telemetry_port) = (free_port()?, free_port()?);
    let child = Proc(
        Command::new(sibling("kube-state-otel")?)
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
    Ok((child, port))
}

type Rows = Vec<(&'static str, usize, u64)>;

/// Runs every setup against one emulator: (setup, instances, list + watch bytes); then the
/// configmaps comparison.
async fn measure(args: &Args, dir: &Path) -> anyhow::Result<(Rows, Option<ConfigMapBytes>)> {
    let http = crate::http::Client::plain();
    let emulator = start_emulator(&http, args.nodes, args.pods_per_node, None).await?;
    let emulator_url = emulator.url.clone();

    let mut rows = Vec::new();
    for setup in setups() {
        http.post(format!(
            "{emulator_url}/_emulator/shard-selectors?mode={}",
            setup.shard_selectors
        ))
        .send()
        .await?
        .error_for_status()
        .context("setting the emulator's shardSelector support")?;
        reset_stats(&http, &emulator_url).await?;
        let mut running = Vec::new();
        for instance in &setup.instances {
            running.push(start_instance(dir, &emulator_url, instance)?);
        }
        for ((_, port), instance) in running.iter().zip(&setup.instances) {
            wait_ready(&http, *port)
                .await
                .with_context(|| format!("exporter {} did not become ready", instance.token))?;
        }
        tokio::time::sleep(args.settle).await;
        let stats = stats(&http, &emulator_url).await?;
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
    let configmaps = if args.configmaps > 0 {
        Some(measure_configmaps(args, dir, &http, &emulator_url).await?)
    } else {
        None
    };
    Ok((rows, configmaps))
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
