//! OTLP/HTTP export over HTTPS to a collector behind a private CA that asks for client
//! certificates: Python's `ssl` with certificates made fresh for the run
//! (`stella-http/tests/peers/tls_peer.py`), decoding the spans with the official OTLP
//! definitions. The CA and the client certificate come from `TraceConfig` or from the
//! OpenTelemetry variables; without the CA the export fails, is counted and says why.
//!
//! Without Python's `cryptography` and `opentelemetry-proto` the tests print a notice and pass,
//! unless `STELLA_REQUIRE_SERVICES=1` (CI, whose `.ci/run` installs them).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, Output, TraceConfig};

use crate::collector::emit;

/// The HTTPS peer, killed when dropped.
struct Peer {
    child: Child,
    lines: Receiver<String>,
    port: u16,
    dir: PathBuf,
}

impl Peer {
    fn start() -> Option<Peer> {
        if !crate::support::tool_available(
            Command::new("python3").args([
                "-c",
                "import cryptography; from opentelemetry.proto.collector.trace.v1 import trace_service_pb2",
            ]),
            "Python's cryptography and opentelemetry-proto",
            "pip install cryptography opentelemetry-proto",
        ) {
            return None;
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../stella-http/tests/peers/tls_peer.py"
        );
        let dir = std::env::temp_dir().join(format!(
            "stella-telemetry-tls-peer-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&dir)
            .arg("--client-certs")
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first: Value = serde_json::from_str(
            &lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the peer prints its port"),
        )
        .expect("a JSON line");
        let port = u16::try_from(first["port"].as_u64().expect("a port")).expect("a port");
        Some(Peer {
            child,
            lines,
            port,
            dir,
        })
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The export requests received until `spans` spans came in, waiting at most 20 s.
    fn requests(&self, spans: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got: Vec<Value> = Vec::new();
        let count = |got: &[Value]| got.iter().filter_map(|r| r["spans"].as_u64()).sum::<u64>();
        while count(&got) < spans {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(serde_json::from_str(&line).expect("a JSON line")),
                Err(_) => panic!("{} of {spans} spans arrived: {got:?}", count(&got)),
            }
        }
        got
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(traces: TraceConfig, capture: &CaptureWriter) -> Config {
    Config::new("policy-engine", "1.4.0")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(traces.with_export_interval(Duration::from_millis(20)))
}

#[test]
fn spans_reach_a_collector_behind_a_private_ca_with_our_client_certificate() {
    let Some(peer) = Peer::start() else {
        return;
    };
    let traces = TraceConfig::new()
        .with_endpoint(peer.url())
        .with_ca_certificate(peer.file("ca.pem"))
        .with_client_certificate(peer.file("client.pem"), peer.file("client-key.pem"));
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(traces, &capture)).unwrap();
    emit(&dispatch, 3);
    guard.flush().unwrap();
    let requests = peer.requests(3);
    assert!(
        requests
            .iter()
            .all(|r| r["path"] == "/v1/traces" && r["client"] == "stella-client"),
        "{requests:?}"
    );
    let stats = guard.handle().trace_stats();
    assert_eq!((stats.spans_exported, stats.dropped()), (3, 0));
    guard.shutdown().unwrap();
}

#[test]
fn the_files_come_from_the_opentelemetry_variables_too() {
    let Some(peer) = Peer::start() else {
        return;
    };
    let (url, ca, cert, key) = (
        peer.url(),
        peer.file("ca.pem"),
        peer.file("client.pem"),
        peer.file("client-key.pem"),
    );
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.display().to_string()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            cert.display().to_string(),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.display().to_string()),
    ];
    let capture = CaptureWriter::new();
    let c = Config::from_lookup("policy-engine", "1.4.0", |k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .with_output(Output::Writer(Box::new(capture.clone())));
    let (dispatch, guard) = stella_telemetry::build(c).unwrap();
    emit(&dispatch, 2);
    guard.flush().unwrap();
    assert!(
        peer.requests(2)
            .iter()
            .all(|r| r["client"] == "stella-client")
    );
    guard.shutdown().unwrap();
}

#[test]
fn without_the_ca_the_export_fails_is_counted_and_says_why() {
    let Some(peer) = Peer::start() else {
        return;
    };
    // The webpki roots only: the collector's private CA is unknown.
    let traces = TraceConfig::new().with_endpoint(peer.url());
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(traces, &capture)).unwrap();
    emit(&dispatch, 2);
    guard.flush().unwrap();
    let handle = guard.handle();
    let stats = handle.trace_stats();
    assert_eq!(
        (stats.spans_exported, stats.dropped_export),
        (0, 2),
        "{stats:?}"
    );
    let why = handle.last_export_error().expect("a reason");
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    guard.shutdown().unwrap();
}

#[test]
fn bad_tls_settings_fail_at_start_naming_the_problem() {
    let ca = std::env::temp_dir().join(format!("stella-no-such-ca-{}.pem", std::process::id()));
    for (traces, expected) in [
        (
            TraceConfig::new()
                .with_endpoint("https://127.0.0.1:4318")
                .with_ca_certificate(&ca),
            "stella-no-such-ca",
        ),
        (
            TraceConfig::new()
                .with_endpoint("http://127.0.0.1:4318")
                .with_ca_certificate(&ca),
            "need an https:// endpoint",
        ),
    ] {
        let err = stella_telemetry::build(
            Config::new("svc", "1")
                .with_output(Output::Stderr)
                .with_traces(traces),
        )
        .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}
