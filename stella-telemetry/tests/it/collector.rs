//! A real OTLP/HTTP receiver on loopback for the trace tests: HTTP/1.1 over a `TcpListener`,
//! bodies decoded with the official OpenTelemetry protobuf definitions.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Accept = 0,
    Unavailable = 1,
    Hang = 2,
    /// 503 with `Retry-After: 0` to the next request, then accept.
    UnavailableOnce = 3,
    /// Accept, answering that the first span of each request was rejected (OTLP's partial
    /// success).
    RejectFirst = 4,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ExportTraceServiceRequest>>,
    mode: AtomicU8,
    hits: AtomicUsize,
    stop: AtomicBool,
    /// The `authorization` header of the last request.
    authorization: Mutex<Option<String>>,
    /// Requests whose body came gzip-compressed (`content-encoding: gzip`).
    gzipped: AtomicUsize,
}

pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    loop {
        let mut len = 0usize;
        let mut gzip = false;
        let mut first = true;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) if shared.stop.load(Ordering::SeqCst) => return,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if first && line.is_empty() {
                        continue;
                    }
                    return;
                }
                Err(_) => return,
            }
            first = false;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("content-encoding") {
                    assert_eq!(v.trim(), "gzip", "the only encoding the exporter uses");
                    gzip = true;
                } else if k.eq_ignore_ascii_case("authorization") {
                    *shared.authorization.lock().unwrap() = Some(v.trim().to_owned());
                }
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if gzip {
            body = gunzip(&body);
            shared.gzipped.fetch_add(1, Ordering::SeqCst);
        }
        shared.hits.fetch_add(1, Ordering::SeqCst);
        match shared.mode.load(Ordering::SeqCst) {
            2 => {
                // Hang: never answer while in this mode.
                while shared.mode.load(Ordering::SeqCst) == 2 && !shared.stop.load(Ordering::SeqCst)
                {
                    thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            1 => {
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
            }
            3 => {
                shared.mode.store(Mode::Accept as u8, Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 0\r\n\r\n",
                );
            }
            4 => {
                let mut req =
                    ExportTraceServiceRequest::decode(&body[..]).expect("a valid OTLP request");
                req.resource_spans[0].scope_spans[0].spans.remove(0);
                shared.requests.lock().unwrap().push(req);
                let answer = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse {
                    partial_success: Some(
                        opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                            rejected_spans: 1,
                            error_message: "span too large".to_owned(),
                        },
                    ),
                }
                .encode_to_vec();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                    answer.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer);
            }
            _ => {
                let req =
                    ExportTraceServiceRequest::decode(&body[..]).expect("a valid OTLP request");
                shared.requests.lock().unwrap().push(req);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                );
            }
        }
    }
}

impl Receiver {
    pub fn start(mode: Mode) -> Receiver {
        Receiver::start_at("127.0.0.1:0", mode)
    }

    /// A receiver on `addr` (a collector that comes up where an exporter already sends).
    pub fn start_at(addr: &str, mode: Mode) -> Receiver {
        let listener = TcpListener::bind(addr).expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        shared.mode.store(mode as u8, Ordering::SeqCst);
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    let s = Arc::clone(&s);
                    thread::spawn(move || handle(stream, s));
                }
            }
        });
        Receiver { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The `authorization` header of the last request, if it had one.
    pub fn authorization(&self) -> Option<String> {
        self.shared.authorization.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests whose body came gzip-compressed.
    pub fn gzipped(&self) -> usize {
        self.shared.gzipped.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn spans(&self) -> Vec<Span> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// Waits (bounded, as a failure guard only) until `f` holds.
    pub fn wait_for(&self, what: &str, f: impl Fn(&Receiver) -> bool) {
        let until = Instant::now() + Duration::from_secs(20);
        while !f(self) {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A gzip body, decompressed (fails the test when it is not valid gzip).
pub fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

/// An address nothing listens on.
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Opens `n` request spans with one event each on `dispatch`; how long the caller took.
pub fn emit(dispatch: &tracing::Dispatch, n: usize) -> Duration {
    let start = Instant::now();
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            tracing::info_span!("api.request", i).in_scope(|| tracing::info!("handled"));
        }
    });
    start.elapsed()
}

/// One request continued from a caller: the server span `api.evaluate` under the W3C example
/// ids (trace `4bf92f35…`, caller `00f067aa0ba902b7`), and inside it `policy.evaluate` with a
/// GitHub token in a field and one event.
pub fn emit_continued_request(dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let api = tracing::info_span!(
            "api",
            otel.name = "api.evaluate",
            otel.kind = "server",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "b7ad6b7169203331",
            parent_span_id = "00f067aa0ba902b7",
        );
        let _a = api.enter();
        tracing::info_span!(
            "policy.evaluate",
            token = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"
        )
        .in_scope(|| tracing::info!("evaluating"));
    });
}

/// After a collector that came up late has received the `spans` spans of the batch it first
/// refused: the exporter counted them sent, with nothing dropped or failed and no error kept
/// (it counts once it has read the answer, after the receiver has the batch: a flush first).
pub fn assert_the_refused_batch_was_delivered(
    guard: &stella_telemetry::TelemetryGuard,
    spans: u64,
) {
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(
        (stats.dropped_export, stats.export_failures),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.spans_exported, spans, "{stats:?}");
    assert_eq!(guard.handle().last_export_error(), None);
}

/// Waits (bounded) until the exporter behind `guard` has sent a batch again at least once.
pub fn wait_for_a_retry(guard: &stella_telemetry::TelemetryGuard) {
    let until = Instant::now() + Duration::from_secs(20);
    while guard.handle().trace_stats().export_retries == 0 {
        assert!(Instant::now() < until, "never retried");
        thread::sleep(Duration::from_millis(5));
    }
}

/// The span called `name` among `spans`; fails the test, listing them, when there is none.
pub fn span_named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} in {spans:?}"))
}
