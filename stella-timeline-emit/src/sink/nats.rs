//! JetStream publishing on `stella.<tenant>.timeline.<kind>`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use super::remote::{Outcome, RemoteSink, SendError, Settings, Transport};
use super::{Record, Sink, SinkError};
use crate::journal::JournalConfig;

/// Publishes each event to NATS JetStream on `stella.<tenant>.timeline.<kind>` with
/// `Nats-Msg-Id: <event_id>`, and waits for the publish acknowledgements.
///
/// The stream's duplicate window drops a re-sent `event_id` server-side (the ack says
/// `duplicate`, counted as delivered). The sink runs a current-thread tokio runtime on its own
/// thread, so it works from synchronous code and never touches the caller's runtime. Failed
/// publishes are retried with backoff; with a journal configured the journal takes over at the
/// first failure and is replayed in order, exactly like [`HttpSink`](crate::HttpSink).
///
/// Operations must provide a stream covering `stella.*.timeline.>` (the sink does not create
/// one); without it every publish fails with "no responders" and events stay journaled.
///
/// # Examples
///
/// ```no_run
/// use stella_timeline_emit::{Emitter, JournalConfig, NatsSink};
///
/// let nats = NatsSink::builder("nats://127.0.0.1:4222")
///     .with_journal(JournalConfig::new("/var/lib/export-center/timeline-journal"))
///     .build()?;
/// let emitter = Emitter::builder().with_sink(nats).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NatsSink {
    sink: Sink,
}

impl NatsSink {
    /// Starts a builder for the server(s) at `url` (`nats://host:port`).
    pub fn builder(url: impl Into<String>) -> NatsSinkBuilder {
        NatsSinkBuilder {
            url: url.into(),
            timeout: Duration::from_secs(5),
            batch_size: 256,
            queue_capacity: 10_000,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            journal: None,
        }
    }
}

impl From<NatsSink> for Sink {
    fn from(s: NatsSink) -> Sink {
        s.sink
    }
}

/// Builds a [`NatsSink`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NatsSinkBuilder {
    url: String,
    timeout: Duration,
    batch_size: usize,
    queue_capacity: usize,
    backoff_base: Duration,
    backoff_max: Duration,
    journal: Option<JournalConfig>,
}

impl NatsSinkBuilder {
    /// Connect and acknowledgement timeout (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Most events published before waiting for their acks (default 256).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Bound of the in-memory queue (default 10 000).
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// First and largest retry delay (defaults 100 ms and 30 s).
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }
    /// Keeps unacknowledged events in this journal (strongly recommended).
    pub fn with_journal(mut self, journal: JournalConfig) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Opens the journal and starts the sink's thread; connecting happens there, lazily.
    ///
    /// # Errors
    ///
    /// [`SinkError::Endpoint`] for an empty URL, [`SinkError::Io`] if the journal cannot be
    /// opened, [`SinkError::Start`] if the runtime or thread cannot start.
    pub fn build(self) -> Result<NatsSink, SinkError> {
        if self.url.trim().is_empty() {
            return Err(SinkError::Endpoint(self.url));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::Start(e.to_string()))?;
        let transport = NatsTransport {
            runtime,
            url: self.url,
            timeout: self.timeout,
            js: None,
        };
        let settings = Settings {
            name: "nats",
            batch_size: self.batch_size,
            queue_capacity: self.queue_capacity,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            journal: self.journal,
        };
        let sink = RemoteSink::start(settings, transport)?;
        Ok(NatsSink {
            sink: Sink::new(Arc::new(sink)),
        })
    }
}

struct NatsTransport {
    runtime: tokio::runtime::Runtime,
    url: String,
    timeout: Duration,
    js: Option<jetstream::Context>,
}

impl Transport for NatsTransport {
    fn send(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Outcome>, SendError> {
        let timeout = self.timeout;
        let js = match &self.js {
            Some(js) => js.clone(),
            None => {
                let url = self.url.clone();
                // `jetstream::new` spawns its acker task, so it runs inside the runtime.
                let js = self
                    .runtime
                    .block_on(async move {
                        async_nats::ConnectOptions::new()
                            .connection_timeout(timeout)
                            .connect(url.as_str())
                            .await
                            .map(jetstream::new)
                    })
                    .map_err(|e| SendError::Retryable(format!("connect: {e}")))?;
                self.js = Some(js.clone());
                js
            }
        };
        let result = self.runtime.block_on(async move {
            let mut acks = Vec::with_capacity(batch.len());
            for rec in batch {
                let publish = PublishMessage::build()
                    .payload(bytes::Bytes::copy_from_slice(rec.json.as_bytes()))
                    .message_id(rec.event.event_id());
                let ack =
                    tokio::time::timeout(timeout, js.send_publish(rec.event.subject(), publish))
                        .await
                        .map_err(|_| SendError::Retryable("publish timed out".into()))?
                        .map_err(|e| SendError::Retryable(format!("publish: {e}")))?;
                acks.push(ack);
            }
            let mut outcomes = Vec::with_capacity(acks.len());
            for ack in acks {
                let ack = tokio::time::timeout(timeout, ack)
                    .await
                    .map_err(|_| SendError::Retryable("ack timed out".into()))?
                    .map_err(|e| SendError::Retryable(format!("ack: {e}")))?;
                outcomes.push(if ack.duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                });
            }
            Ok(outcomes)
        });
        if result.is_err() {
            // Reconnect on the next attempt; the old client reconnects on its own too, but a
            // fresh one gives a clean slate of ack futures.
            self.js = None;
        }
        result
    }
}
