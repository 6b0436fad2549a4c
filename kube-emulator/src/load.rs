//! Parsing object documents: JSON or YAML, single objects, `List`s and multi-document YAML.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Parses JSON (one or more concatenated values) or YAML (one or more `---` documents) into
/// objects, expanding `List` kinds (`v1/List`, `PodList`, ...) into their items.
pub fn parse_objects(text: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim_start();
    let mut docs = Vec::new();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        for v in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
            docs.push(v?);
        }
    } else {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let v = Value::deserialize(doc)?;
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    let mut out = Vec::new();
    for d in docs {
        flatten(d, &mut out)?;
    }
    Ok(out)
}

fn flatten(v: Value, out: &mut Vec<Value>) -> Result<()> {
    match v {
        Value::Array(items) => {
            for i in items {
                flatten(i, out)?;
            }
            Ok(())
        }
        Value::Object(mut m) => {
            let kind = m
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                let api_version = m.get("apiVersion").cloned();
                // Items of typed lists (`PodList`) come without kind/apiVersion, as the
                // apiserver serves them; restore them from the list.
                let item_kind = kind.strip_suffix("List").unwrap_or("").to_string();
                if let Some(Value::Array(items)) = m.remove("items") {
                    for mut item in items {
                        if let Some(o) = item.as_object_mut()
                            && kind != "List"
                        {
                            o.entry("kind").or_insert(Value::String(item_kind.clone()));
                            if let Some(av) = &api_version {
                                o.entry("apiVersion").or_insert(av.clone());
                            }
                        }
                        flatten(item, out)?;
                    }
                }
                Ok(())
            } else {
                out.push(Value::Object(m));
                Ok(())
            }
        }
        Value::Null => Ok(()),
        other => Err(Error::InvalidObject(format!(
            "expected an object, got {other}"
        ))),
    }
}

/// Reads and parses one file.
pub fn read_file(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?;
    parse_objects(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_multi_doc_and_lists() {
        let y = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let objs = parse_objects(y).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1]["kind"], "Secret");
        let j = r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"p"}}]} {"kind":"Node","apiVersion":"v1","metadata":{"name":"n"}}"#;
        let objs = parse_objects(j).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["kind"], "Pod");
        assert_eq!(objs[0]["apiVersion"], "v1");
        assert!(parse_objects("[1]").is_err());
    }
}
