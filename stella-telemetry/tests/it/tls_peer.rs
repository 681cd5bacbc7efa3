//! OTLP/HTTP export over HTTPS to a collector behind a private CA that asks for client
//! certificates: `stella_http::testing::TlsPeer` (Python's `ssl` with certificates made fresh
//! for the run), decoding the spans with the official OTLP definitions. The CA and the client certificate come from `TraceConfig` or from the
//! OpenTelemetry variables; without the CA the export fails, is counted and says why.
//!
//! Without Python's `cryptography` and `opentelemetry-proto` the tests print a notice and pass,
//! unless `STELLA_REQUIRE_SERVICES=1` (CI, whose `.ci/run` installs them).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use stella_http::testing::TlsPeer;
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, Output, TraceConfig};

use crate::collector::emit;

/// The shared HTTPS peer asking for client certificates, with Python's OTLP definitions to
/// count the spans; `None` (with a notice) without them, unless services are required.
fn peer() -> Option<TlsPeer> {
    if !crate::support::tool_available(
        Command::new("python3").args([
            "-c",
            "from opentelemetry.proto.collector.trace.v1 import trace_service_pb2",
        ]),
        "Python's opentelemetry-proto",
        "pip install opentelemetry-proto",
    ) {
        return None;
    }
    TlsPeer::start(true)
}

/// The export requests the peer received until `spans` spans came in.
fn requests(peer: &TlsPeer, spans: u64) -> Vec<Value> {
    let parse = |lines: &[String]| -> Vec<Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    let lines = peer.requests_until(|got| {
        parse(got)
            .iter()
            .filter_map(|r| r["spans"].as_u64())
            .sum::<u64>()
            >= spans
    });
    parse(&lines)
}

fn config(traces: TraceConfig, capture: &CaptureWriter) -> Config {
    Config::new("policy-engine", "1.4.0")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(traces.with_export_interval(Duration::from_millis(20)))
}

#[test]
fn spans_reach_a_collector_behind_a_private_ca_with_our_client_certificate() {
    let Some(peer) = peer() else {
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
    let requests = requests(&peer, 3);
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
    let Some(peer) = peer() else {
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
        requests(&peer, 2)
            .iter()
            .all(|r| r["client"] == "stella-client")
    );
    guard.shutdown().unwrap();
}

#[test]
fn without_the_ca_the_export_fails_is_counted_and_says_why() {
    let Some(peer) = peer() else {
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
