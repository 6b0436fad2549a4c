//! Streaming OTLP logs encoding: log records, each encoded by the caller, packed into
//! `ExportLogsServiceRequest`s of at most `max_request_bytes` under one resource and one
//! instrumentation scope. The request's exact size is known before each record is added, so a
//! request is handed out before it would exceed the limit.

use std::ops::ControlFlow;
use std::sync::Arc;

use opentelemetry::KeyValue;

use super::request::{Buffers, EncodeSummary, OtlpBuffers, OtlpRequest};
use super::wire::{field_len, put_attribute, put_len_field};

// Field numbers, from opentelemetry/proto/{collector/,}logs/v1 and resource/v1.
const REQUEST_RESOURCE_LOGS: u32 = 1;
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
const SCOPE_ATTRIBUTES: u32 = 3;

/// Encodes log records into requests, handing each to `emit`; `emit` returns `Break` when
/// nobody wants more, and the rest is then skipped.
pub struct LogsEncoder<F: FnMut(OtlpRequest) -> ControlFlow<()>> {
    emit: F,
    max_request_bytes: usize,
    /// Encoded `ResourceLogs.resource` field.
    resource: Vec<u8>,
    /// Encoded `ScopeLogs.scope` field.
    scope: Vec<u8>,
    /// `ScopeLogs.log_records` fields of the request being built.
    records: Vec<u8>,
    request_records: usize,
    buffers: Arc<Buffers>,
    stopped: bool,
    summary: EncodeSummary,
}

impl<F: FnMut(OtlpRequest) -> ControlFlow<()>> LogsEncoder<F> {
    /// Records go under a resource of `resource` and a scope (without a name) of
    /// `scope_attributes`.
    pub fn new(
        resource: &[KeyValue],
        scope_attributes: &[KeyValue],
        max_request_bytes: usize,
        emit: F,
    ) -> Self {
        let field = |tag: u32, attributes: &[KeyValue], attribute_tag: u32| {
            let mut content = Vec::new();
            for kv in attributes {
                put_attribute(attribute_tag, kv, &mut content);
            }
            let mut field = Vec::with_capacity(content.len() + 6);
            put_len_field(tag, content.len(), &mut field);
            field.extend_from_slice(&content);
            field
        };
        LogsEncoder {
            emit,
            max_request_bytes,
            resource: field(RESOURCE_LOGS_RESOURCE, resource, RESOURCE_ATTRIBUTES),
            scope: field(SCOPE_LOGS_SCOPE, scope_attributes, SCOPE_ATTRIBUTES),
            records: Vec::new(),
            request_records: 0,
            buffers: Arc::default(),
            stopped: false,
            summary: EncodeSummary::default(),
        }
    }

    /// Takes its request bodies from `buffers` and gives them back once sent.
    pub fn with_buffers(mut self, buffers: &OtlpBuffers) -> Self {
        self.buffers = buffers.0.clone();
        self
    }

    /// Encoded size of a request whose records fields take `records_len` bytes.
    fn request_len(&self, records_len: usize) -> usize {
        let scope_logs = self.scope.len() + records_len;
        field_len(self.resource.len() + field_len(scope_logs))
    }

    /// Adds one record (the encoded `LogRecord` message); a record too large for a request of
    /// its own is dropped and counted.
    pub fn push(&mut self, record: &[u8]) {
        if self.stopped {
            return;
        }
        let len = field_len(record.len());
        if self.request_len(len) > self.max_request_bytes {
            self.summary.points_dropped += 1;
            return;
        }
        if self.request_len(self.records.len() + len) > self.max_request_bytes {
            self.flush();
            if self.stopped {
                return;
            }
        }
        put_len_field(SCOPE_LOGS_LOG_RECORDS, record.len(), &mut self.records);
        self.records.extend_from_slice(record);
        self.request_records += 1;
        self.summary.points += 1;
    }

