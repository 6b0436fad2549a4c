//! Custom Resource State in a pipeline: the CRDs are watched, and every served version an
//! entry of the config covers gets a store, instruments (a scope of its own) and watchers for
//! as long as its CRD serves it. A CRD created, changed or deleted at run time starts, switches
//! or stops them without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::task::JoinHandle;

use super::{Pipeline, Watch};
use crate::config::stamp::Polled;
use crate::crs::{CrsConfig, CrsMetricType, CrsResource};
use crate::meter::{Part, register_custom_semconv, register_kind_streaming};
use crate::metric::{FamilyDesc, MetricType, Schema, leak_once};
use crate::store::KindStore;
use crate::watch::WatchSettings;
use crate::watch::custom::{CustomKind, run_custom};
use crate::watch::discovery;
use crate::watch::retry;

/// The `type` of kube-state-metrics' config self-metrics for this file.
pub const CUSTOM_CONFIG: &str = "customresourceconfig";

/// The config and the custom resources it is serving now.
pub(super) struct Custom {
    /// The config in force (a reload replaces it).
    config: RwLock<Arc<CrsConfig>>,
    /// `--metric-allowlist`/`--metric-denylist`.
    filter: super::FamilyFilter,
    /// By `group/version/plural`, the order of `/metrics` (KSM writes them sorted by GVR).
    runtimes: Mutex<BTreeMap<String, Arc<CustomRuntime>>>,
    /// The CRDs as last seen, by name: a reloaded config is matched against them.
    crds: Mutex<BTreeMap<String, CustomResourceDefinition>>,
    /// The CRDs have been listed once: before that, the pipeline is not ready.
    crds_listed: AtomicBool,
    /// The schema the custom resources are reported in (a reconfiguration may change it).
    schema: RwLock<Schema>,
}

impl Custom {
    pub(super) fn new(config: Arc<CrsConfig>, filter: super::FamilyFilter, schema: Schema) -> Self {
        Custom {
            config: RwLock::new(config),
            filter,
            runtimes: Mutex::new(BTreeMap::new()),
            crds: Mutex::new(BTreeMap::new()),
            crds_listed: AtomicBool::new(false),
            schema: RwLock::new(schema),
        }
    }

