//! Label text: static names from the kind tables, or shared (interned) strings from objects.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

/// A label name or value. Cloning never allocates.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Text {
    pub fn as_str(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
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
        match t {
            Text::Static(s) => opentelemetry::Key::from_static_str(s),
            Text::Shared(s) => opentelemetry::Key::from(s),
        }
    }
}

impl From<Text> for opentelemetry::Value {
    fn from(t: Text) -> Self {
        match t {
            Text::Static(s) => opentelemetry::Value::from(s),
            Text::Shared(s) => opentelemetry::Value::from(s),
        }
    }
}

/// Label values repeat across objects (namespaces, nodes, images, phases): one copy each.
struct Interner {
    set: HashSet<Arc<str>>,
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
    if s.is_empty() {
        return Text::Static("");
    }
    let mut interner = INTERNER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(existing) = interner.set.get(s) {
        return Text::Shared(existing.clone());
    }
    if interner.set.len() >= interner.sweep_at {
        // Strings only the interner still holds belong to deleted objects.
        interner.set.retain(|s| Arc::strong_count(s) > 1);
        interner.sweep_at = (interner.set.len() * 2).max(1024);
    }
    let shared: Arc<str> = Arc::from(s);
    interner.set.insert(shared.clone());
    Text::Shared(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_are_shared() {
        let (Text::Shared(a), Text::Shared(b)) = (intern("kube-system"), intern("kube-system"))
        else {
            panic!("non-empty strings are shared");
        };
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(intern("").as_str(), "");
    }
}
