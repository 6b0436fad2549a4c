//! The emulator: store, settings and the control operations tests use.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::crd;
use crate::error::{Error, Result};
use crate::faults::{Failure, Fault, Faults};
use crate::generate::GeneratedCluster;
use crate::load;
use crate::object::StoredObject;
use crate::resources::{self, ResourceId};
use crate::shard::ShardSelectors;
use crate::stats::{Stats, StatsSnapshot};
use crate::store::{EventType, Store, StoreConfig, WriteGuard};
use crate::surface::{DEFAULT_KUBERNETES_VERSION, Surface};
use crate::util::{SplitMix64, now_unix, rfc3339};

/// Settings fixed at construction (a few can be changed later through setters).
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Whether `sendInitialEvents=true` watches (streaming lists) are supported. When false
    /// the emulator answers them with 422 Invalid, as a server without the WatchList feature.
    pub streaming_lists: bool,
    /// History and watch buffer sizes.
    pub store: StoreConfig,
    /// Watch duration when the client sends no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Smallest list response that is gzip-compressed for clients accepting gzip; the
    /// apiserver's threshold is 128 KiB.
    pub gzip_min_bytes: usize,
    /// The Kubernetes version emulated (`v1.33.0` or `1.33`, minors
    /// [`OLDEST_MINOR`](crate::surface::OLDEST_MINOR) to
    /// [`NEWEST_MINOR`](crate::surface::NEWEST_MINOR)): it decides which resources and versions
    /// are served, and `/version` reports it.
    pub kubernetes_version: String,
    /// kube-apiserver's `--runtime-config`: `group/version` (`v1` for core) → enabled, e.g.
    /// `admissionregistration.k8s.io/v1beta1` → true. Only versions that exist in the
    /// emulated minor may be named.
    pub runtime_config: BTreeMap<String, bool>,
    /// How `shardSelector` (server-side sharding) is treated; older servers ignore it.
    pub shard_selectors: ShardSelectors,
    /// Whether `/api` and `/apis` answer aggregated discovery when asked. Every emulated
    /// minor has it (GA in 1.30); off, the legacy documents answer every `Accept`, as from an
    /// API proxy that does not pass the aggregated format on.
    pub aggregated_discovery: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(5),
            streaming_lists: true,
            store: StoreConfig::default(),
            default_watch_timeout: Duration::from_secs(1800),
            gzip_min_bytes: 128 * 1024,
            kubernetes_version: DEFAULT_KUBERNETES_VERSION.into(),
            runtime_config: BTreeMap::new(),
            shard_selectors: ShardSelectors::Ignored,
            aggregated_discovery: true,
        }
    }
}

impl EmulatorConfig {
    /// The API surface these settings describe; fails on a version outside the supported
    /// range or a runtime-config entry naming a version that minor does not have.
    pub fn surface(&self) -> Result<Surface> {
        Ok(Surface::new(
            &self.kubernetes_version,
            &self.runtime_config,
        )?)
    }
}

/// The outcome of applying or deleting one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Resource (`pods`, `deployments.apps`).
    pub resource: String,
    /// Namespace, absent for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The new resourceVersion.
    pub resource_version: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub event: String,
}

/// How a write treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Create or update (the control surface's apply).
    Upsert,
    /// POST: fail when it exists.
    Create,
    /// PUT: fail when it does not exist.
    Replace,
}

