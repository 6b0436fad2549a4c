//! `--tls-config`: the Prometheus exporter-toolkit web configuration (kube-state-metrics'
//! flag and format), for both ports: TLS with optional client certificates, response
//! headers, a request rate limit, and basic auth users with bcrypt hashes.
//!
//! Validation follows exporter-toolkit's (`promtool check web-config`): unknown keys, unknown
//! cipher suites, curves and TLS versions, reserved headers, malformed hashes and unreadable or
//! mismatched certificates are errors. Where rustls cannot do what Go's TLS does (TLS 1.0/1.1,
//! CBC and RSA-key-exchange suites, P-521), the setting is narrowed with a warning, or refused
//! when nothing would be left.
//!
//! The file and the files it names are re-read when they change (checked at each new
//! connection and request, as exporter-toolkit re-reads them): cert-manager's rotations and a
//! ConfigMap's symlink swap apply without a restart. Unlike exporter-toolkit, which then
//! fails every handshake, an invalid new version keeps the settings in force, is logged once
//! and counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::tls::{self, ClientAuth, TlsError, TlsSettings};
use crate::config::go_duration;
use crate::config::stamp::FileStamp;

/// Why a web configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Tls { path: PathBuf, source: TlsError },
}

/// The file's YAML, as exporter-toolkit's `Config` (strict: unknown keys are errors).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    rate_limit: Option<RawRateLimit>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    burst: Option<u32>,
    interval: Option<String>,
}

/// The headers exporter-toolkit lets a configuration set, with their allowed values (none:
/// any value). Kept to its list so configurations stay portable across the ecosystem.
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A request rate limit: a token bucket of `burst` requests refilled one per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub interval: Duration,
}

/// One valid version of the web configuration.
#[derive(Debug)]
pub struct WebSettings {
    /// None: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Offer HTTP/2 (ALPN `h2`) on TLS connections.
    pub http2: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash; empty: no basic auth.
    pub users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
}

impl WebSettings {
    /// Reads and checks `path` and every file it names.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.into(),
            source,
        })?;
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|source| WebConfigError::Parse {
                path: path.into(),
                source,
            })?
        };
        let invalid = |reason: String| WebConfigError::Invalid {
            path: path.into(),
            reason,
        };
        let http = raw.http_server_config.unwrap_or_default();
        let headers = headers(http.headers.unwrap_or_default()).map_err(invalid)?;
        let users = raw.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            check_hash(hash)
                .map_err(|reason| invalid(format!("basic_auth_users.{user}: {reason}")))?;
        }
        let rate_limit = match raw.rate_limit {
            Some(RawRateLimit {
                interval: Some(interval),
                burst,
            }) => {
                let interval = go_duration::parse(&interval).ok_or_else(|| {
                    invalid(format!(
                        "rate_limit.interval: invalid duration {interval:?}"
                    ))
                })?;
                (!interval.is_zero()).then_some(RateLimit {
                    burst: burst.unwrap_or(0),
                    interval,
                })
            }
            _ => None,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let http2 = http.http2.unwrap_or(true);
        let tls = tls_settings(raw.tls_server_config.unwrap_or_default(), dir)
            .and_then(|tls| tls.map(|files| TlsSettings::load(files, http2)).transpose())
            .map_err(|source| WebConfigError::Tls {
                path: path.into(),
                source,
            })?;
        Ok(WebSettings {
            tls,
            http2,
            headers,
            users,
            rate_limit,
        })
    }
}

fn headers(raw: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    raw.into_iter()
        .map(|(name, value)| {
            let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| *n == name) else {
                return Err(format!("HTTP header {name:?} can not be configured"));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!(
                    "invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}"
                ));
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("invalid value for {name}: {value:?}"))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            Ok((name, value))
        })
        .collect()
}

/// As Go's `bcrypt.Cost`: `$2a$`/`$2b$`/`$2x$`/`$2y$`, a two-digit cost in 4..=31 and 53
/// characters of salt and hash.
fn check_hash(hash: &str) -> Result<(), String> {
    let parts: Vec<&str> = hash.split('$').collect();
    let [empty, version, cost, rest] = parts[..] else {
        return Err("not a bcrypt hash".into());
    };
    if !empty.is_empty() || !matches!(version, "2a" | "2b" | "2x" | "2y") {
        return Err("not a bcrypt hash (unknown version)".into());
    }
    match cost.parse::<u32>() {
        Ok(cost) if cost.to_string().len() <= 2 && (4..=31).contains(&cost) => {}
        _ => return Err(format!("bcrypt cost {cost:?} out of range 4..31")),
    }
    if rest.len() != 53 {
        return Err("bcrypt hash has the wrong length".into());
    }
    Ok(())
}

