//! A pipeline: a set of kinds, their watchers and stores, the meter they register on, and the
//! collections the exporters read.

mod custom;
mod entities;
mod families;
mod progress;
mod reconfigure;
mod served;

pub use custom::CUSTOM_CONFIG;
pub use families::FamilyFilter;
pub use progress::{PROGRESS_EVERY, SyncProgress, human_bytes};
pub use reconfigure::{Reconfiguration, Reconfigured};
pub use served::Availability;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use kube::Client;
use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::MeterProvider;

use crate::kinds::{self, KindDef};
use crate::meter::{
    InstrumentDesc, MetricSink, Part, SEMCONV_SCHEMA_URL, StreamingMeterProvider, register_kind,
    register_kind_streaming, register_semconv,
};
use crate::metric::{FamilyDesc, KindOptions, Schema};
use crate::store::{ChangeLog, KindStore, Pins, StorePartition};
use crate::telemetry::Telemetry;
use crate::watch::discovery;
use crate::watch::{
    CountApiCalls, ResourceLabels, RetryAfterLayer, ServerSharding, ShardSelectorLayer, WatchKind,
    WatchScope, WatchSettings, WatchTarget,
};

/// Every kind this build can watch, sorted by resource name (the order of `/metrics`).
pub fn all_kinds() -> Vec<&'static dyn WatchKind> {
    let mut all: Vec<&'static dyn WatchKind> = vec![
        &kinds::deployment::DEPLOYMENTS as &KindDef<_>,
        &kinds::namespace::NAMESPACES,
        &kinds::node::NODES,
        &kinds::pod::PODS,
        &kinds::replicaset::REPLICASETS,
        &kinds::configmap::CONFIGMAPS,
        &kinds::endpoint::ENDPOINTS,
        &kinds::endpointslice::ENDPOINTSLICES,
        &kinds::ingress::INGRESSES,
        &kinds::ingressclass::INGRESSCLASSES,
        &kinds::lease::LEASES,
        &kinds::networkpolicy::NETWORKPOLICIES,
        &kinds::secret::SECRETS,
        &kinds::service::SERVICES,
        &kinds::serviceaccount::SERVICEACCOUNTS,
        &kinds::role::ROLES,
        &kinds::rolebinding::ROLEBINDINGS,
        &kinds::clusterrole::CLUSTERROLES,
        &kinds::clusterrolebinding::CLUSTERROLEBINDINGS,
        &kinds::certificatesigningrequest::CERTIFICATESIGNINGREQUESTS,
        &kinds::mutatingwebhookconfiguration::MUTATINGWEBHOOKCONFIGURATIONS,
        &kinds::validatingwebhookconfiguration::VALIDATINGWEBHOOKCONFIGURATIONS,
        &kinds::validatingadmissionpolicy::VALIDATINGADMISSIONPOLICIES,
        &kinds::validatingadmissionpolicybinding::VALIDATINGADMISSIONPOLICYBINDINGS,
        &kinds::mutatingadmissionpolicy::MUTATINGADMISSIONPOLICIES,
        &kinds::mutatingadmissionpolicybinding::MUTATINGADMISSIONPOLICYBINDINGS,
        &kinds::horizontalpodautoscaler::HORIZONTALPODAUTOSCALERS,
        &kinds::poddisruptionbudget::PODDISRUPTIONBUDGETS,
        &kinds::persistentvolume::PERSISTENTVOLUMES,
        &kinds::persistentvolumeclaim::PERSISTENTVOLUMECLAIMS,
        &kinds::storageclass::STORAGECLASSES,
        &kinds::volumeattachment::VOLUMEATTACHMENTS,
        &kinds::resourcequota::RESOURCEQUOTAS,
        &kinds::limitrange::LIMITRANGES,
        &kinds::statefulset::STATEFULSETS,
        &kinds::daemonset::DAEMONSETS,
        &kinds::job::JOBS,
        &kinds::cronjob::CRONJOBS,
        &kinds::replicationcontroller::REPLICATIONCONTROLLERS,
    ];
    all.sort_by_key(|k| k.resource());
    all
}

