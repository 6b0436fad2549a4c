//! An in-memory Kubernetes API server for tests, benchmarks and demos.
//!
//! It speaks the subset of the apiserver's HTTP API that kube-rs (`Api::list`,
//! `runtime::watcher`, metadata-only `Api<PartialObjectMeta<K>>`) and `kubectl get/create/
//! delete` use: discovery, paginated lists, watches with bookmarks and streaming lists,
//! selectors, server-side sharding (`shardSelector`, KEP-5866), metadata-only and Table content
//! negotiation, 410 Gone after compaction and
//! 403 Forbidden on demand, over plain HTTP.
//!
//! It behaves like one Kubernetes minor from [`OLDEST_MINOR`] to [`NEWEST_MINOR`]
//! ([`EmulatorConfig::kubernetes_version`], plus `--runtime-config` overrides): only what that
//! minor serves is routed, discovered (legacy and aggregated apidiscovery.k8s.io/v2) and
//! applied.
//!
//! Where to start:
//! - [`Emulator`] holds the objects; [`Emulator::serve`] runs it; its methods (apply, delete,
//!   compact, forbid, disconnect_watches, set_kubernetes_version, set_runtime_config, stats)
//!   are the control surface, also exposed over HTTP under `/_emulator/`.
//! - [`resources`] is the table of kinds and their versions' lifecycles; [`surface`] says what
//!   one minor serves ([`surface::served`]).
//! - CustomResourceDefinitions are served like any kind; while one exists, its custom
//!   resources are served in its served versions (ids registered at runtime: [`resources`]'
//!   docs; what writing or deleting a CRD does: the `crd` module).
//! - [`GeneratedCluster`] builds a deterministic synthetic cluster (nodes, namespaces,
//!   deployments → replicasets → pods); [`showcase`] adds objects of every other kind in
//!   telling states, and changes them step by step (demos).
//! - [`write_kubeconfig`] points clients at it; the bearer token names the client in stats.
//!
//! Inside: `store` keeps each object pre-serialized (`object::StoredObject`) with a bounded
//! event history per resource; `server` assembles responses by concatenating those bytes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_emulator::Error> {
//! use std::sync::Arc;
//! use kube_emulator::{Emulator, GeneratedCluster, write_kubeconfig};
//! let emu = Arc::new(Emulator::with_cluster(&GeneratedCluster::new(10, 30, 1)));
//! let server = emu.serve("127.0.0.1:0".parse().unwrap()).await?;
//! write_kubeconfig("/tmp/kubeconfig", &server.url(), "exporter")?;
//! # Ok(()) }
//! ```

mod crd;
mod emulator;
mod error;
pub mod faults;
mod generate;
mod jsonw;
mod kubeconfig;
mod load;
mod object;
mod ports;
pub mod resources;
mod review;
mod selector;
mod server;
mod shard;
pub mod showcase;
mod stats;
mod store;
pub mod surface;
mod util;

pub use emulator::{Applied, Emulator, EmulatorConfig};
pub use error::{Error, Result};
pub use generate::GeneratedCluster;
pub use kubeconfig::{kubeconfig_yaml, write_kubeconfig};
pub use load::parse_objects;
pub use ports::free_port;
pub use selector::{FieldSelector, LabelSelector};
pub use server::ServerHandle;
pub use shard::{ShardSelector, ShardSelectors};
pub use stats::{ResourceStats, StatsSnapshot};
pub use store::StoreConfig;
pub use surface::{NEWEST_MINOR, OLDEST_MINOR, Surface};
