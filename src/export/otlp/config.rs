//! Where and how to push: defaults, the standard `OTEL_*` environment variables of the OTLP
//! exporter specification, and explicit (command-line) values, which win over the environment.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use opentelemetry::KeyValue;
use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Uri;

use super::OtlpError;

pub const DEFAULT_ENDPOINT: &str = "http://localhost:4317";
/// The specification's default for http/protobuf, metrics path included.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/metrics";
/// The same without the signal's path, which each signal appends.
const DEFAULT_HTTP_BASE: &str = "http://localhost:4318";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The default receive limit of gRPC servers (the Collector, tonic, grpc-go).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The OTLP exporter specification's default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SERVICE_NAME: &str = "kube-state-otel";
/// Below this a request has no room for the resource, scope and metric headers plus a point.
pub const MIN_REQUEST_BYTES: usize = 1024;
/// How long one request is retried, like the OpenTelemetry Go exporter's default.
const DEFAULT_RETRY_MAX_ELAPSED: Duration = Duration::from_secs(60);

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const INSECURE: &str = "OTEL_EXPORTER_OTLP_INSECURE";
const CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
const CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
const CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
#[cfg(test)]
const METRICS_ENDPOINT: &str = METRICS.endpoint;
#[cfg(test)]
const METRICS_HEADERS: &str = METRICS.headers;
#[cfg(test)]
const METRICS_PROTOCOL: &str = METRICS.protocol;
#[cfg(test)]
const METRICS_CERTIFICATE: &str = METRICS.certificate;
#[cfg(test)]
const METRICS_CLIENT_KEY: &str = METRICS.client_key;
const TEMPORALITY: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
const EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
const EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const SERVICE_NAME_KEY: &str = "service.name";

/// The OTLP signal a push sends: its gRPC method, its OTLP/HTTP path and the
/// `OTEL_EXPORTER_OTLP_<SIGNAL>_*` variables that win over the generic ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signal {
    #[default]
    Metrics,
    /// Entity events, which OTLP carries as log records.
    Logs,
}

/// The signal-specific variables of the OTLP exporter specification.
struct SignalVars {
    endpoint: &'static str,
    compression: &'static str,
    headers: &'static str,
    timeout: &'static str,
    protocol: &'static str,
    insecure: &'static str,
    certificate: &'static str,
    client_certificate: &'static str,
    client_key: &'static str,
}

const METRICS: SignalVars = SignalVars {
    endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    compression: "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    insecure: "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
    certificate: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    client_certificate: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
    client_key: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
};

const LOGS: SignalVars = SignalVars {
    endpoint: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    compression: "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    headers: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    protocol: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    insecure: "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
    certificate: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    client_certificate: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
    client_key: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
};

impl Signal {
    fn vars(self) -> &'static SignalVars {
        match self {
            Signal::Metrics => &METRICS,
            Signal::Logs => &LOGS,
        }
    }

    /// The variable naming this signal's own endpoint (used as it is, not as a base URL).
    pub fn endpoint_var(self) -> &'static str {
        self.vars().endpoint
    }

    /// The path OTLP/HTTP appends to a base endpoint.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }

    /// The gRPC method of the signal's export service.
    pub(super) fn grpc_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }
}

/// Compression of request bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl FromStr for Compression {
    type Err = OtlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(OtlpError::Compression(s.to_string())),
        }
    }
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (the default here, as in most SDKs for compatibility).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies, POSTed to `.../v1/metrics`.
    HttpProtobuf,
    /// OTLP/HTTP with the specification's JSON encoding of the same messages: each request is
    /// encoded as protobuf, then decoded and written as JSON (slower, and about twice the
    /// bytes; `--otlp-max-request-bytes` bounds the protobuf size).
    HttpJson,
}

impl Protocol {
    /// Whether requests are POSTed over OTLP/HTTP.
    pub fn is_http(self) -> bool {
        self != Protocol::Grpc
    }
}

impl FromStr for Protocol {
    type Err = OtlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            _ => Err(OtlpError::Protocol(s.to_string())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        })
    }
}

