//! The export queue and its worker thread: OTLP/HTTP protobuf (or OTLP/gRPC with the
//! `otlp-grpc` feature), bounded, never blocking.

use std::cell::RefCell;
use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use stella_scrub::Scrubber;

use super::TraceConfig;
use super::layer::SpanData;
use super::pool::SpanPool;
use super::stats::{Counters, add};
use crate::Resource;

/// The most response bytes read from the collector.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// The most bytes of encoded spans the queue holds, whatever its capacity in spans.
pub(crate) const MAX_QUEUE_BYTES: usize = 32 << 20;

/// The most bytes of encoded spans in one export request, whatever the batch size (a span
/// larger than this goes alone): with the resource and framing, a request stays under the
/// 4 MiB message bound of a gRPC receiver's defaults (the OpenTelemetry Collector's OTLP
/// receiver among them).
pub(crate) const MAX_REQUEST_BYTES: usize = 3 << 20;

#[derive(Debug, Default)]
struct State {
    /// The waiting spans, encoded (entries of `ScopeSpans.spans`), back to back.
    bytes: Vec<u8>,
    /// Where each waiting span ends in `bytes`.
    ends: Vec<usize>,
    /// Spans the export thread has taken and not sent yet, and their bytes (they count
    /// against the bounds).
    held: usize,
    held_bytes: usize,
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    stopped: bool,
}

/// The bounded span queue shared by the bridge (producer) and the worker (consumer).
///
/// A span is encoded as protobuf (and scrubbed) by the thread that pushes it, the one that
/// ended it, where its data is still in that core's cache; its data goes back to the pool from
/// that same thread. The export thread only reads the compact bytes, not each span's
/// structures from the other core: on the overhead bench its CPU per request fell from about
/// 6 µs to 2.5 µs, with the same instructions (`benches/README.md`).
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
    capacity: usize,
    /// The most bytes of encoded spans waiting ([`MAX_QUEUE_BYTES`]).
    max_bytes: usize,
    batch_size: usize,
    /// The most bytes of encoded spans in one request ([`MAX_REQUEST_BYTES`]).
    max_request_bytes: usize,
    /// Spans waiting, as of the last change (read without the lock: a full queue is not worth
    /// encoding for).
    waiting: AtomicUsize,
    scrubber: Scrubber,
    /// Ended spans' data, emptied, which the bridge reuses: a new span's buffers then cost no
    /// allocation. Bounded; its own lock, never held with another, and never waited for.
    pool: SpanPool,
    /// What the bridge recorded of each queued span, for the tests.
    #[cfg(test)]
    captured: Mutex<Vec<SpanData>>,
}

thread_local! {
    /// The encoding buffers of the threads that end spans (the span's bytes, its events'
    /// lengths), reused from span to span.
    static SCRATCH: RefCell<(Vec<u8>, Vec<usize>, Vec<usize>)> = const {
        RefCell::new((Vec::new(), Vec::new(), Vec::new()))
    };
}

/// The most bytes of scratch space a thread keeps between spans.
const MAX_SCRATCH_BYTES: usize = 64 * 1024;
/// The most bytes of capacity the export thread keeps in a buffer it is done with.
const MAX_KEPT_BUFFER: usize = 4 << 20;

