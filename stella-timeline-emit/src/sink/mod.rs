//! Sinks: where sealed events go. An emitter fans every event out to all of its sinks.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::event::TimelineEvent;
use crate::stats::{Counters, Stats};

mod file;
#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "nats")]
pub(crate) mod nats;
#[cfg(any(feature = "http", feature = "nats"))]
pub(crate) mod remote;

pub use self::file::{FileSink, FileSinkBuilder};

/// A sealed event and its JSON line, shared by all sinks.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) event: TimelineEvent,
    pub(crate) json: String,
}

impl Record {
    pub(crate) fn new(event: TimelineEvent) -> Arc<Record> {
        let json = event.to_json();
        Arc::new(Record { event, json })
    }
}

/// Flushing or shutting a sink down did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed with events still undelivered and not journaled.
    #[error("timed out with {pending} event(s) neither delivered nor journaled")]
    Timeout {
        /// Events still in memory.
        pending: usize,
    },
    /// Writing failed.
    #[error("sink i/o failed: {0}")]
    Io(String),
}

/// Building a sink failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A file or journal could not be opened.
    #[error("{what}: {reason}")]
    Io {
        /// What was being opened.
        what: String,
        /// The OS error.
        reason: String,
    },
    /// The endpoint or server address is not usable.
    #[error("invalid endpoint {0:?}")]
    Endpoint(String),
    /// A background thread or runtime could not be started.
    #[error("could not start the sink: {0}")]
    Start(String),
}

/// What the emitter's worker needs from a sink. Calls come from the worker thread only,
/// except `flush`/`shutdown`/`counters`, which come from the emitter handle.
pub(crate) trait SinkImpl: Send + Sync + fmt::Debug {
    /// The sink's counters.
    fn counters(&self) -> &Arc<Counters>;
    /// Takes one event; must not wait on the network.
    fn submit(&self, record: &Arc<Record>);
    /// The worker has no more queued events for now: push buffers out.
    fn idle(&self) {}
    /// Waits until every submitted event is delivered or durably journaled.
    fn flush(&self, deadline: Instant) -> Result<(), FlushError>;
    /// Flushes, journals what is left if it can, and stops the sink's threads.
    fn shutdown(&self, deadline: Instant) -> Result<(), FlushError>;
}

/// A destination for events; build one of the sink types and pass it to
/// [`EmitterBuilder::with_sink`](crate::EmitterBuilder::with_sink).
///
/// | sink | feature | delivery |
/// |---|---|---|
/// | [`FileSink`] | always | NDJSON lines to a file or stdout |
/// | `HttpSink` | `http` | JSON-array batches to `POST /timeline/events`, retries, journal |
/// | `NatsSink` | `nats` | JetStream `stella.<tenant>.timeline.<kind>`, acks, journal |
/// | `MemorySink` | `testing` | kept in memory for assertions |
#[derive(Clone)]
pub struct Sink {
    pub(crate) inner: Arc<dyn SinkImpl>,
}

impl Sink {
    pub(crate) fn new(inner: Arc<dyn SinkImpl>) -> Self {
        Sink { inner }
    }

    /// This sink's own counters (the emitter's [`Stats`] add up all sinks).
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        self.inner.counters().add_to(&mut s);
        s
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sink").field(&self.inner).finish()
    }
}