/// Objects per slice of a family in a scrape: small enough that two threads share the
/// families of a 150,000-pod cluster evenly (a pod family is up to 130 MB of text whole) and
/// that what one thread encodes ahead of the other is still in cache when it is sent.
pub const OBJECTS_PER_SLICE: usize = 4096;

/// Objects an OTLP collection reads through all of a kind's instruments before moving on:
/// few enough that their samples stay in the cache from one instrument to the next.
pub const OTLP_OBJECTS_PER_SLICE: usize = 512;

/// Resources kube-state-metrics watches only when `--resources` names them.
pub const OPTIONAL_RESOURCES: &[&str] = &[
    "clusterrolebindings",
    "clusterroles",
    "endpoints",
    "ingressclasses",
    "rolebindings",
    "roles",
    "serviceaccounts",
];

/// Errors in a pipeline's settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--resources: unknown resource {0:?} (known: {1})")]
    UnknownResource(String, String),
    #[error(
        "--metric-allowlist and --metric-denylist are both set; they are mutually exclusive, only one of them can be set"
    )]
    AllowAndDenyList,
    #[error("{flag}: invalid regular expression {pattern:?}: {error}")]
    BadRegex {
        flag: &'static str,
        pattern: String,
        error: String,
    },
}

/// What a pipeline watches and how.
#[derive(Clone, Debug, Default)]
pub struct PipelineSettings {
    /// Resources to watch; empty means every kind but the [`OPTIONAL_RESOURCES`].
    pub resources: Vec<String>,
    /// `--metric-opt-in-list` regexes.
    pub opt_in: Vec<String>,
    /// `--metric-allowlist` / `--metric-denylist` regexes; at most one may be non-empty.
    pub metric_allowlist: Vec<String>,
    pub metric_denylist: Vec<String>,
    pub options: HashMap<String, KindOptions>,
    pub watch: WatchSettings,
    /// The names and model the series are reported in.
    pub schema: Schema,
    /// `--custom-resource-state-config[-file]`, parsed.
    pub custom: Option<Arc<crate::crs::CrsConfig>>,
    /// `--custom-resource-state-only`: no built-in kind is watched.
    pub custom_only: bool,
    /// `--entity-events`: kinds with entities keep their objects' entity attributes and
    /// record their changes.
    pub entity_events: bool,
}

/// Which kinds one scrape wants: `?resources=pods,nodes` and `?exclude_resources=secrets`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Empty: all.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl ResourceFilter {
    pub fn allows(&self, resource: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r == resource))
            && !self.exclude.iter().any(|r| r == resource)
    }
}

/// What a kind's watchers and instruments are built from: a reconfiguration keeps a kind
/// (its watches and objects) whose settings are equal.
#[derive(Clone, Debug, PartialEq)]
struct KindSettings {
    /// Indices of the computed families, in store order.
    enabled: Vec<usize>,
    /// The semconv metrics the family filters let through.
    semconv_enabled: Vec<&'static str>,
    options: KindOptions,
    schema: Schema,
    /// One per list+watch: where it lists and the selectors it sends.
    scopes: Vec<WatchScope>,
}

struct KindRuntime {
    kind: &'static dyn WatchKind,
    settings: KindSettings,
    store: Arc<KindStore>,
    /// The enabled families, in store order.
    descs: Vec<FamilyDesc>,
    /// One per scope: its part of the store, and whether the API server forbids it.
    watches: Vec<Watch>,
    /// Named in `--resources` (or a pipeline's `resources`): not being served is a warning.
    requested: AtomicBool,
    /// Whether the API server serves the kind, and its running watchers.
    served: served::ServedState,
}

