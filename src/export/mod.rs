//! Encoders fed by one collection: Prometheus text for `/metrics`, OTLP for push.

pub mod otlp;
pub mod prometheus;
