//! Entity events as OTLP log records, in the layout of the OpenTelemetry Collector's
//! k8scluster receiver (`otel.entity.*` attributes) or of the entity events specification
//! (`entity.state` / `entity.delete` event names).
//!
//! Receiver layout (`pkg/experimentalmetricmetadata`): attributes `otel.entity.id` (map),
//! `otel.entity.event.type` (`entity_state` / `entity_delete`), `otel.entity.type`, and for a
//! state `otel.entity.interval` (milliseconds) and `otel.entity.attributes` (map).
//! Specification layout: the record's `event_name` is `entity.state` / `entity.delete`, with
//! `entity.id`, `entity.type`, and for a state `entity.report.interval` (seconds) and
//! `entity.description`. Both put the records under a scope marked
//! `otel.entity.event_as_log = true`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BufMut;
use opentelemetry::KeyValue;
use tokio::sync::Notify;

use super::wire::{
    KEY_VALUE_LIST_VALUES, WIRE_FIXED64, put_int_attribute, put_key, put_kvlist_attribute,
    put_str_attribute, put_string_field,
};
use crate::metric::Text;

// Field numbers, from opentelemetry/proto/logs/v1.
const RECORD_TIME: u32 = 1;
const RECORD_ATTRIBUTES: u32 = 6;
const RECORD_EVENT_NAME: u32 = 12;

/// The scope attribute that marks log records as entity events.
pub const EVENT_AS_LOG: &str = "otel.entity.event_as_log";

/// The scope attributes of entity event records.
pub fn scope_attributes() -> Vec<KeyValue> {
    vec![KeyValue::new(EVENT_AS_LOG, true)]
}

/// Which layout entity events are sent in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EntityFormat {
    /// The k8scluster receiver's `otel.entity.*` attributes.
    #[default]
    Receiver,
    /// The entity events specification: `entity.state` / `entity.delete` events.
    Spec,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown entity events format {0:?} (expected receiver or spec)")]
pub struct UnknownFormat(String);

impl FromStr for EntityFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "receiver" => Ok(EntityFormat::Receiver),
            "spec" => Ok(EntityFormat::Spec),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

impl fmt::Display for EntityFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityFormat::Receiver => "receiver",
            EntityFormat::Spec => "spec",
        })
    }
}

/// What happened to an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// It exists, with these attributes.
    State,
    /// It is gone.
    Delete,
}

/// One entity event, as a pipeline hands it to the encoder.
#[derive(Clone, Copy, Debug)]
pub struct EntityEvent<'a> {
    pub kind: EventKind,
    /// `k8s.pod`, `container`, …
    pub entity_type: &'a str,
    /// The identifying attribute: `k8s.pod.uid` and the UID.
    pub id: (&'a str, &'a str),
    /// Descriptive attributes, as the store keeps them (state events).
    pub description: &'a [(Text, Text)],
    /// Descriptive attributes found at emission from other objects (a pod's workload and
    /// services), after `description`.
    pub related: &'a [(&'a str, &'a str)],
}

