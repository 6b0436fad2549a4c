//! The OpenTelemetry Collector configs in `otel-config/`, read as YAML: every component exists
//! in the contrib distribution, pipelines reference exactly the components defined, endpoints
//! match kube-state-otel's defaults, the Prometheus bridge reproduces our `/metrics` names (and,
//! its steps modelled on real requests, our series from identity on the resource), and the
//! semantic-conventions renaming matches the kinds' identity labels.
//!
//! No Collector binary can be installed from the registries this project uses, so nothing here
//! runs `otelcol-contrib validate`; the component list comes from the distribution's manifest
//! (see the header of `tests/data/otel-config/otelcol-contrib-components.txt`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use kube_state_otel::config::Cli;
use kube_state_otel::export::otlp::{
    DEFAULT_ENDPOINT, DEFAULT_INTERVAL, DEFAULT_MAX_REQUEST_BYTES,
};
use std::ops::ControlFlow;

use kube_emulator::GeneratedCluster;
use kube_state_otel::export::otlp::OtlpEncoder;
use kube_state_otel::export::prometheus::TextEncoder;
use kube_state_otel::pipeline::{
    Pipeline as KsoPipeline, PipelineSettings, ResourceFilter, all_kinds,
};
use kube_state_otel::telemetry::Telemetry;
use kube_state_otel::watch::WatchKind;
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as PointValue;
use prost::Message;
use regex::Regex;
use serde_yaml_ng::Value;

const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/otel-config");
const COMPONENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/otel-config/otelcol-contrib-components.txt"
);
const SEMCONV_REGISTRY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/semconv/semconv_k8s_registry.yaml"
);

/// The configs otel-config/README.md documents; a new file must be added there too.
const DOCUMENTED: [&str; 5] = [
    "gateway.yaml",
    "prometheus-bridge.yaml",
    "prometheus-receiver.yaml",
    "semconv-resources.yaml",
    "sidecar.yaml",
];
const BRIDGE: &str = "prometheus-bridge.yaml";
const SIDECAR: &str = "sidecar.yaml";

/// Component sections of a Collector config, with the kind the component list files them under.
const SECTIONS: [(&str, &str); 5] = [
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
    ("extensions", "extension"),
    ("connectors", "connector"),
];

/// OTLP/HTTP's well-known port: kube-state-otel pushes gRPC only, so it has no constant for it.
const OTLP_HTTP_PORT: u16 = 4318;
/// The gRPC receiver's limit when `max_recv_msg_size_mib` is not set.
const GRPC_DEFAULT_MAX_RECV_MIB: u64 = 4;
/// Prometheus' default scrape timeout, far too short for a big cluster's /metrics.
const PROMETHEUS_DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// The batch processor's default `send_batch_size`.
const BATCH_DEFAULT_SIZE: u64 = 8192;
/// `(resource, label)`: labels on every series of a kind without being one of its identity
/// labels. src/kinds/lease.rs: kube-state-metrics identifies a lease by its name alone, but
/// each lease family carries the lease's namespace.
const LABEL_ON_EVERY_SERIES: [(&str, &str); 1] = [("leases", "namespace")];
/// The resource attributes the prometheus exporter turns into job and instance labels.
const JOB_INSTANCE_ATTRIBUTES: [&str; 3] =
    ["service.name", "service.namespace", "service.instance.id"];

struct CollectorConfig {
    file: String,
    text: String,
    yaml: Value,
}

