//! Custom resources: a list+watch of one served group/version/resource through the dynamic
//! API, each object turned into samples by its Custom Resource State entry as it arrives.

use std::sync::Arc;

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use kube::{Api, Client};

use super::{Convert, Watch, WatchScope, WatchSettings, WatchTarget, watcher_config};
use crate::crs::{CrsConfig, CrsResource};
use crate::metric::{CompactSamples, KindLabels, Samples, Text, intern};

/// A served custom resource and the config entry that covers it.
pub struct CustomKind {
    pub config: Arc<CrsConfig>,
    /// Its entry in `config.resources`.
    pub entry: usize,
    /// Group, version, kind and plural as the CRD serves them.
    pub api: ApiResource,
    pub namespaced: bool,
    /// The resource as logs and telemetry name it: `plural.group/version`.
    pub label: String,
    /// Reported in the semconv schema: each object keeps its identity
    /// ([`CUSTOM_RESOURCE_IDENTITY`](crate::meter::CUSTOM_RESOURCE_IDENTITY)'s values).
    pub semconv: bool,
    /// The entry's [`CrsResource::kind_labels`] for this resource and its enabled families,
    /// shared by all its objects.
    pub kind_labels: KindLabels,
}

impl CustomKind {
    pub fn entry(&self) -> &CrsResource {
        &self.config.resources[self.entry]
    }
}

impl Convert for CustomKind {
    type Object = DynamicObject;

    fn resource(&self) -> &str {
        &self.label
    }

    fn shard_key<'o>(&self, object: &'o DynamicObject) -> &'o str {
        object.metadata.uid.as_deref().unwrap_or_default()
    }

    fn uid(&self, object: &DynamicObject) -> String {
        self.shard_key(object).to_string()
    }

    fn convert(
        &self,
        label: &str,
        object: DynamicObject,
        target: &WatchTarget,
    ) -> Option<CompactSamples> {
        // The paths of the config address the object as the API server sends it. Its fields
        // besides the metadata are JSON already and are moved, not copied; only the typed
        // metadata is written back.
        let DynamicObject {
            types,
            metadata,
            data,
        } = object;
        let json = match serde_json::to_value(&metadata) {
            Ok(metadata) => {
                let mut json = match data {
                    serde_json::Value::Object(fields) => fields,
                    _ => serde_json::Map::new(),
                };
                if let Some(types) = types {
                    json.insert("apiVersion".into(), types.api_version.into());
                    json.insert("kind".into(), types.kind.into());
                }
                json.insert("metadata".into(), metadata);
                serde_json::Value::Object(json)
            }
            Err(error) => {
                tracing::warn!(resource = label, %error, "custom resource skipped");
                target.telemetry.count_decode(label, 0, true);
                return None;
            }
        };
        let mut samples = Samples::new(if self.semconv {
            semconv_identity(&json, self.namespaced)
        } else {
            Vec::new()
        });
        // Every sample has the entry's labels (`name`, `namespace`, `customresource_*`):
        // stored once, not per sample.
        samples.share_common_labels(&self.kind_labels);
        let api = &self.api;
        self.entry().samples_of(
            &target.enabled,
            &json,
            &api.group,
            &api.version,
            &api.kind,
            &mut samples,
        );
        Some(samples.finish())
    }
}

/// Under the semconv schema, an object's namespace (when namespaced), name and UID.
fn semconv_identity(object: &serde_json::Value, namespaced: bool) -> Vec<Text> {
    let field = |name: &str| intern(object["metadata"][name].as_str().unwrap_or_default());
    let namespace = namespaced.then(|| field("namespace"));
    namespace
        .into_iter()
        .chain([field("name"), field("uid")])
        .collect()
}

/// Lists and watches `kind` in `scope` until the task is aborted.
pub async fn run_custom(
    kind: Arc<CustomKind>,
    client: Client,
    settings: WatchSettings,
    scope: WatchScope,
    target: WatchTarget,
) {
    let api: Api<DynamicObject> = match (&scope.namespace, kind.namespaced) {
        (Some(namespace), true) => Api::namespaced_with(client, namespace, &kind.api),
        _ => Api::all_with(client, &kind.api),
    };
    let config = watcher_config(&settings, &scope);
    let watch = Watch {
        kind: &*kind,
        label: &kind.label,
        settings: &settings,
        scope: &scope,
        target: &target,
    };
    watch
        .handle(|| watcher::watcher(api.clone(), config.clone()))
        .await;
}
