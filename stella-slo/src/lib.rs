//! SLOs per user journey: specs, exact burn-rate math, multi-window alerts, an evaluator with
//! breach events, and generated Prometheus rules and Grafana dashboards.
//!
//! A service team writes its SLOs as YAML (OpenSLO v1 or the compact native form, see
//! [`spec`]), ships the generated Prometheus rules and dashboards ([`rules`], [`dashboard`]),
//! and optionally runs the [`Evaluator`] in-process so that a burn-rate breach becomes an
//! `slo.breach` event on the tenant's timeline, a signed webhook call and, above a threshold,
//! incident mode. The math ([`math`]) is pure functions over validated types and decides every
//! threshold exactly; [`replay`] exposes it to external reference checks.
//!
//! ```
//! use stella_slo::{math, Counts, Factor, Objective};
//!
//! let o = Objective::new(0.999)?;
//! let hour = Counts::from_bad(144, 10_000)?; // burn rate exactly 14.4
//! assert!(!math::exceeds(hour, &o, &Factor::new(14.4)?)); // strict: does not page
//! assert!((math::burn_rate(hour, &o) - 14.4).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The public interface
//!
//! - Validated numbers and windows: [`Objective`], [`Factor`], [`Window`], [`Counts`].
//! - The math: the [`math`] module ([`math::error_ratio`], [`math::burn_rate`],
//!   [`math::exceeds`], [`math::budget`], [`math::budget_consumed`]) and [`Budget`].
//! - SLOs: [`Slo`], [`SloBuilder`], [`Sli`], [`RatioSli`], [`RatioEvents`], [`LatencySli`],
//!   [`Buckets`], [`Bound`], [`Selector`], [`MatchOp`]; policies: [`AlertPolicy`],
//!   [`AlertRule`], [`Severity`].
//! - Specs: the [`spec`] module. Generators: [`rules`], [`dashboard`]. Conformance: [`replay`].
//! - Evaluation: [`Evaluator`], [`EvaluatorBuilder`], [`EvaluatorHandle`], [`SloId`], [`TickReport`],
//!   [`CountSource`], [`CounterSource`], [`SloCounter`].
//! - Events: [`BreachEvent`], [`BreachKind`], [`WindowBurn`], [`IncidentSignal`],
//!   [`IncidentAction`], [`BreachSink`], [`breach_subject`], [`incident_subject`],
//!   [`SCHEMA_VERSION`]. Read model: [`StatusReport`], [`SloStatus`], [`WindowStatus`],
//!   [`AlertStatus`].
//! - Errors: [`NumberError`], [`WindowError`], [`CountsError`], [`SliError`],
//!   [`SampleError`], [`PolicyError`], [`BuildError`], [`EvaluatorError`], [`SourceError`],
//!   [`SubjectError`], [`spec::SpecError`], [`replay::ReplayError`].
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `webhook` | no | `webhook::WebhookSink`: HMAC-SHA256 signed, retried, bounded-queue delivery on a worker thread (ureq through `stella-http`) |
//! | `prometheus` | no | `prometheus::PrometheusSource`: a [`CountSource`] over the Prometheus HTTP query API (ureq through `stella-http`, blocking) |
//! | `tls` | no | HTTPS for the two clients above (rustls) |
//! | `timeline` | no | `timeline::TimelineSink`: breach and incident events through `stella-timeline-emit` |
//!
//! Without features the crate has no I/O and no async runtime.
//!
//! # MSRV
//!
//! The workspace `rust-version` (current stable minus three minor releases); raising it is a
//! minor release.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod dashboard;
mod evaluator;
mod event;
pub mod math;
mod objective;
mod policy;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
mod ratio;
pub mod replay;
pub mod rules;
mod sli;
mod slo;
pub mod spec;
mod status;
#[cfg(feature = "timeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeline")))]
pub mod timeline;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub mod webhook;
mod window;

pub use crate::evaluator::{
    CountSource, CounterSource, Evaluator, EvaluatorBuilder, EvaluatorError, EvaluatorHandle,
    SloCounter, SloId, SourceError, TickReport,
};
pub use crate::event::{
    BreachEvent, BreachKind, BreachSink, IncidentAction, IncidentSignal, SCHEMA_VERSION,
    SubjectError, WindowBurn, breach_subject, incident_subject,
};
pub use crate::math::{Budget, Counts, CountsError};
pub use crate::objective::{Factor, NumberError, Objective};
pub use crate::policy::{AlertPolicy, AlertRule, PolicyError, Severity};
pub use crate::sli::{
    Bound, Buckets, LatencySli, MatchOp, RatioEvents, RatioSli, SampleError, Selector, Sli,
    SliError,
};
pub use crate::slo::{BuildError, Slo, SloBuilder};
pub use crate::status::{AlertStatus, SloStatus, StatusReport, WindowStatus};
pub use crate::window::{Window, WindowError};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// HTTPS settings for `WebhookBuilder::with_tls` and `PrometheusBuilder::with_tls` (the `tls`
/// feature).
#[cfg(all(feature = "tls", any(feature = "webhook", feature = "prometheus")))]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use stella_http::{Tls, TlsError};

/// The HTTPS settings a client was given: none (the webpki roots) unless the `tls` feature
/// and a `with_tls` call say otherwise.
#[cfg(any(feature = "webhook", feature = "prometheus"))]
#[derive(Debug, Clone, Default)]
pub(crate) struct Https(#[cfg(feature = "tls")] pub(crate) Option<stella_http::Tls>);

#[cfg(any(feature = "webhook", feature = "prometheus"))]
impl Https {
    /// The shared client ([`stella_http::agent`]) with these settings.
    pub(crate) fn agent(&self, timeout: std::time::Duration) -> ureq::Agent {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.0 {
            return stella_http::agent_with_tls(timeout, tls);
        }
        stella_http::agent(timeout)
    }
}
