//! Command-line configuration. The doc comments are the `--help` text.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub mod file;
pub mod go_duration;
pub mod instance;
pub mod reload;
pub mod stamp;

use crate::export::otlp::{Compression, EntityFormat, OtlpOverrides, Protocol};
use crate::metric::{AllowList, Schema};
use crate::watch::ShardMode;

/// Kubernetes object state as OpenTelemetry metrics, with a kube-state-metrics compatible
/// Prometheus endpoint.
#[derive(Parser, Debug, Clone)]
#[command(name = "kube-state-otel", version, about)]
pub struct Cli {
    /// YAML file declaring pipelines (docs/config.md); flags given on the command line win over
    /// its values.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// The --config pipeline to run; without it, every pipeline of the file runs in this process.
    #[arg(long, requires = "config")]
    pub pipeline: Option<String>,

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

    /// /metrics scrapes served at once; another one is answered 503 with `Retry-After` at
    /// once (counted in kube_state_otel_scrapes_rejected_total). A scrape in flight holds at
    /// most about 13 MiB of text (about 20 MiB of RSS at 150,000 pods), so this bounds what
    /// scrapes add to memory.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_scrapes: u32,

    /// Time allowed to read a request's headers, from its first byte (on a new connection,
    /// from the connection's start); a slower client is disconnected. Both ports. 0: no limit.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub server_read_header_timeout: Duration,

    /// Time allowed to read a whole request from its first byte (no endpoint takes a body:
    /// its headers, when shorter than --server-read-header-timeout); also the idle timeout
    /// when --server-idle-timeout is 0. Both ports. 0: no limit.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub server_read_timeout: Duration,

    /// Time allowed to write a response, from the end of its request's headers to its last
    /// byte: a scraper that reads too slowly is disconnected and its scrape stopped. Align it
    /// with the scrapers' timeout. Both ports. 0: no limit.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub server_write_timeout: Duration,

    /// How long a kept-alive connection may wait for its next request. Both ports. 0: the
    /// --server-read-timeout.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub server_idle_timeout: Duration,

    /// Custom Resource State metrics: the config inline, as kube-state-metrics' flag takes
    /// it (wins over --custom-resource-state-config-file).
    #[arg(long)]
    pub custom_resource_state_config: Option<String>,

    /// Custom Resource State metrics: a kube-state-metrics config file
    /// (`kind: CustomResourceStateMetrics`).
    #[arg(long)]
    pub custom_resource_state_config_file: Option<PathBuf>,

    /// Report only the custom resources of the Custom Resource State config: no built-in kind
    /// is watched.
    #[arg(long)]
    pub custom_resource_state_only: bool,

    /// A Prometheus exporter-toolkit web configuration (kube-state-metrics' flag and format)
    /// for both ports: TLS with optional client certificates, response headers, a rate limit
    /// and basic auth users. Re-read when it or a file it names changes (SECURITY.md).
    #[arg(long)]
    pub tls_config: Option<PathBuf>,

    /// Both ports' /metrics require a bearer token, authenticated with a TokenReview and
    /// authorized with a SubjectAccessReview (verb get on the non-resource URL /metrics)
    /// against the API server, as kube-state-metrics' --auth-filter. Needs RBAC to create
    /// tokenreviews and subjectaccessreviews.
    #[arg(long)]
    pub auth_filter: bool,

    /// Comma-separated resources to watch (default: all this build knows).
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<String>,

    /// The names and model the series are reported in: `ksm` (kube-state-metrics), `semconv`
    /// (OpenTelemetry semantic conventions v1.44 for Kubernetes, docs/semconv.md) or `both`.
    #[arg(long, default_value = "ksm")]
    pub schema: Schema,

    /// Opt-in metric families to enable: comma-separated regular expressions matched anywhere
    /// in the family name.
    #[arg(long, value_delimiter = ',')]
    pub metric_opt_in_list: Vec<String>,

