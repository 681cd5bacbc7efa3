//! The integration tests of `stella-telemetry`: one binary (see STYLE.md §6).
//!
//! Every line any test produces goes through `support::Lines`, which validates it against
//! `schema/log-line.schema.json` and checks the fixed key order.

mod backpressure;
mod bridge;
#[cfg(feature = "otlp")]
mod collector;
mod collector_config;
mod config;
mod context;
mod decision;
mod deep_debug;
#[cfg(feature = "prometheus")]
mod exposition;
#[cfg(feature = "otlp-grpc")]
mod grpc;
#[cfg(feature = "otlp-grpc")]
mod grpc_peer;
mod incident;
mod line_cache;
#[cfg(feature = "otlp")]
mod otel_api;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(all(feature = "prometheus", feature = "otlp"))]
mod prometheus_peer;
mod properties;
mod redaction;
mod sampling;
mod schema;
mod send_sync;
mod support;
#[cfg(feature = "otlp-tls")]
mod tls_peer;
