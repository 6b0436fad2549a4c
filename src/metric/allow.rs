//! `--metric-labels-allowlist` / `--metric-annotations-allowlist` for one kind, and the
//! Kubernetes-key → Prometheus-label conversion kube-state-metrics applies.

use std::collections::BTreeMap;

use super::{Text, intern};

/// Options a kind's generators read.
#[derive(Clone, Debug, Default)]
pub struct KindOptions {
    pub allow_labels: AllowList,
    pub allow_annotations: AllowList,
}

/// Which Kubernetes label (or annotation) keys become Prometheus labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Empty: the `_labels`/`_annotations` family yields nothing. `["*"]`: every key.
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

    /// The allowed entries of `map` as `prefix_<key>` labels, sorted by key, with
    /// kube-state-metrics' `_conflictN` suffixes when two keys sanitise to the same name.
    pub fn prometheus_labels(
        &self,
        prefix: &str,
        map: Option<&BTreeMap<String, String>>,
    ) -> Vec<(Text, Text)> {
        let Some(map) = map else {
            return Vec::new();
        };
        let wildcard = self.keys.first().is_some_and(|k| k == "*");
        // BTreeMap iterates in byte order, as Go's sort.Strings does.
        let allowed = map
            .iter()
            .filter(|(k, _)| wildcard || self.keys.iter().any(|a| a == *k));
        let mut names: Vec<String> = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        // name → (conflicts seen, index of the first holder)
        let mut conflicts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (key, value) in allowed {
            let mut name = label_name(prefix, key);
            if let Some((count, first)) = conflicts.get_mut(&name) {
                if *count == 1 {
                    names[*first] = format!("{}_conflict1", names[*first]);
                }
                *count += 1;
                name = format!("{name}_conflict{count}");
            } else {
                conflicts.insert(name.clone(), (1, names.len()));
            }
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
