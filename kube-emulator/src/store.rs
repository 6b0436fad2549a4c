//! The object store: per-resource ordered maps, bounded event history and watch fan-out,
//! under one global resourceVersion counter (like etcd's revision).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;

use crate::object::StoredObject;
use crate::resources::{RESOURCES, ResourceId};

/// Watch event types stored in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change. `prev` lets watchers with selectors turn a MODIFIED into ADDED/DELETED when an
/// object enters or leaves their selection, and lets paged lists reconstruct older snapshots.
#[derive(Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for DELETED: the last state, stamped with `rv`).
    pub obj: Arc<StoredObject>,
    /// The object before the change.
    pub prev: Option<Arc<StoredObject>>,
}

/// A request for history that has been compacted away (HTTP 410).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    /// The requested resourceVersion.
    pub requested: u64,
    /// The oldest resourceVersion still served.
    pub oldest: u64,
}

/// Tuning for the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// Events kept per resource; older ones are compacted away.
    pub history_capacity: usize,
    /// Events buffered per resource for watchers; a watcher that falls further behind is
    /// disconnected, as the apiserver drops slow watchers.
    pub watch_buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            history_capacity: 10_000,
            watch_buffer: 8192,
        }
    }
}

#[derive(Default)]
struct ResourceState {
    objects: BTreeMap<Box<str>, Arc<StoredObject>>,
    history: VecDeque<Arc<Event>>,
    /// History is complete for every resourceVersion >= this.
    compacted: u64,
}

struct ResourceSlot {
    state: RwLock<ResourceState>,
    /// Created on first watch so idle resources don't pre-allocate a broadcast ring.
    tx: OnceLock<broadcast::Sender<Arc<Event>>>,
}

impl ResourceSlot {
    fn new(compacted: u64) -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::new(ResourceState {
                compacted,
                ..ResourceState::default()
            }),
            tx: OnceLock::new(),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, ResourceState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, ResourceState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A consistent page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Matching objects in key order.
    pub items: Vec<Arc<StoredObject>>,
    /// resourceVersion of the snapshot.
    pub rv: u64,
    /// Key of the last item when more keys follow (the continue position).
    pub next_key: Option<Box<str>>,
}

