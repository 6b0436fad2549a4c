//! The kubernetes-mixin alerts over OTLP only: the binary pushes the kube-state-metrics schema
//! over OTLP/HTTP to VictoriaMetrics (`/opentelemetry/v1/metrics`, nothing scrapes
//! `/metrics`), and vmalert evaluates the mixin's rules (their `for:` removed, nothing else
//! changed) against it: `KubePodCrashLooping` fires for a crash-looping pod of the emulator.
//!
//! The rules select `job="kube-state-metrics"`. VictoriaMetrics turns OTLP resource
//! attributes into labels as they are (`service.name`, no `job` mapping), so the binary runs as
//! a user would run it for this backend: `OTEL_RESOURCE_ATTRIBUTES=job=kube-state-metrics`.
//!
//! `victoria-metrics` and `vmalert` come from Debian's `victoria-metrics` package (trixie's
//! 1.112; bookworm's 1.79 has no OTLP); scripts/test.sh installs it. Without them this test
//! fails (it never skips).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube_emulator::Emulator;
use serde_json::Value;

mod harness;
use harness::{Exporter, free_port, start_emulator, wait_for_within, which};

mod scenarios;
use scenarios::{Alert, SCENARIOS, namespace, pod, rules_without_for};

/// A child process killed when the test ends, with its output in a file.
struct Process {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn start(tool: &str, args: &[String], dir: &Path) -> Process {
        let log = dir.join(format!("{tool}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(which(tool))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} does not start: {e}"));
        Process { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

/// `GET base/path` as JSON, if it answers.
async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    serde_json::from_str(&response.text().await.ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_pod_crash_looping_fires_in_vmalert_from_otlp_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rule_files, groups) = rules_without_for(dir.path());
    assert!(
        groups
            .iter()
            .flat_map(|g| &g.rules)
            .any(|r| r.alert && r.name == "KubePodCrashLooping"),
        "KubePodCrashLooping is in the mixin"
    );

    let emulator = Emulator::new();
    emulator
        .apply_all([
            namespace(SCENARIOS),
            pod(
                SCENARIOS,
                "crashloop",
                "node-1",
                "Running",
                false,
                Some("CrashLoopBackOff"),
            ),
            pod(SCENARIOS, "healthy", "node-1", "Running", true, None),
        ])
        .expect("pods applied");
    let emulator = start_emulator(emulator).await;

    // Queries see the newest samples at once (the default hides the last 30 s), so the test
    // does not wait for them.
    let vm_port = free_port();
    let vm_url = format!("http://127.0.0.1:{vm_port}");
    let mut vm = Process::start(
        "victoria-metrics",
        &[
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            format!("-storageDataPath={}", dir.path().join("vm").display()),
            "-retentionPeriod=1d".to_string(),
            "-search.latencyOffset=0s".to_string(),
            "-search.disableCache".to_string(),
        ],
        dir.path(),
    );
    let http = reqwest::Client::new();
    wait_for_within("victoria-metrics /health", Duration::from_secs(30), || {
        let (http, url) = (&http, format!("{vm_url}/health"));
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    assert!(!vm.exited(), "victoria-metrics exited:\n{}", vm.log());

    let exporter = Exporter::start_with_env(
        &emulator.url(),
        &[
            "--otlp-protocol",
            "http/protobuf",
            "--otlp-endpoint",
            &format!("{vm_url}/opentelemetry"),
            "--otlp-compression",
            "gzip",
            "--otlp-interval",
            "1s",
        ],
        &[("OTEL_RESOURCE_ATTRIBUTES", "job=kube-state-metrics")],
    );
    exporter.wait_ready().await;

    // The pushed series, as VictoriaMetrics stores them.
    let series_url = format!(
        "{vm_url}/api/v1/series?match[]=kube_pod_container_status_waiting_reason{{pod=\"crashloop\"}}"
    );
    wait_for_within(
        "the pushed series in VictoriaMetrics",
        Duration::from_secs(60),
        || {
            let (http, url) = (&http, series_url.clone());
            async move {
                get_json(http, &url)
                    .await
                    .and_then(|v| v["data"].as_array().map(|d| !d.is_empty()))
                    .unwrap_or(false)
            }
        },
    )
    .await;
    let series = get_json(&http, &series_url).await.expect("series");
    let labels = &series["data"][0];
    for (key, want) in [
        ("job", "kube-state-metrics"),
        ("service.name", "kube-state-otel"),
        ("namespace", SCENARIOS),
        ("container", "app"),
        ("reason", "CrashLoopBackOff"),
    ] {
        assert_eq!(labels[key], want, "label {key} of {labels}");
    }

    let vmalert_port = free_port();
    let vmalert_url = format!("http://127.0.0.1:{vmalert_port}");
    let mut args = vec![
        format!("-httpListenAddr=127.0.0.1:{vmalert_port}"),
        format!("-datasource.url={vm_url}"),
        // Where the mixin's recording rules go (vmalert refuses to start without it).
        format!("-remoteWrite.url={vm_url}"),
        "-notifier.blackhole".to_string(),
        "-evaluationInterval=1s".to_string(),
        "-rule.evalDelay=0s".to_string(),
    ];
    args.extend(rule_files.iter().map(|f| format!("-rule={}", f.display())));
    let mut vmalert = Process::start("vmalert", &args, dir.path());

    let alerts_url = format!("{vmalert_url}/api/v1/alerts");
    let deadline = Instant::now() + Duration::from_secs(90);
    let firing = loop {
        assert!(!vmalert.exited(), "vmalert exited:\n{}", vmalert.log());
        let alerts: Vec<Alert> = get_json(&http, &alerts_url)
            .await
            .and_then(|body| body["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(Alert::from_json)
            .collect();
        let firing: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| a.name() == "KubePodCrashLooping" && a.state == "firing")
            .collect();
        if !firing.is_empty() {
            break firing;
        }
        assert!(
            Instant::now() < deadline,
            "KubePodCrashLooping did not fire in vmalert within 90 s:\n{}",
            vmalert.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(firing.len(), 1, "one crash-looping container: {firing:?}");
    assert!(
        firing[0].has(&[
            ("namespace", SCENARIOS),
            ("pod", "crashloop"),
            ("container", "app"),
            ("job", "kube-state-metrics"),
            ("severity", "warning"),
        ]),
        "{firing:?}"
    );
    assert!(!vm.exited(), "victoria-metrics exited:\n{}", vm.log());
}
