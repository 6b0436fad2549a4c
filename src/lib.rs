//! kube-state-otel: Kubernetes object state as OpenTelemetry metrics.
//!
//! Start reading at [`pipeline`], which wires the layers together; the data flows
//! [`watch`] → [`store`] → [`meter`] → [`export`]. Each kind is one file in [`kinds`], a table
//! of metric families over the tiny model in [`metric`]; [`crs`] turns custom resources into
//! the same samples, from a kube-state-metrics Custom Resource State config.

pub mod config;
pub mod crs;
pub mod demo;
pub mod docs;
pub mod export;
pub mod http;
pub mod kinds;
pub mod leader;
pub mod meter;
pub mod metric;
pub mod pipeline;
pub mod rbac;
pub mod store;
pub mod telemetry;
pub mod watch;
