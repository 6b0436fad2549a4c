//! `--auth-filter`: a `/metrics` caller's bearer token is authenticated with a TokenReview and
//! its request authorized with a SubjectAccessReview (non-resource URL, the method as verb)
//! against the API server, as kube-state-metrics' filter (controller-runtime's) and
//! kube-rbac-proxy do, with their caches: a token's review for 1 minute, an allow for
//! 5 minutes, a deny for 30 seconds. Concurrent requests with the same key share one review.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use tokio::sync::OnceCell;

const TOKEN_TTL: Duration = Duration::from_secs(60);
const ALLOW_TTL: Duration = Duration::from_secs(300);
const DENY_TTL: Duration = Duration::from_secs(30);
/// Entries per cache: each is a hash and a small result; beyond it, expired and then the
/// oldest entries are dropped, so a stream of made-up tokens cannot grow the process.
const CACHE_ENTRIES: usize = 4096;
/// How long one review may take (controller-runtime's TokenAccessReviewTimeout).
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No bearer token, or one the API server did not authenticate: 401.
    Unauthenticated,
    /// Authenticated, not permitted: 403.
    Forbidden,
    /// The API server could not be asked: 500, not cached.
    Failed,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Allowed,
        Decision::Unauthenticated,
        Decision::Forbidden,
        Decision::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Unauthenticated => "unauthenticated",
            Decision::Forbidden => "forbidden",
            Decision::Failed => "error",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReviewError(String);

/// A cached review: when it was asked, and its result once there.
type Entry<T> = (Instant, Arc<OnceCell<T>>);

/// A cache of reviews keyed by a SHA-256 (tokens themselves are never kept).
struct Reviews<T> {
    entries: Mutex<HashMap<[u8; 32], Entry<T>>>,
}

