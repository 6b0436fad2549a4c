//! The real binary against the project's Kubernetes API emulator, as tests start them: free
//! ports, a kubeconfig, the exporter as a child process, polling with deadlines, and reading
//! samples out of a scrape.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_emulator::{Emulator, ServerHandle};
use kube_state_otel::export::prometheus::collect_to_string;
use kube_state_otel::kinds::AnyKind;
use kube_state_otel::meter::{StreamingMeterProvider, register_kind};
use kube_state_otel::metric::{FamilyDesc, KindOptions};
use kube_state_otel::store::KindStore;
use opentelemetry::metrics::MeterProvider;

pub mod prometheus;

/// A local port nobody listens on, for a child process to bind (see
/// [`kube_emulator::free_port`]).
pub fn free_port() -> u16 {
    kube_emulator::free_port().expect("a free local port")
}

/// An emulator of the newest Kubernetes minor it knows, which serves every kind this build
/// watches (the default, the oldest supported minor, does not).
pub fn newest_emulator() -> Emulator {
    Emulator::with_config(kube_emulator::EmulatorConfig {
        kubernetes_version: format!("v1.{}.0", kube_emulator::NEWEST_MINOR),
        ..kube_emulator::EmulatorConfig::default()
    })
    .expect("the newest minor is supported")
}

pub async fn start_emulator(emulator: Emulator) -> ServerHandle {
    Arc::new(emulator)
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("emulator serves")
}

pub fn write_kubeconfig(dir: &tempfile::TempDir, server: &str, token: &str) -> PathBuf {
    let path = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: {server}\n\
         users:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    \
         cluster: emu\n    user: u\ncurrent-context: c\n"
    );
    let mut f = std::fs::File::create(&path).expect("kubeconfig writable");
    f.write_all(text.as_bytes()).expect("kubeconfig written");
    path
}

/// The exporter as a child process; killed when dropped.
pub struct Exporter {
    child: Child,
    pub port: u16,
    pub telemetry_port: u16,
    _dir: tempfile::TempDir,
    stderr: PathBuf,
    stdout: PathBuf,
}

impl Exporter {
    pub fn start(server: &str, extra: &[&str]) -> Exporter {
        Exporter::start_on(server, (free_port(), free_port()), extra)
    }

    /// Starts the exporter with its own bearer token: the emulator keeps its stats under it.
    pub fn start_as(server: &str, token: &str, extra: &[&str]) -> Exporter {
        Exporter::launch(server, token, (free_port(), free_port()), extra, &[])
    }

    /// Starts the exporter on the given `/metrics` and telemetry ports (to restart one in
    /// place).
    pub fn start_on(server: &str, ports: (u16, u16), extra: &[&str]) -> Exporter {
        Exporter::launch(server, "exporter", ports, extra, &[])
    }

    /// Starts the exporter with extra environment variables (`OTEL_*`).
    pub fn start_with_env(server: &str, extra: &[&str], env: &[(&str, &str)]) -> Exporter {
        let ports = (free_port(), free_port());
        Exporter::launch(server, "exporter", ports, extra, env)
    }

    fn launch(
        server: &str,
        token: &str,
        ports: (u16, u16),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        let (port, telemetry_port) = (ports.0.to_string(), ports.1.to_string());
        let mut args = vec!["--host", "127.0.0.1", "--telemetry-host", "127.0.0.1"];
        args.extend(["--port", &port, "--telemetry-port", &telemetry_port]);
        args.extend(extra);
        Exporter::spawn(server, token, ports, &args, env)
    }

    /// Starts the exporter with `args` only (besides the kubeconfig): `ports` are where the
    /// args (or a `--config` file) make it listen.
    pub fn start_with_args(server: &str, ports: (u16, u16), args: &[&str]) -> Exporter {
        Exporter::spawn(server, "exporter", ports, args, &[])
    }

    /// [`Exporter::start_with_args`] with extra environment variables (`HOSTNAME` of a pod).
    pub fn start_with_args_env(
        server: &str,
        ports: (u16, u16),
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        Exporter::spawn(server, "exporter", ports, args, env)
    }