/// The `tls_server_config` section, checked; None when it sets nothing (plain HTTP).
fn tls_settings(raw: RawTls, dir: &Path) -> Result<Option<tls::TlsFiles>, TlsError> {
    // exporter-toolkit tests the strings for emptiness: an empty value is unset.
    let set = |v: Option<String>| v.filter(|v| !v.is_empty());
    let (cert, cert_file) = (set(raw.cert), set(raw.cert_file));
    let (key, key_file) = (set(raw.key), set(raw.key_file));
    let (client_ca, client_ca_file) = (set(raw.client_ca), set(raw.client_ca_file));
    let client_auth_type = set(raw.client_auth_type);
    let enabled = [
        &cert,
        &cert_file,
        &key,
        &key_file,
        &client_ca,
        &client_ca_file,
    ]
    .iter()
    .any(|v| v.is_some())
        || client_auth_type.is_some();
    if !enabled {
        return Ok(None);
    }
    let source = |text: Option<String>, file: Option<String>, what: &str| match (text, file) {
        (Some(_), Some(_)) => Err(TlsError::Setting(format!(
            "cannot specify both {what}_file and {what}"
        ))),
        (Some(text), None) => Ok(Some(tls::Pem::Inline(text))),
        (None, Some(file)) => Ok(Some(tls::Pem::File(dir.join(file)))),
        (None, None) => Ok(None),
    };
    let cert = source(cert, cert_file, "cert")?
        .ok_or_else(|| TlsError::Setting("missing one of cert or cert_file".into()))?;
    let key = source(key, key_file, "key")?
        .ok_or_else(|| TlsError::Setting("missing one of key or key_file".into()))?;
    let client_ca = source(client_ca, client_ca_file, "client_ca")?;
    let client_auth = match client_auth_type.as_deref() {
        None | Some("NoClientCert") => ClientAuth::None,
        Some("RequestClientCert") => ClientAuth::Request,
        Some("RequireAnyClientCert" | "RequireClientCert") => ClientAuth::RequireAny,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
        Some(other) => {
            return Err(TlsError::Setting(format!("invalid ClientAuth: {other}")));
        }
    };
    if client_ca.is_some() && client_auth == ClientAuth::None {
        return Err(TlsError::Setting(
            "client CA's have been configured without a Client Auth Policy".into(),
        ));
    }
    if raw.client_allowed_sans.is_some()
        && !matches!(
            client_auth,
            ClientAuth::RequireAny | ClientAuth::RequireAndVerify
        )
    {
        return Err(TlsError::Setting(
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert".into(),
        ));
    }
    let version = |v: Option<String>, default: tls::Version| {
        v.map_or(Ok(default), |v| {
            tls::Version::parse(&v)
                .ok_or_else(|| TlsError::Setting(format!("unknown TLS version: {v}")))
        })
    };
    Ok(Some(tls::TlsFiles {
        cert,
        key,
        client_ca,
        client_auth,
        client_allowed_sans: raw.client_allowed_sans,
        cipher_suites: raw.cipher_suites.unwrap_or_default(),
        curve_preferences: raw.curve_preferences.unwrap_or_default(),
        min_version: version(raw.min_version, tls::Version::Tls12)?,
        max_version: version(raw.max_version, tls::Version::Tls13)?,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

struct Loaded {
    settings: Arc<WebSettings>,
    /// The files this version was read from (the configuration first), and their stamps.
    files: Vec<(PathBuf, FileStamp)>,
    /// The stamps of a version that failed to load: not retried (nor logged) until one changes.
    rejected: Option<Vec<FileStamp>>,
}

/// `--tls-config`: the settings in force, re-read when a file they came from changes.
pub struct WebConfig {
    path: PathBuf,
    /// `--auth-filter` reads the Authorization header too: basic auth users are refused.
    auth_filter: bool,
    loaded: Mutex<Loaded>,
    reloads: [AtomicU64; 2],
    last_reload_ok: AtomicU64,
}

impl WebConfig {
    /// Reads the configuration; an invalid one is an error (the process does not start).
    pub fn open(path: &Path, auth_filter: bool) -> Result<Arc<Self>, WebConfigError> {
        let settings = checked(path, auth_filter)?;
        let files = watched(path, &settings);
        Ok(Arc::new(WebConfig {
            path: path.into(),
            auth_filter,
            loaded: Mutex::new(Loaded {
                settings: Arc::new(settings),
                files,
                rejected: None,
            }),
            reloads: Default::default(),
            last_reload_ok: AtomicU64::new(1),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings in force, after reloading them if a file changed since they were read.
    pub fn current(&self) -> Arc<WebSettings> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let stamps: Vec<FileStamp> = loaded
            .files
            .iter()
            .map(|(path, _)| FileStamp::of(path))
            .collect();
        let unchanged = loaded
            .files
            .iter()
            .zip(&stamps)
            .all(|((_, old), new)| old == new);
        if unchanged || loaded.rejected.as_ref() == Some(&stamps) {
            return loaded.settings.clone();
        }
        match checked(&self.path, self.auth_filter) {
            Ok(settings) => {
                tracing::info!(path = %self.path.display(), "web configuration reloaded");
                loaded.files = watched(&self.path, &settings);
                loaded.settings = Arc::new(settings);
                loaded.rejected = None;
                self.reloads[0].fetch_add(1, Ordering::Relaxed);
                self.last_reload_ok.store(1, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(
                    "web configuration not reloaded, the previous one stays in force: {error}"
                );
                loaded.rejected = Some(stamps);
                self.reloads[1].fetch_add(1, Ordering::Relaxed);
                self.last_reload_ok.store(0, Ordering::Relaxed);
            }
        }
        loaded.settings.clone()
    }

    /// Reloads that were applied, and that were refused.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads[0].load(Ordering::Relaxed),
            self.reloads[1].load(Ordering::Relaxed),
        )
    }

    /// Whether the last reload (or the first read) succeeded.
    pub fn last_reload_successful(&self) -> bool {
        self.last_reload_ok.load(Ordering::Relaxed) == 1
    }
}

fn checked(path: &Path, auth_filter: bool) -> Result<WebSettings, WebConfigError> {
    let settings = WebSettings::load(path)?;
    if auth_filter && !settings.users.is_empty() {
        return Err(WebConfigError::Invalid {
            path: path.into(),
            reason: "basic_auth_users cannot be combined with --auth-filter (both read the Authorization header)".into(),
        });
    }
    Ok(settings)
}

/// The configuration file and the files its settings were read from.
fn watched(path: &Path, settings: &WebSettings) -> Vec<(PathBuf, FileStamp)> {
    std::iter::once(path.to_path_buf())
        .chain(settings.tls.iter().flat_map(TlsSettings::files))
        .map(|path| {
            let stamp = FileStamp::of(&path);
            (path, stamp)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<WebSettings, WebConfigError> {
        let dir = tempfile::tempdir().map_err(|source| WebConfigError::Read {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).map_err(|source| WebConfigError::Read {
            path: path.clone(),
            source,
        })?;
        WebSettings::load(&path)
    }

    fn error(yaml: &str) -> String {
        match load(yaml) {
            Ok(_) => panic!("accepted: {yaml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_empty_file_is_plain_http_without_auth() {
        let settings = load("").expect("valid");
        assert!(settings.tls.is_none());
        assert!(settings.users.is_empty());
        assert!(settings.http2);
        assert!(settings.rate_limit.is_none());
    }

    #[test]
    fn strict_as_exporter_toolkit() {
        assert!(error("tls_server_config:\n  certfile: a\n").contains("unknown field"));
        assert!(error("bogus: 1\n").contains("unknown field"));
        assert!(error("tls_server_config:\n  cert_file: a\n").contains("missing one of key"));
        assert!(error("tls_server_config:\n  key_file: a\n").contains("missing one of cert"));
        assert!(
            error("tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n")
                .contains("cannot specify both cert_file and cert")
        );
        assert!(
            error("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Bogus\n")
                .contains("invalid ClientAuth: Bogus")
        );
        assert!(
            error("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n")
                .contains("without a Client Auth Policy")
        );
        assert!(
            error("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [x]\n")
                .contains("client_allowed_sans requires")
        );
        assert!(
            error("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n")
                .contains("unknown TLS version: TLS14")
        );
        assert!(error("tls_server_config:\n  cert_file: a\n  key_file: b\n").contains("cert_file"));
    }

    #[test]
    fn headers_as_exporter_toolkit() {
        let ok = load(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
        )
        .expect("valid");
        assert_eq!(ok.headers.len(), 2);
        assert!(
            error("http_server_config:\n  headers:\n    Authorization: x\n")
                .contains("can not be configured")
        );
        assert!(
            error("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n")
                .contains("Expected one of")
        );
    }

    #[test]
    fn users_need_bcrypt_hashes() {
        let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
        let ok = load(&format!("basic_auth_users:\n  alice: {hash}\n")).expect("valid");
        assert_eq!(ok.users.get("alice").map(String::as_str), Some(hash));
        assert!(error("basic_auth_users:\n  alice: secret\n").contains("basic_auth_users.alice"));
        assert!(
            error("basic_auth_users:\n  alice: $2y$99$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n")
                .contains("cost")
        );
    }

    #[test]
    fn rate_limit_takes_go_durations() {
        let ok = load("rate_limit:\n  burst: 5\n  interval: 1.5s\n").expect("valid");
        assert_eq!(
            ok.rate_limit,
            Some(RateLimit {
                burst: 5,
                interval: Duration::from_millis(1500)
            })
        );
        assert!(
            load("rate_limit:\n  burst: 5\n")
                .expect("valid")
                .rate_limit
                .is_none()
        );
        assert!(error("rate_limit:\n  interval: 5 apples\n").contains("rate_limit.interval"));
    }
}
