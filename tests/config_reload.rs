//! `--config` reloaded while running, as a ConfigMap volume updates it (the `..data` symlink
//! swap): kinds whose settings did not change are neither listed nor watched again (the
//! emulator's request counts prove it), changed ones are relisted, added ones start, removed
//! ones stop with their series, the OTLP push follows its settings; an invalid file, or one
//! changing what only a restart applies, keeps the running config, and kube-state-metrics'
//! config self-metrics say so.

use std::time::Duration;

use kube_emulator::{Emulator, GeneratedCluster};

mod harness;
use harness::{ConfigMapVolume, Exporter, poll_within, samples, start_emulator};

mod rotel;
use rotel::Rotel;

const RELOAD: Duration = Duration::from_secs(20);

fn config(body: &str) -> String {
    format!("pipelines:\n- name: main\n{body}")
}

/// kube-state-metrics' config self-metrics for the `--config` file `path`.
struct SelfMetrics<'a> {
    exporter: &'a Exporter,
    filename: String,
}

/// The exporter, ready, on `--config` mounted as a ConfigMap volume holding a pipeline of `body`.
async fn start(server: &str, body: &str) -> (ConfigMapVolume, Exporter) {
    let volume = ConfigMapVolume::new(&config(body));
    let path = volume.path();
    let exporter = Exporter::start(server, &["--config", path.to_str().expect("utf-8")]);
    exporter.wait_ready().await;
    (volume, exporter)
}

impl<'a> SelfMetrics<'a> {
    fn of(exporter: &'a Exporter, volume: &ConfigMapVolume) -> Self {
        SelfMetrics {
            exporter,
            filename: format!("filename=\"{}\"", volume.path().display()),
        }
    }
}

impl SelfMetrics<'_> {
    async fn value(&self, family: &str) -> Option<f64> {
        let telemetry = self.exporter.telemetry().await;
        harness::value(&telemetry, family, &["type=\"config\"", &self.filename])
    }

    async fn successful(&self) -> Option<f64> {
        self.value("kube_state_metrics_last_config_reload_successful")
            .await
    }

    async fn hash(&self) -> Option<f64> {
        self.value("kube_state_metrics_config_hash").await
    }

    /// Waits until a version other than the one hashed `before` is in force; its hash.
    async fn wait_applied(&self, before: f64) -> f64 {
        let applied = poll_within(RELOAD, || async {
            self.successful().await == Some(1.0) && self.hash().await != Some(before)
        })
        .await;
        assert!(applied, "never reloaded:\n{}", self.exporter.log());
        self.hash().await.expect("a config hash")
    }

    /// Waits until `refusals` reloads have been refused in all; the refusal must keep the
    /// version hashed `in_force`.
    async fn wait_refused(&self, refusals: usize, in_force: f64) {
        let refused = poll_within(RELOAD, || async {
            self.exporter.log().matches(REFUSED).count() == refusals
        })
        .await;
        assert!(refused, "never refused:\n{}", self.exporter.log());
        assert_eq!(self.successful().await, Some(0.0));
        assert_eq!(
            self.hash().await,
            Some(in_force),
            "the hash of the config in force"
        );
    }
}

