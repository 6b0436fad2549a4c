//! Child processes of a benchmark, and their figures from /proc.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::bail;
pub use kube_emulator::free_port;

/// `VmRSS` and `VmHWM` of a process, in bytes.
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time a process has used (clock ticks of 10 ms, Linux' USER_HZ).
pub fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ')'.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time of the calling thread, in nanoseconds precision.
pub fn thread_cpu() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = schedstat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The median of durations (sorted in place).
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary built beside this one (`cargo build --release --workspace` builds them all).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        bail!("{} not found: build the workspace first", path.display());
    }
    Ok(path)
}

/// Polls `check` until it holds, for at most `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("timed out after {limit:?}")
}

/// Waits until the exporter on `port` answers `/readyz` with success.
pub async fn wait_ready(http: &crate::http::Client, port: u16) -> anyhow::Result<()> {
    wait_for_success(http, &format!("http://127.0.0.1:{port}/readyz")).await
}

/// Waits (up to 10 minutes) until a GET of `url` succeeds.
async fn wait_for_success(http: &crate::http::Client, url: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(600), || async {
        http.get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
}

/// A `kube-emulator` process serving a generated cluster, answering on `url`.
pub struct Emulator {
    _process: Proc,
    pub url: String,
}

/// Starts the sibling `kube-emulator` with a generated cluster and waits until it answers;
/// with `kubeconfig`, it also writes a kubeconfig there for that bearer token.
pub async fn start_emulator(
    http: &crate::http::Client,
    nodes: usize,
    pods_per_node: usize,
    kubeconfig: Option<(&std::path::Path, &str)>,
) -> anyhow::Result<Emulator> {
    use anyhow::Context;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut command = std::process::Command::new(sibling("kube-emulator")?);
    command
        .args(["--port", &port.to_string()])
        .args(["--nodes", &nodes.to_string()])
        .args(["--pods-per-node", &pods_per_node.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some((path, token)) = kubeconfig {
        command
            .arg("--kubeconfig-out")
            .arg(path)
            .args(["--token", token]);
    }
    let process = Proc(command.spawn().context("starting kube-emulator")?);
    wait_for_success(http, &format!("{url}/_emulator/healthz"))
        .await
        .context("emulator did not come up")?;
    Ok(Emulator {
        _process: process,
        url,
    })
}

/// A `kube-emulator` serving a generated cluster, and a kubeconfig for it in a temporary
/// directory of the benchmark's own (removed when dropped).
pub struct Cluster {
    pub emulator: Emulator,
    pub kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Cluster {
    /// The kubeconfig authenticates with `token`, under which the emulator keeps its stats.
    pub async fn start(
        http: &crate::http::Client,
        benchmark: &str,
        nodes: usize,
        pods_per_node: usize,
        token: &str,
    ) -> anyhow::Result<Cluster> {
        let dir =
            std::env::temp_dir().join(format!("kso-bench-{benchmark}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        let emulator =
            start_emulator(http, nodes, pods_per_node, Some((&kubeconfig, token))).await?;
        Ok(Cluster {
            emulator,
            kubeconfig,
            dir,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a benchmark's async part on a runtime of two workers (the machine's two cores).
pub fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(future)
}