    /// Metric families to expose, and no others: comma-separated regular expressions (ECMAScript
    /// syntax) matched anywhere in the family name. Excludes --metric-denylist.
    #[arg(long, value_delimiter = ',')]
    pub metric_allowlist: Vec<String>,

    /// Metric families not to compute nor expose: comma-separated regular expressions
    /// (ECMAScript syntax) matched anywhere in the family name. Excludes --metric-allowlist.
    #[arg(long, value_delimiter = ',')]
    pub metric_denylist: Vec<String>,

    /// Kubernetes label keys exposed as `label_*` in the `_labels` families, per resource:
    /// `pods=[app,team],deployments=[*]`. `*` as a key allows every key, `app.kubernetes.io/*`
    /// a prefix; the resource `*` applies to every resource.
    #[arg(
        long,
        default_value = "",
        value_parser = parse_allowlist,
        overrides_with = "metric_labels_allowlist"
    )]
    pub metric_labels_allowlist: AllowLists,

    /// Annotation keys exposed as `annotation_*` in the `_annotations` families, with the same
    /// syntax as --metric-labels-allowlist: `pods=[owner],namespaces=[*]`.
    #[arg(
        long,
        default_value = "",
        value_parser = parse_allowlist,
        overrides_with = "metric_annotations_allowlist"
    )]
    pub metric_annotations_allowlist: AllowLists,

    /// Namespaces whose objects are watched, comma-separated (default: all). Namespaced kinds
    /// get one list+watch per namespace; cluster-scoped kinds are not affected.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Namespaces whose objects are not watched, comma-separated. With --namespaces, only the
    /// namespaces listed there and not here are watched.
    #[arg(long, value_delimiter = ',')]
    pub namespaces_denylist: Vec<String>,

    /// This instance's shard: it keeps the objects whose UID hashes to it, exactly as
    /// kube-state-metrics assigns them (FNV-1a 64 of the UID, jump consistent hash).
    #[arg(long, default_value_t = 0)]
    pub shard: u32,

    /// Number of shards the objects are split over; each instance runs with its own --shard.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub total_shards: u32,

    /// How --shard/--total-shards assign objects. `ksm`: kube-state-metrics' assignment (jump
    /// hash of the UID's FNV-1a), filtered here, so every shard pulls every object. `server`:
    /// Kubernetes 1.36 server-side sharding (KEP-5866): shard N of M owns the N-th of M equal
    /// ranges of the UID's 64-bit FNV-1a hash and asks the API server for only those objects
    /// (`shardSelector`); where the server ignores or rejects that, the same ranges are applied
    /// here. The two modes assign objects differently: run every shard in the same mode.
    #[arg(long, default_value = "ksm")]
    pub shard_mode: ShardMode,

    /// This exporter's pod, for kube-state-metrics' automated sharding: with --pod-namespace,
    /// the shard is the pod's ordinal in its controlling StatefulSet and the shard count that
    /// StatefulSet's spec.replicas, read at startup; they override --shard/--total-shards.
    /// Pass the downward API's metadata.name.
    #[arg(long)]
    pub pod: Option<String>,

    /// The namespace of --pod (the downward API's metadata.namespace).
    #[arg(long)]
    pub pod_namespace: Option<String>,

    /// Watch only the pods on this node (`spec.nodeName=NODE`), for one instance per node
    /// (a DaemonSet passing the downward API's spec.nodeName). Other kinds are not affected.
    #[arg(long, env = "NODE_NAME")]
    pub node: Option<String>,

    /// Watch only the pods not scheduled on a node yet (`spec.nodeName=`), to complement
    /// per-node instances; takes precedence over --node.
    #[arg(long)]
    pub track_unscheduled_pods: bool,

    /// OTLP endpoint to push metrics to (else OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT); no push when none is set. A base URL: http/protobuf
    /// appends `v1/metrics` (`http://vm:8428/opentelemetry` posts to
    /// `.../opentelemetry/v1/metrics`); `host:port` means https unless --otlp-insecure.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,

    /// OTLP transport: grpc, http/protobuf or http/json [default: OTEL_EXPORTER_OTLP_PROTOCOL,
    /// else grpc].
    #[arg(long)]
    pub otlp_protocol: Option<Protocol>,

    /// Header sent with every OTLP request, `key=value` (e.g. `authorization=Bearer x`);
    /// repeatable, merged over OTEL_EXPORTER_OTLP_HEADERS.
    #[arg(long = "otlp-header", value_parser = parse_header)]
    pub otlp_headers: Vec<(String, String)>,

    /// Timeout of one OTLP request, and of connecting [default: OTEL_EXPORTER_OTLP_TIMEOUT,
    /// else 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub otlp_timeout: Option<Duration>,

    /// An OTLP endpoint written `host:port` means plain http, not https
    /// [default: OTEL_EXPORTER_OTLP_INSECURE, else false].
    #[arg(long)]
    pub otlp_insecure: bool,

    /// PEM CA certificates the collector's certificate must chain to, instead of the system's
    /// [default: OTEL_EXPORTER_OTLP_CERTIFICATE].
    #[arg(long)]
    pub otlp_certificate: Option<PathBuf>,

    /// PEM client certificate chain for mutual TLS, with --otlp-client-key
    /// [default: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE].
    #[arg(long)]
    pub otlp_client_certificate: Option<PathBuf>,

    /// PEM private key of the client certificate [default: OTEL_EXPORTER_OTLP_CLIENT_KEY].
    #[arg(long)]
    pub otlp_client_key: Option<PathBuf>,

    /// Time between OTLP pushes [default: OTEL_METRIC_EXPORT_INTERVAL, else 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub otlp_interval: Option<Duration>,

    /// Largest OTLP request in bytes; bigger collections are split [default: 4194304].
    #[arg(long)]
    pub otlp_max_request_bytes: Option<usize>,

    /// OTLP compression: none, gzip or zstd [default: OTEL_EXPORTER_OTLP_COMPRESSION, else none].
    #[arg(long)]
    pub otlp_compression: Option<Compression>,

    /// Longest one OTLP export (a whole collection's requests, retries included) may take
    /// before the rest of it is given up [default: OTEL_METRIC_EXPORT_TIMEOUT, else none].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub otlp_export_timeout: Option<Duration>,

    /// Put each object's identity labels (namespace, pod, uid, …) on one OTLP resource per
    /// object instead of on every point of the kube-state-metrics schema: smaller requests;
    /// otel-config/prometheus-bridge.yaml gives the labels back for Prometheus.
    #[arg(long)]
    pub otlp_identity_on_resource: bool,

    /// Send OpenTelemetry entity events as OTLP logs, as the Collector's k8scluster receiver
    /// does: an entity state for each pod (and started container), node, namespace, service,
    /// workload, HPA, volume and claim watched, within seconds of a change, an entity delete
    /// when it goes, and every entity's state every --entity-events-interval. Pushed with the
    /// --otlp-* settings (OTEL_EXPORTER_OTLP_LOGS_* win over OTEL_EXPORTER_OTLP_*; OTLP/HTTP
    /// posts to `.../v1/logs`), by the leader only under --leader-election.
    #[arg(long)]
    pub entity_events: bool,

    /// Time between two sends of every entity's state (the receiver's
    /// metadata_collection_interval); announced in each state event.
    #[arg(long, default_value = "5m", value_parser = positive_duration)]
    pub entity_events_interval: Duration,

    /// Layout of entity events: `receiver` (the k8scluster receiver's `otel.entity.*`
    /// attributes, `entity_state`/`entity_delete`) or `spec` (the entity events
    /// specification: event names `entity.state`/`entity.delete`, `entity.*` attributes).
    #[arg(long, default_value = "receiver")]
    pub entity_events_format: EntityFormat,

    /// Run against a built-in cluster emulator, for a first look: a generated cluster plus
    /// objects of every kind in telling states (a crash-looping pod, a failed Job, an HPA at its
    /// maximum, a Terminating namespace, …), changed every 2 s. Without an OTLP endpoint the
    /// push goes to a built-in receiver (gRPC or OTLP/HTTP, as --otlp-protocol says) that
    /// prints one line per push, every 10 s unless --otlp-interval says otherwise.
    #[arg(long)]
    pub demo: bool,

    /// Nodes of the --demo cluster.
    #[arg(long, default_value_t = 20)]
    pub demo_nodes: usize,

    /// Kubernetes version the --demo cluster emulates (1.31 to 1.36): it decides which kinds
    /// are served.
    #[arg(long, default_value = kube_emulator::surface::DEFAULT_KUBERNETES_VERSION,
          value_parser = emulated_version)]
    pub demo_k8s_version: String,

    /// Pods per node of the --demo cluster.
    #[arg(long, default_value_t = 10)]
    pub demo_pods_per_node: usize,

    /// Page size of initial lists.
    #[arg(long, default_value_t = 500)]
    pub list_page_size: u32,

    /// Elect a leader on a coordination.k8s.io/v1 Lease: every replica watches and keeps its
    /// state, only the leader pushes OTLP (hot standby).
    #[arg(long)]
    pub leader_election: bool,

    /// Base name of the Lease; a pipeline's name (with --config) and the hash shard (with
    /// --total-shards above 1) are appended, so each elects on its own.
    #[arg(long, default_value = "kube-state-otel")]
    pub leader_election_lease_name: String,

    /// Namespace of the Lease [default: --pod-namespace, else the service account's namespace,
    /// else the kubeconfig context's].
    #[arg(long)]
    pub leader_election_namespace: Option<String>,

    /// How long followers wait, after the Lease last changed, before taking it over.
    #[arg(long, default_value = "15s", value_parser = nonzero_duration)]
    pub leader_election_lease_duration: Duration,

    /// How long a leader keeps acting without renewing the Lease; shorter than the lease
    /// duration, so it stops before a follower may take over.
    #[arg(long, default_value = "10s", value_parser = nonzero_duration)]
    pub leader_election_renew_deadline: Duration,

    /// Time between attempts to acquire or renew the Lease.
    #[arg(long, default_value = "2s", value_parser = nonzero_duration)]
    pub leader_election_retry_period: Duration,

    /// With --leader-election, followers answer /metrics with no series (200, empty), so a
    /// Prometheus scraping every replica of an HA pair gets each series once, from the leader.
    #[arg(long)]
    pub metrics_leader_only: bool,

    /// Each watch asks the API server to end it after this long (it is then resumed from its
    /// resourceVersion, without a list), and a watch silent for this long plus 5 s is given up
    /// and resumed: the bound on how long a silent watch (a half-open connection, a load
    /// balancer that lost the backend) goes unnoticed [default: 290s, kube-runtime's].
    #[arg(long, value_parser = positive_duration)]
    pub watch_timeout: Option<Duration>,

    /// How often the API server's discovery is re-read: a kind it starts serving (a cluster
    /// upgrade, a feature gate turned on) is then watched without a restart, and one it stops
    /// serving is dropped with its series.
    #[arg(long, default_value = "5m", value_parser = positive_duration)]
    pub discovery_interval: Duration,

    /// Log filter, e.g. `info` or `kube_state_otel=debug`. The kube client's per-request
    /// errors and the watcher's per-retry warnings are off by default: the watchers log one
    /// line per failure period instead.
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info,kube_client::client::builder=off,kube_runtime::watcher=error"
    )]
    pub log_level: String,
}

