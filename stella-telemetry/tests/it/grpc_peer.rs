//! The gRPC exporter against the reference gRPC implementation: a receiver on `grpcio` (gRPC's
//! C core) with the official OpenTelemetry protobuf definitions (`tests/peers/
//! otlp_grpc_receiver.py`), a peer this exporter was not written with. Spans, parents,
//! resource, scrubbed values, gzip-compressed messages and call metadata arrive; an
//! UNAVAILABLE answer is retried.
//!
//! Without Python's `grpcio` and `opentelemetry-proto` the tests print a notice and pass,
//! unless `STELLA_REQUIRE_SERVICES=1` (CI, whose `.ci/run` installs them).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, OtlpCompression, OtlpProtocol, Output, TraceConfig};

use crate::collector::{emit, emit_continued_request};

/// The Python receiver, stopped when dropped (its standard input closes).
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    port: u16,
}

impl Peer {
    /// Starts the receiver in `mode`, or `None` (with a notice) when Python lacks its modules
    /// and the environment does not require them.
    fn start(mode: &str) -> Option<Peer> {
        if !crate::support::tool_available(
            Command::new("python3").args([
                "-c",
                "import grpc; from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc",
            ]),
            "Python's grpcio and opentelemetry-proto",
            "pip install grpcio opentelemetry-proto",
        ) {
            return None;
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/otlp_grpc_receiver.py"
        );
        let mut child = Command::new("python3")
            .args([script, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the receiver prints its port");
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a port: {first}"));
        Some(Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            port,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The calls received until `spans` spans came in, waiting at most 20 s.
    fn calls(&self, spans: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut calls: Vec<Value> = Vec::new();
        let count = |calls: &[Value]| {
            calls
                .iter()
                .map(|c| c["spans"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        };
        while count(&calls) < spans {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => calls.push(serde_json::from_str(&line).expect("a JSON line")),
                Err(_) => panic!("{} of {spans} spans arrived: {calls:?}", count(&calls)),
            }
        }
        calls
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(url: &str, capture: &CaptureWriter) -> Config {
    Config::new("policy-engine", "1.4.0")
        .with_env("prod")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(url)
                .with_protocol(OtlpProtocol::Grpc)
                .with_compression(OtlpCompression::Gzip)
                .with_header("authorization", "Bearer t0ken")
                .with_export_interval(Duration::from_millis(20)),
        )
}

#[test]
fn grpcio_receives_compressed_spans_with_parents_resource_metadata_and_scrubbed_values() {
    let Some(peer) = Peer::start("accept") else {
        return;
    };
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&peer.url(), &capture)).unwrap();
    emit_continued_request(&dispatch);
    guard.flush().unwrap();
    let calls = peer.calls(2);
    let spans: Vec<&Value> = calls
        .iter()
        .flat_map(|c| c["spans"].as_array().into_iter().flatten())
        .collect();
    let named = |n: &str| {
        *spans
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {spans:?}"))
    };
    let (api, work) = (named("api.evaluate"), named("policy.evaluate"));
    assert_eq!(api["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(api["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(api["kind"], 2);
    assert_eq!(work["trace_id"], api["trace_id"]);
    assert_eq!(work["parent_span_id"], api["span_id"]);
    let token = work["attributes"]["token"].as_str().unwrap();
    assert!(token.starts_with("[REDACTED"), "{token}");
    let call = &calls[0];
    assert_eq!(call["resource"]["service.name"], "policy-engine");
    assert_eq!(call["resource"]["service.version"], "1.4.0");
    assert_eq!(call["resource"]["deployment.environment.name"], "prod");
    assert_eq!(call["metadata"]["authorization"], "Bearer t0ken");
    // The messages went gzip-compressed (the configuration above; `tests/it/grpc.rs` checks
    // the flag on the wire): gRPC's C core decompressed them itself, and does not show its
    // reserved `grpc-encoding` header as call metadata.
    let stats = guard.handle().trace_stats();
    assert_eq!((stats.spans_exported, stats.dropped()), (2, 0));
    guard.shutdown().unwrap();
}

#[test]
fn grpcio_answering_unavailable_once_gets_the_batch_on_the_retry() {
    let Some(peer) = Peer::start("unavailable-once") else {
        return;
    };
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&peer.url(), &capture)).unwrap();
    emit(&dispatch, 3);
    guard.flush().unwrap();
    let calls = peer.calls(3);
    assert_eq!(
        calls.len(),
        1,
        "one accepted call after the refused one: {calls:?}"
    );
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 3);
    assert_eq!(stats.dropped(), 0);
    assert!(stats.export_retries >= 1, "{stats:?}");
    guard.shutdown().unwrap();
}
