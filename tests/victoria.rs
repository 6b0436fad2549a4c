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

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube_emulator::{Emulator, GeneratedCluster};
use kube_state_otel::pipeline::OTLP_OBJECTS_PER_SLICE;
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

/// VictoriaMetrics on a free port, storing under `dir`, healthy; and its URL.
async fn start_victoria_metrics(dir: &Path) -> (Process, String) {
    // Queries see the newest samples at once (the default hides the last 30 s), so the tests
    // do not wait for them.
    let vm_port = free_port();
    let vm_url = format!("http://127.0.0.1:{vm_port}");
    let mut vm = Process::start(
        "victoria-metrics",
        &[
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            format!("-storageDataPath={}", dir.join("vm").display()),
            "-retentionPeriod=1d".to_string(),
            "-search.latencyOffset=0s".to_string(),
            "-search.disableCache".to_string(),
        ],
        dir,
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
    (vm, vm_url)
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

    let (mut vm, vm_url) = start_victoria_metrics(dir.path()).await;
    let http = reqwest::Client::new();

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

/// Series of each `kube_pod_*` metric in a Prometheus text body.
fn pod_series_per_metric(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("kube_pod_")) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        *counts.entry(name.to_string()).or_insert(0) += 1;
    }
    counts
}

/// An OTLP collection reads each kind's objects in slices ([`OTLP_OBJECTS_PER_SLICE`]), so a
/// metric of a kind with more objects comes as several `Metric`s in one request. A real
/// receiver must still store every series once: VictoriaMetrics holds as many series of each
/// `kube_pod_*` metric as the exporter's own `/metrics` shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_in_slices_arrives_whole_in_victoria_metrics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = GeneratedCluster::new(40, 30, 7);
    assert!(
        cluster.pod_count() > 2 * OTLP_OBJECTS_PER_SLICE,
        "{} pods make at least three slices",
        cluster.pod_count()
    );
    let emulator = start_emulator(Emulator::with_cluster(&cluster)).await;
    let (mut vm, vm_url) = start_victoria_metrics(dir.path()).await;
    let exporter = Exporter::start(
        &emulator.url(),
        &[
            "--otlp-protocol",
            "http/protobuf",
            "--otlp-endpoint",
            &format!("{vm_url}/opentelemetry"),
            "--otlp-interval",
            "1s",
        ],
    );
    exporter.wait_ready().await;
    let want = pod_series_per_metric(&exporter.metrics().await);
    assert_eq!(
        want.get("kube_pod_info"),
        Some(&(cluster.pod_count() as u64)),
        "one kube_pod_info per pod in the scrape"
    );
    assert!(want.len() > 20, "kube_pod_* metrics scraped: {want:?}");

    let http = reqwest::Client::new();
    let query = format!(
        "{vm_url}/api/v1/query?query=count%20by%20(__name__)(%7B__name__%3D~%22kube_pod_.%2B%22%7D)"
    );
    let stored = || async {
        let body = get_json(&http, &query).await.unwrap_or_default();
        let result = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        result
            .iter()
            .filter_map(|r| {
                let name = r["metric"]["__name__"].as_str()?.to_string();
                let count = r["value"][1].as_str()?.parse().ok()?;
                Some((name, count))
            })
            .collect::<BTreeMap<String, u64>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = stored().await;
        if got == want {
            break;
        }
        assert!(!vm.exited(), "victoria-metrics exited:\n{}", vm.log());
        assert!(
            Instant::now() < deadline,
            "series per metric in VictoriaMetrics differ from the scrape's:\n\
             only in the scrape or different: {:?}\nonly in VictoriaMetrics or different: {:?}",
            want.iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .collect::<Vec<_>>(),
            got.iter()
                .filter(|(k, v)| want.get(*k) != Some(v))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
