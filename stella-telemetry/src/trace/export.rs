//! The export queue and its worker thread: OTLP/HTTP protobuf (or OTLP/gRPC with the
//! `otlp-grpc` feature), bounded, never blocking.

use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

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

#[derive(Debug, Default)]
struct State {
    spans: VecDeque<Box<SpanData>>,
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    stopped: bool,
}

/// The bounded span queue shared by the bridge (producer) and the worker (consumer).
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
    capacity: usize,
    batch_size: usize,
    /// Exported and dropped spans, emptied, which the bridge reuses: a new span's buffers
    /// then cost no allocation (and the export thread no free). Bounded; its own lock, never
    /// held with another, and never waited for by the application.
    pool: SpanPool,
}

impl Queue {
    pub(crate) fn new(capacity: usize, batch_size: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            capacity,
            batch_size,
            pool: SpanPool::default(),
        }
    }

    /// An exported span's data, emptied, when the pool has one (never waits).
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

    /// Takes every queued span (tests read what the bridge recorded).
    #[cfg(test)]
    pub(crate) fn take_all(&self) -> Vec<SpanData> {
        self.lock().spans.drain(..).map(|s| *s).collect()
    }

    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// Enqueues one span (a span that ended), as [`Self::push`] does.
    pub(crate) fn push_one(&self, span: Box<SpanData>, stats: &Counters) {
        let mut st = self.lock();
        if st.shutdown || st.spans.len() >= self.capacity {
            drop(st);
            add(&stats.dropped_queue_full, 1);
            self.pool.keep_one(span);
            return;
        }
        st.spans.push_back(span);
        // The queue just reached a batch (see `push`).
        let wake = st.spans.len() == self.batch_size;
        drop(st);
        add(&stats.spans_queued, 1);
        if wake {
            self.work.notify_one();
        }
    }

    /// Enqueues spans; what does not fit is dropped and counted. Never waits for room.
    pub(crate) fn push(&self, spans: impl Iterator<Item = Box<SpanData>>, stats: &Counters) {
        let mut st = self.lock();
        let before = st.spans.len();
        let mut queued = 0;
        // Spans that do not fit go to the pool (or are freed) after the lock is released.
        let mut dropped = VecDeque::new();
        for s in spans {
            if st.shutdown || st.spans.len() >= self.capacity {
                dropped.push_back(s);
            } else {
                st.spans.push_back(s);
                queued += 1;
            }
        }
        // Wake the worker once, when the queue reaches a batch (not on every push past it):
        // otherwise it wakes by itself every export interval.
        let wake = before < self.batch_size && st.spans.len() >= self.batch_size;
        drop(st);
        add(&stats.spans_queued, queued);
        add(&stats.dropped_queue_full, dropped.len());
        self.pool.keep(&mut dropped, false);
        drop(dropped);
        if wake {
            self.work.notify_one();
        }
    }
}

/// Sends one encoded `ExportTraceServiceRequest`; an error fails (drops and counts) the batch.
pub(crate) trait Transport {
    fn send(&mut self, body: Vec<u8>) -> Result<(), String>;
}

struct HttpTransport {
    agent: ureq::Agent,
    url: String,
}

