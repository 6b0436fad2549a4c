//! `scrapes`: `/metrics` under abuse. The release exporter and emulator as separate processes;
//! slow readers (the response head at once, then one byte of body per second) take scrapes
//! first, then a storm of full scrapes starts at once. Figures: RSS before, at its peak and
//! after, the scrapes served and refused (503 beyond `--max-concurrent-scrapes`) with their
//! latencies, and when the write timeout ended the slow readers' scrapes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::e2e::{Lines, exporter_command, read_body};
use crate::proc::{Cluster, Proc, block_on, free_port, median, mib, rss, wait_ready, wait_until};

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// Full scrapes started at once.
    #[arg(long, default_value_t = 20)]
    scrapes: usize,
    /// Clients reading one byte per second, started before the storm.
    #[arg(long, default_value_t = 2)]
    slow_readers: usize,
    /// The exporter's `--max-concurrent-scrapes` (its default when not given).
    #[arg(long)]
    max_concurrent_scrapes: Option<u32>,
    /// The exporter's `--server-write-timeout` (its default when not given).
    #[arg(long)]
    write_timeout: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

/// How one scrape of the storm ended, and after how long.
enum Outcome {
    Served(Duration, usize),
    Refused(Duration),
    Failed(Duration, String),
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::plain();
    let cluster =
        Cluster::start(&http, "scrapes", args.nodes, args.pods_per_node, "exporter").await?;
    let (port, telemetry_port) = (free_port()?, free_port()?);
    let mut command = exporter_command(&cluster.kubeconfig, port, telemetry_port)?;
    if let Some(max) = args.max_concurrent_scrapes {
        command.args(["--max-concurrent-scrapes", &max.to_string()]);
    }
    if let Some(timeout) = &args.write_timeout {
        command.args(["--server-write-timeout", timeout]);
    }
    let exporter = Proc(command.spawn().context("starting kube-state-otel")?);
    let pid = exporter.0.id();
    wait_ready(&http, port)
        .await
        .context("exporter did not become ready")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (steady, _) = rss(pid);

    let peak = Arc::new(AtomicU64::new(steady));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let self_metric = |name: &'static str| {
        let http = http.clone();
        async move { telemetry_value(&http, telemetry_port, name).await }
    };

    let slow_started = Instant::now();
    let mut slow = Vec::new();
    let mut slow_admitted = 0;
    for _ in 0..args.slow_readers {
        let (stream, admitted) = slow_reader(port).await?;
        slow_admitted += usize::from(admitted);
        slow.push(tokio::spawn(trickle(stream)));
    }

    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let storm_started = Instant::now();
    let storm: Vec<_> = (0..args.scrapes)
        .map(|_| tokio::spawn(scrape(http.clone(), metrics.clone())))
        .collect();
    let mut outcomes = Vec::new();
    for scrape in storm {
        outcomes.push(scrape.await?);
    }
    let storm_took = storm_started.elapsed();

    // What is still in flight is the slow readers', until the write timeout ends them.
    wait_until(Duration::from_secs(600), || async {
        self_metric("kube_state_otel_scrapes_in_flight").await == Some(0.0)
    })
    .await
    .context("the slow readers' scrapes did not end")?;
    let slow_ended = slow_started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    let (after, _) = rss(pid);
    let peak = peak.load(Ordering::Relaxed).max(after);
    let rejected = self_metric("kube_state_otel_scrapes_rejected_total")
        .await
        .unwrap_or(0.0);
    slow.iter().for_each(|t| t.abort());

    let mut served = Vec::new();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    let mut body = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Served(took, bytes) => {
                served.push(took);
                body = body.max(bytes);
            }
            Outcome::Refused(took) => refused.push(took),
            Outcome::Failed(took, error) => failed.push((took, error)),
        }
    }
    served.sort();
    println!(
        "## scrapes: {} nodes × {} pods/node, {} full scrapes at once, {} slow readers\n",
        args.nodes, args.pods_per_node, args.scrapes, args.slow_readers
    );
    println!("| figure | value |\n|---|---|");
    println!("| steady RSS before | {:.0} MiB |", mib(steady));
    println!(
        "| peak RSS (sampled every 20 ms) | {:.0} MiB ({:.2}× steady) |",
        mib(peak),
        peak as f64 / steady.max(1) as f64
    );
    println!("| RSS after | {:.0} MiB |", mib(after));
    println!(
        "| slow readers admitted | {slow_admitted} of {} |",
        args.slow_readers
    );
    println!(
        "| full scrapes served / refused / failed | {} / {} / {} |",
        served.len(),
        refused.len(),
        failed.len()
    );
    if let (Some(first), Some(last)) = (served.first(), served.last()) {
        println!(
            "| served: latency min / median / max | {:.1} / {:.1} / {:.1} s ({:.1} MiB each) |",
            first.as_secs_f64(),
            median(&mut served.clone()).as_secs_f64(),
            last.as_secs_f64(),
            mib(body as u64)
        );
    }
    if let Some(slowest) = refused.iter().max() {
        println!(
            "| refused: latency max | {:.1} ms |",
            slowest.as_secs_f64() * 1000.0
        );
    }
    for (took, error) in &failed {
        println!("| failed after {:.1} s | {error} |", took.as_secs_f64());
    }
    println!(
        "| the storm, first request to last answer | {:.1} s |",
        storm_took.as_secs_f64()
    );
    println!("| kube_state_otel_scrapes_rejected_total | {rejected} |");
    println!(
        "| slow readers' scrapes ended (no scrape in flight) after | {:.1} s |",
        slow_ended.as_secs_f64()
    );
    drop(exporter);
    Ok(())
}

/// One full scrape, read as it streams in.
async fn scrape(http: crate::http::Client, url: String) -> Outcome {
    let started = Instant::now();
    let result = async {
        let response = http.get(&url).send().await?;
        if response.status() == http::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        if !response.status().is_success() {
            bail!("status {}", response.status());
        }
        Ok(Some(read_body(response, Lines::Skip).await?.bytes))
    }
    .await;
    let took = started.elapsed();
    match result {
        Ok(Some(bytes)) => Outcome::Served(took, bytes),
        Ok(None) => Outcome::Refused(took),
        Err(error) => Outcome::Failed(took, format!("{error:#}")),
    }
}

/// A scrape whose response head is read at once; whether it was admitted (200).
async fn slow_reader(port: u16) -> anyhow::Result<(TcpStream, bool)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: kso-bench\r\n\r\n")
        .await?;
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).await?;
    Ok((stream, status.ends_with(b" 200")))
}

/// Reads one byte per second until the connection ends.
async fn trickle(mut stream: TcpStream) {
    let mut byte = [0u8];
    while let Ok(1) = stream.read(&mut byte).await {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// An unlabelled figure of the exporter's self-telemetry.
async fn telemetry_value(http: &crate::http::Client, port: u16, name: &str) -> Option<f64> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
