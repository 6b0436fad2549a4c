//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics
//! (`tools/leaderelection`): acquire by create, or by update with the observed
//! `resourceVersion` (a 409 means another replica won); renew every retry period; a leader
//! that has not renewed within the renew deadline stops acting as leader, which is before any
//! follower may take the lease (it waits a lease duration from when it last saw the record
//! change, by its own clock); on shutdown the lease is released so a follower takes over at
//! once.
//!
//! Every replica watches and keeps its state (hot standby); only what must not be duplicated
//! (OTLP pushes) asks [`Leadership::is_leader`].

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};

use crate::config::Cli;

/// The verbs election needs on `coordination.k8s.io` `leases` in the Lease's namespace: the
/// calls below make exactly these (`get`, `create`, `replace` = update), as client-go's do.
/// The Roles under `deploy/` grant these and no more (`tests/deploy.rs`, `tests/helm.rs`).
pub const LEASE_VERBS: &[&str] = &["get", "create", "update"];

/// Which Lease, who this replica is, and client-go's timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    /// How long followers wait after the record last changed before taking the lease.
    pub lease_duration: Duration,
    /// How long a leader keeps acting without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
}

/// Errors in the timings, as client-go's `NewLeaderElector` checks them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "--leader-election-lease-duration ({0:?}) must be longer than --leader-election-renew-deadline ({1:?})"
    )]
    LeaseNotLongerThanDeadline(Duration, Duration),
    #[error(
        "--leader-election-renew-deadline ({0:?}) must be longer than 1.2 × --leader-election-retry-period ({1:?})"
    )]
    DeadlineNotLongerThanRetry(Duration, Duration),
    #[error(
        "--leader-election-lease-name {0:?} is not a valid Lease name (lower-case letters, digits, '-' and '.', at most 253)"
    )]
    BadName(String),
}

impl LeaderConfig {
    /// The Lease a pipeline elects on with these flags: named after the pipeline and its hash
    /// shard (`(ordinal, total)` when split), in `--leader-election-namespace`, else the pod's,
    /// else `default_namespace` (the client's: the service account's in a pod, the kubeconfig
    /// context's outside).
    pub fn from_cli(
        cli: &Cli,
        pipeline: Option<&str>,
        shard: Option<(u32, u32)>,
        default_namespace: &str,
    ) -> Self {
        let namespace = [&cli.leader_election_namespace, &cli.pod_namespace]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty())
            .map_or(default_namespace, String::as_str)
            .to_string();
        LeaderConfig {
            namespace,
            lease_name: lease_name(&cli.leader_election_lease_name, pipeline, shard),
            identity: identity(cli.pod.as_deref()),
            lease_duration: cli.leader_election_lease_duration,
            renew_deadline: cli.leader_election_renew_deadline,
            retry_period: cli.leader_election_retry_period,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::LeaseNotLongerThanDeadline(
                self.lease_duration,
                self.renew_deadline,
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER * self.retry_period.as_secs_f64() {
            return Err(ConfigError::DeadlineNotLongerThanRetry(
                self.renew_deadline,
                self.retry_period,
            ));
        }
        if !is_dns_subdomain(&self.lease_name) {
            return Err(ConfigError::BadName(self.lease_name.clone()));
        }
        Ok(())
    }
}

/// client-go's `JitterFactor`: a follower's retry waits up to 1.2 retry periods.
const JITTER: f64 = 1.2;

/// How long releasing the lease on shutdown may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// A Lease name: a DNS subdomain.
fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .zip(name.bytes().last())
            .is_some_and(|(first, last)| {
                first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
            })
}