impl<T: Clone> Reviews<T> {
    fn new() -> Self {
        Reviews {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached result for `key`, or `review`'s (shared with concurrent callers); an error
    /// is not cached. `ttl` says how long a result stays.
    async fn get<F: Future<Output = Result<T, ReviewError>>>(
        &self,
        key: [u8; 32],
        ttl: impl Fn(&T) -> Duration,
        review: impl FnOnce() -> F,
    ) -> Result<T, ReviewError> {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let fresh = |(at, cell): &Entry<T>| match cell.get() {
                Some(value) => now.duration_since(*at) < ttl(value),
                None => true,
            };
            match entries.get(&key).filter(|e| fresh(e)) {
                Some((_, cell)) => cell.clone(),
                None => {
                    if entries.len() >= CACHE_ENTRIES {
                        entries.retain(|_, e| fresh(e));
                        if entries.len() >= CACHE_ENTRIES
                            && let Some(oldest) = entries
                                .iter()
                                .min_by_key(|(_, (at, _))| *at)
                                .map(|(k, _)| *k)
                        {
                            entries.remove(&oldest);
                        }
                    }
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(key, (now, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(review).await.cloned()
    }
}

/// A cache key: SHA-256 over the parts, each length-prefixed so no two lists hash alike.
pub(super) fn cache_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part);
    }
    let mut key = [0; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// The filter of both ports' `/metrics`.
pub struct AuthFilter {
    client: kube::Client,
    tokens: Reviews<Option<UserInfo>>,
    decisions: Reviews<bool>,
    counts: [AtomicU64; 4],
}

impl AuthFilter {
    pub fn new(client: kube::Client) -> Arc<Self> {
        Arc::new(AuthFilter {
            client,
            tokens: Reviews::new(),
            decisions: Reviews::new(),
            counts: Default::default(),
        })
    }

    /// Requests decided so far, per decision (in [`Decision::ALL`]'s order).
    pub fn counts(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// Decides whether the request with `authorization` (the header's value) may `method`
    /// on `path`.
    pub async fn check(&self, authorization: Option<&[u8]>, method: &str, path: &str) -> Decision {
        let decision = self.decide(authorization, method, path).await;
        let index = Decision::ALL.iter().position(|d| *d == decision);
        if let Some(index) = index {
            self.counts[index].fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    async fn decide(&self, authorization: Option<&[u8]>, method: &str, path: &str) -> Decision {
        // As controller-runtime's filter: exactly "Bearer " and a token.
        let Some(token) = authorization
            .and_then(|v| v.strip_prefix(b"Bearer "))
            .filter(|t| !t.is_empty())
        else {
            return Decision::Unauthenticated;
        };
        let Ok(token) = std::str::from_utf8(token) else {
            return Decision::Unauthenticated;
        };
        let user = match self
            .tokens
            .get(
                cache_key(&[token.as_bytes()]),
                |_| TOKEN_TTL,
                || self.review_token(token),
            )
            .await
        {
            Ok(Some(user)) => user,
            Ok(None) => return Decision::Unauthenticated,
            Err(error) => {
                tracing::warn!("--auth-filter: TokenReview failed: {error}");
                return Decision::Failed;
            }
        };
        let verb = method.to_ascii_lowercase();
        let spec = SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.to_string()),
                verb: Some(verb),
            }),
            resource_attributes: None,
        };
        let key = match serde_json::to_vec(&spec) {
            Ok(json) => cache_key(&[&json]),
            Err(error) => {
                tracing::warn!("--auth-filter: {error}");
                return Decision::Failed;
            }
        };
        let ttl = |allowed: &bool| if *allowed { ALLOW_TTL } else { DENY_TTL };
        match self
            .decisions
            .get(key, ttl, || self.review_access(spec))
            .await
        {
            Ok(true) => Decision::Allowed,
            Ok(false) => Decision::Forbidden,
            Err(error) => {
                tracing::warn!("--auth-filter: SubjectAccessReview failed: {error}");
                Decision::Failed
            }
        }
    }

    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let status = self.create(&review).await?.status.unwrap_or_default();
        Ok(status
            .authenticated
            .unwrap_or(false)
            .then(|| status.user.unwrap_or_default()))
    }

    async fn review_access(&self, spec: SubjectAccessReviewSpec) -> Result<bool, ReviewError> {
        let review = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        Ok(self
            .create(&review)
            .await?
            .status
            .is_some_and(|s| s.allowed))
    }

    /// POSTs a review; the API server answers it with its status filled in.
    async fn create<K>(&self, review: &K) -> Result<K, ReviewError>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), review))
            .await
            .map_err(|_| ReviewError("timed out".into()))?
            .map_err(|e| ReviewError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reviews_are_cached_per_key_until_their_ttl_and_errors_are_not() {
        let reviews: Reviews<bool> = Reviews::new();
        let calls = AtomicU64::new(0);
        let review = |result: Result<bool, ReviewError>| {
            let calls = &calls;
            move || async move {
                calls.fetch_add(1, Ordering::Relaxed);
                result
            }
        };
        let key = cache_key(&[b"a"]);
        let long = |_: &bool| Duration::from_secs(60);
        assert!(reviews.get(key, long, review(Ok(true))).await.expect("ok"));
        // Cached: the second review's result is not used.
        assert!(reviews.get(key, long, review(Ok(false))).await.expect("ok"));
        let other = cache_key(&[b"b"]);
        assert!(
            reviews
                .get(other, long, review(Err(ReviewError("down".into()))))
                .await
                .is_err()
        );
        // Not cached after an error.
        assert!(
            !reviews
                .get(other, long, review(Ok(false)))
                .await
                .expect("ok")
        );
        // Expired: asked again.
        let none = |_: &bool| Duration::ZERO;
        assert!(!reviews.get(key, none, review(Ok(false))).await.expect("ok"));
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(cache_key(&[b"ab", b"c"]), cache_key(&[b"a", b"bc"]));
    }
}