    fn spawn(
        server: &str,
        token: &str,
        ports: (u16, u16),
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Exporter {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = write_kubeconfig(&dir, server, token);
        let (port, telemetry_port) = ports;
        let stderr = dir.path().join("stderr.log");
        let stdout = dir.path().join("stdout.log");
        let child = Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("NODE_NAME")
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&stdout).expect("output file"))
            .stderr(std::fs::File::create(&stderr).expect("log file"))
            .spawn()
            .expect("exporter binary starts");
        Exporter {
            child,
            port,
            telemetry_port,
            _dir: dir,
            stderr,
            stdout,
        }
    }

    pub async fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    pub async fn metrics(&self) -> String {
        match self.get(self.port, "/metrics").await {
            Some((200, body)) => body,
            other => panic!("/metrics failed: {other:?}"),
        }
    }

    pub async fn telemetry(&self) -> String {
        match self.get(self.telemetry_port, "/metrics").await {
            Some((200, body)) => body,
            other => panic!("telemetry /metrics failed: {other:?}"),
        }
    }

    pub async fn ready(&self) -> bool {
        matches!(self.get(self.port, "/readyz").await, Some((200, _)))
    }

    /// Waits up to 30 s for `/readyz`; a timeout panics with the exporter's log and its last
    /// `/readyz` body, which say which kind never synced.
    pub async fn wait_ready(&self) {
        if poll_within(Duration::from_secs(30), || self.ready()).await {
            return;
        }
        let readyz = self.get(self.port, "/readyz").await;
        panic!(
            "timed out after 30s waiting for /readyz: {readyz:?}\nexporter log:\n{}",
            self.log()
        );
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the process to exit; its exit code (`None` on a signal).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(status.code());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("still running after {timeout:?}\n{}", self.log()))
    }

    /// The exit code once the process has exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What it printed on standard output (the demo's banner and push lines).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` for up to 30 s.
pub async fn wait_for<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for_within(what, Duration::from_secs(30), condition).await
}

/// Polls `condition` every 100 ms until it holds; panics after `timeout`.
pub async fn wait_for_within<F, Fut>(what: &str, timeout: Duration, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !poll_within(timeout, condition).await {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Polls `condition` every 100 ms until it holds (true) or `timeout` passes (false).
pub async fn poll_within<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Sample lines of `family` (exact name) in a scrape.
pub fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

/// The value of the sample of `family` whose line contains every one of `labels`.
pub fn value(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    samples(text, family)
        .into_iter()
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The path of `tool` on `PATH`; panics (the test fails, it does not skip) when it is missing.
pub fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{tool} is not installed: run scripts/test.sh, which installs it")
        })
}

/// `promtool check metrics` on `text`: whether it passed, and what it said (stdout and
/// stderr).
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let out = pipe(
        Command::new(which("promtool")).args(["check", "metrics"]),
        text,
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// Runs `command` with `input` on its standard input; panics when it cannot be run (a missing
/// tool fails the test: scripts/test.sh installs them all).
pub fn pipe(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not run ({e}): run scripts/test.sh"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input piped");
    child.wait_with_output().expect("command finishes")
}

/// `/metrics` text of `objects` of `kind` (whole objects, as JSON) with every family (opt-in
/// ones too) enabled, rendered through the real store → meter → text path.
pub fn render_objects(
    kind: &dyn AnyKind,
    objects: impl IntoIterator<Item = serde_json::Value>,
    options: &KindOptions,
) -> String {
    let families = kind.families();
    let enabled: Vec<usize> = (0..families.len()).collect();
    let descs: Vec<FamilyDesc> = families.into_iter().map(|f| f.desc).collect();
    let store = Arc::new(KindStore::new());
    for object in objects {
        let decoded = kind
            .samples_from_json(object, &enabled, options)
            .unwrap_or_else(|e| panic!("object does not decode: {e}"));
        store.apply(&decoded.uid, decoded.samples);
    }
    let provider = StreamingMeterProvider::new();
    let meter = provider.meter(kind.resource());
    register_kind(&meter, kind.identity_labels(), &descs, &store);
    collect_to_string(|sink| provider.registry().collect(kind.resource(), sink))
}

/// `n` bytes of incompressible-looking text (gzip cannot hide what a full list would pull).
pub fn noise(seed: u64, n: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// A config file mounted as a ConfigMap volume is: `config.yaml` → `..data/config.yaml`,
/// `..data` → the current version's directory, swapped atomically on update.
pub struct ConfigMapVolume {
    dir: tempfile::TempDir,
    versions: u32,
}

impl ConfigMapVolume {
    pub fn new(text: &str) -> ConfigMapVolume {
        let mut volume = ConfigMapVolume {
            dir: tempfile::tempdir().expect("temp dir"),
            versions: 0,
        };
        volume.update(text);
        std::os::unix::fs::symlink("..data/config.yaml", volume.path()).expect("symlink");
        volume
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn update(&mut self, text: &str) {
        self.versions += 1;
        let version = format!("..v{}", self.versions);
        std::fs::create_dir(self.dir.path().join(&version)).expect("version dir");
        std::fs::write(self.dir.path().join(&version).join("config.yaml"), text).expect("written");
        let link = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &link).expect("symlink");
        std::fs::rename(&link, self.dir.path().join("..data")).expect("swapped");
    }
}
