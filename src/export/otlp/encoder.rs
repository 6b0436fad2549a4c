//! Streaming OTLP encoding into requests of bounded size.
//!
//! The headers (resource, scope, metric descriptor) are opentelemetry-proto messages encoded
//! by prost once each; data points are written straight from the observed `KeyValue`s as
//! protobuf, byte-identical to what prost writes for a `NumberDataPoint` but without building
//! one: building and dropping those messages (two `String`s per attribute) cost three times
//! as much CPU as the encoding itself. Each part's size is known as it is written, so the
//! request's exact size is known before each point is added, and the request is handed out
//! before it would exceed the limit.
//!
//! Leading attributes of a point that name the object (`k8s.pod.uid`, …; see
//! [`is_resource_attribute`]) go to the resource instead: a new `ResourceMetrics` starts
//! whenever they change, so a collection that reports object by object (the semconv schema)
//! gets one resource per object, each after the process resource's attributes.
//!
//! With identity on the resource ([`OtlpEncoder::identity_on_resource`]) the kube-state-metrics
//! instruments' identity labels go to the resource too. Those are collected instrument by
//! instrument over a slice of a kind's objects, so the encoder regroups them: the collection
//! declares each slice as a set of objects and names the identity labels
//! ([`MetricSink::objects`]), tells which object each point is about
//! ([`MetricSink::observe_object`]), and the encoder keeps the slice's encoded points per
//! object, then writes them object by object when the set ends — one `ResourceMetrics` per
//! object, with one `Metric` per instrument that has points for it.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::BufMut;
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, ScopeMetrics, Sum};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::request::{Buffers, EncodeSummary, OtlpBuffers, OtlpRequest, locked};
use super::wire::{WIRE_FIXED64, field_len, put_attribute, put_key, put_len_field};
use crate::meter::{InstrumentDesc, InstrumentKind, MetricSink, Number};
use crate::metric::semconv::is_resource_attribute;

// Field numbers, from opentelemetry/proto/{collector/,}metrics/v1 and common/v1.
const REQUEST_RESOURCE_METRICS: u32 = 1;
const RESOURCE_METRICS_RESOURCE: u32 = 1;
const RESOURCE_METRICS_SCOPE_METRICS: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_METRICS_METRICS: u32 = 2;
const METRIC_GAUGE: u32 = 5;
const METRIC_SUM: u32 = 7;
const DATA_POINTS: u32 = 1;
const POINT_START_TIME: u32 = 2;
const POINT_TIME: u32 = 3;
const POINT_AS_DOUBLE: u32 = 4;
const POINT_AS_INT: u32 = 6;
const POINT_ATTRIBUTES: u32 = 7;

/// The instrumentation scope open in the request being built.
struct OpenScope {
    name: Arc<str>,
    schema_url: String,
    /// Encoded `ScopeMetrics.scope` field.
    header: Vec<u8>,
    /// Encoded `ScopeMetrics.schema_url` field, after the metrics.
    trailer: Vec<u8>,
}

impl OpenScope {
    fn new(desc: &InstrumentDesc) -> Self {
        let encode = |scope, schema_url: &str| {
            ScopeMetrics {
                scope,
                schema_url: schema_url.to_string(),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let scope = InstrumentationScope {
            name: desc.scope.to_string(),
            ..Default::default()
        };
        OpenScope {
            name: desc.scope.clone(),
            schema_url: desc.schema_url.to_string(),
            header: encode(Some(scope), ""),
            trailer: encode(None, &desc.schema_url),
        }
    }

    /// Encoded `ScopeMetrics` with metrics of `metrics_len` bytes.
    fn len(&self, metrics_len: usize) -> usize {
        self.header.len() + metrics_len + self.trailer.len()
    }
}

/// The instrument whose points are being added.
struct OpenMetric {
    /// What the encoding was made from, to reuse it when the instrument comes again (the next
    /// object's turn).
    name: String,
    description: String,
    unit: String,
    kind: InstrumentKind,
    /// Encoded `Metric` name, description and unit.
    header: Vec<u8>,
    data_tag: u32,
    /// Encoded `Sum` fields after the points: temporality and monotonicity.
    trailer: Vec<u8>,
    is_sum: bool,
}

impl OpenMetric {
    fn new(desc: &InstrumentDesc) -> Self {
        let header = Metric {
            name: desc.name.to_string(),
            description: desc.description.to_string(),
            unit: desc.unit.to_string(),
            ..Default::default()
        }
        .encode_to_vec();
        let (data_tag, trailer) = match desc.kind {
            InstrumentKind::Gauge => (METRIC_GAUGE, Vec::new()),
            InstrumentKind::Counter | InstrumentKind::UpDownCounter => (
                METRIC_SUM,
                Sum {
                    data_points: Vec::new(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: desc.kind == InstrumentKind::Counter,
                }
                .encode_to_vec(),
            ),
        };
        OpenMetric {
            name: desc.name.to_string(),
            description: desc.description.to_string(),
            unit: desc.unit.to_string(),
            kind: desc.kind,
            header,
            data_tag,
            trailer,
            is_sum: desc.kind != InstrumentKind::Gauge,
        }
    }

    fn describes(&self, desc: &InstrumentDesc) -> bool {
        self.name == desc.name
            && self.description == desc.description
            && self.unit == desc.unit
            && self.kind == desc.kind
    }

    /// Encoded `Metric` with points of `points_len` bytes.
    fn len(&self, points_len: usize) -> usize {
        self.header.len() + field_len(points_len + self.trailer.len())
    }

    /// Writes the `Metric` as a field of `ScopeMetrics` into `buf`, with the point fields
    /// `points`.
    fn put_field(&self, points: &[u8], buf: &mut Vec<u8>) {
        put_len_field(SCOPE_METRICS_METRICS, self.len(points.len()), buf);
        buf.extend_from_slice(&self.header);
        put_len_field(self.data_tag, points.len() + self.trailer.len(), buf);
        buf.extend_from_slice(points);
        buf.extend_from_slice(&self.trailer);
    }

    /// Adds the `Metric` as a field of `ScopeMetrics` to `out`, with the points of `full` then
    /// `points` (taken; the buffer left behind comes from `spare`).
    fn put(&self, full: &mut Pieces, points: &mut Vec<u8>, out: &mut Pieces, spare: &mut Spare) {
        let points_len = full.len() + points.len();
        out.write(|buf| {
            put_len_field(SCOPE_METRICS_METRICS, self.len(points_len), buf);
            buf.extend_from_slice(&self.header);
            put_len_field(self.data_tag, points_len + self.trailer.len(), buf);
        });
        out.append(full);
        out.put_buffer(points, spare);
        out.write(|buf| buf.extend_from_slice(&self.trailer));
    }
}

/// Encoded fields kept in the pieces they were written in, and copied once, into the request:
/// nesting each message into its parent's buffer copied every point four times (metric,
/// scope, resource, request) — a quarter of an OTLP collection's time at 150,000 pods.
#[derive(Default)]
struct Pieces {
    pieces: Vec<Vec<u8>>,
    len: usize,
    /// Whether the last piece takes small writes (it is not a moved buffer).
    tail_open: bool,
}

/// Buffers of at least this size are moved into [`Pieces`]; smaller ones are copied.
const MOVE_BYTES: usize = 16 * 1024;

/// A metric's points are written in buffers of about this size, moved aside when full rather
/// than grown: a growing buffer was reallocated and copied into fresh pages, and buffers of one
/// size are all reused.
const POINTS_CHUNK: usize = 64 * 1024;

impl Pieces {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes small fields through `write` at the end.
    fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if !self.tail_open {
            self.pieces.push(Vec::new());
            self.tail_open = true;
        }
        if let Some(tail) = self.pieces.last_mut() {
            let before = tail.len();
            write(tail);
            self.len += tail.len() - before;
        }
    }

    /// Writes `len` bytes through `write` at the end, into a buffer from `spare` when the
    /// last piece has no room for them: many whole messages are written this way (a resource
    /// per object), and a growing buffer would be reallocated and copied again and again.
    fn write_sized(&mut self, len: usize, spare: &mut Spare, write: impl FnOnce(&mut Vec<u8>)) {
        let room = self
            .pieces
            .last()
            .filter(|_| self.tail_open)
            .is_some_and(|tail| tail.capacity() - tail.len() >= len);
        if !room {
            let mut buffer = spare.take();
            buffer.reserve(len);
            self.pieces.push(buffer);
            self.tail_open = true;
        }
        self.write(write);
    }

    /// Adds the content of `buffer`, moved if it is big (a replacement from `spare` is left
    /// behind), copied if not; `buffer` is left empty.
    fn put_buffer(&mut self, buffer: &mut Vec<u8>, spare: &mut Spare) {
        if buffer.len() < MOVE_BYTES {
            self.write(|tail| tail.extend_from_slice(buffer));
            buffer.clear();
            return;
        }
        self.len += buffer.len();
        self.pieces.push(std::mem::replace(buffer, spare.take()));
        self.tail_open = false;
    }

    /// Moves all of `other`'s pieces to the end.
    fn append(&mut self, other: &mut Pieces) {
        self.len += std::mem::take(&mut other.len);
        self.pieces.append(&mut other.pieces);
        self.tail_open = std::mem::take(&mut other.tail_open);
    }

    /// The pieces as one buffer from `buffers`; the big ones go back to `spare`.
    fn take_bytes(&mut self, spare: &mut Spare, buffers: &Buffers) -> Vec<u8> {
        let mut bytes = buffers.take_body(self.len);
        for piece in self.pieces.drain(..) {
            bytes.extend_from_slice(&piece);
            spare.give(piece);
        }
        self.len = 0;
        self.tail_open = false;
        bytes
    }
}

/// Point buffers for reuse, so a moved buffer's replacement does not grow again from nothing.
#[derive(Default)]
struct Spare {
    buffers: Vec<Vec<u8>>,
}

impl Spare {
    /// Enough to replace every buffer a request moves.
    const KEEP: usize = 80;

    fn take(&mut self) -> Vec<u8> {
        self.buffers
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(POINTS_CHUNK))
    }

    fn give(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() >= MOVE_BYTES && self.buffers.len() < Self::KEEP {
            buffer.clear();
            self.buffers.push(buffer);
        }
    }
}

/// One set of objects (a slice of a kind) with their encoded identities, and, with identity
/// on the resource, their points, kept until the set ends and then written object by object.
#[derive(Default)]
struct ObjectSet {
    /// The attributes that lead each point and identify its object; empty: the points are
    /// not regrouped.
    identity: &'static [&'static str],
    /// The instruments begun since the set began.
    metrics: Vec<Arc<OpenMetric>>,
    /// The objects, in the collection's order (indices into `seen`).
    order: Vec<usize>,
    /// The set's objects; the first `len` are in use, the others kept for their buffers.
    seen: Vec<SetObject>,
    len: usize,
    /// Position in `order` of the last point's object, in the instrument being observed.
    last: Option<usize>,
    /// Encoded `DATA_POINTS` fields, each run of them one object's points of one instrument.
    points: Vec<u8>,
    /// The field the identity attributes are encoded as: the resource's attributes
    /// (regrouped), or the points' (kept on them, encoded once per object).
    tag: u32,
}