impl Queue {
    pub(crate) fn new(capacity: usize, batch_size: usize, scrubber: Scrubber) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            capacity,
            max_bytes: MAX_QUEUE_BYTES,
            batch_size,
            max_request_bytes: MAX_REQUEST_BYTES,
            waiting: AtomicUsize::new(0),
            scrubber,
            pool: SpanPool::default(),
            #[cfg(test)]
            captured: Mutex::default(),
        }
    }

    /// An ended span's data, emptied, when the pool has one (never waits).
    pub(crate) fn take_span(&self) -> Option<Box<SpanData>> {
        self.pool.take()
    }

    /// Hands span data that will not be exported to the pool (never waits).
    pub(crate) fn recycle(&self, data: Box<SpanData>) {
        self.pool.keep_one(data);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `done` while `waiting` holds, until `deadline` at the latest.
    fn wait_done<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        waiting: impl Fn(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>, Timeout> {
        while waiting(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Timeout);
            }
            st = self
                .done
                .wait_timeout(st, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        Ok(st)
    }

    /// Takes every queued span as the bridge recorded it, before scrubbing and encoding
    /// (tests read what the bridge recorded).
    #[cfg(test)]
    pub(crate) fn take_all(&self) -> Vec<SpanData> {
        let mut st = self.lock();
        st.bytes.clear();
        st.ends.clear();
        self.waiting.store(0, Ordering::Relaxed);
        drop(st);
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(|e| e.into_inner()))
    }

    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        let st = self.lock();
        st.ends.len() + st.held
    }

    /// Enqueues one span (a span that ended), as [`Self::push`] does.
    pub(crate) fn push_one(&self, span: Box<SpanData>, stats: &Counters) {
        self.push(std::iter::once(span), stats);
    }

    /// Encodes and enqueues spans; what does not fit is dropped and counted. Never waits for
    /// room. The spans' data goes back to the pool.
    pub(crate) fn push(&self, spans: impl Iterator<Item = Box<SpanData>>, stats: &Counters) {
        let mut spans = Some(spans);
        let _ = SCRATCH.try_with(|scratch| {
            // The spans are taken only once the scratch is ours: else they stay for the
            // fallback below.
            if let Ok(mut scratch) = scratch.try_borrow_mut()
                && let Some(spans) = spans.take()
            {
                let (bytes, ends, lens) = &mut *scratch;
                self.push_with(spans, stats, bytes, ends, lens);
                if bytes.capacity() > MAX_SCRATCH_BYTES {
                    *bytes = Vec::new();
                }
            }
        });
        if let Some(spans) = spans.take() {
            // The thread is ending (its scratch is gone) or is already pushing: buffers of
            // this call's own.
            self.push_with(
                spans,
                stats,
                &mut Vec::new(),
                &mut Vec::new(),
                &mut Vec::new(),
            );
        }
    }

    fn push_with(
        &self,
        spans: impl Iterator<Item = Box<SpanData>>,
        stats: &Counters,
        bytes: &mut Vec<u8>,
        ends: &mut Vec<usize>,
        lens: &mut Vec<usize>,
    ) {
        bytes.clear();
        ends.clear();
        let mut refused = 0;
        for mut span in spans {
            // A full queue is not worth the encoding (a collector away must cost little).
            if self.waiting.load(Ordering::Relaxed) + ends.len() >= self.capacity {
                refused += 1;
            } else {
                #[cfg(test)]
                self.captured
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((*span).clone());
                super::encode::put_span_message(bytes, &mut span, &self.scrubber, lens);
                ends.push(bytes.len());
            }
            self.pool.keep_one(span);
        }
        let mut queued = 0;
        let mut wake = false;
        if !ends.is_empty() {
            let mut st = self.lock();
            let before = st.ends.len();
            // The most of the encoded spans that fit, in spans and in bytes.
            let room = self.capacity.saturating_sub(before + st.held);
            let byte_room = self
                .max_bytes
                .saturating_sub(st.bytes.len() + st.held_bytes);
            if !st.shutdown {
                queued = ends
                    .iter()
                    .take(room)
                    .take_while(|&&end| end <= byte_room)
                    .count();
            }
            let taken = ends.get(..queued).unwrap_or_default();
            if let Some(&cut) = taken.last() {
                let base = st.bytes.len();
                st.bytes
                    .extend_from_slice(bytes.get(..cut).unwrap_or_default());
                st.ends.extend(taken.iter().map(|e| base + e));
            }
            let after = st.ends.len();
            self.waiting.store(after + st.held, Ordering::Relaxed);
            // Wake the worker once, when the queue reaches a batch (not on every push past
            // it): otherwise it wakes by itself every export interval.
            wake = before < self.batch_size && after >= self.batch_size;
            refused += ends.len() - queued;
        }
        add(&stats.spans_queued, queued);
        add(&stats.dropped_queue_full, refused);
        if wake {
            self.work.notify_one();
        }
    }
}

/// Sends one encoded `ExportTraceServiceRequest`. An error the collector marked as "try again
/// later" is retried a bounded number of times; any other fails (drops and counts) the batch.
pub(crate) trait Transport {
    fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError>;
}

/// What the collector said of a request it accepted: the spans it rejected all the same
/// (OTLP's partial success, which is never retried) and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) rejected: u64,
    pub(crate) message: String,
}

/// The partial success of an `ExportTraceServiceResponse` in protobuf. An empty body, or one
/// that does not decode, is a full success (the specification's reading of an absent or empty
/// `partial_success`).
pub(crate) fn partial_success(body: &[u8]) -> Accepted {
    use prost::Message as _;
    let Some(p) = ExportTraceServiceResponse::decode(body)
        .ok()
        .and_then(|r| r.partial_success)
    else {
        return Accepted::default();
    };
    Accepted {
        rejected: u64::try_from(p.rejected_spans).unwrap_or(0),
        message: crate::json::prefix(&p.error_message, 256).to_owned(),
    }
}

/// A failed export request.
#[derive(Debug)]
pub(crate) struct SendError {
    /// Why, as [`TelemetryHandle::last_export_error`](crate::TelemetryHandle::last_export_error)
    /// shows it.
    pub(crate) reason: String,
    /// `Some` when the request is to be sent again later: the collector asked for it (OTLP's
    /// retryable answers: HTTP 429, 502, 503 and 504, the retryable gRPC codes), with the
    /// delay it asked for (`Retry-After` in seconds), if any; or it could not be reached
    /// ([`SendError::unreachable`]).
    pub(crate) retry: Option<Option<Duration>>,
}

impl SendError {
    /// The collector could not be reached, or closed the connection before it answered: sent
    /// again after the backoff, as OTLP asks of clients (a collector restarting, or a load
    /// balancer moving it, loses nothing). A timeout is not one of these: a collector that
    /// hangs would hold the export thread for three timeouts per batch.
    pub(crate) fn unreachable(reason: String) -> SendError {
        SendError {
            reason,
            retry: Some(None),
        }
    }
}

/// `body` gzip-compressed into `out` (cleared first), at the fast level: span batches are
/// repetitive text, and the export thread's time counts against the service's CPU.
fn gzip_into(body: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Write as _;
    out.clear();
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish().map(|_| ())
}

