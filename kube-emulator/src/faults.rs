//! Injected API failures: the next requests of a resource and verb answer an error, as an
//! overloaded or failing API server does — 429 from API Priority and Fairness (a plain-text
//! body and a `Retry-After` header, as `tooManyRequests` in the apiserver's filters writes it),
//! 500 `InternalError` and 503 `ServiceUnavailable` (Status bodies, 503 with `Retry-After`).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::resources::ResourceId;

/// One fault, as the control surface takes it (`POST /_emulator/faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Resource (`pods`, `deployments.apps`, a kind or short name).
    pub resource: String,
    /// `list`, `watch`, `get`, or `*` for every verb.
    pub verb: String,
    /// 429, 500 or 503.
    pub status: u16,
    /// How many requests fail.
    pub count: u32,
    /// The `Retry-After` header of a 429 or 503, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// What a failing request answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub retry_after_seconds: Option<u32>,
}

struct Armed {
    resource: ResourceId,
    verb: String,
    failure: Failure,
    remaining: u32,
}

/// The faults armed, consumed in order.
#[derive(Default)]
pub(crate) struct Faults(Mutex<Vec<Armed>>);

impl Faults {
    pub(crate) fn arm(&self, resource: ResourceId, fault: &Fault) -> Result<()> {
        if !matches!(fault.status, 429 | 500 | 503) {
            return Err(Error::BadRequest(format!(
                "fault status {} is not one of 429, 500, 503",
                fault.status
            )));
        }
        if !matches!(fault.verb.as_str(), "list" | "watch" | "get" | "*") {
            return Err(Error::BadRequest(format!(
                "fault verb {:?} is not one of list, watch, get, *",
                fault.verb
            )));
        }
        self.lock().push(Armed {
            resource,
            verb: fault.verb.clone(),
            failure: Failure {
                status: fault.status,
                retry_after_seconds: fault.retry_after_seconds,
            },
            remaining: fault.count,
        });
        Ok(())
    }

    /// The failure this request gets, if a fault is armed for it (counting it down).
    pub(crate) fn take(&self, resource: ResourceId, verb: &str) -> Option<Failure> {
        let mut armed = self.lock();
        let index = armed.iter().position(|a| {
            a.resource == resource && a.remaining > 0 && (a.verb == "*" || a.verb == verb)
        })?;
        let fault = &mut armed[index];
        fault.remaining -= 1;
        let failure = fault.failure;
        if fault.remaining == 0 {
            armed.remove(index);
        }
        Some(failure)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
