//! The watch layer: one list+watch per kind (per namespace with `--namespaces`), feeding the
//! kind's store.
//!
//! It owns what is pulled from the API server: namespaces, selectors, node and hash sharding
//! (server-side where the API server supports it: `server_side`), and the client's API-call
//! counting.
//! Objects are converted to compact samples as they arrive, so no decoded object outlives its
//! event (a whole initial list is never held in memory).

mod api_calls;
pub mod autoshard;
pub mod custom;
pub mod discovery;
mod lenient;
mod resend;
pub(crate) mod retry;
mod retry_after;
mod server_side;
mod shard;
mod table;

pub use api_calls::{CountApiCalls, ResourceLabels};
pub use lenient::{Lenient, LenientMeta};
pub use retry_after::RetryAfterLayer;
pub use server_side::{ServerSharding, ShardSelectorLayer};
pub use shard::{Shard, ShardMode};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::kinds::{AnyKind, KindDef, KubeObject, ObjectSamples, Read, uid};
use crate::metric::KindOptions;
use crate::store::StorePartition;
use crate::telemetry::{Listed, Telemetry};

/// A resource's own selectors, sent with its lists and watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

/// What the watchers pull.
#[derive(Clone, Debug, Default)]
pub struct WatchSettings {
    /// Per resource (`pods`): selectors narrowing what is listed.
    pub selectors: BTreeMap<String, Selectors>,
    /// `--namespaces`: namespaced kinds are listed in each of these; empty means all.
    pub namespaces: Vec<String>,
    /// `--namespaces-denylist`: namespaced kinds exclude these by field selector.
    pub namespaces_denylist: Vec<String>,
    /// Page size of the initial list.
    pub page_size: Option<u32>,
    /// Use `sendInitialEvents` streaming lists (Kubernetes ≥ 1.32 servers).
    pub streaming_lists: bool,
    /// `--watch-timeout` in seconds: each watch's `timeoutSeconds`, and (plus 5 s) how long a
    /// silent watch is waited for.
    pub watch_timeout_seconds: Option<u32>,
    /// `--shard`/`--total-shards`/`--shard-mode`: objects of other shards are dropped as they
    /// arrive (also when the API server already filtered them, see `server_side`).
    pub shard: Shard,
    /// `--node`: pods are watched on this node only (`spec.nodeName=NAME`).
    pub node: Option<String>,
    /// `--track-unscheduled-pods`: pods not yet on a node only (`spec.nodeName=`); wins over
    /// `node`, as in kube-state-metrics.
    pub unscheduled_pods: bool,
}

impl WatchSettings {
    /// The pods' node selector of `--node`/`--track-unscheduled-pods`, if any.
    fn node_selector(&self) -> Option<String> {
        if self.unscheduled_pods {
            Some("spec.nodeName=".to_string())
        } else {
            self.node
                .as_ref()
                .map(|node| format!("spec.nodeName={node}"))
        }
    }

    /// The list+watch calls a kind needs, as kube-state-metrics opens them: a namespaced kind
    /// gets one per `--namespaces` entry (or one over all namespaces), each excluding the
    /// denylisted namespaces by field selector; a cluster-scoped kind ignores both flags.
    /// Only pods get the node selector: other kinds have no `spec.nodeName` field selector.
    pub fn scopes(&self, kind: &dyn WatchKind) -> Vec<WatchScope> {
        self.scopes_for(kind.resource(), kind.namespaced())
    }

