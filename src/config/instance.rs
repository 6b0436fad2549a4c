//! From flags (and the `--config` file) to what each pipeline of the process runs with: read at
//! start, and again on every reload of the file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::file::{ConfigFile, check_addresses};
use super::{Cli, items};
use crate::export::otlp::{EntityConfig, OtlpConfig, OtlpError, Signal};
use crate::metric::KindOptions;
use crate::pipeline::{PipelineSettings, all_kinds};
use crate::watch::{Selectors, Shard, WatchSettings};

/// Settings that are not valid: at start a usage error, on a reload a refused file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    File(#[from] super::file::Error),
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error("{0}")]
    Invalid(String),
}

/// One pipeline the process runs: its name in `--config`, its effective flags, and its
/// per-resource selectors.
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: Option<String>,
    pub cli: Cli,
    pub selectors: BTreeMap<String, Selectors>,
}

/// The flags alone, or one instance per `--config` pipeline (only `--pipeline`'s when given):
/// the flags left at their defaults are filled from the pipeline; `explicit(id)` tells whether
/// the flag with that clap id was given (on the command line or by environment).
pub fn instances(
    cli: &Cli,
    explicit: impl Fn(&str) -> bool,
) -> Result<Vec<Instance>, SettingsError> {
    let Some(path) = cli.config.as_deref() else {
        return Ok(vec![Instance {
            name: None,
            cli: cli.clone(),
            selectors: BTreeMap::new(),
        }]);
    };
    let file = ConfigFile::read(path)?;
    instances_of(cli, path, file, explicit)
}

/// [`instances`] from the file's parsed contents.
pub fn instances_of(
    cli: &Cli,
    path: &Path,
    file: ConfigFile,
    explicit: impl Fn(&str) -> bool,
) -> Result<Vec<Instance>, SettingsError> {
    let shown = path.display().to_string();
    let pipelines = file.select(&shown, cli.pipeline.as_deref())?;
    let known: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
    let mut instances = Vec::with_capacity(pipelines.len());
    for pipeline in pipelines {
        let mut effective = cli.clone();
        pipeline.apply(&mut effective, &explicit);
        let selectors = pipeline.selectors();
        if let Some(resource) = selectors.keys().find(|r| !known.contains(&r.as_str())) {
            return Err(SettingsError::Invalid(format!(
                "--config {shown}: selectors.{resource}: unknown resource (known: {})",
                known.join(",")
            )));
        }
        instances.push(Instance {
            name: Some(pipeline.name),
            cli: effective,
            selectors,
        });
    }
    let addresses: Vec<(&str, &Cli)> = instances
        .iter()
        .map(|i| (i.name.as_deref().unwrap_or_default(), &i.cli))
        .collect();
    check_addresses(&shown, &addresses)?;
    Ok(instances)
}

impl Instance {
    /// What the instance's pipeline watches and how.
    pub fn pipeline_settings(&self) -> Result<PipelineSettings, SettingsError> {
        let cli = &self.cli;
        let known: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
        for (flag, lists) in [
            ("--metric-labels-allowlist", &cli.metric_labels_allowlist),
            (
                "--metric-annotations-allowlist",
                &cli.metric_annotations_allowlist,
            ),
        ] {
            if let Some(resource) = lists.unknown_resource(&known) {
                return Err(SettingsError::Invalid(format!(
                    "{flag}: resource {resource} does not exist. Available resources: {}",
                    known.join(",")
                )));
            }
        }
        let options: HashMap<String, KindOptions> = known
            .iter()
            .map(|&resource| {
                let options = KindOptions {
                    allow_labels: cli.metric_labels_allowlist.for_resource(resource),
                    allow_annotations: cli.metric_annotations_allowlist.for_resource(resource),
                    ..KindOptions::default()
                };
                (resource.to_string(), options)
            })
            .collect();
        if cli.autoshard_target().is_none()
            && [&cli.pod, &cli.pod_namespace]
                .iter()
                .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
        {
            return Err(SettingsError::Invalid(
                "--pod and --pod-namespace: automated sharding needs both".to_string(),
            ));
        }
        if cli.shard >= cli.total_shards {
            return Err(SettingsError::Invalid(format!(
                "--shard: {} is not below --total-shards {}",
                cli.shard, cli.total_shards
            )));
        }
        Ok(PipelineSettings {
            resources: items(&cli.resources),
            opt_in: items(&cli.metric_opt_in_list),
            metric_allowlist: items(&cli.metric_allowlist),
            metric_denylist: items(&cli.metric_denylist),
            options,
            schema: cli.schema,
            custom: None,
            custom_only: cli.custom_resource_state_only,
            entity_events: cli.entity_events,
            watch: WatchSettings {
                page_size: Some(cli.list_page_size),
                namespaces: items(&cli.namespaces),
                namespaces_denylist: items(&cli.namespaces_denylist),
                selectors: self.selectors.clone(),
                shard: Shard {
                    ordinal: cli.shard,
                    total: cli.total_shards,
                    mode: cli.shard_mode,
                },
                // An empty NODE_NAME (downward API not wired) means no node filter.
                node: cli.node.clone().filter(|n| !n.is_empty()),
                unscheduled_pods: cli.track_unscheduled_pods,
                watch_timeout_seconds: cli
                    .watch_timeout
                    .map(|t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX)),
                ..WatchSettings::default()
            },
        })
    }

    /// The OTLP settings, when an endpoint is configured by flag, file or environment.
    pub fn otlp_config(&self) -> Result<Option<OtlpConfig>, SettingsError> {
        if !self.cli.otlp_endpoint_configured() {
            return Ok(None);
        }
        Ok(Some(OtlpConfig::from_env(self.cli.otlp_overrides())?))
    }

    /// The entity events push (`--entity-events`): the OTLP settings of the logs signal, which
    /// needs an endpoint of its own or a generic one.
    pub fn entity_config(&self) -> Result<Option<EntityConfig>, SettingsError> {
        let cli = &self.cli;
        if !cli.entity_events {
            return Ok(None);
        }
        let from_env = [Signal::Logs.endpoint_var(), "OTEL_EXPORTER_OTLP_ENDPOINT"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        if cli.otlp_endpoint.is_none() && !from_env {
            return Err(SettingsError::Invalid(
                "--entity-events: no OTLP endpoint (--otlp-endpoint, \
                 OTEL_EXPORTER_OTLP_LOGS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)"
                    .to_string(),
            ));
        }
        let mut otlp = OtlpConfig::resolve_signal(Signal::Logs, cli.otlp_overrides(), |name| {
            std::env::var(name).ok()
        })?;
        otlp.interval = cli.entity_events_interval;
        Ok(Some(EntityConfig {
            otlp,
            interval: cli.entity_events_interval,
            format: cli.entity_events_format,
        }))
    }

    /// The `--config` keys whose change only a restart applies (listen addresses, sharding,
    /// leader election), that differ between `self` and `next`.
    pub fn restart_needed(&self, next: &Instance) -> Vec<&'static str> {
        let (a, b) = (&self.cli, &next.cli);
        let mut keys = Vec::new();
        let mut check = |changed: bool, key: &'static str| {
            if changed {
                keys.push(key);
            }
        };
        check(a.host != b.host, "exporters.prometheus.host");
        check(a.port != b.port, "exporters.prometheus.port");
        check(
            a.telemetry_host != b.telemetry_host,
            "exporters.prometheus.telemetry_host",
        );
        check(
            a.telemetry_port != b.telemetry_port,
            "exporters.prometheus.telemetry_port",
        );
        check(a.shard != b.shard, "sharding.shard");
        check(a.total_shards != b.total_shards, "sharding.total_shards");
        check(a.shard_mode != b.shard_mode, "sharding.mode");
        check(a.pod != b.pod, "sharding.pod");
        check(a.pod_namespace != b.pod_namespace, "sharding.pod_namespace");
        check(
            a.leader_election != b.leader_election,
            "leader_election.enabled",
        );
        check(
            a.leader_election_lease_name != b.leader_election_lease_name,
            "leader_election.lease_name",
        );
        keys
    }
}