/// The aggregation temporality the user asked for. Every instrument here is observable and
/// reports cumulative values; `lowmemory` keeps observable counters cumulative by definition,
/// and `delta` is not implemented (the exporter warns and stays cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Temporality {
    #[default]
    Cumulative,
    Delta,
    LowMemory,
}

impl FromStr for Temporality {
    type Err = OtlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Ok(Temporality::Cumulative),
            "delta" => Ok(Temporality::Delta),
            "lowmemory" => Ok(Temporality::LowMemory),
            _ => Err(OtlpError::Setting {
                name: TEMPORALITY,
                reason: format!("{s:?} is not cumulative, delta or lowmemory"),
            }),
        }
    }
}

/// A PEM file and the setting that named it, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemFile {
    pub path: PathBuf,
    pub setting: &'static str,
}

/// TLS settings beyond the endpoint's `https` scheme.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates the collector's certificate must chain to (instead of the system's).
    pub certificate: Option<PemFile>,
    /// Client certificate chain and key for mutual TLS; both or neither.
    pub client_certificate: Option<PemFile>,
    pub client_key: Option<PemFile>,
}

/// Everything the OTLP exporter needs.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// What is pushed: metrics, or entity events as logs.
    pub signal: Signal,
    pub protocol: Protocol,
    /// gRPC: `http(s)://host:port` of the receiver; http/protobuf: the URL requests are POSTed
    /// to (`.../v1/metrics`).
    pub endpoint: String,
    pub tls: TlsFiles,
    pub temporality: Temporality,
    pub interval: Duration,
    /// Largest encoded (uncompressed) request; collections are split to stay within it.
    pub max_request_bytes: usize,
    pub compression: Compression,
    /// Per attempt, and for connecting.
    pub timeout: Duration,
    /// The longest one collection's export may take (`OTEL_METRIC_EXPORT_TIMEOUT`); none by
    /// default.
    pub export_timeout: Option<Duration>,
    /// Each object's identity labels on a resource per object instead of on its points.
    pub identity_on_resource: bool,
    /// gRPC metadata or HTTP headers sent with every request (e.g. authentication).
    pub headers: Vec<(String, String)>,
    pub resource: Vec<KeyValue>,
    /// How long a request is retried before the rest of its collection is given up.
    pub retry_max_elapsed: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            signal: Signal::Metrics,
            protocol: Protocol::Grpc,
            endpoint: DEFAULT_ENDPOINT.to_string(),
            tls: TlsFiles::default(),
            temporality: Temporality::Cumulative,
            interval: DEFAULT_INTERVAL,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            compression: Compression::None,
            timeout: DEFAULT_TIMEOUT,
            export_timeout: None,
            identity_on_resource: false,
            headers: Vec::new(),
            resource: vec![KeyValue::new(SERVICE_NAME_KEY, DEFAULT_SERVICE_NAME)],
            retry_max_elapsed: DEFAULT_RETRY_MAX_ELAPSED,
        }
    }
}

/// Explicitly given values (the command line); each one set wins over the environment.
/// `headers` and `resource` are merged key by key over the environment's.
#[derive(Clone, Debug, Default)]
pub struct OtlpOverrides {
    pub protocol: Option<Protocol>,
    /// A base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT`: http/protobuf appends `v1/metrics`.
    pub endpoint: Option<String>,
    pub insecure: Option<bool>,
    pub certificate: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub interval: Option<Duration>,
    pub max_request_bytes: Option<usize>,
    pub compression: Option<Compression>,
    pub timeout: Option<Duration>,
    pub export_timeout: Option<Duration>,
    pub identity_on_resource: Option<bool>,
    pub headers: Vec<(String, String)>,
    pub resource: Vec<KeyValue>,
}

impl OtlpConfig {
    /// The configuration from the process environment, with `overrides` on top.
    pub fn from_env(overrides: OtlpOverrides) -> Result<Self, OtlpError> {
        Self::resolve(overrides, |name| std::env::var(name).ok())
    }

