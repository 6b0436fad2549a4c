//! TLS for both transports: rustls with the ring provider (the crypto stack kube's client
//! already compiles in), roots from `OTEL_EXPORTER_OTLP_CERTIFICATE` or else the system's, and
//! a client certificate for mutual TLS.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::WantsVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};

use super::{OtlpConfig, OtlpError, PemFile, TlsFiles};
use crate::config::stamp::FileStamp;

/// The PEM files of [`TlsFiles`], read.
struct Loaded {
    roots: Option<RootCertStore>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn invalid(file: &PemFile, reason: impl std::fmt::Display) -> OtlpError {
    OtlpError::Setting {
        name: file.setting,
        reason: format!("{}: {reason}", file.path.display()),
    }
}

fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, OtlpError> {
    let certs = CertificateDer::pem_file_iter(&file.path)
        .map_err(|e| invalid(file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(file, e))?;
    if certs.is_empty() {
        return Err(invalid(file, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// Reads the files; every error names the setting (variable or flag) and the path.
fn load(tls: &TlsFiles) -> Result<Loaded, OtlpError> {
    let roots = match &tls.certificate {
        Some(file) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(file)? {
                roots.add(cert).map_err(|e| invalid(file, e))?;
            }
            Some(roots)
        }
        None => None,
    };
    let client = match (&tls.client_certificate, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(&key.path).map_err(|e| invalid(key, e))?;
            Some((chain, key))
        }
        (None, None) => None,
        (Some(file), None) | (None, Some(file)) => {
            return Err(invalid(
                file,
                "mutual TLS needs both a client certificate and a client key",
            ));
        }
    };
    Ok(Loaded { roots, client })
}

/// The TLS files of an `https` endpoint as last read, so that a rotated CA, certificate or key
/// (a Secret volume's `..data` swap, a renewal by cert-manager) is used without a restart.
pub(super) struct TlsWatch {
    /// What the transport is built from again.
    pub config: OtlpConfig,
    files: Vec<(PemFile, FileStamp)>,
}

impl TlsWatch {
    /// `None` when nothing is to be watched: not `https`, or no file configured.
    pub(super) fn new(config: &OtlpConfig) -> Option<Self> {
        let tls = &config.tls;
        let files: Vec<(PemFile, FileStamp)> =
            [&tls.certificate, &tls.client_certificate, &tls.client_key]
                .into_iter()
                .flatten()
                .map(|file| (file.clone(), FileStamp::of(&file.path)))
                .collect();
        let https = config.endpoint.starts_with("https:");
        (https && !files.is_empty()).then(|| TlsWatch {
            config: config.clone(),
            files,
        })
    }

    /// Whether a file changed since the last call (one `stat` per file).
    pub(super) fn changed(&mut self) -> bool {
        let mut changed = false;
        for (file, stamp) in &mut self.files {
            let now = FileStamp::of(&file.path);
            if now != *stamp {
                *stamp = now;
                changed = true;
            }
        }
        changed
    }
}

/// Checks the files at startup.
pub(super) fn check(tls: &TlsFiles) -> Result<(), OtlpError> {
    load(tls).map(drop)
}

fn system_roots() -> Result<RootCertStore, OtlpError> {
    let native = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        let errors: Vec<String> = native.errors.iter().map(|e| e.to_string()).collect();
        return Err(OtlpError::Setting {
            name: "OTEL_EXPORTER_OTLP_CERTIFICATE",
            reason: format!(
                "not set, and no system CA certificates could be loaded ({})",
                errors.join("; ")
            ),
        });
    }
    Ok(roots)
}

fn builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, OtlpError> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| OtlpError::Setting {
            name: "otlp tls",
            reason: e.to_string(),
        })
}

/// The rustls configuration for an `https` endpoint; `alpn` is `h2` for gRPC.
fn client_config(tls: &TlsFiles, alpn: &[&[u8]]) -> Result<ClientConfig, OtlpError> {
    let loaded = load(tls)?;
    let roots = match loaded.roots {
        Some(roots) => roots,
        None => system_roots()?,
    };
    let builder = builder()?.with_root_certificates(roots);
    let mut config = match (loaded.client, &tls.client_certificate) {
        (Some((chain, key)), Some(file)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| invalid(file, e))?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A connector for `http` and `https` URIs; TLS is set up (and the system roots read) only
/// for `https`.
pub(super) fn connector(
    tls: &TlsFiles,
    https: bool,
    alpn: &[&[u8]],
    connect_timeout: Duration,
) -> Result<HttpsConnector<HttpConnector>, OtlpError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let config = if https {
        client_config(tls, alpn)?
    } else {
        // Never used: plain http URIs bypass TLS.
        builder()?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
    };
    Ok(HttpsConnector::from((http, config)))
}
