//! The servers' TLS from a web configuration's `tls_server_config`, on rustls with ring (the
//! stack the Kubernetes and OTLP clients already use), with Go's client-certificate modes.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Setting(String),
    #[error("{what} ({source_name}): {reason}")]
    Pem {
        what: &'static str,
        source_name: String,
        reason: String,
    },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// PEM text given inline, or a file (its path already joined with the configuration's
/// directory, as exporter-toolkit does).
#[derive(Debug, Clone)]
pub enum Pem {
    Inline(String),
    File(PathBuf),
}

impl Pem {
    fn read(&self, what: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
            Pem::File(path) => std::fs::read(path).map_err(|e| {
                TlsError::Setting(format!(
                    "failed to read {what}_file ({}): {e}",
                    path.display()
                ))
            }),
        }
    }

    fn name(&self, what: &str) -> String {
        match self {
            Pem::Inline(_) => format!("inline {what}"),
            Pem::File(path) => path.display().to_string(),
        }
    }
}

/// exporter-toolkit's `client_auth_type`, with Go's `tls.ClientAuthType` meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Ask for a certificate; accept any, or none.
    Request,
    /// Require a certificate; accept any.
    RequireAny,
    /// Verify a certificate if one is sent.
    VerifyIfGiven,
    /// Require a certificate that chains to the client CA.
    RequireAndVerify,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "TLS10" => Version::Tls10,
            "TLS11" => Version::Tls11,
            "TLS12" => Version::Tls12,
            "TLS13" => Version::Tls13,
            _ => return None,
        })
    }
}

/// A checked `tls_server_config`, before its files are read.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub client_allowed_sans: Option<Vec<String>>,
    pub cipher_suites: Vec<String>,
    pub curve_preferences: Vec<String>,
    pub min_version: Version,
    pub max_version: Version,
    pub prefer_server_cipher_suites: bool,
}

