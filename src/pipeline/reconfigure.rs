//! Putting new pipeline settings in force without a restart (a `--config` reload): kinds whose
//! settings did not change keep their watches and objects (no relist); changed kinds are
//! stopped and listed again, new ones started, dropped ones stopped with their series.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use kube::Client;

use super::{
    Error, FamilyFilter, KindRuntime, KindSettings, Pipeline, PipelineSettings, plan_kinds,
};
use crate::metric::Schema;
use crate::pipeline::Availability;
use crate::watch::{WatchKind, WatchSettings};

/// What a reconfiguration did, by resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Settings unchanged: still watched, not relisted.
    pub kept: Vec<&'static str>,
    /// Settings changed: stopped and listed again.
    pub restarted: Vec<&'static str>,
    pub added: Vec<&'static str>,
    pub removed: Vec<&'static str>,
}

/// New settings, checked: [`Pipeline::reconfigure`] puts them in force.
pub struct Reconfiguration {
    schema: Schema,
    watch: WatchSettings,
    plan: Vec<(&'static dyn WatchKind, bool, KindSettings)>,
}

impl Pipeline {
    /// Checks `settings` (its shard and custom resource state config aside: the shard in force
    /// is kept, and the custom resource state file reloads on its own).
    pub fn prepare(&self, settings: PipelineSettings) -> Result<Reconfiguration, Error> {
        let filter = FamilyFilter::new(
            &settings.metric_allowlist,
            &settings.metric_denylist,
            &settings.opt_in,
        )?;
        let mut watch = settings.watch.clone();
        watch.shard = self.watch().shard;
        let settings = PipelineSettings { watch, ..settings };
        let plan = plan_kinds(&settings, &filter)?;
        Ok(Reconfiguration {
            schema: settings.schema,
            watch: settings.watch,
            plan,
        })
    }

    /// Puts prepared settings in force.
    pub async fn reconfigure(&self, next: Reconfiguration, client: &Client) -> Reconfigured {
        let Reconfiguration {
            schema,
            watch,
            plan,
        } = next;
        let _lifecycle = self.lifecycle.lock().await;
        *self.watch.write().unwrap_or_else(|p| p.into_inner()) = watch;
        let old = self.kinds();
        let mut report = Reconfigured::default();
        let mut next = Vec::with_capacity(plan.len());
        for (kind, requested, kind_settings) in plan {
            let resource = kind.resource();
            let running = old.iter().find(|k| k.kind.resource() == resource);
            if let Some(k) = running.filter(|k| k.settings == kind_settings) {
                k.requested.store(requested, Ordering::Relaxed);
                report.kept.push(resource);
                next.push(k.clone());
                continue;
            }
            let availability = match running {
                Some(k) => {
                    tracing::info!(resource, "settings changed; listing it again");
                    self.retire(k).await;
                    report.restarted.push(resource);
                    k.served.availability()
                }
                None => {
                    report.added.push(resource);
                    Availability::Unknown
                }
            };
            let k = Arc::new(KindRuntime::new(
                kind,
                requested,
                kind_settings,
                &self.telemetry,
                &self.entity_wake,
            ));
            self.register_streaming(&k);
            self.start_as(&k, availability, client);
            next.push(k);
        }
        for k in old.iter() {
            let resource = k.kind.resource();
            if !next.iter().any(|n| n.kind.resource() == resource) {
                tracing::info!(
                    resource,
                    "no longer configured; its watch stopped and its series dropped"
                );
                self.retire(k).await;
                self.telemetry.remove_resource(resource);
                report.removed.push(resource);
            }
        }
        *self.kinds.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        if !report.added.is_empty() {
            self.rediscover.notify_one();
        }
        // Custom resources list in the namespaces in force, in the schema in force.
        if let Some(custom) = &self.custom {
            custom.set_schema(schema);
            self.reload_custom(custom.config(), client).await;
        }
        report
    }

    /// Stops a kind's watchers and drops its objects and instruments.
    async fn retire(&self, k: &KindRuntime) {
        k.stop().await;
        self.provider.registry().remove_scope(k.kind.resource());
    }
}
