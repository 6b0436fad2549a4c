//! `faults`: the release exporter watching an in-process `kube-emulator` through a seeded
//! schedule of API faults mixed with object churn, then compared with a fresh instance
//! started on the final state.
//!
//! The schedule's events: API server restarts (down 0.2–3 s, back without event history),
//! watches gone silent (open, no events, no bookmarks, until the connection is cut), watches
//! cut, compactions, 429 (with `Retry-After`), 500 and 503 (with and without) on lists,
//! pages and watches, 403 windows, slow-list windows (each page delayed, so compactions
//! expire `continue` tokens mid-list), pod creates, updates and deletes; once, a namespace of
//! `--bulk` objects deleted at once, and once a burst of `--burst-rate` updates/s for
//! `--burst-for`.
//!
//! Figures: per seed, the time from the moment the last fault cleared until every kind's
//! series equal the fresh instance's (the worst kind named), lost / stale / wrong series at
//! the end, RSS against its steady value, and the self-telemetry each fault class left
//! (failed lists and watches, relists, Retry-After retries). It fails when the instances
//! still differ after `--settle`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube_emulator::faults::Fault;
use kube_emulator::{Emulator, GeneratedCluster, ServerHandle};
use serde_json::{Value, json};

use crate::proc::{Proc, block_on, free_port, mib, rss, sibling, wait_ready};
use crate::seeded::Seeded;

#[derive(clap::Args)]
pub struct Args {
    /// Events in the schedule (faults and churn).
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Mean time between events (each one ±50%, seeded).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Seeds to run, one schedule each (repeat the flag).
    #[arg(long = "seed", default_values_t = [1])]
    seeds: Vec<u64>,
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 10)]
    pods_per_node: usize,
    /// Objects of the namespace deleted at once.
    #[arg(long, default_value_t = 1000)]
    bulk: usize,
    /// Updates per second of the burst.
    #[arg(long, default_value_t = 10_000)]
    burst_rate: u64,
    /// Length of the burst.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    burst_for: Duration,
    /// The exporter's `--list-page-size` (small pages make lists span faults).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// How long the instances may take to agree after the last fault cleared.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    settle: Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(async {
        let mut worst = Duration::ZERO;
        for &seed in &args.seeds {
            let outcome = run_seed(&args, seed).await?;
            worst = worst.max(outcome.recovery);
        }
        println!(
            "\nworst recovery over seeds {:?}: {:.2} s",
            args.seeds,
            worst.as_secs_f64()
        );
        Ok(())
    })
}

/// The schedule's event classes, with their weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Create,
    Update,
    Delete,
    Restart,
    Silence,
    Cut,
    Compact,
    TooMany,
    Internal,
    Unavailable,
    Forbidden,
    SlowLists,
    BulkDelete,
    Burst,
}

const WEIGHTS: [(Class, u32); 12] = [
    (Class::Create, 20),
    (Class::Update, 25),
    (Class::Delete, 10),
    (Class::Restart, 3),
    (Class::Silence, 3),
    (Class::Cut, 4),
    (Class::Compact, 5),
    (Class::TooMany, 8),
    (Class::Internal, 5),
    (Class::Unavailable, 5),
    (Class::Forbidden, 4),
    (Class::SlowLists, 3),
];

/// Resources the API faults hit: the big ones and a few small ones.
const TARGETS: [&str; 8] = [
    "pods",
    "nodes",
    "namespaces",
    "deployments.apps",
    "replicasets.apps",
    "services",
    "configmaps",
    "endpointslices.discovery.k8s.io",
];

fn class(rng: &mut Seeded) -> Class {
    let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut roll = (rng.unit() * f64::from(total)) as u32;
    for (class, weight) in WEIGHTS {
        if roll < weight {
            return class;
        }
        roll -= weight;
    }
    Class::Update
}

/// One exporter process and its ports.
struct Instance {
    process: Proc,
    port: u16,
    telemetry_port: u16,
}

/// Starts the exporter, its log written to `log`.
fn start_exporter(kubeconfig: &Path, page_size: u32, log: &Path) -> anyhow::Result<Instance> {
    let (port, telemetry_port) = (free_port()?, free_port()?);
    let log = std::fs::File::create(log)?;
    let child = Command::new(sibling("kube-state-otel")?)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .args(["--telemetry-port", &telemetry_port.to_string()])
        .args(["--list-page-size", &page_size.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting kube-state-otel")?;
    Ok(Instance {
        process: Proc(child),
        port,
        telemetry_port,
    })
}

/// A scrape: series (name and labels) → value.
type Series = HashMap<String, String>;

async fn scrape(http: &crate::http::Client, port: u16) -> anyhow::Result<Series> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, value)| (series.to_string(), value.to_string()))
        .collect())
}

