//! W3C Trace Context and Baggage, the request context, and carriers for HTTP headers and
//! background-job payloads.
//!
//! Every request and job carries a W3C trace: an ingress continues the caller's trace (or starts
//! one), outgoing calls carry it with a new parent id each, and job payloads carry it so that
//! workers continue the trace as a child or link to it. The types parse strictly (W3C Trace
//! Context Level 2, W3C Baggage) and never fail a request: an invalid `traceparent` starts a new
//! trace, an invalid `tracestate` is dropped.
//!
//! ```
//! use stella_context::{RequestContext, TraceContext};
//!
//! let mut incoming = http::HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?);
//! let server = TraceContext::continue_from(&incoming);
//!
//! let mut outgoing = http::HeaderMap::new();
//! server.child().inject(&mut outgoing);
//! assert!(outgoing["traceparent"].to_str()?.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The public interface
//!
//! - Values: [`TraceId`], [`SpanId`], [`TraceFlags`], [`TraceParent`], [`TraceState`],
//!   [`Baggage`], [`TraceContext`], [`RequestContext`], and [`ParseError`].
//! - The current context: [`CurrentContext`] (thread-local, set per poll) with its
//!   [`ContextGuard`], and [`ContextExt`]/[`WithContext`] to carry it across `tokio::spawn`.
//! - Carriers: [`carrier`] (`http::HeaderMap`, `HashMap<String, String>`), and the job envelope
//!   [`JobEnvelope`], [`JobTrace`], [`JobMeta`], [`RestoreMode`], [`Restored`].
//! - Head sampling: [`sampling`], the hook a telemetry pipeline registers so that the ingress
//!   sets the `sampled` flag the exporter applies ([`sampling::HeadSampler`]).
//! - `tower` feature: `tower::ServerLayer` and `tower::ClientLayer` (also at the crate root).
//! - `subscriber` feature: `subscriber::ContextLayer` stores the context in span extensions.
//! - `otel` feature: the `otel` module makes extracted contexts OpenTelemetry parents.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tower` | no | `ServerLayer`/`ClientLayer` (tower-layer, http 1.x); runtime-free |
//! | `axum` | no | axum `MatchedPath` as the route of the ingress span (implies `tower`) |
//! | `subscriber` | no | `ContextLayer` for `tracing-subscriber`, span lookup in `current()` |
//! | `otel` | no | conversions to `opentelemetry` span contexts and OpenTelemetry spans in the layers |
//!
//! No feature pulls in an async runtime.
//!
//! # MSRV
//!
//! The workspace `rust-version` (current stable minus three minor releases); raising it is a
//! minor release.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod baggage;
pub mod carrier;
mod context;
mod current;
mod error;
mod future;
mod id;
mod job;
mod request;
pub mod sampling;
mod semconv;
mod traceparent;
mod tracestate;

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
#[cfg(feature = "subscriber")]
#[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
pub mod subscriber;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use self::baggage::{Baggage, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
pub use self::context::TraceContext;
pub use self::current::{ContextGuard, CurrentContext};
pub use self::error::ParseError;
pub use self::future::{ContextExt, WithContext};
pub use self::id::{HexId, SpanId, TraceId};
pub use self::job::{JobEnvelope, JobMeta, JobTrace, RestoreMode, Restored};
pub use self::request::RequestContext;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use self::tower::{ClientLayer, ServerLayer};
pub use self::traceparent::{TraceFlags, TraceParent};
pub use self::tracestate::{MAX_TRACESTATE_MEMBERS, TraceState};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