impl CollectorConfig {
    /// `(id, settings)` of a section's components; settings are Null for a bare `otlp:`.
    fn section(&self, section: &str) -> Vec<(&str, &Value)> {
        self.yaml
            .get(section)
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .map(|(id, body)| (id.as_str().expect("component ids are strings"), body))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The components of `section` whose type is `kind_type` (`otlp`, `otlp/secondary`, …).
    fn of_type(&self, section: &str, kind_type: &str) -> Vec<(&str, &Value)> {
        self.section(section)
            .into_iter()
            .filter(|(id, _)| component_type(id) == kind_type)
            .collect()
    }

    fn pipelines(&self) -> Vec<(&str, Pipeline)> {
        let pipelines = self.yaml["service"]["pipelines"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{}: no service.pipelines", self.file));
        pipelines
            .iter()
            .map(|(id, body)| {
                let list = |key: &str| -> Vec<String> {
                    body.get(key)
                        .and_then(Value::as_sequence)
                        .map(|s| s.iter().map(|v| str_of(v).to_string()).collect())
                        .unwrap_or_default()
                };
                let pipeline = Pipeline {
                    receivers: list("receivers"),
                    processors: list("processors"),
                    exporters: list("exporters"),
                };
                (str_of(id), pipeline)
            })
            .collect()
    }
}

struct Pipeline {
    receivers: Vec<String>,
    processors: Vec<String>,
    exporters: Vec<String>,
}

/// The type of a component id: the part before an optional `/name`.
fn component_type(id: &str) -> &str {
    id.split_once('/').map_or(id, |(kind_type, _)| kind_type)
}

fn str_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, found {value:?}"))
}

fn configs() -> Vec<CollectorConfig> {
    let mut configs: Vec<CollectorConfig> = fs::read_dir(CONFIG_DIR)
        .expect("otel-config/ exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable config");
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let yaml = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
            CollectorConfig { file, text, yaml }
        })
        .collect();
    configs.sort_by(|a, b| a.file.cmp(&b.file));
    configs
}

fn config(file: &str) -> CollectorConfig {
    configs()
        .into_iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("otel-config/{file} is missing"))
}

/// `(kind, type)` pairs of the contrib distribution.
fn contrib_components() -> HashSet<(String, String)> {
    fs::read_to_string(COMPONENTS)
        .expect("component list")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (kind, kind_type) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("not `kind<TAB>type`: {line:?}"));
            (kind.to_string(), kind_type.to_string())
        })
        .collect()
}

/// The port of `host:port`, `scheme://host:port` or `scheme://host:port/path`.
fn port(endpoint: &str) -> u16 {
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap();
    let (_, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in {endpoint:?}"));
    port.parse()
        .unwrap_or_else(|_| panic!("bad port in {endpoint:?}"))
}

/// A Go duration as the Collector writes them (`90s`, `1m30s`).
fn duration(value: &Value) -> Duration {
    humantime::parse_duration(str_of(value))
        .unwrap_or_else(|e| panic!("bad duration {value:?}: {e}"))
}

fn u64_or(value: &Value, default: u64) -> u64 {
    if value.is_null() {
        default
    } else {
        value
            .as_u64()
            .unwrap_or_else(|| panic!("expected a number, found {value:?}"))
    }
}

/// The defaults kube-state-otel starts with: the ports are clap defaults, so they are read
/// from the command line definition rather than repeated here.
fn cli_defaults() -> Cli {
    Cli::try_parse_from(["kube-state-otel"]).expect("no flag is required")
}

fn assert_no_failures(what: &str, failures: Vec<String>) {
    assert!(failures.is_empty(), "{what}:\n  {}", failures.join("\n  "));
}

#[test]
fn the_documented_configs_exist_and_open_with_a_comment_block() {
    let configs = configs();
    let files: Vec<&str> = configs.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files, DOCUMENTED,
        "otel-config/*.yaml and this test's list differ"
    );

    let readme = fs::read_to_string(Path::new(CONFIG_DIR).join("README.md")).unwrap();
    for config in &configs {
        assert!(
            readme.contains(&format!("[{0}]({0})", config.file)),
            "otel-config/README.md's table lacks {}",
            config.file
        );
        // The opening comment says when to use the file and how kube-state-otel connects.
        let header: Vec<&str> = config
            .text
            .lines()
            .take_while(|line| line.starts_with('#'))
            .collect();
        let header = header.join("\n");
        assert!(
            header.lines().count() >= 5
                && header.contains("kube-state-otel")
                && header.contains("When to use")
                && header.contains("How it connects"),
            "{} must open with a comment block saying when to use it and how it connects",
            config.file
        );
    }
}

