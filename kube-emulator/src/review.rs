//! TokenReview and SubjectAccessReview, as a delegating client (kube-rbac-proxy,
//! controller-runtime's metrics filter, kube-state-metrics' `--auth-filter`) sees them.
//!
//! Tokens and the users they stand for are set through the control surface (a real
//! apiserver's authenticators are out of scope). Access is decided as the apiserver's
//! authorizer chain does for non-resource URLs: the `system:masters` group is allowed
//! everything, then RBAC over the stored ClusterRoleBindings and ClusterRoles
//! (plugin/pkg/auth/authorizer/rbac: `appliesToUser`, `VerbMatches`, `NonResourceURLMatches`).
//! Resource attributes are refused: only what the filters ask is emulated.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::emulator::Emulator;

/// The audiences a token is valid for when a review names none (the apiserver's default
/// `--api-audiences`, its service account issuer).
const DEFAULT_AUDIENCES: &[&str] = &["https://kubernetes.default.svc.cluster.local"];

/// Tokens the emulator authenticates, and how many reviews it answered.
#[derive(Default)]
pub(crate) struct Reviews {
    /// Token → user info (`username`, `uid`, `groups`, `extra`).
    tokens: Mutex<BTreeMap<String, Value>>,
    token_reviews: AtomicU64,
    access_reviews: AtomicU64,
}

/// Why a review was refused, as the apiserver's 400 and 422 answers.
pub(crate) enum Refused {
    BadRequest(String),
    Invalid(String),
}

impl Emulator {
    /// Makes `token` authenticate as `user` (`{"username", "uid", "groups", "extra"}`).
    pub fn add_token(&self, token: &str, user: Value) {
        self.reviews
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), user);
    }

    /// TokenReviews and SubjectAccessReviews answered so far.
    pub fn review_counts(&self) -> (u64, u64) {
        (
            self.reviews.token_reviews.load(Ordering::Relaxed),
            self.reviews.access_reviews.load(Ordering::Relaxed),
        )
    }

    /// pkg/registry/authentication/tokenreview: the review with its status filled in.
    pub(crate) fn token_review(&self, mut review: Value) -> Result<Value, Refused> {
        self.reviews.token_reviews.fetch_add(1, Ordering::Relaxed);
        if review["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
        {
            return Err(Refused::BadRequest(
                "namespace is not allowed on this type".into(),
            ));
        }
        let token = review["spec"]["token"].as_str().unwrap_or_default();
        if token.is_empty() {
            return Err(Refused::BadRequest(
                "token is required for TokenReview in authentication".into(),
            ));
        }
        let user = self
            .reviews
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        review["status"] = match user {
            Some(user) => {
                let audiences = match review["spec"]["audiences"].as_array() {
                    Some(a) if !a.is_empty() => Value::Array(a.clone()),
                    _ => json!(DEFAULT_AUDIENCES),
                };
                json!({"authenticated": true, "user": user, "audiences": audiences})
            }
            None => json!({"user": {}, "error": "invalid bearer token"}),
        };
        Ok(review)
    }

    /// pkg/registry/authorization/subjectaccessreview: validated, then decided.
    pub(crate) fn subject_access_review(&self, mut review: Value) -> Result<Value, Refused> {
        self.reviews.access_reviews.fetch_add(1, Ordering::Relaxed);
        let spec = &review["spec"];
        let resource = spec.get("resourceAttributes").is_some_and(|v| !v.is_null());
        let non_resource = spec
            .get("nonResourceAttributes")
            .is_some_and(|v| !v.is_null());
        if resource && non_resource {
            return Err(Refused::Invalid(
                "spec.nonResourceAttributes: Invalid value: \"null\": cannot be specified in combination with resourceAttributes".into(),
            ));
        }
        if !resource && !non_resource {
            return Err(Refused::Invalid(
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
            ));
        }
        let user = spec["user"].as_str().unwrap_or_default();
        let groups: Vec<&str> = spec["groups"]
            .as_array()
            .map(|g| g.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if user.is_empty() && groups.is_empty() {
            return Err(Refused::Invalid(
                "spec.user: Invalid value: \"\": at least one of user or group must be specified"
                    .into(),
            ));
        }
        if resource {
            return Err(Refused::Invalid(
                "spec.resourceAttributes: the emulator decides nonResourceAttributes only".into(),
            ));
        }
        let path = spec["nonResourceAttributes"]["path"]
            .as_str()
            .unwrap_or_default();
        let verb = spec["nonResourceAttributes"]["verb"]
            .as_str()
            .unwrap_or_default();
        let reason = if groups.contains(&"system:masters") {
            Some(String::new())
        } else {
            self.rbac_allows(user, &groups, verb, path)
        };
        review["status"] = match reason {
            Some(reason) if reason.is_empty() => json!({"allowed": true}),
            Some(reason) => json!({"allowed": true, "reason": reason}),
            None => json!({"allowed": false}),
        };
        Ok(review)
    }

    /// The RBAC authorizer on a non-resource request: only ClusterRoleBindings grant those.
    /// Returns its reason when a binding allows it.
    fn rbac_allows(&self, user: &str, groups: &[&str], verb: &str, path: &str) -> Option<String> {
        let bindings = self.list("clusterrolebindings").unwrap_or_default();
        let roles = self.list("clusterroles").unwrap_or_default();
        bindings.iter().find_map(|binding| {
            let subject = binding["subjects"]
                .as_array()?
                .iter()
                .find(|s| applies_to_user(s, user, groups))?;
            if binding["roleRef"]["kind"] != "ClusterRole" {
                return None;
            }
            let role_name = binding["roleRef"]["name"].as_str()?;
            let role = roles
                .iter()
                .find(|r| r["metadata"]["name"].as_str() == Some(role_name))?;
            let allowed = role["rules"]
                .as_array()?
                .iter()
                .any(|rule| verb_matches(rule, verb) && non_resource_url_matches(rule, path));
            allowed.then(|| {
                format!(
                    "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{role_name}\" to {} \"{}\"",
                    binding["metadata"]["name"].as_str().unwrap_or_default(),
                    subject["kind"].as_str().unwrap_or_default(),
                    subject["name"].as_str().unwrap_or_default(),
                )
            })
        })
    }
}

/// rbac.go `appliesToUser` at cluster scope (a ServiceAccount subject must name its namespace).
fn applies_to_user(subject: &Value, user: &str, groups: &[&str]) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => user == name,
        Some("Group") => groups.contains(&name),
        Some("ServiceAccount") => match subject["namespace"].as_str() {
            Some(namespace) if !namespace.is_empty() => {
                user == format!("system:serviceaccount:{namespace}:{name}")
            }
            _ => false,
        },
        _ => false,
    }
}

