//! Label text: every label name and value the store holds is one shared, interned string.
//!
//! A [`Text`] is a single pointer (8 bytes), so a label pair costs 16 bytes per sample; names,
//! namespaces, nodes, images and phases repeat across objects and are stored once.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

/// A label name or value. Cloning never allocates.
#[derive(Clone)]
pub struct Text(Arc<Repr>);

/// Static text (label names from the kind tables) is handed to OpenTelemetry as
/// `&'static str`, which costs no reference counting on the scrape path.
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Text {
    pub fn as_str(&self) -> &str {
        match &*self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Asks the CPU to fetch the text's representation (where its string is) into the cache,
    /// without waiting: callers about to read many texts fetch them all first, so the cache
    /// misses overlap instead of coming one after another.
    pub fn prefetch(&self) {
        prefetch(Arc::as_ptr(&self.0));
    }

    /// Fetches the text's string bytes into the cache, without waiting for them (its
    /// representation is read: [`Text::prefetch`] it first).
    pub fn prefetch_str(&self) {
        if let Repr::Shared(s) = &*self.0 {
            prefetch_str(s);
        }
    }

    /// How many handles share the text (the interner's included).
    #[cfg(test)]
    pub(crate) fn references(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// As an OpenTelemetry attribute key.
    pub fn to_key(&self) -> opentelemetry::Key {
        match &*self.0 {
            Repr::Static(s) => opentelemetry::Key::from_static_str(s),
            Repr::Shared(s) => opentelemetry::Key::from(Arc::clone(s)),
        }
    }

    /// As a shared string (no copy unless the text is static).
    pub fn to_shared(&self) -> Arc<str> {
        match &*self.0 {
            Repr::Static(s) => Arc::from(*s),
            Repr::Shared(s) => Arc::clone(s),
        }
    }

    /// As an OpenTelemetry attribute value.
    pub fn to_value(&self) -> opentelemetry::Value {
        match &*self.0 {
            Repr::Static(s) => opentelemetry::Value::from(*s),
            Repr::Shared(s) => opentelemetry::Value::from(Arc::clone(s)),
        }
    }

    /// The interned copy of a static string (label names from the kind tables), cached per
    /// thread by address so the hot path skips hashing the text.
    pub fn from_static(s: &'static str) -> Text {
        thread_local! {
            static CACHE: RefCell<HashMap<(usize, usize), Text>> = RefCell::new(HashMap::new());
        }
        CACHE.with(|cache| {
            cache
                .borrow_mut()
                .entry((s.as_ptr() as usize, s.len()))
                .or_insert_with(|| intern_with(s, || Repr::Static(s)))
                .clone()
        })
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Text> for opentelemetry::Key {
    fn from(t: Text) -> Self {
        t.to_key()
    }
}

impl From<Text> for opentelemetry::Value {
    fn from(t: Text) -> Self {
        t.to_value()
    }
}

/// A hint to load the cache line at `address`; never faults, whatever the address.
#[inline(always)]
pub(crate) fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no architectural effect and cannot fault; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Fetches the bytes of `s` (its first and last line) into the cache, without waiting.
pub(crate) fn prefetch_str(s: &str) {
    let bytes = s.as_bytes();
    prefetch(bytes.as_ptr());
    if let Some(last) = bytes.last() {
        prefetch(last);
    }
}

struct Interner {
    set: HashSet<Text>,
    /// Sweep unused strings when the set has doubled since the last sweep.
    sweep_at: usize,
}

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        set: HashSet::new(),
        sweep_at: 1024,
    })
});

/// The shared copy of `s`.
pub fn intern(s: &str) -> Text {
    intern_with(s, || Repr::Shared(Arc::from(s)))
}

/// `s` for the process's life, stored once however often it is asked for: names only the
/// configuration knows (custom resource families and scopes), where the meter and the family
/// tables take `&'static str`. Bounded by the distinct names ever configured.
pub fn leak_once(s: &str) -> &'static str {
    static LEAKED: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    let mut leaked = LEAKED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = leaked.get(s) {
        return existing;
    }
    let new: &'static str = Box::leak(s.to_string().into_boxed_str());
    leaked.insert(new);
    new
}

/// The shared copy of `s`, made by `make` when there is none yet.
fn intern_with(s: &str, make: impl FnOnce() -> Repr) -> Text {
    let mut interner = INTERNER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(existing) = interner.set.get(s) {
        return existing.clone();
    }
    if interner.set.len() >= interner.sweep_at {
        // Strings only the interner still holds belong to deleted objects.
        interner.set.retain(|t| Arc::strong_count(&t.0) > 1);
        interner.sweep_at = (interner.set.len() * 2).max(1024);
    }
    let text = Text(Arc::new(make()));
    interner.set.insert(text.clone());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The addresses a safe caller could pass: none faults (the collection's prefetch stages
    /// compute theirs with wrapping arithmetic, past their blocks' ends too).
    #[test]
    fn prefetching_any_address_is_harmless() {
        let unmapped = [0, 8, 4096, usize::MAX - 63, usize::MAX, 0x8000_0000_0000];
        for address in unmapped {
            prefetch(std::ptr::without_provenance::<u8>(address));
        }
        let block = Box::new([0u8; 64]);
        let freed: *const [u8; 64] = &*block;
        drop(block);
        prefetch(freed);
    }

    #[test]
    fn interned_strings_are_shared() {
        let (a, b) = (intern("kube-system"), intern("kube-system"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(Arc::ptr_eq(
            &Text::from_static("phase").0,
            &intern("phase").0
        ));
        assert_eq!(intern("phase").to_key().as_str(), "phase");
        assert_eq!(a.to_value().as_str(), "kube-system");
        assert_eq!(intern("").as_str(), "");
        assert_eq!(std::mem::size_of::<Text>(), 8);
    }
}