#[test]
fn every_component_exists_in_the_contrib_distribution() {
    let contrib = contrib_components();
    // A misread list would make every lookup below fail or pass for the wrong reason.
    for (_, kind) in SECTIONS {
        assert!(
            contrib.iter().any(|(k, _)| k == kind),
            "the component list has no {kind}"
        );
    }
    assert!(contrib.contains(&("receiver".into(), "otlp".into())));
    assert!(contrib.contains(&("exporter".into(), "prometheus".into())));

    let mut failures = Vec::new();
    for config in configs() {
        for (section, kind) in SECTIONS {
            for (id, _) in config.section(section) {
                let kind_type = component_type(id);
                if !contrib.contains(&(kind.to_string(), kind_type.to_string())) {
                    failures.push(format!(
                        "{}: {section}.{id}: otelcol-contrib has no {kind} `{kind_type}`",
                        config.file
                    ));
                }
            }
        }
    }
    assert_no_failures("components outside the contrib distribution", failures);
}

#[test]
fn pipelines_use_exactly_the_defined_components() {
    let mut failures = Vec::new();
    for config in configs() {
        let file = &config.file;
        let defined = |section: &str| -> BTreeSet<&str> {
            config
                .section(section)
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let (receivers, processors, exporters, connectors, extensions) = (
            defined("receivers"),
            defined("processors"),
            defined("exporters"),
            defined("connectors"),
            defined("extensions"),
        );
        let mut used: BTreeSet<String> = BTreeSet::new();
        let pipelines = config.pipelines();
        if pipelines.is_empty() {
            failures.push(format!("{file}: no pipeline"));
        }
        for (id, pipeline) in &pipelines {
            // kube-state-otel produces metrics only; another signal's pipeline would idle.
            if component_type(id) != "metrics" {
                failures.push(format!("{file}: pipeline {id} is not a metrics pipeline"));
            }
            if pipeline.receivers.is_empty() || pipeline.exporters.is_empty() {
                failures.push(format!(
                    "{file}: pipeline {id} needs receivers and exporters"
                ));
            }
            // A connector is an exporter of one pipeline and a receiver of another.
            let checks = [
                ("receiver", &pipeline.receivers, &receivers),
                ("processor", &pipeline.processors, &processors),
                ("exporter", &pipeline.exporters, &exporters),
            ];
            for (role, ids, defined) in checks {
                for used_id in ids {
                    let allowed = defined.contains(used_id.as_str())
                        || (role != "processor" && connectors.contains(used_id.as_str()));
                    if !allowed {
                        failures.push(format!(
                            "{file}: pipeline {id} uses undefined {role} {used_id}"
                        ));
                    }
                    used.insert(used_id.clone());
                }
            }
        }
        for id in receivers
            .iter()
            .chain(&processors)
            .chain(&exporters)
            .chain(&connectors)
        {
            if !used.contains(*id) {
                failures.push(format!("{file}: {id} is defined but in no pipeline"));
            }
        }
        let enabled: BTreeSet<&str> = config.yaml["service"]["extensions"]
            .as_sequence()
            .map(|s| s.iter().map(str_of).collect())
            .unwrap_or_default();
        for id in enabled.symmetric_difference(&extensions) {
            failures.push(format!(
                "{file}: extension {id} must be both defined and listed in service.extensions"
            ));
        }
    }
    assert_no_failures("inconsistent pipelines", failures);
}

#[test]
fn otlp_receivers_listen_where_kube_state_otel_pushes() {
    let grpc_port = port(DEFAULT_ENDPOINT);
    let mut failures = Vec::new();
    let mut receivers = 0;
    for config in configs() {
        let file = &config.file;
        for (id, body) in config.of_type("receivers", "otlp") {
            receivers += 1;
            let grpc = &body["protocols"]["grpc"];
            if grpc.is_null() {
                failures.push(format!(
                    "{file}: {id} has no grpc protocol, which kube-state-otel pushes"
                ));
                continue;
            }
            let endpoint = str_of(&grpc["endpoint"]);
            if port(endpoint) != grpc_port {
                failures.push(format!(
                    "{file}: {id} grpc listens on {endpoint}, not port {grpc_port}"
                ));
            }
            let http = &body["protocols"]["http"];
            if !http.is_null() && port(str_of(&http["endpoint"])) != OTLP_HTTP_PORT {
                failures.push(format!("{file}: {id} http is not on port {OTLP_HTTP_PORT}"));
            }
            // Our requests are at most --otlp-max-request-bytes; the receiver must take them.
            let limit_mib = u64_or(&grpc["max_recv_msg_size_mib"], GRPC_DEFAULT_MAX_RECV_MIB);
            if limit_mib * 1024 * 1024 < DEFAULT_MAX_REQUEST_BYTES as u64 {
                failures.push(format!(
                    "{file}: {id} accepts {limit_mib} MiB, less than the default --otlp-max-request-bytes"
                ));
            }
            // In the pod, only kube-state-otel (over localhost) may push into the sidecar.
            if *file == SIDECAR {
                let host = endpoint.rsplit_once(':').unwrap().0;
                if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
                    failures.push(format!("{file}: {id} listens on {host}, not localhost"));
                }
            }
        }
    }
    assert!(receivers >= 4, "only {receivers} OTLP receivers found");
    assert_no_failures("OTLP receivers", failures);
}

