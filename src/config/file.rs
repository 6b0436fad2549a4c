//! The `--config` file: named pipelines, each what one instance watches and where it exports.
//! A value set by a command-line flag (or its environment variable) wins over the file, which
//! wins over the flag's default; every key is documented in docs/config.md.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::Cli;
use crate::export::otlp::{Compression, EntityFormat, Protocol};
use crate::watch::{Selectors, ShardMode};

/// Errors reading a config file; each names the file and, for bad values, the key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--config {path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
    #[error("--config {path}: declares no pipelines")]
    NoPipelines { path: String },
    #[error("--pipeline: {name:?} is not in --config {path} (it declares {known})")]
    UnknownPipeline {
        name: String,
        path: String,
        known: String,
    },
    #[error(
        "--config {path}: pipelines {first:?} and {second:?} both serve on {address}; give each its own exporters.prometheus.{key}"
    )]
    SharedAddress {
        path: String,
        first: String,
        second: String,
        address: String,
        key: &'static str,
    },
    #[error("--config {path}: two pipelines are named {name:?}")]
    DuplicateName { path: String, name: String },
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub pipelines: Vec<PipelineConfig>,
}

/// The series schema a pipeline reports in.
pub use crate::metric::Schema;

/// One pipeline: the settings of one exporter instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub name: String,
    #[serde(default)]
    pub schema: Schema,
    pub resources: Option<Vec<String>>,
    pub namespaces: Option<Vec<String>>,
    pub namespaces_denylist: Option<Vec<String>>,
    /// Per resource: the selectors its lists and watches send.
    #[serde(default)]
    pub selectors: BTreeMap<String, ResourceSelectors>,
    #[serde(default)]
    pub sharding: Sharding,
    #[serde(default)]
    pub exporters: Exporters,
    #[serde(default)]
    pub leader_election: LeaderElection,
}

