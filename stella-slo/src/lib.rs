//! SLOs per user journey: specs, exact burn-rate math, multi-window alerts, an evaluator with
//! breach events, and generated Prometheus rules and Grafana dashboards.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod dashboard;
mod evaluator;
mod event;
pub mod math;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
mod objective;
mod policy;
mod ratio;
pub mod replay;
pub mod rules;
mod sli;
mod slo;
pub mod spec;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub mod webhook;
mod status;
#[cfg(feature = "timeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeline")))]
pub mod timeline;
mod window;

pub use crate::evaluator::{
    CountSource, CounterSource, Evaluator, EvaluatorBuilder, EvaluatorError, SloCounter, SloId, SourceError, TickReport,
};
pub use crate::event::{
    breach_subject, incident_subject, BreachEvent, BreachKind, BreachSink, IncidentAction, IncidentSignal, SubjectError,
    WindowBurn, SCHEMA_VERSION,
};
pub use crate::math::{Budget, Counts, CountsError};
pub use crate::objective::{Factor, NumberError, Objective};
pub use crate::policy::{AlertPolicy, AlertRule, PolicyError, Severity};
pub use crate::sli::{Bound, Buckets, LatencySli, MatchOp, RatioEvents, RatioSli, SampleError, Selector, Sli, SliError};
pub use crate::slo::{BuildError, Slo, SloBuilder};
pub use crate::status::{AlertStatus, SloStatus, StatusReport, WindowStatus};
pub use crate::window::{Window, WindowError};
