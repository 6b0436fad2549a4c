//! Stored objects: pre-serialized JSON plus the few parsed fields selectors need.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::resources::{self, ResourceId};
use crate::selector::json_field;

/// One stored object version. Immutable: an update stores a new `Arc<StoredObject>`.
///
/// `body` is the object's JSON members without the surrounding braces and without `kind` and
/// `apiVersion`, starting with `"metadata":{...}`. Responses are assembled by concatenation:
/// a list item is `{` body `}`, a watch event object is `{"kind":..,"apiVersion":..,` body `}`
/// (the version comes from the request URL, so one object serves every version of a resource),
/// and the metadata-only form uses just `body[..meta_len]`.
#[derive(Debug)]
pub struct StoredObject {
    /// The resource ([`resources::get`]).
    pub resource: ResourceId,
    /// Store key: `namespace/name` for namespaced objects, `name` otherwise. Sorting by it
    /// gives etcd's order, which is the order the apiserver lists in.
    pub key: Box<str>,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// `metadata.uid`.
    pub uid: Box<str>,
    /// `metadata.resourceVersion` as a number.
    pub resource_version: u64,
    /// `metadata.creationTimestamp` as Unix seconds (for the Table AGE column).
    pub created_unix: i64,
    /// `metadata.labels`, sorted by key.
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// Values of the resource's `indexed_fields`, in table order.
    pub fields: Box<[Box<str>]>,
    /// Serialized members (see the type docs).
    pub body: Bytes,
    /// Length of the `"metadata":{...}` prefix of `body`.
    pub meta_len: usize,
}

impl StoredObject {
    /// Builds a stored object from a JSON object, stamping `resource_version` into its metadata.
    /// `kind`/`apiVersion` are dropped (they are re-added per response).
    pub fn from_value(
        resource: ResourceId,
        mut value: Value,
        resource_version: u64,
    ) -> Result<Self> {
        let rt = resources::get(resource);
        let obj = value
            .as_object_mut()
            .ok_or_else(|| Error::InvalidObject("not a JSON object".into()))?;
        obj.remove("kind");
        obj.remove("apiVersion");
        let mut meta = match obj.remove("metadata") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Error::InvalidObject("metadata is not an object".into())),
            None => Map::new(),
        };
        let name = str_field(&meta, "name");
        if name.is_empty() {
            return Err(Error::InvalidObject("metadata.name is required".into()));
        }
        let namespace = if rt.namespaced {
            str_field(&meta, "namespace")
        } else {
            meta.remove("namespace");
            String::new()
        };
        meta.insert(
            "resourceVersion".into(),
            Value::String(resource_version.to_string()),
        );
        let uid = str_field(&meta, "uid");
        let created_unix = meta
            .get("creationTimestamp")
            .and_then(Value::as_str)
            .and_then(crate::util::parse_rfc3339)
            .unwrap_or(0);
        let mut labels: Vec<(Box<str>, Box<str>)> = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().unwrap_or("").into()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();

        let mut body = Vec::with_capacity(1024);
        body.extend_from_slice(b"\"metadata\":");
        serde_json::to_writer(&mut body, &meta)?;
        let meta_len = body.len();
        for (k, v) in obj.iter() {
            body.push(b',');
            serde_json::to_writer(&mut body, k)?;
            body.push(b':');
            serde_json::to_writer(&mut body, v)?;
        }
        obj.insert("metadata".into(), Value::Object(meta));
        let fields = rt
            .indexed_fields
            .iter()
            .map(|p| json_field(&value, p).into_boxed_str())
            .collect();

        let key = if rt.namespaced {
            format!("{namespace}/{name}")
        } else {
            name.clone()
        };
        Ok(Self {
            resource,
            key: key.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            resource_version,
            created_unix,
            labels: labels.into(),
            fields,
            body: Bytes::from(body),
            meta_len,
        })
    }

    /// Assembles an object whose body was written directly (by the generator); the caller
    /// guarantees `body` starts with `"metadata":{...}` of length `meta_len` and agrees with
    /// the other parts.
    pub(crate) fn from_parts(p: Parts<'_>, body: Vec<u8>, meta_len: usize) -> Self {
        let rt = resources::get(p.resource);
        let mut labels: Vec<(Box<str>, Box<str>)> = p
            .labels
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect();
        labels.sort();
        let fields = rt
            .indexed_fields
            .iter()
            .map(|f| {
                p.fields
                    .iter()
                    .find(|(k, _)| k == f)
                    .map_or("", |(_, v)| *v)
                    .into()
            })
            .collect();
        let key = if rt.namespaced {
            format!("{}/{}", p.namespace, p.name)
        } else {
            p.name.to_string()
        };
        Self {
            resource: p.resource,
            key: key.into(),
            namespace: if rt.namespaced {
                p.namespace.into()
            } else {
                "".into()
            },
            name: p.name.into(),
            uid: p.uid.into(),
            resource_version: p.resource_version,
            created_unix: p.created_unix,
            labels: labels.into(),
            fields,
            // Copy so the buffer's spare capacity is not kept for the object's lifetime.
            body: Bytes::copy_from_slice(&body),
            meta_len,
        }
    }

    /// The object as JSON with `kind` and `apiVersion` for `version`.
    pub fn to_value(&self, version: &str) -> Result<Value> {
        Ok(serde_json::from_slice(&self.wrapped(version))?)
    }

    /// The object's JSON without `kind`/`apiVersion` (as a list item).
    pub fn item_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 2);
        out.push(b'{');
        out.extend_from_slice(&self.body);
        out.push(b'}');
        out
    }

    /// The object's JSON with `kind` and `apiVersion` for `version`.
    pub fn wrapped(&self, version: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64);
        write_typed(&mut out, &self.full_type(version), &self.body);
        out
    }

    /// `{"kind":..,"apiVersion":..,` prefix for the full object at `version`.
    pub fn full_type(&self, version: &str) -> Vec<u8> {
        type_prefix(
            resources::get(self.resource).kind,
            &resources::get(self.resource).api_version(version),
        )
    }

    /// The `"metadata":{...}` member.
    pub fn metadata_member(&self) -> &[u8] {
        &self.body[..self.meta_len]
    }

    /// Looks up a label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.labels[i].1)
    }

    /// The value of a field path as the apiserver's field selectors see it.
    pub fn field(&self, path: &str) -> String {
        match path {
            "metadata.name" => return self.name.to_string(),
            "metadata.namespace" => return self.namespace.to_string(),
            _ => {}
        }
        let rt = resources::get(self.resource);
        if let Some(i) = rt.indexed_fields.iter().position(|f| *f == path) {
            return self.fields[i].to_string();
        }
        // Not indexed: the slow path re-parses; the real apiserver would reject such a
        // selector, the emulator accepts any dotted path.
        match serde_json::from_slice::<Value>(&self.item_bytes()) {
            Ok(v) => json_field(&v, path),
            Err(_) => String::new(),
        }
    }

    /// A copy of this object with a new resourceVersion (for DELETED events, which carry the
    /// deletion's resourceVersion, as the apiserver's do).
    pub fn with_resource_version(&self, resource_version: u64) -> Result<Self> {
        let v: Value = serde_json::from_slice(&self.item_bytes())?;
        Self::from_value(self.resource, v, resource_version)
    }
}

