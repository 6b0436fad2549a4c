//! Which of a pipeline's kinds the API server serves, kept current by re-reading discovery:
//! a kind that starts being served (a cluster upgrade, a feature gate turned on) gets its
//! watchers without a restart; one that stops being served loses them and its series. The
//! other kinds' watchers are never touched, so they do not relist.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::task::JoinHandle;

use super::{KindRuntime, Pipeline};
use crate::watch::discovery::{self, ApiResource};

/// First retry after a failed discovery; doubled up to the refresh interval.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Whether the API server serves a kind, as last seen by discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Before the first discovery answer: not ready yet.
    Unknown,
    Served,
    NotServed,
}

/// A kind's availability and the watch tasks it runs while served.
pub(super) struct ServedState(Mutex<(Availability, Vec<JoinHandle<()>>)>);

impl ServedState {
    pub(super) fn new() -> Self {
        ServedState(Mutex::new((Availability::Unknown, Vec::new())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Availability, Vec<JoinHandle<()>>)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn availability(&self) -> Availability {
        self.lock().0
    }
}

impl KindRuntime {
    /// Stops its watchers and drops its objects (after the watchers, so no late event refills
    /// the store).
    pub(super) async fn stop(&self) {
        let tasks = std::mem::take(&mut self.served.lock().1);
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.store.clear();
    }
}

impl KindRuntime {
    pub(super) fn api_resource(&self) -> ApiResource {
        ApiResource::new(
            self.kind.api_group(),
            self.kind.api_version(),
            self.kind.resource(),
        )
    }
}

impl Pipeline {
    /// Gives a new runtime the availability discovery last saw for its kind, starting its
    /// watchers when served (a replaced kind need not wait for the next discovery).
    pub(super) fn start_as(&self, k: &KindRuntime, availability: Availability, client: &Client) {
        let mut state = k.served.lock();
        state.0 = availability;
        if availability == Availability::Served {
            state.1 = self.spawn_watchers(k, client);
        }
    }

    /// Reads discovery, starts the watchers of the kinds the API server serves, and re-reads
    /// discovery every `interval`, for the life of the process. Until discovery first answers
    /// the pipeline is not ready; if it fails then, every kind is watched (the watchers retry
    /// with backoff) and discovery is retried sooner.
    pub fn watch_served(self: &Arc<Self>, client: Client, interval: Duration) {
        let pipeline = self.clone();
        let run = async move {
            let mut retry = RETRY_AFTER_FAILURE.min(interval);
            loop {
                let started = std::time::Instant::now();
                let wanted: Vec<ApiResource> =
                    pipeline.kinds().iter().map(|k| k.api_resource()).collect();
                let discovered = discovery::discover(&client, &wanted).await;
                pipeline.telemetry.count_discovery(discovered.is_ok());
                let delay = match discovered {
                    Ok(served) => {
                        let served_kinds = wanted.iter().filter(|r| served.serves(r)).count();
                        tracing::debug!(
                            served = served_kinds,
                            kinds = wanted.len(),
                            elapsed = ?started.elapsed(),
                            "API discovery answered"
                        );
                        pipeline.apply_served(&client, |r| served.serves(r)).await;
                        retry = RETRY_AFTER_FAILURE.min(interval);
                        interval
                    }
                    Err(error) => {
                        let unknown = pipeline
                            .kinds()
                            .iter()
                            .any(|k| k.served.availability() == Availability::Unknown);
                        if unknown {
                            tracing::warn!(%error, "API discovery failed; watching every kind until it answers");
                            pipeline.apply_served(&client, |_| true).await;
                        } else {
                            tracing::warn!(%error, "API discovery failed; the kinds watched stay as they are");
                        }
                        let delay = retry;
                        retry = (retry * 2).min(interval);
                        delay
                    }
                };
                // A reconfiguration that adds kinds asks for discovery at once.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = pipeline.rediscover.notified() => {}
                }
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(run));
    }

    /// Starts the watchers of kinds that became served and stops those of kinds that are no
    /// longer served, dropping their objects.
    async fn apply_served(&self, client: &Client, serves: impl Fn(&ApiResource) -> bool) {
        let _lifecycle = self.lifecycle.lock().await;
        for k in self.kinds().iter() {
            let resource = k.api_resource();
            let now = if serves(&resource) {
                Availability::Served
            } else {
                Availability::NotServed
            };
            let stopped = {
                let mut state = k.served.lock();
                let before = state.0;
                if before == now {
                    continue;
                }
                state.0 = now;
                self.telemetry.set_served(
                    k.kind.resource(),
                    k.requested(),
                    now == Availability::Served,
                );
                log_change(k, &resource, before, now);
                if now == Availability::Served {
                    state.1 = self.spawn_watchers(k, client);
                    Vec::new()
                } else {
                    std::mem::take(&mut state.1)
                }
            };
            // Stopped before the store is cleared, so no late event refills it.
            for task in stopped {
                task.abort();
                let _ = task.await;
            }
            if now == Availability::NotServed {
                k.store.clear();
            }
        }
    }
}

/// One line per change: info for a default kind, a warning for one the user named.
fn log_change(k: &KindRuntime, api: &ApiResource, before: Availability, now: Availability) {
    let resource = k.kind.resource();
    let api = api.display();
    let message = match (before, now) {
        (_, Availability::Served) => {
            if before == Availability::NotServed {
                tracing::info!(resource, api, "now served by the API server; watching it");
            }
            return;
        }
        (Availability::Served, _) => {
            "no longer served by the API server; its watch stopped and its series dropped"
        }
        _ => "not served by the API server; not watched (discovery is re-read periodically)",
    };
    if k.requested() {
        tracing::warn!(resource, api, "{message}");
    } else {
        tracing::info!(resource, api, "{message}");
    }
}