    /// [`WatchSettings::scopes`] of a resource by name and scope.
    pub fn scopes_for(&self, resource: &str, namespaced: bool) -> Vec<WatchScope> {
        let own = self.selectors.get(resource).cloned().unwrap_or_default();
        let label_selector = own.label_selector;
        if !namespaced {
            return vec![WatchScope {
                namespace: None,
                label_selector,
                field_selector: own.field_selector,
            }];
        }
        let denied = self
            .namespaces_denylist
            .iter()
            .map(|ns| format!("metadata.namespace!={ns}"));
        let node = self.node_selector().filter(|_| resource == "pods");
        let field_selector = own.field_selector.into_iter().chain(node).chain(denied);
        let field_selector =
            Some(field_selector.collect::<Vec<_>>().join(",")).filter(|s| !s.is_empty());
        if self.namespaces.is_empty() {
            return vec![WatchScope {
                namespace: None,
                label_selector,
                field_selector,
            }];
        }
        let mut namespaces: Vec<&String> = Vec::new();
        // A namespace named twice would list its objects twice (KSM duplicates the series).
        for ns in &self.namespaces {
            if !namespaces.contains(&ns) {
                namespaces.push(ns);
            }
        }
        namespaces
            .into_iter()
            .map(|ns| WatchScope {
                namespace: Some(ns.clone()),
                label_selector: label_selector.clone(),
                field_selector: field_selector.clone(),
            })
            .collect()
    }
}

/// Where one watcher lists: a namespace (or all) and the selectors it sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchScope {
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

/// Everything a running watcher writes to.
pub struct WatchTarget {
    /// The watcher's own part of the kind's store.
    pub store: StorePartition,
    /// Indices of the kind's enabled families, in store order.
    pub enabled: Vec<usize>,
    pub options: KindOptions,
    pub telemetry: Arc<Telemetry>,
    /// Set when the API server forbids listing the kind: it will not sync, and is not waited for.
    pub forbidden: Arc<AtomicBool>,
}

/// A kind that can be watched.
pub trait WatchKind: AnyKind {
    /// The label kube-state-metrics uses for the kind in `resource="…"` (`*v1.Pod`).
    fn resource_label(&self) -> String;

    /// Whether the kind's objects live in namespaces.
    fn namespaced(&self) -> bool;

    /// One object as a watch event or list carries it, decoded as this kind's watcher decodes
    /// it ([`Lenient`], or [`LenientMeta`] for a metadata-only kind; a Table-read kind's objects
    /// as `table` makes them from rows) and turned into the
    /// samples of the `enabled` families; `None` for an object the watcher skips (it cannot be
    /// decoded even leniently). For the fuzz targets, which have no API server to watch.
    fn samples_from_event_json(
        &self,
        json: &[u8],
        enabled: &[usize],
        options: &KindOptions,
    ) -> serde_json::Result<Option<ObjectSamples>>;

    /// Lists and watches the kind in `scope` until the program ends.
    fn run(
        &'static self,
        client: Client,
        settings: WatchSettings,
        scope: WatchScope,
        target: WatchTarget,
    ) -> BoxFuture<'static, ()>;
}

/// Whether a k8s-openapi scope type is namespaced.
pub trait Scope {
    const NAMESPACED: bool;
}

impl Scope for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

impl<O: KubeObject + Default> WatchKind for KindDef<O>
where
    O::Scope: Scope,
{
    fn resource_label(&self) -> String {
        format!("*{}.{}", O::VERSION, O::KIND)
    }

    fn namespaced(&self) -> bool {
        <O::Scope as Scope>::NAMESPACED
    }

    fn samples_from_event_json(
        &self,
        json: &[u8],
        enabled: &[usize],
        options: &KindOptions,
    ) -> serde_json::Result<Option<ObjectSamples>> {
        let object = if self.read == Read::Metadata {
            serde_json::from_slice::<LenientMeta<O>>(json)?.0
        } else {
            serde_json::from_slice::<Lenient<O>>(json)?
        };
        Ok(object.error.is_none().then(|| ObjectSamples {
            uid: uid(&object.object),
            samples: self.samples(&object.object, enabled, options),
            dropped: object.dropped,
        }))
    }

    fn run(
        &'static self,
        client: Client,
        settings: WatchSettings,
        scope: WatchScope,
        target: WatchTarget,
    ) -> BoxFuture<'static, ()> {
        Box::pin(watch_kind(
            self,
            self.resource_label(),
            client,
            settings,
            scope,
            target,
        ))
    }
}