/// The kind a series belongs to: `kube_pod_info{…}` → `pod`.
fn kind(series: &str) -> &str {
    let name = series.split('{').next().unwrap_or(series);
    let rest = name.strip_prefix("kube_").unwrap_or(name);
    rest.split('_').next().unwrap_or(rest)
}

/// Per kind, a hash of its series and values (order-independent).
fn digest(series: &Series) -> BTreeMap<String, u64> {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for (s, v) in series {
        let h = hasher.hash_one((s, v));
        let entry = kinds.entry(kind(s).to_string()).or_default();
        *entry = entry.wrapping_add(h);
    }
    kinds
}

/// Lost (only in `fresh`), stale (only in `long`) and wrong (different values) series.
fn compare(long: &Series, fresh: &Series) -> (Vec<String>, Vec<String>, Vec<String>) {
    let lost = fresh
        .keys()
        .filter(|s| !long.contains_key(*s))
        .cloned()
        .collect();
    let stale = long
        .keys()
        .filter(|s| !fresh.contains_key(*s))
        .cloned()
        .collect();
    let wrong = long
        .iter()
        .filter(|(s, v)| fresh.get(*s).is_some_and(|f| f != *v))
        .map(|(s, v)| format!("{s} {v} (fresh: {})", fresh[s]))
        .collect();
    (lost, stale, wrong)
}

fn pod(namespace: &str, name: &str, generation: u64) -> Value {
    let phases = ["Running", "Pending", "Succeeded", "Failed"];
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"app": "churn", "generation": generation.to_string()}},
        "spec": {"nodeName": "node-0", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": phases[(generation % 4) as usize],
            "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": true,
                "restartCount": generation % 7, "state": {"running": {}}}]}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace}, "data": {"k": "v"}})
}

/// What the schedule did, per class.
#[derive(Default)]
struct Counts(BTreeMap<Class, usize>);

/// One seed's result.
struct Outcome {
    recovery: Duration,
}

struct Schedule<'a> {
    args: &'a Args,
    server: ServerHandle,
    emulator: Arc<Emulator>,
    rng: Seeded,
    churn: Vec<String>,
    created: u64,
    counts: Counts,
    /// Faults that end later (403 and slow-list windows), awaited before the end.
    windows: Vec<tokio::task::JoinHandle<()>>,
    burst_achieved: f64,
}