impl Cli {
    /// Whether an OTLP endpoint is set, by flag or environment: without one nothing is pushed.
    pub fn otlp_endpoint_configured(&self) -> bool {
        let from_env = [
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        self.otlp_endpoint.is_some() || from_env
    }

    /// The `--otlp-*` flags given, which win over the `OTEL_EXPORTER_OTLP_*` environment.
    pub fn otlp_overrides(&self) -> OtlpOverrides {
        OtlpOverrides {
            protocol: self.otlp_protocol,
            endpoint: self.otlp_endpoint.clone(),
            insecure: self.otlp_insecure.then_some(true),
            certificate: self.otlp_certificate.clone(),
            client_certificate: self.otlp_client_certificate.clone(),
            client_key: self.otlp_client_key.clone(),
            interval: self.otlp_interval,
            max_request_bytes: self.otlp_max_request_bytes,
            compression: self.otlp_compression,
            timeout: self.otlp_timeout,
            export_timeout: self.otlp_export_timeout,
            identity_on_resource: self.otlp_identity_on_resource.then_some(true),
            headers: self.otlp_headers.clone(),
            ..OtlpOverrides::default()
        }
    }
}

/// The entries of a comma-separated list flag, trimmed, without empty ones and repeats (as
/// kube-state-metrics' `MetricSet`/`ResourceSet`/`NamespaceList` take them).
pub fn items(values: &[String]) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if !items.iter().any(|i| i == value) {
            items.push(value.to_string());
        }
    }
    items
}