const REFUSED: &str = "config not reloaded; the running one stays in force";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_config_restarts_only_the_kinds_it_changes() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let (mut volume, exporter) = start(&emulator.url(), "  resources: [pods, nodes]\n").await;
    let self_metrics = SelfMetrics::of(&exporter, &volume);
    assert_eq!(self_metrics.successful().await, Some(1.0));
    let first_hash = self_metrics.hash().await.expect("a config hash");
    let stats = |resource: &str| emulator.emulator().stats().get("exporter", resource);
    let m = exporter.metrics().await;
    assert_eq!(samples(&m, "kube_pod_info").len(), 6);
    assert_eq!(samples(&m, "kube_node_info").len(), 2);
    assert!(samples(&m, "kube_deployment_created").is_empty());
    let (pods_before, nodes_before) = (stats("pods"), stats("nodes"));
    assert_eq!(stats("deployments.apps").list_requests, 0);

    // Deployments added, pods narrowed to one node's by a selector; nodes untouched.
    let pods = emulator.emulator().list("pods").expect("pods listed");
    let node = pods[0]["spec"]["nodeName"]
        .as_str()
        .expect("scheduled")
        .to_string();
    let running = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node.as_str())
        .count();
    assert_eq!(running, 3, "one node's pods");
    let narrowed = |resources: &str| {
        config(&format!(
            "  resources: [{resources}]\n  selectors:\n    pods: {{field_selector: spec.nodeName={node}}}\n"
        ))
    };
    volume.update(&narrowed("pods, nodes, deployments"));
    let second_hash = self_metrics.wait_applied(first_hash).await;
    let applied = poll_within(RELOAD, || async {
        let m = exporter.metrics().await;
        samples(&m, "kube_pod_info").len() == running
            && !samples(&m, "kube_deployment_created").is_empty()
    })
    .await;
    assert!(applied, "{}\n{}", exporter.metrics().await, exporter.log());
    let m = exporter.metrics().await;
    assert_eq!(samples(&m, "kube_node_info").len(), 2);
    let nodes_after = stats("nodes");
    assert_eq!(
        nodes_after.list_requests, nodes_before.list_requests,
        "nodes relisted"
    );
    assert_eq!(
        nodes_after.watch_requests, nodes_before.watch_requests,
        "nodes rewatched"
    );
    let pods_after = stats("pods");
    assert_eq!(
        pods_after.list_requests,
        pods_before.list_requests + 1,
        "pods listed again once"
    );
    assert_eq!(stats("deployments.apps").list_requests, 1);
    assert!(
        exporter
            .log()
            .contains("settings changed; listing it again")
    );

    // Nodes dropped: their series go, the others are not listed again.
    volume.update(&narrowed("pods, deployments"));
    let in_force = self_metrics.wait_applied(second_hash).await;
    let dropped = poll_within(RELOAD, || async {
        samples(&exporter.metrics().await, "kube_node_info").is_empty()
    })
    .await;
    assert!(dropped, "{}", exporter.log());
    let m = exporter.metrics().await;
    assert_eq!(samples(&m, "kube_pod_info").len(), running);
    assert!(!samples(&m, "kube_deployment_created").is_empty());
    assert_eq!(stats("pods").list_requests, pods_after.list_requests);
    assert_eq!(stats("deployments.apps").list_requests, 1);
    let (status, body) = exporter
        .get(exporter.port, "/readyz")
        .await
        .expect("/readyz");
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<&str> = body
        .lines()
        .filter(|l| !l.starts_with("sync: "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(kinds, ["deployments", "pods"], "{body}");

    // Invalid: an unknown key. The running config stays, series and all.
    volume.update(&config("  resources: [pods]\n  resourcez: [nodes]\n"));
    self_metrics.wait_refused(1, in_force).await;
    assert!(exporter.log().contains("resourcez"), "{}", exporter.log());
    // An unknown resource is refused too.
    volume.update(&config("  resources: [pods, widgets]\n"));
    self_metrics.wait_refused(2, in_force).await;
    assert!(exporter.log().contains("widgets"), "{}", exporter.log());
    // A change only a restart applies (leader election) is refused, naming the key.
    volume.update(&config(
        "  resources: [pods]\n  leader_election: {enabled: true}\n",
    ));
    self_metrics.wait_refused(3, in_force).await;
    assert!(
        exporter
            .log()
            .contains("leader_election.enabled changed; only a restart applies that"),
        "{}",
        exporter.log()
    );
    let m = exporter.metrics().await;
    assert_eq!(samples(&m, "kube_pod_info").len(), running);
    assert!(!samples(&m, "kube_deployment_created").is_empty());

    // Valid again: applied.
    volume.update(&config("  resources: [pods, deployments]\n"));
    self_metrics.wait_applied(in_force).await;
    let all_pods = poll_within(RELOAD, || async {
        samples(&exporter.metrics().await, "kube_pod_info").len() == 6
    })
    .await;
    assert!(all_pods, "{}", exporter.log());
    assert_eq!(
        stats("deployments.apps").list_requests,
        1,
        "deployments relisted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_starts_moves_and_stops_the_otlp_push() {
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(1, 2, 5))).await;
    let (first, second) = (Rotel::start(true).await, Rotel::start(true).await);
    let otlp = |rotel: &Rotel| {
        config(&format!(
            "  resources: [pods]\n  exporters:\n    otlp: {{endpoint: \"{}\", interval: 1s}}\n",
            rotel.endpoint("grpc")
        ))
    };
    let (mut volume, exporter) = start(&emulator.url(), "  resources: [pods]\n").await;
    let self_metrics = SelfMetrics::of(&exporter, &volume);
    let pushes = |rotel: &Rotel| rotel.output().matches("-> Name: kube_pod_info\n").count();
    let hash = self_metrics.hash().await.expect("a config hash");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pushes(&first), 0, "no OTLP before it is configured");

    volume.update(&otlp(&first));
    let hash = self_metrics.wait_applied(hash).await;
    let arrived = poll_within(RELOAD, || async { pushes(&first) > 0 }).await;
    assert!(arrived, "not at the first receiver:\n{}", exporter.log());
    let telemetry = exporter.telemetry().await;
    assert!(
        telemetry.contains("kube_state_otel_otlp_"),
        "OTLP telemetry once pushing: {telemetry}"
    );

    // Moved to the second receiver: the first gets nothing more.
    volume.update(&otlp(&second));
    let hash = self_metrics.wait_applied(hash).await;
    let arrived = poll_within(RELOAD, || async { pushes(&second) > 0 }).await;
    assert!(arrived, "not at the second receiver:\n{}", exporter.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = pushes(&first);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pushes(&first), settled, "the old push still runs");
    // The pods were listed once through it all.
    assert_eq!(
        emulator
            .emulator()
            .stats()
            .get("exporter", "pods")
            .list_requests,
        1
    );

    // OTLP removed: pushing stops.
    volume.update(&config("  resources: [pods]\n"));
    self_metrics.wait_applied(hash).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = pushes(&second);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pushes(&second), settled, "pushing after OTLP was removed");
    assert!(exporter.log().contains("OTLP push stopped"));
}