fn strings(rule: &Value, field: &str) -> Vec<String> {
    rule[field]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// rbac/v1 helpers `VerbMatches`.
fn verb_matches(rule: &Value, verb: &str) -> bool {
    strings(rule, "verbs").iter().any(|v| v == "*" || v == verb)
}

/// rbac/v1 helpers `NonResourceURLMatches`: `*`, the exact path, or a prefix ending in `*`.
fn non_resource_url_matches(rule: &Value, path: &str) -> bool {
    strings(rule, "nonResourceURLs").iter().any(|url| {
        url == "*"
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_resource_urls_match_as_rbac() {
        let rule = |urls: &[&str]| json!({"verbs": ["get"], "nonResourceURLs": urls});
        assert!(non_resource_url_matches(&rule(&["/metrics"]), "/metrics"));
        assert!(!non_resource_url_matches(
            &rule(&["/metrics"]),
            "/metrics/x"
        ));
        assert!(non_resource_url_matches(
            &rule(&["/metrics*"]),
            "/metrics/x"
        ));
        assert!(non_resource_url_matches(&rule(&["*"]), "/anything"));
        assert!(!non_resource_url_matches(&rule(&["/healthz"]), "/metrics"));
        assert!(verb_matches(&rule(&[]), "get"));
        assert!(!verb_matches(&rule(&[]), "post"));
        assert!(verb_matches(&json!({"verbs": ["*"]}), "post"));
    }

    #[test]
    fn subjects_apply_as_rbac() {
        let sa = json!({"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"});
        assert!(applies_to_user(
            &sa,
            "system:serviceaccount:monitoring:prometheus",
            &[]
        ));
        assert!(!applies_to_user(
            &sa,
            "system:serviceaccount:other:prometheus",
            &[]
        ));
        let group = json!({"kind": "Group", "name": "scrapers"});
        assert!(applies_to_user(&group, "anyone", &["scrapers"]));
        assert!(!applies_to_user(&group, "scrapers", &[]));
        let user = json!({"kind": "User", "name": "alice"});
        assert!(applies_to_user(&user, "alice", &[]));
    }

    #[test]
    fn reviews_authenticate_known_tokens_and_authorize_by_bindings() {
        let emu = Emulator::new();
        emu.add_token(
            "t1",
            json!({"username": "system:serviceaccount:monitoring:prometheus", "uid": "u1", "groups": ["system:serviceaccounts"]}),
        );
        let review = |token: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
        let ok = match emu.token_review(review("t1")) {
            Ok(v) => v,
            Err(_) => panic!("refused"),
        };
        assert_eq!(ok["status"]["authenticated"], true);
        assert_eq!(
            ok["status"]["user"]["username"],
            "system:serviceaccount:monitoring:prometheus"
        );
        let bad = match emu.token_review(review("nope")) {
            Ok(v) => v,
            Err(_) => panic!("refused"),
        };
        assert_eq!(bad["status"]["authenticated"], Value::Null);
        assert!(matches!(
            emu.token_review(review("")),
            Err(Refused::BadRequest(_))
        ));

        let sar = |user: &str| {
            json!({"spec": {"user": user, "groups": ["system:serviceaccounts"],
                "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}})
        };
        let decide = |user: &str| match emu.subject_access_review(sar(user)) {
            Ok(v) => v["status"]["allowed"].clone(),
            Err(_) => panic!("refused"),
        };
        let prometheus = "system:serviceaccount:monitoring:prometheus";
        assert_eq!(decide(prometheus), false);
        emu.apply_text(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-reader}
rules: [{nonResourceURLs: ["/metrics"], verbs: ["get"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
"#,
        )
        .expect("applied");
        assert_eq!(decide(prometheus), true);
        assert_eq!(decide("system:serviceaccount:monitoring:other"), false);
        assert!(matches!(
            emu.subject_access_review(json!({"spec": {"user": "x"}})),
            Err(Refused::Invalid(_))
        ));
        assert_eq!(emu.review_counts(), (3, 4));
    }
}
