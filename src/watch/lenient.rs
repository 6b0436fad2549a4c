//! The object type the watchers decode into: a kind's object, decoded leniently.

use std::borrow::Cow;

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

/// A kind's object as a metadata-only watch delivers it (`PartialObjectMetadata`): its
/// metadata, decoded as leniently as [`Lenient`] decodes whole objects, in an otherwise default
/// object. `Api<LenientMeta<O>>` sends the metadata-only `Accept` header.
#[derive(Clone, Debug)]
pub struct LenientMeta<O>(pub Lenient<O>);

impl<'de, O: KubeObject + Default> Deserialize<'de> for LenientMeta<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut object = O::default();
        let metadata = value.get("metadata").cloned().unwrap_or_default();
        let (dropped, error) = match decode_lenient::<ObjectMeta>(metadata) {
            Ok(meta) => {
                *k8s_openapi::Metadata::metadata_mut(&mut object) = meta.object;
                let dropped = meta.dropped.iter().map(|p| format!("metadata.{p}"));
                (dropped.collect(), None)
            }
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        Ok(LenientMeta(Lenient {
            object,
            dropped,
            error,
        }))
    }
}

impl<O: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>> kube::Resource
    for LenientMeta<O>
{
    type DynamicType = ();
    // As for `Lenient`: the kind's own scope decides between namespaced and cluster-wide.
    type Scope = kube::core::DynamicResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        O::KIND.into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        O::GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        O::VERSION.into()
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        O::API_VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        O::URL_PATH_SEGMENT.into()
    }

    fn metadata_api() -> bool {
        true
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.object.metadata()
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.object.metadata_mut()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Resource;

    use super::*;

    #[test]
    fn metadata_only_objects_decode_leniently_and_ask_for_metadata() {
        assert!(LenientMeta::<ConfigMap>::metadata_api());
        let partial: LenientMeta<ConfigMap> = serde_json::from_value(serde_json::json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "a", "namespace": "n", "creationTimestamp": "",
                         "labels": {"k": "v"}}
        }))
        .expect("decodes");
        let LenientMeta(Lenient {
            object,
            dropped,
            error,
        }) = partial;
        assert_eq!(object.metadata.name.as_deref(), Some("a"));
        assert_eq!(
            object.metadata.labels,
            Some([("k".into(), "v".into())].into())
        );
        assert_eq!(object.data, None);
        assert_eq!(dropped, ["metadata.creationTimestamp"]);
        assert_eq!(error, None);
    }
}
