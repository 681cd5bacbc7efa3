//! `/metrics`: golden signals, exemplars in OpenMetrics, Prometheus text checked by promtool,
//! cardinality caps and tenant labels.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use stella_telemetry::metrics::{self as m, InFlight, Journey, MetricsConfig};
use stella_telemetry::{Config, Output, TelemetryHandle};

const OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

fn build(config: Config) -> (tracing::Dispatch, stella_telemetry::TelemetryGuard) {
    stella_telemetry::build(config.with_output(Output::Writer(Box::new(std::io::sink())))).unwrap()
}

fn record_traffic(handle: &TelemetryHandle) {
    handle.with_metrics_recorder(|| {
        let _in_flight = InFlight::start("POST", "/tenants/{tenant}/evaluate");
        for (status, ms) in [(200, 12), (200, 80), (503, 900), (404, 3)] {
            m::record_http_request(
                "POST",
                "/tenants/{tenant}/evaluate",
                status,
                Duration::from_millis(ms),
            );
        }
        for j in Journey::ALL {
            j.record(Duration::from_millis(700), true, &[]);
        }
        Journey::PolicyEvaluate.record(Duration::from_secs(3), false, &[("size_class", "5k")]);
        m::record_job("sbom.ingest", Duration::from_millis(40), true);
        metrics::counter!("stella.policy.decisions", "effect" => "deny").increment(3);
        metrics::gauge!("stella.queue.depth", "queue" => "ingest").set(7.0);
    });
}

/// A line-level check of the OpenMetrics text format: families declared before their
/// samples and contiguous, samples well formed, exemplars only on buckets, `# EOF` last.
fn check_openmetrics(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no # EOF terminator");
    let sample = regex_lite(text);
    let mut seen = HashSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let family = rest.split(' ').next().unwrap().to_owned();
            assert!(
                seen.insert(family.clone()),
                "family {family} declared twice"
            );
            current = family;
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        let (name, exemplar) = sample(line);
        assert!(
            name.starts_with(&current),
            "sample {name} outside its family {current}"
        );
        if exemplar {
            assert!(name.ends_with("_bucket"), "exemplar on {name}");
        }
    }
}

/// Parses `name{labels} value [# {labels} value timestamp]`; returns the name and whether an
/// exemplar is present.
fn regex_lite(_: &str) -> impl Fn(&str) -> (String, bool) {
    |line: &str| {
        let (series, rest) = match line.find('{') {
            Some(i) if line[..i].find(' ').is_none() => {
                let close = line[i..]
                    .find("} ")
                    .map(|j| i + j + 1)
                    .expect("closing brace");
                (&line[..close], &line[close + 1..])
            }
            _ => line.split_once(' ').expect("name and value"),
        };
        let name: String = series.chars().take_while(|c| *c != '{').collect();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        let (value, exemplar) = match rest.split_once(" # ") {
            Some((v, e)) => (v, Some(e)),
            None => (rest, None),
        };
        assert!(
            value == "+Inf" || value == "NaN" || value.parse::<f64>().is_ok(),
            "bad value in {line}"
        );
        if let Some(e) = exemplar {
            assert!(e.starts_with("{trace_id=\""), "bad exemplar in {line}");
            let after = e.split_once("} ").expect("exemplar labels").1;
            let parts: Vec<&str> = after.split(' ').collect();
            assert_eq!(parts.len(), 2, "exemplar value and timestamp in {line}");
            for p in parts {
                p.parse::<f64>().expect("exemplar number");
            }
        }
        (name, exemplar.is_some())
    }
}

