//! A real Prometheus on 127.0.0.1 with a temporary config and TSDB, and its HTTP API.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, which};

/// Killed when dropped, however the test ends.
pub struct Prometheus {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `targets` as `job_name: kube-state-metrics` (honouring the exporter's labels,
    /// as kube-prometheus' ServiceMonitor does) every second and evaluates `rule_files`
    /// every second.
    pub fn start(targets: &[u16], rule_files: &[PathBuf]) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let scrape_configs = format!(
            "- job_name: kube-state-metrics\n  honor_labels: true\n  \
             static_configs:\n  - targets: [{}]\n",
            targets.join(", ")
        );
        Prometheus::start_with(&scrape_configs, rule_files)
    }

    /// Scrapes as `scrape_configs` (YAML, the list's items) says, every second by default.
    pub fn start_with(scrape_configs: &str, rule_files: &[PathBuf]) -> Prometheus {
        let binary = which("prometheus");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - '{}'\n", p.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\
             scrape_configs:\n{scrape_configs}",
            rules.concat(),
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("config written");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            let ready = self
                .http
                .get(format!("{}/-/ready", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready in 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `data` of a successful `GET /api/v1/<path>`.
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let text = self
            .http
            .get(format!("{}/api/v1/{path}", self.base))
            .query(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("/api/v1/{path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("/api/v1/{path}: {e}"));
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("/api/v1/{path} is not JSON ({e}): {text}"));
        assert_eq!(
            body["status"], "success",
            "/api/v1/{path} {params:?}: {body}"
        );
        body["data"].clone()
    }

    /// The instant vector of `query`, now.
    pub async fn query(&self, query: &str) -> Vec<Value> {
        let data = self.api("query", &[("query", query)]).await;
        assert_eq!(data["resultType"], "vector", "{query}");
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a one-element instant vector, if it has one element.
    pub async fn scalar(&self, query: &str) -> Option<f64> {
        match self.query(query).await.as_slice() {
            [one] => one["value"][1].as_str().and_then(|v| v.parse().ok()),
            _ => None,
        }
    }

    /// The active targets, as `/api/v1/targets` lists them.
    pub async fn targets(&self) -> Vec<Value> {
        self.api("targets", &[("state", "active")]).await["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The alerts, as `/api/v1/alerts` lists them.
    pub async fn alerts_json(&self) -> Vec<Value> {
        self.api("alerts", &[]).await["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Prometheus' own `/metrics`.
    pub async fn own_metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("prometheus /metrics")
            .text()
            .await
            .expect("prometheus /metrics text")
    }
}
