//! Lenient decoding: a field of the wrong type costs that field, not the whole object.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Gives up on objects that need more repairs than this.
const MAX_REPAIRS: usize = 32;

/// An object decoded after dropping the fields listed in `dropped` (JSON paths).
#[derive(Debug)]
pub struct Decoded<O> {
    pub object: O,
    pub dropped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("object is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("object cannot be decoded even without field {path}: {source}")]
    Unrepairable {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Decodes `value` as `O`; each field that fails to decode is removed and retried.
pub fn decode_lenient<O: DeserializeOwned>(mut value: Value) -> Result<Decoded<O>, DecodeError> {
    let mut dropped = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize::<_, O>(&value) {
            Ok(object) => return Ok(Decoded { object, dropped }),
            Err(e) => e,
        };
        let path = error.path().to_string();
        let segments = path_segments(error.path());
        if dropped.len() >= MAX_REPAIRS || segments.is_empty() || !remove(&mut value, &segments) {
            return Err(DecodeError::Unrepairable {
                path,
                source: error.into_inner(),
            });
        }
        dropped.push(path);
    }
}

/// Decodes raw JSON leniently.
pub fn decode_lenient_str<O: DeserializeOwned>(json: &str) -> Result<Decoded<O>, DecodeError> {
    let value: Value = serde_json::from_str(json).map_err(DecodeError::Syntax)?;
    decode_lenient(value)
}

enum Segment {
    Field(String),
    Index(usize),
}

fn path_segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Map { key } => Some(Segment::Field(key.clone())),
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Enum { .. } | S::Unknown => None,
        })
        .collect()
}

/// Removes the value at `segments`; false when there is nothing there to remove.
fn remove(value: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = value;
    for segment in parents {
        let next = match (segment, current) {
            (Segment::Field(k), Value::Object(map)) => map.get_mut(k),
            (Segment::Index(i), Value::Array(items)) => items.get_mut(*i),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return false,
        }
    }
    match (last, current) {
        (Segment::Field(k), Value::Object(map)) => map.remove(k).is_some(),
        (Segment::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn wrong_typed_fields_are_dropped_not_the_object() {
        let json = r#"{"metadata":{"name":"p","namespace":"ns","generation":"x"},
            "spec":{"containers":[{"name":"c","image":5}]},"status":{"phase":"Running"}}"#;
        let decoded = decode_lenient_str::<Pod>(json).expect("repairable");
        assert_eq!(decoded.object.metadata.name.as_deref(), Some("p"));
        assert_eq!(
            decoded.object.status.and_then(|s| s.phase).as_deref(),
            Some("Running")
        );
        assert_eq!(
            decoded.dropped,
            ["metadata.generation", "spec.containers[0].image"]
        );
    }

    #[test]
    fn an_item_of_the_wrong_shape_costs_only_that_item() {
        let json = r#"{"metadata":{"name":"p"},"spec":{"containers":[5,{"name":"ok"}]}}"#;
        let decoded = decode_lenient_str::<Pod>(json).expect("repairable");
        let containers = decoded
            .object
            .spec
            .map(|s| s.containers)
            .unwrap_or_default();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].name, "ok");
        assert_eq!(decoded.dropped, ["spec.containers[0]"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_lenient_str::<Pod>("{not json").is_err());
        assert!(decode_lenient_str::<Pod>("[1,2]").is_err());
    }
}
