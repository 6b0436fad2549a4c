//! The allowlist flags as the command line takes them: `--metric-labels-allowlist`,
//! `--metric-annotations-allowlist` (KSM's `resource=[key,…]` syntax), `--metric-allowlist` /
//! `--metric-denylist` (ECMAScript regexes) and `--metric-opt-in-list` (RE2 regexes), then the
//! lists applied to Kubernetes label keys and to every family name of this build.
//!
//! Input: lines of text: the labels allowlist, the annotations allowlist, the metric allow- (or
//! deny-) list, the opt-in list; every further line is a Kubernetes label key.
//!
//! Checks: clap and `parse_allowlist` agree; the labels made of any keys have valid, distinct
//! Prometheus names (`_conflictN` for keys that sanitise alike) and carry the keys' values;
//! `*` allows every key, a list of plain keys exactly those; the family filter compiles or
//! is an error, and without a list it enables every family that is not opt-in.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use kube_state_otel::config::{Cli, items, parse_allowlist};
use kube_state_otel::metric::AllowList;
use kube_state_otel::pipeline::{FamilyFilter, all_kinds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut lines = text.split('\n');
    let mut line = || lines.next().unwrap_or_default();
    let (labels, annotations, metrics, opt_in) = (line(), line(), line(), line());
    let keys: BTreeMap<String, String> = lines
        .enumerate()
        .map(|(i, key)| (key.to_string(), format!("v{i}")))
        .collect();

    let allow_or_deny = if metrics.starts_with('!') {
        "--metric-denylist"
    } else {
        "--metric-allowlist"
    };
    let metrics = metrics.strip_prefix('!').unwrap_or(metrics);
    let args = [
        "kube-state-otel".to_string(),
        format!("--metric-labels-allowlist={labels}"),
        format!("--metric-annotations-allowlist={annotations}"),
        format!("{allow_or_deny}={metrics}"),
        format!("--metric-opt-in-list={opt_in}"),
    ];
    let parsed = [labels, annotations].map(parse_allowlist);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(_) => {
            // The regex lists are taken as text by clap: only the allowlists can refuse.
            assert!(parsed.iter().any(Result::is_err), "{args:?}");
            return;
        }
    };
    let [Ok(label_lists), Ok(annotation_lists)] = parsed else {
        panic!("clap took an allowlist parse_allowlist refuses: {args:?}");
    };
    assert_eq!(cli.metric_labels_allowlist, label_lists);
    assert_eq!(cli.metric_annotations_allowlist, annotation_lists);

    for lists in [&label_lists, &annotation_lists] {
        let resources = lists.0.keys().map(String::as_str).chain(["pods"]);
        for resource in resources {
            check_labels(&lists.for_resource(resource), &keys);
        }
    }
    check_labels(&AllowList::new(["*"]), &keys);
    let plain: Vec<&String> = keys
        .keys()
        .filter(|k| !k.contains('*'))
        .step_by(2)
        .collect();
    let exact = AllowList::new(plain.iter().map(|k| k.as_str()));
    assert_eq!(
        check_labels(&exact, &keys),
        plain.len(),
        "exact keys: {plain:?}"
    );
    assert_eq!(check_labels(&AllowList::new(["*"]), &keys), keys.len());

    let (allow, deny) = match allow_or_deny {
        "--metric-allowlist" => (items(&cli.metric_allowlist), Vec::new()),
        _ => (Vec::new(), items(&cli.metric_denylist)),
    };
    let Ok(filter) = FamilyFilter::new(&allow, &deny, &items(&cli.metric_opt_in_list)) else {
        return;
    };
    for kind in all_kinds() {
        for family in kind.families() {
            let enabled = filter.enables(family.desc.name, family.opt_in);
            if allow.is_empty() && deny.is_empty() && !family.opt_in {
                assert!(enabled, "{} disabled by no list", family.desc.name);
            }
        }
    }
});

/// The labels `allow` makes of `keys` (whose values are distinct), checked; returns how many
/// there are.
fn check_labels(allow: &AllowList, keys: &BTreeMap<String, String>) -> usize {
    let labels = allow.prometheus_labels("label", Some(keys));
    let mut names = BTreeSet::new();
    let mut values: BTreeSet<&str> = keys.values().map(String::as_str).collect();
    for (name, value) in &labels {
        let valid = name.starts_with("label_")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        assert!(valid, "invalid label name {name:?}");
        assert!(
            names.insert(name.to_string()),
            "label {name} twice: {labels:?}"
        );
        // Values are distinct per key: each key makes one label at most.
        assert!(
            values.remove(&**value),
            "{value:?} is no key's value, or twice"
        );
    }
    labels.len()
}
