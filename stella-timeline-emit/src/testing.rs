//! Test doubles: an in-memory sink and a loopback ingest endpoint.
//!
//! [`IngestServer`] implements the `POST /timeline/events` contract the index server will
//! implement (see `docs/forensics/timeline.md`), on 127.0.0.1, with knobs to stop and restart
//! it, slow it down and make it answer errors, so delivery guarantees can be tested without
//! the real server.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::event::TimelineEvent;
use crate::sink::{FlushError, Record, Sink, SinkImpl};
use crate::stats::Counters;

// === impl MemorySink ===

/// Keeps every event it receives, for assertions.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::testing::MemorySink;
/// use stella_timeline_emit::{Emitter, EventKind, TimelineEvent};
///
/// let memory = MemorySink::new();
/// let emitter = Emitter::builder().with_sink(memory.clone()).build()?;
/// emitter.emit(TimelineEvent::builder(EventKind::SloResolved, "slo", "a").with_tenant("t").with_detail("slo", "a"))?;
/// emitter.flush(std::time::Duration::from_secs(5))?;
/// assert_eq!(memory.events().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemorySink {
    inner: Arc<MemoryInner>,
}

#[derive(Debug)]
struct MemoryInner {
    events: Mutex<Vec<TimelineEvent>>,
    paused: Mutex<bool>,
    resumed: Condvar,
    counters: Arc<Counters>,
}

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        MemorySink {
            inner: Arc::new(MemoryInner {
                events: Mutex::new(Vec::new()),
                paused: Mutex::new(false),
                resumed: Condvar::new(),
                counters: Arc::new(Counters::new("memory")),
            }),
        }
    }

    /// Every event received so far, in order.
    #[must_use]
    pub fn events(&self) -> Vec<TimelineEvent> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many events were received.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Makes `submit` block (the emitter's worker stalls, so its queue fills) until the
    /// returned guard is dropped.
    #[must_use]
    pub fn pause(&self) -> PauseGuard {
        *self
            .inner
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        PauseGuard {
            inner: Arc::clone(&self.inner),
        }
    }

    /// True if nothing was received.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Resumes a paused [`MemorySink`] when dropped.
#[derive(Debug)]
pub struct PauseGuard {
    inner: Arc<MemoryInner>,
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        *self
            .inner
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = false;
        self.inner.resumed.notify_all();
    }
}

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink::new()
    }
}

impl SinkImpl for MemoryInner {
    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
    fn submit(&self, record: &Arc<Record>) {
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        while *paused {
            paused = self
                .resumed
                .wait(paused)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(paused);
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record.event.clone());
        self.counters.delivered(1);
    }
    fn flush(&self, _deadline: Instant) -> Result<(), FlushError> {
        Ok(())
    }
    fn shutdown(&self, _deadline: Instant) -> Result<(), FlushError> {
        Ok(())
    }
}

impl From<MemorySink> for Sink {
    fn from(m: MemorySink) -> Sink {
        Sink::new(m.inner)
    }
}

// === impl IngestServer ===

/// How the loopback endpoint answers the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behavior {
    /// Store the events and answer per event.
    Normal,
    /// Answer this HTTP status (e.g. 500, 503) without storing anything.
    Fail(u16),
    /// Wait this long, then behave normally.
    Slow(Duration),
}

/// A loopback implementation of `POST /timeline/events` that deduplicates by `event_id`.
///
/// Each event in the JSON array is parsed and verified with [`TimelineEvent::from_value`]: a
/// valid new one is stored (`accepted`), a known `event_id` is `duplicate`, an invalid one is
/// `rejected` with the reason.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::testing::IngestServer;
///
/// let server = IngestServer::start()?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// server.stop();      // connections are refused now
/// server.restart()?;  // same port again
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IngestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    thread: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

#[derive(Debug, Default)]
struct ServerState {
    data: Mutex<ServerData>,
    cv: Condvar,
}

#[derive(Debug)]
struct ServerData {
    accepted: Vec<TimelineEvent>,
    seen: HashSet<String>,
    duplicates: usize,
    rejected: usize,
    requests: usize,
    behavior: Behavior,
    /// Answer this many requests with the status, then go back to `behavior`.
    fail_next: Option<(usize, u16)>,
    /// Reject events of this tenant (a per-event `rejected` result).
    reject_tenant: Option<String>,
    /// Answer `413` to bodies larger than this many bytes.
    max_body: Option<usize>,
}

impl Default for ServerData {
    fn default() -> Self {
        ServerData {
            accepted: Vec::new(),
            seen: HashSet::new(),
            duplicates: 0,
            rejected: 0,
            requests: 0,
            behavior: Behavior::Normal,
            fail_next: None,
            reject_tenant: None,
            max_body: None,
        }
    }
}

