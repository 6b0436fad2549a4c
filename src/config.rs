//! Command-line configuration. The doc comments are the `--help` text.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::export::otlp::Compression;
use crate::metric::AllowList;

/// Kubernetes object state as OpenTelemetry metrics, with a kube-state-metrics compatible
/// Prometheus endpoint.
#[derive(Parser, Debug, Clone)]
#[command(name = "kube-state-otel", version, about)]
pub struct Cli {
    /// Path to a kubeconfig; without it, KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Address the /metrics endpoint listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port of the /metrics, /healthz, /livez and /readyz endpoints.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Address of the self-telemetry endpoint.
    #[arg(long, default_value = "0.0.0.0")]
    pub telemetry_host: IpAddr,

    /// Port of the self-telemetry /metrics endpoint.
    #[arg(long, default_value_t = 8081)]
    pub telemetry_port: u16,

    /// Comma-separated resources to watch (default: all this build knows).
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<String>,

    /// Opt-in metric families to enable, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub metric_opt_in_list: Vec<String>,

    /// Kubernetes label keys exposed as `label_*` in the `_labels` families:
    /// `pods=[app,team],deployments=[*]`.
    #[arg(long, default_value = "", value_parser = parse_allowlist)]
    pub metric_labels_allowlist: AllowLists,

    /// Annotation keys exposed as `annotation_*` in the `_annotations` families:
    /// `pods=[owner],namespaces=[*]`.
    #[arg(long, default_value = "", value_parser = parse_allowlist)]
    pub metric_annotations_allowlist: AllowLists,

    /// OTLP/gRPC endpoint to push metrics to (else OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT); no push when none is set.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,

    /// Time between OTLP pushes [default: OTEL_METRIC_EXPORT_INTERVAL, else 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub otlp_interval: Option<Duration>,

    /// Largest OTLP request in bytes; bigger collections are split [default: 4194304].
    #[arg(long)]
    pub otlp_max_request_bytes: Option<usize>,

    /// OTLP compression: none, gzip or zstd [default: OTEL_EXPORTER_OTLP_COMPRESSION, else none].
    #[arg(long)]
    pub otlp_compression: Option<Compression>,

    /// Run against a built-in cluster emulator with a generated cluster, for a first look.
    #[arg(long)]
    pub demo: bool,

    /// Nodes of the --demo cluster.
    #[arg(long, default_value_t = 20)]
    pub demo_nodes: usize,

    /// Pods per node of the --demo cluster.
    #[arg(long, default_value_t = 10)]
    pub demo_pods_per_node: usize,

    /// Page size of initial lists.
    #[arg(long, default_value_t = 500)]
    pub list_page_size: u32,

    /// Log filter, e.g. `info` or `kube_state_otel=debug`. The kube client's per-request
    /// errors are off by default: the watchers log one line per failure period instead.
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info,kube_client::client::builder=off"
    )]
    pub log_level: String,
}

/// Per-resource allowlists from a `resource=[key,…],…` flag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowLists(pub BTreeMap<String, AllowList>);

impl AllowLists {
    pub fn for_resource(&self, resource: &str) -> AllowList {
        self.0.get(resource).cloned().unwrap_or_default()
    }
}

/// Parses `pods=[app,team],deployments=[*]` (whitespace allowed).
pub fn parse_allowlist(flag: &str) -> Result<AllowLists, String> {
    let mut lists = BTreeMap::new();
    let mut rest = flag.trim();
    while !rest.is_empty() {
        let (resource, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected `resource=[keys]` at `{rest}`"))?;
        let after = after.trim_start();
        let inner = after
            .strip_prefix('[')
            .ok_or_else(|| format!("expected `[` after `{}=`", resource.trim()))?;
        let (keys, tail) = inner
            .split_once(']')
            .ok_or_else(|| format!("missing `]` for `{}`", resource.trim()))?;
        let resource = resource.trim().trim_start_matches(',').trim();
        if resource.is_empty() {
            return Err("empty resource name".to_string());
        }
        let keys: Vec<String> = keys
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        lists.insert(resource.to_string(), AllowList::new(keys));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(AllowLists(lists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_parse() {
        let lists = parse_allowlist("pods=[app, team],deployments=[*]").expect("valid");
        assert_eq!(lists.for_resource("pods"), AllowList::new(["app", "team"]));
        assert_eq!(lists.for_resource("deployments"), AllowList::new(["*"]));
        assert!(lists.for_resource("nodes").is_empty());
        assert_eq!(
            parse_allowlist("").expect("empty is valid"),
            AllowLists::default()
        );
        assert!(parse_allowlist("pods=app").is_err());
        assert!(parse_allowlist("pods=[app").is_err());
    }
}