    /// Hands out the request being built, if it has records.
    fn flush(&mut self) {
        if self.request_records == 0 || self.stopped {
            return;
        }
        let len = self.request_len(self.records.len());
        let mut body = self.buffers.take_body(len);
        let scope_logs = self.scope.len() + self.records.len();
        put_len_field(
            REQUEST_RESOURCE_LOGS,
            self.resource.len() + field_len(scope_logs),
            &mut body,
        );
        body.extend_from_slice(&self.resource);
        put_len_field(RESOURCE_LOGS_SCOPE_LOGS, scope_logs, &mut body);
        body.extend_from_slice(&self.scope);
        body.extend_from_slice(&self.records);
        debug_assert_eq!(body.len(), len);
        self.records.clear();
        let points = std::mem::take(&mut self.request_records);
        self.stopped = self
            .summary
            .hand_out(&mut self.emit, body, points, &self.buffers);
    }

    /// Hands out the last request.
    pub fn finish(mut self) -> EncodeSummary {
        self.flush();
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use prost::Message;

    use super::*;

    fn record(i: usize) -> Vec<u8> {
        LogRecord {
            time_unix_nano: i as u64,
            event_name: format!("event-{i}-{}", "x".repeat(i % 50)),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn encode(max: usize, records: usize) -> (Vec<OtlpRequest>, EncodeSummary) {
        let mut requests = Vec::new();
        let mut encoder = LogsEncoder::new(
            &[KeyValue::new("service.name", "test")],
            &[KeyValue::new("otel.entity.event_as_log", true)],
            max,
            |r| {
                requests.push(r);
                ControlFlow::Continue(())
            },
        );
        for i in 0..records {
            encoder.push(&record(i));
        }
        let summary = encoder.finish();
        (requests, summary)
    }

    #[test]
    fn records_are_split_into_requests_within_the_limit_in_order() {
        for max in [1024, 4096, 1 << 20] {
            let (requests, summary) = encode(max, 500);
            assert_eq!(summary.points, 500);
            assert_eq!(summary.requests as usize, requests.len());
            let mut seen = Vec::new();
            for request in &requests {
                assert!(request.body.len() <= max, "{} > {max}", request.body.len());
                let decoded = ExportLogsServiceRequest::decode(request.body.clone())
                    .expect("a valid request");
                let [resource_logs] = decoded.resource_logs.as_slice() else {
                    panic!("one resource per request");
                };
                let resource = resource_logs.resource.as_ref().expect("a resource");
                assert_eq!(resource.attributes[0].key, "service.name");
                let [scope_logs] = resource_logs.scope_logs.as_slice() else {
                    panic!("one scope per request");
                };
                let scope = scope_logs.scope.as_ref().expect("a scope");
                assert!(scope.name.is_empty());
                assert_eq!(scope.attributes[0].key, "otel.entity.event_as_log");
                assert_eq!(
                    scope.attributes[0]
                        .value
                        .as_ref()
                        .and_then(|v| v.value.clone()),
                    Some(Value::BoolValue(true))
                );
                assert_eq!(scope_logs.log_records.len(), request.points);
                seen.extend(scope_logs.log_records.iter().map(|r| r.time_unix_nano));
            }
            assert_eq!(seen, (0..500).collect::<Vec<u64>>(), "max {max}");
        }
    }

    #[test]
    fn a_record_larger_than_a_request_is_dropped_and_counted() {
        let mut requests = Vec::new();
        let mut encoder = LogsEncoder::new(&[], &[], 200, |r| {
            requests.push(r);
            ControlFlow::Continue(())
        });
        encoder.push(&record(1));
        encoder.push(&vec![0u8; 300]);
        encoder.push(&record(2));
        let summary = encoder.finish();
        assert_eq!((summary.points, summary.points_dropped), (2, 1));
        assert_eq!(requests.len(), 1);
    }

    #[test]
    fn a_break_stops_the_encoding() {
        let mut sent = 0;
        let mut encoder = LogsEncoder::new(&[], &[], 1024, |_| {
            sent += 1;
            ControlFlow::Break(())
        });
        for i in 0..500 {
            encoder.push(&record(i));
        }
        let summary = encoder.finish();
        assert_eq!(sent, 1);
        assert_eq!(summary.requests, 1);
    }
}