    /// The configuration from the environment `env` looks up, with `overrides` on top.
    pub fn resolve(
        overrides: OtlpOverrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, OtlpError> {
        Self::resolve_signal(Signal::Metrics, overrides, env)
    }

    /// The configuration of a push of `signal` from the environment `env` looks up, with
    /// `overrides` on top: the `OTEL_EXPORTER_OTLP_<SIGNAL>_*` variables win over the generic
    /// ones, and an OTLP/HTTP base endpoint gets the signal's path.
    pub fn resolve_signal(
        signal: Signal,
        overrides: OtlpOverrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, OtlpError> {
        let kind = signal;
        let vars = kind.vars();
        // An empty variable counts as unset, as the OpenTelemetry specification requires.
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        // The signal-specific variable wins over the generic one.
        let signal = |specific: &'static str, generic: &'static str| {
            env(specific)
                .map(|v| (specific, v))
                .or_else(|| env(generic).map(|v| (generic, v)))
        };
        let defaults = OtlpConfig::default();

        let protocol = match overrides.protocol {
            Some(protocol) => protocol,
            None => signal(vars.protocol, PROTOCOL)
                .map(|(_, v)| v.parse())
                .transpose()?
                .unwrap_or_default(),
        };
        let insecure = match overrides.insecure {
            Some(insecure) => insecure,
            None => signal(vars.insecure, INSECURE)
                .map(|(name, v)| parse_bool(name, &v))
                .transpose()?
                .unwrap_or(false),
        };
        // A signal-specific endpoint is the URL itself; a generic one is a base URL to which
        // http/protobuf appends the signal's path (the OTLP exporter specification's rule).
        let (endpoint, exact) = match overrides.endpoint {
            Some(endpoint) => (endpoint, false),
            None => match signal(vars.endpoint, ENDPOINT) {
                Some((name, v)) => (v, name == vars.endpoint),
                None if protocol.is_http() => (DEFAULT_HTTP_BASE.to_string(), false),
                None => (DEFAULT_ENDPOINT.to_string(), true),
            },
        };
        let endpoint = with_scheme(endpoint.trim(), insecure);
        let endpoint = if protocol.is_http() && !exact {
            signal_url(&endpoint, kind)
        } else {
            endpoint
        };
        let pem = |flag: &'static str,
                   explicit: Option<PathBuf>,
                   specific: &'static str,
                   generic: &'static str| {
            match explicit {
                Some(path) => Some(PemFile {
                    path,
                    setting: flag,
                }),
                None => signal(specific, generic).map(|(setting, v)| PemFile {
                    path: PathBuf::from(v.trim()),
                    setting,
                }),
            }
        };
        let tls = TlsFiles {
            certificate: pem(
                "--otlp-certificate",
                overrides.certificate,
                vars.certificate,
                CERTIFICATE,
            ),
            client_certificate: pem(
                "--otlp-client-certificate",
                overrides.client_certificate,
                vars.client_certificate,
                CLIENT_CERTIFICATE,
            ),
            client_key: pem(
                "--otlp-client-key",
                overrides.client_key,
                vars.client_key,
                CLIENT_KEY,
            ),
        };
        // Temporality and the export interval are the metric reader's: another signal has none.
        let metrics = kind == Signal::Metrics;
        let temporality = env(TEMPORALITY)
            .filter(|_| metrics)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or_default();
        let compression = match overrides.compression {
            Some(compression) => compression,
            None => signal(vars.compression, COMPRESSION)
                .map(|(_, v)| v.parse())
                .transpose()?
                .unwrap_or_default(),
        };
        let timeout = match overrides.timeout {
            Some(timeout) => timeout,
            None => signal(vars.timeout, TIMEOUT)
                .map(|(name, v)| parse_millis(name, &v))
                .transpose()?
                .unwrap_or(defaults.timeout),
        };
        // The metric reader's as well: the whole export, not one request.
        let export_timeout = match overrides.export_timeout {
            Some(timeout) => Some(timeout),
            None => env(EXPORT_TIMEOUT)
                .filter(|_| metrics)
                .map(|v| parse_millis(EXPORT_TIMEOUT, &v))
                .transpose()?,
        };
        let interval = match overrides.interval {
            Some(interval) => interval,
            None => env(EXPORT_INTERVAL)
                .filter(|_| metrics)
                .map(|v| parse_millis(EXPORT_INTERVAL, &v))
                .transpose()?
                .unwrap_or(defaults.interval),
        };

        let mut headers = Vec::new();
        for name in [HEADERS, vars.headers] {
            if let Some(raw) = env(name) {
                for header in parse_pairs(name, &raw)? {
                    upsert(&mut headers, header, |(k, _)| k.to_ascii_lowercase());
                }
            }
        }
        for header in overrides.headers {
            upsert(&mut headers, header, |(k, _)| k.to_ascii_lowercase());
        }

        // Precedence for service.name: explicit, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES.
        let mut resource = defaults.resource;
        if let Some(raw) = env(RESOURCE_ATTRIBUTES) {
            for (k, v) in parse_pairs(RESOURCE_ATTRIBUTES, &raw)? {
                upsert(&mut resource, KeyValue::new(k, v), |kv| kv.key.clone());
            }
        }
        if let Some(name) = env(SERVICE_NAME) {
            let kv = KeyValue::new(SERVICE_NAME_KEY, name.trim().to_string());
            upsert(&mut resource, kv, |kv| kv.key.clone());
        }
        for kv in overrides.resource {
            upsert(&mut resource, kv, |kv| kv.key.clone());
        }

        let config = OtlpConfig {
            signal: kind,
            protocol,
            endpoint,
            tls,
            temporality,
            interval,
            max_request_bytes: overrides
                .max_request_bytes
                .unwrap_or(defaults.max_request_bytes),
            compression,
            timeout,
            export_timeout,
            identity_on_resource: overrides.identity_on_resource.unwrap_or(false),
            headers,
            resource,
            retry_max_elapsed: defaults.retry_max_elapsed,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what the exporter would otherwise trip over later.
    pub fn validate(&self) -> Result<(), OtlpError> {
        let uri: Uri = self.endpoint.parse().map_err(|e| OtlpError::Endpoint {
            endpoint: self.endpoint.clone(),
            reason: format!("{e}"),
        })?;
        let reason = match (uri.scheme_str(), uri.authority()) {
            (Some("http" | "https"), Some(_)) => None,
            (_, None) => Some("no host"),
            _ => Some("the scheme must be http or https"),
        };
        if let Some(reason) = reason {
            return Err(OtlpError::Endpoint {
                endpoint: self.endpoint.clone(),
                reason: reason.to_string(),
            });
        }
        let positive = [
            ("otlp interval", self.interval),
            ("otlp timeout", self.timeout),
            (
                "otlp export timeout",
                self.export_timeout.unwrap_or(Duration::MAX),
            ),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(OtlpError::Setting {
                    name,
                    reason: "must be more than zero".to_string(),
                });
            }
        }
        if self.max_request_bytes < MIN_REQUEST_BYTES {
            return Err(OtlpError::Setting {
                name: "otlp max request bytes",
                reason: format!("must be at least {MIN_REQUEST_BYTES}"),
            });
        }
        self.metadata()?;
        // Reads the PEM files now, so a bad path is a startup error naming its setting.
        super::tls::check(&self.tls)
    }

    /// The headers as gRPC metadata.
    pub(super) fn metadata(&self) -> Result<MetadataMap, OtlpError> {
        let mut metadata = MetadataMap::new();
        for (key, value) in &self.headers {
            let invalid = |reason: String| OtlpError::Header(key.clone(), reason);
            let name = MetadataKey::<Ascii>::from_bytes(key.as_bytes())
                .map_err(|e| invalid(e.to_string()))?;
            let value =
                MetadataValue::try_from(value.as_str()).map_err(|e| invalid(e.to_string()))?;
            metadata.insert(name, value);
        }
        Ok(metadata)
    }
}

/// gRPC endpoints are often written `host:port`: TLS unless `insecure`, as the specification's
/// `OTEL_EXPORTER_OTLP_INSECURE` says.
fn with_scheme(endpoint: &str, insecure: bool) -> String {
    match (endpoint.contains("://"), insecure) {
        (true, _) => endpoint.to_string(),
        (false, true) => format!("http://{endpoint}"),
        (false, false) => format!("https://{endpoint}"),
    }
}

/// `base` with the signal's path appended: `http://c:4318` → `http://c:4318/v1/metrics`,
/// `http://vm:8428/opentelemetry/` → `http://vm:8428/opentelemetry/v1/metrics`.
fn signal_url(base: &str, signal: Signal) -> String {
    let separator = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{separator}{}", signal.http_path())
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, OtlpError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(OtlpError::Setting {
            name,
            reason: format!("{value:?} is not true or false"),
        }),
    }
}

fn parse_millis(name: &'static str, value: &str) -> Result<Duration, OtlpError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| OtlpError::Setting {
            name,
            reason: format!("{value:?} is not a number of milliseconds: {e}"),
        })
}