/// [`SendError`] for a request the HTTP client could not complete: retried when no connection
/// could be made or the connection broke before the answer ([`SendError::unreachable`]).
fn http_client_error(e: &ureq::Error) -> SendError {
    use std::io::ErrorKind;
    let unreachable = match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::NotConnected
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
        ),
        _ => false,
    };
    if unreachable {
        SendError::unreachable(e.to_string())
    } else {
        SendError::from(e.to_string())
    }
}

impl From<String> for SendError {
    fn from(reason: String) -> Self {
        SendError {
            reason,
            retry: None,
        }
    }
}

/// How many times one request is sent again after a retryable answer.
const MAX_RETRIES: usize = 2;
/// The waits before the retries when the collector gives none (each within ±25 %, so that
/// the services a collector turned away do not all come back at once).
const RETRY_WAITS: [Duration; MAX_RETRIES] =
    [Duration::from_millis(200), Duration::from_millis(800)];
/// The longest wait a collector's `Retry-After` gets: the batch waits on the export thread
/// while the queue keeps filling (and refusing, counted, when full).
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// The HTTP status codes OTLP/HTTP clients retry (the specification's retryable set).
fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// [`SendError::retry`] for an HTTP answer of `status` with this `Retry-After` header: from
/// the collector itself (OTLP/HTTP) or from a proxy in front of a gRPC one.
pub(crate) fn http_retry(
    status: u16,
    retry_after_header: Option<&str>,
) -> Option<Option<Duration>> {
    retryable_status(status).then(|| retry_after(retry_after_header))
}

/// A `Retry-After` header's delay: delay-seconds only (an HTTP date falls back on the
/// exporter's own backoff), at most [`MAX_RETRY_WAIT`].
fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT))
}

/// The wait before retry number `attempt` (0-based): the collector's, else the backoff with
/// jitter.
fn retry_wait(attempt: usize, asked: Option<Duration>) -> Duration {
    if let Some(asked) = asked {
        return asked;
    }
    let base = RETRY_WAITS.get(attempt).copied().unwrap_or(MAX_RETRY_WAIT);
    // ±25 % from the clock's low bits: enough to spread services apart, no generator needed.
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 501);
    base.mul_f64(0.75 + f64::from(noise) / 1000.0)
}

struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    /// Sent with every request (`OTEL_EXPORTER_OTLP_HEADERS`).
    headers: Vec<(String, String)>,
    /// The bodies come gzip-compressed ([`OtlpCompression::Gzip`]).
    gzip: bool,
}

impl Transport for HttpTransport {
    fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/x-protobuf");
        if self.gzip {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut resp = request.send(body).map_err(|e| http_client_error(&e))?;
        let status = resp.status().as_u16();
        let retry = http_retry(
            status,
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let protobuf = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("protobuf"));
        let mut sink = Vec::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut sink);
        if (200..300).contains(&status) {
            Ok(if protobuf {
                partial_success(&sink)
            } else {
                Accepted::default()
            })
        } else {
            Err(SendError {
                reason: format!("the collector answered {status}"),
                retry,
            })
        }
    }
}