impl KindRuntime {
    /// A kind's store and watches (not started), known to the telemetry.
    fn new(
        kind: &'static dyn WatchKind,
        requested: bool,
        settings: KindSettings,
        telemetry: &Telemetry,
        entity_wake: &Arc<tokio::sync::Notify>,
    ) -> Self {
        let families = kind.families();
        let descs = settings
            .enabled
            .iter()
            .map(|&i| families[i].desc.clone())
            .collect();
        let changes = settings
            .options
            .entity_events
            .then(|| Arc::new(ChangeLog::new(entity_wake.clone())));
        let (store, watches) = watches_recording(settings.scopes.clone(), changes);
        telemetry.add_store(kind.resource(), store.clone());
        KindRuntime {
            kind,
            settings,
            store,
            descs,
            watches,
            requested: AtomicBool::new(requested),
            served: served::ServedState::new(),
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Every watch synced or forbidden, or the kind not served (there is nothing to wait for).
    fn is_ready(&self) -> bool {
        match self.served.availability() {
            Availability::Unknown => false,
            Availability::NotServed => true,
            Availability::Served => self.watches.iter().all(Watch::is_ready),
        }
    }
}

/// A kind's state, as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindState {
    Synced,
    Syncing,
    /// The API server forbids listing it (RBAC); retried with backoff.
    Forbidden,
    /// The API server does not serve its group/version/resource; not watched.
    NotServed,
}

impl KindState {
    pub fn as_str(self) -> &'static str {
        match self {
            KindState::Synced => "synced",
            KindState::Syncing => "syncing",
            KindState::Forbidden => "forbidden",
            KindState::NotServed => "not served",
        }
    }
}

/// One kind of a pipeline: its resource, state and object count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindStatus {
    pub resource: &'static str,
    pub state: KindState,
    pub objects: usize,
}

struct Watch {
    scope: WatchScope,
    store: StorePartition,
    forbidden: Arc<AtomicBool>,
}

/// A store with a partition per list+watch of `scopes`, and the watches.
fn watches(scopes: Vec<WatchScope>) -> (Arc<KindStore>, Vec<Watch>) {
    watches_recording(scopes, None)
}

/// [`watches`], the store recording its changes in `changes` if given.
fn watches_recording(
    scopes: Vec<WatchScope>,
    changes: Option<Arc<ChangeLog>>,
) -> (Arc<KindStore>, Vec<Watch>) {
    let store = KindStore::with_partitions(scopes.len());
    let store = Arc::new(match changes {
        Some(log) => store.with_changes(log),
        None => store,
    });
    let watches = scopes
        .into_iter()
        .zip(store.partitions())
        .map(|(scope, partition)| Watch {
            scope,
            store: partition,
            forbidden: Arc::new(AtomicBool::new(false)),
        })
        .collect();
    (store, watches)
}

impl Watch {
    /// Synced, or forbidden by RBAC (it would never sync; waiting would take every other kind's
    /// metrics down with it).
    fn is_ready(&self) -> bool {
        self.store.is_synced() || self.forbidden.load(Ordering::Acquire)
    }
}

pub struct Pipeline {
    /// The kinds watched, in resource order; a reconfiguration replaces the list.
    kinds: RwLock<Arc<Vec<Arc<KindRuntime>>>>,
    provider: StreamingMeterProvider,
    telemetry: Arc<Telemetry>,
    watch: RwLock<WatchSettings>,
    server_sharding: Arc<ServerSharding>,
    /// Set once the pipeline has been ready: a kind served later (a control plane upgrade)
    /// lists without taking the pod out of its Service's endpoints.
    was_ready: AtomicBool,
    /// When the pipeline started, and how long it took to be ready.
    clock: progress::SyncClock,
    /// Custom Resource State, when configured.
    custom: Option<custom::Custom>,
    /// Wakes the discovery loop early: kinds were added.
    rediscover: tokio::sync::Notify,
    /// Held while kinds' watchers are started or stopped (discovery, reconfiguration), so a
    /// kind being replaced is never started behind the replacement's back.
    lifecycle: tokio::sync::Mutex<()>,
    /// Notified when a kind's entities changed (`--entity-events`).
    entity_wake: Arc<tokio::sync::Notify>,
}

