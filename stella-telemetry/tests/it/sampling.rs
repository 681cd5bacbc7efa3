//! Rate limits per call site and per tenant; errors, warnings and decisions are never limited;
//! suppressed counts are reported.

use std::time::Duration;

use stella_telemetry::Sampling;
use stella_telemetry::decision::{Decision, Effect};

use crate::support::Harness;

#[test]
fn per_callsite_caps_spare_errors_and_decisions_and_are_summarised() {
    let h = Harness::with(|b| {
        b.with_sampling(
            Sampling::unlimited()
                .with_callsite_limit(3, Duration::from_secs(3600))
                .with_summary_interval(Duration::from_secs(60)),
        )
    });
    h.run(|| {
        for i in 0..10 {
            tracing::info!(i, "chatty");
            tracing::warn!(i, "warned");
            tracing::error!(i, "failed");
            Decision::authz(Effect::Allow).with_reason("ok").emit();
        }
    });
    let lines = h.lines();
    assert_eq!(lines.iter().filter(|l| l["message"] == "chatty").count(), 3);
    assert_eq!(
        lines.iter().filter(|l| l["message"] == "warned").count(),
        10
    );
    assert_eq!(
        lines.iter().filter(|l| l["message"] == "failed").count(),
        10
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["message"] == "authz decision")
            .count(),
        10
    );
    assert_eq!(h.handle.stats().suppressed_callsite, 7);
    assert!(
        lines
            .iter()
            .all(|l| l["message"] != "log records suppressed")
    );

    h.clock.advance(Duration::from_secs(61));
    h.run(|| tracing::info!("chatty again"));
    let summary = h.line("log records suppressed");
    assert_eq!(summary["level"], "warn");
    assert_eq!(summary["details"]["suppressed_callsite"], 7);
    assert_eq!(summary["details"]["interval_seconds"], 60);
    assert_eq!(h.handle.stats().summaries, 1);
}

#[test]
fn per_tenant_caps_isolate_noisy_tenants() {
    let h = Harness::with(|b| {
        b.with_sampling(Sampling::unlimited().with_tenant_limit(2, Duration::from_secs(3600)))
    });
    h.run(|| {
        for tenant in ["noisy", "quiet"] {
            let span = tracing::info_span!("api", tenant_id = tenant);
            let _e = span.enter();
            for _ in 0..5 {
                tracing::info!("tenant line");
            }
        }
        tracing::info!("no tenant");
    });
    let lines = h.lines();
    assert_eq!(
        lines.iter().filter(|l| l["tenant_id"] == "noisy").count(),
        2
    );
    assert_eq!(
        lines.iter().filter(|l| l["tenant_id"] == "quiet").count(),
        2
    );
    assert_eq!(h.line("no tenant")["message"], "no tenant");
    assert_eq!(h.handle.stats().suppressed_tenant, 6);
}

#[test]
fn windows_reset() {
    let h = Harness::with(|b| {
        b.with_sampling(Sampling::unlimited().with_callsite_limit(1, Duration::from_secs(1)))
    });
    h.run(|| {
        for _ in 0..3 {
            for _ in 0..5 {
                tracing::info!("tick");
            }
            h.clock.advance(Duration::from_secs(1));
        }
    });
    assert_eq!(h.lines().len(), 3);
}

#[test]
fn shutdown_reports_what_was_suppressed() {
    use stella_telemetry::{Config, Output};
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_sampling(Sampling::unlimited().with_callsite_limit(1, Duration::from_secs(3600)))
            .with_output(Output::Writer(Box::new(capture.clone()))),
    )
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..4 {
            tracing::info!("loop");
        }
    });
    assert_eq!(guard.stats().suppressed_callsite, 3);
    guard.shutdown().unwrap();
    let lines = crate::support::check_lines(&capture.contents());
    let summary = lines
        .iter()
        .find(|l| l["message"] == "log records suppressed")
        .expect("a final summary");
    assert_eq!(summary["details"]["suppressed_callsite"], 3);
    assert_eq!(lines.iter().filter(|l| l["message"] == "loop").count(), 1);
}
