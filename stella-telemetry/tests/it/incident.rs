//! Incident mode: per-tenant, TTL-bounded, breadcrumbs flushed with the next error, hooks,
//! retention bump, and (with the trace pipeline) 100 % sampling for that tenant only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stella_scrub::grants::ManualClock;
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{
    Config, IncidentAction, IncidentError, IncidentRequest, MAX_INCIDENT_TTL, Output,
};

const T0: u64 = 1_764_327_930;

#[test]
fn requests_are_validated() {
    let (_d, guard) =
        stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr)).unwrap();
    let h = guard.handle();
    assert_eq!(
        h.start_incident(IncidentRequest::new(" ", Duration::from_secs(60))),
        Err(IncidentError::EmptyTenant)
    );
    assert!(matches!(
        h.start_incident(IncidentRequest::new("acme", Duration::ZERO)),
        Err(IncidentError::Ttl(_))
    ));
    assert!(matches!(
        h.start_incident(IncidentRequest::new(
            "acme",
            MAX_INCIDENT_TTL + Duration::from_secs(1)
        )),
        Err(IncidentError::Ttl(_))
    ));
    assert_eq!(h.stop_incident("acme"), Err(IncidentError::NotActive));
    assert!(h.incidents().is_empty());
}

#[test]
fn breadcrumbs_are_flushed_with_the_next_error_of_that_tenant_only() {
    let capture = CaptureWriter::new();
    let clock = ManualClock::at_unix_secs(T0);
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_filter("info")
            .with_clock(clock.clone())
            .with_output(Output::Writer(Box::new(capture.clone()))),
    )
    .unwrap();
    let h = guard.handle();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    h.on_incident(move |e| {
        seen.lock()
            .unwrap()
            .push((e.action, e.incident.tenant.clone()))
    });
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::debug!(tenant_id = "acme", "before the incident");
        h.start_incident(
            IncidentRequest::new("acme", Duration::from_secs(3600))
                .with_actor("oncall-7")
                .with_reason("INC-42"),
        )
        .unwrap();
        for i in 0..3 {
            tracing::debug!(
                tenant_id = "acme",
                step = i,
                "cache miss for alice@example.com"
            );
        }
        tracing::debug!(tenant_id = "globex", "globex detail");
        tracing::error!(tenant_id = "globex", "globex failed");
        tracing::error!(tenant_id = "acme", "evaluation failed");
        tracing::error!(tenant_id = "acme", "second failure");
    });
    guard.flush().unwrap();
    let out = crate::support::check_lines(&capture.contents());
    let messages: Vec<&str> = out.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert!(
        messages[0].starts_with("incident mode started"),
        "{messages:?}"
    );
    assert_eq!(out[0]["tenant_id"], "acme");
    let failed = messages
        .iter()
        .position(|m| *m == "evaluation failed")
        .unwrap();
    let crumbs: Vec<&&str> = messages[failed + 1..]
        .iter()
        .take_while(|m| m.starts_with("breadcrumb: "))
        .collect();
    assert_eq!(crumbs.len(), 3, "{messages:?}");
    assert!(
        crumbs[0].contains("cache miss for [REDACTED:email]"),
        "{}",
        crumbs[0]
    );
    assert!(crumbs[0].contains("step=0"), "{}", crumbs[0]);
    assert!(!messages.iter().any(|m| m.contains("before the incident")));
    assert!(!messages.iter().any(|m| m.contains("globex detail")));
    // the ring was emptied by the first error
    assert_eq!(messages.last(), Some(&"second failure"));
    assert_eq!(
        h.retention_bump("acme"),
        Some(stella_telemetry::DEFAULT_RETENTION_BUMP)
    );
    // expiry
    clock.advance(Duration::from_secs(3601));
    assert!(h.incident("acme").is_none());
    tracing::dispatcher::with_default(&dispatch, || assert_eq!(h.expire_incidents(), 1));
    assert_eq!(
        *events.lock().unwrap(),
        [
            (IncidentAction::Started, "acme".to_owned()),
            (IncidentAction::Expired, "acme".to_owned())
        ]
    );
}