impl Schedule<'_> {
    async fn event(&mut self, class: Class) -> anyhow::Result<()> {
        let emulator = self.emulator.clone();
        match class {
            Class::Create => {
                self.created += 1;
                let name = format!("churn-{}", self.created);
                emulator.apply(pod("churn", &name, self.created))?;
                self.churn.push(name);
            }
            Class::Update => {
                if !self.churn.is_empty() {
                    let name = self.rng.pick(&self.churn).clone();
                    self.created += 1;
                    emulator.apply(pod("churn", &name, self.created))?;
                }
            }
            Class::Delete => {
                if !self.churn.is_empty() {
                    let i = self.rng.below(self.churn.len());
                    let name = self.churn.swap_remove(i);
                    emulator.delete("pods", Some("churn"), &name)?;
                }
            }
            Class::Restart => {
                let downtime = self
                    .rng
                    .between(Duration::from_millis(200), Duration::from_secs(3));
                self.server.restart(downtime).await?;
            }
            Class::Silence => {
                emulator.silence_watches();
                // The flow is timed out by a load balancer a while later.
                let after = self
                    .rng
                    .between(Duration::from_secs(1), Duration::from_secs(5));
                self.windows.push(tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    emulator.disconnect_watches();
                }));
            }
            Class::Cut => {
                emulator.disconnect_watches();
            }
            Class::Compact => {
                emulator.compact();
            }
            Class::TooMany | Class::Internal | Class::Unavailable => {
                let status = match class {
                    Class::TooMany => 429,
                    Class::Internal => 500,
                    _ => 503,
                };
                let retry_after_seconds = match class {
                    Class::TooMany => Some(1 + self.rng.below(2) as u32),
                    Class::Unavailable if self.rng.unit() < 0.5 => Some(1),
                    _ => None,
                };
                emulator.inject_fault(&Fault {
                    resource: self.rng.pick(&TARGETS).to_string(),
                    verb: self.rng.pick(&["list", "watch", "*"]).to_string(),
                    status,
                    count: 1 + self.rng.below(5) as u32,
                    retry_after_seconds,
                })?;
                // A burst of errors is answered by the watches that are started next.
                if self.rng.unit() < 0.5 {
                    emulator.disconnect_watches();
                }
            }
            Class::Forbidden => {
                let resource = *self.rng.pick(&TARGETS);
                let length = self
                    .rng
                    .between(Duration::from_secs(1), Duration::from_secs(5));
                emulator.forbid(resource)?;
                emulator.disconnect_watches();
                self.windows.push(tokio::spawn(async move {
                    tokio::time::sleep(length).await;
                    let _ = emulator.allow(resource);
                }));
            }
            Class::SlowLists => {
                let delay = self
                    .rng
                    .between(Duration::from_millis(200), Duration::from_secs(1));
                let length = self
                    .rng
                    .between(Duration::from_secs(3), Duration::from_secs(8));
                emulator.set_list_delay(delay);
                self.windows.push(tokio::spawn(async move {
                    tokio::time::sleep(length).await;
                    emulator.set_list_delay(Duration::ZERO);
                }));
            }
            Class::BulkDelete => {
                for i in 0..self.args.bulk {
                    emulator.delete("configmaps", Some("bulk"), &format!("bulk-{i}"))?;
                }
                emulator.delete("namespaces", None, "bulk")?;
            }
            Class::Burst => self.burst().await?,
        }
        *self.counts.0.entry(class).or_default() += 1;
        Ok(())
    }

    /// `--burst-rate` updates per second of the generated pods for `--burst-for`, paced in
    /// 10 ms steps.
    async fn burst(&mut self) -> anyhow::Result<()> {
        let pods = self.emulator.list("pods")?;
        if pods.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let per_step = (self.args.burst_rate / 100).max(1) as usize;
        let mut step = tokio::time::interval(Duration::from_millis(10));
        let mut sent = 0usize;
        while started.elapsed() < self.args.burst_for {
            step.tick().await;
            for _ in 0..per_step {
                let mut pod = pods[sent % pods.len()].clone();
                pod["metadata"]["labels"]["burst"] = json!(sent.to_string());
                pod["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
                self.emulator.apply(pod)?;
                sent += 1;
            }
        }
        self.burst_achieved = sent as f64 / started.elapsed().as_secs_f64();
        Ok(())
    }
}

