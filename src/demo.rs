//! `--demo`: the real pipeline against the project's API emulator serving a generated cluster.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use kube_emulator::{Emulator, EmulatorConfig, GeneratedCluster, ServerHandle};

/// Seed of the demo cluster: the same cluster on every run.
const DEMO_SEED: u64 = 42;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("starting the cluster emulator")]
    Emulator(#[source] kube_emulator::Error),
    #[error("emulator URL {0:?} is not a valid URI")]
    Url(String, #[source] http::uri::InvalidUri),
}

/// A running in-process emulator; it stops when dropped.
pub struct Demo {
    server: ServerHandle,
}

/// Generates a cluster of `nodes` × `pods_per_node` pods and serves it on a free local port as
/// Kubernetes `version` serves it.
pub async fn start(nodes: usize, pods_per_node: usize, version: &str) -> Result<Demo, Error> {
    let cluster = GeneratedCluster::new(nodes, pods_per_node, DEMO_SEED);
    let config = EmulatorConfig {
        kubernetes_version: version.to_string(),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::with_config(config).map_err(Error::Emulator)?;
    emulator.load_generated(&cluster);
    let emulator = Arc::new(emulator);
    let server = emulator
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(Error::Emulator)?;
    tracing::info!(
        url = server.url(),
        nodes,
        pods = cluster.pod_count(),
        version,
        "demo cluster emulator started"
    );
    Ok(Demo { server })
}

impl Demo {
    /// A client configuration for the emulator.
    pub fn kube_config(&self) -> Result<kube::Config, Error> {
        let url = self.server.url();
        let uri = url.parse().map_err(|e| Error::Url(url.clone(), e))?;
        Ok(kube::Config::new(uri))
    }
}