#[cfg(feature = "otlp")]
#[test]
fn incident_mode_keeps_every_trace_of_one_tenant_until_expiry() {
    use stella_telemetry::TraceConfig;

    use crate::collector::{Mode, Receiver, attr_str};

    let rx = Receiver::start(Mode::Accept);
    let clock = ManualClock::at_unix_secs(T0);
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_clock(clock.clone())
            .with_output(Output::Writer(Box::new(std::io::sink())))
            .with_traces(
                TraceConfig::new()
                    .with_endpoint(rx.url())
                    .with_export_interval(Duration::from_millis(20))
                    .with_sample_ratio(0.0)
                    .with_tail_sampling(false),
            ),
    )
    .unwrap();
    let h = guard.handle();
    let traffic = || {
        for tenant in ["acme", "globex"] {
            for _ in 0..5 {
                tracing::info_span!("api.request", tenant_id = tenant).in_scope(|| {
                    tracing::info_span!("policy.evaluate").in_scope(|| {});
                });
            }
        }
    };
    tracing::dispatcher::with_default(&dispatch, || {
        traffic();
        h.start_incident(IncidentRequest::new("acme", Duration::from_secs(3600)))
            .unwrap();
        traffic();
        clock.advance(Duration::from_secs(3600));
        traffic();
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    assert_eq!(spans.len(), 10, "5 acme requests with their child span");
    let roots: Vec<_> = spans.iter().filter(|s| s.name == "api.request").collect();
    assert!(
        roots
            .iter()
            .all(|s| attr_str(&s.attributes, "tenant_id") == Some("acme"))
    );
    // the collector's tail sampler keeps them too (policy `incident-mode` in collector.yaml)
    assert!(spans.iter().all(|s| matches!(
        crate::collector::attr(&s.attributes, "stella.incident_mode"),
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(true))
    )));
}

#[test]
fn incident_mode_copies_every_event_into_its_tenants_spans_whatever_the_span_event_level() {
    use stella_telemetry::TraceConfig;

    use crate::collector::{Mode, Receiver, attr_str};

    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_output(Output::Writer(Box::new(std::io::sink())))
            .with_traces(
                TraceConfig::new()
                    .with_endpoint(rx.url())
                    .with_export_interval(Duration::from_millis(20))
                    .with_span_event_level(tracing::Level::WARN),
            ),
    )
    .unwrap();
    let h = guard.handle();
    tracing::dispatcher::with_default(&dispatch, || {
        start_acme(&h);
        for tenant in ["acme", "globex"] {
            tracing::info_span!("api.request", tenant_id = tenant).in_scope(|| {
                tracing::info!("evaluating");
                tracing::warn!("slow advisory feed");
            });
        }
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let events = |tenant: &str| -> Vec<String> {
        let span = spans
            .iter()
            .find(|s| attr_str(&s.attributes, "tenant_id") == Some(tenant))
            .unwrap();
        span.events.iter().map(|e| e.name.clone()).collect()
    };
    assert_eq!(events("acme"), ["evaluating", "slow advisory feed"]);
    assert_eq!(events("globex"), ["slow advisory feed"]);
    guard.shutdown().unwrap();
}

#[cfg(feature = "slo")]
#[test]
fn a_burn_rate_breach_switches_incident_mode() {
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1").with_output(Output::Writer(Box::new(std::io::sink()))),
    )
    .unwrap();
    let h = guard.handle();
    let trigger = h.incident_trigger(Duration::from_secs(4 * 3600));
    let signal = |action: &str| -> stella_slo::IncidentSignal {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "action": action, "tenant": "acme", "slo": "policy-evaluation-latency",
            "service": "policy-engine", "burn_rate": 20.0, "threshold": 14.4, "at": "2026-11-28T12:00:00Z"
        }))
        .unwrap()
    };
    tracing::dispatcher::with_default(&dispatch, || trigger(&signal("start")));
    let incident = h.incident("acme").unwrap();
    assert!(matches!(
        incident.trigger,
        stella_telemetry::IncidentTrigger::BurnRate { ref slo, .. } if slo == "policy-evaluation-latency"
    ));
    tracing::dispatcher::with_default(&dispatch, || trigger(&signal("stop")));
    assert!(h.incident("acme").is_none());
}

/// Incident mode for tenant `acme`, for a minute.
fn start_acme(h: &stella_telemetry::TelemetryHandle) {
    h.start_incident(IncidentRequest::new("acme", Duration::from_secs(60)))
        .unwrap();
}

