//! `ha`: replicas of the release exporter electing a leader on a Lease of one `kube-emulator`,
//! pushing OTLP to a local receiver, while the leader is killed (SIGKILL), stopped past its
//! lease (SIGSTOP, then SIGCONT) or terminated (SIGTERM) on a seeded schedule. A killed or
//! terminated replica is started again, as its Deployment would.
//!
//! Figures: failovers, the longest time without a push, intervals in which two replicas
//! pushed (must be 0), per event kind the time from the event to the next replica's push, and
//! the API requests spent on the Lease per minute.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::proc::{Cluster, Proc, block_on, free_port, sibling, wait_until};
use crate::receiver::{Push, Receiver};
use crate::seeded::Seeded;

#[derive(clap::Args)]
pub struct Args {
    /// Replicas of the exporter.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Length of the run.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Mean time between events (each one ±25%, seeded).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// OTLP push interval.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// `--leader-election-lease-duration` (the renew deadline and retry period keep
    /// client-go's proportions: 2/3 and 2/15 of it).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease: Duration,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 10)]
    pods_per_node: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

/// The events, in schedule order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Kill,
    Stop,
    Term,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Kill => "SIGKILL",
            Event::Stop => "SIGSTOP past the lease",
            Event::Term => "SIGTERM",
        }
    }
}

/// One replica slot: its current process and the identity it pushes as.
struct Replica {
    process: Proc,
    instance: String,
}

struct Setup {
    exporter: PathBuf,
    kubeconfig: PathBuf,
    endpoint: String,
    args: Args,
}