#[test]
fn prometheus_receiver_scrapes_both_endpoints_as_kube_state_metrics() {
    let cli = cli_defaults();
    let expected_ports = BTreeSet::from([cli.port, cli.telemetry_port]);
    let mut failures = Vec::new();
    let mut jobs = 0;
    for config in configs() {
        let file = &config.file;
        for (id, body) in config.of_type("receivers", "prometheus") {
            let scrape_configs = body["config"]["scrape_configs"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{file}: {id} has no scrape_configs"));
            for job in scrape_configs {
                jobs += 1;
                let name = str_of(&job["job_name"]);
                let at = format!("{file}: {id} job {name}");
                // The kubernetes-mixin's alerts and dashboards select this job.
                if name != "kube-state-metrics" {
                    failures.push(format!("{at}: job_name is not kube-state-metrics"));
                }
                if job["honor_labels"].as_bool() != Some(true) {
                    failures.push(format!("{at}: honor_labels is not true"));
                }
                if !job["metrics_path"].is_null() && str_of(&job["metrics_path"]) != "/metrics" {
                    failures.push(format!("{at}: metrics_path is not /metrics"));
                }
                if job["scrape_timeout"].is_null() || job["scrape_interval"].is_null() {
                    failures.push(format!("{at}: set scrape_interval and scrape_timeout"));
                } else {
                    let timeout = duration(&job["scrape_timeout"]);
                    let interval = duration(&job["scrape_interval"]);
                    if timeout <= PROMETHEUS_DEFAULT_SCRAPE_TIMEOUT || timeout > interval {
                        failures.push(format!(
                            "{at}: scrape_timeout {timeout:?} must exceed Prometheus' 10s default \
                             and not exceed scrape_interval {interval:?}"
                        ));
                    }
                }
                let ports: BTreeSet<u16> = job["static_configs"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .flat_map(|group| group["targets"].as_sequence().into_iter().flatten())
                    .map(|target| port(str_of(target)))
                    .collect();
                if ports != expected_ports {
                    failures.push(format!(
                        "{at}: targets ports {ports:?}, expected /metrics and telemetry ports {expected_ports:?}"
                    ));
                }
            }
        }
    }
    assert!(jobs > 0, "no prometheus receiver scrapes kube-state-otel");
    assert_no_failures("prometheus receiver", failures);
}

#[test]
fn prometheus_bridge_serves_the_names_of_our_metrics_endpoint() {
    let bridge = config(BRIDGE);
    let exporters = bridge.of_type("exporters", "prometheus");
    assert!(!exporters.is_empty(), "{BRIDGE} has no prometheus exporter");
    for (id, exporter) in &exporters {
        // Our names are already Prometheus names with _total on counters: no suffix may be
        // added. translation_strategy wins over the deprecated add_metric_suffixes.
        match exporter["translation_strategy"].as_str() {
            Some(strategy) => assert_eq!(
                strategy, "UnderscoreEscapingWithoutSuffixes",
                "{BRIDGE}: {id} must escape like Prometheus without adding suffixes"
            ),
            None => assert_eq!(
                exporter["add_metric_suffixes"].as_bool(),
                Some(false),
                "{BRIDGE}: {id} adds unit and type suffixes"
            ),
        }
        assert_eq!(
            exporter["without_scope_info"].as_bool(),
            Some(true),
            "{BRIDGE}: {id} adds otel_scope_* labels"
        );
        // Copies the identity labels the transform processor keeps back onto the points.
        assert_eq!(
            exporter["resource_to_telemetry_conversion"]["enabled"].as_bool(),
            Some(true),
            "{BRIDGE}: {id} leaves identity labels on the resources"
        );
        assert!(
            exporter["resource_constant_labels"].is_null(),
            "{BRIDGE}: {id} turns resource attributes into labels"
        );
        // Series are refreshed once per push; expiring sooner would blank them between pushes.
        let expiration = duration(&exporter["metric_expiration"]);
        assert!(
            expiration >= 2 * DEFAULT_INTERVAL,
            "{BRIDGE}: {id} metric_expiration {expiration:?} is under two --otlp-interval"
        );
        assert_ne!(
            exporter["enable_open_metrics"].as_bool(),
            Some(true),
            "{BRIDGE}: {id} would add _created series"
        );
    }

    // Every resource attribute but the identity labels goes: the exporter would make job and
    // instance labels and target_info out of service.*, and resource_to_telemetry_conversion
    // labels out of the rest.
    let kept = bridge_kept_resource_attributes(&bridge);
    let identity: BTreeSet<String> = all_kinds()
        .iter()
        .flat_map(|k| k.identity_labels())
        .map(|label| label.to_string())
        .collect();
    assert_eq!(kept, identity, "{BRIDGE}: the kept resource attributes");
    for attribute in JOB_INSTANCE_ATTRIBUTES {
        assert!(!kept.contains(attribute), "{BRIDGE}: keeps {attribute}");
    }
}

/// The resource attributes the bridge's metrics pipeline keeps: the `keep_keys` of its
/// transform processors' resource statements.
fn bridge_kept_resource_attributes(bridge: &CollectorConfig) -> BTreeSet<String> {
    let (_, pipeline) = bridge
        .pipelines()
        .into_iter()
        .find(|(_, p)| {
            p.exporters
                .iter()
                .any(|e| component_type(e) == "prometheus")
        })
        .unwrap_or_else(|| panic!("{BRIDGE}: no pipeline exports to prometheus"));
    let transforms: BTreeMap<&str, &Value> = bridge
        .of_type("processors", "transform")
        .into_iter()
        .collect();
    let keep = Regex::new(r#"^keep_keys\(attributes, \[(.*)\]\)$"#).unwrap();
    let quoted = Regex::new(r#""([^"]+)""#).unwrap();
    let mut kept = BTreeSet::new();
    for statement in pipeline
        .processors
        .iter()
        .filter_map(|p| transforms.get(p.as_str()))
        .flat_map(|t| t["metric_statements"].as_sequence().into_iter().flatten())
        .filter(|group| group["context"].as_str() == Some("resource"))
        .flat_map(|group| group["statements"].as_sequence().into_iter().flatten())
    {
        let statement = str_of(statement);
        let list = keep
            .captures(statement)
            .unwrap_or_else(|| panic!("{BRIDGE}: unexpected resource statement {statement}"));
        kept.extend(quoted.captures_iter(&list[1]).map(|c| c[1].to_string()));
    }
    assert!(
        !kept.is_empty(),
        "{BRIDGE}: no keep_keys of resource attributes"
    );
    kept
}

/// A Prometheus series: name, labels without empty values (Prometheus' absent), value.
type Series = (String, BTreeMap<String, String>, String);

/// The series of Prometheus text.
fn text_series(text: &str) -> BTreeSet<Series> {
    let mut series = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, mut rest) = line.split_at(line.find(['{', ' ']).expect("a sample line"));
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            loop {
                let Some((at, c)) = chars.next() else {
                    panic!("unterminated labels: {line}")
                };
                match c {
                    '}' => {
                        rest = &body[at + 1..];
                        break;
                    }
                    ',' => {}
                    '=' => {
                        chars.next(); // the opening quote
                        let mut value = String::new();
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '"' => break,
                                '\\' => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(other) => value.push(other),
                                    None => {}
                                },
                                other => value.push(other),
                            }
                        }
                        if !value.is_empty() {
                            labels.insert(std::mem::take(&mut key), value);
                        }
                        key.clear();
                    }
                    other => key.push(other),
                }
            }
        }
        let value: f64 = rest
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("a value: {line}"));
        series.insert((name.to_string(), labels, format!("{value:?}")));
    }
    series
}