impl Transport for HttpTransport {
    fn send(&mut self, body: Vec<u8>) -> Result<(), String> {
        let mut resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/x-protobuf")
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let mut sink = Vec::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut sink);
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
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

/// Encodes one batch as an `ExportTraceServiceRequest` (every string that needs it scrubbed).
/// `resource` is the encoded `Resource` (`encode::resource_bytes`).
pub(crate) fn encode(resource: &[u8], batch: &mut [Box<SpanData>], scrubber: &Scrubber) -> Vec<u8> {
    super::encode::request(resource, batch, scrubber)
}

/// How the worker sends: made into a [`Transport`] on the export thread itself, so that
/// nothing of it (a gRPC runtime) is ever created or dropped on a caller's thread.
enum TransportSpec {
    Http {
        agent: ureq::Agent,
        url: String,
    },
    #[cfg(feature = "otlp-grpc")]
    Grpc {
        endpoint: String,
        timeout: Duration,
    },
}

impl TransportSpec {
    fn build(self) -> Box<dyn Transport> {
        match self {
            TransportSpec::Http { agent, url } => Box::new(HttpTransport { agent, url }),
            #[cfg(feature = "otlp-grpc")]
            TransportSpec::Grpc { endpoint, timeout } => {
                Box::new(super::grpc::GrpcTransport::new(&endpoint, timeout))
            }
        }
    }
}

struct Worker {
    queue: Arc<Queue>,
    stats: Arc<Counters>,
    transport: TransportSpec,
    resource: ProtoResource,
    scrubber: Scrubber,
    interval: Duration,
}

impl Worker {
    fn run(self) {
        let Worker {
            queue,
            stats,
            transport,
            resource,
            scrubber,
            interval,
        } = self;
        Drain {
            queue,
            stats,
            transport: transport.build(),
            resource: super::encode::resource_bytes(&resource),
            scrubber,
            interval,
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
    scrubber: Scrubber,
    interval: Duration,
}

impl Drain {
    fn run(mut self) {
        let mut last = Instant::now();
        let mut spare: VecDeque<Box<SpanData>> = VecDeque::new();
        loop {
            let (batch, target, more, shutdown) = {
                let mut st = self.queue.lock();
                loop {
                    let due = last.elapsed() >= self.interval;
                    if st.shutdown
                        || st.flush_requested > st.flush_done
                        || st.spans.len() >= self.queue.batch_size
                        || (due && !st.spans.is_empty())
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
                    if st.spans.is_empty() && last.elapsed() >= self.interval {
                        last = Instant::now();
                    }
                }
                // Hold the lock as briefly as possible: take the whole queue when it fits in a
                // batch (an O(1) swap, leaving the emptied buffer of the previous batch in its
                // place, so producers push without growing it), so producers never wait behind
                // a long copy.
                let mut batch = std::mem::take(&mut spare);
                if st.spans.len() <= self.queue.batch_size {
                    std::mem::swap(&mut st.spans, &mut batch);
                } else {
                    batch.extend(st.spans.drain(..self.queue.batch_size));
                }
                (batch, st.flush_requested, !st.spans.is_empty(), st.shutdown)
            };
            last = Instant::now();
            let mut batch = batch;
            if !batch.is_empty() {
                let n = batch.len();
                let body = encode(&self.resource, batch.make_contiguous(), &self.scrubber);
                self.queue.pool.keep(&mut batch, true);
                // What the pool had no room for is freed here.
                batch.clear();
                spare = batch;
                add(&self.stats.exports, 1);
                match self.transport.send(body) {
                    Ok(()) => add(&self.stats.spans_exported, n),
                    Err(_) => {
                        add(&self.stats.export_failures, 1);
                        add(&self.stats.dropped_export, n);
                    }
                }
            }
            if !more {
                let mut st = self.queue.lock();
                if st.spans.is_empty() {
                    st.flush_done = st.flush_done.max(target);
                    if shutdown || st.shutdown {
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
}

impl Exporter {
    /// Starts the worker thread for `config`'s endpoint.
    pub(crate) fn start(
        config: &TraceConfig,
        resource: ProtoResource,
        scrubber: Scrubber,
        queue: Arc<Queue>,
        stats: Arc<Counters>,
    ) -> Result<Exporter, std::io::Error> {
        let url = config.endpoint.clone().unwrap_or_default();
        let transport = match config.protocol {
            #[cfg(feature = "otlp-grpc")]
            super::OtlpProtocol::Grpc => TransportSpec::Grpc {
                endpoint: url,
                timeout: config.export_timeout,
            },
            _ => {
                let agent = stella_http::agent(config.export_timeout);
                TransportSpec::Http { agent, url }
            }
        };
        let worker = Worker {
            queue: Arc::clone(&queue),
            stats,
            transport,
            resource,
            scrubber,
            interval: config.export_interval,
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