impl Setup {
    fn start(&self, instance: &str) -> anyhow::Result<Proc> {
        let lease = self.args.lease;
        let duration = |d: Duration| format!("{}ms", d.as_millis());
        let child = Command::new(&self.exporter)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"])
            .args(["--port", &free_port()?.to_string()])
            .args(["--telemetry-port", &free_port()?.to_string()])
            .args([
                "--leader-election",
                "--leader-election-namespace",
                "monitoring",
            ])
            .args(["--leader-election-lease-duration", &duration(lease)])
            .args([
                "--leader-election-renew-deadline",
                &duration(lease.mul_f64(2.0 / 3.0)),
            ])
            .args([
                "--leader-election-retry-period",
                &duration(lease.mul_f64(2.0 / 15.0)),
            ])
            .args(["--otlp-endpoint", &self.endpoint])
            .args(["--otlp-interval", &duration(self.args.interval)])
            .env(
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("service.instance.id={instance}"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting kube-state-otel")?;
        Ok(Proc(child))
    }
}

fn signal(process: &Proc, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(process.0.id().to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{signal} failed");
    }
    Ok(())
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::new();
    let cluster = Cluster::start(&http, "ha", args.nodes, args.pods_per_node, "ha").await?;
    let receiver = Receiver::start().await?;
    let setup = Setup {
        exporter: sibling("kube-state-otel")?,
        kubeconfig: cluster.kubeconfig.clone(),
        endpoint: format!("http://127.0.0.1:{}", receiver.port),
        args,
    };
    let args = &setup.args;
    let mut generation = 0;
    let mut new_instance = |slot: usize| {
        generation += 1;
        format!("replica-{slot}-{generation}")
    };
    let mut replicas = Vec::new();
    for slot in 0..args.replicas {
        let instance = new_instance(slot);
        replicas.push(Replica {
            process: setup.start(&instance)?,
            instance,
        });
    }
    wait_until(Duration::from_secs(120), || async {
        !receiver.pushes().is_empty()
    })
    .await
    .context("no replica became leader")?;
    let started = SystemTime::now();
    let mut rng = Seeded(args.seed);
    let mut events: Vec<(Event, SystemTime, String)> = Vec::new();
    let mut term_exits = Vec::new();
    let kinds = [Event::Kill, Event::Stop, Event::Term];
    while started.elapsed().unwrap_or_default() + args.every < args.duration {
        tokio::time::sleep(args.every.mul_f64(0.75 + 0.5 * rng.unit())).await;
        let Some(leader) = receiver.pushes().last().map(|p| p.instance.clone()) else {
            continue;
        };
        let Some(slot) = replicas.iter().position(|r| r.instance == leader) else {
            continue;
        };
        let event = kinds[(rng.next() % 3) as usize];
        events.push((event, SystemTime::now(), leader));
        match event {
            Event::Kill => {
                signal(&replicas[slot].process, "KILL")?;
                let instance = new_instance(slot);
                replicas[slot] = Replica {
                    process: setup.start(&instance)?,
                    instance,
                };
            }
            Event::Stop => {
                signal(&replicas[slot].process, "STOP")?;
                tokio::time::sleep(args.lease + args.interval * 2).await;
                signal(&replicas[slot].process, "CONT")?;
            }
            Event::Term => {
                let at = Instant::now();
                signal(&replicas[slot].process, "TERM")?;
                let process = &mut replicas[slot].process.0;
                wait_until(Duration::from_secs(10), || {
                    let exited = matches!(process.try_wait(), Ok(Some(_)));
                    async move { exited }
                })
                .await
                .context("a terminated replica did not exit")?;
                term_exits.push(at.elapsed());
                let instance = new_instance(slot);
                replicas[slot] = Replica {
                    process: setup.start(&instance)?,
                    instance,
                };
            }
        }
    }
    let remaining = args
        .duration
        .saturating_sub(started.elapsed().unwrap_or_default());
    tokio::time::sleep(remaining).await;
    let minutes = started.elapsed().unwrap_or_default().as_secs_f64() / 60.0;
    let stats: serde_json::Value = http
        .get(format!("{}/_emulator/stats", cluster.emulator.url))
        .send()
        .await?
        .json()
        .await?;
    let lease = &stats["clients"]["ha"]["leases.coordination.k8s.io"];
    let lease_requests = ["get_requests", "write_requests", "list_requests"]
        .iter()
        .filter_map(|k| lease[k].as_u64())
        .sum::<u64>();
    let pushes: Vec<Push> = receiver
        .pushes()
        .into_iter()
        .filter(|p| p.at >= started)
        .collect();
    report(
        args,
        &pushes,
        &events,
        &term_exits,
        lease_requests as f64 / minutes,
    );
    drop(replicas);
    Ok(())
}

fn report(
    args: &Args,
    pushes: &[Push],
    events: &[(Event, SystemTime, String)],
    term_exits: &[Duration],
    lease_per_minute: f64,
) {
    let interval_of = |at: SystemTime| {
        at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() / args.interval.as_nanos()
    };
    let mut by_interval: BTreeMap<u128, BTreeSet<&str>> = BTreeMap::new();
    for push in pushes {
        by_interval
            .entry(interval_of(push.collected))
            .or_default()
            .insert(&push.instance);
    }
    let doubled = by_interval.values().filter(|r| r.len() > 1).count();
    let failovers = pushes
        .windows(2)
        .filter(|w| w[0].instance != w[1].instance)
        .count();
    let longest_gap = pushes
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).unwrap_or_default())
        .max()
        .unwrap_or_default();
    println!(
        "## ha: {} replicas, {:?}, an event every ~{:?}, push interval {:?}, lease {:?}\n",
        args.replicas, args.duration, args.every, args.interval, args.lease
    );
    println!("| figure | value |\n|---|---|");
    println!("| events | {} |", events.len());
    println!("| failovers (pusher changes) | {failovers} |");
    println!("| pushes (requests) | {} |", pushes.len());
    println!("| intervals with pushes | {} |", by_interval.len());
    println!("| intervals with two pushers | {doubled} |");
    println!(
        "| longest time without a push | {:.2} s |",
        longest_gap.as_secs_f64()
    );
    let mut kinds: BTreeMap<Event, Vec<Duration>> = BTreeMap::new();
    for (event, at, leader) in events {
        let next = pushes
            .iter()
            .find(|p| p.at > *at && p.instance != *leader)
            .map(|p| p.at.duration_since(*at).unwrap_or_default());
        if let Some(next) = next {
            kinds.entry(*event).or_default().push(next);
        }
    }
    for (event, mut times) in kinds {
        times.sort();
        let median = times[times.len() / 2];
        let max = times.last().copied().unwrap_or_default();
        println!(
            "| {}: next replica's push, median / max ({} events) | {:.2} / {:.2} s |",
            event.name(),
            times.len(),
            median.as_secs_f64(),
            max.as_secs_f64()
        );
    }
    if let Some(max) = term_exits.iter().max() {
        println!("| SIGTERM: exit, max | {:.3} s |", max.as_secs_f64());
    }
    println!("| Lease API requests per minute (all replicas) | {lease_per_minute:.1} |");
}
