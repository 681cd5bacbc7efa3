//! Batches to the timeline index server: `POST /timeline/events`.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::remote::{Outcome, RemoteSink, SendError, Settings, Transport};
use super::{Record, Sink, SinkError};
use crate::journal::JournalConfig;

/// Largest response body read, in bytes.
const MAX_RESPONSE_BYTES: u64 = 4 << 20;

/// Sends events in JSON-array batches to `POST <base>/timeline/events` on its own thread.
///
/// The endpoint answers `200` with one result per event:
/// `{"results":[{"event_id":"…","status":"accepted"|"duplicate"|"rejected","reason":"…"}]}`.
/// `accepted` and `duplicate` count as delivered (`event_id` makes delivery idempotent);
/// `rejected` events are logged and counted, never retried. A `400`, `413` or `422` refusing
/// a batch is taken to be about some of its events (one too large for the endpoint's body
/// limit, one it cannot parse): the batch is split in halves, each sent on its own, down to
/// single events, so only the events the endpoint refuses alone are rejected (logged with
/// the reason and counted) and the rest are delivered. Anything else (connection refused, timeouts, `5xx`, `408`,
/// `429`, `401`/`403`, a missing result) is retried with exponential backoff and jitter; with
/// a journal configured the journal takes over at the first failure and is replayed in order
/// once the endpoint answers again, also after a restart of the process.
///
/// # Examples
///
/// ```no_run
/// use stella_timeline_emit::{Emitter, HttpSink, JournalConfig};
///
/// let http = HttpSink::builder("http://timeline-index:8080")
///     .with_bearer_token("…")
///     .with_journal(JournalConfig::new("/var/lib/policy-engine/timeline-journal"))
///     .build()?;
/// let emitter = Emitter::builder().with_sink(http).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpSink {
    sink: Sink,
}

impl HttpSink {
    /// Starts a builder for the index server at `base_url` (`http://host:port`, or
    /// `https://host:port` with the `http-tls` feature, optionally with a path prefix); events
    /// go to `<base_url>/timeline/events`.
    pub fn builder(base_url: impl Into<String>) -> HttpSinkBuilder {
        HttpSinkBuilder {
            base_url: base_url.into(),
            token: None,
            timeout: Duration::from_secs(10),
            batch_size: 256,
            queue_capacity: 10_000,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            journal: None,
            #[cfg(feature = "http-tls")]
            tls: None,
        }
    }
}

impl From<HttpSink> for Sink {
    fn from(s: HttpSink) -> Sink {
        s.sink
    }
}

/// Builds an [`HttpSink`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpSinkBuilder {
    base_url: String,
    token: Option<String>,
    timeout: Duration,
    batch_size: usize,
    queue_capacity: usize,
    backoff_base: Duration,
    backoff_max: Duration,
    journal: Option<JournalConfig>,
    #[cfg(feature = "http-tls")]
    tls: Option<stella_http::Tls>,
}

impl HttpSinkBuilder {
    /// HTTPS settings of its own for an `https://` index server (the `http-tls` feature): CA
    /// certificates trusted instead of the webpki roots, a client certificate for mutual TLS
    /// ([`Tls`](crate::Tls)).
    #[cfg(feature = "http-tls")]
    pub fn with_tls(mut self, tls: stella_http::Tls) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Sends `Authorization: Bearer <token>` (a `stella:timeline:write` token).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    /// Whole-request timeout (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Most events per request (default 256).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Bound of the in-memory queue (default 10 000); past it events go to the journal, or are
    /// dropped and counted without one.
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// First and largest retry delay (defaults 100 ms and 30 s); each delay is drawn between
    /// half and all of `min(max, base * 2^attempt)`.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }
    /// Keeps undelivered events in this journal (strongly recommended).
    pub fn with_journal(mut self, journal: JournalConfig) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Opens the journal and starts the sink's thread.
    ///
    /// # Errors
    ///
    /// [`SinkError::Endpoint`] for a URL that is not `http://…` (or `https://…` with the
    /// `http-tls` feature), [`SinkError::Io`] if the
    /// journal cannot be opened (or is in use), [`SinkError::Start`] if the thread cannot
    /// start.
    pub fn build(self) -> Result<HttpSink, SinkError> {
        let base = self.base_url.trim_end_matches('/');
        let url = format!("{base}/timeline/events");
        let parsed: Result<ureq::http::Uri, _> = url.parse();
        match parsed {
            Ok(u) if supported_scheme(u.scheme_str()) && u.host().is_some() => {}
            _ => return Err(SinkError::Endpoint(self.base_url)),
        }
        #[cfg(feature = "http-tls")]
        let agent = match &self.tls {
            Some(tls) => stella_http::agent_with_tls(self.timeout, tls),
            None => stella_http::agent(self.timeout),
        };
        #[cfg(not(feature = "http-tls"))]
        let agent = stella_http::agent(self.timeout);
        let transport = HttpTransport {
            agent,
            url,
            auth: self.token.map(|t| format!("Bearer {t}")),
        };
        let settings = Settings {
            name: "http",
            batch_size: self.batch_size,
            queue_capacity: self.queue_capacity,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            journal: self.journal,
        };
        let sink = RemoteSink::start(settings, transport)?;
        Ok(HttpSink {
            sink: Sink::new(Arc::new(sink)),
        })
    }
}

struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

#[derive(Deserialize)]
struct IngestResponse {
    results: Vec<IngestResult>,
}

#[derive(Deserialize)]
struct IngestResult {
    event_id: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

impl Transport for HttpTransport {
    fn send(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Outcome>, SendError> {
        match self.send_once(batch) {
            // A refused batch may hold one bad event: the halves go on their own (at most
            // about twice as many requests as events, a depth of log2 of the batch size).
            Err(SendError::Rejected(_)) if batch.len() > 1 => {
                let (head, tail) = batch.split_at(batch.len() / 2);
                let mut outcomes = self.send(head)?;
                outcomes.extend(self.send(tail)?);
                Ok(outcomes)
            }
            Err(SendError::Rejected(reason)) if batch.len() == 1 => {
                Ok(vec![Outcome::Rejected(reason)])
            }
            other => other,
        }
    }
}

impl HttpTransport {
    /// One request for the whole batch.
    fn send_once(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Outcome>, SendError> {
        let mut body =
            String::with_capacity(batch.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, r) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&r.json);
        }
        body.push(']');
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        let mut resp = req
            .send(body.as_bytes())
            .map_err(|e| SendError::Retryable(e.to_string()))?;
        let status = resp.status().as_u16();
        let mut text = String::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| SendError::Retryable(format!("reading response: {e}")))?;
        match status {
            200..=299 => {
                if text.trim().is_empty() {
                    // No per-event results: the whole batch was taken.
                    return Ok(vec![Outcome::Accepted; batch.len()]);
                }
                let parsed: IngestResponse = serde_json::from_str(&text).map_err(|e| {
                    SendError::Retryable(format!("unreadable ingest response: {e}"))
                })?;
                let mut by_id: HashMap<&str, &IngestResult> = parsed
                    .results
                    .iter()
                    .map(|r| (r.event_id.as_str(), r))
                    .collect();
                batch
                    .iter()
                    .map(|rec| {
                        let r = by_id.remove(rec.event.event_id()).ok_or_else(|| {
                            SendError::Retryable(format!(
                                "no result for event {}",
                                rec.event.event_id()
                            ))
                        })?;
                        Ok(match r.status.as_str() {
                            "accepted" => Outcome::Accepted,
                            "duplicate" => Outcome::Duplicate,
                            _ => Outcome::Rejected(
                                r.reason.clone().unwrap_or_else(|| r.status.clone()),
                            ),
                        })
                    })
                    .collect()
            }
            400 | 413 | 422 => Err(SendError::Rejected(format!(
                "HTTP {status}: {}",
                truncate(&text)
            ))),
            _ => Err(SendError::Retryable(format!(
                "HTTP {status}: {}",
                truncate(&text)
            ))),
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `http`, and `https` when the `http-tls` feature brings TLS (rustls with the webpki roots).
fn supported_scheme(scheme: Option<&str>) -> bool {
    scheme == Some("http") || (cfg!(feature = "http-tls") && scheme == Some("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_http_or_https_with_tls() {
        assert!(HttpSink::builder("ftp://index:21").build().is_err());
        assert!(HttpSink::builder("not a url").build().is_err());
        let https = HttpSink::builder("https://index.invalid:8443").build();
        assert_eq!(https.is_ok(), cfg!(feature = "http-tls"));
    }
}