fn watcher_config(settings: &WatchSettings, scope: &WatchScope) -> watcher::Config {
    let mut config = watcher::Config::default();
    if let Some(labels) = &scope.label_selector {
        config = config.labels(labels);
    }
    if let Some(fields) = &scope.field_selector {
        config = config.fields(fields);
    }
    if let Some(page_size) = settings.page_size {
        config = config.page_size(page_size);
    }
    if settings.streaming_lists {
        config = config.streaming_lists();
    }
    if let Some(seconds) = settings.watch_timeout_seconds {
        config = config.timeout(seconds);
    }
    config
}

async fn watch_kind<O: KubeObject + Default>(
    kind: &'static KindDef<O>,
    label: String,
    client: Client,
    settings: WatchSettings,
    scope: WatchScope,
    target: WatchTarget,
) {
    let config = watcher_config(&settings, &scope);
    let watch = Watch {
        kind,
        label: &label,
        settings: &settings,
        scope: &scope,
        target: &target,
    };
    let client = match kind.read {
        Read::Objects => client,
        Read::Metadata => {
            // Only metadata is read, so only metadata is pulled (`LenientMeta` asks for
            // `as=PartialObjectMetadata`); the generators see an object with its metadata and
            // everything else at its default.
            let api: Api<LenientMeta<O>> = api(client, &scope);
            watch
                .handle(|| {
                    watcher::watcher(api.clone(), config.clone())
                        .map(|event| event.map(|event| event.map(|partial| partial.0)))
                })
                .await;
            return;
        }
        // Objects as usual, but through a client that pulls Tables and makes them into
        // objects holding only the rows' metadata and the read columns.
        Read::Table(columns) => {
            table::client::<O>(client, columns, &label, target.telemetry.clone())
        }
    };
    let api: Api<Lenient<O>> = api(client, &scope);
    watch
        .handle(|| watcher::watcher(api.clone(), config.clone()))
        .await;
}

/// The API of `scope`: one namespace, or all.
fn api<K>(client: Client, scope: &WatchScope) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::DynamicResourceScope, DynamicType = ()>,
{
    match &scope.namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &()),
        None => Api::all(client),
    }
}

/// Maps an event's objects (kube's `Event` has only an in-place `modify`).
trait MapEvent<A> {
    fn map<B>(self, f: impl FnMut(A) -> B) -> Event<B>;
}

impl<A> MapEvent<A> for Event<A> {
    fn map<B>(self, mut f: impl FnMut(A) -> B) -> Event<B> {
        match self {
            Event::Init => Event::Init,
            Event::InitApply(object) => Event::InitApply(f(object)),
            Event::InitDone => Event::InitDone,
            Event::Apply(object) => Event::Apply(f(object)),
            Event::Delete(object) => Event::Delete(f(object)),
        }
    }
}

/// How a watcher's objects become samples: what [`Watch`] needs of a kind, built in
/// ([`KindDef`]) or configured at run time (custom resources).
pub(crate) trait Convert: Sync {
    /// An object as the watcher's stream yields it.
    type Object: Send;

    /// The resource, for logs.
    fn resource(&self) -> &str;

    /// What kube-state-metrics hashes for sharding: `metadata.uid` as sent, empty when missing.
    fn shard_key<'o>(&self, object: &'o Self::Object) -> &'o str;

    fn uid(&self, object: &Self::Object) -> String;

    /// The object's samples, or `None` (counted and logged) when it could not be read at all —
    /// the store then keeps the object's last good state.
    fn convert(
        &self,
        label: &str,
        object: Self::Object,
        target: &WatchTarget,
    ) -> Option<crate::metric::CompactSamples>;
}

impl<O: KubeObject> Convert for KindDef<O> {
    type Object = Lenient<O>;

