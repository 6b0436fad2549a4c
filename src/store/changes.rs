//! Which objects of a store changed since entity events were last sent: the store records
//! each update, delete and relisted difference here; the entity push drains it.
//!
//! Changes are coalesced by UID, keeping the object as it was when last sent (`before`) and
//! as it is now (`after`): any number of updates between two drains cost one entry, and an
//! object whose entity attributes came back to what was sent (or never changed: a status
//! heartbeat) sends nothing. A first list records nothing: it asks for the whole state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::metric::CompactSamples;

/// An object's change since the last drain.
#[derive(Clone, Debug)]
pub struct Change {
    /// As it was last sent (or listed); `None`: new since.
    pub before: Option<CompactSamples>,
    /// As it is now; `None`: deleted.
    pub after: Option<CompactSamples>,
}

impl Change {
    /// Whether the object's entity attributes differ between `before` and `after`.
    pub fn changed(&self) -> bool {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => !same_entities(before, after),
            (None, None) => false,
            _ => true,
        }
    }
}

/// Whether two versions of an object have the same entity samples (its last family).
pub fn same_entities(a: &CompactSamples, b: &CompactSamples) -> bool {
    let last = |o: &CompactSamples| o.family_count().saturating_sub(1);
    a.family(last(a)).eq(b.family(last(b)))
}

/// The pending changes of one store.
pub struct ChangeLog {
    pending: Mutex<HashMap<Box<str>, Change>>,
    /// Set when a partition has listed for the first time: its whole state is due.
    listed: AtomicBool,
    deletes: AtomicBool,
    wake: Arc<Notify>,
}

impl ChangeLog {
    /// A log that notifies `wake` of each change.
    pub fn new(wake: Arc<Notify>) -> Self {
        ChangeLog {
            pending: Mutex::default(),
            listed: AtomicBool::new(false),
            deletes: AtomicBool::new(false),
            wake,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Change>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `uid` went from `before` to `after`.
    pub(super) fn record(
        &self,
        uid: &str,
        before: Option<CompactSamples>,
        after: Option<CompactSamples>,
    ) {
        let deleted = after.is_none();
        let mut pending = self.lock();
        match pending.get_mut(uid) {
            Some(change) => change.after = after,
            None => {
                let change = Change { before, after };
                if !change.changed() {
                    return;
                }
                pending.insert(uid.into(), change);
            }
        }
        drop(pending);
        if deleted {
            self.deletes.store(true, Ordering::Release);
        }
        self.wake.notify_one();
    }

    /// A partition listed for the first time.
    pub(super) fn listed(&self) {
        self.listed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Whether a delete is pending.
    pub fn deletes_pending(&self) -> bool {
        self.deletes.load(Ordering::Acquire)
    }

    /// Takes the pending changes (those that still change something) and whether a first
    /// list happened since the last drain.
    pub fn drain(&self) -> (Vec<Change>, bool) {
        let pending = std::mem::take(&mut *self.lock());
        self.deletes.store(false, Ordering::Release);
        let listed = self.listed.swap(false, Ordering::AcqRel);
        let changes = pending.into_values().filter(Change::changed).collect();
        (changes, listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Samples, intern};

    fn object(phase: &str, restarts: f64) -> CompactSamples {
        let mut s = Samples::new(vec![intern("ns")]);
        s.begin_family();
        s.push(restarts);
        s.begin_family();
        s.push_dynamic([(intern("k8s.pod.phase"), intern(phase))], 0.0);
        s.finish()
    }

    #[test]
    fn changes_coalesce_and_only_entity_changes_count() {
        let log = ChangeLog::new(Arc::default());
        // A metric-only change (restarts) is no entity change.
        log.record(
            "a",
            Some(object("Running", 1.0)),
            Some(object("Running", 2.0)),
        );
        assert!(log.drain().0.is_empty());
        // Two updates coalesce; the first `before` is kept.
        log.record(
            "a",
            Some(object("Pending", 0.0)),
            Some(object("Running", 0.0)),
        );
        log.record(
            "a",
            Some(object("Running", 0.0)),
            Some(object("Failed", 0.0)),
        );
        let (changes, listed) = log.drain();
        assert!(!listed);
        let [change] = changes.as_slice() else {
            panic!("one change")
        };
        assert_eq!(change.before, Some(object("Pending", 0.0)));
        assert_eq!(change.after, Some(object("Failed", 0.0)));
        // A change back to what was sent is none.
        log.record(
            "a",
            Some(object("Failed", 0.0)),
            Some(object("Running", 0.0)),
        );
        log.record(
            "a",
            Some(object("Running", 0.0)),
            Some(object("Failed", 0.0)),
        );
        assert!(log.drain().0.is_empty());
        // A delete is flagged; created and deleted between drains, an object sends nothing.
        log.record("b", Some(object("Running", 0.0)), None);
        log.record("c", None, Some(object("Running", 0.0)));
        log.record("c", Some(object("Running", 0.0)), None);
        assert!(log.deletes_pending());
        let (changes, _) = log.drain();
        assert!(!log.deletes_pending());
        assert_eq!(changes.len(), 1);
        assert!(changes[0].after.is_none());
        log.listed();
        assert!(log.drain().1);
        assert!(!log.drain().1);
    }
}
