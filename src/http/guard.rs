//! What `--tls-config` and `--auth-filter` ask of each request before it reaches a route, in
//! exporter-toolkit's order: the rate limit, the configured response headers, basic auth;
//! then the Kubernetes authentication and authorization of `/metrics`. Refusals carry only
//! the status text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::auth_filter::{AuthFilter, Decision, cache_key};
use super::web_config::{RateLimit, WebConfig, WebSettings};

/// The process's endpoint security: the web configuration and the auth filter, shared by
/// every server.
#[derive(Clone, Default)]
pub struct Security {
    pub web: Option<Arc<WebConfig>>,
    pub auth: Option<Arc<AuthFilter>>,
}

/// A bcrypt-hashed version of "fakepassword" (exporter-toolkit's): unknown users are checked
/// against it, so the time taken does not tell which users exist.
const DECOY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Password checks remembered (exporter-toolkit's cache size): bcrypt is deliberately slow
/// (~50 ms at cost 10), and a scraper sends the same credentials every time.
const PASSWORD_CACHE: usize = 100;

/// One bcrypt comparison at a time, as exporter-toolkit: a burst of wrong passwords costs one
/// core, not all of them.
static BCRYPT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One server's guard: its rate limit (fixed at start, as exporter-toolkit's) and its cache
/// of password checks.
struct Guard {
    security: Security,
    limiter: Option<Mutex<Bucket>>,
    passwords: Mutex<HashMap<[u8; 32], bool>>,
}

/// Go's `rate.Limiter`: `burst` tokens, one more every `interval`.
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() / self.limit.interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `router` behind `security`.
pub fn guarded(router: Router, security: Security) -> Router {
    if security.web.is_none() && security.auth.is_none() {
        return router;
    }
    let limiter = security
        .web
        .as_ref()
        .and_then(|web| web.current().rate_limit)
        .map(|limit| {
            Mutex::new(Bucket {
                limit,
                tokens: f64::from(limit.burst),
                at: Instant::now(),
            })
        });
    let guard = Arc::new(Guard {
        security,
        limiter,
        passwords: Mutex::new(HashMap::new()),
    });
    router.layer(axum::middleware::from_fn_with_state(guard, check))
}

fn refuse(status: StatusCode) -> Response {
    let text = status.canonical_reason().unwrap_or_default();
    (status, format!("{text}\n")).into_response()
}

async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &guard.limiter
        && !limiter.lock().unwrap_or_else(|p| p.into_inner()).allow()
    {
        return refuse(StatusCode::TOO_MANY_REQUESTS);
    }
    let settings = guard.security.web.as_ref().map(|web| web.current());
    let mut response = match &settings {
        Some(settings) if !settings.users.is_empty() => {
            if guard.basic_auth(settings, request.headers()).await {
                guard.authorized(request, next).await
            } else {
                let mut response = refuse(StatusCode::UNAUTHORIZED);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Basic"),
                );
                response
            }
        }
        _ => guard.authorized(request, next).await,
    };
    if let Some(settings) = &settings {
        for (name, value) in &settings.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

impl Guard {
    /// `--auth-filter` on `/metrics`, then the route.
    async fn authorized(&self, request: Request, next: Next) -> Response {
        if let Some(auth) = &self.security.auth
            && request.uri().path() == "/metrics"
        {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            let decision = auth
                .check(
                    authorization,
                    request.method().as_str(),
                    request.uri().path(),
                )
                .await;
            match decision {
                Decision::Allowed => {}
                Decision::Unauthenticated => return refuse(StatusCode::UNAUTHORIZED),
                Decision::Forbidden => return refuse(StatusCode::FORBIDDEN),
                Decision::Failed => return refuse(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        next.run(request).await
    }

    /// Whether the request's basic auth credentials match a configured user.
    async fn basic_auth(&self, settings: &WebSettings, headers: &HeaderMap) -> bool {
        let Some((user, password)) = credentials(headers) else {
            return false;
        };
        let known = settings.users.get(&user);
        let hash = known.map_or(DECOY_HASH, String::as_str).to_string();
        let key = cache_key(&[user.as_bytes(), hash.as_bytes(), password.as_bytes()]);
        let cached = self
            .passwords
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        let matches = match cached {
            Some(matches) => matches,
            None => {
                let _one_at_a_time = BCRYPT.lock().await;
                let matches = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(password, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                let mut passwords = self.passwords.lock().unwrap_or_else(|p| p.into_inner());
                if passwords.len() >= PASSWORD_CACHE
                    && let Some(any) = passwords.keys().next().copied()
                {
                    passwords.remove(&any);
                }
                passwords.insert(key, matches);
                matches
            }
        };
        matches && known.is_some()
    }
}

/// Go's `Request.BasicAuth`: `Basic ` (any case) and base64 of `user:password`.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn credentials_as_go_reads_them() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                header::HeaderValue::from_str(value).expect("header"),
            );
            credentials(&headers)
        };
        // "alice:open:sesame"
        assert_eq!(
            with("Basic YWxpY2U6b3BlbjpzZXNhbWU="),
            Some(("alice".into(), "open:sesame".into()))
        );
        assert_eq!(
            with("bAsIc YWxpY2U6b3BlbjpzZXNhbWU="),
            Some(("alice".into(), "open:sesame".into()))
        );
        assert_eq!(with("Bearer YWxpY2U6b3BlbjpzZXNhbWU="), None);
        assert_eq!(with("Basic !!!"), None);
        // "alice" (no colon)
        assert_eq!(with("Basic YWxpY2U="), None);
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let mut bucket = Bucket {
            limit: RateLimit {
                burst: 2,
                interval: Duration::from_secs(3600),
            },
            tokens: 2.0,
            at: Instant::now(),
        };
        assert!(bucket.allow());
        assert!(bucket.allow());
        assert!(!bucket.allow());
        bucket.at -= Duration::from_secs(3600);
        assert!(bucket.allow());
        assert!(!bucket.allow());
    }
}
