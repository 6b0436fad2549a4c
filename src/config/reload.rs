//! Reloading the `--config` file while running: a valid new version is put in force without a
//! restart (kinds whose settings did not change keep their watches and objects, the OTLP push
//! restarts only when its settings changed); an invalid one, or one that changes what only a
//! restart applies, is logged and the running config kept. kube-state-metrics' config
//! self-metrics (`type="config"`) say which.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kube::Client;

use super::Cli;
use super::file::ConfigFile;
use super::instance::{Instance, SettingsError, instances_of};
use super::stamp::Polled;
use crate::export::otlp::{EntityPush, OtlpPush};
use crate::pipeline::Pipeline;
use crate::telemetry::Telemetry;

/// The `type` of kube-state-metrics' config self-metrics for the `--config` file.
pub const PIPELINES_CONFIG: &str = "config";

/// One running pipeline, as a reload sees it.
pub struct Running {
    /// The settings in force.
    pub instance: Instance,
    pub pipeline: Arc<Pipeline>,
    pub client: Client,
    pub telemetry: Arc<Telemetry>,
    pub otlp: Arc<Mutex<OtlpPush>>,
    pub entities: Arc<Mutex<EntityPush>>,
}

/// Re-reads `cli.config` whenever it changes (checked every second; a rewrite, a rename or a
/// ConfigMap volume's symlink swap) for the life of the process. `explicit` are the clap ids
/// of the flags given on the command line or by environment: they keep winning over the file.
pub async fn watch_config_file(cli: Cli, explicit: BTreeSet<String>, mut running: Vec<Running>) {
    let Some(path) = cli.config.clone() else {
        return;
    };
    let shown = path.display().to_string();
    let mut polled = Polled::new(path.clone());
    loop {
        polled.changed().await;
        let read = std::fs::read_to_string(&path);
        let outcome = match read {
            Ok(text) => {
                let applied = async {
                    let file = ConfigFile::parse(&shown, &text)?;
                    let next = instances_of(&cli, &path, file, |id| explicit.contains(id))?;
                    reload(&shown, next, &mut running).await
                };
                applied.await.map(|()| text)
            }
            Err(error) => Err(SettingsError::Invalid(format!("--config {shown}: {error}"))),
        };
        match outcome {
            Ok(text) => {
                for r in &running {
                    r.telemetry
                        .config_read(PIPELINES_CONFIG, &shown, Some(text.as_bytes()));
                }
                tracing::info!(file = shown, "config reloaded");
            }
            Err(error) => {
                for r in &running {
                    r.telemetry.config_read(PIPELINES_CONFIG, &shown, None);
                }
                tracing::error!(file = shown, %error, "config not reloaded; the running one stays in force");
            }
        }
    }
}

/// Puts `next` in force over `running`, or changes nothing: every pipeline's new settings are
/// checked (and new OTLP pushes started) before any pipeline changes.
async fn reload(
    shown: &str,
    next: Vec<Instance>,
    running: &mut [Running],
) -> Result<(), SettingsError> {
    let before: BTreeSet<&str> = running
        .iter()
        .filter_map(|r| r.instance.name.as_deref())
        .collect();
    let after: BTreeSet<&str> = next.iter().filter_map(|i| i.name.as_deref()).collect();
    if before != after {
        return Err(SettingsError::Invalid(format!(
            "--config {shown}: the pipelines run here changed ({} → {}); a restart applies that",
            before.into_iter().collect::<Vec<_>>().join(", "),
            after.into_iter().collect::<Vec<_>>().join(", "),
        )));
    }
    let mut prepared = Vec::with_capacity(next.len());
    for instance in next {
        let Some(r) = running.iter().find(|r| r.instance.name == instance.name) else {
            continue;
        };
        let name = instance.name.clone().unwrap_or_default();
        let restart = r.instance.restart_needed(&instance);
        if !restart.is_empty() {
            return Err(SettingsError::Invalid(format!(
                "--config {shown}: pipeline {name:?}: {} changed; only a restart applies that",
                restart.join(", ")
            )));
        }
        let settings = instance.pipeline_settings()?;
        let reconfiguration = r.pipeline.prepare(settings).map_err(|e| {
            SettingsError::Invalid(format!("--config {shown}: pipeline {name:?}: {e}"))
        })?;
        let otlp = instance.otlp_config()?;
        let push = lock(&r.otlp);
        let exporter = if push.config() == otlp.as_ref() {
            None
        } else {
            let started = otlp.map(|config| push.start(&config).map(|e| (config, e)));
            Some(started.transpose()?)
        };
        drop(push);
        let entities = instance.entity_config()?;
        let push = lock(&r.entities);
        let entity_exporter = if push.config() == entities.as_ref() {
            None
        } else {
            let started = entities.map(|config| push.start(&config).map(|e| (config, e)));
            Some(started.transpose()?)
        };
        drop(push);
        prepared.push((instance, reconfiguration, (exporter, entity_exporter)));
    }
    for (instance, reconfiguration, (exporter, entity_exporter)) in prepared {
        let Some(r) = running
            .iter_mut()
            .find(|r| r.instance.name == instance.name)
        else {
            continue;
        };
        let report = r.pipeline.reconfigure(reconfiguration, &r.client).await;
        tracing::info!(
            pipeline = instance.name.as_deref().unwrap_or_default(),
            kept = report.kept.len(),
            restarted = ?report.restarted,
            added = ?report.added,
            removed = ?report.removed,
            "pipeline reconfigured"
        );
        if let Some(exporter) = exporter {
            lock(&r.otlp).replace(exporter);
        }
        if let Some(exporter) = entity_exporter {
            lock(&r.entities).replace(exporter);
        }
        r.instance = instance;
    }
    Ok(())
}

fn lock<T>(push: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    push.lock().unwrap_or_else(|p| p.into_inner())
}
