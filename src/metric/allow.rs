//! `--metric-labels-allowlist` / `--metric-annotations-allowlist` for one kind, and the
//! Kubernetes-key → Prometheus-label conversion kube-state-metrics applies.

use std::collections::{BTreeMap, HashMap};

use super::{Text, intern};

/// Options a kind's generators read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindOptions {
    pub allow_labels: AllowList,
    pub allow_annotations: AllowList,
    /// Keep the object's UID after its identity values, for kinds whose semconv resource
    /// needs it and whose KSM identity lacks it (the pipeline reports semconv).
    pub semconv_uid: bool,
    /// Keep the object's entity attributes after its families (`--entity-events`).
    pub entity_events: bool,
}

/// Which Kubernetes label (or annotation) keys become Prometheus labels, as kube-state-metrics
/// matches them: `*` as the first entry allows every key (elsewhere it is ignored), an entry
/// with one `*` inside is a pattern (`app.kubernetes.io/*`), any other entry is an exact key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Empty: the `_labels`/`_annotations` family yields nothing.
    pub keys: Vec<String>,
}

impl AllowList {
    pub fn new(keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        AllowList {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The entries of `map` this list lets through, in key order (`*` first: all).
    pub fn allowed<'a>(
        &'a self,
        map: Option<&'a BTreeMap<String, String>>,
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        let wildcard = self.keys.first().is_some_and(|k| k == "*");
        map.into_iter()
            .flatten()
            .filter(move |(k, _)| wildcard || self.allows(k))
    }

    fn allows(&self, key: &str) -> bool {
        self.keys.iter().any(|entry| match entry.split_once('*') {
            None => entry == key,
            // More than one `*` never matches (KSM fails such a pattern closed).
            Some((_, after)) if after.contains('*') => false,
            Some(("", "")) => false,
            Some((before, after)) => {
                key.len() >= before.len() + after.len()
                    && key.starts_with(before)
                    && key.ends_with(after)
            }
        })
    }

    /// The allowed entries of `map` as `prefix_<key>` labels, sorted by key, with
    /// kube-state-metrics' `_conflictN` suffixes when keys sanitise to the same name.
    pub fn prometheus_labels(
        &self,
        prefix: &str,
        map: Option<&BTreeMap<String, String>>,
    ) -> Vec<(Text, Text)> {
        let Some(map) = map else {
            return Vec::new();
        };
        // BTreeMap iterates in byte order, as Go's slices.Sort does.
        let allowed = self.allowed(Some(map));
        let mut names: Vec<String> = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        // Emitted name → its index; a generated `_conflictN` may itself be taken by a key that
        // sanitised to it, so every name handed out is checked against these.
        let mut used: HashMap<String, usize> = HashMap::new();
        // Sanitised name → conflict suffixes handed out so far.
        let mut conflicts: HashMap<String, usize> = HashMap::new();
        for (key, value) in allowed {
            let base = label_name(prefix, key);
            let name = if let Some(count) = conflicts.get_mut(&base) {
                next_free_name(&base, count, &used)
            } else if let Some(first) = used.remove(&base) {
                // The first collision renames the holder to `_conflict1`.
                let mut count = 0;
                let renamed = next_free_name(&base, &mut count, &used);
                used.insert(renamed.clone(), first);
                names[first] = renamed;
                let name = next_free_name(&base, &mut count, &used);
                conflicts.insert(base, count);
                name
            } else {
                base
            };
            used.insert(name.clone(), names.len());
            names.push(name);
            values.push(value);
        }
        names
            .into_iter()
            .zip(values)
            .map(|(n, v)| (intern(&n), intern(v)))
            .collect()
    }
}

/// `base_conflictN` for the next N whose name no label uses yet.
fn next_free_name(base: &str, count: &mut usize, used: &HashMap<String, usize>) -> String {
    loop {
        *count += 1;
        let candidate = format!("{base}_conflict{count}");
        if !used.contains_key(&candidate) {
            return candidate;
        }
    }
}

/// `prefix_` + the key with invalid characters replaced by `_` and camelCase snake_cased.
pub fn label_name(prefix: &str, key: &str) -> String {
    let sanitized: Vec<char> = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = String::with_capacity(prefix.len() + 1 + sanitized.len() + 4);
    out.push_str(prefix);
    out.push('_');
    // Go's `([a-z0-9])([A-Z])` → `${1}_${2}`: matches do not overlap.
    let mut i = 0;
    while i < sanitized.len() {
        let c = sanitized[i];
        match sanitized.get(i + 1) {
            Some(next)
                if (c.is_ascii_lowercase() || c.is_ascii_digit()) && next.is_ascii_uppercase() =>
            {
                out.push(c);
                out.push('_');
                out.push(next.to_ascii_lowercase());
                i += 2;
            }
            _ => {
                out.push(c.to_ascii_lowercase());
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn render(labels: Vec<(Text, Text)>) -> Vec<String> {
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn names_are_sanitised_and_snake_cased() {
        assert_eq!(
            label_name("label", "app.kubernetes.io/name"),
            "label_app_kubernetes_io_name"
        );
        assert_eq!(label_name("label", "fooBarBaz"), "label_foo_bar_baz");
        assert_eq!(label_name("annotation", "aBC"), "annotation_a_bc");
        assert_eq!(label_name("label", "é"), "label__");
    }

    #[test]
    fn only_listed_keys_unless_wildcard() {
        let m = map(&[("app", "x"), ("team", "y")]);
        assert_eq!(
            render(AllowList::new(["team"]).prometheus_labels("label", Some(&m))),
            ["label_team=y"]
        );
        assert_eq!(
            render(AllowList::new(["*"]).prometheus_labels("label", Some(&m))),
            ["label_app=x", "label_team=y"]
        );
        assert!(
            AllowList::default()
                .prometheus_labels("label", Some(&m))
                .is_empty()
        );
    }

    #[test]
    fn wildcard_counts_only_first_and_patterns_take_one_star() {
        let m = map(&[
            ("app", "x"),
            ("app.kubernetes.io/name", "n"),
            ("app.kubernetes.io/part-of", "p"),
            ("team", "y"),
        ]);
        // `*` after another entry is ignored, as in KSM.
        assert_eq!(
            render(AllowList::new(["team", "*"]).prometheus_labels("label", Some(&m))),
            ["label_team=y"]
        );
        assert_eq!(
            render(AllowList::new(["app.kubernetes.io/*"]).prometheus_labels("label", Some(&m))),
            [
                "label_app_kubernetes_io_name=n",
                "label_app_kubernetes_io_part_of=p"
            ]
        );
        assert_eq!(
            render(AllowList::new(["*name", "te*m"]).prometheus_labels("label", Some(&m))),
            ["label_app_kubernetes_io_name=n", "label_team=y"]
        );
        // Two stars fail closed; `a*a` needs both ends without overlap.
        assert!(
            AllowList::new(["*app*"])
                .prometheus_labels("label", Some(&m))
                .is_empty()
        );
        let short = map(&[("a", "1")]);
        assert!(
            AllowList::new(["a*a"])
                .prometheus_labels("label", Some(&short))
                .is_empty()
        );
    }

    #[test]
    fn generated_conflict_names_never_collide_with_real_keys() {
        // KSM #3064: `A.b.conflict1` sanitises onto the suffix the `a-b`/`a.b` collision wants.
        let m = map(&[("A.b.conflict1", "v0"), ("a-b", "v1"), ("a.b", "v2")]);
        assert_eq!(
            render(AllowList::new(["*"]).prometheus_labels("label", Some(&m))),
            [
                "label_a_b_conflict1=v0",
                "label_a_b_conflict2=v1",
                "label_a_b_conflict3=v2"
            ]
        );
    }

    #[test]
    fn conflicting_names_get_suffixes() {
        let m = map(&[("a-b", "1"), ("a.b", "2"), ("a_b", "3")]);
        assert_eq!(
            render(AllowList::new(["*"]).prometheus_labels("label", Some(&m))),
            [
                "label_a_b_conflict1=1",
                "label_a_b_conflict2=2",
                "label_a_b_conflict3=3"
            ]
        );
    }
}
