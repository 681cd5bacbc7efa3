//! Integration tests for stella-slo (one binary; see STYLE.md section 6).

mod evaluator;
mod golden;
mod math_tables;
#[cfg(feature = "prometheus")]
mod prometheus;
mod props;
mod replay;
mod send_sync;
mod spec;
mod support;
#[cfg(feature = "timeline")]
mod timeline;
#[cfg(feature = "webhook")]
mod webhook;
