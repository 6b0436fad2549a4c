//! OTLP/gRPC push of collections, split into requests of bounded size.
//!
//! A collection streams through [`OtlpEncoder`], which hands out an encoded
//! `ExportMetricsServiceRequest` whenever the next point would push it over
//! `max_request_bytes` (gRPC receivers reject messages over 4 MiB by default, and a large
//! cluster's collection is hundreds of MiB). [`OtlpExporter`] runs a collection every interval
//! on a blocking thread and sends its requests with retries; a bounded queue of pending
//! collections keeps memory flat when the collector is slow or down. See `design.md`.
//!
//! Requests go out with tonic's generic gRPC client on the `MetricsService/Export` method,
//! already encoded: the generated `MetricsServiceClient` would need the message as structs,
//! and a retry would need a deep copy of them.

mod config;
mod encoder;
mod exporter;

pub use config::{
    Compression, DEFAULT_ENDPOINT, DEFAULT_INTERVAL, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_SERVICE_NAME, DEFAULT_TIMEOUT, MIN_REQUEST_BYTES, OtlpConfig, OtlpOverrides,
};
pub use encoder::{EncodeSummary, OtlpEncoder, OtlpRequest};
pub use exporter::{
    ExportStats, MAX_PENDING_COLLECTIONS, OtlpExporter, OtlpTelemetry, export_once,
};

/// Why OTLP configuration or a one-shot export failed.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("invalid otlp endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("unknown otlp compression {0:?} (expected none, gzip or zstd)")]
    Compression(String),
    #[error("invalid otlp header {0:?}: {1}")]
    Header(String, String),
    #[error("invalid {name}: {reason}")]
    Setting { name: &'static str, reason: String },
    #[error("otlp export failed: {code:?}: {message}")]
    Export { code: tonic::Code, message: String },
    #[error("the otlp exporter must be started inside a tokio runtime")]
    NoRuntime,
    #[error("the collection thread panicked")]
    CollectionPanicked,
}

impl From<tonic::Status> for OtlpError {
    fn from(status: tonic::Status) -> Self {
        OtlpError::Export {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}