impl IngestServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// # Errors
    ///
    /// Any error binding the socket.
    pub fn start() -> std::io::Result<IngestServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = IngestServer {
            addr,
            state: Arc::new(ServerState::default()),
            thread: Mutex::new(None),
        };
        server.serve(listener)?;
        Ok(server)
    }

    /// The base URL to give [`HttpSink::builder`](crate::HttpSink::builder)-style clients.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening: new connections are refused. Stored events are kept.
    pub fn stop(&self) {
        let taken = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, handle)) = taken {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
    }

    /// Listens again on the same port.
    ///
    /// # Errors
    ///
    /// Any error binding the socket.
    pub fn restart(&self) -> std::io::Result<()> {
        self.stop();
        let listener = TcpListener::bind(self.addr)?;
        self.serve(listener)
    }

    fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&self.state);
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("stella-timeline-test-ingest".into())
            .spawn(move || {
                while !stop2.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let st = Arc::clone(&st);
                            let stop = Arc::clone(&stop2);
                            std::thread::spawn(move || {
                                let _ = handle_conn(&st, stream, &stop);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })?;
        *self.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some((stop, handle));
        Ok(())
    }

    /// Sets how the endpoint answers from now on.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.data().behavior = behavior;
    }

    /// Answers the next `n` requests with `status` (e.g. 500 or 503), then resumes.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.data().fail_next = Some((n, status));
    }

    /// Answers `rejected` for every event of `tenant` (or stops doing so with `None`).
    pub fn reject_tenant(&self, tenant: Option<&str>) {
        self.data().reject_tenant = tenant.map(str::to_owned);
    }

    /// Answers `413 Payload Too Large` to request bodies over `bytes` (or stops with `None`),
    /// as an index server or proxy with a body limit does.
    pub fn limit_body(&self, bytes: Option<usize>) {
        self.data().max_body = bytes;
    }

    /// Accepted events, in arrival order.
    #[must_use]
    pub fn accepted(&self) -> Vec<TimelineEvent> {
        self.data().accepted.clone()
    }

    /// Requests answered `duplicate` per event.
    #[must_use]
    pub fn duplicates(&self) -> usize {
        self.data().duplicates
    }

    /// Events answered `rejected`.
    #[must_use]
    pub fn rejected(&self) -> usize {
        self.data().rejected
    }

    /// Requests received (including failed ones).
    #[must_use]
    pub fn requests(&self) -> usize {
        self.data().requests
    }

    /// Waits until at least `n` events were accepted or `timeout` passes; returns the count.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut d = self.data();
        while d.accepted.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            d = self
                .state
                .cv
                .wait_timeout(d, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        d.accepted.len()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, ServerData> {
        self.state
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn handle_conn(st: &ServerState, stream: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        // Request line and headers.
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request_line = line.trim_end().to_owned();
        let mut content_length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        if content_length > 64 << 20 {
            return Ok(()); // refuse absurd bodies by closing the connection
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        let (status, resp) = if request_line.starts_with("POST /timeline/events ") {
            respond(st, &body)
        } else {
            (404, json!({"error": "not found"}))
        };
        if stop.load(Ordering::Acquire) {
            return Ok(()); // stopped mid-request: the client sees the connection drop
        }
        let text = resp.to_string();
        write!(
            writer,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        )?;
        writer.flush()?;
    }
}

fn respond(st: &ServerState, body: &[u8]) -> (u16, Value) {
    let behavior = {
        let mut d = st.data.lock().unwrap_or_else(PoisonError::into_inner);
        d.requests += 1;
        if d.max_body.is_some_and(|max| body.len() > max) {
            return (413, json!({"error": "request body too large"}));
        }
        if let Some((n, status)) = d.fail_next {
            d.fail_next = if n > 1 { Some((n - 1, status)) } else { None };
            return (status, json!({"error": "injected failure"}));
        }
        d.behavior
    };
    match behavior {
        Behavior::Fail(status) => return (status, json!({"error": "injected failure"})),
        Behavior::Slow(d) => std::thread::sleep(d),
        Behavior::Normal => {}
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return (
            400,
            json!({"error": "body must be a JSON array of timeline events"}),
        );
    };
    let mut d = st.data.lock().unwrap_or_else(PoisonError::into_inner);
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match TimelineEvent::from_value(item) {
            Ok(event) if d.reject_tenant.as_deref() == Some(event.tenant_id()) => {
                d.rejected += 1;
                results.push(json!({"event_id": id, "status": "rejected", "reason": "tenant not allowed here"}));
            }
            Ok(event) => {
                if d.seen.insert(event.event_id().to_owned()) {
                    d.accepted.push(event);
                    results.push(json!({"event_id": id, "status": "accepted"}));
                } else {
                    d.duplicates += 1;
                    results.push(json!({"event_id": id, "status": "duplicate"}));
                }
            }
            Err(e) => {
                d.rejected += 1;
                results
                    .push(json!({"event_id": id, "status": "rejected", "reason": e.to_string()}));
            }
        }
    }
    st.cv.notify_all();
    (200, json!({ "results": results }))
}