/// The lines written by a dispatcher built with `filter` while `f` runs (with the handle).
fn lines_with(
    filter: &str,
    f: impl FnOnce(&stella_telemetry::TelemetryHandle),
) -> Vec<serde_json::Value> {
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_filter(filter)
            .with_clock(ManualClock::at_unix_secs(T0))
            .with_output(Output::Writer(Box::new(capture.clone()))),
    )
    .unwrap();
    let h = guard.handle();
    tracing::dispatcher::with_default(&dispatch, || f(&h));
    guard.shutdown().unwrap();
    crate::support::check_lines(&capture.contents())
}

fn messages(lines: &[serde_json::Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .filter(|m| !m.starts_with("incident mode"))
        .collect()
}

#[test]
fn one_debug_callsite_follows_incident_mode_on_and_off() {
    let lines = lines_with("info", |h| {
        let detail = |i: u32| tracing::debug!(tenant_id = "acme", step = i, "detail");
        let failure = |i: u32| tracing::error!(tenant_id = "acme", step = i, "failure");
        detail(0);
        failure(0);
        start_acme(h);
        detail(1);
        detail(2);
        failure(1);
        h.stop_incident("acme").unwrap();
        detail(3);
        failure(2);
        start_acme(h);
        detail(4);
        failure(3);
    });
    let got = messages(&lines);
    assert_eq!(
        got,
        [
            "failure",
            "failure",
            "breadcrumb: it::incident detail step=1",
            "breadcrumb: it::incident detail step=2",
            "failure",
            "failure",
            "breadcrumb: it::incident detail step=4",
        ],
        "{lines:?}"
    );
}

#[test]
fn breadcrumbs_are_kept_when_the_filter_already_logs_debug() {
    let lines = lines_with("debug", |h| {
        start_acme(h);
        tracing::debug!(tenant_id = "acme", "detail");
        tracing::info!(tenant_id = "acme", "not a breadcrumb");
        tracing::warn!(tenant_id = "acme", "nor this");
        tracing::error!(tenant_id = "acme", "failure");
    });
    assert_eq!(
        messages(&lines),
        [
            "detail",
            "not a breadcrumb",
            "nor this",
            "failure",
            "breadcrumb: it::incident detail"
        ],
        "{lines:?}"
    );
}

#[test]
fn an_error_the_filter_drops_still_flushes_the_breadcrumbs() {
    let lines = lines_with("info,quiet=off", |h| {
        start_acme(h);
        tracing::debug!(target: "quiet", tenant_id = "acme", "quiet detail");
        tracing::debug!(tenant_id = "acme", "detail");
        tracing::error!(target: "quiet", tenant_id = "acme", "quiet failure");
        tracing::debug!(tenant_id = "acme", "after");
        tracing::error!(tenant_id = "acme", "failure");
    });
    assert_eq!(
        messages(&lines),
        [
            "breadcrumb: quiet quiet detail",
            "breadcrumb: it::incident detail",
            "failure",
            "breadcrumb: it::incident after",
        ],
        "{lines:?}"
    );
}

#[test]
fn breadcrumbs_take_the_tenant_from_the_event_or_the_current_context_not_from_spans() {
    use stella_context::{CurrentContext, RequestContext};

    let lines = lines_with("info", |h| {
        start_acme(h);
        let cx = CurrentContext::new(None, Some(RequestContext::new().with_tenant_id("acme")));
        // A span with the tenant as a field, and a span created in the tenant's context but
        // entered outside it: the JSON lines carry the tenant, the breadcrumbs do not see it.
        let span = tracing::info_span!("api", tenant_id = "acme");
        let in_cx = cx.scope(|| tracing::info_span!("job"));
        span.in_scope(|| tracing::debug!("in a span with the tenant"));
        in_cx.in_scope(|| tracing::debug!("in a span made in the context"));
        span.in_scope(|| tracing::error!("failure in the span"));
        cx.scope(|| tracing::debug!("in the context"));
        span.in_scope(|| tracing::error!("second failure in the span"));
        cx.scope(|| tracing::error!("failure in the context"));
    });
    assert_eq!(
        messages(&lines),
        [
            "failure in the span",
            "second failure in the span",
            "failure in the context",
            "breadcrumb: it::incident in the context",
        ],
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l["tenant_id"] == "acme"), "{lines:?}");
}
