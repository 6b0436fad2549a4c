//! Per-kind state: the compact samples of each object, keyed by UID.
//!
//! Updates replace an object's entry, deletes remove it, and a relist is staged aside and
//! swapped in whole, so no stale object survives a relist and a reader never sees a half-built
//! state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::metric::CompactSamples;

type Objects = HashMap<Box<str>, Arc<CompactSamples>>;

/// The objects plus a counter of changes, so a cached snapshot knows when it is stale.
#[derive(Default)]
struct Versioned {
    objects: Objects,
    generation: u64,
}

type Snapshot = Arc<Vec<Arc<CompactSamples>>>;

/// The state of one kind in one pipeline.
#[derive(Default)]
pub struct KindStore {
    objects: RwLock<Versioned>,
    /// A relist in progress; readers keep seeing `objects` until it is swapped in.
    relist: Mutex<Option<Objects>>,
    /// The objects as a list, built on the first read after a change and shared by all the
    /// family callbacks of a collection, so a scrape never holds the lock against watch updates.
    snapshot: Mutex<Option<(u64, Snapshot)>>,
    synced: AtomicBool,
}

impl KindStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Versioned> {
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Versioned> {
        let mut guard = self.objects.write().unwrap_or_else(|p| p.into_inner());
        guard.generation += 1;
        guard
    }

    fn relist(&self) -> std::sync::MutexGuard<'_, Option<Objects>> {
        self.relist.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces an object.
    pub fn apply(&self, uid: &str, samples: CompactSamples) {
        self.write().objects.insert(uid.into(), Arc::new(samples));
    }

    /// Removes an object.
    pub fn delete(&self, uid: &str) {
        self.write().objects.remove(uid);
    }

    /// A relist starts: collect objects aside.
    pub fn begin_relist(&self) {
        *self.relist() = Some(Objects::new());
    }

    /// One object of the relist in progress.
    pub fn relist_apply(&self, uid: &str, samples: CompactSamples) {
        if let Some(staged) = self.relist().as_mut() {
            staged.insert(uid.into(), Arc::new(samples));
        }
    }

    /// The relist is complete: it replaces everything, and the kind counts as synced.
    pub fn finish_relist(&self) {
        if let Some(staged) = self.relist().take() {
            self.write().objects = staged;
        }
        self.synced.store(true, Ordering::Release);
    }

    /// Whether a full list has been seen.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().objects.is_empty()
    }

    /// Calls `f` for every object; a consistent view for the duration of the call.
    pub fn for_each(&self, mut f: impl FnMut(&CompactSamples)) {
        for object in self.snapshot().iter() {
            f(object);
        }
    }

    /// Calls `f` with the objects in batches (for callers that overlap memory loads).
    pub fn for_each_batch(&self, batch: usize, mut f: impl FnMut(&[Arc<CompactSamples>])) {
        for objects in self.snapshot().chunks(batch.max(1)) {
            f(objects);
        }
    }

    fn snapshot(&self) -> Snapshot {
        let current = self.read();
        let mut cached = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, snapshot)) = cached.as_ref()
            && *generation == current.generation
        {
            return snapshot.clone();
        }
        let snapshot: Snapshot = Arc::new(current.objects.values().cloned().collect());
        *cached = Some((current.generation, snapshot.clone()));
        snapshot
    }

    /// Heap bytes held by the samples of all objects (shared label strings excluded).
    pub fn heap_bytes(&self) -> usize {
        self.read().objects.values().map(|o| o.heap_bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Samples, intern};

    fn object(value: f64) -> CompactSamples {
        let mut s = Samples::new(vec![intern("ns")]);
        s.begin_family();
        s.push(value);
        s.finish()
    }

    fn values(store: &KindStore) -> Vec<f64> {
        let mut v = Vec::new();
        store.for_each(|o| v.extend(o.family(0).map(|(_, value)| value)));
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn relist_replaces_everything_atomically() {
        let store = KindStore::new();
        store.apply("a", object(1.0));
        store.apply("b", object(2.0));
        store.begin_relist();
        store.relist_apply("b", object(3.0));
        // Until the relist completes, readers see the old state.
        assert_eq!(values(&store), [1.0, 2.0]);
        assert!(!store.is_synced());
        store.finish_relist();
        assert_eq!(values(&store), [3.0]);
        assert!(store.is_synced());
        store.delete("b");
        assert!(store.is_empty());
    }
}