struct SetObject {
    /// The collection's key of the object (0: unknown, its identity is compared).
    key: usize,
    /// Encoded attribute fields of its identity (see [`ObjectSet::tag`]).
    identity: Vec<u8>,
    runs: Vec<Run>,
}

/// One object's points of one instrument.
struct Run {
    metric: usize,
    points: usize,
    bytes: std::ops::Range<usize>,
}

impl ObjectSet {
    /// Forgets the set's objects and points, keeping the buffers.
    fn clear(&mut self) {
        self.metrics.clear();
        self.order.clear();
        self.len = 0;
        self.last = None;
        self.points.clear();
    }

    /// The object of a point with identity attributes `identity` and collection key `key`
    /// (`scratch` holds the encoded identity): the last point's, or one after it in the set's
    /// order (every instrument reports the set's objects in the same order), else a new one.
    fn object(&mut self, key: usize, identity: &[KeyValue], scratch: &mut Vec<u8>) -> usize {
        let tag = self.tag;
        let encode = |scratch: &mut Vec<u8>| {
            scratch.clear();
            for kv in identity {
                put_attribute(tag, kv, scratch);
            }
        };
        if key == 0 {
            encode(scratch);
        }
        let seen = &self.seen;
        let same = |index: usize| {
            let object = &seen[index];
            if key == 0 {
                object.identity == *scratch
            } else {
                object.key == key
            }
        };
        let from = self.last.unwrap_or(0);
        if let Some(at) = (from..self.order.len()).find(|&at| same(self.order[at])) {
            self.last = Some(at);
            return self.order[at];
        }
        if key != 0 {
            encode(scratch);
        }
        let index = self.len;
        if index == self.seen.len() {
            self.seen.push(SetObject {
                key,
                identity: Vec::new(),
                runs: Vec::new(),
            });
        }
        let object = &mut self.seen[index];
        object.key = key;
        object.identity.clear();
        object.identity.extend_from_slice(scratch);
        object.runs.clear();
        self.len += 1;
        let at = self.last.map_or(0, |last| last + 1);
        self.order.insert(at, index);
        self.last = Some(at);
        index
    }

    /// Adds the encoded point `point` of the last instrument begun to `object`'s points.
    fn push(&mut self, object: usize, point: &[u8]) {
        let start = self.points.len();
        put_len_field(DATA_POINTS, point.len(), &mut self.points);
        self.points.extend_from_slice(point);
        let end = self.points.len();
        let metric = self.metrics.len().saturating_sub(1);
        let runs = &mut self.seen[object].runs;
        match runs.last_mut() {
            Some(run) if run.metric == metric && run.bytes.end == start => {
                run.bytes.end = end;
                run.points += 1;
            }
            _ => runs.push(Run {
                metric,
                points: 1,
                bytes: start..end,
            }),
        }
    }
}