/// Per-resource allowlists from a `resource=[key,…],…` flag; the resource `*` applies to
/// every resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowLists(pub BTreeMap<String, AllowList>);

impl AllowLists {
    /// The keys allowed for `resource`: the `*` entry's keys first, then the resource's own,
    /// without repeats (KSM's `mergeLabels`).
    pub fn for_resource(&self, resource: &str) -> AllowList {
        let mut keys: Vec<String> = Vec::new();
        for list in [self.0.get("*"), self.0.get(resource)]
            .into_iter()
            .flatten()
        {
            for key in &list.keys {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        AllowList::new(keys)
    }

    /// The first resource named that is neither `*` nor in `known`.
    pub fn unknown_resource<'a>(&'a self, known: &[&str]) -> Option<&'a str> {
        self.0
            .keys()
            .map(String::as_str)
            .find(|r| *r != "*" && !known.contains(r))
    }
}

/// Parses `pods=[app,team],deployments=[*]` exactly as kube-state-metrics' `LabelsAllowList.Set`
/// does: `=` must be followed by `[`, `]` by `,` or the end; keys are trimmed; a resource named
/// twice keeps its last list; a key may hold at most one `*`.
pub fn parse_allowlist(flag: &str) -> Result<AllowLists, String> {
    const FORMAT: &str = "invalid format, metric=[label1,label2,labeln...],metricN=[]";
    let chars: Vec<char> = flag.chars().collect();
    let text = |from: usize, to: usize| {
        chars[from..to]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = String::new();
    let mut word_start = 0;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let previous = if i == 0 { c } else { chars[i - 1] };
        match c {
            '=' => {
                if previous == ',' || next != Some('[') {
                    return Err(FORMAT.to_string());
                }
                name = text(word_start, i);
                lists.insert(name.clone(), Vec::new());
                word_start = i + 1;
            }
            '[' => {
                if previous != '=' {
                    return Err(FORMAT.to_string());
                }
                word_start = i + 1;
            }
            ']' => {
                if next.is_some_and(|n| n != ',') {
                    return Err(FORMAT.to_string());
                }
                if previous != '[' {
                    lists
                        .entry(name.clone())
                        .or_default()
                        .push(text(word_start, i));
                }
                word_start = i + 1;
            }
            ',' => {
                if previous == ',' || next.is_none() || next == Some(']') {
                    return Err(FORMAT.to_string());
                }
                if previous != ']' {
                    lists
                        .entry(name.clone())
                        .or_default()
                        .push(text(word_start, i));
                }
                word_start = i + 1;
            }
            _ => {}
        }
    }
    if lists
        .values()
        .flatten()
        .any(|key| key.matches('*').count() > 1)
    {
        return Err("invalid format, only one wildcard per label allowed".to_string());
    }
    Ok(AllowLists(
        lists
            .into_iter()
            .map(|(resource, keys)| (resource, AllowList::new(keys)))
            .collect(),
    ))
}