    pub(super) fn schema(&self) -> Schema {
        *self.schema.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn set_schema(&self, schema: Schema) {
        *self.schema.write().unwrap_or_else(|p| p.into_inner()) = schema;
    }

    pub(super) fn config(&self) -> Arc<CrsConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The families of `entry` the filter lets through.
    fn enabled(&self, entry: &CrsResource) -> Vec<usize> {
        (0..entry.families.len())
            .filter(|&i| self.filter.enables(&entry.families[i].name, false))
            .collect()
    }

    fn crds(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CustomResourceDefinition>> {
        self.crds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn runtimes(&self) -> Vec<Arc<CustomRuntime>> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<CustomRuntime>>> {
        self.runtimes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every watch synced or forbidden, once the CRDs have been listed.
    pub(super) fn is_ready(&self) -> bool {
        self.crds_listed.load(Ordering::Acquire) && self.runtimes().iter().all(|r| r.is_ready())
    }
}

/// One served custom resource: kept (its instruments registered) for the process's life once
/// seen, watched while its CRD serves it.
pub(super) struct CustomRuntime {
    kind: Arc<CustomKind>,
    /// The entry's families computed and stored, in order.
    enabled: Vec<usize>,
    /// Its meter's scope, and the resource `/readyz` names.
    pub(super) scope: &'static str,
    /// The schema its instruments were registered for.
    pub(super) schema: Schema,
    pub(super) store: Arc<KindStore>,
    watches: Vec<Watch>,
    /// The CRD serving it now, and its watch tasks; none while no CRD serves it.
    serving: Mutex<Option<(String, Vec<JoinHandle<()>>)>>,
}

impl CustomRuntime {
    fn serving(&self) -> std::sync::MutexGuard<'_, Option<(String, Vec<JoinHandle<()>>)>> {
        self.serving.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_ready(&self) -> bool {
        self.serving().is_none() || self.watches.iter().all(Watch::is_ready)
    }

    /// Stops its watchers and drops its objects (before the store is cleared, so no late event
    /// refills it).
    async fn stop(&self) {
        let Some((_, tasks)) = self.serving().take() else {
            return;
        };
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.store.clear();
    }
}

/// What a CRD serves: for each served version, its API resource and whether it is namespaced.
fn served(crd: &CustomResourceDefinition) -> Vec<(ApiResource, bool)> {
    let spec = &crd.spec;
    let namespaced = spec.scope == "Namespaced";
    spec.versions
        .iter()
        .filter(|v| v.served)
        .map(|v| {
            let api = ApiResource {
                group: spec.group.clone(),
                version: v.name.clone(),
                api_version: format!("{}/{}", spec.group, v.name),
                kind: spec.names.kind.clone(),
                plural: spec.names.plural.clone(),
            };
            (api, namespaced)
        })
        .collect()
}

fn key(api: &ApiResource) -> String {
    format!("{}/{}/{}", api.group, api.version, api.plural)
}

impl Pipeline {
    /// Watches the CRDs for the life of the process (when a custom resource state config is
    /// set), starting and stopping the custom resources' watchers as CRDs come, change and go;
    /// with the config's `file`, re-reads it when it changes (see [`Pipeline::reload_custom`]).
    pub fn watch_custom(self: &Arc<Self>, client: Client, file: Option<PathBuf>) {
        if self.custom.is_none() {
            return;
        }
        if let Some(file) = file {
            let pipeline = self.clone();
            let client = client.clone();
            tokio::spawn(tracing::Instrument::in_current_span(async move {
                pipeline.watch_custom_file(file, client).await;
            }));
        }
        let pipeline = self.clone();
        let run = async move {
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            let watch = || Box::pin(watcher::watcher(api.clone(), watcher::Config::default()));
            let mut events = watch();
            let mut listed = BTreeSet::new();
            let mut failing = false;
            // The watchers' backoff and recovery (`watch::retry`).
            let mut backoff = retry::Backoff::default();
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%error, "watching CustomResourceDefinitions failed; retrying");
                            failing = true;
                        }
                        // As a forbidden kind: readiness does not wait for what may never list.
                        if let Some(custom) = &pipeline.custom {
                            custom.crds_listed.store(true, Ordering::Release);
                        }
                        let wait = backoff.delay(&error, std::time::Instant::now());
                        if retry::recovery(&error) == retry::Recovery::Relist {
                            events = watch();
                        }
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                };
                failing = false;
                match event {
                    Event::Init => listed.clear(),
                    Event::InitApply(crd) => {
                        listed.insert(crd.metadata.name.clone().unwrap_or_default());
                        pipeline.apply_crd(&crd, &client).await;
                    }
                    Event::InitDone => {
                        if let Some(custom) = &pipeline.custom {
                            custom.crds().retain(|name, _| listed.contains(name));
                        }
                        pipeline.drop_crds_except(&listed).await;
                        if let Some(custom) = &pipeline.custom {
                            custom.crds_listed.store(true, Ordering::Release);
                        }
                    }
                    Event::Apply(crd) => pipeline.apply_crd(&crd, &client).await,
                    Event::Delete(crd) => {
                        let name = crd.metadata.name.unwrap_or_default();
                        if let Some(custom) = &pipeline.custom {
                            custom.crds().remove(&name);
                        }
                        pipeline
                            .stop_serving(|crd| crd == name)
                            .await_except(&BTreeSet::new())
                            .await;
                    }
                }
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(run));
    }

    /// Starts what `crd` serves now that an entry covers, and stops what it no longer serves.
    async fn apply_crd(&self, crd: &CustomResourceDefinition, client: &Client) {
        let Some(custom) = &self.custom else {
            return;
        };
        let name = crd.metadata.name.clone().unwrap_or_default();
        custom.crds().insert(name.clone(), crd.clone());
        let config = custom.config();
        let mut wanted = BTreeSet::new();
        for (api, namespaced) in served(crd) {
            let Some(entry) = config
                .resources
                .iter()
                .position(|e| e.serves(&api.group, &api.version, &api.kind))
            else {
                continue;
            };
            let key = key(&api);
            wanted.insert(key.clone());
            let runtime = custom
                .lock()
                .entry(key)
                .or_insert_with(|| self.custom_runtime(custom, &config, entry, api, namespaced))
                .clone();
            let mut serving = runtime.serving();
            if serving.is_none() {
                tracing::info!(
                    resource = runtime.scope,
                    crd = name,
                    "custom resource served; watching it"
                );
                let tasks = self.spawn_custom_watchers(&runtime, client);
                *serving = Some((name.clone(), tasks));
            }
        }
        self.stop_serving(|crd| crd == name)
            .await_except(&wanted)
            .await;
    }

    /// Re-reads `file` whenever it changes (checked every second; a rewrite, a rename
    /// or a ConfigMap volume's symlink swap): a valid config is put in force, an invalid one
    /// is logged and the running one kept; kube-state-metrics' config self-metrics say which.
    async fn watch_custom_file(&self, file: PathBuf, client: Client) {
        let name = file.display().to_string();
        let mut polled = Polled::new(file);
        loop {
            polled.changed().await;
            let read = std::fs::read_to_string(polled.path())
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    let config = CrsConfig::parse(&text).map_err(|e| e.to_string())?;
                    Ok((text, config))
                });
            match read {
                Ok((text, config)) => {
                    self.reload_custom(Arc::new(config), &client).await;
                    self.telemetry
                        .config_read(CUSTOM_CONFIG, &name, Some(text.as_bytes()));
                    tracing::info!(file = name, "custom resource state config reloaded");
                }
                Err(error) => {
                    self.telemetry.config_read(CUSTOM_CONFIG, &name, None);
                    tracing::error!(file = name, %error, "custom resource state config not reloaded; the running one stays in force");
                }
            }
        }
    }

    /// Puts `config` in force: custom resources whose entry (and enabled families, and the
    /// namespaces they are listed in) did not change keep their watches and objects; the others
    /// are stopped, their instruments dropped, and started again from the CRDs as last seen, as
    /// are new entries'.
    pub async fn reload_custom(&self, config: Arc<CrsConfig>, client: &Client) {
        let Some(custom) = &self.custom else {
            return;
        };
        let running: Vec<(String, Arc<CustomRuntime>)> = custom
            .lock()
            .iter()
            .map(|(key, runtime)| (key.clone(), runtime.clone()))
            .collect();
        for (key, runtime) in running {
            let api = &runtime.kind.api;
            let kept = config
                .resources
                .iter()
                .find(|e| e.serves(&api.group, &api.version, &api.kind))
                .is_some_and(|e| e == runtime.kind.entry() && custom.enabled(e) == runtime.enabled)
                && runtime.schema == custom.schema()
                && runtime
                    .watches
                    .iter()
                    .map(|w| &w.scope)
                    .eq(self.watch().custom_scopes(runtime.kind.namespaced).iter());
            if kept {
                continue;
            }
            tracing::info!(
                resource = runtime.scope,
                "custom resource config changed; relisting it"
            );
            runtime.stop().await;
            custom.lock().remove(&key);
            self.provider.registry().remove_scope(runtime.scope);
        }
        *custom.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        let crds: Vec<CustomResourceDefinition> = custom.crds().values().cloned().collect();
        for crd in crds {
            self.apply_crd(&crd, client).await;
        }
    }

    /// Stops the runtimes served by CRDs not in `listed` (deleted while the CRD watch was
    /// down).
    async fn drop_crds_except(&self, listed: &BTreeSet<String>) {
        self.stop_serving(|crd| !listed.contains(crd))
            .await_except(&BTreeSet::new())
            .await;
    }

    fn stop_serving<'a>(&'a self, by: impl Fn(&str) -> bool + Send + Sync + 'a) -> StopServing<'a> {
        StopServing {
            pipeline: self,
            by: Box::new(by),
        }
    }

    fn custom_runtime(
        &self,
        custom: &Custom,
        config: &Arc<CrsConfig>,
        entry: usize,
        api: ApiResource,
        namespaced: bool,
    ) -> Arc<CustomRuntime> {
        let label = leak_once(&format!("{}.{}/{}", api.plural, api.group, api.version));
        let families = &config.resources[entry].families;
        let enabled = custom.enabled(&config.resources[entry]);
        let descs: Vec<FamilyDesc> = enabled
            .iter()
            .map(|&i| &families[i])
            .map(|family| FamilyDesc {
                name: leak_once(&family.name),
                help_line: family.help.trim_end().to_string(),
                metric_type: match family.metric_type {
                    CrsMetricType::Gauge => MetricType::Gauge,
                    CrsMetricType::Info => MetricType::Info,
                    CrsMetricType::StateSet => MetricType::StateSet,
                },
                ksm: true,
                semconv: &[],
            })
            .collect();
        let schema = custom.schema();
        let kind_labels =
            config.resources[entry].kind_labels(&enabled, &api.group, &api.version, &api.kind);
        let kind = Arc::new(CustomKind {
            config: config.clone(),
            entry,
            api,
            namespaced,
            label: label.to_string(),
            semconv: schema.semconv(),
            kind_labels,
        });
        let (store, watches) = super::watches(self.watch().custom_scopes(namespaced));
        self.telemetry.add_store(label, store.clone());
        // Its lists and watches counted under its label, as the built-in kinds' are.
        self.server_sharding.labels().add_custom(
            discovery::ApiResource::new(&kind.api.group, &kind.api.version, &kind.api.plural),
            label,
        );
        if schema.ksm() {
            register_kind_streaming(&self.provider, label, &[], &descs, &store);
        }
        if schema.semconv() {
            register_custom_semconv(&self.provider, label, namespaced, &descs, &store);
        }
        Arc::new(CustomRuntime {
            kind,
            enabled,
            scope: label,
            schema,
            store,
            watches,
            serving: Mutex::new(None),
        })
    }

    fn spawn_custom_watchers(
        &self,
        runtime: &CustomRuntime,
        client: &Client,
    ) -> Vec<JoinHandle<()>> {
        let options = Default::default();
        let watch = self.watch();
        self.spawn_each(
            &runtime.watches,
            &runtime.enabled,
            &options,
            |scope, target| {
                run_custom(
                    runtime.kind.clone(),
                    client.clone(),
                    watch.clone(),
                    scope,
                    target,
                )
            },
        )
    }

    pub(super) fn custom_runtimes(&self) -> Vec<Arc<CustomRuntime>> {
        self.custom
            .as_ref()
            .map(|custom| custom.runtimes())
            .unwrap_or_default()
    }

    /// The custom resources `filter` lets through (by `plural.group/version`) and that have
    /// objects: their parts in output order. A family several resources define is headed once,
    /// by the first, and continued by the others (as KSM writes it).
    pub(super) fn custom_parts(
        &self,
        filter: &super::ResourceFilter,
        parts_of: impl Fn(&CustomRuntime) -> Vec<Part>,
    ) -> Vec<Part> {
        let mut begun = BTreeSet::new();
        let mut all = Vec::new();
        let with_objects = self
            .custom_runtimes()
            .into_iter()
            .filter(|r| filter.allows(r.scope) && !r.store.is_empty());
        for runtime in with_objects {
            let parts = parts_of(&runtime);
            let names: BTreeSet<String> = parts.iter().map(|p| p.name().to_string()).collect();
            for part in parts {
                if begun.contains(part.name()) {
                    all.push(part.continuing());
                } else {
                    all.push(part);
                }
            }
            begun.extend(names);
        }
        all
    }
}

