//! The canonical `timeline_event`, its RFC 8785 canonical JSON digest, and an emitter that
//! never blocks the caller and never silently loses an event.
//!
//! Every state transition in a Stella service (a job starting or failing, a policy evaluation,
//! an SBOM ingest, an advisory link, an export, an SLO breach) becomes one [`TimelineEvent`]
//! with one schema, so a tenant's timeline can reconstruct what happened and link the steps
//! of a chain of custody by the digests of their inputs and outputs. Each event is sealed with
//! `digest = sha256(canonical JSON of the event without digest)` so the index and the evidence
//! locker can tell it was not altered.
//!
//! ```
//! use std::time::Duration;
//! use stella_timeline_emit::{Digest, Emitter, EventKind, FileSink, TimelineEvent};
//!
//! let emitter = Emitter::builder().with_sink(FileSink::stdout()).build()?;
//! let sbom = Digest::of_bytes(b"sbom bytes");
//! emitter.emit(
//!     TimelineEvent::builder(EventKind::SbomIngested, "sbom", "sbom-7")
//!         .with_tenant("acme") // usually taken from the stella-context request context
//!         .with_detail("format", "cyclonedx-1.6")
//!         .with_output("sbom", sbom),
//! )?;
//! emitter.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The public interface
//!
//! - The event: [`TimelineEvent`], [`EventBuilder`], [`EventKind`] (the catalogue),
//!   [`Digest`], [`Verified`], and [`SCHEMA_VERSION`] with the limits [`MAX_ID_LEN`],
//!   [`MAX_TENANT_LEN`], [`MAX_DETAILS_BYTES`], [`MAX_DETAILS_DEPTH`].
//! - Canonical JSON: the [`canonical`] module (RFC 8785).
//! - Emitting: [`Emitter`], [`EmitterBuilder`], the global [`emit`], and [`Stats`].
//! - Sinks: [`Sink`], [`FileSink`]; `HttpSink` (feature `http`), `NatsSink` (feature `nats`);
//!   [`JournalConfig`] and [`FsyncPolicy`] for the on-disk journal.
//! - Errors: [`BuildError`], [`FieldError`], [`ParseError`], [`VerifyError`], [`DigestError`],
//!   [`KindError`], [`EmitError`], [`EmitterBuildError`], [`SinkError`], [`FlushError`].
//! - Feature `testing`: the [`testing`] module (an in-memory sink and a loopback ingest
//!   endpoint).
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | no | [`HttpSink`]: batches to `POST /timeline/events` (ureq through `stella-http`, blocking, own thread) |
//! | `http-tls` | no | `https://` endpoints for [`HttpSink`] (rustls with the webpki roots) |
//! | `nats` | no | [`NatsSink`]: JetStream publishing (async-nats on a current-thread tokio runtime owned by the sink's thread) |
//! | `testing` | no | test doubles |
//!
//! Without features the crate has the event, canonical JSON, digest, file/stdout sink and
//! the emitter on a plain std thread: no async runtime.
//!
//! # MSRV
//!
//! The workspace `rust-version` (current stable minus three minor releases); raising it is a
//! minor release.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod canonical;
mod context;
mod digest;
mod emitter;
mod event;
mod journal;
mod kind;
mod sink;
mod stats;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use self::digest::{Digest, DigestError};
pub use self::emitter::{
    DEFAULT_QUEUE_CAPACITY, EmitError, Emitter, EmitterBuildError, EmitterBuilder, emit,
};
pub use self::event::{
    BuildError, EventBuilder, FieldError, MAX_DETAILS_BYTES, MAX_DETAILS_DEPTH, MAX_ID_LEN,
    MAX_TENANT_LEN, ParseError, SCHEMA_VERSION, TimelineEvent, Verified, VerifyError,
};
pub use self::journal::{FsyncPolicy, JournalConfig};
pub use self::kind::{EventKind, KindError, OtherKind};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use self::sink::http::{HttpSink, HttpSinkBuilder};
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use self::sink::nats::{NatsSink, NatsSinkBuilder};
pub use self::sink::{FileSink, FileSinkBuilder, FlushError, Sink, SinkError};
pub use self::stats::Stats;
/// HTTPS settings for [`HttpSinkBuilder::with_tls`] (the `http-tls` feature).
#[cfg(feature = "http-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-tls")))]
pub use stella_http::{Tls, TlsError};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