/// `key=value`, split at the first `=`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{text:?} is not key=value")),
    }
}

/// A Kubernetes version the emulator can serve.
fn emulated_version(text: &str) -> Result<String, String> {
    kube_emulator::Surface::new(text, &Default::default()).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

/// A duration above zero.
fn nonzero_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero"));
    }
    Ok(duration)
}

/// A duration of at least a second (a zero interval would loop without pause).
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_secs(1) {
        return Err(format!("{text:?} is shorter than 1s"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_flags_behave_as_in_kube_state_metrics() {
        let cli = Cli::try_parse_from([
            "kube-state-otel",
            "--metric-labels-allowlist=pods=[a]",
            "--metric-labels-allowlist=nodes=[b]",
            "--namespaces=a,b",
            "--namespaces=c",
        ])
        .expect("valid flags");
        // pflag's `Set` replaces an allowlist but appends to a list.
        assert_eq!(
            cli.metric_labels_allowlist,
            parse_allowlist("nodes=[b]").expect("valid")
        );
        assert_eq!(cli.namespaces, ["a", "b", "c"]);
    }

    #[test]
    fn list_flags_are_trimmed_without_empties_or_repeats() {
        let raw: Vec<String> = [" pods", "", "nodes ", "pods"].map(String::from).to_vec();
        assert_eq!(items(&raw), ["pods", "nodes"]);
    }

    fn keys(lists: &AllowLists, resource: &str) -> Vec<String> {
        lists.for_resource(resource).keys
    }

    #[test]
    fn allowlists_parse_as_kube_state_metrics_does() {
        let lists = parse_allowlist("pods=[app, team],deployments=[*]").expect("valid");
        assert_eq!(keys(&lists, "pods"), ["app", "team"]);
        assert_eq!(keys(&lists, "deployments"), ["*"]);
        assert!(lists.for_resource("nodes").is_empty());
        assert_eq!(parse_allowlist("").expect("empty"), AllowLists::default());
        // Spaces around names and keys are trimmed; `[]` is an empty list.
        let lists = parse_allowlist(" pods =[ app ],nodes=[]").expect("valid");
        assert_eq!(keys(&lists, "pods"), ["app"]);
        assert!(lists.0.contains_key("nodes") && lists.for_resource("nodes").is_empty());
        // A resource named twice keeps its last list.
        assert_eq!(
            keys(
                &parse_allowlist("pods=[a],pods=[b]").expect("valid"),
                "pods"
            ),
            ["b"]
        );
        // What KSM accepts though it looks odd: an unclosed list, and an empty key.
        assert!(keys(&parse_allowlist("pods=[app").expect("valid"), "pods").is_empty());
        assert_eq!(
            keys(&parse_allowlist("pods=[,a]").expect("valid"), "pods"),
            ["", "a"]
        );
        for bad in [
            "pods=app",
            "pods= [app]",
            "pods=[app] ,nodes=[a]",
            "pods=[app],",
            "pods=[app,]",
            "pods=[a],,nodes=[b]",
            "pods=[a]x",
            "pods[a]",
            "pods=[*a*]",
        ] {
            assert!(parse_allowlist(bad).is_err(), "{bad:?} is rejected");
        }
        assert!(parse_allowlist("pods=[app.kubernetes.io/*]").is_ok());
    }

    #[test]
    fn the_star_resource_applies_to_every_resource_first() {
        let lists = parse_allowlist("*=[team,app],pods=[app,tier]").expect("valid");
        assert_eq!(keys(&lists, "pods"), ["team", "app", "tier"]);
        assert_eq!(keys(&lists, "nodes"), ["team", "app"]);
        assert_eq!(lists.unknown_resource(&["pods", "nodes"]), None);
        let lists = parse_allowlist("pods=[a],podz=[b]").expect("valid");
        assert_eq!(lists.unknown_resource(&["pods"]), Some("podz"));
    }
}
