//! OTLP push of collections over gRPC or HTTP/protobuf, split into requests of bounded size.
//!
//! A collection streams through [`OtlpEncoder`], which hands out an encoded
//! `ExportMetricsServiceRequest` whenever the next point would push it over
//! `max_request_bytes` (gRPC receivers reject messages over 4 MiB by default, and a large
//! cluster's collection is hundreds of MiB). [`OtlpExporter`] runs a collection every interval
//! on a blocking thread and sends its requests with retries; a bounded queue of pending
//! collections keeps memory flat when the collector is slow or down. See `design.md`.
//!
//! Requests go out already encoded: over gRPC with tonic's generic client on the
//! `MetricsService/Export` method (the generated `MetricsServiceClient` would need the message
//! as structs, and a retry would need a deep copy of them), or POSTed with hyper's client.

mod config;
mod encoder;
mod entity;
mod entity_push;
mod exporter;
#[doc(hidden)]
pub mod fuzzing;
mod logs;
mod push;
mod request;
mod tls;
mod transport;
mod wire;

pub use config::{
    Compression, DEFAULT_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_INTERVAL,
    DEFAULT_MAX_REQUEST_BYTES, DEFAULT_SERVICE_NAME, DEFAULT_TIMEOUT, MIN_REQUEST_BYTES,
    OtlpConfig, OtlpOverrides, PemFile, Protocol, Signal, Temporality, TlsFiles,
};
pub use encoder::OtlpEncoder;
pub use entity::{
    EVENT_AS_LOG, EntityEvent, EntityFormat, EntitySource, EventKind, RecordEncoder, UnknownFormat,
    scope_attributes,
};
pub use entity_push::{BATCH_DELAY, EntityConfig, EntityExporter, EntityPush};
pub use exporter::{
    ExportStats, MAX_PENDING_COLLECTIONS, OtlpExporter, OtlpTelemetry, export_once,
};
pub use logs::LogsEncoder;
pub use push::OtlpPush;
pub use request::{EncodeSummary, OtlpBuffers, OtlpRequest};

/// Why OTLP configuration or a one-shot export failed.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("invalid otlp endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("unknown otlp compression {0:?} (expected none, gzip or zstd)")]
    Compression(String),
    #[error("unknown otlp protocol {0:?} (expected grpc, http/protobuf or http/json)")]
    Protocol(String),
    #[error("invalid otlp header {0:?}: {1}")]
    Header(String, String),
    #[error("invalid {name}: {reason}")]
    Setting { name: &'static str, reason: String },
    /// `code` is the gRPC code (`OutOfRange`) or the HTTP status (`HTTP 413`).
    #[error("otlp export failed: {code}: {message}")]
    Export { code: String, message: String },
    #[error("the otlp exporter must be started inside a tokio runtime")]
    NoRuntime,
    #[error("the collection thread panicked")]
    CollectionPanicked,
}
