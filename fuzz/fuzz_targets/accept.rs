//! `Accept` header negotiation of /metrics.
//!
//! Input: the header's value.
//!
//! Checks: the content type answered is a valid header value; asking for exactly that content
//! type gets the same format; a clause of quality 0 for a type neither format serves, appended,
//! changes nothing.
#![no_main]

use kube_state_otel::export::openmetrics::Format;
use kube_state_otel::export::prometheus::CONTENT_TYPE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|accept: &str| {
    let format = Format::negotiate(accept);
    let content_type = match &format {
        Format::Text => CONTENT_TYPE,
        Format::OpenMetrics(content_type) => content_type.as_str(),
    };
    assert!(
        http::HeaderValue::from_str(content_type).is_ok(),
        "{content_type:?} is not a header value"
    );
    assert_eq!(Format::negotiate(content_type), format, "{content_type:?}");
    let ignored = format!("{accept},image/png;q=0");
    assert_eq!(Format::negotiate(&ignored), format, "{ignored:?}");
});
