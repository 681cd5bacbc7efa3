//! Traces over OTLP/gRPC (`otlp-grpc` feature) to a real HTTP/2 gRPC receiver on loopback
//! (hyper's HTTP/2 server), bodies decoded with the official OpenTelemetry protobuf
//! definitions: spans and resource arrive, UNAVAILABLE is dropped and counted and export
//! recovers, an absent or hanging collector never holds the service or its shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, OtlpCompression, OtlpProtocol, Output, ShutdownError, TraceConfig};

use crate::collector::{
    Mode, assert_the_refused_batch_was_delivered, attr_str, dead_url, emit, emit_continued_request,
    gunzip, hex, wait_for_a_retry,
};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ExportTraceServiceRequest>>,
    mode: AtomicU8,
    hits: AtomicUsize,
    connections: AtomicUsize,
    /// Answer RESOURCE_EXHAUSTED in the trailers of a normal response.
    exhausted: AtomicBool,
    /// The `authorization` metadata of the last call.
    authorization: Mutex<Option<String>>,
    stop: AtomicBool,
    /// Calls whose message came gzip-compressed.
    gzipped: AtomicUsize,
}

/// A gRPC trace receiver: HTTP/2 with prior knowledge, the unary Export method.
struct GrpcReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for GrpcReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

fn status_headers(code: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("grpc-status", HeaderValue::from_static(code));
    h
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    assert_eq!(req.uri().path(), EXPORT_PATH);
    assert_eq!(req.headers()["content-type"], "application/grpc");
    assert_eq!(req.version(), hyper::Version::HTTP_2);
    *shared.authorization.lock().unwrap() = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let encoding = req.headers().get("grpc-encoding").cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let mode = shared.mode.load(Ordering::SeqCst);
    if mode == Mode::Hang as u8 {
        while shared.mode.load(Ordering::SeqCst) == Mode::Hang as u8
            && !shared.stop.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if mode == Mode::Unavailable as u8 {
        // A trailers-only response: the status is in the headers.
        let mut resp = Response::new(Full::new(Bytes::new()).boxed());
        resp.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static("14"));
        resp.headers_mut().insert(
            "grpc-message",
            HeaderValue::from_static("collector overloaded"),
        );
        return Ok(resp);
    }
    if shared.exhausted.load(Ordering::SeqCst) {
        let answer = ExportTraceServiceResponse::default().encode_to_vec();
        let mut trailers = status_headers("8");
        trailers.insert(
            "grpc-message",
            HeaderValue::from_static("over the ingestion quota"),
        );
        let body = Full::new(grpc_frame(&answer))
            .with_trailers(async { Some(Ok(trailers)) })
            .boxed();
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        return Ok(resp);
    }
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 5 + len, "one length-prefixed message");
    let message = match body[0] {
        0 => body[5..].to_vec(),
        1 => {
            assert_eq!(encoding.as_ref().map(|e| e.as_bytes()), Some(&b"gzip"[..]));
            shared.gzipped.fetch_add(1, Ordering::SeqCst);
            gunzip(&body[5..])
        }
        flag => panic!("compressed flag {flag}"),
    };
    let request = ExportTraceServiceRequest::decode(&message[..]).expect("a valid OTLP request");
    shared.requests.lock().unwrap().push(request);
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    let body = Full::new(grpc_frame(&answer))
        .with_trailers(async { Some(Ok(status_headers("0"))) })
        .boxed();
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    Ok(resp)
}

impl GrpcReceiver {
    fn start(mode: Mode) -> GrpcReceiver {
        GrpcReceiver::start_at("127.0.0.1:0", mode)
    }

