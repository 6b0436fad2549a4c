//! Rotel, a real OTLP collector (PyPI `rotel`), as tests start it.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running Rotel, killed when the test ends, however it ends.
pub struct Rotel {
    child: Child,
    /// OTLP/gRPC.
    pub addr: SocketAddr,
    /// OTLP/HTTP (`/v1/metrics`, `/v1/logs`).
    pub http_addr: SocketAddr,
    /// Its stdout and stderr so far.
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rotel {
    /// Starts `rotel-agent` on free ports with the blackhole exporter (and its default 4 MiB
    /// receive limit), printing received metrics in detail if `debug_log`; waits until it
    /// listens.
    pub async fn start(debug_log: bool) -> Rotel {
        Rotel::start_printing(debug_log.then_some("metrics")).await
    }

    /// Starts `rotel-agent` as [`Rotel::start`] does, printing received `signal`s
    /// (`metrics`, `logs`) in detail.
    pub async fn start_printing(signal: Option<&str>) -> Rotel {
        let agent = rotel_agent();
        let dir = tempfile::tempdir().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(&agent);
        command
            .arg("start")
            .args(["--otlp-grpc-endpoint", &addr.to_string()])
            .args(["--otlp-http-endpoint", &http_addr.to_string()])
            .args(["--exporter", "blackhole"])
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(signal) = signal {
            command.args(["--debug-log", signal, "--debug-log-verbosity", "detailed"]);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", agent.display()));
        let output = capture(&mut child);
        let rotel = Rotel {
            child,
            addr,
            http_addr,
            output,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() || TcpStream::connect(http_addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "rotel did not listen on {addr} and {http_addr}; its output:\n{}",
                rotel.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rotel
    }

    /// The base endpoint for `--otlp-endpoint` with `protocol` (`grpc` or `http/protobuf`).
    pub fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://{}", self.addr),
            _ => format!("http://{}", self.http_addr),
        }
    }

    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `rotel-agent`: `ROTEL_AGENT`, else on `PATH`, else where `pip install rotel` put it (the
/// package ships the binary inside the Python package, not on `PATH`).
pub fn rotel_agent() -> PathBuf {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("rotel-agent"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let from_pip = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|path| path.is_file());
    from_pip.unwrap_or_else(|| {
        panic!(
            "rotel-agent not found: not in ROTEL_AGENT, not on PATH, and no `rotel` Python \
             package. Install it with `python3 -m pip install rotel` (the binary is \
             <site-packages>/rotel/rotel-agent) or put rotel-agent on PATH."
        )
    })
}

pub use crate::harness::free_port;

/// Everything the child writes to stdout and stderr, collected by two threads.
pub fn capture(child: &mut Child) -> Arc<Mutex<String>> {
    let output = Arc::new(Mutex::new(String::new()));
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for mut stream in streams {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                output
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
            }
        });
    }
    output
}