/// `promtool check metrics` on `text`; skipped with a notice when promtool is not installed and
/// services are not required (a laptop without it), as the reference OpenMetrics parser is.
fn promtool(text: &str, name: &str) {
    if !crate::support::tool_available(
        Command::new("promtool").arg("--version"),
        "promtool",
        "Debian package `prometheus`",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("stella-telemetry-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("metrics.prom");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .expect("promtool runs (Debian package `prometheus`)");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An exemplar as the reference parser read it: sample name, labels as JSON, value.
type Exemplar = (String, String, f64);

/// The reference OpenMetrics parser (`prometheus_client.openmetrics.parser`, Python; `.ci/run`
/// installs it): parses every family and returns the number of families and the exemplars it
/// read, as `(sample name, exemplar labels as JSON, exemplar value)`. `None` when the parser
/// is not installed and services are not required (a laptop without it).
fn reference_openmetrics(text: &str, name: &str) -> Option<(usize, Vec<Exemplar>)> {
    const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
families, exemplars = 0, []
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    families += 1
    for s in family.samples:
        if s.exemplar is not None:
            exemplars.append([s.name, json.dumps(s.exemplar.labels, sort_keys=True), s.exemplar.value])
print(json.dumps([families, exemplars]))
"#;
    let dir =
        std::env::temp_dir().join(format!("stella-telemetry-{}-om-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("metrics.om");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(&path)
        .output()
        .expect("python3 runs");
    if out.status.code() == Some(3) {
        assert!(
            std::env::var("STELLA_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "the reference OpenMetrics parser is required: pip install prometheus_client"
        );
        eprintln!("notice: prometheus_client not installed; reference OpenMetrics parse skipped");
        return None;
    }
    assert!(
        out.status.success(),
        "the reference OpenMetrics parser refused the text:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = usize::try_from(parsed[0].as_u64().unwrap()).unwrap();
    let exemplars = parsed[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_owned(),
                e[1].as_str().unwrap().to_owned(),
                e[2].as_f64().unwrap(),
            )
        })
        .collect();
    Some((families, exemplars))
}

#[test]
fn prometheus_text_passes_promtool() {
    let (_dispatch, guard) = build(Config::new("policy-engine", "1.4.0"));
    let handle = guard.handle();
    record_traffic(&handle);
    let text = handle.render_metrics(None);
    assert_eq!(text.content_type(), m::PROMETHEUS_CONTENT_TYPE);
    let body = text.body();
    for needle in [
        "# TYPE http_server_request_duration_seconds histogram",
        "http_server_request_duration_seconds_bucket{service=\"policy-engine\",error_type=\"503\",http_request_method=\"POST\",http_response_status_code=\"503\",http_route=\"/tenants/{tenant}/evaluate\",le=\"1\"} 1",
        "http_server_active_requests{service=\"policy-engine\",http_request_method=\"POST\",http_route=\"/tenants/{tenant}/evaluate\"} 0",
        "stella_policy_evaluation_duration_seconds_bucket{service=\"policy-engine\",outcome=\"error\",size_class=\"5k\",le=\"5\"} 1",
        "stella_sbom_ingest_first_component_duration_seconds_count",
        "stella_advisory_link_exposure_delta_duration_seconds_count",
        "stella_export_bundle_ready_duration_seconds_count",
        "stella_vex_reconcile_duration_seconds_count",
        "stella_notification_send_duration_seconds_count",
        "stella_job_duration_seconds_count{service=\"policy-engine\",job_kind=\"sbom.ingest\",outcome=\"ok\"} 1",
        "# TYPE stella_policy_decisions_total counter",
        "stella_policy_decisions_total{service=\"policy-engine\",effect=\"deny\"} 3",
        "stella_queue_depth{service=\"policy-engine\",queue=\"ingest\"} 7",
        // the library's own log queue, beside the service's queues
        "stella_queue_depth{service=\"policy-engine\",queue=\"log_lines\"} ",
        "stella_telemetry_log_lines_total",
        "process_cpu_seconds_total",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    assert!(
        !body.contains(" # {"),
        "no exemplars in the Prometheus text format"
    );
    promtool(body, "prom");
}

#[test]
fn openmetrics_parses_and_has_no_exemplar_outside_sampled_spans() {
    let (_dispatch, guard) = build(Config::new("policy-engine", "1.4.0"));
    let handle = guard.handle();
    record_traffic(&handle);
    let om = handle.render_metrics(Some(OPENMETRICS));
    assert_eq!(om.content_type(), m::OPENMETRICS_CONTENT_TYPE);
    check_openmetrics(om.body());
    if let Some((families, exemplars)) = reference_openmetrics(om.body(), "plain") {
        assert!(families >= 5, "{families} families in\n{}", om.body());
        assert!(exemplars.is_empty(), "{exemplars:?}");
    }
    assert!(om.body().contains("# TYPE stella_policy_decisions counter"));
    assert!(
        om.body()
            .contains("# UNIT http_server_request_duration_seconds seconds")
    );
    assert!(!om.body().contains("trace_id"));
}

/// One request of 4 ms on `/tenants/{tenant}/evaluate` recorded inside the sampled span
/// `api.evaluate`; returns that span as `rx` received it.
#[cfg(feature = "otlp")]
pub fn request_in_a_sampled_span(
    dispatch: &tracing::Dispatch,
    guard: &stella_telemetry::TelemetryGuard,
    rx: &crate::collector::Receiver,
    method: &str,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    guard.handle().with_metrics_recorder(|| {
        tracing::dispatcher::with_default(dispatch, || {
            tracing::info_span!("api.evaluate").in_scope(|| {
                m::record_http_request(
                    method,
                    "/tenants/{tenant}/evaluate",
                    200,
                    Duration::from_millis(4),
                );
            });
        });
    });
    guard.flush().unwrap();
    rx.spans()
        .into_iter()
        .next()
        .expect("the span was exported")
}

#[cfg(feature = "otlp")]
#[test]
fn exemplars_carry_the_trace_id_of_the_sampled_span() {
    use stella_telemetry::TraceConfig;

    use crate::collector::{Mode, Receiver, hex};

    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(
        Config::new("policy-engine", "1.4.0").with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(20)),
        ),
    );
    let handle = guard.handle();
    let span = request_in_a_sampled_span(&dispatch, &guard, &rx, "GET");
    let om = handle.render_metrics(Some(OPENMETRICS));
    check_openmetrics(om.body());
    if let Some((_, exemplars)) = reference_openmetrics(om.body(), "exemplars") {
        let labels = format!("{{\"trace_id\": \"{}\"}}", hex(&span.trace_id));
        assert!(
            exemplars.iter().any(|(name, l, v)| name
                == "http_server_request_duration_seconds_bucket"
                && *l == labels
                && (*v - 0.004).abs() < 1e-9),
            "the reference parser read {exemplars:?}"
        );
    }
    let exemplar = format!("# {{trace_id=\"{}\"}} 0.004 ", hex(&span.trace_id));
    assert!(
        om.body().lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_bucket")
                && l.contains(&exemplar)
        ),
        "no exemplar {exemplar} in\n{}",
        om.body()
    );
    // The library's own trace metrics are there too, and the whole text passes promtool.
    let prom = handle.render_metrics(None);
    assert!(
        prom.body()
            .contains("stella_telemetry_spans_exported_total{service=\"policy-engine\"} 1")
    );
    assert!(
        prom.body()
            .contains("stella_queue_depth{service=\"policy-engine\",queue=\"otlp_spans\"} 0")
    );
    promtool(prom.body(), "exemplars");
}

#[test]
fn cardinality_is_capped_and_overflow_counted() {
    let (_dispatch, guard) = build(
        Config::new("svc", "1").with_metrics(
            MetricsConfig::new()
                .with_max_series(3)
                .with_tenants(["acme"]),
        ),
    );
    let handle = guard.handle();
    handle.with_metrics_recorder(|| {
        for i in 0..10 {
            metrics::counter!("stella.requests", "route" => format!("/r/{i}")).increment(1);
        }
        for t in ["acme", "globex", "initech"] {
            metrics::counter!("stella.tenant.requests", "tenant_id" => t).increment(1);
        }
    });
    let body = handle.render_metrics(None).into_body();
    let series = body
        .lines()
        .filter(|l| l.starts_with("stella_requests_total{"))
        .count();
    assert_eq!(series, 4, "3 series and the overflow series:\n{body}");
    assert!(
        body.contains("stella_requests_total{service=\"svc\",otel_metric_overflow=\"true\"} 7")
    );
    assert!(body.contains(
        "stella_telemetry_metric_overflow_total{service=\"svc\",metric=\"stella.requests\"} 7"
    ));
    assert!(body.contains("stella_tenant_requests_total{service=\"svc\",tenant_id=\"acme\"} 1"));
    assert!(body.contains("stella_tenant_requests_total{service=\"svc\",tenant_id=\"other\"} 2"));
    assert!(!body.contains("globex"));
    promtool(&body, "cardinality");
}

fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> String {
    ask(addr, "GET", path, accept)
}

/// The whole answer to one request (the listener closes the connection after it).
fn ask(addr: std::net::SocketAddr, method: &str, path: &str, accept: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of header `name` in an answer's head.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let (head, _) = answer.split_once("\r\n\r\n")?;
    head.lines().skip(1).find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[test]
fn head_answers_as_get_without_the_body_and_other_methods_are_told_what_is_allowed() {
    let (_dispatch, guard) = build(Config::new("svc", "1").with_metrics_listener("127.0.0.1:0"));
    let addr = guard.metrics_addr().expect("listening");
    record_traffic(&guard.handle());
    let got = get(addr, "/metrics", OPENMETRICS);
    let head = ask(addr, "HEAD", "/metrics", OPENMETRICS);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {head}"
    );
    assert_eq!(
        header(&head, "content-type"),
        Some(m::OPENMETRICS_CONTENT_TYPE)
    );
    // The length GET's body has (the exposition is the same between the two requests: no
    // traffic in between).
    let body_len = got.split_once("\r\n\r\n").map(|(_, b)| b.len());
    assert_eq!(
        header(&head, "content-length").and_then(|v| v.parse().ok()),
        body_len
    );
    assert_eq!(
        header(&got, "content-length").and_then(|v| v.parse().ok()),
        body_len
    );
    let missing = ask(addr, "HEAD", "/", "*/*");
    assert!(missing.starts_with("HTTP/1.1 404") && missing.ends_with("\r\n\r\n"));
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let refused = ask(addr, method, "/metrics", "*/*");
        assert!(refused.starts_with("HTTP/1.1 405 "), "{method}: {refused}");
        assert_eq!(header(&refused, "allow"), Some("GET, HEAD"), "{method}");
    }
    guard.shutdown().unwrap();
}

#[test]
fn the_builtin_listener_serves_metrics_with_content_negotiation() {
    let (_dispatch, guard) = build(Config::new("svc", "1").with_metrics_listener("127.0.0.1:0"));
    let addr = guard.metrics_addr().expect("listening");
    record_traffic(&guard.handle());
    let om = get(addr, "/metrics", OPENMETRICS);
    assert!(om.starts_with("HTTP/1.1 200 OK\r\n"), "{om}");
    assert!(om.contains(&format!("content-type: {}", m::OPENMETRICS_CONTENT_TYPE)));
    assert!(om.ends_with("# EOF\n"));
    let prom = get(addr, "/metrics", "text/plain");
    assert!(prom.contains(&format!("content-type: {}", m::PROMETHEUS_CONTENT_TYPE)));
    assert!(prom.contains("http_server_request_duration_seconds_count{service=\"svc\""));
    assert!(get(addr, "/", "*/*").starts_with("HTTP/1.1 404"));
    guard.shutdown().unwrap();
}

#[test]
fn silent_clients_do_not_hold_up_the_scrape_and_the_listener_stays_bounded() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::Instant;

    let (_dispatch, guard) = build(Config::new("svc", "1").with_metrics_listener("127.0.0.1:0"));
    let addr = guard.metrics_addr().expect("listening");
    // Three clients that connect and send nothing: each holds a connection for the listener's
    // 2 s read bound. The scrape after them is served at once, not after 6 s.
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let started = Instant::now();
    let om = get(addr, "/metrics", OPENMETRICS);
    assert!(om.starts_with("HTTP/1.1 200 OK\r\n"), "{om}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "the scrape waited {:?} behind silent clients",
        started.elapsed()
    );
    // With four connections held (the bound), one more is answered 503 at once. A held
    // connection lasts the listener's 2 s bound on the request head from when its thread took
    // it: on a loaded machine the first ones may be answered 408 and let go before the extra
    // one comes, which is then served (and answered 408 in its turn). So the four are held
    // afresh right before the extra one, and the attempt repeated when that happened.
    drop(silent);
    let mut answers = Vec::new();
    for _ in 0..5 {
        let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut extra = TcpStream::connect(addr).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer);
        drop(held);
        let refused = answer.starts_with("HTTP/1.1 503 ");
        answers.push(answer);
        if refused {
            break;
        }
    }
    assert!(
        answers
            .last()
            .is_some_and(|a| a.starts_with("HTTP/1.1 503 ")),
        "never refused past the bound: {answers:?}"
    );
    // Once they go, scrapes are served again (a refusal may still come while their threads
    // notice, and may reach this client as a reset connection).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut again = String::new();
        let sent = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        if sent.is_ok()
            && s.read_to_string(&mut again).is_ok()
            && again.starts_with("HTTP/1.1 200 OK\r\n")
        {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {again}");
        std::thread::sleep(Duration::from_millis(50));
    }
    guard.shutdown().unwrap();
}