/// `--leader-election` and `--leader-election-lease-name` for one pipeline.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElection {
    pub enabled: Option<bool>,
    pub lease_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSelectors {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharding {
    pub shard: Option<u32>,
    pub total_shards: Option<u32>,
    pub mode: Option<ShardMode>,
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    pub node: Option<String>,
    pub track_unscheduled_pods: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exporters {
    #[serde(default)]
    pub prometheus: Prometheus,
    #[serde(default)]
    pub otlp: Otlp,
    #[serde(default)]
    pub entity_events: EntityEvents,
}

/// `--entity-events`, `--entity-events-interval` and `--entity-events-format`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityEvents {
    pub enabled: Option<bool>,
    #[serde(default, with = "humantime_serde_opt")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "from_str_opt")]
    pub format: Option<EntityFormat>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    pub host: Option<IpAddr>,
    pub port: Option<u16>,
    pub telemetry_host: Option<IpAddr>,
    pub telemetry_port: Option<u16>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Otlp {
    pub endpoint: Option<String>,
    #[serde(default, deserialize_with = "from_str_opt")]
    pub protocol: Option<Protocol>,
    #[serde(default, with = "humantime_serde_opt")]
    pub interval: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "from_str_opt")]
    pub compression: Option<Compression>,
    pub max_request_bytes: Option<usize>,
    #[serde(default, with = "humantime_serde_opt")]
    pub export_timeout: Option<Duration>,
    pub identity_on_resource: Option<bool>,
    /// Sent with every request, e.g. `authorization: Bearer ...`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub insecure: Option<bool>,
    pub certificate: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// A value the matching flag parses from text (`protocol: http/protobuf`).
fn from_str_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Option::<String>::deserialize(d)?
        .map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// `interval: 30s`, as the `--otlp-interval` flag takes it.
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl ConfigFile {
    /// Parses `text` (YAML); errors name the key as `pipelines[0].exporters.prometheus.port`.
    pub fn parse(path: &str, text: &str) -> Result<Self, Error> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let file: ConfigFile =
            serde_path_to_error::deserialize(deserializer).map_err(|e| Error::Invalid {
                path: path.to_string(),
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        if file.pipelines.is_empty() {
            return Err(Error::NoPipelines {
                path: path.to_string(),
            });
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<Self, Error> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// The pipelines one process runs: `name` only, or every pipeline when no name is given.
    pub fn select(self, path: &str, name: Option<&str>) -> Result<Vec<PipelineConfig>, Error> {
        let mut names = BTreeSet::new();
        if let Some(twice) = self.pipelines.iter().find(|p| !names.insert(&p.name)) {
            return Err(Error::DuplicateName {
                path: path.to_string(),
                name: twice.name.clone(),
            });
        }
        let Some(name) = name else {
            return Ok(self.pipelines);
        };
        match self.pipelines.iter().position(|p| p.name == name) {
            Some(index) => Ok(vec![self.pipelines[index].clone()]),
            None => Err(Error::UnknownPipeline {
                name: name.to_string(),
                path: path.to_string(),
                known: self
                    .pipelines
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Fails when two pipelines of one process would listen on the same address: `instances`
/// are (pipeline name, effective flags) after [`PipelineConfig::apply`].
pub fn check_addresses(path: &str, instances: &[(&str, &Cli)]) -> Result<(), Error> {
    let mut taken: BTreeMap<(IpAddr, u16), &str> = BTreeMap::new();
    for (name, cli) in instances {
        for (address, key) in [
            ((cli.host, cli.port), "port"),
            ((cli.telemetry_host, cli.telemetry_port), "telemetry_port"),
        ] {
            if let Some(first) = taken.insert(address, name) {
                return Err(Error::SharedAddress {
                    path: path.to_string(),
                    first: first.to_string(),
                    second: name.to_string(),
                    address: format!("{}:{}", address.0, address.1),
                    key,
                });
            }
        }
    }
    Ok(())
}

impl PipelineConfig {
    /// Fills the flags the command line left at their defaults; `explicit(id)` tells whether
    /// the flag with that clap id was given (on the command line or by environment).
    pub fn apply(&self, cli: &mut Cli, explicit: impl Fn(&str) -> bool) {
        fn set<T: Clone>(target: &mut T, value: Option<&T>, given: bool) {
            if let Some(value) = value.filter(|_| !given) {
                *target = value.clone();
            }
        }
        set(
            &mut cli.resources,
            self.resources.as_ref(),
            explicit("resources"),
        );
        set(&mut cli.schema, Some(&self.schema), explicit("schema"));
        set(
            &mut cli.namespaces,
            self.namespaces.as_ref(),
            explicit("namespaces"),
        );
        set(
            &mut cli.namespaces_denylist,
            self.namespaces_denylist.as_ref(),
            explicit("namespaces_denylist"),
        );
        let s = &self.sharding;
        set(&mut cli.shard, s.shard.as_ref(), explicit("shard"));
        set(
            &mut cli.total_shards,
            s.total_shards.as_ref(),
            explicit("total_shards"),
        );
        set(&mut cli.shard_mode, s.mode.as_ref(), explicit("shard_mode"));
        if !explicit("pod") && s.pod.is_some() {
            cli.pod = s.pod.clone();
        }
        if !explicit("pod_namespace") && s.pod_namespace.is_some() {
            cli.pod_namespace = s.pod_namespace.clone();
        }
        if !explicit("node") && s.node.is_some() {
            cli.node = s.node.clone();
        }
        set(
            &mut cli.track_unscheduled_pods,
            s.track_unscheduled_pods.as_ref(),
            explicit("track_unscheduled_pods"),
        );
        let l = &self.leader_election;
        set(
            &mut cli.leader_election,
            l.enabled.as_ref(),
            explicit("leader_election"),
        );
        set(
            &mut cli.leader_election_lease_name,
            l.lease_name.as_ref(),
            explicit("leader_election_lease_name"),
        );
        let p = &self.exporters.prometheus;
        set(&mut cli.host, p.host.as_ref(), explicit("host"));
        set(&mut cli.port, p.port.as_ref(), explicit("port"));
        set(
            &mut cli.telemetry_host,
            p.telemetry_host.as_ref(),
            explicit("telemetry_host"),
        );
        set(
            &mut cli.telemetry_port,
            p.telemetry_port.as_ref(),
            explicit("telemetry_port"),
        );
        let o = &self.exporters.otlp;
        if !explicit("otlp_endpoint") && o.endpoint.is_some() {
            cli.otlp_endpoint = o.endpoint.clone();
        }
        if !explicit("otlp_interval") && o.interval.is_some() {
            cli.otlp_interval = o.interval;
        }
        if !explicit("otlp_protocol") && o.protocol.is_some() {
            cli.otlp_protocol = o.protocol;
        }
        if !explicit("otlp_timeout") && o.timeout.is_some() {
            cli.otlp_timeout = o.timeout;
        }
        if !explicit("otlp_compression") && o.compression.is_some() {
            cli.otlp_compression = o.compression;
        }
        if !explicit("otlp_max_request_bytes") && o.max_request_bytes.is_some() {
            cli.otlp_max_request_bytes = o.max_request_bytes;
        }
        if !explicit("otlp_export_timeout") && o.export_timeout.is_some() {
            cli.otlp_export_timeout = o.export_timeout;
        }
        set(
            &mut cli.otlp_identity_on_resource,
            o.identity_on_resource.as_ref(),
            explicit("otlp_identity_on_resource"),
        );
        let e = &self.exporters.entity_events;
        set(
            &mut cli.entity_events,
            e.enabled.as_ref(),
            explicit("entity_events"),
        );
        set(
            &mut cli.entity_events_interval,
            e.interval.as_ref(),
            explicit("entity_events_interval"),
        );
        set(
            &mut cli.entity_events_format,
            e.format.as_ref(),
            explicit("entity_events_format"),
        );
        // Flags add to the file's headers and win per key.
        let given: Vec<String> = cli
            .otlp_headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        let from_file = o
            .headers
            .iter()
            .filter(|(k, _)| !given.contains(&k.to_ascii_lowercase()))
            .map(|(k, v)| (k.clone(), v.clone()));
        cli.otlp_headers.splice(0..0, from_file);
        set(
            &mut cli.otlp_insecure,
            o.insecure.as_ref(),
            explicit("otlp_insecure"),
        );
        for (target, value, id) in [
            (
                &mut cli.otlp_certificate,
                &o.certificate,
                "otlp_certificate",
            ),
            (
                &mut cli.otlp_client_certificate,
                &o.client_certificate,
                "otlp_client_certificate",
            ),
            (&mut cli.otlp_client_key, &o.client_key, "otlp_client_key"),
        ] {
            if !explicit(id) && value.is_some() {
                *target = value.clone();
            }
        }
    }

    /// The per-resource selectors, for the watch settings.
    pub fn selectors(&self) -> BTreeMap<String, Selectors> {
        self.selectors
            .iter()
            .map(|(resource, s)| {
                let selectors = Selectors {
                    label_selector: s.label_selector.clone(),
                    field_selector: s.field_selector.clone(),
                };
                (resource.clone(), selectors)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn error(text: &str) -> String {
        ConfigFile::parse("c.yaml", text)
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn errors_name_the_key() {
        let e = error("pipelines:\n- name: a\n  exporters: {prometheus: {port: eighty}}\n");
        assert!(e.contains("pipelines[0].exporters.prometheus.port"), "{e}");
        let e = error("pipelines:\n- name: a\n  schema: otel\n");
        assert!(
            e.contains("pipelines[0].schema") && e.contains("ksm") && e.contains("semconv"),
            "{e}"
        );
        for (text, schema) in [
            ("ksm", Schema::Ksm),
            ("semconv", Schema::Semconv),
            ("both", Schema::Both),
        ] {
            let file = ConfigFile::parse(
                "c.yaml",
                &format!("pipelines:\n- name: a\n  schema: {text}\n"),
            );
            assert_eq!(file.expect("valid").pipelines[0].schema, schema);
        }
        let e = error("pipelines:\n- name: a\n  resource: [pods]\n");
        assert!(e.contains("resource"), "{e}");
        let e = error("pipelines: []\n");
        assert!(e.contains("no pipelines"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file = ConfigFile::parse(
            "c.yaml",
            "pipelines:\n- name: pods\n  resources: [pods]\n  exporters:\n    prometheus: {port: 9000, telemetry_port: 9001}\n",
        )
        .expect("valid");
        let pipeline = file.select("c.yaml", None).expect("valid").remove(0);
        let mut cli = Cli::parse_from(["kso", "--port", "7000"]);
        pipeline.apply(&mut cli, |id| id == "port");
        assert_eq!(cli.port, 7000);
        assert_eq!(cli.telemetry_port, 9001);
        assert_eq!(cli.resources, ["pods"]);
        assert_eq!(cli.host.to_string(), "0.0.0.0");
    }

    #[test]
    fn pipelines_are_chosen_by_name_or_all_run() {
        let text = "pipelines:\n- name: a\n- name: b\n";
        let file = ConfigFile::parse("c.yaml", text).expect("valid");
        let names = |pipelines: Vec<PipelineConfig>| -> Vec<String> {
            pipelines.into_iter().map(|p| p.name).collect()
        };
        let b = file.clone().select("c.yaml", Some("b")).expect("b");
        assert_eq!(names(b), ["b"]);
        let all = file.clone().select("c.yaml", None).expect("all");
        assert_eq!(names(all), ["a", "b"]);
        let e = file.select("c.yaml", Some("c")).expect_err("unknown");
        assert!(e.to_string().starts_with("--pipeline") && e.to_string().contains("a, b"));
        let twice =
            ConfigFile::parse("c.yaml", "pipelines:\n- name: a\n- name: a\n").expect("valid YAML");
        let e = twice.select("c.yaml", None).expect_err("duplicate");
        assert!(
            e.to_string().contains("two pipelines are named \"a\""),
            "{e}"
        );
    }

    #[test]
    fn pipelines_of_one_process_need_their_own_ports() {
        let base = Cli::parse_from(["kso"]);
        let mut other = base.clone();
        other.port = 9000;
        assert!(check_addresses("c.yaml", &[("a", &base), ("b", &other)]).is_err());
        other.telemetry_port = 9001;
        check_addresses("c.yaml", &[("a", &base), ("b", &other)]).expect("distinct");
        let e = check_addresses("c.yaml", &[("a", &base), ("b", &base)]).expect_err("same");
        assert!(
            e.to_string()
                .contains("\"a\" and \"b\" both serve on 0.0.0.0:8080")
                && e.to_string().contains("exporters.prometheus.port"),
            "{e}"
        );
    }
}