/// The first field of `fields` (a one-byte key, a varint length) and what follows it.
fn next_field(fields: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = fields.get(1..)?;
    let len = usize::try_from(prost::encoding::decode_varint(&mut rest).ok()?).ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// A [`MetricSink`] that encodes a collection into OTLP requests of at most `max_request_bytes`
/// (encoded, uncompressed), handing each to `emit`. `emit` returns `Break` when nobody wants
/// more; the rest of the collection is then skipped cheaply.
pub struct OtlpEncoder<F: FnMut(OtlpRequest) -> ControlFlow<()> + Send> {
    emit: F,
    max_request_bytes: usize,
    time_unix_nano: u64,
    start_time_unix_nano: u64,
    /// Encoded attribute fields of the process resource (`service.name`, …).
    process: Vec<u8>,
    /// Encoded attribute fields of the object the points are about; empty for none.
    object: Vec<u8>,
    /// The next point's object attributes, to compare with `object`.
    next_object: Vec<u8>,
    /// Encoded `ResourceMetrics.resource` field: `process` then `object`.
    resource: Vec<u8>,
    /// Closed `ResourceMetrics` fields of the request being built.
    resources: Pieces,
    /// Closed `ScopeMetrics` fields of the open resource.
    scopes: Pieces,
    scope: Option<OpenScope>,
    /// Closed `Metric` fields of the open scope.
    metrics: Pieces,
    metric: Option<Arc<OpenMetric>>,
    /// Encoded metric headers by name, reused when a collection goes object by object.
    metric_cache: HashMap<String, Arc<OpenMetric>>,
    /// Data point fields of the open metric: full buffers, then the one being written.
    points_full: Pieces,
    points: Vec<u8>,
    spare: Spare,
    buffers: Arc<Buffers>,
    /// The point being encoded.
    point: Vec<u8>,
    /// How long `points` may grow with the request still within its limit, by a bound that
    /// skips [`Self::request_len`] for most points; 0 until the precise path sets it again.
    points_room: usize,
    request_points: usize,
    stopped: bool,
    summary: EncodeSummary,
    /// Identity on the resource: sets of objects are regrouped object by object.
    identity_on_resource: bool,
    objects: ObjectSet,
}

impl<F: FnMut(OtlpRequest) -> ControlFlow<()> + Send> OtlpEncoder<F> {
    /// `time_unix_nano` stamps every point; `start_time_unix_nano` (the exporter's start) is the
    /// start of the cumulative sums observed without one of their own.
    pub fn new(
        resource: &[KeyValue],
        max_request_bytes: usize,
        start_time_unix_nano: u64,
        time_unix_nano: u64,
        emit: F,
    ) -> Self {
        let resource = Resource {
            attributes: resource
                .iter()
                .map(|kv| ProtoKeyValue {
                    key: kv.key.to_string(),
                    value: Some(AnyValue::from(kv.value.clone())),
                    key_strindex: 0,
                })
                .collect(),
            ..Default::default()
        };
        let mut encoder = OtlpEncoder {
            emit,
            max_request_bytes,
            time_unix_nano,
            start_time_unix_nano,
            process: resource.encode_to_vec(),
            object: Vec::new(),
            next_object: Vec::new(),
            resource: Vec::new(),
            resources: Pieces::default(),
            scopes: Pieces::default(),
            scope: None,
            metrics: Pieces::default(),
            metric: None,
            metric_cache: HashMap::new(),
            points_full: Pieces::default(),
            points: Vec::new(),
            spare: Spare::default(),
            buffers: Arc::default(),
            point: Vec::new(),
            points_room: 0,
            request_points: 0,
            stopped: false,
            summary: EncodeSummary::default(),
            identity_on_resource: false,
            objects: ObjectSet::default(),
        };
        encoder.set_resource();
        encoder
    }

    /// Encodes the `ResourceMetrics.resource` field from `process` and `object`.
    fn set_resource(&mut self) {
        self.points_room = 0;
        self.resource.clear();
        let len = self.process.len() + self.object.len();
        put_len_field(RESOURCE_METRICS_RESOURCE, len, &mut self.resource);
        self.resource.extend_from_slice(&self.process);
        self.resource.extend_from_slice(&self.object);
    }

    /// Moves to the resource of the object whose attributes are in `next_object`: what the
    /// current resource holds is closed; the open scope and metric continue in the new one.
    fn switch_resource(&mut self) {
        self.close_resource();
        std::mem::swap(&mut self.object, &mut self.next_object);
        self.set_resource();
    }

    /// Closes the open resource's scopes into a `ResourceMetrics`; the resource stays open.
    fn close_resource(&mut self) {
        self.close_scope();
        if !self.scopes.is_empty() {
            let len = self.resource.len() + self.scopes.len();
            let resource = &self.resource;
            self.resources.write(|buf| {
                put_len_field(REQUEST_RESOURCE_METRICS, len, buf);
                buf.extend_from_slice(resource);
            });
            self.resources.append(&mut self.scopes);
        }
    }

    /// Takes its request bodies and point buffers from `buffers`, and gives them back, to
    /// be used by the next collection's encoder.
    pub fn with_buffers(mut self, buffers: &OtlpBuffers) -> Self {
        self.buffers = buffers.0.clone();
        self.spare.buffers = std::mem::take(&mut *locked(&self.buffers.points));
        self.points = self.spare.take();
        self
    }

    /// Puts the identity labels of the objects the collection declares
    /// ([`MetricSink::objects`]) on a resource per object instead of on every point.
    pub fn identity_on_resource(mut self, on: bool) -> Self {
        self.identity_on_resource = on;
        self
    }

    /// Hands out the last request.
    pub fn finish(mut self) -> EncodeSummary {
        self.write_objects();
        self.flush();
        self.spare.give(std::mem::take(&mut self.points));
        *locked(&self.buffers.points) = std::mem::take(&mut self.spare.buffers);
        self.summary
    }

    fn points_len(&self) -> usize {
        self.points_full.len() + self.points.len()
    }

    /// Encoded size of the request being built, with one more point field of `extra` bytes.
    fn request_len(&self, extra: usize) -> usize {
        let mut scope_body = self.metrics.len();
        let points = self.points_len() + extra;
        if let Some(metric) = &self.metric
            && points > 0
        {
            scope_body += field_len(metric.len(points));
        }
        let mut resource_body = self.scopes.len();
        if let Some(scope) = &self.scope
            && scope_body > 0
        {
            resource_body += field_len(scope.len(scope_body));
        }
        let open = if resource_body > 0 {
            field_len(self.resource.len() + resource_body)
        } else {
            0
        };
        self.resources.len() + open
    }

    /// The longest `points` can be with the request still within its limit, by an upper bound
    /// of [`Self::request_len`]: each of the four enclosing fields adds at most a key byte and
    /// a ten-byte length to what it holds.
    fn points_room(&self) -> usize {
        let (Some(metric), Some(scope)) = (&self.metric, &self.scope) else {
            return 0;
        };
        let enclosing = self.resources.len()
            + self.resource.len()
            + self.scopes.len()
            + scope.header.len()
            + scope.trailer.len()
            + self.metrics.len()
            + metric.header.len()
            + metric.trailer.len()
            + 4 * 11;
        self.max_request_bytes.saturating_sub(enclosing)
    }

    /// Closes the open metric's points into a `Metric`; the metric stays open for more points.
    /// Metrics without points are left out.
    fn close_metric(&mut self) {
        self.points_room = 0;
        if let Some(metric) = &self.metric
            && self.points_len() > 0
        {
            metric.put(
                &mut self.points_full,
                &mut self.points,
                &mut self.metrics,
                &mut self.spare,
            );
        }
    }

    /// Closes the open scope's metrics into a `ScopeMetrics`; the scope stays open.
    fn close_scope(&mut self) {
        self.close_metric();
        if let Some(scope) = &self.scope
            && !self.metrics.is_empty()
        {
            let len = scope.len(self.metrics.len());
            self.scopes.write(|buf| {
                put_len_field(RESOURCE_METRICS_SCOPE_METRICS, len, buf);
                buf.extend_from_slice(&scope.header);
            });
            self.scopes.append(&mut self.metrics);
            self.scopes
                .write(|buf| buf.extend_from_slice(&scope.trailer));
        }
    }

    /// Hands out the request being built, if it has points.
    fn flush(&mut self) {
        if self.request_points == 0 || self.stopped {
            return;
        }
        let len = self.request_len(0);
        self.close_resource();
        let body = self.resources.take_bytes(&mut self.spare, &self.buffers);
        debug_assert_eq!(body.len(), len);
        let points = std::mem::take(&mut self.request_points);
        self.stopped = self
            .summary
            .hand_out(&mut self.emit, body, points, &self.buffers);
    }

    /// Whether points are regrouped by object now.
    fn regrouping(&self) -> bool {
        self.identity_on_resource && !self.objects.identity.is_empty()
    }

    /// Adds the point in `self.point` to the open metric, handing out the request first if it
    /// would not fit.
    fn add_point(&mut self) {
        let len = field_len(self.point.len());
        if self.points_len() + len > self.points_room {
            let mut request_len = self.request_len(len);
            if self.request_points > 0 && request_len > self.max_request_bytes {
                // A metric split here repeats its name and description in the next request.
                self.flush();
                if self.stopped {
                    return;
                }
                request_len = self.request_len(len);
            }
            if request_len > self.max_request_bytes {
                self.summary.points_dropped += 1;
                return;
            }
            self.points_room = self.points_room();
        } else {
            debug_assert!(self.request_len(len) <= self.max_request_bytes);
        }
        self.make_room(len);
        put_len_field(DATA_POINTS, self.point.len(), &mut self.points);
        self.points.extend_from_slice(&self.point);
        self.request_points += 1;
        self.summary.points += 1;
    }

    /// Moves the points buffer aside if `len` more bytes would not fit in it.
    fn make_room(&mut self, len: usize) {
        if self.points.len() + len > self.points.capacity() && self.points.len() >= MOVE_BYTES {
            self.points_full
                .put_buffer(&mut self.points, &mut self.spare);
        }
    }

    /// Writes the set's objects, each as a whole `ResourceMetrics` of its own, and empties the
    /// set.
    fn write_objects(&mut self) {
        let mut set = std::mem::take(&mut self.objects);
        let scope = self
            .scope
            .as_ref()
            .map(|s| (s.header.clone(), s.trailer.clone()));
        // Objects only looked up (identity kept on the points) have no points here.
        if let (Some((header, trailer)), false) = (scope, set.points.is_empty()) {
            // What the request holds so far is closed: the objects follow it whole.
            self.close_resource();
            for &index in &set.order {
                if self.stopped {
                    break;
                }
                let object = &set.seen[index];
                if !object.runs.is_empty() {
                    self.write_object(&set, object, (&header, &trailer));
                }
            }
            // Requests were extended behind the open parts' backs.
            self.points_room = 0;
        }
        set.clear();
        self.objects = set;
    }

    /// Writes one object of `set` as a `ResourceMetrics` (in the scope whose encoded header
    /// and trailer are `scope`), in a new request if it does not fit in this one; an object
    /// bigger than a whole request is written point by point, over several.
    fn write_object(&mut self, set: &ObjectSet, object: &SetObject, scope: (&[u8], &[u8])) {
        let (header, trailer) = scope;
        let metrics_len: usize = object
            .runs
            .iter()
            .map(|run| field_len(set.metrics[run.metric].len(run.bytes.len())))
            .sum();
        let scope_len = header.len() + metrics_len + trailer.len();
        let resource_len = self.process.len() + object.identity.len();
        let len = field_len(resource_len) + field_len(scope_len);
        if self.resources.len() + field_len(len) > self.max_request_bytes {
            self.flush();
            if self.stopped {
                return;
            }
            if field_len(len) > self.max_request_bytes {
                return self.write_object_points(set, object);
            }
        }
        let process = &self.process;
        self.resources
            .write_sized(field_len(len), &mut self.spare, |buf| {
                put_len_field(REQUEST_RESOURCE_METRICS, len, buf);
                put_len_field(RESOURCE_METRICS_RESOURCE, resource_len, buf);
                buf.extend_from_slice(process);
                buf.extend_from_slice(&object.identity);
                put_len_field(RESOURCE_METRICS_SCOPE_METRICS, scope_len, buf);
                buf.extend_from_slice(header);
                for run in &object.runs {
                    set.metrics[run.metric].put_field(&set.points[run.bytes.clone()], buf);
                }
                buf.extend_from_slice(trailer);
            });
        let points: usize = object.runs.iter().map(|run| run.points).sum();
        self.request_points += points;
        self.summary.points += points as u64;
    }

    /// Writes one object of `set` under its resource point by point, handing out requests as
    /// they fill.
    fn write_object_points(&mut self, set: &ObjectSet, object: &SetObject) {
        self.next_object.clear();
        self.next_object.extend_from_slice(&object.identity);
        self.switch_resource();
        for run in &object.runs {
            self.close_metric();
            self.metric = set.metrics.get(run.metric).cloned();
            self.add_points(&set.points[run.bytes.clone()], run.points);
        }
        // Back to the process resource, as the direct writes assume.
        self.next_object.clear();
        self.switch_resource();
    }

    /// Adds `count` encoded point fields to the open metric: at once when they fit, else one by
    /// one, handing out requests as they fill.
    fn add_points(&mut self, fields: &[u8], count: usize) {
        if self.points_len() + fields.len() <= self.points_room {
            self.make_room(fields.len());
            self.points.extend_from_slice(fields);
            self.request_points += count;
            self.summary.points += count as u64;
            return;
        }
        let mut rest = fields;
        while let Some((point, after)) = next_field(rest) {
            if self.stopped {
                return;
            }
            self.point.clear();
            self.point.extend_from_slice(point);
            self.add_point();
            rest = after;
        }
    }

    /// Encodes a `NumberDataPoint` (its fields in prost's order) into `self.point`; `start` is
    /// the series' own start time, or 0 for the encoder's.
    fn encode_point(&mut self, value: Number, attributes: &[KeyValue], is_sum: bool, start: u64) {
        // Gauges carry no start time: the data model ignores it for them.
        let start = match (is_sum, start) {
            (false, _) => 0,
            (true, 0) => self.start_time_unix_nano,
            // A creation stamped after now (clock skew) would make an invalid point.
            (true, start) if self.time_unix_nano != 0 => start.min(self.time_unix_nano),
            (true, start) => start,
        };
        let buf = &mut self.point;
        buf.clear();
        if start != 0 {
            put_key(POINT_START_TIME, WIRE_FIXED64, buf);
            buf.put_u64_le(start);
        }
        if self.time_unix_nano != 0 {
            put_key(POINT_TIME, WIRE_FIXED64, buf);
            buf.put_u64_le(self.time_unix_nano);
        }
        match value {
            Number::F64(v) => put_double(v, buf),
            Number::I64(v) => put_int(v, buf),
            // OTLP has no unsigned integers; a u64 beyond i64 can only be a double.
            Number::U64(v) => match i64::try_from(v) {
                Ok(v) => put_int(v, buf),
                Err(_) => put_double(v as f64, buf),
            },
        }
        for kv in attributes {
            put_attribute(POINT_ATTRIBUTES, kv, buf);
        }
    }
}

#[inline]
fn put_double(v: f64, buf: &mut Vec<u8>) {
    put_key(POINT_AS_DOUBLE, WIRE_FIXED64, buf);
    buf.put_f64_le(v);
}

#[inline]
fn put_int(v: i64, buf: &mut Vec<u8>) {
    put_key(POINT_AS_INT, WIRE_FIXED64, buf);
    buf.put_i64_le(v);
}

// SAFETY: it encodes the attributes into its request buffer and keeps no attribute.
unsafe impl<F: FnMut(OtlpRequest) -> ControlFlow<()> + Send> MetricSink for OtlpEncoder<F> {
    fn begin(&mut self, desc: &InstrumentDesc) {
        if self.stopped {
            return;
        }
        let new_scope = self
            .scope
            .as_ref()
            .is_none_or(|s| s.name != desc.scope || s.schema_url != desc.schema_url);
        if new_scope {
            // A set's points are written in the scope they were observed in.
            self.write_objects();
        }
        self.close_metric();
        if new_scope {
            self.close_scope();
            self.scope = Some(OpenScope::new(desc));
        }
        let metric = match self.metric_cache.get(&*desc.name) {
            Some(cached) if cached.describes(desc) => cached.clone(),
            _ => {
                let metric = Arc::new(OpenMetric::new(desc));
                self.metric_cache
                    .insert(desc.name.to_string(), metric.clone());
                metric
            }
        };
        if self.regrouping() {
            self.objects.metrics.push(metric.clone());
        }
        // Each instrument reports the set's objects from the first on.
        self.objects.last = None;
        self.metric = Some(metric);
    }

    fn observe(&mut self, value: Number, attributes: &[KeyValue]) {
        self.observe_since(value, attributes, 0);
    }

    fn observe_since(&mut self, value: Number, attributes: &[KeyValue], start_unix_nanos: u64) {
        let Some(is_sum) = self.metric.as_ref().map(|m| m.is_sum) else {
            return;
        };
        if self.stopped {
            return;
        }
        let object = attributes
            .iter()
            .take_while(|kv| is_resource_attribute(kv.key.as_str()))
            .count();
        let (object_attributes, attributes) = attributes.split_at(object);
        if object > 0 || !self.object.is_empty() {
            self.next_object.clear();
            for kv in object_attributes {
                put_attribute(RESOURCE_ATTRIBUTES, kv, &mut self.next_object);
            }
            if self.next_object != self.object {
                self.switch_resource();
            }
        }
        self.encode_point(value, attributes, is_sum, start_unix_nanos);
        self.add_point();
    }

    fn observe_object(
        &mut self,
        value: Number,
        attributes: &[KeyValue],
        start_unix_nanos: u64,
        object: usize,
    ) {
        let regrouping = self.regrouping();
        // Identity kept on the points is encoded once per object and slice, not per point.
        let caching = !regrouping && object != 0 && !self.objects.identity.is_empty();
        if !regrouping && !caching {
            return self.observe_since(value, attributes, start_unix_nanos);
        }
        let metric = match regrouping {
            true => self.objects.metrics.last(),
            false => self.metric.as_ref(),
        };
        let Some(is_sum) = metric.map(|m| m.is_sum).filter(|_| !self.stopped) else {
            return;
        };
        let identity = attributes
            .iter()
            .zip(self.objects.identity)
            .take_while(|(kv, name)| kv.key.as_str() == **name)
            .count();
        let (identity, attributes) = attributes.split_at(identity);
        let object = self.objects.object(object, identity, &mut self.next_object);
        if regrouping {
            self.encode_point(value, attributes, is_sum, start_unix_nanos);
            return self.objects.push(object, &self.point);
        }
        // The attributes follow the value in a point: the identity's first.
        self.encode_point(value, &[], is_sum, start_unix_nanos);
        self.point
            .extend_from_slice(&self.objects.seen[object].identity);
        for kv in attributes {
            put_attribute(POINT_ATTRIBUTES, kv, &mut self.point);
        }
        self.add_point();
    }

    fn objects(&mut self, identity: &'static [&'static str]) {
        self.write_objects();
        self.objects.identity = identity;
        self.objects.tag = match self.identity_on_resource {
            true => RESOURCE_ATTRIBUTES,
            false => POINT_ATTRIBUTES,
        };
        if !identity.is_empty() && !self.object.is_empty() {
            // The points of the set (without their identity on a resource) go on the process
            // resource, as the points of a semconv object before them did not.
            self.next_object.clear();
            self.switch_resource();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::{
        NumberDataPoint, ResourceMetrics, number_data_point,
    };

    use super::*;
    use crate::export::otlp::MIN_REQUEST_BYTES as MIN;
    use crate::meter::OpenMetricsType;

    fn desc(scope: &str, name: &'static str, kind: InstrumentKind) -> InstrumentDesc {
        InstrumentDesc {
            scope: Arc::from(scope),
            schema_url: Cow::Borrowed(""),
            name: Cow::Borrowed(name),
            description: Cow::Borrowed("help text"),
            unit: Cow::Borrowed(""),
            kind,
            openmetrics: OpenMetricsType::FromKind,
        }
    }

    /// Strings (one empty, one non-ASCII, one around the one-byte lengths' limit, one with an
    /// empty key), and the non-string kinds prost encodes for us.
    fn attributes(i: usize) -> Vec<KeyValue> {
        vec![
            KeyValue::new("namespace", format!("ns-{}", i % 7)),
            KeyValue::new("pod", format!("pod-{i}")),
            KeyValue::new("empty", ""),
            KeyValue::new("uid", format!("{i:032x}-ü")),
            KeyValue::new("ready", i.is_multiple_of(2)),
            KeyValue::new("n", i as i64),
            KeyValue::new("f", i as f64 / 3.0),
            KeyValue::new("annotation", "a".repeat(100 + i % 40)),
            KeyValue::new("", "no key"),
        ]
    }

    fn value(i: usize) -> Number {
        match i % 4 {
            0 => Number::F64(i as f64 + 0.25),
            1 => Number::I64(-(i as i64)),
            2 => Number::U64(i as u64),
            _ => Number::U64(u64::MAX - i as u64),
        }
    }

    const INSTRUMENTS: [(&str, &str, InstrumentKind, usize); 5] = [
        ("pod", "kube_pod_info", InstrumentKind::Gauge, 500),
        ("pod", "kube_pod_empty", InstrumentKind::Gauge, 0),
        (
            "pod",
            "kube_pod_restarts_total",
            InstrumentKind::Counter,
            300,
        ),
        ("node", "kube_node_info", InstrumentKind::Gauge, 1),
        (
            "deployment",
            "kube_deployment_x",
            InstrumentKind::UpDownCounter,
            200,
        ),
    ];

    /// Three scopes, gauges and sums, an instrument without points.
    fn encode(max_request_bytes: usize) -> (Vec<OtlpRequest>, EncodeSummary) {
        let mut requests = Vec::new();
        let mut encoder = OtlpEncoder::new(
            &[KeyValue::new("service.name", "test")],
            max_request_bytes,
            1,
            2,
            |r| {
                requests.push(r);
                ControlFlow::Continue(())
            },
        );
        let mut n = 0;
        for (scope, name, kind, points) in INSTRUMENTS {
            encoder.begin(&desc(scope, name, kind));
            for _ in 0..points {
                encoder.observe(value(n), &attributes(n));
                n += 1;
            }
        }
        let summary = encoder.finish();
        (requests, summary)
    }

    fn decode(request: &OtlpRequest) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest::decode(request.body.clone())
            .unwrap_or_else(|e| panic!("undecodable request: {e}"))
    }

    /// (scope, metric) and points, in order, across requests.
    fn points(requests: &[OtlpRequest]) -> Vec<(String, Metric, NumberDataPoint)> {
        let mut out = Vec::new();
        for request in requests {
            for rm in decode(request).resource_metrics {
                for sm in rm.scope_metrics {
                    let scope = sm.scope.map(|s| s.name).unwrap_or_default();
                    for metric in sm.metrics {
                        let points = match &metric.data {
                            Some(Data::Gauge(g)) => g.data_points.clone(),
                            Some(Data::Sum(s)) => s.data_points.clone(),
                            _ => panic!("unexpected data in {metric:?}"),
                        };
                        for point in points {
                            out.push((scope.clone(), metric.clone(), point));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn requests_are_what_prost_writes_and_within_the_limit() {
        for limit in [MIN, 2 * MIN, 7_777, 64 * 1024, usize::MAX] {
            let (requests, summary) = encode(limit);
            assert_eq!(summary.points, 1001);
            assert_eq!(summary.points_dropped, 0);
            assert_eq!(summary.requests, requests.len() as u64);
            for r in &requests {
                let decoded = decode(r);
                // Byte for byte what prost encodes for the same message.
                assert_eq!(decoded.encode_to_vec(), r.body);
                assert!(r.body.len() <= limit, "{} > {limit}", r.body.len());
            }
            assert_eq!(requests.iter().map(|r| r.points).sum::<usize>(), 1001);
            assert_eq!(points(&requests).len(), 1001);
            if limit == usize::MAX {
                assert_eq!(requests.len(), 1);
            } else {
                assert!(requests.len() > 1);
            }
        }
    }

    #[test]
    fn points_keep_their_order_instrument_and_values() {
        let points = points(&encode(2 * MIN).0);
        let expected_instruments = INSTRUMENTS
            .iter()
            .flat_map(|(scope, name, kind, n)| std::iter::repeat_n((scope, name, kind), *n));
        for (i, ((scope, metric, point), (want_scope, want_name, kind))) in
            points.iter().zip(expected_instruments).enumerate()
        {
            assert_eq!(scope, want_scope);
            assert_eq!(&metric.name, want_name);
            assert_eq!(metric.description, "help text");
            match (&metric.data, kind) {
                (Some(Data::Gauge(_)), InstrumentKind::Gauge) => {
                    assert_eq!(point.start_time_unix_nano, 0)
                }
                (Some(Data::Sum(sum)), InstrumentKind::Counter | InstrumentKind::UpDownCounter) => {
                    assert_eq!(sum.is_monotonic, *kind == InstrumentKind::Counter);
                    assert_eq!(
                        sum.aggregation_temporality,
                        AggregationTemporality::Cumulative as i32
                    );
                    assert_eq!(point.start_time_unix_nano, 1);
                }
                (data, kind) => panic!("{kind:?} encoded as {data:?}"),
            }
            assert_eq!(point.time_unix_nano, 2);
            let want = match value(i) {
                Number::F64(v) => number_data_point::Value::AsDouble(v),
                Number::I64(v) => number_data_point::Value::AsInt(v),
                Number::U64(v) => i64::try_from(v).map_or(
                    number_data_point::Value::AsDouble(v as f64),
                    number_data_point::Value::AsInt,
                ),
            };
            assert_eq!(point.value, Some(want));
            let want_attributes: Vec<ProtoKeyValue> = attributes(i)
                .into_iter()
                .map(|kv| ProtoKeyValue {
                    key: kv.key.to_string(),
                    value: Some(AnyValue::from(kv.value)),
                    key_strindex: 0,
                })
                .collect();
            assert_eq!(point.attributes, want_attributes);
        }
        assert_eq!(points.len(), 1001);
        let uid = &points[5].2.attributes[3].value;
        let want = any_value::Value::StringValue(format!("{:032x}-ü", 5));
        assert_eq!(uid.as_ref().and_then(|v| v.value.clone()), Some(want));
    }

    #[test]
    fn resource_scopes_and_empty_instruments() {
        let (requests, _) = encode(usize::MAX);
        let rm = &decode(&requests[0]).resource_metrics[0];
        let service = &rm.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        let scopes: Vec<&str> = rm
            .scope_metrics
            .iter()
            .map(|s| s.scope.as_ref().map_or("", |s| s.name.as_str()))
            .collect();
        assert_eq!(scopes, ["pod", "node", "deployment"]);
        let names: Vec<&str> = rm.scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        // The instrument without points is left out.
        assert_eq!(names, ["kube_pod_info", "kube_pod_restarts_total"]);
    }

    #[test]
    fn split_metric_repeats_its_header_in_the_next_request() {
        let (requests, _) = encode(4 * MIN);
        let with_info = requests
            .iter()
            .filter(|r| {
                decode(r).resource_metrics[0]
                    .scope_metrics
                    .iter()
                    .flat_map(|s| &s.metrics)
                    .any(|m| m.name == "kube_pod_info" && m.description == "help text")
            })
            .count();
        assert!(with_info > 1);
    }

    #[test]
    fn sums_carry_their_own_start_time_and_gauges_none() {
        let mut requests = Vec::new();
        let mut encoder = OtlpEncoder::new(&[], usize::MAX, 100, 1_000, |r| {
            requests.push(r);
            ControlFlow::Continue(())
        });
        encoder.begin(&desc("s", "c_total", InstrumentKind::Counter));
        encoder.observe_since(Number::F64(1.0), &[], 500);
        encoder.observe(Number::F64(2.0), &[]);
        // Created after now (clock skew): clamped to the point's time.
        encoder.observe_since(Number::F64(3.0), &[], 5_000);
        encoder.begin(&desc("s", "g", InstrumentKind::Gauge));
        encoder.observe_since(Number::F64(4.0), &[], 500);
        encoder.finish();
        let starts: Vec<u64> = points(&requests)
            .iter()
            .map(|(_, _, p)| p.start_time_unix_nano)
            .collect();
        assert_eq!(starts, [500, 100, 1_000, 0]);
    }

    /// Points whose lengths take one, two or three bytes, in every order, are what prost
    /// writes, also where a request is split.
    #[test]
    fn point_lengths_of_every_width_are_what_prost_writes() {
        let sizes = [
            0, 200, 20_000, 0, 0, 200, 200, 20_000, 20_000, 0, 100, 127, 128, 16_400,
        ];
        for limit in [24 * 1024, 64 * 1024, usize::MAX] {
            let mut requests = Vec::new();
            let mut encoder = OtlpEncoder::new(&[], limit, 0, 0, |r| {
                requests.push(r);
                ControlFlow::Continue(())
            });
            encoder.begin(&desc("s", "m", InstrumentKind::Gauge));
            for (i, size) in sizes.iter().enumerate() {
                let attributes = [KeyValue::new("a", "x".repeat(*size))];
                encoder.observe(Number::I64(i as i64), &attributes[..usize::from(*size > 0)]);
            }
            let summary = encoder.finish();
            assert_eq!(summary.points, sizes.len() as u64);
            for r in &requests {
                assert_eq!(decode(r).encode_to_vec(), r.body);
                assert!(r.body.len() <= limit);
            }
            let got: Vec<(i64, usize)> = points(&requests)
                .iter()
                .map(|(_, _, p)| {
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(v)) => v,
                        ref other => panic!("not an int: {other:?}"),
                    };
                    let size = match p.attributes.first().and_then(|a| a.value.clone()) {
                        Some(AnyValue {
                            value: Some(any_value::Value::StringValue(s)),
                        }) => s.len(),
                        _ => 0,
                    };
                    (value, size)
                })
                .collect();
            let want: Vec<(i64, usize)> = sizes
                .iter()
                .enumerate()
                .map(|(i, s)| (i as i64, *s))
                .collect();
            assert_eq!(got, want);
        }
    }

    /// A dropped request's buffer makes a later request; one still referenced is left intact.
    #[test]
    fn dropped_request_bodies_are_reused_and_held_ones_are_not() {
        let (mut buffers, mut held, mut requests) = (Vec::new(), Vec::new(), 0);
        let mut encoder = OtlpEncoder::new(&[], 4 * MIN, 0, 0, |r| {
            buffers.push(r.body.as_ptr() as usize);
            if requests % 2 == 0 {
                held.push((r.body.clone(), r.body.to_vec()));
            }
            requests += 1;
            ControlFlow::Continue(())
        });
        encoder.begin(&desc("s", "m", InstrumentKind::Gauge));
        for i in 0..1000 {
            encoder.observe(value(i), &attributes(i));
        }
        encoder.finish();
        assert!(requests > 10, "{requests} requests");
        for (body, copy) in &held {
            assert_eq!(body, copy);
        }
        buffers.sort();
        buffers.dedup();
        // Every held request has its own buffer; the dropped ones share a few.
        assert!(buffers.len() <= held.len() + 2, "{} buffers", buffers.len());
    }

    /// An exporter's next collection reuses the buffers of its last one: the same request
    /// bodies and point buffers, and the same bytes in them.
    #[test]
    fn buffers_kept_across_collections_are_reused() {
        let buffers = OtlpBuffers::default();
        let collect = || {
            let (mut bodies, mut requests) = (Vec::new(), Vec::new());
            let mut encoder = OtlpEncoder::new(&[], 64 * MIN, 0, 0, |r| {
                bodies.push(r.body.as_ptr() as usize);
                requests.push(r.body.to_vec());
                ControlFlow::Continue(())
            })
            .with_buffers(&buffers);
            for metric in ["a", "b", "c"] {
                encoder.begin(&desc("s", metric, InstrumentKind::Gauge));
                for i in 0..3000 {
                    encoder.observe(value(i), &attributes(i));
                }
            }
            encoder.finish();
            bodies.sort();
            bodies.dedup();
            let points = locked(&buffers.0.points);
            let mut kept: Vec<usize> = points.iter().map(|b| b.as_ptr() as usize).collect();
            kept.sort();
            (requests, bodies, kept)
        };
        let (first, first_bodies, first_kept) = collect();
        let (second, second_bodies, second_kept) = collect();
        assert!(first.len() > 2, "{} requests", first.len());
        assert_eq!(first, second);
        assert!(!first_kept.is_empty(), "point buffers kept");
        assert_eq!(
            first_kept, second_kept,
            "the same point buffers, taken and given back"
        );
        assert!(
            second_bodies.iter().all(|b| first_bodies.contains(b)),
            "the second collection's bodies are the first's"
        );
    }

    #[test]
    fn oversized_point_is_dropped_and_counted() {
        let mut requests = 0;
        let mut encoder = OtlpEncoder::new(&[], MIN, 0, 0, |_| {
            requests += 1;
            ControlFlow::Continue(())
        });
        encoder.begin(&desc("s", "m", InstrumentKind::Gauge));
        encoder.observe(Number::F64(1.0), &[KeyValue::new("big", "x".repeat(MIN))]);
        encoder.observe(Number::F64(2.0), &[]);
        let summary = encoder.finish();
        assert_eq!(summary.points_dropped, 1);
        assert_eq!(summary.points, 1);
        assert_eq!(requests, 1);
    }

    #[test]
    fn break_stops_the_collection() {
        let mut requests = 0;
        let mut encoder = OtlpEncoder::new(&[], MIN, 0, 0, |_| {
            requests += 1;
            ControlFlow::Break(())
        });
        encoder.begin(&desc("s", "m", InstrumentKind::Gauge));
        for i in 0..1000 {
            encoder.observe(Number::I64(i), &attributes(i as usize));
        }
        encoder.finish();
        assert_eq!(requests, 1);
    }

    /// A semconv-style collection: per object, two instruments whose points lead with the
    /// object's attributes; then a KSM-style instrument without them.
    fn encode_objects(limit: usize) -> Vec<OtlpRequest> {
        let mut requests = Vec::new();
        let mut encoder =
            OtlpEncoder::new(&[KeyValue::new("service.name", "test")], limit, 1, 2, |r| {
                requests.push(r);
                ControlFlow::Continue(())
            });
        let mut semconv = desc(
            "pods",
            "k8s.pod.status.phase",
            InstrumentKind::UpDownCounter,
        );
        semconv.schema_url = Cow::Borrowed("https://opentelemetry.io/schemas/1.44.0");
        let restarts = InstrumentDesc {
            name: Cow::Borrowed("k8s.container.restart.count"),
            ..semconv.clone()
        };
        for i in 0..300 {
            let object = [
                KeyValue::new("k8s.namespace.name", "ns"),
                KeyValue::new("k8s.pod.name", format!("pod-{i}")),
                KeyValue::new("k8s.pod.uid", format!("uid-{i}")),
            ];
            encoder.begin(&semconv);
            for phase in ["Pending", "Running"] {
                let mut attributes = object.to_vec();
                attributes.push(KeyValue::new("k8s.pod.status.phase", phase));
                encoder.observe(Number::F64(f64::from(phase == "Running")), &attributes);
            }
            encoder.begin(&restarts);
            let mut attributes = object.to_vec();
            attributes.push(KeyValue::new("k8s.container.name", "c"));
            encoder.observe(Number::F64(i as f64), &attributes);
        }
        encoder.begin(&desc("nodes", "kube_node_info", InstrumentKind::Gauge));
        encoder.observe(Number::F64(1.0), &[KeyValue::new("node", "n")]);
        encoder.finish();
        requests
    }

    #[test]
    fn object_attributes_make_one_resource_per_object() {
        for limit in [2 * MIN, usize::MAX] {
            let requests = encode_objects(limit);
            let mut resources = Vec::new();
            for r in &requests {
                let decoded = decode(r);
                assert_eq!(decoded.encode_to_vec(), r.body);
                assert!(r.body.len() <= limit);
                resources.extend(decoded.resource_metrics);
            }
            let attributes = |rm: &ResourceMetrics| -> Vec<String> {
                let resource = rm.resource.as_ref().expect("a resource");
                resource
                    .attributes
                    .iter()
                    .map(|kv| kv.key.clone())
                    .collect()
            };
            // Objects split over two requests repeat their resource.
            let pods: std::collections::BTreeSet<String> = resources
                .iter()
                .filter(|rm| attributes(rm).len() == 4)
                .map(|rm| format!("{:?}", rm.resource))
                .collect();
            assert_eq!(pods.len(), 300);
            let first = &resources[0];
            assert_eq!(
                attributes(first),
                [
                    "service.name",
                    "k8s.namespace.name",
                    "k8s.pod.name",
                    "k8s.pod.uid"
                ]
            );
            let scope = &first.scope_metrics[0];
            assert_eq!(scope.schema_url, "https://opentelemetry.io/schemas/1.44.0");
            let names: Vec<&str> = scope.metrics.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(
                names,
                ["k8s.pod.status.phase", "k8s.container.restart.count"]
            );
            let Some(Data::Sum(phases)) = &scope.metrics[0].data else {
                panic!("a sum");
            };
            let keys: Vec<&str> = phases.data_points[0]
                .attributes
                .iter()
                .map(|kv| kv.key.as_str())
                .collect();
            assert_eq!(keys, ["k8s.pod.status.phase"]);
            // Points without object attributes are back on the process resource.
            let last = resources.last().expect("resources");
            assert_eq!(attributes(last), ["service.name"]);
            assert_eq!(last.scope_metrics[0].metrics[0].name, "kube_node_info");
            assert_eq!(last.scope_metrics[0].schema_url, "");
            if limit == usize::MAX {
                assert_eq!((requests.len(), resources.len()), (1, 301));
            } else {
                assert!(requests.len() > 1);
            }
        }
    }

    const IDENTITY: &[&str] = &["namespace", "pod", "uid"];

    /// A point with its resource's identity: (identity values, instrument, point attributes
    /// as `key=value`, value).
    type FlatPoint = (Vec<String>, String, Vec<String>, f64);

    /// A kube-state-metrics-style collection of two slices of pods, instrument by instrument
    /// within each slice (pod 1 has no `kube_pod_status_reason` point, pod 2 has many), then
    /// a node without identity on the resource. Returns the requests and the points as (identity,
    /// instrument, point attributes, value).
    fn encode_sets(limit: usize, on: bool, keyed: bool) -> (Vec<OtlpRequest>, Vec<FlatPoint>) {
        let mut requests = Vec::new();
        let mut encoder =
            OtlpEncoder::new(&[KeyValue::new("service.name", "test")], limit, 1, 2, |r| {
                requests.push(r);
                ControlFlow::Continue(())
            })
            .identity_on_resource(on);
        let pod = |i: usize| {
            vec![
                KeyValue::new("namespace", format!("ns-{}", i % 2)),
                KeyValue::new("pod", format!("pod-{i}")),
                KeyValue::new("uid", format!("{i:032x}")),
            ]
        };
        let mut want = Vec::new();
        for slice in [0..3, 3..6] {
            encoder.objects(IDENTITY);
            for (name, kind) in [
                ("kube_pod_info", InstrumentKind::Gauge),
                ("kube_pod_status_reason", InstrumentKind::Gauge),
                ("kube_pod_restarts_total", InstrumentKind::Counter),
            ] {
                encoder.begin(&desc("pods", name, kind));
                let mut objects: Vec<usize> = slice.clone().collect();
                if name == "kube_pod_status_reason" {
                    objects.retain(|&i| i != 1);
                }
                for i in objects {
                    // Pod 2's points take more than a whole request of the smallest size.
                    let reasons = if i == 2 { 60 } else { 2 };
                    for r in 0..reasons {
                        let reason = format!("reason-{r}");
                        let mut attributes = pod(i);
                        attributes.push(KeyValue::new("reason", reason.clone()));
                        let value = (i * 100 + r) as f64;
                        let key = if keyed { 0x1000 + i } else { 0 };
                        encoder.observe_object(Number::F64(value), &attributes, 7, key);
                        let identity = pod(i).iter().map(|kv| kv.value.to_string()).collect();
                        want.push((
                            identity,
                            name.to_string(),
                            vec![format!("reason={reason}")],
                            value,
                        ));
                    }
                }
            }
        }
        encoder.objects(&[]);
        encoder.begin(&desc("nodes", "kube_node_info", InstrumentKind::Gauge));
        encoder.observe_object(Number::F64(1.0), &[KeyValue::new("node", "n")], 0, 0x99);
        want.push((
            Vec::new(),
            "kube_node_info".to_string(),
            vec!["node=n".to_string()],
            1.0,
        ));
        let summary = encoder.finish();
        assert_eq!(summary.points, want.len() as u64);
        assert_eq!(summary.requests, requests.len() as u64);
        (requests, want)
    }

    /// Resource attributes beyond `service.name`, and each point's attributes and value.
    fn flattened(requests: &[OtlpRequest]) -> Vec<FlatPoint> {
        let text = |kv: &ProtoKeyValue| match kv.value.as_ref().and_then(|v| v.value.clone()) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        };
        let mut out = Vec::new();
        for r in requests {
            for rm in decode(r).resource_metrics {
                let resource = rm.resource.expect("a resource").attributes;
                assert_eq!(resource[0].key, "service.name");
                let identity: Vec<String> = resource[1..].iter().map(text).collect();
                let keys: Vec<&str> = resource[1..].iter().map(|kv| kv.key.as_str()).collect();
                assert!(keys.is_empty() || keys == IDENTITY, "{keys:?}");
                for sm in rm.scope_metrics {
                    for metric in sm.metrics {
                        let points = match metric.data {
                            Some(Data::Gauge(g)) => g.data_points,
                            Some(Data::Sum(s)) => s.data_points,
                            other => panic!("{other:?}"),
                        };
                        for p in points {
                            let attributes = p
                                .attributes
                                .iter()
                                .map(|kv| format!("{}={}", kv.key, text(kv)))
                                .collect();
                            let value = match p.value {
                                Some(number_data_point::Value::AsDouble(v)) => v,
                                other => panic!("{other:?}"),
                            };
                            out.push((identity.clone(), metric.name.clone(), attributes, value));
                        }
                    }
                }
            }
        }
        out
    }

    /// Identity on the resource: one resource per object holding its identity, its points of
    /// every instrument under it without the identity, nothing lost or repeated, requests
    /// within their limit; keyed by the collection or, without keys, by the identity itself.
    #[test]
    fn identity_on_the_resource_makes_one_resource_per_object() {
        for keyed in [true, false] {
            for limit in [MIN, 8 * MIN, usize::MAX] {
                let (requests, mut want) = encode_sets(limit, true, keyed);
                for r in &requests {
                    assert_eq!(decode(r).encode_to_vec(), r.body);
                    assert!(r.body.len() <= limit);
                }
                let mut got = flattened(&requests);
                if limit == usize::MAX {
                    assert_eq!(requests.len(), 1);
                    let resources = &decode(&requests[0]).resource_metrics;
                    // Six pods, then the node on the process resource.
                    assert_eq!(resources.len(), 7);
                    let pod1 = &resources[1].scope_metrics[0];
                    assert_eq!(pod1.scope.as_ref().map(|s| s.name.as_str()), Some("pods"));
                    let names: Vec<&str> = pod1.metrics.iter().map(|m| m.name.as_str()).collect();
                    assert_eq!(names, ["kube_pod_info", "kube_pod_restarts_total"]);
                    let Some(Data::Sum(restarts)) = &pod1.metrics[1].data else {
                        panic!("a sum");
                    };
                    assert!(restarts.is_monotonic);
                    assert_eq!(restarts.data_points[0].start_time_unix_nano, 2);
                } else {
                    assert!(requests.len() > 1);
                }
                got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
                want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
                assert_eq!(got, want, "limit {limit}, keyed {keyed}");
            }
        }
    }

    /// Without identity on the resource the declared sets change nothing: the identity stays
    /// on every point.
    #[test]
    fn declared_objects_without_identity_on_the_resource_stay_on_the_points() {
        // Encoded once per object (keyed) or per point, the same bytes.
        for limit in [MIN, 8 * MIN] {
            let bodies = |keyed| {
                let (requests, _) = encode_sets(limit, false, keyed);
                requests.iter().map(|r| r.body.to_vec()).collect::<Vec<_>>()
            };
            let (keyed, unkeyed) = (bodies(true), bodies(false));
            let lengths = |b: &[Vec<u8>]| b.iter().map(Vec::len).collect::<Vec<_>>();
            assert_eq!(lengths(&keyed), lengths(&unkeyed), "limit {limit}");
            assert!(keyed == unkeyed, "limit {limit}: the bytes differ");
        }
        let (requests, want) = encode_sets(usize::MAX, false, true);
        let resources = decode(&requests[0]).resource_metrics;
        assert_eq!(resources.len(), 1);
        let points: Vec<_> = flattened(&requests);
        assert_eq!(points.len(), want.len());
        assert!(points.iter().all(|(identity, ..)| identity.is_empty()));
        let first = &points[0].2;
        assert_eq!(
            first[..3],
            [
                "namespace=ns-0",
                "pod=pod-0",
                format!("uid={:032x}", 0).as_str()
            ]
        );
    }

    /// Every instrument finds the set's objects again, in either mode: each is kept once.
    #[test]
    fn each_object_of_a_set_is_kept_once() {
        for on in [false, true] {
            let mut encoder =
                OtlpEncoder::new(&[], usize::MAX, 1, 2, |_| ControlFlow::Continue(()))
                    .identity_on_resource(on);
            encoder.objects(IDENTITY);
            for name in ["a", "b", "c"] {
                encoder.begin(&desc("pods", name, InstrumentKind::Gauge));
                // Object 2 is missing from instrument b.
                for i in (0..5).filter(|&i| name != "b" || i != 2) {
                    let attributes = [
                        KeyValue::new("namespace", "ns"),
                        KeyValue::new("pod", format!("pod-{i}")),
                        KeyValue::new("uid", format!("{i}")),
                    ];
                    encoder.observe_object(Number::F64(1.0), &attributes, 0, 0x100 + i);
                }
            }
            assert_eq!(encoder.objects.len, 5, "identity on the resource: {on}");
            let keys: Vec<usize> = encoder
                .objects
                .order
                .iter()
                .map(|&index| encoder.objects.seen[index].key)
                .collect();
            assert_eq!(keys, [0x100, 0x101, 0x102, 0x103, 0x104]);
            assert_eq!(encoder.finish().points, 14);
        }
    }
}