/// What the bridge's Prometheus exporter serves from `requests`: each resource's attributes
/// kept by the transform processor, copied onto its points where they lack them
/// (resource_to_telemetry_conversion), names and labels as they are (they already are
/// Prometheus names: UnderscoreEscapingWithoutSuffixes changes none).
fn bridge_series(
    requests: &[ExportMetricsServiceRequest],
    kept: &BTreeSet<String>,
) -> BTreeSet<Series> {
    let text = |kv: &ProtoKeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        other => panic!("a string attribute: {other:?}"),
    };
    let mut series = BTreeSet::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource: Vec<&ProtoKeyValue> = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .filter(|kv| kept.contains(&kv.key))
            .collect();
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let points = match &metric.data {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) => &s.data_points,
                other => panic!("{other:?}"),
            };
            for point in points {
                let mut labels = BTreeMap::new();
                for kv in point.attributes.iter().chain(resource.iter().copied()) {
                    labels.entry(kv.key.clone()).or_insert_with(|| text(kv));
                }
                labels.retain(|_, v| !v.is_empty());
                let value = match point.value {
                    Some(PointValue::AsDouble(v)) => v,
                    Some(PointValue::AsInt(v)) => v as f64,
                    None => panic!("a point without a value"),
                };
                series.insert((metric.name.clone(), labels, format!("{value:?}")));
            }
        }
    }
    series
}