    /// A receiver on `addr` (a collector that comes up where an exporter already sends).
    fn start_at(addr: &str, mode: Mode) -> GrpcReceiver {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.mode.store(mode as u8, Ordering::SeqCst);
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    if s.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    s.connections.fetch_add(1, Ordering::SeqCst);
                    let s = Arc::clone(&s);
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |req| handle(req, Arc::clone(&s)));
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        GrpcReceiver { addr, shared }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    fn gzipped(&self) -> usize {
        self.shared.gzipped.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<Span> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

fn config(url: &str, capture: &CaptureWriter) -> Config {
    Config::new("policy-engine", "1.4.0")
        .with_env("prod")
        .with_instance_id("pod-7")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(url)
                .with_protocol(OtlpProtocol::Grpc)
                .with_export_interval(Duration::from_millis(20)),
        )
}

#[test]
fn spans_and_resource_arrive_over_grpc_configured_from_the_environment() {
    let rx = GrpcReceiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let url = rx.url();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0ken"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("STELLA_ENV", "prod"),
        ("STELLA_REGION", "eu-west-1"),
    ];
    let cfg = Config::from_lookup("policy-engine", "1.4.0", |k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .with_output(Output::Writer(Box::new(capture.clone())));
    assert_eq!(cfg.traces().protocol(), OtlpProtocol::Grpc);
    assert_eq!(cfg.traces().compression(), OtlpCompression::Gzip);
    assert_eq!(cfg.traces().endpoint(), Some(url.as_str()));
    let traces = cfg
        .traces()
        .clone()
        .with_export_interval(Duration::from_millis(20));
    let cfg = cfg.with_traces(traces);
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    emit_continued_request(&dispatch);
    guard.flush().unwrap();
    let spans = rx.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let api = spans.iter().find(|s| s.name == "api.evaluate").unwrap();
    let work = spans.iter().find(|s| s.name == "policy.evaluate").unwrap();
    assert_eq!(hex(&api.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&api.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(api.kind, 2);
    assert_eq!(work.parent_span_id, api.span_id);
    let token = attr_str(&work.attributes, "token").unwrap();
    assert!(token.starts_with("[REDACTED"), "{token}");
    let req = rx.requests();
    let resource = req[0].resource_spans[0].resource.as_ref().unwrap();
    for (k, v) in [
        ("service.name", "policy-engine"),
        ("service.version", "1.4.0"),
        ("deployment.environment.name", "prod"),
        ("cloud.region", "eu-west-1"),
    ] {
        assert_eq!(attr_str(&resource.attributes, k), Some(v), "{k}");
    }
    // a second batch reuses the HTTP/2 connection
    emit(&dispatch, 3);
    guard.flush().unwrap();
    assert_eq!(rx.spans().len(), 5);
    assert_eq!(rx.shared.connections.load(Ordering::SeqCst), 1);
    // every message came gzip-compressed (OTEL_EXPORTER_OTLP_COMPRESSION)
    assert_eq!((rx.gzipped(), rx.hits()), (2, 2));
    // the headers of OTEL_EXPORTER_OTLP_HEADERS go as call metadata
    assert_eq!(
        rx.shared.authorization.lock().unwrap().as_deref(),
        Some("Bearer t0ken")
    );
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 5);
    assert_eq!(stats.dropped(), 0);
    guard.shutdown().unwrap();
}

#[test]
fn grpc_unavailable_is_dropped_and_counted_then_export_recovers() {
    let rx = GrpcReceiver::start(Mode::Unavailable);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    emit(&dispatch, 10);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.dropped_export, 10, "{stats:?}");
    assert!(stats.export_failures >= 1);
    assert!(rx.hits() >= 1);
    // UNAVAILABLE is retryable: each failed request was sent three times.
    assert_eq!(stats.export_retries, 2 * stats.export_failures, "{stats:?}");
    let reason = guard.handle().last_export_error().unwrap_or_default();
    assert!(reason.contains("UNAVAILABLE"), "{reason}");
    assert!(rx.spans().is_empty());
    rx.set_mode(Mode::Accept);
    emit(&dispatch, 5);
    guard.flush().unwrap();
    assert_eq!(rx.spans().len(), 5);
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 5);
    assert_eq!(stats.spans_exported + stats.dropped(), 15, "{stats:?}");
}

