//! The release binaries as separate processes, as a user runs them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::proc::{
    Cluster, Proc, block_on, cpu, free_port, median, mib, rss, sibling, wait_ready, wait_until,
};
use crate::receiver::{Received, Receiver};

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 500)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// Scrapes per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    scrapes: usize,
    /// Object updates per second during the churn phase.
    #[arg(long, default_value_t = 1000)]
    churn_rate: u64,
    /// Length of the idle and churn phases.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    phase: Duration,
    /// Only the OTLP export cycles: no scrapes, idle or churn phases.
    #[arg(long)]
    otlp_only: bool,
    /// An argument for the OTLP exporter (e.g. `--otlp-identity-on-resource`); repeatable.
    #[arg(long = "otlp-exporter-arg", allow_hyphen_values = true)]
    otlp_exporter_args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::plain();

    let generated = Instant::now();
    let cluster = Cluster::start(&http, "e2e", args.nodes, args.pods_per_node, "exporter").await?;
    let kubeconfig = &cluster.kubeconfig;
    let emulator_url = cluster.emulator.url.clone();
    let generation = generated.elapsed();

    if args.otlp_only {
        let started = Instant::now();
        let (ready, otlp) = otlp_cycles(&http, kubeconfig, None, &args.otlp_exporter_args).await?;
        print_header(&args, generation, ready);
        print_otlp(&otlp);
        println!("| whole run | {:.0} s |", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let port = free_port()?;
    let started = Instant::now();
    let exporter = Proc(
        exporter_command(kubeconfig, port, free_port()?)?
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .spawn()
            .context("starting kube-state-otel")?,
    );
    let pid = exporter.0.id();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    wait_ready(&http, port)
        .await
        .context("exporter did not become ready")?;
    let ready = started.elapsed();
    let (_, startup_peak) = rss(pid);
    let stats: Value = http
        .get(format!("{emulator_url}/_emulator/stats"))
        .send()
        .await?
        .json()
        .await?;
    let client = &stats["clients"]["exporter"];
    let serve_ns: u64 = client
        .as_object()
        .map(|resources| {
            resources
                .values()
                .map(|r| {
                    r["list_serve_ns"].as_u64().unwrap_or(0)
                        + r["watch_serve_ns"].as_u64().unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0);
    let list_bytes: u64 = client
        .as_object()
        .map(|resources| {
            resources
                .values()
                .map(|r| r["list_bytes"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (steady, _) = rss(pid);

    // Series are counted in one scrape of their own: counting lines in the timed scrapes
    // would take CPU from the exporter on the same 2 cores (a scraper runs elsewhere).
    let series = read_body(http.get(&metrics).send().await?, Lines::Count)
        .await?
        .series;
    let (mut plain, mut gzip) = (Vec::new(), Vec::new());
    let (mut plain_size, mut gzip_size) = (0, 0);
    for _ in 0..args.scrapes {
        let t = Instant::now();
        plain_size = read_body(http.get(&metrics).send().await?, Lines::Skip)
            .await?
            .bytes;
        plain.push(t.elapsed());
        let t = Instant::now();
        let response = http
            .get(&metrics)
            .header(http::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await?;
        gzip_size = read_body(response, Lines::Skip).await?.bytes;
        gzip.push(t.elapsed());
    }
    let (steady_after, scrape_peak) = rss(pid);

    let idle_cpu = cpu_over(pid, args.phase).await;
    let churn = churn_phase(&http, &emulator_url, &metrics, pid, &args).await?;
    drop(exporter);
    let (_, otlp) = otlp_cycles(&http, kubeconfig, Some(ready), &args.otlp_exporter_args).await?;

    print_header(&args, generation, ready);
    println!(
        "| of which the emulator spent serving lists/watches | {:.2} s |",
        serve_ns as f64 / 1e9
    );
    println!("| bytes listed from the API | {:.1} MiB |", mib(list_bytes));
    println!(
        "| peak RSS during startup (VmHWM at ready) | {:.0} MiB |",
        mib(startup_peak)
    );
    println!("| steady RSS after sync | {:.0} MiB |", mib(steady));
    println!(
        "| steady RSS after {} scrapes / peak (VmHWM) | {:.0} / {:.0} MiB |",
        2 * args.scrapes + 1,
        mib(steady_after),
        mib(scrape_peak)
    );
    println!(
        "| bytes per pod (steady RSS / pods) | {:.0} |",
        steady as f64 / (args.nodes * args.pods_per_node).max(1) as f64
    );
    println!(
        "| bytes per series (steady RSS / series) | {:.0} |",
        steady as f64 / series.max(1) as f64
    );
    println!("| series | {series} |");
    println!(
        "| /metrics plain: median of {} | {:.3} s, {:.1} MiB |",
        args.scrapes,
        median(&mut plain).as_secs_f64(),
        mib(plain_size as u64)
    );
    println!(
        "| /metrics gzip: median of {} | {:.3} s, {:.1} MiB |",
        args.scrapes,
        median(&mut gzip).as_secs_f64(),
        mib(gzip_size as u64)
    );
    println!("| CPU at idle | {:.1}% of a core |", idle_cpu * 100.0);
    println!(
        "| CPU under {} updates/s (achieved {:.0}/s) | {:.1}% of a core |",
        args.churn_rate,
        churn.achieved_rate,
        churn.cpu * 100.0
    );
    println!(
        "| event → scrape latency under churn, p50 / p99 ({} probes) | {:.1} / {:.1} ms |",
        churn.latencies.len(),
        percentile(&churn.latencies, 0.5),
        percentile(&churn.latencies, 0.99)
    );
    print_otlp(&otlp);
    Ok(())
}

/// The title and the first rows of the figures' table.
fn print_header(args: &Args, generation: Duration, ready: Duration) {
    let only = if args.otlp_only { ", OTLP only" } else { "" };
    println!(
        "## e2e{only}: {} nodes × {} pods/node ({} pods), OTLP exporter args {:?}",
        args.nodes,
        args.pods_per_node,
        args.nodes * args.pods_per_node,
        args.otlp_exporter_args
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| emulator: cluster generation and start | {:.1} s |",
        generation.as_secs_f64()
    );
    println!("| start → /readyz | {:.2} s |", ready.as_secs_f64());
}

fn print_otlp(otlp: &[OtlpCycle]) {
    for (cycle, name) in otlp.iter().zip(["first", "second"]) {
        println!(
            "| OTLP export cycle to a local gRPC receiver, {name}: exporter CPU | {:.2} s ({:.2} s from first to last request) |",
            cycle.cpu.as_secs_f64(),
            cycle.sending.as_secs_f64()
        );
        println!(
            "| OTLP {name} cycle: requests / points / bytes / largest request | {} / {} / {:.1} MiB / {} B (limit {} B) |",
            cycle.received.requests,
            cycle.received.points,
            mib(cycle.received.bytes),
            cycle.received.largest,
            kube_state_otel::export::otlp::DEFAULT_MAX_REQUEST_BYTES
        );
    }
}

/// `kube-state-otel` on `kubeconfig`, serving `/metrics` on `port` and self-telemetry on
/// `telemetry_port`, with the probe label of the latency measurement allowed.
pub fn exporter_command(
    kubeconfig: &Path,
    port: u16,
    telemetry_port: u16,
) -> anyhow::Result<Command> {
    let mut command = Command::new(sibling("kube-state-otel")?);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .args(["--telemetry-port", &telemetry_port.to_string()])
        .args(["--metric-labels-allowlist", "namespaces=[probe]"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(command)
}

struct OtlpCycle {
    /// The exporter's CPU from a second before the cycle was due to a quiet spell after its
    /// last request: collection, encoding and sending.
    cpu: Duration,
    sending: Duration,
    received: Received,
}

/// The first two OTLP export cycles of a second exporter (the first one gone), started with
/// `extra_args`: it pushes to a local receiver every three times the first one's time to ready
/// (`ready`; without one, a minute), so that its first push comes after it is ready, and
/// nothing else asks it for work meanwhile. The first cycle also builds what later ones reuse
/// (the store's snapshot, the encoder's buffers). Returns its own time to ready.
async fn otlp_cycles(
    http: &crate::http::Client,
    kubeconfig: &Path,
    ready: Option<Duration>,
    extra_args: &[String],
) -> anyhow::Result<(Duration, [OtlpCycle; 2])> {
    let receiver = Receiver::start().await?;
    let interval = ready.map_or(Duration::from_secs(60), |r| {
        (r * 3).max(Duration::from_secs(5))
    });
    let port = free_port()?;
    let started = Instant::now();
    let exporter = Proc(
        exporter_command(kubeconfig, port, free_port()?)?
            .args(extra_args)
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", receiver.port),
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .env(
                "OTEL_METRIC_EXPORT_INTERVAL",
                interval.as_millis().to_string(),
            )
            .spawn()
            .context("starting kube-state-otel with OTLP")?,
    );
    let pid = exporter.0.id();
    wait_ready(http, port)
        .await
        .context("OTLP exporter did not become ready")?;
    let ready = started.elapsed();
    Ok((
        ready,
        [
            otlp_cycle(&receiver, pid, started + interval).await?,
            otlp_cycle(&receiver, pid, started + 2 * interval).await?,
        ],
    ))
}

/// The export cycle of process `pid` due at `due`, measured from a second before it until the
/// receiver has had no request for a while.
async fn otlp_cycle(receiver: &Receiver, pid: u32, due: Instant) -> anyhow::Result<OtlpCycle> {
    const QUIET: Duration = Duration::from_millis(1500);
    let window_start = due - Duration::from_secs(1);
    if Instant::now() >= window_start {
        bail!("the OTLP exporter was not ready and idle a second before its push was due");
    }
    tokio::time::sleep_until(window_start.into()).await;
    let before = cpu(pid);
    if receiver.received().requests > 0 {
        bail!("the OTLP exporter pushed before its push was due");
    }
    wait_until(Duration::from_secs(600), || async {
        receiver
            .received()
            .last
            .is_some_and(|last| last.elapsed() >= QUIET)
    })
    .await
    .context("no OTLP export cycle completed")?;
    let cpu = cpu(pid) - before;
    let received = receiver.take();
    let sending = match (received.first, received.last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    Ok(OtlpCycle {
        cpu,
        sending,
        received,
    })
}

/// Fraction of one core the process used over `window`.
async fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu(pid);
    tokio::time::sleep(window).await;
    (cpu(pid) - before).as_secs_f64() / window.as_secs_f64()
}

struct Churn {
    cpu: f64,
    achieved_rate: f64,
    /// Milliseconds from a namespace change at the emulator to its new value in /metrics.
    latencies: Vec<f64>,
}

/// Updates pods at `churn_rate` per second while probing event-to-scrape latency with a
/// namespace label whose value changes every 100 ms.
async fn churn_phase(
    http: &crate::http::Client,
    emulator: &str,
    metrics: &str,
    pid: u32,
    args: &Args,
) -> anyhow::Result<Churn> {
    let pods: Value = http
        .get(format!("{emulator}/api/v1/pods?limit=2000"))
        .send()
        .await?
        .json()
        .await?;
    let mut pods: Vec<Value> = pods["items"].as_array().cloned().unwrap_or_default();
    if pods.is_empty() {
        bail!("no pods to update");
    }
    for p in &mut pods {
        p["apiVersion"] = json!("v1");
        p["kind"] = json!("Pod");
    }
    let pods = Arc::new(pods);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let workers = 32u64;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, pods, stop, sent) = (http.clone(), pods.clone(), stop.clone(), sent.clone());
        let url = format!("{emulator}/_emulator/apply");
        let period = Duration::from_secs_f64(workers as f64 / args.churn_rate.max(1) as f64);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut i = w as usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let mut pod = pods[i % pods.len()].clone();
                pod["metadata"]["labels"]["churn"] = json!(i.to_string());
                if let Some(status) = pod.pointer_mut("/status/containerStatuses/0") {
                    status["restartCount"] = json!(i % 1000);
                }
                if http.post(&url).body(pod.to_string()).send().await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                i += workers as usize;
            }
        }));
    }
    let cpu_before = cpu(pid);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let probe_url = format!("{metrics}?resources=namespaces");
    let mut seq = 0u64;
    while started.elapsed() < args.phase {
        seq += 1;
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "kso-bench-probe", "labels": {"probe": seq.to_string()}}});
        let sent_at = Instant::now();
        http.post(format!("{emulator}/_emulator/apply"))
            .body(ns.to_string())
            .send()
            .await?;
        let want = format!("label_probe=\"{seq}\"");
        loop {
            let body = http.get(&probe_url).send().await?.text().await?;
            if body.contains(&want) {
                latencies.push(sent_at.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if sent_at.elapsed() > Duration::from_secs(10) {
                bail!("probe {seq} not seen within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_used = (cpu(pid) - cpu_before).as_secs_f64() / elapsed;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Churn {
        cpu: cpu_used,
        achieved_rate: sent.load(Ordering::Relaxed) as f64 / elapsed,
        latencies,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What a scrape received.
pub struct Body {
    pub bytes: usize,
    /// Lines that are not comments (meaningful for a plain body only).
    series: usize,
}

impl Body {
    /// Lines that are not comments (when read with [`Lines::Count`]).
    pub fn series(&self) -> usize {
        self.series
    }
}

/// Whether [`read_body`] counts the body's series lines.
#[derive(Clone, Copy, PartialEq)]
pub enum Lines {
    Count,
    Skip,
}

/// Reads a body as it streams in and counts it, keeping none of it: a scraper parses as it
/// reads, and holding 1.7 GB in the benchmark would cost the machine's 2 cores page faults
/// and copies that are not the exporter's.
pub async fn read_body(mut response: crate::http::Response, lines: Lines) -> anyhow::Result<Body> {
    let (mut bytes, mut series) = (0, 0);
    // Whether the next byte starts a line.
    let mut line_start = true;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len();
        if lines == Lines::Skip {
            continue;
        }
        // Line by line with memchr: a byte-by-byte loop took about a second of the 2 cores
        // the exporter renders on, per 1.7 GB body.
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            if line_start && rest[0] != b'#' && rest[0] != b'\n' {
                series += 1;
            }
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    rest = &rest[end + 1..];
                    line_start = true;
                }
                None => {
                    rest = &[];
                    line_start = false;
                }
            }
        }
    }
    Ok(Body { bytes, series })
}
