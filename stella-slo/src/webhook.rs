//! Webhook delivery of breach events and incident-mode signals: HMAC-SHA256 signed, retried
//! with exponential backoff, sent from a worker thread so the evaluator never waits.
//!
//! Each POST carries the event's JSON and these headers:
//!
//! * `Content-Type: application/json`
//! * `X-Stella-Event`: `slo.breach`, `slo.resolved` or `incident.mode`
//! * `X-Stella-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! Receivers check the signature with [`verify`] (and reject old timestamps). The queue is
//! bounded: when it is full the event is dropped and counted ([`WebhookStats::dropped`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::event::{BreachEvent, BreachSink, IncidentSignal, unix_secs};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Stella-Signature";
/// The event-kind header.
pub const EVENT_HEADER: &str = "X-Stella-Event";

/// Why a webhook sink could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL must start with `http://` (or `https://` with the `tls` feature).
    #[error("webhook URL {0:?} must start with http:// or https://")]
    Url(String),
    /// The worker thread could not be started.
    #[error("cannot start the webhook worker thread: {0}")]
    Thread(String),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The header is not `t=<digits>,v1=<hex>`.
    #[error("malformed signature header")]
    Malformed,
    /// The signature does not match the body.
    #[error("signature does not match")]
    Mismatch,
    /// The timestamp is further from now than the tolerance.
    #[error("signature timestamp outside the tolerance")]
    Stale,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> HmacSha256 {
    // RFC 2104: a key longer than the block is hashed first; a shorter one is padded with
    // zeros. Doing it here gives the fixed-size key the infallible constructor takes.
    let mut key = [0u8; 64];
    if secret.len() > key.len() {
        let h = <Sha256 as sha2::Digest>::digest(secret);
        for (k, b) in key.iter_mut().zip(h.iter()) {
            *k = *b;
        }
    } else {
        for (k, b) in key.iter_mut().zip(secret) {
            *k = *b;
        }
    }
    let mut m = <HmacSha256 as KeyInit>::new(&key.into());
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `X-Stella-Signature` value for `body` sent at `timestamp` (unix seconds).
///
/// # Examples
///
/// ```
/// use stella_slo::webhook::{sign, verify};
/// let sig = sign(b"secret", 1_800_000_000, b"{}");
/// assert!(sig.starts_with("t=1800000000,v1="));
/// verify(b"secret", &sig, b"{}", 1_800_000_010, std::time::Duration::from_secs(300))?;
/// assert!(verify(b"other", &sig, b"{}", 1_800_000_010, std::time::Duration::from_secs(300)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a `X-Stella-Signature` header against `body` in constant time, and that its
/// timestamp is within `tolerance` of `now` (unix seconds).
///
/// # Errors
///
/// [`VerifyError`] when the header is malformed, the signature does not match, or the
/// timestamp is stale.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(VerifyError::Malformed);
    };
    mac(secret, t, body)
        .verify_slice(&v1)
        .map_err(|_| VerifyError::Mismatch)?;
    if now.abs_diff(t) > tolerance.as_secs() {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct WebhookStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

impl WebhookStats {
    /// Events delivered (2xx).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Events given up on after the last attempt or a non-retryable status.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full (or the worker had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Retried attempts.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

struct Job {
    kind: &'static str,
    body: Vec<u8>,
}

/// A [`BreachSink`] that POSTs events to a webhook from a worker thread.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use stella_slo::{Evaluator, webhook::WebhookSink};
///
/// let hook = WebhookSink::builder("http://alerts.internal:8080/stella")
///     .with_secret(b"shared secret".to_vec())
///     .with_max_attempts(5)
///     .with_backoff(Duration::from_millis(500), Duration::from_secs(30))
///     .build()?;
/// let stats = hook.stats();
/// let ev = Evaluator::builder().with_sink(hook).build()?;
/// # let _ = (ev, stats);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WebhookSink {
    tx: Option<SyncSender<Job>>,
    stats: Arc<WebhookStats>,
    done: std::sync::Mutex<Receiver<()>>,
    worker: Option<JoinHandle<()>>,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WebhookSink`]; see [`WebhookSink::builder`].
#[derive(Clone)]
pub struct WebhookBuilder {
    url: String,
    secret: Vec<u8>,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    queue: usize,
    timeout: Duration,
    https: crate::Https,
}

impl fmt::Debug for WebhookBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl WebhookBuilder {
    /// The HMAC secret (default empty: signed with an empty key, which receivers should refuse).
    #[must_use]
    pub fn with_secret(mut self, secret: Vec<u8>) -> WebhookBuilder {
        self.secret = secret;
        self
    }

    /// Attempts per event, first included (default 5, at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> WebhookBuilder {
        self.max_attempts = n.max(1);
        self
    }

    /// Backoff before the first retry, doubling up to `max` (default 500 ms, 30 s).
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> WebhookBuilder {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Queue capacity (default 1024, at least 1); a full queue drops and counts.
    #[must_use]
    pub fn with_queue_capacity(mut self, n: usize) -> WebhookBuilder {
        self.queue = n.max(1);
        self
    }

    /// Timeout of one attempt (default 10 s).
    #[must_use]
    pub fn with_timeout(mut self, t: Duration) -> WebhookBuilder {
        self.timeout = t;
        self
    }

    /// HTTPS settings of its own for an `https://` receiver (the `tls` feature): CA
    /// certificates trusted instead of the webpki roots, a client certificate for mutual TLS
    /// ([`Tls`](crate::Tls)).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: stella_http::Tls) -> WebhookBuilder {
        self.https = crate::Https(Some(tls));
        self
    }

    /// Starts the worker thread.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Url`] for a URL that is not http(s); [`WebhookError::Thread`] when the
    /// thread cannot be spawned.
    pub fn build(self) -> Result<WebhookSink, WebhookError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(WebhookError::Url(self.url));
        }
        let (tx, rx) = mpsc::sync_channel::<Job>(self.queue);
        let (done_tx, done) = mpsc::sync_channel::<()>(1);
        let stats = Arc::new(WebhookStats::default());
        let worker_stats = stats.clone();
        let worker = std::thread::Builder::new()
            .name("stella-slo-webhook".to_owned())
            .spawn(move || {
                run_worker(&self, &rx, &worker_stats);
                let _ = done_tx.try_send(());
            })
            .map_err(|e| WebhookError::Thread(e.to_string()))?;
        Ok(WebhookSink {
            tx: Some(tx),
            stats,
            done: std::sync::Mutex::new(done),
            worker: Some(worker),
        })
    }
}

