//! How a watcher recovers from an API error, as client-go's reflector does, with a shorter
//! wait:
//! - it waits with exponential backoff — 800 ms doubling to 10 s, plus up to 50 % jitter,
//!   back to 800 ms after 2 minutes without errors. client-go's reflector
//!   (`NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)`) waits up to 60 s, so after
//!   an outage its kinds come back up to a minute late; here each kind tries again within
//!   15 s of the server's recovery, and a server that wants clients slower says so with
//!   `Retry-After` (API Priority and Fairness does), which is honoured;
//! - not at all after a 410: it means the watcher fell behind (history compacted, a restarted
//!   server), not that the server is overloaded, and the relist that follows is the cure;
//! - a 429 or 5xx that carries `Retry-After` reaches it only after the client's 10 retries
//!   ([`super::retry_after`], client-go's request retry);
//! - after a watch fails to start with 429 it watches again from the same resourceVersion, as
//!   client-go's `isWatchErrorRetriable` does;
//! - and after a watch fails to start with any other API error than 403 it relists, because
//!   the old resourceVersion may be gone by the time the server answers again; a 403 or a
//!   connection error watches again.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use kube::runtime::watcher;

const INITIAL: Duration = Duration::from_millis(800);
const MAX: Duration = Duration::from_secs(10);
/// The most a wait is lengthened by jitter, as a fraction of it.
const JITTER: f64 = 0.5;
const RESET_AFTER: Duration = Duration::from_secs(120);

/// A watcher's backoff state.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    last_failure: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: INITIAL,
            last_failure: None,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt after `error` at `now`.
    pub fn delay(&mut self, error: &watcher::Error, now: Instant) -> Duration {
        if is_gone(error) {
            return Duration::ZERO;
        }
        if self
            .last_failure
            .is_some_and(|last| now.duration_since(last) >= RESET_AFTER)
        {
            self.next = INITIAL;
        }
        self.last_failure = Some(now);
        let base = self.next;
        self.next = (self.next * 2).min(MAX);
        let jitter = RandomState::new().hash_one(now) as f64 / u64::MAX as f64;
        base.mul_f64(1.0 + JITTER * jitter)
    }
}

/// What the watcher does after `error`, besides waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Go on with the same stream: it lists again or watches again as its state says.
    Continue,
    /// Start again from a list.
    Relist,
}

pub fn recovery(error: &watcher::Error) -> Recovery {
    match error {
        // 403 is a permission problem, not a stale version (a list would be refused too):
        // watch again, so the refusals stay visible as watch errors, as the mixin expects.
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
            if !matches!(status.code, 403 | 429) =>
        {
            Recovery::Relist
        }
        _ => Recovery::Continue,
    }
}

fn is_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status::failure("x", "y").with_code(code)))
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_fifteen_seconds_and_resets_after_two_quiet_minutes() {
        let mut backoff = Backoff::default();
        let error = watcher::Error::WatchStartFailed(api(500));
        let start = Instant::now();
        let mut base = INITIAL;
        for i in 0..8 {
            let delay = backoff.delay(&error, start + Duration::from_secs(i));
            assert!(
                delay >= base && delay <= base.mul_f64(1.5),
                "{i}: {delay:?} for {base:?}"
            );
            assert!(delay <= Duration::from_secs(15));
            base = (base * 2).min(MAX);
        }
        assert_eq!(base, MAX);
        let later = start + Duration::from_secs(8) + RESET_AFTER;
        let delay = backoff.delay(&error, later);
        assert!(delay <= INITIAL.mul_f64(1.5), "reset: {delay:?}");
    }

    #[test]
    fn gone_is_not_waited_for_and_does_not_grow_the_backoff() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let gone =
            watcher::Error::WatchError(Box::new(Status::failure("old", "Expired").with_code(410)));
        for _ in 0..5 {
            assert_eq!(backoff.delay(&gone, now), Duration::ZERO);
        }
        let delay = backoff.delay(&watcher::Error::WatchStartFailed(api(503)), now);
        assert!(delay <= INITIAL.mul_f64(1.5), "{delay:?}");
    }

    #[test]
    fn only_403_and_429_watch_start_failures_watch_again_from_the_same_version() {
        for code in [403, 429] {
            assert_eq!(
                recovery(&watcher::Error::WatchStartFailed(api(code))),
                Recovery::Continue,
                "{code}"
            );
        }
        for code in [410, 500, 503] {
            assert_eq!(
                recovery(&watcher::Error::WatchStartFailed(api(code))),
                Recovery::Relist,
                "{code}"
            );
        }
        assert_eq!(
            recovery(&watcher::Error::InitialListFailed(api(500))),
            Recovery::Continue
        );
    }
}