/// The kinds `settings` watches, in resource order: each kind, whether `--resources` names it,
/// and its settings.
fn plan_kinds(
    settings: &PipelineSettings,
    filter: &FamilyFilter,
) -> Result<Vec<(&'static dyn WatchKind, bool, KindSettings)>, Error> {
    let all = all_kinds();
    for resource in &settings.resources {
        if !all.iter().any(|k| k.resource() == resource) {
            let known: Vec<&str> = all.iter().map(|k| k.resource()).collect();
            return Err(Error::UnknownResource(resource.clone(), known.join(",")));
        }
    }
    if settings.custom_only {
        return Ok(Vec::new());
    }
    let schema = settings.schema;
    let mut kinds = Vec::new();
    for kind in all {
        let requested = settings.resources.iter().any(|r| r == kind.resource());
        let wanted = if settings.resources.is_empty() {
            !OPTIONAL_RESOURCES.contains(&kind.resource())
        } else {
            requested
        };
        if !wanted {
            continue;
        }
        let families = kind.families();
        let semconv_enabled: Vec<&'static str> = match kind.entity() {
            Some(_) if schema.semconv() => families
                .iter()
                .flat_map(|f| f.desc.semconv.iter().map(move |m| (m.name, f.opt_in)))
                .filter(|&(name, opt_in)| filter.enables(name, opt_in))
                .map(|(name, _)| name)
                .collect(),
            _ => Vec::new(),
        };
        // A row is computed when one of the names it is reported under is enabled.
        let enabled: Vec<usize> = families
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                (schema.ksm() && f.desc.ksm && filter.enables(f.desc.name, f.opt_in))
                    || f.desc
                        .semconv
                        .iter()
                        .any(|m| semconv_enabled.contains(&m.name))
            })
            .map(|(i, _)| i)
            .collect();
        // Under `semconv`, a kind semconv has nothing for (configmaps, secrets, …) is not
        // watched at all unless `--resources` names it.
        if enabled.is_empty() && schema == Schema::Semconv && settings.resources.is_empty() {
            continue;
        }
        let options = KindOptions {
            semconv_uid: schema.semconv(),
            entity_events: settings.entity_events && kind.entity_type().is_some(),
            ..settings
                .options
                .get(kind.resource())
                .cloned()
                .unwrap_or_default()
        };
        let kind_settings = KindSettings {
            enabled,
            semconv_enabled,
            options,
            schema,
            scopes: settings.watch.scopes(kind),
        };
        kinds.push((kind, requested, kind_settings));
    }
    Ok(kinds)
}

impl Pipeline {
    /// Registers the chosen kinds' families as instruments, each on its own meter.
    pub fn new(settings: PipelineSettings, telemetry: Arc<Telemetry>) -> Result<Self, Error> {
        let filter = FamilyFilter::new(
            &settings.metric_allowlist,
            &settings.metric_denylist,
            &settings.opt_in,
        )?;
        let opt_ins: Vec<&str> = all_kinds()
            .iter()
            .flat_map(|k| k.families())
            .filter(|f| f.opt_in)
            .map(|f| f.desc.name)
            .collect();
        // kube-state-metrics accepts entries that match nothing; a warning catches typos.
        for entry in filter.unmatched_opt_ins(&opt_ins) {
            tracing::warn!(
                entry,
                "--metric-opt-in-list entry matches no opt-in metric family"
            );
        }
        let entity_wake = Arc::new(tokio::sync::Notify::new());
        let kinds: Vec<Arc<KindRuntime>> = plan_kinds(&settings, &filter)?
            .into_iter()
            .map(|(kind, requested, settings)| {
                Arc::new(KindRuntime::new(
                    kind,
                    requested,
                    settings,
                    &telemetry,
                    &entity_wake,
                ))
            })
            .collect();
        // Every kind this build knows, so one a reconfiguration adds is counted too.
        let labels = ResourceLabels::new(all_kinds().iter().map(|k| {
            let resource =
                discovery::ApiResource::new(k.api_group(), k.api_version(), k.resource());
            (resource, k.resource_label())
        }));
        let server_sharding = ServerSharding::new(telemetry.clone(), labels);
        server_sharding.set_shard(&settings.watch.shard);
        let pipeline = Pipeline {
            kinds: RwLock::new(Arc::new(kinds)),
            provider: StreamingMeterProvider::new(),
            telemetry,
            watch: RwLock::new(settings.watch),
            server_sharding,
            was_ready: AtomicBool::new(false),
            clock: progress::SyncClock::new(),
            custom: settings
                .custom
                .map(|config| custom::Custom::new(config, filter, settings.schema)),
            rediscover: tokio::sync::Notify::new(),
            lifecycle: tokio::sync::Mutex::new(()),
            entity_wake,
        };
        for k in pipeline.kinds().iter() {
            pipeline.register_streaming(k);
        }
        Ok(pipeline)
    }