/// Replaces the item with the same key, or appends.
fn upsert<T, K: PartialEq>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    let k = key(&item);
    match list.iter_mut().find(|existing| key(existing) == k) {
        Some(existing) => *existing = item,
        None => list.push(item),
    }
}

/// `key1=value1,key2=value2` with percent-encoded keys and values (W3C Baggage style), the
/// format of `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`.
fn parse_pairs(name: &'static str, raw: &str) -> Result<Vec<(String, String)>, OtlpError> {
    raw.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (key, value) = item.split_once('=').ok_or_else(|| OtlpError::Setting {
                name,
                reason: format!("{:?} is not key=value", item.trim()),
            })?;
            let key = percent_decode(name, key.trim())?;
            if key.is_empty() {
                return Err(OtlpError::Setting {
                    name,
                    reason: format!("{:?} has an empty key", item.trim()),
                });
            }
            Ok((key, percent_decode(name, value.trim())?))
        })
        .collect()
}

fn percent_decode(name: &'static str, s: &str) -> Result<String, OtlpError> {
    let invalid = |reason: &str| OtlpError::Setting {
        name,
        reason: format!("{s:?}: {reason}"),
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("not utf-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(overrides: OtlpOverrides, vars: &[(&str, &str)]) -> Result<OtlpConfig, OtlpError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpConfig::resolve(overrides, |name| vars.get(name).cloned())
    }

    fn attribute(config: &OtlpConfig, key: &str) -> Option<String> {
        config
            .resource
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn defaults_without_environment() {
        let config = resolve(OtlpOverrides::default(), &[]).unwrap();
        assert_eq!(config.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(config.interval, DEFAULT_INTERVAL);
        assert_eq!(config.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
        assert_eq!(config.compression, Compression::None);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.export_timeout, None);
        assert!(!config.identity_on_resource);
        assert!(config.headers.is_empty());
        assert_eq!(
            attribute(&config, "service.name").as_deref(),
            Some(DEFAULT_SERVICE_NAME)
        );
    }

    #[test]
    fn environment_is_read_and_metrics_specific_wins() {
        let config = resolve(
            OtlpOverrides::default(),
            &[
                (ENDPOINT, "http://generic:4317"),
                (METRICS_ENDPOINT, "collector:4317"),
                (COMPRESSION, "GZIP"),
                (TIMEOUT, "2500"),
                (EXPORT_INTERVAL, "15000"),
                (EXPORT_TIMEOUT, "20000"),
                (HEADERS, "Authorization=Bearer%20abc, x-tenant = a"),
                (METRICS_HEADERS, "x-tenant=b"),
                (
                    RESOURCE_ATTRIBUTES,
                    "k8s.cluster.name=prod,service.name=ignored",
                ),
                (SERVICE_NAME, "ksm"),
            ],
        )
        .unwrap();
        // No scheme: TLS, as OTEL_EXPORTER_OTLP_INSECURE is false by default.
        assert_eq!(config.endpoint, "https://collector:4317");
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert_eq!(config.interval, Duration::from_secs(15));
        assert_eq!(config.export_timeout, Some(Duration::from_secs(20)));
        assert_eq!(
            config.headers,
            vec![
                ("Authorization".to_string(), "Bearer abc".to_string()),
                ("x-tenant".to_string(), "b".to_string()),
            ]
        );
        assert_eq!(
            attribute(&config, "k8s.cluster.name").as_deref(),
            Some("prod")
        );
        assert_eq!(attribute(&config, "service.name").as_deref(), Some("ksm"));
        let metadata = config.metadata().unwrap();
        assert_eq!(
            metadata.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer abc")
        );
    }

    #[test]
    fn explicit_values_win_over_environment() {
        let overrides = OtlpOverrides {
            endpoint: Some("http://cli:4317".to_string()),
            protocol: Some(Protocol::Grpc),
            interval: Some(Duration::from_secs(5)),
            max_request_bytes: Some(256 * 1024),
            compression: Some(Compression::Zstd),
            timeout: Some(Duration::from_secs(1)),
            export_timeout: Some(Duration::from_secs(3)),
            identity_on_resource: Some(true),
            headers: vec![("X-Tenant".to_string(), "cli".to_string())],
            resource: vec![KeyValue::new("service.name", "cli")],
            ..Default::default()
        };
        let config = resolve(
            overrides,
            &[
                (ENDPOINT, "http://env:4317"),
                (COMPRESSION, "gzip"),
                (TIMEOUT, "9000"),
                (EXPORT_INTERVAL, "9000"),
                (EXPORT_TIMEOUT, "9000"),
                (HEADERS, "x-tenant=env"),
                (SERVICE_NAME, "env"),
                (PROTOCOL, "http/protobuf"),
            ],
        )
        .unwrap();
        assert_eq!(config.endpoint, "http://cli:4317");
        assert_eq!(config.interval, Duration::from_secs(5));
        assert_eq!(config.max_request_bytes, 256 * 1024);
        assert_eq!(config.compression, Compression::Zstd);
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!(config.export_timeout, Some(Duration::from_secs(3)));
        assert!(config.identity_on_resource);
        assert_eq!(
            config.headers,
            vec![("X-Tenant".to_string(), "cli".to_string())]
        );
        assert_eq!(attribute(&config, "service.name").as_deref(), Some("cli"));
    }

    #[test]
    fn http_endpoints_follow_the_specification() {
        let http = |vars: &[(&str, &str)]| {
            let mut vars = vars.to_vec();
            vars.push((PROTOCOL, "http/protobuf"));
            resolve(OtlpOverrides::default(), &vars).unwrap()
        };
        assert_eq!(http(&[]).endpoint, DEFAULT_HTTP_ENDPOINT);
        assert_eq!(http(&[]).protocol, Protocol::HttpProtobuf);
        // The generic variable is a base URL; the signal-specific one is used as is.
        assert_eq!(
            http(&[(ENDPOINT, "http://c:4318")]).endpoint,
            "http://c:4318/v1/metrics"
        );
        assert_eq!(
            http(&[(ENDPOINT, "http://vm:8428/opentelemetry/")]).endpoint,
            "http://vm:8428/opentelemetry/v1/metrics"
        );
        assert_eq!(
            http(&[
                (ENDPOINT, "http://c:4318"),
                (METRICS_ENDPOINT, "https://m/x")
            ])
            .endpoint,
            "https://m/x"
        );
        assert_eq!(
            http(&[(ENDPOINT, "c:4318"), (INSECURE, "true")]).endpoint,
            "http://c:4318/v1/metrics"
        );
        // The flag is a base URL too, and the metrics-specific protocol wins.
        let overrides = OtlpOverrides {
            endpoint: Some("http://vm:8428/opentelemetry".to_string()),
            ..Default::default()
        };
        let config = resolve(
            overrides,
            &[(PROTOCOL, "grpc"), (METRICS_PROTOCOL, "http/protobuf")],
        )
        .unwrap();
        assert_eq!(config.endpoint, "http://vm:8428/opentelemetry/v1/metrics");
        let grpc = resolve(OtlpOverrides::default(), &[(ENDPOINT, "http://c:4317")]).unwrap();
        assert_eq!(grpc.endpoint, "http://c:4317");
        assert_eq!(grpc.protocol, Protocol::Grpc);
    }

    #[test]
    fn logs_read_their_own_variables_and_path() {
        let logs = |vars: &[(&str, &str)], overrides: OtlpOverrides| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            OtlpConfig::resolve_signal(Signal::Logs, overrides, |name| vars.get(name).cloned())
                .unwrap()
        };
        let http = (PROTOCOL, "http/protobuf");
        assert_eq!(
            logs(&[http], OtlpOverrides::default()).endpoint,
            "http://localhost:4318/v1/logs"
        );
        let base = (ENDPOINT, "http://c:4318");
        assert_eq!(
            logs(&[http, base], OtlpOverrides::default()).endpoint,
            "http://c:4318/v1/logs"
        );
        // The logs variables win over the generic ones, the metrics ones are not read.
        let config = logs(
            &[
                http,
                base,
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:4318/custom"),
                ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd"),
                ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-tenant=logs"),
                (EXPORT_INTERVAL, "1000"),
            ],
            OtlpOverrides::default(),
        );
        assert_eq!(config.endpoint, "http://l:4318/custom");
        assert_eq!(config.compression, Compression::None);
        assert_eq!(
            config.headers,
            [("x-tenant".to_string(), "logs".to_string())]
        );
        assert_eq!(config.interval, DEFAULT_INTERVAL);
        assert_eq!(config.signal, Signal::Logs);
        // The flag is a base URL for every signal.
        let flag = OtlpOverrides {
            endpoint: Some("http://vm:8428/opentelemetry".to_string()),
            ..Default::default()
        };
        assert_eq!(
            logs(&[http], flag).endpoint,
            "http://vm:8428/opentelemetry/v1/logs"
        );
        assert_eq!(
            Signal::Logs.grpc_path(),
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        );
    }

    #[test]
    fn tls_files_and_temporality_are_read() {
        let config = resolve(
            OtlpOverrides::default(),
            &[
                (CERTIFICATE, "/generic/ca.pem"),
                (METRICS_CERTIFICATE, "Cargo.toml"),
                (TEMPORALITY, "LowMemory"),
            ],
        );
        // Cargo.toml holds no PEM certificate: the error names the metrics variable.
        let err = config.unwrap_err().to_string();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: Cargo.toml"),
            "{err}"
        );
        let config = resolve(OtlpOverrides::default(), &[(TEMPORALITY, "delta")]).unwrap();
        assert_eq!(config.temporality, Temporality::Delta);
        assert_eq!(config.tls, TlsFiles::default());
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        let cases: &[(&str, &str, &str)] = &[
            (COMPRESSION, "brotli", "unknown otlp compression"),
            (TIMEOUT, "10s", "invalid OTEL_EXPORTER_OTLP_TIMEOUT"),
            (HEADERS, "novalue", "is not key=value"),
            (HEADERS, "bad key=v", "invalid otlp header"),
            (RESOURCE_ATTRIBUTES, "a=%zz", "bad percent-encoding"),
            (RESOURCE_ATTRIBUTES, "a=%ff", "not utf-8"),
            (
                ENDPOINT,
                "ftp://collector",
                "the scheme must be http or https",
            ),
            (PROTOCOL, "http/xml", "unknown otlp protocol"),
            (EXPORT_TIMEOUT, "30s", "invalid OTEL_METRIC_EXPORT_TIMEOUT"),
            (EXPORT_TIMEOUT, "0", "must be more than zero"),
            (INSECURE, "yes", "invalid OTEL_EXPORTER_OTLP_INSECURE"),
            (
                TEMPORALITY,
                "sometimes",
                "invalid OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY",
            ),
            (
                CERTIFICATE,
                "/nonexistent/ca.pem",
                "invalid OTEL_EXPORTER_OTLP_CERTIFICATE: /nonexistent/ca.pem",
            ),
            (
                METRICS_CLIENT_KEY,
                "/nonexistent/key.pem",
                "invalid OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
            ),
            (EXPORT_INTERVAL, "0", "must be more than zero"),
        ];
        for (name, value, expected) in cases {
            let err = resolve(OtlpOverrides::default(), &[(name, value)])
                .expect_err(&format!("{name}={value} should be rejected"));
            assert!(
                err.to_string().contains(expected),
                "{name}={value}: {err} does not contain {expected:?}"
            );
        }
        let half = OtlpOverrides {
            client_certificate: Some(PathBuf::from("Cargo.toml")),
            ..Default::default()
        };
        let err = resolve(half, &[]).unwrap_err().to_string();
        assert!(err.contains("--otlp-client-certificate"), "{err}");
        let tiny = OtlpOverrides {
            max_request_bytes: Some(100),
            ..Default::default()
        };
        assert!(resolve(tiny, &[]).is_err());
    }
}