    fn resource(&self) -> &str {
        self.resource
    }

    fn shard_key<'o>(&self, object: &'o Lenient<O>) -> &'o str {
        k8s_openapi::Metadata::metadata(&object.object)
            .uid
            .as_deref()
            .unwrap_or_default()
    }

    fn uid(&self, object: &Lenient<O>) -> String {
        uid(&object.object)
    }

    fn convert(
        &self,
        label: &str,
        object: Lenient<O>,
        target: &WatchTarget,
    ) -> Option<crate::metric::CompactSamples> {
        let failed = object.error.is_some();
        if failed || !object.dropped.is_empty() {
            let meta = k8s_openapi::Metadata::metadata(&object.object);
            tracing::warn!(
                resource = self.resource,
                namespace = meta.namespace.as_deref().unwrap_or_default(),
                name = meta.name.as_deref().unwrap_or_default(),
                dropped = ?object.dropped,
                error = object.error.as_deref().unwrap_or_default(),
                "object not fully decodable; skipped what could not be read"
            );
            target
                .telemetry
                .count_decode(label, object.dropped.len(), failed);
        }
        if failed {
            return None;
        }
        Some(self.samples(&object.object, &target.enabled, &target.options))
    }
}

/// One watcher's event handling, shared by every kind's streams.
pub(crate) struct Watch<'a, C> {
    pub(crate) kind: &'a C,
    pub(crate) label: &'a str,
    pub(crate) settings: &'a WatchSettings,
    pub(crate) scope: &'a WatchScope,
    pub(crate) target: &'a WatchTarget,
}

impl<C: Convert> Watch<'_, C> {
    /// Handles the events of `watch()`'s stream, waiting after errors as [`retry`] says and
    /// starting a new stream (a relist) where it says so.
    pub(crate) async fn handle<S>(&self, watch: impl Fn() -> S)
    where
        S: Stream<Item = Result<Event<C::Object>, watcher::Error>> + Send,
    {
        let Watch {
            kind,
            settings,
            scope,
            target,
            ..
        } = *self;
        let mut events = Box::pin(watch());
        let mut backoff = retry::Backoff::default();
        let listed = target.telemetry.listed(self.label);
        target.telemetry.watch_started(self.label);
        let mut failing = false;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    if is_forbidden(&error) {
                        target.forbidden.store(true, Ordering::Release);
                    }
                    // One line per failure period; the backoff retries quietly.
                    if !failing {
                        tracing::warn!(resource = kind.resource(), namespace = scope.namespace.as_deref(), %error, "list/watch failing, retrying with backoff");
                        failing = true;
                    }
                    let wait = backoff.delay(&error, std::time::Instant::now());
                    if retry::recovery(&error) == retry::Recovery::Relist {
                        events = Box::pin(watch());
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            // `Init` only means a relist is being attempted; data proves the server answers.
            if failing && !matches!(event, Event::Init) {
                tracing::info!(
                    resource = kind.resource(),
                    namespace = scope.namespace.as_deref(),
                    "list/watch recovered"
                );
                failing = false;
                target.forbidden.store(false, Ordering::Release);
            }
            // Another shard's object is neither converted nor stored (an object's UID, hence
            // its shard, never changes, so its deletion is not ours either).
            if let Event::InitApply(object) | Event::Apply(object) | Event::Delete(object) = &event
                && !settings.shard.keeps(kind.shard_key(object))
            {
                continue;
            }
            self.apply(event, &listed);
        }
    }

    /// Applies one event to the store; objects of a list are counted in `listed`.
    fn apply(&self, event: Event<C::Object>, listed: &Listed) {
        let Watch {
            kind,
            label,
            target,
            ..
        } = *self;
        match event {
            Event::Init => {
                // A list after this watcher's first one: it fell behind or was cut off.
                if target.store.is_synced() {
                    target.telemetry.count_relist(label);
                }
                target.store.begin_relist();
            }
            Event::InitApply(object) => {
                listed.objects.fetch_add(1, Ordering::Relaxed);
                let uid = kind.uid(&object);
                if let Some(samples) = kind.convert(label, object, target) {
                    target.store.relist_apply(&uid, samples);
                }
            }
            Event::InitDone => {
                target.store.finish_relist();
                tracing::debug!(
                    resource = kind.resource(),
                    objects = target.store.len(),
                    "synced"
                );
            }
            Event::Apply(object) => {
                let uid = kind.uid(&object);
                if let Some(samples) = kind.convert(label, object, target) {
                    target.store.apply(&uid, samples);
                }
            }
            Event::Delete(object) => target.store.delete(&kind.uid(&object)),
        }
    }
}