/// What a new watch starts with.
pub struct WatchStart {
    /// Live events after `rv`.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// Snapshot objects (for watches from "now" or streaming lists), in key order.
    pub snapshot: Vec<Arc<StoredObject>>,
    /// History to replay (for watches from a resourceVersion).
    pub replay: Vec<Arc<Event>>,
    /// resourceVersion the snapshot/replay is complete up to.
    pub rv: u64,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub enum WatchFrom {
    /// Current state as synthetic ADDED events, then changes.
    Snapshot,
    /// Changes after this resourceVersion.
    ResourceVersion(u64),
}

/// The store. All mutations are serialized by one mutex so resourceVersions are assigned
/// and published in order; reads take only the per-resource read lock.
pub struct Store {
    /// By resource id; grows when a custom resource's id is first used.
    slots: RwLock<Vec<Arc<ResourceSlot>>>,
    /// resourceVersion of the last compaction.
    compacted: AtomicU64,
    rv: AtomicU64,
    write: Mutex<()>,
    config: StoreConfig,
}

/// Namespace filter for lists and watches.
pub fn key_range(namespace: Option<&str>) -> (Bound<String>, Bound<String>) {
    match namespace {
        // '0' is the byte after '/', so this range is exactly the keys under "ns/".
        Some(ns) => (
            Bound::Included(format!("{ns}/")),
            Bound::Excluded(format!("{ns}0")),
        ),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        Self {
            slots: RwLock::new(RESOURCES.iter().map(|_| ResourceSlot::new(0)).collect()),
            compacted: AtomicU64::new(0),
            rv: AtomicU64::new(0),
            write: Mutex::new(()),
            config,
        }
    }

    /// The slot of `r`, created empty on first use.
    fn slot(&self, r: ResourceId) -> Arc<ResourceSlot> {
        // A panic while holding a lock leaves consistent data (all updates are single
        // assignments), so poisoning is ignored.
        if let Some(slot) = self.slots.read().unwrap_or_else(|e| e.into_inner()).get(r) {
            return slot.clone();
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        // History older than the last compaction is gone for new resources too.
        let compacted = self.compacted.load(Ordering::SeqCst);
        while slots.len() <= r {
            slots.push(ResourceSlot::new(compacted));
        }
        slots[r].clone()
    }

    /// Every slot created so far.
    fn all_slots(&self) -> Vec<Arc<ResourceSlot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serializes mutations. Exposed so a caller can build objects with the next
    /// resourceVersion and insert them atomically.
    pub fn lock_writes(&self) -> WriteGuard<'_> {
        WriteGuard {
            store: self,
            _guard: self.write.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv.load(Ordering::SeqCst)
    }

    /// A resourceVersion a watcher of `r` may bookmark: read under the resource's lock, so
    /// every event of `r` up to it has already been broadcast.
    pub fn progress_rv(&self, r: ResourceId) -> u64 {
        let slot = self.slot(r);
        let _st = slot.read();
        self.current_rv()
    }

    /// Looks up one object.
    pub fn get(&self, r: ResourceId, key: &str) -> Option<Arc<StoredObject>> {
        self.slot(r).read().objects.get(key).cloned()
    }

    /// Number of objects of a resource.
    pub fn count(&self, r: ResourceId) -> usize {
        self.slot(r).read().objects.len()
    }

    /// A page of objects in `namespace` (or all) after key `start_after`, at resourceVersion
    /// `at` (None = now), keeping up to `limit` (0 = all) objects that `keep` accepts.
    pub fn list(
        &self,
        r: ResourceId,
        namespace: Option<&str>,
        start_after: Option<&str>,
        at: Option<u64>,
        limit: usize,
        keep: &dyn Fn(&StoredObject) -> bool,
    ) -> Result<ListPage, Gone> {
        let slot = self.slot(r);
        let st = slot.read();
        let current = self.current_rv();
        let at = at.unwrap_or(current);
        let (lo, hi) = key_range(namespace);
        let lo = match start_after {
            Some(k) => match &lo {
                Bound::Included(l) if k < l.as_str() => lo,
                _ => Bound::Excluded(k.to_string()),
            },
            None => lo,
        };
        let range = (
            lo.as_ref().map(String::as_str),
            hi.as_ref().map(String::as_str),
        );
        if at < st.compacted {
            return Err(Gone {
                requested: at,
                oldest: st.compacted,
            });
        }
        let mut items = Vec::new();
        let mut next_key = None;
        if st.history.back().is_none_or(|e| e.rv <= at) {
            // Nothing changed since `at`: the live map is the snapshot.
            for (_, o) in st.objects.range::<str, _>(range) {
                if limit > 0 && items.len() == limit {
                    next_key = items.last().map(|o: &Arc<StoredObject>| o.key.clone());
                    break;
                }
                if keep(o) {
                    items.push(o.clone());
                }
            }
            return Ok(ListPage {
                items,
                rv: at.min(current),
                next_key,
            });
        }
        // Reconstruct the snapshot at `at`: for every key changed later, its state before
        // the first later change overrides the live map.
        let mut overlay: BTreeMap<&str, Option<&Arc<StoredObject>>> = BTreeMap::new();
        for e in st.history.iter().filter(|e| e.rv > at) {
            overlay.entry(&e.obj.key).or_insert(e.prev.as_ref());
        }
        let in_range = |k: &str| {
            (match &range.0 {
                Bound::Included(l) => k >= *l,
                Bound::Excluded(l) => k > *l,
                Bound::Unbounded => true,
            }) && (match &range.1 {
                Bound::Excluded(h) => k < *h,
                Bound::Included(h) => k <= *h,
                Bound::Unbounded => true,
            })
        };
        let live = st
            .objects
            .range::<str, _>(range)
            .filter(|(k, _)| !overlay.contains_key(&***k))
            .map(|(k, o)| (&**k, o));
        let old = overlay
            .iter()
            .filter(|(k, _)| in_range(k))
            .filter_map(|(k, o)| o.map(|o| (*k, o)));
        for (_, o) in merge_sorted(live, old) {
            if limit > 0 && items.len() == limit {
                next_key = items.last().map(|o: &Arc<StoredObject>| o.key.clone());
                break;
            }
            if keep(o) {
                items.push(o.clone());
            }
        }
        Ok(ListPage {
            items,
            rv: at,
            next_key,
        })
    }

    /// Starts a watch: subscribes to live events and returns what precedes them, atomically.
    pub fn watch(
        &self,
        r: ResourceId,
        namespace: Option<&str>,
        from: WatchFrom,
    ) -> Result<WatchStart, Gone> {
        let slot = self.slot(r);
        let st = slot.read();
        let rv = self.current_rv();
        // Mutations need the write lock, so subscribing under the read lock cannot miss or
        // duplicate an event relative to the snapshot taken here.
        let rx = slot
            .tx
            .get_or_init(|| broadcast::channel(self.config.watch_buffer.max(16)).0)
            .subscribe();
        let (lo, hi) = key_range(namespace);
        match from {
            WatchFrom::Snapshot => Ok(WatchStart {
                rx,
                snapshot: st
                    .objects
                    .range::<str, _>((
                        lo.as_ref().map(String::as_str),
                        hi.as_ref().map(String::as_str),
                    ))
                    .map(|(_, o)| o.clone())
                    .collect(),
                replay: Vec::new(),
                rv,
            }),
            WatchFrom::ResourceVersion(from) => {
                if from < st.compacted {
                    return Err(Gone {
                        requested: from,
                        oldest: st.compacted,
                    });
                }
                let start = st.history.partition_point(|e| e.rv <= from);
                Ok(WatchStart {
                    rx,
                    snapshot: Vec::new(),
                    replay: st.history.range(start..).cloned().collect(),
                    rv,
                })
            }
        }
    }

    /// Drops all history: watches and continue tokens from before now get 410 Gone.
    /// Bumps the resourceVersion, as the apiserver's compaction writes a key in etcd.
    pub fn compact(&self) -> u64 {
        let w = self.lock_writes();
        let rv = w.next_rv();
        // Slots created later start compacted at the same revision (see `slot`).
        self.compacted.store(rv, Ordering::SeqCst);
        for slot in self.all_slots() {
            let mut st = slot.write();
            st.history.clear();
            st.compacted = rv;
        }
        self.rv.store(rv, Ordering::SeqCst);
        rv
    }

    /// Object counts per resource (non-empty only).
    pub fn counts(&self) -> Vec<(ResourceId, usize)> {
        self.all_slots()
            .iter()
            .enumerate()
            .map(|(r, slot)| (r, slot.read().objects.len()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Holds the store's write lock; all mutations go through it.
pub struct WriteGuard<'a> {
    store: &'a Store,
    _guard: std::sync::MutexGuard<'a, ()>,
}

impl WriteGuard<'_> {
    /// The resourceVersion the next mutation will get.
    pub fn next_rv(&self) -> u64 {
        self.store.current_rv() + 1
    }

    /// Current object under `key`.
    pub fn get(&self, r: ResourceId, key: &str) -> Option<Arc<StoredObject>> {
        self.store.get(r, key)
    }

    /// Keys of every object of `r`, in order.
    pub fn keys(&self, r: ResourceId) -> Vec<Box<str>> {
        self.store.slot(r).read().objects.keys().cloned().collect()
    }

    /// Stores `obj` (whose resourceVersion must be `next_rv()` or, for bulk loads, increase
    /// monotonically) and publishes ADDED or MODIFIED. Returns the event type.
    pub fn put(&self, obj: StoredObject) -> EventType {
        let obj = Arc::new(obj);
        let r = obj.resource;
        let rv = obj.resource_version;
        let slot = self.store.slot(r);
        let mut st = slot.write();
        let prev = st.objects.insert(obj.key.clone(), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.publish(
            &mut st,
            &slot,
            Event {
                rv,
                kind,
                obj,
                prev,
            },
        );
        kind
    }

    /// Removes the object under `key`, publishing DELETED with the object stamped with the
    /// deletion's resourceVersion. Returns the deleted (stamped) object.
    pub fn delete(&self, r: ResourceId, key: &str) -> Option<Arc<StoredObject>> {
        let rv = self.next_rv();
        let slot = self.store.slot(r);
        let mut st = slot.write();
        let prev = st.objects.remove(key)?;
        // Re-stamping only fails on bytes we serialized ourselves; fall back to the old bytes.
        let obj = prev
            .with_resource_version(rv)
            .map(Arc::new)
            .unwrap_or_else(|_| prev.clone());
        self.publish(
            &mut st,
            &slot,
            Event {
                rv,
                kind: EventType::Deleted,
                obj: obj.clone(),
                prev: Some(prev),
            },
        );
        Some(obj)
    }

    fn publish(&self, st: &mut ResourceState, slot: &ResourceSlot, ev: Event) {
        let rv = ev.rv;
        let ev = Arc::new(ev);
        if self.store.config.history_capacity == 0 {
            st.compacted = rv;
        } else {
            if st.history.len() >= self.store.config.history_capacity
                && let Some(old) = st.history.pop_front()
            {
                st.compacted = old.rv;
            }
            st.history.push_back(ev.clone());
        }
        if let Some(tx) = slot.tx.get() {
            // No receivers is fine: nobody is watching.
            let _ = tx.send(ev);
        }
        // Published inside the resource's write lock so readers see the object and the
        // resourceVersion together.
        self.store.rv.fetch_max(rv, Ordering::SeqCst);
    }
}

/// Merges two key-sorted iterators.
fn merge_sorted<'a, T: 'a>(
    a: impl Iterator<Item = (&'a str, T)>,
    b: impl Iterator<Item = (&'a str, T)>,
) -> impl Iterator<Item = (&'a str, T)> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some((ka, _)), Some((kb, _))) => {
            if ka <= kb {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, Some(_)) => b.next(),
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_name;
    use serde_json::json;

    fn pod(name: &str, rv: u64) -> StoredObject {
        StoredObject::from_value(
            by_name("pods").unwrap(),
            json!({"metadata": {"name": name, "namespace": "ns"}}),
            rv,
        )
        .unwrap()
    }

    #[test]
    fn snapshot_lists_survive_changes() {
        let s = Store::new(StoreConfig::default());
        let pods = by_name("pods").unwrap();
        {
            let w = s.lock_writes();
            for n in ["a", "b", "c", "d"] {
                w.put(pod(n, w.next_rv()));
            }
        }
        let first = s.list(pods, None, None, None, 2, &|_| true).unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.rv, 4);
        let next = first.next_key.clone().unwrap();
        {
            let w = s.lock_writes();
            w.delete(pods, "ns/c");
            w.put(pod("bb", w.next_rv()));
            w.put(pod("d", w.next_rv()));
        }
        let second = s
            .list(pods, None, Some(&next), Some(first.rv), 2, &|_| true)
            .unwrap();
        let names: Vec<&str> = second.items.iter().map(|o| &*o.name).collect();
        assert_eq!(names, ["c", "d"]);
        assert_eq!(second.items[1].resource_version, 4);
        assert!(second.next_key.is_none());
        s.compact();
        assert!(
            s.list(pods, None, Some(&next), Some(first.rv), 2, &|_| true)
                .is_err()
        );
    }

    #[test]
    fn history_is_bounded() {
        let s = Store::new(StoreConfig {
            history_capacity: 3,
            watch_buffer: 16,
        });
        let pods = by_name("pods").unwrap();
        let w = s.lock_writes();
        for i in 0..10 {
            w.put(pod(&format!("p{i}"), w.next_rv()));
        }
        drop(w);
        assert!(s.watch(pods, None, WatchFrom::ResourceVersion(2)).is_err());
        let ok = s
            .watch(pods, None, WatchFrom::ResourceVersion(7))
            .ok()
            .unwrap();
        assert_eq!(
            ok.replay.iter().map(|e| e.rv).collect::<Vec<_>>(),
            [8, 9, 10]
        );
    }
}