/// An in-memory Kubernetes API server. Share it as `Arc<Emulator>`; serve it with
/// [`Emulator::serve`] and control it with the methods here or over HTTP (`/_emulator/`).
pub struct Emulator {
    pub(crate) store: Store,
    pub(crate) stats: Arc<Stats>,
    pub(crate) config: EmulatorConfig,
    forbidden: RwLock<HashSet<ResourceId>>,
    /// Per resource, the only verbs answered (the rest are 403), as RBAC granting just those.
    granted_verbs: RwLock<HashMap<ResourceId, HashSet<String>>>,
    faults: Faults,
    streaming_lists: AtomicBool,
    shard_selectors: RwLock<ShardSelectors>,
    bookmark_interval_ms: AtomicU64,
    /// How long each list request (each page) waits before it is answered.
    list_delay_ms: AtomicU64,
    /// What is served now; watches subscribe to end when their version stops being served.
    surface: tokio::sync::watch::Sender<Arc<Surface>>,
    /// Bumped to end every open watch.
    pub(crate) disconnect: tokio::sync::watch::Sender<u64>,
    /// Bumped to make every open watch go silent.
    pub(crate) silence: tokio::sync::watch::Sender<u64>,
    uids: Mutex<SplitMix64>,
    /// TokenReview and SubjectAccessReview state.
    pub(crate) reviews: crate::review::Reviews,
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Emulator {
    /// An empty emulator with default settings.
    pub fn new() -> Self {
        Self::build(EmulatorConfig::default(), Surface::default())
    }

    /// An empty emulator; fails when the Kubernetes version or runtime-config is invalid
    /// (see [`EmulatorConfig::surface`]).
    pub fn with_config(config: EmulatorConfig) -> Result<Self> {
        let surface = config.surface()?;
        Ok(Self::build(config, surface))
    }

    fn build(config: EmulatorConfig, surface: Surface) -> Self {
        Self {
            store: Store::new(config.store),
            stats: Arc::new(Stats::default()),
            forbidden: RwLock::new(HashSet::new()),
            granted_verbs: RwLock::new(HashMap::new()),
            faults: Faults::default(),
            streaming_lists: AtomicBool::new(config.streaming_lists),
            shard_selectors: RwLock::new(config.shard_selectors),
            bookmark_interval_ms: AtomicU64::new(config.bookmark_interval.as_millis() as u64),
            list_delay_ms: AtomicU64::new(0),
            disconnect: tokio::sync::watch::channel(0).0,
            silence: tokio::sync::watch::channel(0).0,
            surface: tokio::sync::watch::channel(Arc::new(surface)).0,
            uids: Mutex::new(SplitMix64::new(0x6b75_6265)),
            reviews: Default::default(),
            config,
        }
    }

    /// An emulator holding a generated cluster.
    pub fn with_cluster(cluster: &GeneratedCluster) -> Self {
        let e = Self::new();
        e.load_generated(cluster);
        e
    }

    /// Adds a generated cluster's objects (replacing same-named ones); returns how many.
    /// Objects of kinds the emulated version does not serve are skipped.
    pub fn load_generated(&self, cluster: &GeneratedCluster) -> usize {
        let surface = self.surface();
        let w = self.store.lock_writes();
        let t = std::time::Instant::now();
        let objects = cluster.stored_objects(w.next_rv());
        let generated = t.elapsed();
        let mut n = 0;
        // Skipped objects leave gaps in the resourceVersions, as etcd revisions have.
        for o in objects
            .into_iter()
            .filter(|o| surface.preferred_version(o.resource).is_some())
        {
            w.put(o);
            n += 1;
        }
        tracing::debug!(objects = n, ?generated, stored = ?(t.elapsed() - generated), "generated cluster");
        n
    }

    /// Applies (creates or updates) one object. Assigns `uid` and `creationTimestamp` when
    /// missing, a new resourceVersion always, and emits ADDED or MODIFIED. Fails when the
    /// emulated version does not serve the object's `apiVersion` and `kind`.
    pub fn apply(&self, object: Value) -> Result<Applied> {
        self.write(object, WriteMode::Upsert)
    }

    /// Applies several objects in order.
    pub fn apply_all(&self, objects: impl IntoIterator<Item = Value>) -> Result<Vec<Applied>> {
        objects.into_iter().map(|o| self.apply(o)).collect()
    }

    /// Parses JSON/YAML text (single objects, Lists, multi-document YAML) and applies it.
    pub fn apply_text(&self, text: &str) -> Result<Vec<Applied>> {
        self.apply_all(load::parse_objects(text)?)
    }

    /// Loads objects from JSON/YAML files; returns how many were applied.
    pub fn load_files<P: AsRef<Path>>(&self, paths: impl IntoIterator<Item = P>) -> Result<usize> {
        let mut n = 0;
        for p in paths {
            n += self.apply_all(load::read_file(p.as_ref())?)?.len();
        }
        Ok(n)
    }

    pub(crate) fn write(&self, object: Value, mode: WriteMode) -> Result<Applied> {
        let surface = self.surface();
        let r = resource_of(&surface, &object)?;
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let version = resources::split_api_version(api_version).1;
        if !surface.serves(r, version) {
            let rt = surface.resource_type(r);
            return Err(if resources::is_custom(r) {
                Error::NoMatch {
                    api_version: api_version.into(),
                    kind: rt.kind.into(),
                    reason: format!(
                        "CustomResourceDefinition {} does not serve version {version}",
                        rt.qualified_name()
                    ),
                }
            } else {
                Error::NotServed {
                    api_version: api_version.into(),
                    kind: rt.kind.into(),
                    kubernetes_version: surface.git_version().into(),
                }
            });
        }
        self.write_resource(r, object, mode)
    }

    pub(crate) fn write_resource(
        &self,
        r: ResourceId,
        mut object: Value,
        mode: WriteMode,
    ) -> Result<Applied> {
        let rt = resources::get(r);
        let obj = object
            .as_object_mut()
            .ok_or_else(|| Error::InvalidObject("not a JSON object".into()))?;
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| Error::InvalidObject("metadata is not an object".into()))?;
        let w = self.store.lock_writes();
        if meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
        {
            let suffix = self.rng().name_suffix(5);
            meta.insert("name".into(), Value::String(format!("{prefix}{suffix}")));
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            return Err(Error::InvalidObject("metadata.name is required".into()));
        }
        let namespace = if rt.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            meta.insert("namespace".into(), Value::String(ns.clone()));
            Some(ns)
        } else {
            None
        };
        let key = match &namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.clone(),
        };
        let existing = w.get(r, &key);
        match (mode, &existing) {
            (WriteMode::Create, Some(_)) => {
                return Err(Error::AlreadyExists(format!(
                    "{} \"{name}\" already exists",
                    rt.qualified_name()
                )));
            }
            (WriteMode::Replace, None) => {
                return Err(Error::NotFound(format!(
                    "{} \"{name}\" not found",
                    rt.qualified_name()
                )));
            }
            // Optimistic concurrency: an update carrying a resourceVersion applies only to
            // that version (the apiserver's GuaranteedUpdate precondition); without one it is
            // unconditional, as for every built-in kind the emulator serves.
            (WriteMode::Replace, Some(stored)) => {
                let sent = meta
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .filter(|rv| !rv.is_empty());
                if let Some(sent) = sent {
                    let sent: u64 = sent.parse().map_err(|_| {
                        Error::InvalidObject(format!(
                            "metadata.resourceVersion: Invalid value: {sent:?}: must be the resourceVersion of the object"
                        ))
                    })?;
                    if sent != stored.resource_version {
                        return Err(Error::Conflict(format!(
                            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                            rt.qualified_name()
                        )));
                    }
                }
            }
            _ => {}
        }
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let uid = match &existing {
                Some(e) if !e.uid.is_empty() => e.uid.to_string(),
                _ => self.rng().uuid(),
            };
            meta.insert("uid".into(), Value::String(uid));
        }
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            let ts = match &existing {
                Some(e) if e.created_unix != 0 => e.created_unix,
                _ => now_unix(),
            };
            meta.insert("creationTimestamp".into(), Value::String(rfc3339(ts)));
        }
        let defined = if crd::is_crd(r) {
            let old = existing.as_ref().map(|o| o.to_value("v1")).transpose()?;
            Some(crd::prepare(&mut object, old.as_ref())?)
        } else {
            None
        };
        let stored = StoredObject::from_value(r, object, w.next_rv())?;
        let applied = applied(&stored, EventType::Added);
        let event = w.put(stored);
        if let Some(custom) = defined {
            // Served from now on, as defined now; still under the write lock, so writes of
            // the custom resources see the CRD and its serving together.
            let (id, rt) = resources::register(custom);
            self.update_surface(|s| Ok(s.with_custom(id, Some(rt))))?;
        }
        Ok(Applied {
            event: event.as_str().into(),
            ..applied
        })
    }

    /// Deletes an object (emits DELETED). `resource` is a plural, `plural.group`, kind or
    /// short name. Returns what was deleted, or None when it did not exist.
    pub fn delete(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Applied>> {
        let r = self.resource_by_name(resource)?;
        Ok(self.delete_resource(r, namespace, name))
    }

    /// Deletes the object identified by `apiVersion`, `kind` and metadata of `object`.
    pub fn delete_object(&self, object: &Value) -> Result<Option<Applied>> {
        let r = resource_of(&self.surface(), object)?;
        let meta = &object["metadata"];
        let name = meta["name"].as_str().unwrap_or("");
        let ns = meta["namespace"].as_str().filter(|s| !s.is_empty());
        let ns = if resources::get(r).namespaced {
            Some(ns.unwrap_or("default"))
        } else {
            None
        };
        Ok(self.delete_resource(r, ns, name))
    }

    pub(crate) fn delete_resource(
        &self,
        r: ResourceId,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Applied> {
        self.delete_stored(r, namespace, name)
            .map(|o| applied(&o, EventType::Deleted))
    }

    pub(crate) fn delete_stored(
        &self,
        r: ResourceId,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<StoredObject>> {
        let key = object_key(r, namespace, name);
        let w: WriteGuard<'_> = self.store.lock_writes();
        if !crd::is_crd(r) {
            return w.delete(r, &key);
        }
        // The customresourcecleanup finalizer deletes every custom resource (a DELETED event
        // each) before the CRD goes; then its resources are no longer served and their open
        // watches end (apiextensions-apiserver `pkg/controller/finalizer/crd_finalizer.go`).
        let custom = self.surface().custom_by_name(name);
        if let Some(id) = custom {
            for key in w.keys(id) {
                w.delete(id, &key);
            }
        }
        let deleted = w.delete(r, &key);
        if let Some(id) = custom {
            self.surface
                .send_modify(|s| *s = Arc::new(s.with_custom(id, None)));
        }
        deleted
    }

    /// One object as JSON (with kind and apiVersion), if it exists.
    pub fn get(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>> {
        let r = self.resource_by_name(resource)?;
        self.store
            .get(r, &object_key(r, namespace, name))
            .map(|o| o.to_value(self.output_version(r)))
            .transpose()
    }

    /// All objects of a resource (in list order) as JSON.
    pub fn list(&self, resource: &str) -> Result<Vec<Value>> {
        let r = self.resource_by_name(resource)?;
        let page = self
            .store
            .list(r, None, None, None, 0, &|_| true)
            .map_err(|g| Error::BadRequest(format!("gone: {g:?}")))?;
        let version = self.output_version(r);
        page.items.iter().map(|o| o.to_value(version)).collect()
    }

    /// Number of objects of a resource.
    pub fn count(&self, resource: &str) -> Result<usize> {
        Ok(self.store.count(self.resource_by_name(resource)?))
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store.current_rv()
    }

    /// Ends every open watch stream, silenced ones too (clients see the stream end and
    /// re-watch). Returns how many watches were open.
    pub fn disconnect_watches(&self) -> u64 {
        let n = self.stats.snapshot(0).active_watches;
        self.disconnect.send_modify(|g| *g += 1);
        n
    }

    /// Makes every open watch stream go silent: its connection stays open but carries no more
    /// events and no bookmarks, and it no longer ends at its timeout — as behind a load
    /// balancer that lost the backend, or a half-open TCP connection. Only the client can
    /// notice and end it. Watches opened afterwards are normal. Returns how many were open.
    pub fn silence_watches(&self) -> u64 {
        let n = self.stats.snapshot(0).active_watches;
        self.silence.send_modify(|g| *g += 1);
        n
    }

    /// Drops all event history: watches from an older resourceVersion get a 410 Expired
    /// ERROR event and lists with an older `continue` token get HTTP 410.
    /// Returns the compaction's resourceVersion.
    pub fn compact(&self) -> u64 {
        self.store.compact()
    }

    /// Makes list/watch/get of a resource answer 403 Forbidden, as missing RBAC would.
    pub fn forbid(&self, resource: &str) -> Result<()> {
        let r = self.resource_by_name(resource)?;
        self.forbidden_set().insert(r);
        Ok(())
    }

    /// Undoes [`Emulator::forbid`] and [`Emulator::grant_only`].
    pub fn allow(&self, resource: &str) -> Result<()> {
        let r = self.resource_by_name(resource)?;
        self.forbidden_set().remove(&r);
        self.granted_verbs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&r);
        Ok(())
    }

    /// Makes every verb on a resource but `verbs` (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`) answer 403 Forbidden, as RBAC granting only those would: a client's
    /// manifests can be checked to grant all it does.
    pub fn grant_only(&self, resource: &str, verbs: &[&str]) -> Result<()> {
        let r = self.resource_by_name(resource)?;
        self.granted_verbs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(r, verbs.iter().map(|v| v.to_string()).collect());
        Ok(())
    }

    fn forbidden_set(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<ResourceId>> {
        self.forbidden.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_forbidden(&self, r: ResourceId, verb: &str) -> bool {
        let granted = self.granted_verbs.read().unwrap_or_else(|e| e.into_inner());
        self.forbidden
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&r)
            || granted.get(&r).is_some_and(|verbs| !verbs.contains(verb))
    }

    /// Makes the next `fault.count` requests of a resource and verb fail with `fault.status`
    /// (429, 500, 503), as an overloaded or failing API server would.
    pub fn inject_fault(&self, fault: &Fault) -> Result<()> {
        let r = self.resource_by_name(&fault.resource)?;
        self.faults.arm(r, fault)
    }

    /// Disarms every injected fault.
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    pub(crate) fn take_fault(&self, r: ResourceId, verb: &str) -> Option<Failure> {
        self.faults.take(r, verb)
    }

    /// Turns streaming-list support (`sendInitialEvents`) on or off.
    pub fn set_streaming_lists(&self, enabled: bool) {
        self.streaming_lists.store(enabled, Ordering::Relaxed);
    }

    /// Whether streaming lists are supported.
    pub fn streaming_lists(&self) -> bool {
        self.streaming_lists.load(Ordering::Relaxed)
    }

    /// Changes how `shardSelector` is treated, for requests made afterwards.
    pub fn set_shard_selectors(&self, mode: ShardSelectors) {
        *self
            .shard_selectors
            .write()
            .unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// How `shardSelector` is treated.
    pub fn shard_selectors(&self) -> ShardSelectors {
        *self
            .shard_selectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the bookmark interval for watches started afterwards.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.bookmark_interval_ms
            .store(interval.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// The bookmark interval.
    pub fn bookmark_interval(&self) -> Duration {
        Duration::from_millis(self.bookmark_interval_ms.load(Ordering::Relaxed))
    }

    /// Makes every list request (each page of a paginated list) wait `delay` before it is
    /// answered, as an API server under load or reading a large collection from etcd does.
    /// Event history compacted while a paginated list waits expires its `continue` token
    /// (410), as on a real server. Zero turns it off.
    pub fn set_list_delay(&self, delay: Duration) {
        self.list_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// The delay of each list request.
    pub fn list_delay(&self) -> Duration {
        Duration::from_millis(self.list_delay_ms.load(Ordering::Relaxed))
    }

    /// Byte and request counters per client and resource, and serving time.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot(self.resource_version())
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.stats.reset();
    }

    /// The version objects are shown in by [`Emulator::get`]/[`Emulator::list`]: the preferred
    /// served one, else (for objects stored before their version stopped being served) the
    /// table's.
    fn output_version(&self, r: ResourceId) -> &'static str {
        self.surface()
            .preferred_version(r)
            .unwrap_or(resources::get(r).preferred_version())
    }

    /// The settings the emulator was built with ([`Emulator::surface`] tells the version and
    /// runtime-config in force now).
    pub fn config(&self) -> &EmulatorConfig {
        &self.config
    }

    /// What is served now.
    pub fn surface(&self) -> Arc<Surface> {
        self.surface.borrow().clone()
    }

    /// Upgrades (or downgrades) in place to `version` (`v1.36.0`, `1.36`), keeping every object
    /// and the runtime-config. Watches of versions no longer served end. Fails, changing
    /// nothing, for an unsupported version or when a runtime-config entry does not exist in it.
    pub fn set_kubernetes_version(&self, version: &str) -> Result<()> {
        self.update_surface(|s| s.with_version(version))
    }

    /// Enables or disables `group_version` (`admissionregistration.k8s.io/v1beta1`, `v1` for
    /// core) as `--runtime-config` would. Fails for a version the emulated minor does not have.
    pub fn set_runtime_config(&self, group_version: &str, enabled: bool) -> Result<()> {
        self.update_surface(|s| s.with_runtime_config([(group_version, enabled)]))
    }

    /// Replaces the surface with `change(current)` atomically, unless it fails.
    pub(crate) fn update_surface(
        &self,
        change: impl FnOnce(&Surface) -> crate::surface::Result<Surface>,
    ) -> Result<()> {
        let mut outcome = Ok(());
        self.surface
            .send_if_modified(|current| match change(current) {
                Ok(next) => {
                    let modified = next != **current;
                    *current = Arc::new(next);
                    modified
                }
                Err(e) => {
                    outcome = Err(e.into());
                    false
                }
            });
        outcome
    }

    /// Follows surface changes (for watches).
    pub(crate) fn subscribe_surface(&self) -> tokio::sync::watch::Receiver<Arc<Surface>> {
        self.surface.subscribe()
    }

    /// A resource by `plural`, `plural.group`, kind or short name, custom resources of
    /// existing CRDs included.
    fn resource_by_name(&self, name: &str) -> Result<ResourceId> {
        self.surface()
            .by_name(name)
            .ok_or_else(|| Error::UnknownKind {
                api_version: String::new(),
                kind: name.into(),
            })
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, SplitMix64> {
        self.uids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn applied(o: &StoredObject, event: EventType) -> Applied {
    Applied {
        resource: resources::get(o.resource).qualified_name(),
        namespace: (!o.namespace.is_empty()).then(|| o.namespace.to_string()),
        name: o.name.to_string(),
        uid: o.uid.to_string(),
        resource_version: o.resource_version,
        event: event.as_str().into(),
    }
}

/// The store key of an object.
pub(crate) fn object_key(r: ResourceId, namespace: Option<&str>, name: &str) -> String {
    if resources::get(r).namespaced {
        format!("{}/{name}", namespace.unwrap_or("default"))
    } else {
        name.to_string()
    }
}

/// The resource of an object from its `apiVersion` and `kind`, among the table's and the
/// custom resources `surface` knows. A kind of a group no table row has is taken for a custom
/// resource whose CRD is missing.
fn resource_of(surface: &Surface, object: &Value) -> Result<ResourceId> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    surface.by_kind(api_version, kind).ok_or_else(|| {
        let group = resources::split_api_version(api_version).0;
        if resources::RESOURCES.iter().any(|r| r.group == group) {
            Error::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
            }
        } else {
            Error::NoMatch {
                api_version: api_version.into(),
                kind: kind.into(),
                reason: "ensure CRDs are installed first".into(),
            }
        }
    })
}
