//! `--demo`: the real pipeline against the project's API emulator serving a generated cluster
//! plus a showcase of every other kind (kube-emulator's `showcase`), changed a little every
//! [`CHURN_PERIOD`], and, unless an OTLP endpoint is configured, pushing to a built-in
//! receiver that prints a line per push ([`receiver`]).

pub mod receiver;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kube_emulator::showcase::Showcase;
use kube_emulator::{Emulator, EmulatorConfig, GeneratedCluster, ServerHandle};

/// Seed of the demo cluster: the same cluster on every run.
const DEMO_SEED: u64 = 42;

/// Time between two steps of the demo cluster's churn.
pub const CHURN_PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("starting the cluster emulator")]
    Emulator(#[source] kube_emulator::Error),
    #[error("emulator URL {0:?} is not a valid URI")]
    Url(String, #[source] http::uri::InvalidUri),
    #[error("starting the demo's OTLP receiver")]
    Receiver(#[source] std::io::Error),
}

/// A running in-process emulator and its churn; both stop when dropped.
pub struct Demo {
    server: ServerHandle,
    churn: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.churn.abort();
    }
}

/// Generates a cluster of `nodes` × `pods_per_node` pods plus the showcase, serves it on a
/// free local port as Kubernetes `version` serves it, and starts its churn.
pub async fn start(nodes: usize, pods_per_node: usize, version: &str) -> Result<Demo, Error> {
    let cluster = GeneratedCluster::new(nodes, pods_per_node, DEMO_SEED).at_current_time();
    let config = EmulatorConfig {
        kubernetes_version: version.to_string(),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::with_config(config).map_err(Error::Emulator)?;
    emulator.load_generated(&cluster);
    let showcase = Showcase::load(&emulator, DEMO_SEED).map_err(Error::Emulator)?;
    let emulator = Arc::new(emulator);
    let server = emulator
        .clone()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(Error::Emulator)?;
    let churn = showcase.churn(emulator).spawn(CHURN_PERIOD);
    tracing::info!(
        url = server.url(),
        nodes,
        pods = cluster.pod_count(),
        showcase = showcase.objects,
        version,
        "demo cluster emulator started; it changes every {CHURN_PERIOD:?}"
    );
    Ok(Demo { server, churn })
}

impl Demo {
    /// A client configuration for the emulator.
    pub fn kube_config(&self) -> Result<kube::Config, Error> {
        let url = self.server.url();
        let uri = url.parse().map_err(|e| Error::Url(url.clone(), e))?;
        Ok(kube::Config::new(uri))
    }
}