fn run_worker(cfg: &WebhookBuilder, rx: &Receiver<Job>, stats: &WebhookStats) {
    let agent = cfg.https.agent(cfg.timeout);
    while let Ok(job) = rx.recv() {
        let mut backoff = cfg.initial_backoff;
        for attempt in 1..=cfg.max_attempts {
            let sig = sign(&cfg.secret, unix_secs(SystemTime::now()), &job.body);
            let res = agent
                .post(&cfg.url)
                .header("Content-Type", "application/json")
                .header(EVENT_HEADER, job.kind)
                .header(SIGNATURE_HEADER, &sig)
                .send(&job.body[..]);
            let retry = match res {
                Ok(r) if r.status().is_success() => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(r) => {
                    let s = r.status().as_u16();
                    s == 408 || s == 429 || s >= 500
                }
                Err(_) => true,
            };
            if !retry || attempt == cfg.max_attempts {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            stats.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(cfg.max_backoff);
        }
    }
}

impl WebhookSink {
    /// Starts building a sink that POSTs to `url`.
    pub fn builder(url: &str) -> WebhookBuilder {
        WebhookBuilder {
            url: url.to_owned(),
            secret: Vec::new(),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            queue: 1024,
            timeout: Duration::from_secs(10),
            https: crate::Https::default(),
        }
    }

    /// Delivery counters (shared with the worker).
    pub fn stats(&self) -> Arc<WebhookStats> {
        self.stats.clone()
    }

    fn enqueue(&self, kind: &'static str, body: Result<Vec<u8>, serde_json::Error>) {
        let (Some(tx), Ok(body)) = (&self.tx, body) else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(Job { kind, body }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Stops accepting events and waits up to `timeout` for the queue to drain. Returns
    /// whether it drained in time (the worker finishes in the background otherwise).
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        self.tx = None;
        let drained = match self.done.lock() {
            Ok(rx) => !matches!(rx.recv_timeout(timeout), Err(RecvTimeoutError::Timeout)),
            Err(_) => false,
        };
        if drained && let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        drained
    }
}

impl BreachSink for WebhookSink {
    fn breach(&self, event: &BreachEvent) {
        self.enqueue(event.kind.as_str(), serde_json::to_vec(event));
    }

    fn incident(&self, signal: &IncidentSignal) {
        self.enqueue("incident.mode", serde_json::to_vec(signal));
    }
}