impl Pipeline {
    /// The custom resources' states, as `/readyz` reports them.
    pub(super) fn custom_status(&self) -> Vec<super::KindStatus> {
        use super::KindState;
        self.custom_runtimes()
            .iter()
            .map(|r| {
                let served = r.serving().is_some();
                let state = if !served {
                    KindState::NotServed
                } else if r.store.is_synced() {
                    KindState::Synced
                } else if r
                    .watches
                    .iter()
                    .any(|w| w.forbidden.load(Ordering::Acquire))
                {
                    KindState::Forbidden
                } else {
                    KindState::Syncing
                };
                super::KindStatus {
                    resource: r.scope,
                    state,
                    objects: r.store.len(),
                }
            })
            .collect()
    }
}

/// The runtimes whose serving CRD `by` selects, to stop unless their key is kept.
struct StopServing<'a> {
    pipeline: &'a Pipeline,
    by: Box<dyn Fn(&str) -> bool + Send + Sync + 'a>,
}

impl StopServing<'_> {
    async fn await_except(self, keep: &BTreeSet<String>) {
        let Some(custom) = &self.pipeline.custom else {
            return;
        };
        let stopping: Vec<Arc<CustomRuntime>> = custom
            .lock()
            .iter()
            .filter(|(key, runtime)| {
                !keep.contains(*key)
                    && runtime
                        .serving()
                        .as_ref()
                        .is_some_and(|(crd, _)| (self.by)(crd))
            })
            .map(|(_, runtime)| runtime.clone())
            .collect();
        for runtime in stopping {
            tracing::info!(
                resource = runtime.scope,
                "custom resource no longer served; its watch stopped and its series dropped"
            );
            runtime.stop().await;
        }
    }
}

impl WatchSettings {
    /// The list+watch calls of a custom resource: as a built-in kind's, without selectors of
    /// its own.
    fn custom_scopes(&self, namespaced: bool) -> Vec<crate::watch::WatchScope> {
        self.scopes_for("", namespaced)
    }
}
