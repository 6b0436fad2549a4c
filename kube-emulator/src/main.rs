//! `kube-emulator`: serve an emulated Kubernetes API over plain HTTP.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use kube_emulator::showcase::Showcase;
use kube_emulator::surface::{self, DEFAULT_KUBERNETES_VERSION};
use kube_emulator::{
    Emulator, EmulatorConfig, GeneratedCluster, ShardSelectors, StoreConfig, write_kubeconfig,
};

/// An in-memory Kubernetes API server for tests, benchmarks and demos.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Nodes of the generated cluster (0 = no generated cluster).
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    /// Pods per node of the generated cluster.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// Seed of the generated cluster and the showcase.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Add `kube-state-otel --demo`'s showcase: objects of every served kind in telling states
    /// (a crash-looping pod, a failed Job, an HPA at its maximum, …), on the generated
    /// cluster's nodes (give --nodes), changed every --churn-interval.
    #[arg(long)]
    showcase: bool,
    /// Seconds between two steps of the showcase's changes (0: none).
    #[arg(long, default_value_t = 2.0, requires = "showcase")]
    churn_interval: f64,
    /// JSON/YAML files of objects to load (Lists and multi-document YAML allowed).
    #[arg(long = "load", value_name = "FILE", num_args = 1..)]
    load: Vec<PathBuf>,
    /// Write a kubeconfig pointing at the server here.
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: Option<PathBuf>,
    /// Bearer token written into the kubeconfig.
    #[arg(long, default_value = "kube-emulator")]
    token: String,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5.0)]
    bookmark_interval: f64,
    /// Behave like a server without streaming lists (sendInitialEvents gets 422).
    #[arg(long)]
    no_streaming_lists: bool,
    /// Answer only legacy discovery (`/api`, `/apis`), as behind a proxy that does not pass
    /// aggregated discovery on.
    #[arg(long)]
    no_aggregated_discovery: bool,
    /// How `shardSelector` (server-side sharding, KEP-5866) is treated: supported (filtered,
    /// echoed in `metadata.shardInfo`), ignored (as servers before 1.36 or with the
    /// ShardedListAndWatch gate off), or rejected (400).
    #[arg(long, default_value = "ignored")]
    shard_selectors: ShardSelectors,
    /// Watch events kept per resource for resuming watches.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Kubernetes version to emulate (v1.35.0 or 1.35; 1.31 to 1.36): it decides which
    /// resources and versions are served.
    #[arg(long = "k8s-version", value_name = "VERSION", default_value = DEFAULT_KUBERNETES_VERSION,
          value_parser = parse_version)]
    k8s_version: String,
    /// API versions to enable or disable, as kube-apiserver's --runtime-config:
    /// GROUP/VERSION[=true|false],... (e.g. admissionregistration.k8s.io/v1beta1=true).
    #[arg(long, value_name = "GROUP/VERSION=BOOL,...", value_parser = surface::parse_runtime_config)]
    runtime_config: Option<BTreeMap<String, bool>>,
}

/// Checks `--k8s-version` while parsing, so a bad one is a usage error naming the range.
fn parse_version(text: &str) -> Result<String, surface::SurfaceError> {
    surface::parse_minor(text).map(|_| text.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        args.bookmark_interval.is_finite() && args.bookmark_interval > 0.0,
        "--bookmark-interval must be positive"
    );
    anyhow::ensure!(
        args.churn_interval.is_finite() && args.churn_interval >= 0.0,
        "--churn-interval must be 0 or more"
    );
    let config = EmulatorConfig {
        bookmark_interval: Duration::from_secs_f64(args.bookmark_interval),
        streaming_lists: !args.no_streaming_lists,
        aggregated_discovery: !args.no_aggregated_discovery,
        shard_selectors: args.shard_selectors,
        store: StoreConfig {
            history_capacity: args.history,
            ..StoreConfig::default()
        },
        kubernetes_version: args.k8s_version,
        runtime_config: args.runtime_config.unwrap_or_default(),
        ..EmulatorConfig::default()
    };
    let emu = Arc::new(Emulator::with_config(config)?);
    if args.nodes > 0 {
        let t = Instant::now();
        let cluster = GeneratedCluster::new(args.nodes, args.pods_per_node, args.seed);
        let n = emu.load_generated(&cluster);
        tracing::info!(objects = n, elapsed = ?t.elapsed(), "generated cluster");
    }
    if !args.load.is_empty() {
        let n = emu.load_files(&args.load).context("loading objects")?;
        tracing::info!(objects = n, "loaded files");
    }
    if args.showcase {
        let showcase = Showcase::load(&emu, args.seed).context("loading the showcase")?;
        tracing::info!(objects = showcase.objects, "showcase loaded");
        if args.churn_interval > 0.0 {
            // Runs until the process ends.
            showcase
                .churn(emu.clone())
                .spawn(Duration::from_secs_f64(args.churn_interval));
        }
    }
    let server = emu
        .clone()
        .serve(SocketAddr::new(args.host, args.port))
        .await?;
    if let Some(path) = &args.kubeconfig_out {
        write_kubeconfig(path, &server.url(), &args.token)?;
    }
    println!("{}", server.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    server.shutdown().await;
    Ok(())
}
