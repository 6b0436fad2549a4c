//! High availability: replicas of the real binary elect a leader on a Lease in the emulator
//! (whose updates conflict as the API server's do) and push OTLP to a real gRPC OTLP receiver.
//! Exactly one identity pushes per interval; the leader killed, terminated or stopped is
//! replaced within the bounds client-go's timings give, and never two push in one interval.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kube_emulator::{Emulator, GeneratedCluster, ServerHandle};
use kube_state_otel::demo::receiver::collected_at;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

mod harness;
use harness::{Exporter, start_emulator, value, wait_for_within};

/// Short timings, in client-go's proportions (15 s / 10 s / 2 s), so failovers fit a test.
const LEASE: Duration = Duration::from_secs(3);
const RENEW_DEADLINE: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(500);
const INTERVAL: Duration = Duration::from_secs(1);

/// One request as it arrived: when, from which replica (`service.instance.id`), and when its
/// points were collected (what two pushers would duplicate is an interval's collection).
#[derive(Clone, Debug)]
struct Push {
    at: SystemTime,
    collected: SystemTime,
    replica: String,
}

/// The time of the request's first point.
fn collected(request: &ExportMetricsServiceRequest) -> Option<SystemTime> {
    collected_at(request).map(|nanos| UNIX_EPOCH + Duration::from_nanos(nanos))
}

#[derive(Default)]
struct Receiver {
    pushes: Mutex<Vec<Push>>,
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let at = SystemTime::now();
        let replica = request
            .get_ref()
            .resource_metrics
            .iter()
            .flat_map(|rm| rm.resource.iter().flat_map(|r| r.attributes.iter()))
            .find(|kv| kv.key == "service.instance.id")
            .and_then(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                },
            )
            .unwrap_or_default();
        self.pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Push {
                at,
                collected: collected(request.get_ref()).unwrap_or(at),
                replica,
            });
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

struct Cluster {
    server: ServerHandle,
    receiver: Arc<Receiver>,
    endpoint: String,
}

async fn cluster() -> Cluster {
    let emulator = Emulator::with_cluster(&GeneratedCluster::new(2, 3, 11));
    let server = start_emulator(emulator).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let receiver = Arc::new(Receiver::default());
    let service = MetricsServiceServer::from_arc(receiver.clone());
    tokio::spawn(async move {
        let _ = Server::builder()
            .serve_with_incoming(service, TcpIncoming::from(listener))
            .await;
    });
    Cluster {
        server,
        receiver,
        endpoint,
    }
}

impl Cluster {
    fn replica(&self, name: &str, extra: &[&str]) -> Exporter {
        let (lease, deadline, retry, interval) = (
            format!("{}ms", LEASE.as_millis()),
            format!("{}ms", RENEW_DEADLINE.as_millis()),
            format!("{}ms", RETRY.as_millis()),
            format!("{}ms", INTERVAL.as_millis()),
        );
        let mut args = vec![
            "--leader-election",
            "--leader-election-namespace",
            "monitoring",
            "--leader-election-lease-duration",
            &lease,
            "--leader-election-renew-deadline",
            &deadline,
            "--leader-election-retry-period",
            &retry,
            "--otlp-endpoint",
            &self.endpoint,
            "--otlp-interval",
            &interval,
        ];
        args.extend(extra);
        let attributes = format!("service.instance.id={name}");
        Exporter::start_with_env(
            &self.server.url(),
            &args,
            &[("OTEL_RESOURCE_ATTRIBUTES", &attributes)],
        )
    }

    fn pushes(&self) -> Vec<Push> {
        self.receiver
            .pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The replica of the last push.
    fn pusher(&self) -> Option<String> {
        self.pushes().last().map(|p| p.replica.clone())
    }

    /// Waits for a push from a replica other than `not` after `since`; its replica and when.
    async fn next_pusher(
        &self,
        not: &str,
        since: SystemTime,
        within: Duration,
    ) -> (String, SystemTime) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(push) = self
                .pushes()
                .into_iter()
                .find(|p| p.at > since && p.replica != not)
            {
                return (push.replica, push.at);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no replica but {not} pushed within {within:?}: {:?}",
            self.pushes()
        );
    }

    /// Every interval (a wall-clock multiple of it, as leaders push) had its points collected
    /// by at most one replica.
    fn assert_one_pusher_per_interval(&self) {
        let mut by_interval: BTreeMap<u128, BTreeSet<String>> = BTreeMap::new();
        for push in self.pushes() {
            let since_epoch = push
                .collected
                .duration_since(UNIX_EPOCH)
                .expect("after 1970");
            let interval = since_epoch.as_nanos() / INTERVAL.as_nanos();
            by_interval
                .entry(interval)
                .or_default()
                .insert(push.replica);
        }
        let doubled: Vec<_> = by_interval.iter().filter(|(_, r)| r.len() > 1).collect();
        assert!(
            doubled.is_empty(),
            "intervals with two pushers: {doubled:?}"
        );
    }
}

