//! The watch layer: one list+watch per kind, feeding the kind's store.
//!
//! It owns what is pulled from the API server: selectors and the client's API-call counting.
//! Objects are converted to compact samples as they arrive, so no decoded object outlives its
//! event (a whole initial list is never held in memory).

mod api_calls;
mod lenient;

pub use api_calls::CountApiCalls;
pub use lenient::Lenient;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::kinds::{AnyKind, KindDef, KubeObject, uid};
use crate::metric::KindOptions;
use crate::store::KindStore;
use crate::telemetry::Telemetry;

/// What one kind's watcher pulls.
#[derive(Clone, Debug, Default)]
pub struct WatchSettings {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Page size of the initial list.
    pub page_size: Option<u32>,
    /// Use `sendInitialEvents` streaming lists (Kubernetes ≥ 1.32 servers).
    pub streaming_lists: bool,
}

/// Everything a running watcher of one kind writes to.
pub struct WatchTarget {
    pub store: Arc<KindStore>,
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

    /// Lists and watches the kind until the program ends.
    fn run(
        &'static self,
        client: Client,
        settings: WatchSettings,
        target: WatchTarget,
    ) -> BoxFuture<'static, ()>;
}

impl<O: KubeObject + Default> WatchKind for KindDef<O> {
    fn resource_label(&self) -> String {
        format!("*{}.{}", O::VERSION, O::KIND)
    }

    fn run(
        &'static self,
        client: Client,
        settings: WatchSettings,
        target: WatchTarget,
    ) -> BoxFuture<'static, ()> {
        Box::pin(watch_kind(self, client, settings, target))
    }
}

fn watcher_config(settings: &WatchSettings) -> watcher::Config {
    let mut config = watcher::Config::default();
    if let Some(labels) = &settings.label_selector {
        config = config.labels(labels);
    }
    if let Some(fields) = &settings.field_selector {
        config = config.fields(fields);
    }
    if let Some(page_size) = settings.page_size {
        config = config.page_size(page_size);
    }
    if settings.streaming_lists {
        config = config.streaming_lists();
    }
    config
}

async fn watch_kind<O: KubeObject + Default>(
    kind: &'static KindDef<O>,
    client: Client,
    settings: WatchSettings,
    target: WatchTarget,
) {
    let api: Api<Lenient<O>> = Api::all(client);
    let label = kind.resource_label();
    let events = watcher::watcher(api, watcher_config(&settings)).default_backoff();
    futures::pin_mut!(events);
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
                    tracing::warn!(resource = kind.resource, %error, "list/watch failing, retrying with backoff");
                    failing = true;
                }
                continue;
            }
        };
        // `Init` only means a relist is being attempted; data proves the server answers.
        if failing && !matches!(event, Event::Init) {
            tracing::info!(resource = kind.resource, "list/watch recovered");
            failing = false;
            target.forbidden.store(false, Ordering::Release);
        }
        match event {
            Event::Init => target.store.begin_relist(),
            Event::InitApply(object) => {
                if let Some((uid, samples)) = convert(kind, &label, object, &target) {
                    target.store.relist_apply(&uid, samples);
                }
            }
            Event::InitDone => {
                target.store.finish_relist();
                tracing::debug!(
                    resource = kind.resource,
                    objects = target.store.len(),
                    "synced"
                );
            }
            Event::Apply(object) => {
                if let Some((uid, samples)) = convert(kind, &label, object, &target) {
                    target.store.apply(&uid, samples);
                }
            }
            Event::Delete(object) => target.store.delete(&uid(&object.object)),
        }
    }
}

/// The object's samples, or `None` (counted and logged) when it could not be decoded at all —
/// the store then keeps the object's last good state.
fn convert<O: KubeObject>(
    kind: &KindDef<O>,
    label: &str,
    object: Lenient<O>,
    target: &WatchTarget,
) -> Option<(String, crate::metric::CompactSamples)> {
    let failed = object.error.is_some();
    if failed || !object.dropped.is_empty() {
        let meta = k8s_openapi::Metadata::metadata(&object.object);
        tracing::warn!(
            resource = kind.resource,
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
    let samples = kind.samples(&object.object, &target.enabled, &target.options);
    Some((uid(&object.object), samples))
}

fn is_forbidden(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) if status.code == 403)
}
