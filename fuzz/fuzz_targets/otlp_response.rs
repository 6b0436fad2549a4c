//! OTLP export responses as the exporter reads them, down to its retry decision: HTTP status,
//! `Retry-After` and body; gRPC trailers as sent; gRPC statuses as a receiver's library encodes
//! them (code, message, `google.rpc.Status` details with `RetryInfo`); and response messages
//! (partial success).
//!
//! Input: a mode byte (0: HTTP, 1: gRPC trailers, 2: gRPC status), two bytes of status or code,
//! two of backoff (ms) and two of retry budget (s), then fields each prefixed by a length byte,
//! the last one (the body or message) taking the rest.
//!
//! Checks: no panic; HTTP 2xx is a success and anything else a failure named `HTTP <code>`,
//! retryable exactly for 429/502/503/504, with the numeric `Retry-After` it carried; a gRPC
//! status sent is the status read; a retry waits the receiver's wait or the backoff, never
//! beyond the budget, and never for what is not retryable.
#![no_main]

use std::time::Duration;

use kube_state_otel::export::otlp::fuzzing::{self, Outcome, grpc, grpc_status};
use libfuzzer_sys::fuzz_target;

/// Length-prefixed fields; the last takes what is left.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> &'a [u8] {
        let Some((&len, rest)) = self.0.split_first() else {
            return &[];
        };
        let (field, rest) = rest.split_at(usize::from(len).min(rest.len()));
        self.0 = rest;
        field
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<7>() else {
        return;
    };
    let number = u16::from_be_bytes([head[1], head[2]]);
    let backoff = Duration::from_millis(u64::from(u16::from_be_bytes([head[3], head[4]])));
    let left = Duration::from_secs(u64::from(u16::from_be_bytes([head[5], head[6]])));
    let mut fields = Fields(rest);
    let outcome = match head[0] % 3 {
        0 => {
            let retry_after = fields.next();
            let body = fields.rest();
            let header = (!retry_after.is_empty()).then_some(retry_after);
            let Some(outcome) = fuzzing::http(number, header, body, backoff, left) else {
                assert!(!(100..=999).contains(&number), "HTTP {number} refused");
                return;
            };
            check_http(&outcome, number, header);
            outcome
        }
        1 => {
            let (status, message, details) = (fields.next(), fields.next(), fields.next());
            let headers = [
                ("grpc-status", status),
                ("grpc-message", message),
                ("grpc-status-details-bin", details),
            ];
            grpc(&headers, fields.rest(), backoff, left)
        }
        _ => {
            let code = i32::from(number % 20);
            let text = String::from_utf8_lossy(fields.next());
            let details = fields.next();
            let outcome = grpc_status(code, &text, details, fields.rest(), backoff, left);
            // Codes 1-16 are errors; 0 is OK, and tonic reads codes it does not know as
            // UNKNOWN: the call failed either way, unless the message decodes.
            if (1..=16).contains(&code) {
                assert!(outcome.code.is_some(), "code {code} read as success");
            }
            outcome
        }
    };
    check_retry(&outcome, backoff, left);
});

fn check_http(outcome: &Outcome, status: u16, retry_after: Option<&[u8]>) {
    if (200..300).contains(&status) {
        assert!(outcome.rejected.is_some(), "HTTP {status} is a success");
        return;
    }
    assert_eq!(outcome.code.as_deref(), Some(&*format!("HTTP {status}")));
    assert_eq!(outcome.retryable, matches!(status, 429 | 502 | 503 | 504));
    // As hyper would hand it over: a valid header value, read as visible ASCII.
    let seconds = retry_after
        .and_then(|v| http::HeaderValue::from_bytes(v).ok())
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if let Some(seconds) = seconds {
        assert_eq!(outcome.retry_after, Some(Duration::from_secs(seconds)));
    }
}

fn check_retry(outcome: &Outcome, backoff: Duration, left: Duration) {
    let Some(wait) = outcome.wait else {
        if outcome.code.is_some() && outcome.retryable {
            let asked = outcome.retry_after.unwrap_or(backoff);
            assert!(
                asked > left,
                "gave up on a wait of {asked:?} within {left:?}"
            );
        }
        return;
    };
    assert!(outcome.code.is_some() && outcome.retryable, "{outcome:?}");
    assert!(wait <= left, "{wait:?} beyond the budget {left:?}");
    assert_eq!(wait, outcome.retry_after.unwrap_or(backoff));
}
