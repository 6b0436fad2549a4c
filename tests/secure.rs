//! Locked-down endpoints, end to end with real clients: a real Prometheus scrapes both ports
//! over HTTPS with a client certificate and basic auth (`--tls-config`, exporter-toolkit's web
//! configuration), certificates rotate under it, and `--auth-filter` checks bearer tokens
//! with the emulator's TokenReview and SubjectAccessReview.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_emulator::GeneratedCluster;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

mod harness;
use harness::prometheus::Prometheus;
use harness::{Exporter, newest_emulator, start_emulator, value, wait_for_within, which};

mod pki;
use pki::{Issued, TestCa};

const PASSWORD: &str = "correct horse battery staple";

/// The files a pod would mount: the web configuration beside a `tls` directory that is a
/// symlink to the current certificate version, swapped atomically as the kubelet updates a
/// Secret volume (`..data`).
struct Mounted {
    dir: tempfile::TempDir,
    versions: u32,
}

impl Mounted {
    fn new(server: &Issued, ca: &TestCa) -> Mounted {
        let mut mounted = Mounted {
            dir: tempfile::tempdir().expect("temp dir"),
            versions: 0,
        };
        mounted.rotate(server, ca);
        mounted
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a new version of the certificate files and swaps the `tls` link to it.
    fn rotate(&mut self, server: &Issued, ca: &TestCa) {
        self.versions += 1;
        let version = self.path(&format!("..v{}", self.versions));
        std::fs::create_dir(&version).expect("version dir");
        for (name, text) in [
            ("tls.crt", server.cert_pem()),
            ("tls.key", server.key_pem()),
            ("ca.crt", ca.pem()),
        ] {
            std::fs::write(version.join(name), text).expect("written");
        }
        let link = self.path("tls.tmp");
        std::os::unix::fs::symlink(&version, &link).expect("symlink");
        std::fs::rename(&link, self.path("tls")).expect("swapped");
    }

    /// Replaces the web configuration by rename (atomic, as an editor or a ConfigMap update).
    fn write_config(&self, text: &str) {
        let tmp = self.path("web.yml.tmp");
        std::fs::write(&tmp, text).expect("written");
        std::fs::rename(&tmp, self.path("web.yml")).expect("renamed");
    }
}

fn web_config(users: bool, client_auth: &str) -> String {
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    let mut text = format!(
        "tls_server_config:\n  cert_file: tls/tls.crt\n  key_file: tls/tls.key\n  \
         client_auth_type: {client_auth}\n"
    );
    if client_auth != "NoClientCert" {
        text.push_str("  client_ca_file: tls/ca.crt\n");
    }
    text.push_str("http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n");
    if users {
        text.push_str(&format!("basic_auth_users:\n  prometheus: '{hash}'\n"));
    }
    text
}

fn promtool_checks_web_config(path: &Path) {
    let output = std::process::Command::new(which("promtool"))
        .args(["check", "web-config"])
        .arg(path)
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check web-config {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client trusting `ca`, with `client` as its certificate if given.
fn client_tls(ca: &TestCa, client: Option<&Issued>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    match client {
        Some(client) => {
            let chain = vec![client.cert.der().clone()];
            let key = PrivateKeyDer::from_pem_slice(client.key_pem().as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    }
}

/// `GET https://127.0.0.1:port/path` on a new connection: status and body, or why it failed.
async fn https_get(
    tls: &rustls::ClientConfig,
    port: u16,
    path: &str,
    authorization: Option<&str>,
) -> Result<(u16, String), String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, Empty<Bytes>>(connector);
    let mut request = http::Request::get(format!("https://127.0.0.1:{port}{path}"));
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A TLS connection offering `alpn`: the protocol agreed on, or why the handshake failed.
async fn connect(
    tls: &rustls::ClientConfig,
    port: u16,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let mut tls = tls.clone();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

/// `GET path` over HTTP/2 (ALPN `h2` only): status and body.
async fn h2_get(
    tls: &rustls::ClientConfig,
    port: u16,
    path: &str,
    authorization: &str,
) -> (u16, String) {
    let stream = connect(tls, port, &[b"h2"]).await.expect("TLS");
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "h2 agreed"
    );
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let request = http::Request::get(format!("https://127.0.0.1:{port}{path}"))
        .header(http::header::AUTHORIZATION, authorization)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The certificate the server presents to a new connection.
async fn presented_certificate(tls: &rustls::ClientConfig, port: u16) -> CertificateDer<'static> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls.clone()));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let stream = connector.connect(name, tcp).await.expect("handshake");
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates")[0]
        .clone()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

async fn wait_ready_over_https(
    exporter: &Exporter,
    tls: &rustls::ClientConfig,
    auth: Option<&str>,
) {
    let port = exporter.port;
    wait_for_within(
        "the exporter ready over HTTPS",
        Duration::from_secs(30),
        || async move { matches!(https_get(tls, port, "/readyz", auth).await, Ok((200, _))) },
    )
    .await;
}

/// The exporter with `--tls-config` of `config` (certificates for 127.0.0.1 from `ca`) and
/// `extra` flags, ready.
async fn tls_exporter(
    server: &str,
    ca: &TestCa,
    config: &str,
    extra: &[&str],
    probe: &rustls::ClientConfig,
) -> (Mounted, Exporter) {
    let mounted = Mounted::new(&ca.issue(&["localhost", "127.0.0.1"]), ca);
    mounted.write_config(config);
    let path = mounted.path("web.yml");
    let mut args = vec!["--tls-config", path.to_str().expect("utf-8")];
    args.extend(extra);
    let exporter = Exporter::start(server, &args);
    wait_ready_over_https(&exporter, probe, None).await;
    (mounted, exporter)
}

/// Prometheus' scrape job of both ports with `tls` (its `tls_config`) and `auth` (more keys).
fn job(name: &str, ports: [u16; 2], tls: &str, auth: &str) -> String {
    format!(
        "- job_name: {name}\n  scheme: https\n  tls_config:\n{tls}{auth}  static_configs:\n  \
         - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n",
        ports[0], ports[1]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_mutual_tls_and_basic_auth_through_rotations() {
    let emulator = newest_emulator();
    emulator.load_generated(&GeneratedCluster::new(2, 3, 1));
    let server = start_emulator(emulator).await;

    let ca = TestCa::new();
    let mut mounted = Mounted::new(&ca.issue(&["localhost", "127.0.0.1"]), &ca);
    mounted.write_config(&web_config(true, "RequireAndVerifyClientCert"));
    promtool_checks_web_config(&mounted.path("web.yml"));
    let client = ca.issue(&["prometheus"]);
    let stranger = TestCa::new();
    for (name, text) in [
        ("ca.pem", ca.pem()),
        ("client.pem", client.cert_pem()),
        ("client-key.pem", client.key_pem()),
        ("stranger.pem", stranger.pem()),
    ] {
        std::fs::write(mounted.path(name), text).expect("written");
    }
    let config = mounted.path("web.yml");
    let exporter = Exporter::start(
        &server.url(),
        &["--tls-config", config.to_str().expect("utf-8")],
    );
    let tls = client_tls(&ca, Some(&client));
    let auth = basic("prometheus", PASSWORD);
    wait_ready_over_https(&exporter, &tls, Some(&auth)).await;

    let ports = [exporter.port, exporter.telemetry_port];
    let file = |name: &str| mounted.path(name).display().to_string();
    let trusted = format!(
        "    ca_file: {}\n    cert_file: {}\n    key_file: {}\n",
        file("ca.pem"),
        file("client.pem"),
        file("client-key.pem")
    );
    let credentials = |password: &str| {
        format!("  basic_auth:\n    username: prometheus\n    password: '{password}'\n")
    };
    let scrape_configs = [
        job("locked", ports, &trusted, &credentials(PASSWORD)),
        job("wrong-password", ports, &trusted, &credentials("guess")),
        job(
            "no-client-cert",
            ports,
            &format!("    ca_file: {}\n", file("ca.pem")),
            &credentials(PASSWORD),
        ),
        job(
            "untrusted-server",
            ports,
            &trusted.replace(&file("ca.pem"), &file("stranger.pem")),
            &credentials(PASSWORD),
        ),
    ]
    .concat();
    let mut prometheus = Prometheus::start_with(&scrape_configs, &[]);
    prometheus.wait_ready().await;

    // Every target has been scraped (once each is enough to judge).
    let prom = &prometheus;
    wait_for_within(
        "every target scraped",
        Duration::from_secs(30),
        || async move {
            let targets = prom.targets().await;
            targets.len() == 8
                && targets
                    .iter()
                    .all(|t| t["lastScrape"] != "0001-01-01T00:00:00Z")
        },
    )
    .await;
    for target in prometheus.targets().await {
        let job = target["labels"]["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let error = target["lastError"].as_str().unwrap_or_default().to_string();
        let health = target["health"].as_str().unwrap_or_default();
        match job.as_str() {
            "locked" => assert_eq!(health, "up", "{target}"),
            "wrong-password" => assert!(error.contains("401"), "{target}"),
            // Refused in the handshake: no HTTP answer (Go reports the server's
            // certificate_required alert, or the closed connection it finds first).
            "no-client-cert" => {
                assert_eq!(health, "down", "{target}");
                assert!(!error.contains("HTTP status"), "{target}");
            }
            "untrusted-server" => assert!(
                error.contains("x509") && error.contains("unknown authority"),
                "{target}"
            ),
            other => panic!("unexpected job {other}"),
        }
    }
    assert_eq!(
        prometheus
            .scalar("count(kube_pod_info{job=\"locked\"})")
            .await,
        Some(6.0)
    );
    assert_eq!(
        prometheus.scalar("sum(up{job=\"locked\"})").await,
        Some(2.0),
        "both ports scraped"
    );
    let anonymous = https_get(&client_tls(&ca, None), exporter.port, "/healthz", None).await;
    assert!(
        anonymous.is_err(),
        "served without a client certificate: {anonymous:?}"
    );
    // Plain HTTP to a TLS port gets no answer with data.
    assert!(
        !matches!(
            exporter.get(exporter.port, "/metrics").await,
            Some((200, _))
        ),
        "plain HTTP served"
    );

    // Rotation: a new certificate, swapped in as the kubelet does.
    let before = presented_certificate(&tls, exporter.port).await;
    let renewed = ca.issue(&["localhost", "127.0.0.1"]);
    mounted.rotate(&renewed, &ca);
    let presented = presented_certificate(&tls, exporter.port).await;
    assert_ne!(presented, before, "the old certificate after the rotation");
    assert_eq!(
        &presented,
        renewed.cert.der(),
        "a new connection presents the new certificate"
    );
    let presented = presented_certificate(&tls, exporter.telemetry_port).await;
    assert_eq!(&presented, renewed.cert.der(), "on both ports");
    // Prometheus keeps scraping: five more successful scrapes of each port after the swap.
    let scraped = "sum(count_over_time(up{job=\"locked\"}[1h]))";
    let done = prometheus.scalar(scraped).await.unwrap_or_default();
    let prom = &prometheus;
    wait_for_within(
        "scrapes after the rotation",
        Duration::from_secs(30),
        || async move { prom.scalar(scraped).await.unwrap_or_default() >= done + 10.0 },
    )
    .await;
    for port in ports {
        let query =
            format!("min_over_time(up{{job=\"locked\",instance=\"127.0.0.1:{port}\"}}[1h])");
        assert_eq!(prometheus.scalar(&query).await, Some(1.0), "{query}");
    }

    // An invalid new configuration is refused: the settings in force stay, and it shows.
    mounted.write_config(
        "tls_server_config:\n  cert_file: tls/missing.crt\n  key_file: tls/tls.key\n",
    );
    let presented = presented_certificate(&tls, exporter.port).await;
    assert_eq!(
        &presented,
        renewed.cert.der(),
        "still served after a bad reload"
    );
    let (status, _) = https_get(&tls, exporter.port, "/metrics", None)
        .await
        .expect("answers");
    assert_eq!(status, 401, "basic auth still in force");
    let telemetry = https_get(&tls, exporter.telemetry_port, "/metrics", Some(&auth))
        .await
        .expect("telemetry")
        .1;
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_web_config_last_reload_successful",
            &[]
        ),
        Some(0.0),
        "{telemetry}"
    );
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_web_config_reloads_total",
            &["result=\"failure\""]
        ),
        Some(1.0),
        "one failure, logged and counted once"
    );
    assert!(
        value(
            &telemetry,
            "kube_state_otel_web_config_reloads_total",
            &["result=\"success\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{telemetry}"
    );
    // Fixed: applied at once (here: basic auth removed).
    mounted.write_config(&web_config(false, "RequireAndVerifyClientCert"));
    let (status, _) = https_get(&tls, exporter.port, "/metrics", None)
        .await
        .expect("answers");
    assert_eq!(status, 200, "the fixed configuration applies");
    let telemetry = https_get(&tls, exporter.telemetry_port, "/metrics", None)
        .await
        .expect("telemetry")
        .1;
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_web_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    assert!(
        exporter.log().contains("web configuration not reloaded"),
        "{}",
        exporter.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_filter_asks_the_api_server_once_per_token() {
    let emulator = newest_emulator();
    emulator.load_generated(&GeneratedCluster::new(1, 2, 1));
    let prometheus_sa = "system:serviceaccount:monitoring:prometheus";
    emulator.add_token(
        "scraper-token",
        json!({"username": prometheus_sa, "uid": "u-1", "groups": ["system:serviceaccounts", "system:authenticated"]}),
    );
    emulator.add_token(
        "nobody-token",
        json!({"username": "system:serviceaccount:default:nobody", "uid": "u-2", "groups": ["system:authenticated"]}),
    );
    emulator
        .apply_text(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kube-state-otel-metrics-reader}
rules: [{nonResourceURLs: ["/metrics"], verbs: ["get"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-reads-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kube-state-otel-metrics-reader}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
"#,
        )
        .expect("RBAC applied");
    let server = start_emulator(emulator).await;

    // With TLS, as it would run (no client certificates: the token is the credential).
    // Probes need no token.
    let ca = TestCa::new();
    let tls = client_tls(&ca, None);
    let config = web_config(false, "NoClientCert");
    let (_mounted, exporter) =
        tls_exporter(&server.url(), &ca, &config, &["--auth-filter"], &tls).await;
    for path in ["/healthz", "/livez"] {
        let (status, _) = https_get(&tls, exporter.port, path, None)
            .await
            .expect(path);
        assert_eq!(status, 200, "{path}");
    }

    let get = |port: u16, token: Option<&'static str>| {
        let tls = tls.clone();
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            https_get(&tls, port, "/metrics", auth.as_deref())
                .await
                .expect("answers")
        }
    };
    let emu = server.emulator().clone();
    for port in [exporter.port, exporter.telemetry_port] {
        let (status, body) = get(port, None).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized\n"), "no token");
        assert_eq!(get(port, Some("made-up")).await.0, 401, "unknown token");
        let (status, body) = get(port, Some("nobody-token")).await;
        assert_eq!(
            (status, body.as_str()),
            (403, "Forbidden\n"),
            "no permission"
        );
        let (status, body) = get(port, Some("scraper-token")).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.is_empty());
    }
    // Within the cache times, again and again: the API server is not asked again.
    for _ in 0..3 {
        assert_eq!(get(exporter.port, Some("scraper-token")).await.0, 200);
        assert_eq!(get(exporter.port, Some("nobody-token")).await.0, 403);
        assert_eq!(get(exporter.port, Some("made-up")).await.0, 401);
    }
    // HTTP/2 (offered by default, as Go's server does) goes through the same filter.
    assert_eq!(
        h2_get(&tls, exporter.port, "/metrics", "Bearer made-up")
            .await
            .0,
        401
    );
    let (status, body) = h2_get(&tls, exporter.port, "/metrics", "Bearer scraper-token").await;
    assert_eq!(status, 200);
    assert!(body.contains("kube_pod_info{"), "{body}");
    // One TokenReview per token (three), one SubjectAccessReview per user and path (two).
    assert_eq!(emu.review_counts(), (3, 2));
    let (_, metrics) = get(exporter.port, Some("scraper-token")).await;
    assert!(metrics.contains("kube_pod_info{"), "{metrics}");
    let (_, telemetry) = get(exporter.telemetry_port, Some("scraper-token")).await;
    let count = |result: &str| {
        value(
            &telemetry,
            "kube_state_otel_auth_filter_requests_total",
            &[&format!("result=\"{result}\"")],
        )
    };
    assert_eq!(count("unauthenticated"), Some(8.0), "{telemetry}");
    assert_eq!(count("forbidden"), Some(5.0));
    assert_eq!(count("error"), Some(0.0));
    assert!(count("allowed").is_some_and(|n| n >= 6.0));

    // The API server unreachable: a fresh token cannot be reviewed, 500 and nothing cached.
    emu.add_token(
        "late-token",
        json!({"username": prometheus_sa, "groups": []}),
    );
    drop(server);
    let (status, body) = get(exporter.port, Some("late-token")).await;
    assert_eq!((status, body.as_str()), (500, "Internal Server Error\n"));
    // Already reviewed: still served from the cache.
    assert_eq!(get(exporter.port, Some("scraper-token")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_sans_http1_only_and_the_rate_limit_apply() {
    let emulator = newest_emulator();
    emulator.load_generated(&GeneratedCluster::new(1, 1, 1));
    let server = start_emulator(emulator).await;
    let ca = TestCa::new();
    let config = "tls_server_config:\n  cert_file: tls/tls.crt\n  key_file: tls/tls.key\n  \
                  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: tls/ca.crt\n  \
                  client_allowed_sans: [prometheus.monitoring.svc]\n\
                  http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n\
                  rate_limit:\n  burst: 20\n  interval: 1h\n";
    let allowed = client_tls(&ca, Some(&ca.issue(&["prometheus.monitoring.svc"])));
    let other = client_tls(&ca, Some(&ca.issue(&["intruder.example"])));
    let (_mounted, exporter) = tls_exporter(&server.url(), &ca, config, &[], &allowed).await;

    // A certificate from the right CA without an allowed SAN is refused.
    let refused = https_get(&other, exporter.port, "/metrics", None).await;
    assert!(refused.is_err(), "{refused:?}");
    // http2: false: only HTTP/1.1 is agreed, even when the client offers h2 first.
    let stream = connect(&allowed, exporter.port, &[b"h2", b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    // A burst of 20 (some spent on readiness polls), then 429 until a token comes back (1 h).
    let mut answers = Vec::new();
    for _ in 0..21 {
        answers.push(
            https_get(&allowed, exporter.port, "/healthz", None)
                .await
                .expect("answers"),
        );
    }
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    assert!((1..=20).contains(&ok), "{answers:?}");
    assert!(
        answers[ok..]
            .iter()
            .all(|a| *a == (429, "Too Many Requests\n".to_string())),
        "{answers:?}"
    );
}

/// An HTTP/2 connection to `port` after one request (its response unread when `read` is
/// false): how long after the response head the server ended the connection.
async fn h2_connection_lifetime(tls: &rustls::ClientConfig, port: u16, read: bool) -> Duration {
    let stream = connect(tls, port, &[b"h2"]).await.expect("TLS");
    // HTTP/2's initial windows (64 KiB): an unread body stalls the server's stream.
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .handshake(TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("https://127.0.0.1:{port}/metrics"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response head");
    let answered = std::time::Instant::now();
    let _unread = if read {
        response.into_body().collect().await.expect("body");
        None
    } else {
        Some(response)
    };
    // Cleanly or with an error (the stalled stream's), the server ended it.
    let _ended = tokio::time::timeout(Duration::from_secs(20), connection)
        .await
        .expect("the server ended the connection")
        .expect("connection task");
    answered.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connections_keep_the_idle_and_write_timeouts() {
    let emulator = newest_emulator();
    // Enough for a response larger than a stream's HTTP/2 window (64 KiB).
    emulator.load_generated(&GeneratedCluster::new(10, 10, 1));
    let server = start_emulator(emulator).await;
    let ca = TestCa::new();
    let tls = client_tls(&ca, None);
    let config = web_config(false, "NoClientCert");
    let timeouts = [
        "--server-idle-timeout",
        "1s",
        "--server-write-timeout",
        "3s",
    ];
    let (_mounted, exporter) = tls_exporter(&server.url(), &ca, &config, &timeouts, &tls).await;
    // Idle after its request: closed after the idle timeout, not before.
    let idle = h2_connection_lifetime(&tls, exporter.port, true).await;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(3),
        "closed {idle:?} after the answer"
    );
    // A stream whose body is not read: its write deadline ends the connection.
    let stalled = h2_connection_lifetime(&tls, exporter.port, false).await;
    assert!(
        stalled >= Duration::from_millis(2500) && stalled < Duration::from_secs(6),
        "closed {stalled:?} after the head"
    );
}

#[test]
fn an_invalid_web_config_stops_the_start_with_its_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("web.yml");
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    for (text, reason) in [
        (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
            "failed to read cert_file",
        ),
        (
            "http_server_config:\n  headers:\n    Server: x\n",
            "can not be configured",
        ),
        ("bogus: true\n", "unknown field"),
        (
            &format!("basic_auth_users:\n  a: '{hash}'\n") as &str,
            "cannot be combined with --auth-filter",
        ),
    ] {
        std::fs::write(&config, text).expect("written");
        let mut args = vec!["--tls-config", config.to_str().expect("utf-8")];
        if reason.contains("auth-filter") {
            args.push("--auth-filter");
        }
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .args(&args)
            .args(["--kubeconfig", "/nonexistent"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text}: started");
        assert!(stderr.contains(reason), "{text}: {stderr}");
    }
}