/// `--otlp-identity-on-resource` through the bridge, as the Collector's steps do it (no
/// Collector binary can be installed here): the transform processor's kept attributes, copied
/// onto the points, give every series of kube-state-otel's `/metrics` back with its
/// kube-state-metrics labels, and nothing else.
#[test]
fn identity_on_the_resource_through_the_bridge_is_our_metrics_endpoint() {
    let pipeline =
        KsoPipeline::new(PipelineSettings::default(), Telemetry::new()).expect("valid settings");
    let cluster = GeneratedCluster::new(2, 5, 7);
    assert!(pipeline.load_objects(cluster.objects()) > 20);
    let mut text = String::new();
    let mut encoder = TextEncoder::new(64 * 1024, |chunk: bytes::Bytes| {
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    });
    for part in pipeline.parts(&ResourceFilter::default()) {
        part.collect(&mut encoder);
    }
    encoder.finish();
    let mut requests = Vec::new();
    let service = [KeyValue::new("service.name", "kube-state-otel")];
    let mut encoder = OtlpEncoder::new(&service, 64 * 1024, 1, 2, |r| {
        requests.push(ExportMetricsServiceRequest::decode(r.body.clone()).expect("decodes"));
        ControlFlow::Continue(())
    })
    .identity_on_resource(true);
    pipeline.collect(&mut encoder);
    encoder.finish();
    let on_points = requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter_map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.first(),
            _ => None,
        })
        .any(|p| p.attributes.iter().any(|kv| kv.key == "pod"));
    assert!(!on_points, "identity labels left on points");
    let want = text_series(&text);
    assert!(want.len() > 500, "{} series", want.len());
    let kept = bridge_kept_resource_attributes(&config(BRIDGE));
    let got = bridge_series(&requests, &kept);
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "only in /metrics: {missing:#?}\nonly through the bridge: {extra:#?}"
    );
}

#[test]
fn batch_processors_cap_their_batches() {
    let mut failures = Vec::new();
    for config in configs() {
        for (id, body) in config.of_type("processors", "batch") {
            // Without a maximum, one of our multi-MiB requests passes through whole.
            let max = u64_or(&body["send_batch_max_size"], 0);
            let size = u64_or(&body["send_batch_size"], BATCH_DEFAULT_SIZE);
            if max == 0 || max < size {
                failures.push(format!(
                    "{}: {id} send_batch_max_size {max} must be set and >= send_batch_size {size}",
                    config.file
                ));
            }
        }
    }
    assert_no_failures("unbounded batches", failures);
}

/// Whether every series of `kind` has the label `label`.
fn on_every_series(kind: &dyn WatchKind, label: &str) -> bool {
    kind.identity_labels().contains(&label)
        || LABEL_ON_EVERY_SERIES.contains(&(kind.resource(), label))
}