/// The parsed parts of a directly written object (see [`StoredObject::from_parts`]).
pub(crate) struct Parts<'a> {
    pub resource: ResourceId,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub created_unix: i64,
    pub resource_version: u64,
    pub labels: &'a [(String, String)],
    /// Values of indexed field paths; absent paths are `""`.
    pub fields: &'a [(&'static str, &'a str)],
}

/// `{"kind":"K","apiVersion":"V",`
pub fn type_prefix(kind: &str, api_version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"kind\":");
    // kind and apiVersion come from the static table or validated input; to_writer on a
    // &str cannot fail writing into a Vec.
    let _ = serde_json::to_writer(&mut out, kind);
    out.extend_from_slice(b",\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, api_version);
    out.push(b',');
    out
}

/// Appends `prefix` members `}`.
pub fn write_typed(out: &mut Vec<u8>, prefix: &[u8], members: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(members);
    out.push(b'}');
}

fn str_field(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_name;

    #[test]
    fn body_layout() {
        let pods = by_name("pods").unwrap();
        let v = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": "1"}},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}
        });
        let o = StoredObject::from_value(pods, v, 42).unwrap();
        assert_eq!(&*o.key, "ns/p");
        assert_eq!(o.label("a"), Some("1"));
        assert_eq!(o.label("c"), None);
        assert_eq!(o.field("spec.nodeName"), "n1");
        assert_eq!(o.field("status.phase"), "Running");
        assert_eq!(o.field("spec.dnsPolicy"), "");
        assert!(o.metadata_member().starts_with(b"\"metadata\":{"));
        assert!(o.metadata_member().ends_with(b"}"));
        let full: Value = serde_json::from_slice(&o.wrapped("v1")).unwrap();
        assert_eq!(full["kind"], "Pod");
        assert_eq!(full["metadata"]["resourceVersion"], "42");
        let item: Value = serde_json::from_slice(&o.item_bytes()).unwrap();
        assert!(item.get("kind").is_none());
        let o2 = o.with_resource_version(43).unwrap();
        assert_eq!(
            o2.to_value("v1").unwrap()["metadata"]["resourceVersion"],
            "43"
        );
    }
}
