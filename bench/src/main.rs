//! `kso-bench`: the figures `BENCHMARKS.md` records.
//!
//! - `collect`: in-process, one pipeline loaded with a generated cluster; collection CPU of the
//!   streaming meter (rendering Prometheus text) against `opentelemetry_sdk` on the same
//!   registrations, and the compact store's size.
//! - `e2e`: the release binaries as separate processes — `kube-emulator` serving a generated
//!   cluster and `kube-state-otel` watching it: time to ready, RSS, scrapes, CPU at idle and
//!   under churn, event-to-scrape latency, and one OTLP export cycle to a local receiver.
//! - `traffic`: bytes pulled from one emulated API server by sharding setups (one instance,
//!   by resource type, KSM-style hash sharding).
//! - `ha`: leader election under faults — failovers, gaps, never two pushers in an interval.
//! - `otlp-down`: the OTLP receiver down and back; memory, scrape times, time to resume.
//! - `faults`: a seeded schedule of API faults and churn; recovery time and the series
//!   against a fresh instance.
//! - `scrapes`: `/metrics` under abuse — a storm of concurrent full scrapes and slow readers.
//! - `crs`: Custom Resource State at scale — time to ready, RSS, a scrape, store bytes per
//!   series of custom resources against pods'.
//! - `tls`: what `--tls-config` costs a scrape: plain HTTP, TLS, TLS with a client certificate
//!   and basic auth.

/// The exporter's allocator, so in-process figures match the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod collect;
mod crs;
mod e2e;
mod entities;
mod faults;
mod ha;
mod http;
mod otlp_down;
mod proc;
mod receiver;
mod scrapes;
mod seeded;
mod tls;
mod traffic;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// In-process collection benchmark.
    Collect(collect::Args),
    /// The exporter and the emulator as separate processes.
    E2e(e2e::Args),
    /// Entity events at scale: what they add to the store, and a full-state cycle's cost.
    Entities(entities::Args),
    /// API traffic of sharding setups against one emulated API server.
    Traffic(traffic::Args),
    /// Leader election under faults: replicas pushing OTLP while the leader is killed,
    /// stopped or terminated.
    Ha(ha::Args),
    /// API faults and churn on a seeded schedule, then the series against a fresh instance.
    Faults(faults::Args),
    /// The OTLP receiver down for a while and back: memory, scrape times, time to resume.
    OtlpDown(otlp_down::Args),
    /// `/metrics` under abuse: concurrent full scrapes and slow readers, against the
    /// exporter's concurrency cap and write timeout.
    Scrapes(scrapes::Args),
    /// Custom Resource State at scale: many custom resources of one CRD beside a generated
    /// cluster's pods.
    Crs(crs::Args),
    /// What locking `/metrics` down costs: a full scrape and a handshake over plain HTTP,
    /// TLS, and TLS with a client certificate and basic auth.
    Tls(tls::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Collect(args) => collect::run(args),
        Command::E2e(args) => e2e::run(args),
        Command::Entities(args) => entities::run(args),
        Command::Traffic(args) => traffic::run(args),
        Command::Ha(args) => ha::run(args),
        Command::Faults(args) => faults::run(args),
        Command::OtlpDown(args) => otlp_down::run(args),
        Command::Scrapes(args) => scrapes::run(args),
        Command::Tls(args) => tls::run(args),
        Command::Crs(args) => crs::run(args),
    }
}
