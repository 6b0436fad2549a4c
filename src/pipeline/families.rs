//! Which metric families a pipeline computes: `--metric-allowlist`/`--metric-denylist` and
//! `--metric-opt-in-list`, as kube-state-metrics composes them (`allowdenylist.go`, `optin.go`).

use super::Error;

/// Decides per family name whether it is computed. Families it rejects are never generated nor
/// stored, so they cost no memory.
#[derive(Debug)]
pub struct FamilyFilter {
    /// kube-state-metrics compiles these as ECMAScript regexes (regexp2), matched anywhere in
    /// the name; fancy-regex has the same lookarounds.
    list: Vec<fancy_regex::Regex>,
    /// True for an allowlist, false for a denylist (an empty denylist denies nothing).
    allow: bool,
    /// Go `regexp` (RE2) in kube-state-metrics, matched anywhere in the name.
    opt_in: Vec<regex::Regex>,
}

impl FamilyFilter {
    pub fn new(allow: &[String], deny: &[String], opt_in: &[String]) -> Result<Self, Error> {
        if !allow.is_empty() && !deny.is_empty() {
            return Err(Error::AllowAndDenyList);
        }
        let (flag, entries) = if allow.is_empty() {
            ("--metric-denylist", deny)
        } else {
            ("--metric-allowlist", allow)
        };
        let list = entries
            .iter()
            .map(|e| {
                fancy_regex::Regex::new(e).map_err(|error| Error::BadRegex {
                    flag,
                    pattern: e.clone(),
                    error: error.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        let opt_in = opt_in
            .iter()
            .map(|e| {
                regex::Regex::new(e).map_err(|error| Error::BadRegex {
                    flag: "--metric-opt-in-list",
                    pattern: e.clone(),
                    error: error.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(FamilyFilter {
            list,
            allow: !allow.is_empty(),
            opt_in,
        })
    }

    /// Whether the family `name` is computed; `opt_in` families also need `--metric-opt-in-list`.
    pub fn enables(&self, name: &str, opt_in: bool) -> bool {
        self.allow_deny(name) && (!opt_in || self.opted_in(name))
    }

    /// Whether any `--metric-opt-in-list` entry matches `name`.
    pub fn opted_in(&self, name: &str) -> bool {
        self.opt_in.iter().any(|r| r.is_match(name))
    }

    /// The opt-in entries that match none of `names` (to warn about likely typos).
    pub fn unmatched_opt_ins<'a>(
        &'a self,
        names: &'a [&str],
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.opt_in
            .iter()
            .filter(|r| !names.iter().any(|n| r.is_match(n)))
            .map(regex::Regex::as_str)
    }

    fn allow_deny(&self, name: &str) -> bool {
        // A match that fails (backtracking limit) counts as no match, and KSM then drops the
        // family whichever the list is; so do we.
        let mut matched = false;
        for r in &self.list {
            match r.is_match(name) {
                Ok(true) => {
                    matched = true;
                    break;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(family = name, %error, "metric allow/denylist match failed");
                    return false;
                }
            }
        }
        matched == self.allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn filter(allow: &[&str], deny: &[&str], opt_in: &[&str]) -> FamilyFilter {
        FamilyFilter::new(&strings(allow), &strings(deny), &strings(opt_in)).expect("valid")
    }

    #[test]
    fn no_lists_enable_everything_but_opt_ins() {
        let f = filter(&[], &[], &[]);
        assert!(f.enables("kube_pod_info", false));
        assert!(!f.enables("kube_pod_nodeselectors", true));
    }

    #[test]
    fn entries_match_anywhere_in_the_name_unless_anchored() {
        let f = filter(&["kube_pod_info"], &[], &[]);
        assert!(f.enables("kube_pod_info", false));
        assert!(f.enables("kube_pod_info_extra", false));
        assert!(!f.enables("kube_node_info", false));
        let f = filter(&["^kube_pod_info$"], &[], &[]);
        assert!(!f.enables("kube_pod_info_extra", false));

        let f = filter(&[], &["_labels$", "kube_secret_.*"], &[]);
        assert!(!f.enables("kube_pod_labels", false));
        assert!(!f.enables("kube_secret_info", false));
        assert!(f.enables("kube_pod_info", false));
    }

    #[test]
    fn lookarounds_work_as_in_ecmascript() {
        let f = filter(&["^kube_pod_(?!container)"], &[], &[]);
        assert!(f.enables("kube_pod_info", false));
        assert!(!f.enables("kube_pod_container_info", false));
    }

    #[test]
    fn opt_in_families_need_both_the_opt_in_and_the_allowlist() {
        let f = filter(&["kube_pod_"], &[], &["nodeselectors"]);
        assert!(f.enables("kube_pod_nodeselectors", true));
        let f = filter(&["kube_node_"], &[], &["kube_pod_nodeselectors"]);
        assert!(!f.enables("kube_pod_nodeselectors", true));
        let f = filter(&[], &["nodeselectors"], &["kube_pod_nodeselectors"]);
        assert!(!f.enables("kube_pod_nodeselectors", true));
        let f = filter(&[], &[], &["kube_pod_.*", "typo"]);
        assert_eq!(
            f.unmatched_opt_ins(&["kube_pod_nodeselectors"])
                .collect::<Vec<_>>(),
            ["typo"]
        );
    }

    #[test]
    fn both_lists_or_bad_patterns_are_errors_naming_the_flag() {
        let both = FamilyFilter::new(&strings(&["a"]), &strings(&["b"]), &[]);
        let message = both.expect_err("mutually exclusive").to_string();
        assert!(message.contains("--metric-allowlist") && message.contains("--metric-denylist"));
        for (allow, deny, opt_in, flag) in [
            (&["("][..], &[][..], &[][..], "--metric-allowlist"),
            (&[], &["[z-a]"], &[], "--metric-denylist"),
            (&[], &[], &["(?!x)"], "--metric-opt-in-list"),
        ] {
            let error = FamilyFilter::new(&strings(allow), &strings(deny), &strings(opt_in))
                .expect_err("bad pattern");
            assert!(error.to_string().contains(flag), "{error}");
        }
    }
}
