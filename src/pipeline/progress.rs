//! The initial sync's progress: how many kinds have listed, the objects and bytes listed so far,
//! and how long it took. Logged every few seconds until the pipeline is ready, then once as
//! "ready in X s"; the same line heads `/readyz`'s kinds; the kinds' states and the duration
//! are self-telemetry too.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{KindState, Pipeline};
use crate::telemetry::SyncReport;

/// How often a pipeline still syncing says how far it got.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How often readiness is checked while syncing: the resolution of "ready in X s".
const POLL: Duration = Duration::from_millis(50);

/// A pipeline's initial sync so far.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncProgress {
    pub kinds_synced: usize,
    /// Kinds to sync: all but those the API server does not serve.
    pub kinds_total: usize,
    pub kinds_forbidden: usize,
    pub objects: u64,
    pub bytes: u64,
    /// Since the pipeline was built, or how long the initial sync took once it is over.
    pub elapsed: Duration,
    pub ready: bool,
}

impl std::fmt::Display for SyncProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} kinds synced", self.kinds_synced, self.kinds_total)?;
        if self.kinds_forbidden > 0 {
            write!(f, " ({} forbidden)", self.kinds_forbidden)?;
        }
        write!(
            f,
            ", {} objects, {} listed",
            self.objects,
            human_bytes(self.bytes)
        )?;
        let seconds = self.elapsed.as_secs_f64();
        if self.ready {
            write!(f, ", ready in {seconds:.1} s")
        } else {
            write!(f, ", {seconds:.1} s so far")
        }
    }
}

/// `n` bytes in B, KiB, MiB or GiB, one decimal.
pub fn human_bytes(n: u64) -> String {
    let mut value = n as f64;
    for unit in ["B", "KiB", "MiB"] {
        if value < 1024.0 {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    format!("{value:.1} GiB")
}

/// When the pipeline started, and how long its initial sync took once it is over.
pub(super) struct SyncClock {
    started: Instant,
    took: std::sync::OnceLock<Duration>,
}

impl SyncClock {
    pub(super) fn new() -> Self {
        SyncClock {
            started: Instant::now(),
            took: std::sync::OnceLock::new(),
        }
    }

    /// The pipeline became ready now.
    pub(super) fn ready(&self) {
        let _ = self.took.set(self.started.elapsed());
    }

    fn initial_sync(&self) -> Option<Duration> {
        self.took.get().copied()
    }
}

impl Pipeline {
    /// How far the initial sync has got.
    pub fn progress(&self) -> SyncProgress {
        let ready = self.is_ready();
        let status = self.status();
        let count = |state: KindState| status.iter().filter(|k| k.state == state).count();
        let (objects, bytes) = self.telemetry.listed_total();
        SyncProgress {
            kinds_synced: count(KindState::Synced),
            kinds_total: status.len() - count(KindState::NotServed),
            kinds_forbidden: count(KindState::Forbidden),
            objects,
            bytes,
            elapsed: self
                .clock
                .initial_sync()
                .unwrap_or_else(|| self.clock.started.elapsed()),
            ready,
        }
    }

    /// Reports the sync: an info line every [`PROGRESS_EVERY`] until the pipeline is ready and
    /// one when it is, and the kinds' states and the sync's duration as self-telemetry.
    pub fn report_sync(self: &Arc<Self>) {
        // Weak: the telemetry lives as long as the pipeline, and must not keep it alive.
        let weak: Weak<Pipeline> = Arc::downgrade(self);
        self.telemetry.set_sync_source(Box::new(move || {
            let pipeline = weak.upgrade()?;
            Some(SyncReport {
                kinds: pipeline
                    .status()
                    .iter()
                    .map(|k| (k.resource, k.state.as_str()))
                    .collect(),
                initial_sync: pipeline.clock.initial_sync(),
            })
        }));
        let pipeline = self.clone();
        let run = async move {
            let mut next_line = Instant::now() + PROGRESS_EVERY;
            while !pipeline.is_ready() {
                tokio::time::sleep(POLL).await;
                if Instant::now() >= next_line {
                    tracing::info!("initial sync: {}", pipeline.progress());
                    next_line += PROGRESS_EVERY;
                }
            }
            tracing::info!("initial sync done: {}", pipeline.progress());
        };
        tokio::spawn(tracing::Instrument::in_current_span(run));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_a_sentence() {
        let mut progress = SyncProgress {
            kinds_synced: 12,
            kinds_total: 37,
            kinds_forbidden: 1,
            objects: 4500,
            bytes: 3 * 1024 * 1024 + 100 * 1024,
            elapsed: Duration::from_millis(3240),
            ready: false,
        };
        assert_eq!(
            progress.to_string(),
            "12/37 kinds synced (1 forbidden), 4500 objects, 3.1 MiB listed, 3.2 s so far"
        );
        progress.kinds_forbidden = 0;
        progress.kinds_synced = 37;
        progress.ready = true;
        progress.bytes = 512;
        assert_eq!(
            progress.to_string(),
            "37/37 kinds synced, 4500 objects, 512 B listed, ready in 3.2 s"
        );
    }

    #[test]
    fn bytes_are_shown_in_the_largest_fitting_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