    /// The kinds watched now.
    fn kinds(&self) -> Arc<Vec<Arc<KindRuntime>>> {
        self.kinds.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The watch settings in force.
    fn watch(&self) -> WatchSettings {
        self.watch.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Registers `k`'s instruments on the pipeline's own streaming provider.
    fn register_streaming(&self, k: &KindRuntime) {
        self.register_kind(&self.provider, k, |k| {
            register_kind_streaming(
                &self.provider,
                k.kind.resource(),
                k.kind.identity_labels(),
                &k.descs,
                &k.store,
            );
        });
    }

    /// Registers every kind's families as instruments of `provider`, one meter per kind. The
    /// pipeline does this on its own streaming provider; benchmarks and the SDK oracle test do
    /// it on `opentelemetry_sdk` to compare.
    pub fn register_instruments(&self, provider: &impl MeterProvider) {
        self.register(provider, |k| {
            register_kind(
                &provider.meter(k.kind.resource()),
                k.kind.identity_labels(),
                &k.descs,
                &k.store,
            );
        });
    }

    /// Registers every kind's instruments on `provider`, the kube-state-metrics families
    /// through `register_ksm`.
    fn register(&self, provider: &impl MeterProvider, register_ksm: impl Fn(&KindRuntime)) {
        for k in self.kinds().iter() {
            self.register_kind(provider, k, &register_ksm);
        }
    }

    /// Registers one kind's instruments on `provider`, the kube-state-metrics families through
    /// `register_ksm`.
    fn register_kind(
        &self,
        provider: &impl MeterProvider,
        k: &KindRuntime,
        register_ksm: impl Fn(&KindRuntime),
    ) {
        if k.settings.schema.ksm() {
            register_ksm(k);
        }
        if let Some(entity) = k.kind.entity()
            && !k.settings.semconv_enabled.is_empty()
        {
            let scope = InstrumentationScope::builder(k.kind.resource())
                .with_schema_url(SEMCONV_SCHEMA_URL)
                .build();
            register_semconv(
                &provider.meter_with_scope(scope),
                entity,
                &k.descs,
                &k.store,
                |name| k.settings.semconv_enabled.contains(&name),
            );
        }
    }

    /// Stores objects directly, without a watcher (benchmarks, tests); objects of kinds the
    /// pipeline does not watch are skipped. Returns how many were stored.
    pub fn load_objects(&self, objects: impl IntoIterator<Item = serde_json::Value>) -> usize {
        let mut stored = 0;
        for object in objects {
            let kind = object
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or_default();
            let kinds = self.kinds();
            let Some(k) = kinds.iter().find(|k| k.kind.object_kind() == kind) else {
                continue;
            };
            match k
                .kind
                .samples_from_json(object, &k.settings.enabled, &k.settings.options)
            {
                Ok(decoded) => {
                    k.store.apply(&decoded.uid, decoded.samples);
                    stored += 1;
                }
                Err(error) => tracing::warn!(%error, "object skipped"),
            }
        }
        stored
    }

    /// Replaces the hash shard, before the watchers start (automated sharding reads it from
    /// the cluster once the client exists).
    pub fn set_shard(&mut self, shard: crate::watch::Shard) {
        self.watch
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .shard = shard;
        self.server_sharding.set_shard(&shard);
    }

    /// The layer the kube client needs so list/watch calls are counted per resource.
    pub fn api_call_layer(&self) -> CountApiCalls {
        CountApiCalls::new(
            self.telemetry.clone(),
            self.server_sharding.labels().clone(),
        )
    }

    /// The layer that honours the API server's `Retry-After`; add it before (inside)
    /// [`Pipeline::api_call_layer`], so a call and its retries count as one.
    pub fn retry_after_layer(&self) -> RetryAfterLayer {
        RetryAfterLayer::new(
            self.telemetry.clone(),
            self.server_sharding.labels().clone(),
        )
    }

    /// The layer that sends `--shard-mode=server`'s shard selector; add it before (inside)
    /// [`Pipeline::api_call_layer`], so a rejected selector's retry is counted as one call.
    pub fn shard_selector_layer(&self) -> ShardSelectorLayer {
        self.server_sharding.layer()
    }

    /// Starts the watchers of one kind: one, or one per namespace with `--namespaces`.
    fn spawn_watchers(&self, k: &KindRuntime, client: &Client) -> Vec<tokio::task::JoinHandle<()>> {
        let watch = self.watch();
        self.spawn_each(
            &k.watches,
            &k.settings.enabled,
            &k.settings.options,
            |scope, target| k.kind.run(client.clone(), watch.clone(), scope, target),
        )
    }

    /// Spawns `run` for each of `watches`, with the target it writes to.
    fn spawn_each<F>(
        &self,
        watches: &[Watch],
        enabled: &[usize],
        options: &KindOptions,
        run: impl Fn(WatchScope, WatchTarget) -> F,
    ) -> Vec<tokio::task::JoinHandle<()>>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        watches
            .iter()
            .map(|watch| {
                let target = WatchTarget {
                    store: watch.store.clone(),
                    enabled: enabled.to_vec(),
                    options: options.clone(),
                    telemetry: self.telemetry.clone(),
                    forbidden: watch.forbidden.clone(),
                };
                let run = run(watch.scope.clone(), target);
                tokio::spawn(tracing::Instrument::in_current_span(run))
            })
            .collect()
    }

    /// One collection of every kind that has objects (kinds without objects write nothing, not
    /// even headers, as kube-state-metrics does), in OTLP order ([`Pipeline::collect_resources`]).
    pub fn collect(&self, sink: &mut dyn MetricSink) {
        self.collect_resources(&ResourceFilter::default(), OTLP_OBJECTS_PER_SLICE, sink);
    }

    /// A collection of the kinds `filter` lets through, for OTLP: a kind's kube-state-metrics
    /// instruments slice by slice of about `objects_per_slice` of its objects
    /// ([`slice_major_parts`](crate::meter::Registry::slice_major_parts); an instrument's
    /// points come as several `Metric`s, as when a request is split), each slice declared as
    /// a set of objects with the kind's identity labels ([`MetricSink::objects`]), then its
    /// semconv instruments object by object, so that each object's points are together under
    /// its resource.
    pub fn collect_resources(
        &self,
        filter: &ResourceFilter,
        objects_per_slice: usize,
        sink: &mut dyn MetricSink,
    ) {
        let registry = self.provider.registry();
        let pins = Arc::new(Pins::default());
        for k in self.kinds_with_objects(filter) {
            let scope = |d: &InstrumentDesc| &*d.scope == k.kind.resource();
            let slices = k.store.len().div_ceil(objects_per_slice.max(1));
            let ksm = |d: &InstrumentDesc| scope(d) && d.schema_url.is_empty();
            for slice in registry.slice_major_parts(ksm, slices, &pins) {
                sink.objects(k.kind.identity_labels());
                slice.iter().for_each(|part| part.collect(sink));
            }
            sink.objects(&[]);
            collect_semconv(registry, k.kind.resource(), &k.store, sink);
        }
        // Custom resources: one scope each.
        let custom = self.custom_parts(filter, |r| {
            let slices = r.store.len().div_ceil(objects_per_slice.max(1));
            let ksm = |d: &InstrumentDesc| &*d.scope == r.scope && d.schema_url.is_empty();
            let parts = registry.slice_major_parts(ksm, slices, &pins);
            parts.into_iter().flatten().collect()
        });
        for part in custom {
            part.collect(sink);
        }
        for r in self.custom_runtimes() {
            if filter.allows(r.scope) {
                collect_semconv(registry, r.scope, &r.store, sink);
            }
        }
    }

    fn kinds_with_objects(&self, filter: &ResourceFilter) -> Vec<Arc<KindRuntime>> {
        self.kinds()
            .iter()
            .filter(|k| filter.allows(k.kind.resource()) && !k.store.is_empty())
            .cloned()
            .collect()
    }

    /// The instruments of the kinds `filter` lets through and that have objects, in output
    /// order, as separate parts so a collection can be spread over threads: each family of a
    /// kind in slices of about [`OBJECTS_PER_SLICE`] objects, all read from one snapshot per
    /// kind.
    pub fn parts(&self, filter: &ResourceFilter) -> Vec<Part> {
        self.parts_in_slices(filter, OBJECTS_PER_SLICE)
    }

    /// [`Pipeline::parts`] with slices of about `objects_per_slice` objects.
    pub fn parts_in_slices(&self, filter: &ResourceFilter, objects_per_slice: usize) -> Vec<Part> {
        let pins = Arc::new(Pins::default());
        let registry = self.provider.registry();
        let mut parts: Vec<Part> = self
            .kinds_with_objects(filter)
            .into_iter()
            .flat_map(|k| {
                let slices = k.store.len().div_ceil(objects_per_slice.max(1));
                registry.sliced_parts(k.kind.resource(), slices, &pins)
            })
            .collect();
        parts.extend(self.custom_parts(filter, |r| {
            let slices = r.store.len().div_ceil(objects_per_slice.max(1));
            let mut parts = registry.sliced_parts(r.scope, slices, &pins);
            // Under `both` a family's semconv instrument has its kube-state-metrics name:
            // /metrics shows the latter only (OTLP has both, in two scopes).
            if r.schema.ksm() {
                parts.retain(|p| p.schema_url().is_empty());
            }
            parts
        }));
        parts
    }

    /// Ready once discovery has answered and every served kind's watches have synced their
    /// initial list or are forbidden; from then on, ready (a synced kind stays synced through
    /// relists, and one served later is reported `syncing` until it has listed).
    pub fn is_ready(&self) -> bool {
        if self.was_ready.load(Ordering::Acquire) {
            return true;
        }
        let ready = self.kinds().iter().all(|k| k.is_ready())
            && self.custom.as_ref().is_none_or(|c| c.is_ready());
        if ready && !self.was_ready.swap(true, Ordering::AcqRel) {
            self.clock.ready();
        }
        ready
    }

    /// Heap bytes of every kind's compact samples.
    pub fn store_heap_bytes(&self) -> usize {
        self.kinds().iter().map(|k| k.store.heap_bytes()).sum()
    }

    /// Every kind's state, in resource order.
    pub fn status(&self) -> Vec<KindStatus> {
        self.kinds()
            .iter()
            .map(|k| {
                let forbidden = || {
                    k.watches
                        .iter()
                        .any(|w| w.forbidden.load(Ordering::Acquire))
                };
                let state = if k.served.availability() == Availability::NotServed {
                    KindState::NotServed
                } else if k.store.is_synced() {
                    KindState::Synced
                } else if forbidden() {
                    KindState::Forbidden
                } else {
                    KindState::Syncing
                };
                KindStatus {
                    resource: k.kind.resource(),
                    state,
                    objects: k.store.len(),
                }
            })
            .chain(self.custom_status())
            .collect()
    }
}

/// The semconv instruments of `scope` object by object, so that each object's points are
/// together under its resource.
fn collect_semconv(
    registry: &crate::meter::Registry,
    scope: &str,
    store: &KindStore,
    sink: &mut dyn MetricSink,
) {
    let semconv = registry.parts_where(|d| &*d.scope == scope && !d.schema_url.is_empty());
    if !semconv.is_empty() {
        store.for_each_object(|| semconv.iter().for_each(|part| part.collect(sink)));
    }
}
