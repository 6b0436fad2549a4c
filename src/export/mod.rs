//! Encoders fed by one collection: Prometheus text or OpenMetrics for `/metrics`, OTLP for push.

pub mod gzip;
pub mod openmetrics;
pub mod ordered;
pub mod otlp;
pub mod prometheus;
mod short;
