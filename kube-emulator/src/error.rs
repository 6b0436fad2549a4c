//! The library's error type.

use std::path::PathBuf;

/// Errors from loading objects, applying them and serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object's `apiVersion`/`kind` is not in the resource table.
    #[error("no resource for apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// An object's `apiVersion`/`kind` is known but not served by the emulated version.
    #[error(
        "no matches for kind {kind:?} in version {api_version:?}: Kubernetes {kubernetes_version} does not serve it"
    )]
    NotServed {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// The emulated version (`v1.33.0`).
        kubernetes_version: String,
    },
    /// No CustomResourceDefinition serves the object's `apiVersion`/`kind`: none defines the
    /// kind, or its version is not served (HTTP 404, kubectl's "no matches for kind").
    #[error("no matches for kind {kind:?} in version {api_version:?}: {reason}")]
    NoMatch {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// Why: no CRD defines it, or which CRD does not serve the version.
        reason: String,
    },
    /// The Kubernetes version or runtime-config is not one the emulator can serve.
    #[error(transparent)]
    Surface(#[from] crate::surface::SurfaceError),
    /// An object is malformed (missing name, metadata not an object, ...).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// A request parameter or body is malformed (maps to HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The object to create exists already (HTTP 409).
    #[error("{0}")]
    AlreadyExists(String),
    /// An update named a `resourceVersion` that is no longer the object's (HTTP 409): someone
    /// else wrote it first.
    #[error("{0}")]
    Conflict(String),
    /// The object to replace or delete does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// JSON could not be parsed or produced.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML could not be parsed.
    #[error("yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The listener could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