/// One `set(attributes["<target>"], attributes["<source>"])` of a transform processor.
struct Rename {
    target: String,
    source: String,
    /// The instrumentation scope (kind resource) the statement is limited to.
    scope: Option<String>,
}

fn renames_and_deletes(transform: &Value) -> (Vec<Rename>, Vec<(String, Option<String>)>) {
    let set =
        Regex::new(r#"^set\(attributes\["([^"]+)"\], attributes\["([^"]+)"\]\)(?: where (.+))?$"#)
            .unwrap();
    let delete = Regex::new(r#"^delete_key\(attributes, "([^"]+)"\)(?: where (.+))?$"#).unwrap();
    let scope = Regex::new(r#"instrumentation_scope\.name == "([^"]+)""#).unwrap();
    let scope_of = |condition: Option<regex::Match>| {
        condition.and_then(|c| scope.captures(c.as_str()).map(|s| s[1].to_string()))
    };
    let (mut renames, mut deletes) = (Vec::new(), Vec::new());
    let statements = transform["metric_statements"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["statements"].as_sequence().into_iter().flatten());
    for statement in statements.map(str_of) {
        if let Some(c) = set.captures(statement) {
            renames.push(Rename {
                target: c[1].to_string(),
                source: c[2].to_string(),
                scope: scope_of(c.get(3)),
            });
        } else if let Some(c) = delete.captures(statement) {
            deletes.push((c[1].to_string(), scope_of(c.get(2))));
        }
    }
    (renames, deletes)
}

#[test]
fn semconv_resources_rename_identity_labels_and_group_them() {
    let config = config("semconv-resources.yaml");
    let registry = fs::read_to_string(SEMCONV_REGISTRY).expect("shared semconv registry");
    let kinds = all_kinds();
    let mut failures = Vec::new();

    for (pipeline_id, pipeline) in config.pipelines() {
        let mut renames: Vec<Rename> = Vec::new();
        let mut deletes = Vec::new();
        for processor in &pipeline.processors {
            let body = &config.yaml["processors"][processor.as_str()];
            match component_type(processor) {
                "transform" => {
                    let (r, d) = renames_and_deletes(body);
                    renames.extend(r);
                    deletes.extend(d);
                }
                "groupbyattrs" => {
                    let keys: Vec<&str> = body["keys"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .map(str_of)
                        .collect();
                    for required in ["k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid"] {
                        if !keys.contains(&required) {
                            failures.push(format!("{processor} does not group by {required}"));
                        }
                    }
                    // A key nothing sets before this processor would never group anything.
                    for key in keys {
                        if !renames.iter().any(|r| r.target == key) {
                            failures.push(format!(
                                "pipeline {pipeline_id}: {processor} groups by {key}, which no \
                                 earlier transform sets"
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        assert!(
            !renames.is_empty(),
            "pipeline {pipeline_id} renames nothing"
        );

        for rename in &renames {
            let Rename {
                target,
                source,
                scope,
            } = rename;
            if !registry.contains(&format!("- id: {target}\n")) {
                failures.push(format!("{target} is not a semantic-conventions attribute"));
            }
            // The source must be a label every series of the kind has, or grouping splits
            // one object's series over several resources.
            match scope {
                Some(resource) => match kinds.iter().find(|k| k.resource() == resource) {
                    Some(kind) if on_every_series(*kind, source) => {}
                    Some(_) => failures.push(format!("{resource} series may lack {source}")),
                    None => failures.push(format!("no kind has the scope {resource}")),
                },
                None => {
                    for kind in kinds.iter().filter(|k| k.namespaced()) {
                        if !on_every_series(*kind, source) {
                            failures.push(format!(
                                "{target} is set from {source} in every scope, but {} lacks it",
                                kind.resource()
                            ));
                        }
                    }
                }
            }
            // The kube-state-metrics name would otherwise stay beside the new one.
            if !deletes.iter().any(|(key, s)| key == source && s == scope) {
                failures.push(format!("{source} is renamed to {target} but not deleted"));
            }
        }
    }
    assert_no_failures("semantic-conventions renaming", failures);
}