/// Where entity events come from: a pipeline's stores.
pub trait EntitySource: Send + Sync + 'static {
    /// Notified when changes are pending.
    fn wake(&self) -> Arc<Notify>;

    /// Whether a pending change is a delete (sent at once rather than batched).
    fn deletes_pending(&self) -> bool;

    /// Takes the pending changes, handing their events to `sink` (deletes first), and the
    /// whole state of the kinds that have listed their objects for the first time since.
    fn drain(&self, sink: &mut dyn FnMut(&EntityEvent<'_>));

    /// The state of every entity.
    fn full_state(&self, sink: &mut dyn FnMut(&EntityEvent<'_>));
}

/// Encodes entity events as `LogRecord` messages in one layout.
pub struct RecordEncoder {
    format: EntityFormat,
    /// The reporting interval a state event announces (0: none).
    interval: Duration,
    time_unix_nano: u64,
    map: Vec<u8>,
    record: Vec<u8>,
}

impl RecordEncoder {
    pub fn new(format: EntityFormat, interval: Duration, time_unix_nano: u64) -> Self {
        RecordEncoder {
            format,
            interval,
            time_unix_nano,
            map: Vec::new(),
            record: Vec::new(),
        }
    }

    /// The encoded `LogRecord` of `event`, valid until the next call.
    pub fn encode(&mut self, event: &EntityEvent<'_>) -> &[u8] {
        let receiver = self.format == EntityFormat::Receiver;
        let (id, entity_type, interval, description) = if receiver {
            (
                "otel.entity.id",
                "otel.entity.type",
                "otel.entity.interval",
                "otel.entity.attributes",
            )
        } else {
            (
                "entity.id",
                "entity.type",
                "entity.report.interval",
                "entity.description",
            )
        };
        let state = event.kind == EventKind::State;
        let buf = &mut self.record;
        buf.clear();
        put_key(RECORD_TIME, WIRE_FIXED64, buf);
        buf.put_u64_le(self.time_unix_nano);
        self.map.clear();
        put_str_attribute(KEY_VALUE_LIST_VALUES, event.id.0, event.id.1, &mut self.map);
        put_kvlist_attribute(RECORD_ATTRIBUTES, id, &self.map, buf);
        if receiver {
            let name = if state {
                "entity_state"
            } else {
                "entity_delete"
            };
            put_str_attribute(RECORD_ATTRIBUTES, "otel.entity.event.type", name, buf);
        }
        put_str_attribute(RECORD_ATTRIBUTES, entity_type, event.entity_type, buf);
        if state {
            let value = if receiver {
                self.interval.as_millis()
            } else {
                u128::from(self.interval.as_secs())
            };
            if !self.interval.is_zero() {
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                put_int_attribute(RECORD_ATTRIBUTES, interval, value, buf);
            }
            self.map.clear();
            for (key, value) in event.description {
                put_str_attribute(
                    KEY_VALUE_LIST_VALUES,
                    key.as_str(),
                    value.as_str(),
                    &mut self.map,
                );
            }
            for (key, value) in event.related {
                put_str_attribute(KEY_VALUE_LIST_VALUES, key, value, &mut self.map);
            }
            put_kvlist_attribute(RECORD_ATTRIBUTES, description, &self.map, buf);
        }
        if !receiver {
            let name = if state {
                "entity.state"
            } else {
                "entity.delete"
            };
            put_string_field(RECORD_EVENT_NAME, name, buf);
        }
        &self.record
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use prost::Message;

    use super::*;
    use crate::metric::intern;

    /// The record's attributes as (key, value) with maps flattened to `key.inner`.
    fn attributes(record: &LogRecord) -> Vec<(String, String)> {
        fn text(value: &Option<AnyValue>) -> String {
            match value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => format!("int:{i}"),
                other => format!("{other:?}"),
            }
        }
        let mut out = Vec::new();
        let mut add = |kv: &ProtoKeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::KvlistValue(list)) => {
                for inner in &list.values {
                    out.push((format!("{}{{{}}}", kv.key, inner.key), text(&inner.value)));
                }
            }
            _ => out.push((kv.key.clone(), text(&kv.value))),
        };
        record.attributes.iter().for_each(&mut add);
        out
    }

    fn decode(encoder: &mut RecordEncoder, event: &EntityEvent<'_>) -> LogRecord {
        LogRecord::decode(encoder.encode(event)).expect("a valid LogRecord")
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn receiver_layout_as_the_k8scluster_receiver_sends_it() {
        let description = [
            (intern("k8s.pod.name"), intern("web-0")),
            (intern("k8s.pod.phase"), intern("Running")),
        ];
        let state = EntityEvent {
            kind: EventKind::State,
            entity_type: "k8s.pod",
            id: ("k8s.pod.uid", "u-1"),
            description: &description,
            related: &[("k8s.workload.kind", "Deployment")],
        };
        let mut encoder = RecordEncoder::new(
            EntityFormat::Receiver,
            Duration::from_secs(300),
            1_700_000_000_000_000_000,
        );
        let record = decode(&mut encoder, &state);
        assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_000);
        assert!(record.event_name.is_empty());
        assert_eq!(
            attributes(&record),
            pairs(&[
                ("otel.entity.id{k8s.pod.uid}", "u-1"),
                ("otel.entity.event.type", "entity_state"),
                ("otel.entity.type", "k8s.pod"),
                ("otel.entity.interval", "int:300000"),
                ("otel.entity.attributes{k8s.pod.name}", "web-0"),
                ("otel.entity.attributes{k8s.pod.phase}", "Running"),
                ("otel.entity.attributes{k8s.workload.kind}", "Deployment"),
            ])
        );
        let delete = EntityEvent {
            kind: EventKind::Delete,
            ..state
        };
        assert_eq!(
            attributes(&decode(&mut encoder, &delete)),
            pairs(&[
                ("otel.entity.id{k8s.pod.uid}", "u-1"),
                ("otel.entity.event.type", "entity_delete"),
                ("otel.entity.type", "k8s.pod"),
            ])
        );
    }

    #[test]
    fn specification_layout_names_the_event() {
        let long = "v".repeat(300);
        let description = [(intern("k8s.node.name"), intern(&long))];
        let state = EntityEvent {
            kind: EventKind::State,
            entity_type: "k8s.node",
            id: ("k8s.node.uid", "n-1"),
            description: &description,
            related: &[],
        };
        let mut encoder = RecordEncoder::new(EntityFormat::Spec, Duration::from_secs(300), 5);
        let record = decode(&mut encoder, &state);
        assert_eq!(record.event_name, "entity.state");
        assert_eq!(
            attributes(&record),
            pairs(&[
                ("entity.id{k8s.node.uid}", "n-1"),
                ("entity.type", "k8s.node"),
                ("entity.report.interval", "int:300"),
                ("entity.description{k8s.node.name}", &long),
            ])
        );
        let delete = EntityEvent {
            kind: EventKind::Delete,
            ..state
        };
        let record = decode(&mut encoder, &delete);
        assert_eq!(record.event_name, "entity.delete");
        assert_eq!(
            attributes(&record),
            pairs(&[
                ("entity.id{k8s.node.uid}", "n-1"),
                ("entity.type", "k8s.node")
            ])
        );
        assert_eq!(
            "spec".parse::<EntityFormat>().ok(),
            Some(EntityFormat::Spec)
        );
        assert!("legacy".parse::<EntityFormat>().is_err());
    }
}