impl Cli {
    /// `(namespace, pod)` for automated sharding: both --pod and --pod-namespace non-empty.
    pub fn autoshard_target(&self) -> Option<(&str, &str)> {
        let namespace = self.pod_namespace.as_deref().filter(|v| !v.is_empty())?;
        let pod = self.pod.as_deref().filter(|v| !v.is_empty())?;
        Some((namespace, pod))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn instance(cli: &Cli, text: &str, explicit: &[&str]) -> Instance {
        let file = ConfigFile::parse("c.yaml", text).expect("valid");
        let mut all = instances_of(cli, Path::new("c.yaml"), file, |id| explicit.contains(&id))
            .expect("valid instances");
        all.remove(0)
    }

    #[test]
    fn only_what_a_restart_applies_is_named_and_flags_keep_winning() {
        let cli = Cli::parse_from(["kso", "--config", "c.yaml", "--port", "7000"]);
        let explicit = ["config", "port"];
        let before = instance(
            &cli,
            "pipelines:\n- name: a\n  resources: [pods]\n",
            &explicit,
        );
        // The port flag wins over the file, so a port in the file changes nothing.
        let same = instance(
            &cli,
            "pipelines:\n- name: a\n  resources: [pods, nodes]\n  exporters: {prometheus: {port: 9000}}\n",
            &explicit,
        );
        assert!(before.restart_needed(&same).is_empty());
        assert_eq!(same.cli.port, 7000);
        assert_eq!(same.cli.resources, ["pods", "nodes"]);
        let moved = instance(
            &cli,
            "pipelines:\n- name: a\n  exporters: {prometheus: {telemetry_port: 9001}}\n  sharding: {shard: 1, total_shards: 2}\n  leader_election: {enabled: true}\n",
            &explicit,
        );
        assert_eq!(
            before.restart_needed(&moved),
            [
                "exporters.prometheus.telemetry_port",
                "sharding.shard",
                "sharding.total_shards",
                "leader_election.enabled"
            ]
        );
    }

    #[test]
    fn settings_errors_are_returned_not_fatal() {
        let cli = Cli::parse_from(["kso", "--config", "c.yaml"]);
        let file = ConfigFile::parse(
            "c.yaml",
            "pipelines:\n- name: a\n  selectors: {widgets: {}}\n",
        )
        .expect("valid YAML");
        let error = instances_of(&cli, Path::new("c.yaml"), file, |_| false).expect_err("unknown");
        assert!(
            error
                .to_string()
                .contains("selectors.widgets: unknown resource"),
            "{error}"
        );
        let bad_shard = instance(
            &cli,
            "pipelines:\n- name: a\n  sharding: {shard: 2, total_shards: 2}\n",
            &[],
        );
        let error = bad_shard
            .pipeline_settings()
            .expect_err("shard out of range");
        assert!(
            error.to_string().contains("not below --total-shards 2"),
            "{error}"
        );
    }
}
