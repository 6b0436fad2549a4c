//! `tls`: what locking `/metrics` down costs. The release exporter against a generated
//! cluster, once per mode — plain HTTP, TLS (`--tls-config`, TLS 1.3), TLS with a client
//! certificate and basic auth — each scraped in full on a new connection, one scrape at a
//! time. Figures per mode: the scrape's median time, the exporter's CPU per scrape, and the
//! median time of a new connection's handshake alone.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::e2e::exporter_command;
use crate::proc::{Cluster, Proc, block_on, cpu, free_port, median, mib, wait_until};

#[derive(clap::Args)]
pub struct Args {
    /// Nodes of the generated cluster.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// Full scrapes per mode.
    #[arg(long, default_value_t = 10)]
    scrapes: usize,
    /// Handshakes per mode.
    #[arg(long, default_value_t = 50)]
    handshakes: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    block_on(run_async(args))
}

/// How a mode's client connects and authenticates.
struct Mode {
    name: &'static str,
    web_config: Option<String>,
    client: Option<Arc<rustls::ClientConfig>>,
    authorization: Option<String>,
}

/// A test CA, the server's certificate for 127.0.0.1 and a client certificate, written out.
struct Pki {
    ca: rcgen::Certificate,
    client: (CertificateDer<'static>, String),
}

fn pki(dir: &Path) -> anyhow::Result<Pki> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key)?;
    let issue = |name: &str| -> anyhow::Result<(rcgen::Certificate, KeyPair)> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![name.to_string()])?.signed_by(&key, &ca, &ca_key)?;
        Ok((cert, key))
    };
    let (server, server_key) = issue("127.0.0.1")?;
    let (client, client_key) = issue("kso-bench")?;
    std::fs::write(dir.join("tls.crt"), server.pem())?;
    std::fs::write(dir.join("tls.key"), server_key.serialize_pem())?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    Ok(Pki {
        ca,
        client: (client.der().clone(), client_key.serialize_pem()),
    })
}

fn client_config(pki: &Pki, with_cert: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone())?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let mut config = if with_cert {
        let key = PrivateKeyDer::from_pem_slice(pki.client.1.as_bytes())?;
        builder.with_client_auth_cert(vec![pki.client.0.clone()], key)?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let http = crate::http::Client::new();
    let cluster = Cluster::start(&http, "tls", args.nodes, args.pods_per_node, "exporter").await?;
    let dir = cluster
        .kubeconfig
        .parent()
        .context("the cluster's directory")?;
    let pki = pki(dir)?;
    // Cost 10, as `htpasswd -B` and exporter-toolkit's docs: the first request pays it, the
    // rest hit the exporter's cache of checked passwords.
    let password = "kso-bench-password";
    let hash = bcrypt::hash(password, 10)?;
    let tls = "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n";
    let basic = {
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("kso-bench:{password}"));
        format!("Basic {encoded}")
    };
    let modes = [
        Mode {
            name: "plain HTTP",
            web_config: None,
            client: None,
            authorization: None,
        },
        Mode {
            name: "TLS 1.3",
            web_config: Some(tls.to_string()),
            client: Some(client_config(&pki, false)?),
            authorization: None,
        },
        Mode {
            name: "TLS 1.3, client certificate, basic auth",
            web_config: Some(format!(
                "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n\
                 basic_auth_users:\n  kso-bench: '{hash}'\n"
            )),
            client: Some(client_config(&pki, true)?),
            authorization: Some(basic),
        },
    ];
    println!(
        "| {} pods | scrape, median | exporter CPU per scrape | handshake, median | body |",
        args.nodes * args.pods_per_node
    );
    println!("|---|---|---|---|---|");
    for mode in &modes {
        let (port, telemetry_port) = (free_port()?, free_port()?);
        let mut command = exporter_command(&cluster.kubeconfig, port, telemetry_port)?;
        if let Some(text) = &mode.web_config {
            let path = dir.join(format!("web-{port}.yml"));
            std::fs::write(&path, text)?;
            command.arg("--tls-config").arg(&path);
        }
        let exporter = Proc(command.spawn().context("starting kube-state-otel")?);
        let pid = exporter.0.id();
        wait_until(Duration::from_secs(600), || async {
            matches!(get(mode, port, "/readyz").await, Ok((200, _)))
        })
        .await
        .with_context(|| format!("{}: the exporter did not become ready", mode.name))?;
        // Warm: the first scrape builds what later ones reuse; the first basic auth pays bcrypt.
        get(mode, port, "/metrics").await?;
        let mut took = Vec::new();
        let mut bytes = 0;
        let cpu_before = cpu(pid);
        for _ in 0..args.scrapes {
            let started = Instant::now();
            let (status, body) = get(mode, port, "/metrics").await?;
            took.push(started.elapsed());
            if status != 200 {
                bail!("{}: /metrics answered {status}", mode.name);
            }
            bytes = body;
        }
        let cpu_per_scrape = (cpu(pid) - cpu_before) / args.scrapes as u32;
        let mut handshakes = Vec::new();
        for _ in 0..args.handshakes {
            let started = Instant::now();
            let stream = TcpStream::connect(("127.0.0.1", port)).await?;
            if let Some(client) = &mode.client {
                let _tls = handshake(client, stream).await?;
            }
            handshakes.push(started.elapsed());
        }
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2} ms | {:.1} MiB |",
            mode.name,
            median(&mut took).as_secs_f64() * 1000.0,
            cpu_per_scrape.as_secs_f64() * 1000.0,
            median(&mut handshakes).as_secs_f64() * 1000.0,
            mib(bytes as u64)
        );
        drop(exporter);
    }
    Ok(())
}

async fn handshake(
    client: &Arc<rustls::ClientConfig>,
    stream: TcpStream,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from("127.0.0.1")?;
    Ok(tokio_rustls::TlsConnector::from(client.clone())
        .connect(name, stream)
        .await?)
}

/// `GET path` on a new connection, read to its end: the status and the bytes after the head.
async fn get(mode: &Mode, port: u16, path: &str) -> anyhow::Result<(u16, usize)> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    match &mode.client {
        Some(client) => exchange(handshake(client, stream).await?, mode, path).await,
        None => exchange(stream, mode, path).await,
    }
}

async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    mode: &Mode,
    path: &str,
) -> anyhow::Result<(u16, usize)> {
    let authorization = mode
        .authorization
        .as_ref()
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: kso-bench\r\n{authorization}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // The server may end a TLS stream without close_notify after the body; the bytes count.
    if let Err(error) = stream.read_to_end(&mut response).await
        && response.is_empty()
    {
        return Err(error.into());
    }
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no response head")?;
    let status = std::str::from_utf8(&response[9..12])?.parse()?;
    Ok((status, response.len() - head_end - 4))
}