/// `base`, then the pipeline's name and the hash shard, so each elects on its own lease;
/// characters a Lease name cannot have become `-`.
pub fn lease_name(base: &str, pipeline: Option<&str>, shard: Option<(u32, u32)>) -> String {
    let mut name = base.to_string();
    if let Some(pipeline) = pipeline {
        name.push('-');
        name.push_str(pipeline);
    }
    if let Some((ordinal, total)) = shard {
        name.push_str(&format!("-shard-{ordinal}-of-{total}"));
    }
    let name: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// This replica's identity: the pod's name (or the host's) and a random suffix, so a restarted
/// pod of the same name is a new candidate.
pub fn identity(pod: Option<&str>) -> String {
    let host = std::env::var("HOSTNAME").ok();
    let base = pod
        .filter(|p| !p.is_empty())
        .or(host.as_deref().filter(|h| !h.is_empty()))
        .unwrap_or("kube-state-otel");
    let suffix = RandomState::new().hash_one(Instant::now()) as u32;
    format!("{base}_{suffix:08x}")
}

/// Whether this replica may act as leader now. Without leader election it always may.
#[derive(Clone)]
pub struct Leadership(Option<Arc<State>>);

struct State {
    config: LeaderConfig,
    /// Leading until this instant unless renewed; `None` when following.
    valid_until: Mutex<Option<Instant>>,
    /// Set on shutdown: never lead again.
    stopped: AtomicBool,
    /// The holder as last seen in the Lease, for `/readyz`.
    holder: Mutex<Option<String>>,
    /// The Lease's `spec.leaseTransitions` as last seen: how often its holder changed.
    transitions: Mutex<Option<i32>>,
}

impl Leadership {
    /// No election: this replica always acts.
    pub fn always() -> Self {
        Leadership(None)
    }

    /// Starts electing on `config`'s Lease; follows until it wins.
    pub fn elect(client: Client, config: LeaderConfig) -> Self {
        let state = Arc::new(State {
            config,
            valid_until: Mutex::new(None),
            stopped: AtomicBool::new(false),
            holder: Mutex::new(None),
            transitions: Mutex::new(None),
        });
        let elector = Elector {
            api: Api::namespaced(client, &state.config.namespace),
            state: state.clone(),
            observed: None,
        };
        tokio::spawn(tracing::Instrument::in_current_span(elector.run()));
        Leadership(Some(state))
    }

    /// Leading, and renewed within the renew deadline. Checked by the clock, not only by the
    /// renew loop, so a process that was stopped (SIGSTOP) past its deadline does not act on
    /// stale leadership before the loop notices.
    pub fn is_leader(&self) -> bool {
        match &self.0 {
            None => true,
            Some(state) => {
                !state.stopped.load(Ordering::Acquire)
                    && lock(&state.valid_until).is_some_and(|until| Instant::now() < until)
            }
        }
    }

    /// Whether this replica takes part in an election (else it always acts).
    pub fn is_elected(&self) -> bool {
        self.0.is_some()
    }

    /// The Lease (`namespace/name`) and its holder as last seen, when electing.
    pub fn status(&self) -> Option<(String, Option<String>)> {
        let state = self.0.as_ref()?;
        let lease = format!("{}/{}", state.config.namespace, state.config.lease_name);
        Some((lease, lock(&state.holder).clone()))
    }

    /// How often the Lease's holder changed (`spec.leaseTransitions`), as last read, when
    /// electing.
    pub fn lease_transitions(&self) -> Option<u64> {
        let state = self.0.as_ref()?;
        let transitions = (*lock(&state.transitions))?;
        u64::try_from(transitions).ok()
    }

    /// The Lease's name, when electing (the `lease` label of `kube_state_otel_leader`).
    pub fn lease_name(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.config.lease_name.as_str())
    }

    /// Stops acting as leader at once and, if leading, releases the Lease (holder cleared,
    /// duration 1 s: client-go's `ReleaseOnCancel`) so a follower takes over without waiting
    /// for it to expire. Bounded by a timeout.
    pub async fn release(&self, client: Client) {
        let Some(state) = &self.0 else { return };
        state.stopped.store(true, Ordering::Release);
        let was_leading = lock(&state.valid_until).take().is_some();
        if !was_leading {
            return;
        }
        let api: Api<Lease> = Api::namespaced(client, &state.config.namespace);
        let released = tokio::time::timeout(RELEASE_TIMEOUT, release(&api, &state.config)).await;
        match released {
            Ok(Ok(())) => tracing::info!(lease = state.config.lease_name, "leader lease released"),
            Ok(Err(error)) => {
                tracing::warn!(lease = state.config.lease_name, %error, "releasing the leader lease failed; it expires by itself")
            }
            Err(_) => tracing::warn!(
                lease = state.config.lease_name,
                "releasing the leader lease timed out; it expires by itself"
            ),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Clears the holder if it is still this replica.
async fn release(api: &Api<Lease>, config: &LeaderConfig) -> Result<(), kube::Error> {
    let mut lease = api.get(&config.lease_name).await?;
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    let now = MicroTime(Timestamp::now());
    spec.holder_identity = Some(String::new());
    spec.lease_duration_seconds = Some(1);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    api.replace(&config.lease_name, &PostParams::default(), &lease)
        .await
        .map(drop)
}

/// The election loop of one replica.
struct Elector {
    api: Api<Lease>,
    state: Arc<State>,
    /// The Lease's spec as last seen and when (by this replica's monotonic clock).
    observed: Option<(LeaseSpec, Instant)>,
}

/// One attempt's outcome.
enum Attempt {
    /// This replica holds the lease as of the attempt's start.
    Holds,
    /// Another replica holds a valid lease, or won the race (409).
    Lost,
    /// The API server could not be asked.
    Failed(kube::Error),
}

impl Elector {
    async fn run(mut self) {
        let config = self.state.config.clone();
        loop {
            if self.state.stopped.load(Ordering::Acquire) {
                return;
            }
            let started = Instant::now();
            let attempt = self.try_acquire_or_renew().await;
            let leading = lock(&self.state.valid_until).is_some();
            match attempt {
                Attempt::Holds => {
                    if self.state.stopped.load(Ordering::Acquire) {
                        return;
                    }
                    *lock(&self.state.valid_until) = Some(started + config.renew_deadline);
                    if !leading {
                        tracing::info!(
                            lease = config.lease_name,
                            identity = config.identity,
                            "became leader"
                        );
                    }
                }
                Attempt::Lost if leading => self.step_down("another replica holds the lease"),
                Attempt::Failed(error) if leading => {
                    let expired =
                        lock(&self.state.valid_until).is_some_and(|until| Instant::now() >= until);
                    if expired {
                        self.step_down(&format!(
                            "could not renew within the renew deadline: {error}"
                        ));
                    } else {
                        tracing::debug!(%error, "renewing the leader lease failed; retrying");
                    }
                }
                Attempt::Failed(error) => {
                    tracing::debug!(%error, "acquiring the leader lease failed; retrying");
                }
                Attempt::Lost => {}
            }
            // A leader renews every retry period; a follower waits up to 1.2 of them
            // (client-go's jitter), so followers do not all ask at once.
            let wait = if lock(&self.state.valid_until).is_some() {
                config.retry_period
            } else {
                let jitter = RandomState::new().hash_one(Instant::now()) as f64 / u64::MAX as f64;
                config.retry_period.mul_f64(1.0 + (JITTER - 1.0) * jitter)
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn step_down(&self, why: &str) {
        *lock(&self.state.valid_until) = None;
        tracing::warn!(lease = self.state.config.lease_name, why, "stopped leading");
    }

    /// client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Attempt {
        let config = &self.state.config;
        let now = MicroTime(Timestamp::now());
        // The record holds whole seconds: rounded up, so followers never wait less.
        let seconds =
            config.lease_duration.as_secs() + u64::from(config.lease_duration.subsec_nanos() > 0);
        let duration = i32::try_from(seconds).unwrap_or(i32::MAX);
        let mut record = LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };
        let existing = match self.api.get_opt(&config.lease_name).await {
            Ok(existing) => existing,
            Err(error) => return Attempt::Failed(error),
        };
        // Released meanwhile (shutdown): taking the lease again would hold it until it expires.
        if self.state.stopped.load(Ordering::Acquire) {
            return Attempt::Lost;
        }
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.lease_name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(record.clone()),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => self.observe(record),
                Err(kube::Error::Api(status)) if status.code == 409 => Attempt::Lost,
                Err(error) => Attempt::Failed(error),
            };
        };
        let old = lease.spec.clone().unwrap_or_default();
        *lock(&self.state.holder) = old.holder_identity.clone().filter(|h| !h.is_empty());
        *lock(&self.state.transitions) = old.lease_transitions;
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != old) {
            self.observed = Some((old.clone(), Instant::now()));
        }
        let holder = old.holder_identity.as_deref().unwrap_or_default();
        let ours = holder == config.identity;
        if !holder.is_empty() && !ours && self.observed_valid() {
            return Attempt::Lost;
        }
        if ours {
            record.acquire_time = old.acquire_time.clone();
            record.lease_transitions = old.lease_transitions;
        } else {
            record.lease_transitions = Some(old.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        lease.spec = Some(record.clone());
        // `replace` sends the resourceVersion read above: a 409 means someone wrote first.
        match self
            .api
            .replace(&config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => self.observe(record),
            Err(kube::Error::Api(status)) if status.code == 409 => Attempt::Lost,
            Err(error) => Attempt::Failed(error),
        }
    }

    /// The observed record has not expired: a lease duration (the record's own) has not passed
    /// since it last changed.
    fn observed_valid(&self) -> bool {
        self.observed.as_ref().is_some_and(|(spec, seen)| {
            let seconds = u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0);
            seen.elapsed() < Duration::from_secs(seconds)
        })
    }

    /// This replica wrote `record`: it holds the lease as of now.
    fn observe(&mut self, record: LeaseSpec) -> Attempt {
        *lock(&self.state.holder) = record.holder_identity.clone();
        *lock(&self.state.transitions) = record.lease_transitions;
        self.observed = Some((record, Instant::now()));
        Attempt::Holds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaderConfig {
        LeaderConfig {
            namespace: "monitoring".into(),
            lease_name: "kube-state-otel".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    #[test]
    fn client_go_defaults_are_valid_and_inverted_timings_are_not() {
        assert_eq!(config().validate(), Ok(()));
        let inverted = LeaderConfig {
            renew_deadline: Duration::from_secs(15),
            ..config()
        };
        assert!(matches!(
            inverted.validate(),
            Err(ConfigError::LeaseNotLongerThanDeadline(..))
        ));
        let tight = LeaderConfig {
            retry_period: Duration::from_secs(9),
            ..config()
        };
        assert!(matches!(
            tight.validate(),
            Err(ConfigError::DeadlineNotLongerThanRetry(..))
        ));
        let bad = LeaderConfig {
            lease_name: "Bad_Name".into(),
            ..config()
        };
        assert!(matches!(bad.validate(), Err(ConfigError::BadName(_))));
    }

    #[test]
    fn lease_names_include_pipeline_and_shard_and_are_valid() {
        assert_eq!(lease_name("kube-state-otel", None, None), "kube-state-otel");
        let name = lease_name("kube-state-otel", Some("Pods_Only"), Some((1, 3)));
        assert_eq!(name, "kube-state-otel-pods-only-shard-1-of-3");
        assert!(is_dns_subdomain(&name));
    }

    #[test]
    fn the_namespace_is_the_flag_else_the_pods_else_the_clients() {
        use clap::Parser;
        let ns = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("kube-state-otel").chain(args.iter().copied()))
                    .expect("valid flags");
            LeaderConfig::from_cli(&cli, Some("default"), None, "from-client").namespace
        };
        assert_eq!(ns(&[]), "from-client");
        // An unset downward-API variable arrives empty: it does not count.
        assert_eq!(ns(&["--leader-election-namespace="]), "from-client");
        assert_eq!(ns(&["--pod-namespace=pods"]), "pods");
        let both = ["--leader-election-namespace=lease", "--pod-namespace=pods"];
        assert_eq!(ns(&both), "lease");
    }

    #[test]
    fn identities_differ_per_start() {
        let (a, b) = (identity(Some("pod-0")), identity(Some("pod-0")));
        assert!(a.starts_with("pod-0_") && b.starts_with("pod-0_"));
        assert_ne!(a, b);
    }

    fn leading_until(until: Option<Instant>) -> Leadership {
        Leadership(Some(Arc::new(State {
            config: config(),
            valid_until: Mutex::new(until),
            stopped: AtomicBool::new(false),
            holder: Mutex::new(None),
            transitions: Mutex::new(None),
        })))
    }

    #[test]
    fn lease_transitions_are_reported_once_read() {
        assert_eq!(Leadership::always().lease_transitions(), None);
        let leadership = leading_until(None);
        assert_eq!(leadership.lease_transitions(), None, "not read yet");
        if let Some(state) = &leadership.0 {
            *lock(&state.transitions) = Some(3);
        }
        assert_eq!(leadership.lease_transitions(), Some(3));
    }

    #[test]
    fn leadership_ends_at_the_renew_deadline_by_the_clock() {
        let now = Instant::now();
        assert!(leading_until(Some(now + Duration::from_secs(5))).is_leader());
        // Past the deadline (a process resumed after SIGSTOP): not leader, whatever the renew
        // loop has yet to notice.
        assert!(!leading_until(Some(now - Duration::from_millis(1))).is_leader());
        assert!(!leading_until(None).is_leader());
        let stopping = leading_until(Some(now + Duration::from_secs(5)));
        if let Some(state) = &stopping.0 {
            state.stopped.store(true, Ordering::Release);
        }
        assert!(!stopping.is_leader());
    }

    #[test]
    fn without_election_this_replica_always_acts() {
        assert!(Leadership::always().is_leader());
        assert_eq!(Leadership::always().status(), None);
    }
}