async fn run_seed(args: &Args, seed: u64) -> anyhow::Result<Outcome> {
    let http = crate::http::Client::new();
    let dir = std::env::temp_dir().join(format!("kso-bench-faults-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let emulator = Arc::new(Emulator::with_cluster(&GeneratedCluster::new(
        args.nodes,
        args.pods_per_node,
        seed,
    )));
    emulator.apply(namespace("churn"))?;
    emulator.apply(namespace("bulk"))?;
    for i in 0..args.bulk {
        emulator.apply(config_map("bulk", &format!("bulk-{i}")))?;
    }
    let server = emulator
        .clone()
        .serve("127.0.0.1:0".parse().context("an address")?)
        .await?;
    let kubeconfig = |name: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        kube_emulator::write_kubeconfig(&path, &server.url(), name)?;
        Ok(path)
    };
    let (long_config, fresh_config) = (kubeconfig("long")?, kubeconfig("fresh")?);
    let long = start_exporter(&long_config, args.page_size, &dir.join("long.log"))?;
    wait_ready(&http, long.port).await?;
    let pid = long.process.0.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = rss(pid).0;

    let mut schedule = Schedule {
        args,
        server,
        emulator: emulator.clone(),
        rng: Seeded(seed),
        churn: Vec::new(),
        created: 0,
        counts: Counts::default(),
        windows: Vec::new(),
        burst_achieved: 0.0,
    };
    let started = Instant::now();
    let mut peak = steady;
    for i in 0..args.events {
        let class = if i == args.events / 2 {
            Class::BulkDelete
        } else if i == args.events * 3 / 4 {
            Class::Burst
        } else {
            class(&mut schedule.rng)
        };
        schedule.event(class).await?;
        peak = peak.max(rss(pid).0);
        let gap = args.every.mul_f64(0.5 + schedule.rng.unit());
        tokio::time::sleep(gap).await;
    }
    for window in std::mem::take(&mut schedule.windows) {
        window.await?;
    }
    emulator.clear_faults();
    for resource in TARGETS {
        emulator.allow(resource)?;
    }
    emulator.set_list_delay(Duration::ZERO);
    let cleared = Instant::now();
    let cleared_at = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    let schedule_took = cleared - started;

    // The fresh instance reads the final state; the long one is polled meanwhile.
    let fresh = start_exporter(&fresh_config, args.page_size, &dir.join("fresh.log"))?;
    let mut snapshots: Vec<(Duration, BTreeMap<String, u64>)> = Vec::new();
    let mut fresh_series: Option<Series> = None;
    let agreed = loop {
        let long_series = scrape(&http, long.port).await?;
        peak = peak.max(rss(pid).0);
        snapshots.push((cleared.elapsed(), digest(&long_series)));
        if fresh_series.is_none() && is_ready(&http, fresh.port).await {
            fresh_series = Some(scrape(&http, fresh.port).await?);
        }
        if let Some(f) = &fresh_series
            && digest(f) == digest(&long_series)
        {
            break Some(long_series);
        }
        if cleared.elapsed() > args.settle {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let Some(fresh_series) = fresh_series else {
        bail!("the fresh instance was not ready within {:?}", args.settle);
    };
    let long_series = match agreed {
        Some(s) => s,
        None => scrape(&http, long.port).await?,
    };
    let (lost, stale, wrong) = compare(&long_series, &fresh_series);
    let target = digest(&fresh_series);
    // Per kind: the first poll from which it agreed with the fresh instance for good.
    let mut recovered: BTreeMap<String, Duration> = BTreeMap::new();
    for (kind, want) in &target {
        let last_bad = snapshots
            .iter()
            .rposition(|(_, d)| d.get(kind) != Some(want));
        let at = match last_bad {
            None => Duration::ZERO,
            Some(i) => snapshots.get(i + 1).map_or(args.settle, |(t, _)| *t),
        };
        recovered.insert(kind.clone(), at);
    }
    let (worst_kind, recovery) = recovered
        .iter()
        .max_by_key(|(_, t)| **t)
        .map(|(k, t)| (k.clone(), *t))
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = rss(pid).0;
    let telemetry = http
        .get(format!("http://127.0.0.1:{}/metrics", long.telemetry_port))
        .send()
        .await?
        .text()
        .await?;

    println!(
        "\n## seed {seed} (faults cleared at {cleared_at}; logs in {})\n",
        dir.display()
    );
    println!("| figure | value |");
    println!("|---|---|");
    let events: usize = schedule.counts.0.values().sum();
    println!(
        "| schedule | {events} events in {:.1} s |",
        schedule_took.as_secs_f64()
    );
    for (class, n) in &schedule.counts.0 {
        println!("| {class:?} | {n} |");
    }
    println!(
        "| burst achieved | {:.0} updates/s |",
        schedule.burst_achieved
    );
    println!(
        "| recovery after the last fault cleared (worst kind) | {:.2} s ({worst_kind}) |",
        recovery.as_secs_f64()
    );
    println!(
        "| series compared | {} (fresh) / {} (long-running) |",
        fresh_series.len(),
        long_series.len()
    );
    println!(
        "| lost / stale / wrong | {} / {} / {} |",
        lost.len(),
        stale.len(),
        wrong.len()
    );
    println!(
        "| RSS steady / peak / settled | {:.1} / {:.1} / {:.1} MiB ({:.2}× / {:.2}×) |",
        mib(steady),
        mib(peak),
        mib(settled),
        peak as f64 / steady as f64,
        settled as f64 / steady as f64
    );
    for (figure, family, label) in [
        (
            "failed lists",
            "kube_state_metrics_list_total",
            "result=\"error\"",
        ),
        (
            "failed watches",
            "kube_state_metrics_watch_total",
            "result=\"error\"",
        ),
        ("relists", "kube_state_otel_relists_total", ""),
        (
            "Retry-After retries",
            "kube_state_otel_api_retries_total",
            "",
        ),
    ] {
        println!("| {figure} | {} |", sum(&telemetry, family, label));
    }
    let mut slow: Vec<_> = recovered.iter().filter(|(_, t)| !t.is_zero()).collect();
    slow.sort_by_key(|(_, t)| std::cmp::Reverse(**t));
    let slow: Vec<String> = slow
        .iter()
        .take(8)
        .map(|(k, t)| format!("{k} {:.1} s", t.as_secs_f64()))
        .collect();
    println!(
        "| kinds not yet recovered when the faults cleared | {} |",
        slow.join(", ")
    );
    for line in lost.iter().chain(&stale).chain(&wrong).take(10) {
        println!("differs: {line}");
    }
    if !(lost.is_empty() && stale.is_empty() && wrong.is_empty()) {
        bail!(
            "seed {seed}: the long-running instance still differs from a fresh one after {:?}",
            args.settle
        );
    }
    Ok(Outcome { recovery })
}

async fn is_ready(http: &crate::http::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The sum of a family's samples whose line contains `label`.
fn sum(text: &str, family: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