/// A TLS server configuration ready for connections, and the files it was read from.
pub struct TlsSettings {
    config: Arc<ServerConfig>,
    files: Vec<PathBuf>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Go's names of the cipher suites `tls.CipherSuites()` lists (the ones exporter-toolkit
/// accepts), with the rustls suite where rustls has it. Go applies the list to TLS 1.2 only.
const CIPHER_SUITES: &[(&str, Option<SupportedCipherSuite>)] = &[
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_AES_128_GCM_SHA256", None),
    ("TLS_AES_256_GCM_SHA384", None),
    ("TLS_CHACHA20_POLY1305_SHA256", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Some(ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Some(ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some(ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some(ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
];

/// Go's TLS 1.3 suites: always on, whatever `cipher_suites` says (as in Go).
const TLS13_SUITE_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// exporter-toolkit's curve names, with the rustls group where ring has it.
const CURVES: &[(&str, Option<&'static dyn SupportedKxGroup>)] = &[
    ("CurveP256", Some(ring::kx_group::SECP256R1)),
    ("CurveP384", Some(ring::kx_group::SECP384R1)),
    ("CurveP521", None),
    ("X25519", Some(ring::kx_group::X25519)),
];

impl TlsSettings {
    /// Reads the files and builds the server configuration; `http2` offers `h2` by ALPN.
    pub fn load(files: TlsFiles, http2: bool) -> Result<Self, TlsError> {
        let provider = Arc::new(provider(&files)?);
        let versions = versions(&files, &provider)?;
        let chain = certificates(&files.cert, "cert")?;
        let key_pem = files.key.read("key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            what: "key",
            source_name: files.key.name("key"),
            reason: e.to_string(),
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?;
        let verifier = client_verifier(&files, &provider)?;
        let mut config = match verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        }
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Setting(format!("failed to load X509KeyPair: {e}")))?;
        config.ignore_client_order = files.prefer_server_cipher_suites;
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let paths = [
            Some(&files.cert),
            Some(&files.key),
            files.client_ca.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|pem| match pem {
            Pem::File(path) => Some(path.clone()),
            Pem::Inline(_) => None,
        })
        .collect();
        Ok(TlsSettings {
            config: Arc::new(config),
            files: paths,
        })
    }

    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The files the settings were read from.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().cloned()
    }
}

fn certificates(pem: &Pem, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::Pem {
        what,
        source_name: pem.name(what),
        reason,
    };
    let text = pem.read(what)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// ring's provider narrowed to the configured suites and curves.
fn provider(files: &TlsFiles) -> Result<CryptoProvider, TlsError> {
    let mut provider = ring::default_provider();
    if !files.cipher_suites.is_empty() {
        let mut tls12 = Vec::new();
        for name in &files.cipher_suites {
            match CIPHER_SUITES.iter().find(|(n, _)| n == name) {
                None => return Err(TlsError::Setting(format!("unknown cipher: {name}"))),
                Some((_, Some(suite))) => tls12.push(*suite),
                Some((_, None)) if TLS13_SUITE_NAMES.contains(&name.as_str()) => {}
                Some((_, None)) => tracing::warn!(
                    "tls_server_config.cipher_suites: {name} is not offered (rustls has no CBC or RSA key exchange suites)"
                ),
            }
        }
        provider
            .cipher_suites
            .retain(|suite| matches!(suite, SupportedCipherSuite::Tls13(_)));
        provider.cipher_suites.extend(tls12);
    }
    if !files.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &files.curve_preferences {
            match CURVES.iter().find(|(n, _)| n == name) {
                None => return Err(TlsError::Setting(format!("unknown curve: {name}"))),
                Some((_, Some(group))) => groups.push(*group),
                Some((_, None)) => tracing::warn!(
                    "tls_server_config.curve_preferences: {name} is not offered (not in ring)"
                ),
            }
        }
        if groups.is_empty() {
            return Err(TlsError::Setting(
                "curve_preferences: none of the curves is supported (CurveP256, CurveP384, X25519 are)".into(),
            ));
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

/// The TLS versions within `min_version..=max_version` that rustls serves (1.2 and 1.3).
fn versions(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let (min, max) = (files.min_version, files.max_version);
    if min > max {
        return Err(TlsError::Setting("min_version is above max_version".into()));
    }
    if min < Version::Tls12 {
        tracing::warn!("tls_server_config.min_version: TLS 1.0 and 1.1 are not offered");
    }
    let has_tls12_suite = provider
        .cipher_suites
        .iter()
        .any(|suite| matches!(suite, SupportedCipherSuite::Tls12(_)));
    let mut versions = Vec::new();
    if max >= Version::Tls12 && min <= Version::Tls12 {
        if has_tls12_suite {
            versions.push(&rustls::version::TLS12);
        } else {
            tracing::warn!("TLS 1.2 is not offered: none of cipher_suites is supported");
        }
    }
    if max >= Version::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(TlsError::Setting(
            "no TLS version left to serve: this build serves TLS 1.2 (with an ECDHE AEAD cipher suite) and TLS 1.3".into(),
        ));
    }
    Ok(versions)
}

fn client_roots(files: &TlsFiles) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match &files.client_ca {
        Some(pem) => {
            for cert in certificates(pem, "client_ca")? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    what: "client_ca",
                    source_name: pem.name("client_ca"),
                    reason: e.to_string(),
                })?;
            }
        }
        // As Go: without a client CA, client certificates are verified against the system's.
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

fn client_verifier(
    files: &TlsFiles,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    let webpki = |optional: bool| -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let builder = WebPkiClientVerifier::builder_with_provider(
            Arc::new(client_roots(files)?),
            provider.clone(),
        );
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| TlsError::Setting(format!("client certificate verification: {e}")))
    };
    let any = |mandatory: bool| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            provider: provider.clone(),
        })
    };
    let verifier = match files.client_auth {
        ClientAuth::None => return Ok(None),
        ClientAuth::Request => any(false),
        ClientAuth::RequireAny => any(true),
        ClientAuth::VerifyIfGiven => webpki(true)?,
        ClientAuth::RequireAndVerify => webpki(false)?,
    };
    Ok(Some(match &files.client_allowed_sans {
        Some(allowed) => Arc::new(AllowedSans {
            inner: verifier,
            allowed: allowed.clone(),
        }),
        None => verifier,
    }))
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (or required)
/// and its signature over the handshake checked, but it need not chain to anything.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after the inner verifier, the client certificate must carry one of
/// the allowed Subject Alternative Names (DNS names, e-mail addresses, IPs, URIs; exact match,
/// as exporter-toolkit compares them).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// A certificate's SAN values as Go's `x509.Certificate` shows them.
pub fn subject_alt_names(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("error parsing client certificate: {e}"))?;
    let Some(sans) = cert
        .subject_alternative_name()
        .map_err(|e| format!("error parsing client certificate: {e}"))?
    else {
        return Ok(Vec::new());
    };
    Ok(sans
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_string())
            }
            GeneralName::IPAddress(bytes) => ip(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect())
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        // Go prints an IPv4-mapped IPv6 address as IPv4.
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_canonical()),
        _ => None,
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = subject_alt_names(end_entity).map_err(rustls::Error::General)?;
        if sans.iter().any(|san| self.allowed.contains(san)) {
            Ok(verified)
        } else {
            tracing::debug!(?sans, "client certificate refused: no allowed SAN");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