/// The replica named `name` among `replicas`.
fn named<'a>(replicas: &'a mut [(String, Exporter)], name: &str) -> &'a mut Exporter {
    &mut replicas
        .iter_mut()
        .find(|(n, _)| n == name)
        .expect("a replica of that name")
        .1
}

async fn start_replicas(cluster: &Cluster, count: usize) -> Vec<(String, Exporter)> {
    let replicas: Vec<(String, Exporter)> = (0..count)
        .map(|i| {
            let name = format!("replica-{i}");
            let exporter = cluster.replica(&name, &[]);
            (name, exporter)
        })
        .collect();
    wait_for_within("a first push", Duration::from_secs(20), || async {
        cluster.pusher().is_some()
    })
    .await;
    replicas
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_pusher_per_interval_and_the_leader_is_visible() {
    let cluster = cluster().await;
    let replicas = start_replicas(&cluster, 3).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pushes = cluster.pushes();
    let pushers: BTreeSet<&str> = pushes.iter().map(|p| p.replica.as_str()).collect();
    assert_eq!(pushers.len(), 1, "one leader, no flapping: {pushers:?}");
    let leader = cluster.pusher().expect("a leader");
    let intervals: BTreeSet<u128> = pushes
        .iter()
        .map(|p| {
            p.collected
                .duration_since(UNIX_EPOCH)
                .expect("time")
                .as_nanos()
                / INTERVAL.as_nanos()
        })
        .collect();
    assert!(intervals.len() >= 4, "a push every interval: {intervals:?}");
    cluster.assert_one_pusher_per_interval();
    let mut holders = BTreeSet::new();
    for (name, exporter) in &replicas {
        let telemetry = exporter.telemetry().await;
        let leading = value(
            &telemetry,
            "kube_state_otel_leader",
            &["lease=\"kube-state-otel\""],
        );
        let expected = if *name == leader { 1.0 } else { 0.0 };
        assert_eq!(leading, Some(expected), "{name}");
        // Hot standby: every replica is ready with the whole state.
        assert!(exporter.ready().await, "{name}");
        let (_, readyz) = exporter
            .get(exporter.port, "/readyz")
            .await
            .expect("readyz");
        let role = if *name == leader {
            "leader"
        } else {
            "follower"
        };
        let line = format!("lease monitoring/kube-state-otel: {role}, held by ");
        let holder = readyz
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{name}: {readyz}"));
        holders.insert(holder.to_string());
        assert!(
            exporter.metrics().await.contains("kube_pod_info{"),
            "{name}"
        );
    }
    assert_eq!(
        holders.len(),
        1,
        "every replica sees the same holder: {holders:?}"
    );
}

/// Two replicas, once one of them leads, and the leader's name.
async fn two_replicas() -> (Cluster, Vec<(String, Exporter)>, String) {
    let cluster = cluster().await;
    let replicas = start_replicas(&cluster, 2).await;
    let leader = cluster.pusher().expect("a leader");
    (cluster, replicas, leader)
}

/// How soon a follower pushes after the leader dies or freezes: a lease after it last saw the
/// record change (at most a jittered retry after the last renewal), its next try within a
/// jittered retry, then the next interval.
fn failover_bound() -> Duration {
    LEASE + RETRY.mul_f64(2.4) + INTERVAL
}

/// Sends `signal` to the leader; the replica that pushes next and how long after the signal.
async fn failover(
    cluster: &Cluster,
    replicas: &mut [(String, Exporter)],
    leader: &str,
    signal: &str,
) -> (String, Duration) {
    let sent = SystemTime::now();
    named(replicas, leader).signal(signal);
    let (next, at) = cluster
        .next_pusher(leader, sent, failover_bound() + Duration::from_secs(2))
        .await;
    (next, at.duration_since(sent).expect("later"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_a_lease_and_an_interval() {
    let (cluster, mut replicas, leader) = two_replicas().await;
    let (next, gap) = failover(&cluster, &mut replicas, &leader, "KILL").await;
    let bound = failover_bound();
    eprintln!("SIGKILL: {next} pushed {gap:?} after the leader was killed (bound {bound:?})");
    assert!(gap <= bound, "{gap:?} > {bound:?}");
    cluster.assert_one_pusher_per_interval();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_leader_releases_the_lease_and_exits() {
    let (cluster, mut replicas, leader) = two_replicas().await;
    let terminated = SystemTime::now();
    let started = Instant::now();
    let exporter = named(&mut replicas, &leader);
    exporter.signal("TERM");
    let code = exporter
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits");
    assert_eq!(code, Some(0), "{}", exporter.log());
    let exited = started.elapsed();
    assert!(
        exporter.log().contains("leader lease released"),
        "{}",
        exporter.log()
    );
    let (next, at) = cluster
        .next_pusher(&leader, terminated, Duration::from_secs(5))
        .await;
    let gap = at.duration_since(terminated).expect("later");
    eprintln!("SIGTERM: exited after {exited:?}; {next} pushed {gap:?} after");
    assert!(gap <= Duration::from_secs(3), "{gap:?}");
    cluster.assert_one_pusher_per_interval();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_is_replaced_and_does_not_push_after_it_resumes() {
    let (cluster, mut replicas, leader) = two_replicas().await;
    let (next, _) = failover(&cluster, &mut replicas, &leader, "STOP").await;
    // Stopped well past its lease, then resumed: it must not push on stale leadership.
    tokio::time::sleep(LEASE).await;
    let resumed = SystemTime::now();
    named(&mut replicas, &leader).signal("CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let late: Vec<Push> = cluster
        .pushes()
        .into_iter()
        .filter(|p| p.at > resumed && p.replica == leader)
        .collect();
    assert!(
        late.is_empty(),
        "the old leader pushed after resuming: {late:?}"
    );
    assert_eq!(cluster.pusher().as_deref(), Some(next.as_str()));
    cluster.assert_one_pusher_per_interval();
    let old = named(&mut replicas, &leader);
    assert!(old.running(), "{}", old.log());
    let telemetry = old.telemetry().await;
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_leader",
            &["lease=\"kube-state-otel\""]
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_can_answer_metrics_without_series() {
    let cluster = cluster().await;
    let replicas: Vec<Exporter> = (0..2)
        .map(|i| cluster.replica(&format!("replica-{i}"), &["--metrics-leader-only"]))
        .collect();
    wait_for_within("a leader", Duration::from_secs(20), || async {
        cluster.pusher().is_some()
    })
    .await;
    let leader = cluster.pusher().expect("a leader");
    for (i, exporter) in replicas.iter().enumerate() {
        exporter.wait_ready().await;
        let (code, body) = exporter
            .get(exporter.port, "/metrics")
            .await
            .expect("scrape");
        assert_eq!(code, 200);
        if format!("replica-{i}") == leader {
            assert!(
                body.contains("kube_pod_info{"),
                "the leader serves every series"
            );
        } else {
            assert!(!body.contains("kube_"), "a follower serves none: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_without_leader_election_exits_cleanly() {
    let cluster = cluster().await;
    let mut exporter = Exporter::start(&cluster.server.url(), &[]);
    exporter.wait_ready().await;
    exporter.signal("TERM");
    let code = exporter
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits");
    assert_eq!(code, Some(0), "{}", exporter.log());
}

/// Each pipeline and each hash shard elects on a Lease of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pipeline_and_shard_elects_on_its_own_lease() {
    let cluster = cluster().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    let ports = [(); 4].map(|()| harness::free_port());
    let pipeline = |name: &str, resources: &str, (port, telemetry): (u16, u16)| {
        format!(
            "- name: {name}\n  resources: [{resources}]\n  leader_election: {{enabled: true}}\n  \
             exporters: {{prometheus: {{host: 127.0.0.1, port: {port}, telemetry_host: 127.0.0.1, \
             telemetry_port: {telemetry}}}}}\n"
        )
    };
    let text = format!(
        "pipelines:\n{}{}",
        pipeline("Pods", "pods", (ports[0], ports[1])),
        pipeline("rest", "nodes", (ports[2], ports[3]))
    );
    std::fs::write(&path, text).expect("config written");
    let config = path.to_str().expect("utf-8 path");
    let exporter = Exporter::start_with_args(
        &cluster.server.url(),
        (ports[0], ports[1]),
        &[
            "--config",
            config,
            "--shard",
            "1",
            "--total-shards",
            "2",
            "--leader-election-namespace",
            "monitoring",
        ],
    );
    exporter.wait_ready().await;
    for lease in [
        "kube-state-otel-pods-shard-1-of-2",
        "kube-state-otel-rest-shard-1-of-2",
    ] {
        wait_for_within(lease, Duration::from_secs(10), || async {
            cluster
                .server
                .emulator()
                .get("leases", Some("monitoring"), lease)
                .ok()
                .flatten()
                .is_some_and(|l| {
                    l["spec"]["holderIdentity"]
                        .as_str()
                        .is_some_and(|h| !h.is_empty())
                })
        })
        .await;
    }
    let telemetry = exporter.telemetry().await;
    assert_eq!(
        value(
            &telemetry,
            "kube_state_otel_leader",
            &["lease=\"kube-state-otel-pods-shard-1-of-2\""]
        ),
        Some(1.0)
    );
}