#[test]
fn grpc_resource_exhausted_in_the_trailers_is_dropped_and_counted_then_export_recovers() {
    let rx = GrpcReceiver::start(Mode::Accept);
    rx.shared.exhausted.store(true, Ordering::SeqCst);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    emit(&dispatch, 3);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.dropped_export, 3, "{stats:?}");
    assert_eq!(stats.spans_exported, 0);
    assert_eq!(stats.export_retries, 2 * stats.export_failures, "{stats:?}");
    let reason = guard.handle().last_export_error().unwrap_or_default();
    assert!(reason.contains("RESOURCE_EXHAUSTED"), "{reason}");
    rx.shared.exhausted.store(false, Ordering::SeqCst);
    emit(&dispatch, 2);
    guard.flush().unwrap();
    assert_eq!(rx.spans().len(), 2);
    assert_eq!(guard.handle().trace_stats().spans_exported, 2);
}

#[test]
fn grpc_a_collector_that_comes_up_late_gets_the_batch_it_refused() {
    let url = dead_url();
    let capture = CaptureWriter::new();
    let cfg = config(&url, &capture).with_traces(
        TraceConfig::new()
            .with_endpoint(&url)
            .with_protocol(OtlpProtocol::Grpc)
            .with_export_interval(Duration::from_millis(10)),
    );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    emit(&dispatch, 3);
    wait_for_a_retry(&guard);
    let rx = GrpcReceiver::start_at(url.trim_start_matches("http://"), Mode::Accept);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while rx.spans().len() < 3 {
        assert!(
            std::time::Instant::now() < until,
            "the refused batch never came"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_the_refused_batch_was_delivered(&guard, 3);
    guard.shutdown().unwrap();
}

#[test]
fn grpc_collector_absent_costs_only_the_dropped_spans() {
    let capture = CaptureWriter::new();
    let timeout = Duration::from_secs(5);
    let url = dead_url();
    let cfg = config(&url, &capture).with_traces(
        TraceConfig::new()
            .with_endpoint(&url)
            .with_protocol(OtlpProtocol::Grpc)
            .with_export_interval(Duration::from_millis(10))
            .with_export_timeout(timeout)
            .with_queue_capacity(16),
    );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    let took = emit(&dispatch, 200);
    assert!(took < timeout, "the service waited: {took:?}");
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 0);
    assert_eq!(stats.dropped_export + stats.dropped_queue_full, 200);
    assert!(stats.export_failures > 0);
}

#[test]
fn grpc_hanging_collector_times_out_and_shutdown_is_bounded_on_a_current_thread_runtime() {
    let rx = GrpcReceiver::start(Mode::Hang);
    let capture = CaptureWriter::new();
    // First: a hung call is cut by the export timeout, and export resumes afterwards.
    let cfg = config(&rx.url(), &capture)
        .with_flush_timeout(Duration::from_secs(10))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_protocol(OtlpProtocol::Grpc)
                .with_export_interval(Duration::from_millis(10))
                .with_export_timeout(Duration::from_millis(300)),
        );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    emit(&dispatch, 4);
    guard.flush().unwrap();
    assert_eq!(guard.handle().trace_stats().dropped_export, 4);
    rx.set_mode(Mode::Accept);
    emit(&dispatch, 2);
    guard.flush().unwrap();
    assert_eq!(guard.handle().trace_stats().spans_exported, 2);
    drop(guard);

    // Then: shutdown from a current-thread runtime returns within the flush timeout although
    // the call in flight would wait 30 s.
    rx.set_mode(Mode::Hang);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cfg = config(&rx.url(), &capture)
        .with_flush_timeout(Duration::from_millis(200))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_protocol(OtlpProtocol::Grpc)
                .with_export_interval(Duration::from_millis(10))
                .with_export_timeout(Duration::from_secs(30)),
        );
    let start = Instant::now();
    let result = rt.block_on(async move {
        let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
        emit(&dispatch, 3);
        tokio::time::sleep(Duration::from_millis(50)).await;
        emit(&dispatch, 3);
        guard.shutdown()
    });
    assert!(
        matches!(result, Ok(()) | Err(ShutdownError::TraceTimeout(_))),
        "{result:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