fn is_forbidden(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) if status.code == 403)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::deployment::DEPLOYMENTS;
    use crate::kinds::node::NODES;
    use crate::kinds::pod::PODS;

    fn scope(namespace: Option<&str>, fields: Option<&str>) -> WatchScope {
        WatchScope {
            namespace: namespace.map(String::from),
            label_selector: None,
            field_selector: fields.map(String::from),
        }
    }

    #[test]
    fn namespaced_kinds_get_a_watch_per_namespace_and_the_denylist_selector() {
        let settings = WatchSettings {
            namespaces: vec!["a".into(), "b".into(), "a".into()],
            namespaces_denylist: vec!["kube-system".into(), "b".into()],
            ..WatchSettings::default()
        };
        let denied = Some("metadata.namespace!=kube-system,metadata.namespace!=b");
        assert_eq!(
            settings.scopes(&PODS),
            [scope(Some("a"), denied), scope(Some("b"), denied)]
        );
        // Cluster-scoped kinds ignore both flags (KSM's buildClusterScopedStores).
        assert_eq!(settings.scopes(&NODES), [scope(None, None)]);
    }

    #[test]
    fn without_namespaces_one_watch_covers_all() {
        assert_eq!(WatchSettings::default().scopes(&PODS), [scope(None, None)]);
        let own = Selectors {
            label_selector: Some("app=a".into()),
            field_selector: Some("status.phase=Running".into()),
        };
        let settings = WatchSettings {
            selectors: [
                ("pods".to_string(), own.clone()),
                ("nodes".to_string(), own),
            ]
            .into(),
            namespaces_denylist: vec!["x".into()],
            ..WatchSettings::default()
        };
        let labelled = |fields| WatchScope {
            label_selector: Some("app=a".into()),
            ..scope(None, Some(fields))
        };
        assert_eq!(
            settings.scopes(&PODS),
            [labelled("status.phase=Running,metadata.namespace!=x")]
        );
        assert_eq!(settings.scopes(&NODES), [labelled("status.phase=Running")]);
        // A resource without selectors of its own gets none.
        assert_eq!(
            settings.scopes(&DEPLOYMENTS),
            [scope(None, Some("metadata.namespace!=x"))]
        );
    }

    #[test]
    fn node_selectors_apply_to_pods_only() {
        let on_node = WatchSettings {
            node: Some("n1".into()),
            namespaces_denylist: vec!["x".into()],
            ..WatchSettings::default()
        };
        assert_eq!(
            on_node.scopes(&PODS),
            [scope(None, Some("spec.nodeName=n1,metadata.namespace!=x"))]
        );
        assert_eq!(
            on_node.scopes(&DEPLOYMENTS),
            [scope(None, Some("metadata.namespace!=x"))]
        );
        assert_eq!(on_node.scopes(&NODES), [scope(None, None)]);
        // KSM: --track-unscheduled-pods wins over --node.
        let unscheduled = WatchSettings {
            unscheduled_pods: true,
            ..on_node
        };
        assert_eq!(
            unscheduled.scopes(&PODS),
            [scope(None, Some("spec.nodeName=,metadata.namespace!=x"))]
        );
    }
}
