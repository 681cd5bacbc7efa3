//! One `init()` for every Stella service: structured JSON logs with the common fields, scrubbed
//! inside the library, never blocking the service and never dropping an error.
//!
//! A service calls [`init`] once and keeps the returned [`TelemetryGuard`]. From then on every
//! `tracing` event (and every `log` record of its dependencies) becomes one JSON object per line:
//! the common fields in a fixed order, then `message`, then everything else under `details`.
//! Values come from the event, the enclosing spans (a `tenant_id` on the request span appears on
//! every line inside it, also in tasks spawned with `stella_context::ContextExt`), the current
//! `stella_context::RequestContext`/`TraceContext`, and the static [`Resource`]. Every value
//! passes through `stella-scrub` key-aware; there is no opt-out. Decision logs, rate limits with
//! suppression summaries, a bounded non-blocking writer and file rotation are built in. The same
//! pieces ([`JsonLayer`], [`NonBlocking`], [`LogBridge`]) are plain `tracing-subscriber` parts
//! for teams that compose their own subscriber.
//!
//! ```
//! use stella_telemetry::{Config, Output};
//! use stella_telemetry::decision::{Decision, Effect};
//!
//! let (dispatch, guard) = stella_telemetry::build(
//!     Config::new("policy-engine", "1.4.0").with_env("prod").with_output(Output::Stderr),
//! )?;
//! tracing::dispatcher::with_default(&dispatch, || {
//!     let span = tracing::info_span!("policy.evaluate", tenant_id = "acme", sbom_id = "sbom-7f3c");
//!     let _entered = span.enter();
//!     tracing::info!(components = 5_000, "evaluating with token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB");
//!     Decision::policy(Effect::Deny).with_policy_version("2026.11.3").with_rule_ids(["no-critical"]).emit();
//! });
//! guard.shutdown()?; // or let it drop at the end of main
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! prints (on one line each; `trace_id`/`span_id` appear inside a request or job):
//!
//! ```json
//! {"ts":"2026-11-28T11:05:30.123456Z","level":"info","service":"policy-engine","version":"1.4.0","env":"prod","tenant_id":"acme","sbom_id":"sbom-7f3c","message":"evaluating with token=[REDACTED:github_token]","details":{"components":5000}}
//! ```
//!
//! # The line
//!
//! Keys in this order: `ts` (RFC 3339 UTC, microseconds), `level` (`trace`…`error`),
//! `service`, `version`, `env`, `region`, `instance_id`, `tenant_id`, `project_id`, `actor`,
//! `route`, `method`, `resource`, `action`, `trace_id`, `span_id`, `parent_span_id`,
//! `request_id`, `job_id`, `run_id`, `source_id`, `sbom_id`, `policy_version`,
//! `decision_effect`, `decision_reason`, `error_code`, `error_message`, `message`, `details`.
//! Unknown fields are **omitted**, never `null`; `ts`, `level`, `service` and `message` are
//! always present. The JSON Schema is `schema/log-line.schema.json`.
//!
//! - `trace_id`, `span_id`, `parent_span_id` and `method` are validated (32/16 lowercase hex,
//!   not all zeros; an HTTP method token) and dropped when invalid, never printed raw.
//! - `error_message` is the first line of the error, scrubbed without deep-debug relaxation and
//!   cut at 256 bytes; further lines and the `std::error::Error` source chain go to
//!   `details.stack`, cut at 4 KiB.
//! - `http.route` and `http.request.method` (the `stella-context` ingress span) fill `route`
//!   and `method`; `otel.*` fields are hints for exporters and are not printed, and the
//!   ingress span's other HTTP attributes (`url.*`, `server.*`, ...) stay on the span.
//! - `trace_id`/`span_id` come from the innermost span that has them: its fields, or a
//!   `stella_context::TraceContext` in its extensions (what a tracing bridge stores per span),
//!   else the current context.
//! - The filter applies to events; `info` spans are always seen, and decision logs pass any
//!   level filter.
//!
//! # Traces (`otlp` feature, on by default)
//!
//! With an endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or [`Config::with_otlp_endpoint`]), the
//! same subscriber also turns `tracing` spans into OpenTelemetry spans and exports them as
//! OTLP/HTTP protobuf from a dedicated thread: resource attributes `service.name`,
//! `service.version`, `deployment.environment.name`, `cloud.region`, `service.instance.id`;
//! parents from the enclosing span or the `stella_context` trace (an ingress span's ids are
//! the ones on its log lines); `otel.name`/`otel.kind`/`otel.status_code` honoured; every
//! string attribute and event scrubbed; parent-based head sampling with a runtime ratio
//! ([`TelemetryHandle::set_trace_sample_ratio`]) plus in-process tail sampling that keeps
//! slow and failed traces; a bounded queue that drops and counts ([`TraceStats`]) instead of
//! waiting; shutdown bounded by the flush timeout. [`schedule_span`] opens the producer's
//! `orchestrator.schedule` under the ids a `stella_context::JobEnvelope` carries, and
//! [`job_span`] the worker's `runner.execute` for a job restored from it, its child. [`init`] also installs the W3C
//! trace-context and baggage propagators, the global OpenTelemetry tracer provider (spans of
//! the `opentelemetry` API take the same road: [`TelemetryHandle::otel_tracer`]) and the
//! `stella_context` head sampler, so that `ServerLayer` propagates the `sampled` flag the
//! exporter applies ([`TelemetryHandle::head_sampler`]). With the `otlp-grpc` feature,
//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` ([`OtlpProtocol::Grpc`]) exports over OTLP/gRPC instead.
//!
//! ```
//! use std::time::Duration;
//! use stella_telemetry::{Config, Output, TraceConfig};
//!
//! let traces = TraceConfig::new()
//!     .with_endpoint("http://127.0.0.1:4318")
//!     .with_sample_ratio(0.1)
//!     .with_tail_latency(Duration::from_millis(500));
//! let (dispatch, guard) = stella_telemetry::build(
//!     Config::new("policy-engine", "1.4.0").with_output(Output::Stderr).with_traces(traces),
//! )?;
//! tracing::dispatcher::with_default(&dispatch, || {
//!     tracing::info_span!("policy.evaluate", tenant_id = "acme").in_scope(|| tracing::info!("done"));
//! });
//! drop(guard); // flushes within the flush timeout, collector or not
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The public interface
//!
//! - Set-up: [`init`], [`build`], [`Config`], [`InitError`], [`TelemetryGuard`],
//!   [`TelemetryHandle`], [`ShutdownError`], [`Resource`], [`Sampling`], [`LogStats`],
//!   [`COMMON_FIELDS`], [`DEFAULT_FILTER`], [`DEFAULT_FLUSH_TIMEOUT`].
//! - Layers and writers: [`JsonLayer`], [`JsonLayerBuilder`], [`BuildError`], [`NonBlocking`],
//!   [`NonBlockingBuilder`], [`NonBlockingWriter`], [`WriterGuard`], [`FlushTimeout`],
//!   [`Output`], [`FileOutput`], [`OutputError`], [`DEFAULT_CAPACITY`],
//!   [`DEFAULT_PRIORITY_WAIT`].
//! - Incident mode: [`TelemetryHandle::start_incident`], [`IncidentRequest`], [`Incident`],
//!   [`IncidentEvent`], [`IncidentAction`], [`IncidentTrigger`], [`IncidentError`],
//!   [`MAX_INCIDENT_TTL`], [`BREADCRUMBS_PER_TENANT`], [`DEFAULT_RETENTION_BUMP`].
//! - [`decision`]: [`Decision`](decision::Decision), [`Effect`](decision::Effect).
//! - `otlp` feature: [`TraceConfig`], [`OtlpProtocol`], [`OtlpCompression`], [`TraceConfigError`], [`TraceStats`],
//!   [`RatioError`], [`schedule_span`], [`job_span`], [`JobSpan`], [`TelemetryHandle::otel_tracer`],
//!   [`TelemetryHandle::head_sampler`].
//! - `prometheus` feature: the [`metrics`] module ([`metrics::MetricsConfig`],
//!   [`metrics::Exposition`], golden-signal and journey helpers).
//! - `log` feature: [`LogBridge`]. `testing` feature: [`testing::CaptureWriter`].
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `log` | yes | [`LogBridge`]: `log` records in the same schema; [`init`] installs it |
//! | `otlp` | yes | OpenTelemetry traces: span bridge, head and tail sampling, OTLP/HTTP protobuf export |
//! | `otlp-tls` | no | `https://` OTLP endpoints (rustls with the webpki roots) |
//! | `otlp-grpc` | no | OTLP/gRPC export (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`): HTTP/2 with prior knowledge, from a current-thread runtime on the export thread (hyper, tokio) |
//! | `slo` | no | [`TelemetryHandle::incident_trigger`]: `stella-slo` burn-rate breaches switch incident mode |
//! | `prometheus` | yes | [`metrics`]: a `metrics` recorder with exemplars and cardinality caps, `/metrics` in OpenMetrics or Prometheus text |
//! | `testing` | no | [`testing::CaptureWriter`], an in-memory `MakeWriter` |
//!
//! # MSRV
//!
//! The workspace `rust-version` (current stable minus three minor releases); raising it is a
//! minor release.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "log")]
mod bridge;
mod config;
pub mod decision;
mod fields;
mod guard;
mod hash;
mod incident;
mod json;
mod layer;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod metrics;
mod resource;
mod sampling;
mod stats;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "otlp")]
mod trace;
mod writer;

#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use self::bridge::LogBridge;
pub use self::config::{Config, DEFAULT_FILTER, DEFAULT_FLUSH_TIMEOUT, InitError, build, init};
pub use self::fields::COMMON_FIELDS;
pub use self::guard::{ShutdownError, TelemetryGuard, TelemetryHandle};
pub use self::incident::{
    BREADCRUMBS_PER_TENANT, DEFAULT_RETENTION_BUMP, Incident, IncidentAction, IncidentError,
    IncidentEvent, IncidentRequest, IncidentTrigger, MAX_INCIDENT_TTL,
};
pub use self::layer::{BuildError, JsonLayer, JsonLayerBuilder};
pub use self::resource::Resource;
pub use self::sampling::Sampling;
pub use self::stats::LogStats;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use self::trace::{
    JobSpan, OtlpCompression, OtlpProtocol, RatioError, TraceConfig, TraceConfigError, TraceStats,
    job_span, schedule_span,
};
pub use self::writer::{
    DEFAULT_CAPACITY, DEFAULT_PRIORITY_WAIT, FileOutput, FlushTimeout, NonBlocking,
    NonBlockingBuilder, NonBlockingWriter, Output, OutputError, WriterGuard,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
