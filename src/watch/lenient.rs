//! The object type the watchers decode into: a kind's object, decoded leniently.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::kinds::KubeObject;
use crate::kinds::decode::decode_lenient;

/// A kind's object, plus what could not be decoded. A wrong-typed field costs that field; an
/// object that cannot be decoded at all keeps its metadata (so watches resume correctly) and
/// carries the error instead of failing the whole watch stream.
#[derive(Clone, Debug)]
pub struct Lenient<O> {
    pub object: O,
    pub dropped: Vec<String>,
    pub error: Option<String>,
}

impl<'de, O: KubeObject + Default> Deserialize<'de> for Lenient<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        // The common case: a well-formed object, decoded once.
        if let Ok(object) = O::deserialize(&value) {
            return Ok(Lenient {
                object,
                dropped: Vec::new(),
                error: None,
            });
        }
        let metadata = value.get("metadata").cloned();
        match decode_lenient::<O>(value) {
            Ok(decoded) => Ok(Lenient {
                object: decoded.object,
                dropped: decoded.dropped,
                error: None,
            }),
            Err(error) => {
                let mut object = O::default();
                if let Some(meta) = metadata.and_then(|m| decode_lenient::<ObjectMeta>(m).ok()) {
                    *k8s_openapi::Metadata::metadata_mut(&mut object) = meta.object;
                }
                Ok(Lenient {
                    object,
                    dropped: Vec::new(),
                    error: Some(error.to_string()),
                })
            }
        }
    }
}

impl<O: k8s_openapi::Resource> k8s_openapi::Resource for Lenient<O> {
    const API_VERSION: &'static str = O::API_VERSION;
    const GROUP: &'static str = O::GROUP;
    const KIND: &'static str = O::KIND;
    const VERSION: &'static str = O::VERSION;
    const URL_PATH_SEGMENT: &'static str = O::URL_PATH_SEGMENT;
    // Dynamic, so one generic watcher can open a namespaced or a cluster-wide API; the kind's
    // own scope decides which (`WatchKind::namespaced`).
    type Scope = kube::core::DynamicResourceScope;
}

impl<O: k8s_openapi::Metadata<Ty = ObjectMeta>> k8s_openapi::Metadata for Lenient<O> {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        self.object.metadata()
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.object.metadata_mut()
    }
}