/// The export worker: owns the thread that drains the queue.
#[derive(Debug)]
pub(crate) struct Exporter {
    queue: Arc<Queue>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Flushing or stopping did not finish in time.
#[derive(Debug)]
pub(crate) struct Timeout;

/// A string attribute of the resource.
fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// The OTLP resource of `resource`, values scrubbed.
pub(crate) fn proto_resource(resource: &Resource, scrubber: &Scrubber) -> ProtoResource {
    let mut attributes = Vec::new();
    let mut put = |k: &str, v: &str| {
        let v = v.trim();
        if !v.is_empty() {
            let clean = scrubber.scrub_field(k, crate::json::prefix(v, 256));
            attributes.push(kv(k, clean.into_owned()));
        }
    };
    put("service.name", resource.service());
    put("service.version", resource.version());
    if let Some(v) = resource.env() {
        put("deployment.environment.name", v);
    }
    if let Some(v) = resource.region() {
        put("cloud.region", v);
    }
    if let Some(v) = resource.instance_id() {
        put("service.instance.id", v);
    }
    for (k, v) in resource.attributes() {
        put(k, v);
    }
    put("telemetry.sdk.name", "stella-telemetry");
    put("telemetry.sdk.language", "rust");
    put("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
    ProtoResource {
        attributes,
        ..ProtoResource::default()
    }
}

/// How the worker sends: made into a [`Transport`] on the export thread itself, so that
/// nothing of it (a gRPC runtime) is ever created or dropped on a caller's thread.
enum TransportSpec {
    Http {
        agent: ureq::Agent,
        url: String,
        headers: Vec<(String, String)>,
        gzip: bool,
    },
    #[cfg(feature = "otlp-grpc")]
    Grpc {
        endpoint: String,
        timeout: Duration,
        headers: Vec<(String, String)>,
        gzip: bool,
    },
}

impl TransportSpec {
    fn build(self) -> Box<dyn Transport> {
        match self {
            TransportSpec::Http {
                agent,
                url,
                headers,
                gzip,
            } => Box::new(HttpTransport {
                agent,
                url,
                headers,
                gzip,
            }),
            #[cfg(feature = "otlp-grpc")]
            TransportSpec::Grpc {
                endpoint,
                timeout,
                headers,
                gzip,
            } => Box::new(super::grpc::GrpcTransport::new(
                &endpoint, timeout, headers, gzip,
            )),
        }
    }
}

struct Worker {
    queue: Arc<Queue>,
    stats: Arc<Counters>,
    transport: TransportSpec,
    resource: ProtoResource,
    interval: Duration,
    gzip: bool,
}

impl Worker {
    fn run(self) {
        let Worker {
            queue,
            stats,
            transport,
            resource,
            interval,
            gzip,
        } = self;
        Drain {
            queue,
            stats,
            transport: transport.build(),
            resource: super::encode::resource_bytes(&resource),
            interval,
            gzip: gzip.then(Vec::new),
        }
        .run();
    }
}

/// The worker's loop, with its transport built on the export thread.
struct Drain {
    queue: Arc<Queue>,
    stats: Arc<Counters>,
    transport: Box<dyn Transport>,
    /// The encoded `Resource`, the same in every batch.
    resource: Vec<u8>,
    interval: Duration,
    /// With gzip compression, the buffer of the compressed body.
    gzip: Option<Vec<u8>>,
}

/// Where the first `n` spans of a take end in its bytes (`ends` as the queue kept them).
fn sent_up_to(ends: &[usize], n: usize) -> usize {
    n.checked_sub(1)
        .and_then(|i| ends.get(i))
        .copied()
        .unwrap_or(0)
}

/// How many of the spans ending at `ends` (from byte `from`) go in the next request: at most
/// `most` spans and `max_bytes` bytes, and one span at least.
fn batch_len(ends: &[usize], from: usize, most: usize, max_bytes: usize) -> usize {
    let ends = ends.get(..most).unwrap_or(ends);
    ends.partition_point(|&end| end.saturating_sub(from) <= max_bytes)
        .max(1)
        .min(ends.len())
}

impl Drain {
    /// Sends `body`, again after a retryable answer (at most [`MAX_RETRIES`] times, after the
    /// collector's `Retry-After` or a short backoff). A shutdown ends the waiting: the batch
    /// is then dropped and counted.
    fn send_with_retries(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
        let mut attempt = 0;
        loop {
            let err = match self.transport.send(body) {
                Ok(accepted) => return Ok(accepted),
                Err(e) => e,
            };
            let Some(asked) = err.retry else {
                return Err(err);
            };
            if attempt >= MAX_RETRIES || !self.wait_unless_shutdown(retry_wait(attempt, asked)) {
                return Err(err);
            }
            attempt += 1;
            add(&self.stats.export_retries, 1);
        }
    }

    /// Waits `wait` on the queue's condition; false when a shutdown comes first.
    fn wait_unless_shutdown(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut st = self.queue.lock();
        loop {
            if st.shutdown {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            st = self
                .queue
                .work
                .wait_timeout(st, deadline - now)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }

    fn run(mut self) {
        let mut last = Instant::now();
        // What the last take found: the whole queue, taken with an O(1) swap so that producers
        // never wait behind a copy, however long the queue. It is sent a batch at a time; its
        // emptied buffers go back to the queue at the next take (so producers append without
        // growing them).
        let mut held: Vec<u8> = Vec::new();
        let mut held_ends: Vec<usize> = Vec::new();
        // The first span of `held` not sent yet.
        let mut next = 0;
        // The flush requests and the shutdown seen at the last take.
        let mut target = 0;
        let mut shutdown = false;
        let mut body: Vec<u8> = Vec::new();
        loop {
            if next == held_ends.len() {
                let mut st = self.queue.lock();
                loop {
                    let due = last.elapsed() >= self.interval;
                    if st.shutdown
                        || st.flush_requested > st.flush_done
                        || st.ends.len() >= self.queue.batch_size
                        || (due && !st.ends.is_empty())
                    {
                        break;
                    }
                    let wait = if due {
                        self.interval
                    } else {
                        self.interval.saturating_sub(last.elapsed())
                    };
                    st = self
                        .queue
                        .work
                        .wait_timeout(st, wait)
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                    if st.ends.is_empty() && last.elapsed() >= self.interval {
                        last = Instant::now();
                    }
                }
                // A backlog far above the usual leaves its memory, not its capacity, behind.
                if held.capacity() > MAX_KEPT_BUFFER {
                    held = Vec::new();
                }
                held.clear();
                held_ends.clear();
                next = 0;
                std::mem::swap(&mut st.bytes, &mut held);
                std::mem::swap(&mut st.ends, &mut held_ends);
                st.held = held_ends.len();
                st.held_bytes = held.len();
                target = st.flush_requested;
                shutdown = st.shutdown;
                drop(st);
                last = Instant::now();
            }
            if let Some(left) = held_ends.len().checked_sub(next).filter(|n| *n > 0) {
                let from = sent_up_to(&held_ends, next);
                let n = batch_len(
                    held_ends.get(next..).unwrap_or_default(),
                    from,
                    left.min(self.queue.batch_size),
                    self.queue.max_request_bytes,
                );
                next += n;
                let to = sent_up_to(&held_ends, next);
                let spans = held.get(from..to).unwrap_or_default();
                super::encode::request_into(&mut body, &self.resource, spans);
                add(&self.stats.exports, 1);
                let sent = match self.gzip.take() {
                    Some(mut zipped) => {
                        let sent = gzip_into(&body, &mut zipped)
                            .map_err(|e| SendError::from(format!("gzip failed: {e}")))
                            .and_then(|()| self.send_with_retries(&zipped));
                        if zipped.capacity() > MAX_KEPT_BUFFER {
                            zipped = Vec::new();
                        }
                        self.gzip = Some(zipped);
                        sent
                    }
                    None => self.send_with_retries(&body),
                };
                match sent {
                    Ok(accepted) => {
                        let rejected = usize::try_from(accepted.rejected)
                            .unwrap_or(usize::MAX)
                            .min(n);
                        add(&self.stats.spans_exported, n - rejected);
                        if rejected > 0 {
                            add(&self.stats.rejected_spans, rejected);
                            self.stats.set_last_error(format!(
                                "the collector rejected {rejected} of {n} spans: {}",
                                accepted.message
                            ));
                        }
                    }
                    Err(e) => {
                        add(&self.stats.export_failures, 1);
                        add(&self.stats.dropped_export, n);
                        self.stats.set_last_error(e.reason);
                    }
                }
                if body.capacity() > MAX_KEPT_BUFFER {
                    body = Vec::new();
                }
            }
            let mut st = self.queue.lock();
            st.held = held_ends.len() - next;
            st.held_bytes = held.len().saturating_sub(sent_up_to(&held_ends, next));
            self.queue
                .waiting
                .store(st.ends.len() + st.held, Ordering::Relaxed);
            if st.held == 0 {
                // Every span queued before the flush requests seen at the take is sent.
                st.flush_done = st.flush_done.max(target);
                if (shutdown || st.shutdown) && st.ends.is_empty() {
                    st.stopped = true;
                }
            }
            let stopped = st.stopped;
            drop(st);
            self.queue.done.notify_all();
            if stopped {
                return;
            }
        }
    }
}

impl Exporter {
    /// Starts the worker thread for `config`'s endpoint.
    pub(crate) fn start(
        config: &TraceConfig,
        validated: &super::config::Validated,
        resource: ProtoResource,
        queue: Arc<Queue>,
        stats: Arc<Counters>,
    ) -> Result<Exporter, std::io::Error> {
        let url = config.endpoint.clone().unwrap_or_default();
        let gzip = config.compression == super::OtlpCompression::Gzip;
        let transport = match config.protocol {
            #[cfg(feature = "otlp-grpc")]
            super::OtlpProtocol::Grpc => TransportSpec::Grpc {
                endpoint: url,
                timeout: config.export_timeout,
                headers: config.headers.0.clone(),
                gzip,
            },
            _ => {
                let agent = validated.agent(config.export_timeout);
                TransportSpec::Http {
                    agent,
                    url,
                    headers: config.headers.0.clone(),
                    gzip,
                }
            }
        };
        let worker = Worker {
            queue: Arc::clone(&queue),
            stats,
            transport,
            resource,
            interval: config.export_interval,
            gzip,
        };
        let thread = thread::Builder::new()
            .name("stella-telemetry-otlp".to_owned())
            .spawn(move || worker.run())?;
        Ok(Exporter {
            queue,
            thread: Some(thread),
        })
    }

    /// Waits until every span queued before the call was sent (or failed), at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), Timeout> {
        let deadline = Instant::now() + timeout;
        let mut st = self.queue.lock();
        if st.stopped {
            return Ok(());
        }
        st.flush_requested += 1;
        let target = st.flush_requested;
        self.queue.work.notify_one();
        self.queue
            .wait_done(st, deadline, |st| st.flush_done < target && !st.stopped)
            .map(drop)
    }

    /// Sends what is queued and stops the worker, within `timeout`. A worker stuck on a
    /// hanging collector is left to finish on its own (its request has its own timeout); the
    /// caller is never held longer than `timeout`.
    pub(crate) fn shutdown(&mut self, timeout: Duration) -> Result<(), Timeout> {
        let deadline = Instant::now() + timeout;
        let mut st = self.queue.lock();
        st.shutdown = true;
        self.queue.work.notify_one();
        drop(self.queue.wait_done(st, deadline, |st| !st.stopped)?);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let mut st = self.queue.lock();
        st.shutdown = true;
        drop(st);
        self.queue.work.notify_one();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::Ordering;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use prost::Message as _;

    use super::*;
    use crate::trace::layer::Plain;

    /// Keeps every request body it is given.
    struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Transport for Capture {
        fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
            self.0.lock().unwrap().push(body.to_vec());
            Ok(Accepted::default())
        }
    }

    fn span(i: usize, note: &str) -> Box<SpanData> {
        let mut s = Box::new(SpanData::new("step"));
        s.trace_id = [7; 16];
        s.span_id = [u8::try_from(i).unwrap() + 1; 8];
        s.sampled = true;
        s.push_plain("i", Plain::I64(i64::try_from(i).unwrap()));
        s.push_plain("note", Plain::Str(note.to_owned()));
        s
    }

    /// Starts an export thread over `queue` with the transport `make` builds there.
    fn spawn_drain(
        queue: &Arc<Queue>,
        stats: &Arc<Counters>,
        interval: Duration,
        make: impl FnOnce() -> Box<dyn Transport> + Send + 'static,
    ) -> thread::JoinHandle<()> {
        let (queue, stats) = (Arc::clone(queue), Arc::clone(stats));
        let resource = super::super::encode::resource_bytes(&proto_resource(
            &crate::Resource::new("svc", "1"),
            &Scrubber::builder().build().unwrap(),
        ));
        thread::spawn(move || {
            Drain {
                queue,
                stats,
                transport: make(),
                resource,
                interval,
                gzip: None,
            }
            .run();
        })
    }

    /// The encoded length of one test span, and a queue for `capacity` spans in batches of
    /// `batch`.
    fn queue_and_span_len(capacity: usize, batch: usize) -> (Queue, usize) {
        let queue = Queue::new(capacity, batch, Scrubber::builder().build().unwrap());
        let mut bytes = Vec::new();
        super::super::encode::put_span_message(
            &mut bytes,
            &mut span(0, "ok"),
            &queue.scrubber,
            &mut Vec::new(),
        );
        (queue, bytes.len())
    }

    /// Drains `queue` to the end on a thread of its own, as the export thread does, and
    /// returns the decoded requests.
    fn drain(queue: &Arc<Queue>, stats: &Arc<Counters>) -> Vec<ExportTraceServiceRequest> {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = Arc::clone(&bodies);
        let thread = spawn_drain(queue, stats, Duration::from_secs(60), move || {
            Box::new(Capture(b))
        });
        queue.lock().shutdown = true;
        queue.work.notify_one();
        thread.join().unwrap();
        let bodies = std::mem::take(&mut *bodies.lock().unwrap());
        bodies
            .iter()
            .map(|b| ExportTraceServiceRequest::decode(&b[..]).unwrap())
            .collect()
    }

    /// The `i` attribute of each span of a request, in order.
    fn ids(request: &ExportTraceServiceRequest) -> Vec<i64> {
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        spans
            .iter()
            .map(|s| {
                let v = s.attributes.iter().find(|kv| kv.key == "i").unwrap();
                match v.value.as_ref().unwrap().value.as_ref().unwrap() {
                    any_value::Value::IntValue(n) => *n,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn spans_encoded_when_pushed_go_out_in_batches_in_order_and_scrubbed() {
        let scrubber = Scrubber::builder().build().unwrap();
        let queue = Arc::new(Queue::new(10, 4, scrubber));
        let stats = Arc::new(Counters::default());
        // One by one (spans ending) and several at once (a trace the tail sampler keeps).
        for i in 0..3 {
            queue.push_one(span(i, "mail bob@example.com"), &stats);
        }
        queue.push((3..12).map(|i| span(i, "ok")), &stats);
        assert_eq!(queue.len(), 10);
        assert_eq!(stats.spans_queued.load(Ordering::Relaxed), 10);
        assert_eq!(
            stats.dropped_queue_full.load(Ordering::Relaxed),
            2,
            "beyond capacity"
        );
        let requests = drain(&queue, &stats);
        let batches: Vec<Vec<i64>> = requests.iter().map(ids).collect();
        assert_eq!(
            batches,
            [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]],
            "batches of 4, in order"
        );
        for r in &requests {
            let resource = r.resource_spans[0].resource.as_ref().unwrap();
            assert!(
                resource
                    .attributes
                    .iter()
                    .any(|kv| kv.key == "service.name")
            );
            assert_eq!(
                r.resource_spans[0].scope_spans[0]
                    .scope
                    .as_ref()
                    .unwrap()
                    .name,
                "stella-telemetry"
            );
        }
        let wire = format!("{requests:?}");
        assert!(
            !wire.contains("bob@example.com"),
            "scrubbed before encoding"
        );
        assert_eq!(stats.spans_exported.load(Ordering::Relaxed), 10);
        assert_eq!(queue.len(), 0);
    }

    /// Waits on a channel before each send, so that a test holds the export thread mid-batch.
    struct Gate(std::sync::mpsc::Receiver<()>, Arc<Mutex<Vec<Vec<u8>>>>);

    impl Transport for Gate {
        fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
            self.0.recv().map_err(|e| e.to_string())?;
            self.1.lock().unwrap().push(body.to_vec());
            Ok(Accepted::default())
        }
    }

    #[test]
    fn the_export_thread_takes_the_whole_queue_at_once_and_what_it_holds_counts_against_the_bound()
    {
        let scrubber = Scrubber::builder().build().unwrap();
        let queue = Arc::new(Queue::new(6, 2, scrubber));
        let stats = Arc::new(Counters::default());
        let (open, gate) = std::sync::mpsc::channel();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = Arc::clone(&bodies);
        let thread = spawn_drain(&queue, &stats, Duration::from_secs(60), move || {
            Box::new(Gate(gate, b))
        });
        queue.push((0..6).map(|i| span(i, "ok")), &stats);
        // The export thread wakes at a batch and takes all six in one swap.
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.lock().held != 6 {
            assert!(
                Instant::now() < deadline,
                "the export thread never took the queue"
            );
            thread::sleep(Duration::from_millis(1));
        }
        assert!(queue.lock().ends.is_empty(), "taken at once");
        assert_eq!(queue.len(), 6, "held spans are still waiting");
        // Held spans fill the bound: a new span is refused.
        queue.push_one(span(6, "ok"), &stats);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 1);
        // Sent a batch at a time; room comes back as they go.
        for _ in 0..3 {
            open.send(()).unwrap();
        }
        while queue.len() != 0 {
            assert!(
                Instant::now() < deadline,
                "the held batches were never sent"
            );
            thread::sleep(Duration::from_millis(1));
        }
        queue.push((7..9).map(|i| span(i, "ok")), &stats);
        assert_eq!(queue.len(), 2);
        open.send(()).unwrap();
        queue.lock().shutdown = true;
        queue.work.notify_one();
        thread.join().unwrap();
        let batches: Vec<Vec<i64>> = bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| ids(&ExportTraceServiceRequest::decode(&b[..]).unwrap()))
            .collect();
        assert_eq!(batches, [vec![0, 1], vec![2, 3], vec![4, 5], vec![7, 8]]);
        assert_eq!(stats.spans_exported.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn a_push_while_the_thread_s_scratch_is_busy_still_queues_the_span() {
        let scrubber = Scrubber::builder().build().unwrap();
        let queue = Arc::new(Queue::new(10, 512, scrubber));
        let stats = Arc::new(Counters::default());
        SCRATCH.with(|scratch| {
            let _busy = scratch.borrow_mut();
            queue.push_one(span(0, "ok"), &stats);
        });
        queue.push_one(span(1, "ok"), &stats);
        assert_eq!(queue.len(), 2);
        let batches: Vec<Vec<i64>> = drain(&queue, &stats).iter().map(ids).collect();
        assert_eq!(batches, [vec![0, 1]]);
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_too() {
        let (mut queue, one) = queue_and_span_len(100, 512);
        queue.max_bytes = 3 * one + one / 2;
        let queue = Arc::new(queue);
        let stats = Arc::new(Counters::default());
        queue.push((0..5).map(|i| span(i, "ok")), &stats);
        assert_eq!(queue.len(), 3);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 2);
        let batches: Vec<Vec<i64>> = drain(&queue, &stats).iter().map(ids).collect();
        assert_eq!(batches, [vec![0, 1, 2]]);
    }

    /// Answers each request with the next scripted outcome (then `Ok`), keeping every body.
    struct Script(
        std::collections::VecDeque<Option<Option<Duration>>>,
        Arc<Mutex<Vec<Vec<u8>>>>,
    );

    impl Transport for Script {
        fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
            self.1.lock().unwrap().push(body.to_vec());
            match self.0.pop_front() {
                None => Ok(Accepted::default()),
                Some(retry) => Err(SendError {
                    reason: format!("scripted failure {}", self.0.len()),
                    retry,
                }),
            }
        }
    }

    /// Runs an export thread over `spans` spans with the scripted answers (`Some(asked)`: a
    /// retryable answer, `None`: any other error) until `done` holds of the counters; then
    /// shuts it down. Returns the bodies sent.
    fn run_script(
        spans: usize,
        answers: Vec<Option<Option<Duration>>>,
        done: impl Fn(&Counters) -> bool,
    ) -> (Arc<Counters>, Vec<Vec<u8>>) {
        let scrubber = Scrubber::builder().build().unwrap();
        let queue = Arc::new(Queue::new(100, 512, scrubber));
        let stats = Arc::new(Counters::default());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        queue.push((0..spans).map(|i| span(i, "ok")), &stats);
        let b = Arc::clone(&bodies);
        let thread = spawn_drain(&queue, &stats, Duration::from_millis(10), move || {
            Box::new(Script(answers.into(), b))
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&stats) {
            assert!(
                Instant::now() < deadline,
                "never done: {:?}",
                stats.snapshot()
            );
            thread::sleep(Duration::from_millis(2));
        }
        queue.lock().shutdown = true;
        queue.work.notify_one();
        thread.join().unwrap();
        let bodies = std::mem::take(&mut *bodies.lock().unwrap());
        (stats, bodies)
    }

    #[test]
    fn a_retryable_answer_is_retried_and_the_spans_arrive() {
        let zero = Some(Some(Duration::ZERO));
        let (stats, bodies) = run_script(3, vec![zero, Some(None)], |s| {
            s.spans_exported.load(Ordering::Relaxed) == 3
        });
        let s = stats.snapshot();
        assert_eq!(
            (s.export_retries, s.export_failures, s.dropped()),
            (2, 0, 0)
        );
        assert_eq!(bodies.len(), 3, "sent three times");
        assert!(bodies.iter().all(|b| *b == bodies[0]), "the same request");
        assert_eq!(stats.last_error(), None);
    }

    #[test]
    fn retries_are_bounded_and_other_errors_are_not_retried() {
        let zero = Some(Some(Duration::ZERO));
        let (stats, bodies) = run_script(2, vec![zero; 5], |s| {
            s.export_failures.load(Ordering::Relaxed) == 1
        });
        let s = stats.snapshot();
        assert_eq!(bodies.len(), 1 + MAX_RETRIES);
        assert_eq!((s.export_retries, s.dropped_export), (2, 2));
        assert!(stats.last_error().unwrap().starts_with("scripted failure"));
        let (stats, bodies) = run_script(2, vec![None], |s| {
            s.export_failures.load(Ordering::Relaxed) == 1
        });
        assert_eq!(bodies.len(), 1, "not retried");
        assert_eq!(stats.snapshot().export_retries, 0);
    }

    #[test]
    fn a_shutdown_ends_the_wait_for_a_retry() {
        let long = Some(Some(MAX_RETRY_WAIT));
        let started = Instant::now();
        let (stats, bodies) =
            run_script(2, vec![long; 3], |s| s.exports.load(Ordering::Relaxed) == 1);
        // Shut down while the export thread waits 5 s for the retry: it stops at once and
        // counts the batch as dropped.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(bodies.len(), 1);
        assert_eq!(stats.snapshot().dropped_export, 2);
    }

    #[test]
    fn a_partial_success_reads_the_rejected_spans() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "too old".to_owned(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            super::partial_success(&body),
            Accepted {
                rejected: 2,
                message: "too old".to_owned()
            }
        );
        // Empty, not protobuf, or a negative count: a full success.
        assert_eq!(super::partial_success(&[]), Accepted::default());
        assert_eq!(super::partial_success(b"{}"), Accepted::default());
        let negative = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: -1,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        assert_eq!(super::partial_success(&negative).rejected, 0);
    }

    #[test]
    fn a_refused_connection_is_retried_a_timeout_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let e = agent
            .post(format!("http://{addr}/v1/traces"))
            .send(&b""[..])
            .unwrap_err();
        assert!(super::http_client_error(&e).retry.is_some(), "{e}");
        let e = ureq::Error::Timeout(ureq::Timeout::Global);
        assert!(super::http_client_error(&e).retry.is_none());
        assert!(
            super::http_client_error(&ureq::Error::StatusCode(400))
                .retry
                .is_none()
        );
    }

    #[test]
    fn retry_after_and_backoff() {
        assert_eq!(super::retry_after(Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(super::retry_after(Some(" 120 ")), Some(MAX_RETRY_WAIT));
        assert_eq!(super::retry_after(Some("0")), Some(Duration::ZERO));
        assert_eq!(
            super::retry_after(Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            None
        );
        assert_eq!(super::retry_after(Some("-1")), None);
        assert_eq!(super::retry_after(None), None);
        let asked = Duration::from_secs(2);
        assert_eq!(super::retry_wait(0, Some(asked)), asked);
        for (attempt, base) in RETRY_WAITS.iter().enumerate() {
            let w = super::retry_wait(attempt, None);
            assert!(w >= base.mul_f64(0.75) && w <= base.mul_f64(1.25), "{w:?}");
        }
        assert!(super::retryable_status(503) && super::retryable_status(429));
        assert!(!super::retryable_status(500) && !super::retryable_status(400));
    }

    #[test]
    fn a_request_is_bounded_in_bytes_too() {
        let (mut queue, one) = queue_and_span_len(100, 512);
        queue.max_request_bytes = 2 * one + one / 2;
        let queue = Arc::new(queue);
        let stats = Arc::new(Counters::default());
        queue.push((0..5).map(|i| span(i, "ok")), &stats);
        let batches: Vec<Vec<i64>> = drain(&queue, &stats).iter().map(ids).collect();
        assert_eq!(batches, [vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(stats.spans_exported.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_batch_takes_at_least_one_span_and_at_most_the_batch_size() {
        // Spans of 10 bytes each, from byte 0.
        let ends: Vec<usize> = (1..=8).map(|i| i * 10).collect();
        assert_eq!(super::batch_len(&ends, 0, 512, 1 << 20), 8);
        assert_eq!(super::batch_len(&ends, 0, 3, 1 << 20), 3);
        assert_eq!(super::batch_len(&ends, 0, 512, 35), 3);
        assert_eq!(super::batch_len(&ends, 0, 512, 30), 3);
        // Larger than the bound alone: sent alone.
        assert_eq!(super::batch_len(&ends, 0, 512, 5), 1);
        // From the middle.
        assert_eq!(super::batch_len(&ends[4..], 40, 512, 20), 2);
        assert_eq!(super::batch_len(&ends[7..], 70, 512, 5), 1);
    }

    #[test]
    fn a_full_queue_recycles_without_encoding_and_a_stopped_one_refuses() {
        let scrubber = Scrubber::builder().build().unwrap();
        let queue = Arc::new(Queue::new(2, 512, scrubber));
        let stats = Arc::new(Counters::default());
        queue.push((0..2).map(|i| span(i, "ok")), &stats);
        // Full: refused before encoding (its data is kept for the next span).
        queue.push_one(span(2, "ok"), &stats);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 1);
        assert!(
            queue.take_span().is_some(),
            "the refused span's data is reused"
        );
        let batches: Vec<Vec<i64>> = drain(&queue, &stats).iter().map(ids).collect();
        assert_eq!(batches, [vec![0, 1]]);
        // Shut down: refused.
        queue.push_one(span(3, "ok"), &stats);
        assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 2);
        assert_eq!(queue.len(), 0);
    }
}