#[test]
fn a_client_that_drips_its_request_is_cut_off() {
    use std::io::{ErrorKind, Read as _, Write as _};
    use std::time::Instant;

    let (_dispatch, guard) = build(Config::new("svc", "1").with_metrics_listener("127.0.0.1:0"));
    let addr = guard.metrics_addr().expect("listening");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // A byte every 300 ms: each read returns within the 2 s bound, the whole head never does.
    for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n".iter().cycle() {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        match s.read_to_end(&mut answer) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => break,
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the listener kept the dripping client"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    guard.shutdown().unwrap();
}

#[test]
fn label_values_are_scrubbed_before_they_are_exposed() {
    let (_dispatch, guard) = build(Config::new("svc", "1"));
    let handle = guard.handle();
    handle.with_metrics_recorder(|| {
        for user in ["alice@example.com", "bob@example.com"] {
            metrics::counter!("stella.logins", "user" => user).increment(1);
        }
        metrics::counter!("stella.logins", "user" => "service-account").increment(1);
        metrics::gauge!("stella.connections", "password" => "hunter2").set(1.0);
        metrics::histogram!(
            "stella.callback.duration",
            "url" => "https://hooks.example.net/x?token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"
        )
        .record(0.5);
    });
    for accept in [None, Some(OPENMETRICS)] {
        let body = handle.render_metrics(accept).into_body();
        for secret in ["alice@", "bob@", "hunter2", "ghp_0123456789"] {
            assert!(!body.contains(secret), "{secret} exposed:\n{body}");
        }
        // The two redacted users are one series; the plain one keeps its value.
        let logins: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with("stella_logins_total{"))
            .collect();
        assert_eq!(logins.len(), 2, "{logins:?}");
        assert!(
            logins
                .iter()
                .any(|l| l.contains("user=\"[REDACTED") && l.ends_with(" 2")),
            "{logins:?}"
        );
        assert!(
            logins
                .iter()
                .any(|l| l.contains("user=\"service-account\"") && l.ends_with(" 1")),
            "{logins:?}"
        );
        if accept.is_none() {
            promtool(&body, "scrubbed-labels");
        } else {
            check_openmetrics(&body);
        }
    }
}
