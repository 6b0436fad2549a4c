//! `otlp-down`: the release exporter pushing OTLP to a local receiver that goes down for a
//! while and comes back on the same port, on a `kube-emulator` cluster.
//!
//! Figures: RSS while pushing normally against its peak while the receiver is down (the
//! pending queue is bounded: the collection being sent plus two), `/metrics` scrape times
//! with the receiver up and down, and the time from the receiver's return to the first push
//! it takes.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::proc::{
    Cluster, Proc, block_on, free_port, median, mib, rss, sibling, wait_ready, wait_until,
};
use crate::receiver::Receiver;

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 500)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// How long the receiver is down.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    down: Duration,
    /// The OTLP push interval.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Time between scrapes (up and down).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    scrape_every: Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

/// Scrapes `/metrics` every `every` for `length`, returning each scrape's time and the
/// highest RSS seen meanwhile (sampled every 100 ms).
async fn scrape_for(
    http: &crate::http::Client,
    port: u16,
    pid: u32,
    length: Duration,
    every: Duration,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut peak = 0;
    let mut next_scrape = started;
    while started.elapsed() < length {
        peak = peak.max(rss(pid).0);
        if Instant::now() >= next_scrape {
            let t = Instant::now();
            let response = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await?;
            response.bytes().await?;
            times.push(t.elapsed());
            next_scrape += every;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((times, peak))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::plain();
    let cluster = Cluster::start(
        &http,
        "otlp-down",
        args.nodes,
        args.pods_per_node,
        "exporter",
    )
    .await?;
    let receiver = Receiver::start().await?;
    let receiver_port = receiver.port;
    let port = free_port()?;
    let exporter = Proc(
        Command::new(sibling("kube-state-otel")?)
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--telemetry-port", &free_port()?.to_string()])
            .args([
                "--otlp-endpoint",
                &format!("http://127.0.0.1:{receiver_port}"),
            ])
            .args([
                "--otlp-interval",
                &format!("{}ms", args.interval.as_millis()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting kube-state-otel")?,
    );
    let pid = exporter.0.id();
    wait_ready(&http, port).await?;
    // Pushes under way, then the steady state with the receiver up.
    wait_until(args.interval * 10, || async { receiver.pushes().len() > 1 })
        .await
        .context("no OTLP pushes")?;
    let (mut up_times, steady) =
        scrape_for(&http, port, pid, args.interval * 2, args.scrape_every).await?;

    receiver.stop().await;
    let (mut down_times, down_peak) =
        scrape_for(&http, port, pid, args.down, args.scrape_every).await?;

    let back = Receiver::start_on(receiver_port).await?;
    let returned = Instant::now();
    wait_until(args.interval * 3, || async { back.received().requests > 0 })
        .await
        .context("no push after the receiver came back")?;
    let first_push = returned.elapsed();
    let (_, after_peak) =
        scrape_for(&http, port, pid, args.interval * 2, args.scrape_every).await?;

    println!(
        "## otlp-down: {} nodes × {} pods/node, receiver down {:?}, push interval {:?}\n",
        args.nodes, args.pods_per_node, args.down, args.interval
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| RSS, receiver up (peak over {} intervals) | {:.1} MiB |",
        2,
        mib(steady)
    );
    println!(
        "| RSS peak, receiver down | {:.1} MiB ({:.2}× up) |",
        mib(down_peak),
        down_peak as f64 / steady as f64
    );
    println!(
        "| RSS peak, after it returned | {:.1} MiB ({:.2}× up) |",
        mib(after_peak),
        after_peak as f64 / steady as f64
    );
    println!(
        "| scrape median / max, receiver up ({}) | {:.3} / {:.3} s |",
        up_times.len(),
        median(&mut up_times).as_secs_f64(),
        up_times.last().copied().unwrap_or_default().as_secs_f64()
    );
    println!(
        "| scrape median / max, receiver down ({}) | {:.3} / {:.3} s |",
        down_times.len(),
        median(&mut down_times).as_secs_f64(),
        down_times.last().copied().unwrap_or_default().as_secs_f64()
    );
    println!(
        "| receiver back → first push | {:.2} s |",
        first_push.as_secs_f64()
    );
    drop(exporter);
    Ok(())
}
