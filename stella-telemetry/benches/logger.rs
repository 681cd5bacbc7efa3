//! One info event with the 25 common fields inside a request span, written to a no-op writer
//! (and the same event with a secret in its message, `logger_with_secret/*`):
//! `stella-telemetry`'s `JsonLayer` (scrubbing on, `ContextLayer` in the stack) against
//! `tracing-subscriber`'s `fmt().json()` with the same fields, in the same run.
//!
//! Run: `cargo bench -p stella-telemetry --bench logger -- --warm-up-time 1 --measurement-time 3`
//!
//! Machine: the shared 2-core CI container (see the crate README for the figures); baseline:
//! `fmt_json` in the same run. Both write to `std::io::sink`, so only formatting (and for us,
//! scrubbing and field resolution) is measured, like tracing-subscriber's `benches/fmt.rs`.

use std::io;

use criterion::{Criterion, criterion_group, criterion_main};
use stella_context::subscriber::ContextLayer;
use stella_telemetry::{JsonLayer, Resource, Sampling};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// The request span: the identity and HTTP fields the ingress sets (10 of the 25).
fn request_span(with_resource: bool) -> tracing::Span {
    if with_resource {
        // fmt().json() has no static resource: give it the same five values as span fields.
        tracing::info_span!(
            "api",
            service = "policy-engine",
            version = "1.4.0",
            env = "prod",
            region = "eu-west-1",
            instance_id = "pod-7f9c",
            http.route = "/tenants/{tenant}/sboms/{id}/evaluate",
            http.request.method = "POST",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            parent_span_id = "b7ad6b7169203331",
            request_id = "5f1c2a0e9d3b4c7a8e6f1029384756ab",
            tenant_id = "acme",
            project_id = "proj-payments",
            actor = "user-8731",
        )
    } else {
        tracing::info_span!(
            "api",
            http.route = "/tenants/{tenant}/sboms/{id}/evaluate",
            http.request.method = "POST",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            parent_span_id = "b7ad6b7169203331",
            request_id = "5f1c2a0e9d3b4c7a8e6f1029384756ab",
            tenant_id = "acme",
            project_id = "proj-payments",
            actor = "user-8731",
        )
    }
}

/// The event: the other ten common fields and the message.
fn event() {
    tracing::info!(
        resource = "sbom/7f3c",
        action = "policy.evaluate",
        job_id = "job-20261128-0042",
        run_id = "run-3",
        source_id = "nvd",
        sbom_id = "sbom-7f3c",
        policy_version = "2026.11.3",
        decision_effect = "deny",
        decision_reason = "2 critical vulnerabilities without VEX",
        error_code = "POLICY_DENY",
        error_message = "evaluation denied",
        "evaluated policy for 5000 components"
    );
}

/// The same event with a secret in the message (the per-value scrubbing path).
fn event_with_secret() {
    tracing::info!(
        resource = "sbom/7f3c",
        action = "policy.evaluate",
        job_id = "job-20261128-0042",
        run_id = "run-3",
        source_id = "nvd",
        sbom_id = "sbom-7f3c",
        policy_version = "2026.11.3",
        decision_effect = "deny",
        decision_reason = "2 critical vulnerabilities without VEX",
        error_code = "POLICY_DENY",
        error_message = "evaluation denied",
        "evaluated policy for 5000 components with token=ghp_R3alLooking0Token1234567890abcdefABCD"
    );
}

fn run(c: &mut Criterion, name: &str, dispatch: &Dispatch, with_resource: bool, event: fn()) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = request_span(with_resource);
        let _entered = span.enter();
        c.bench_function(name, |b| b.iter(event));
    });
}

fn bench(c: &mut Criterion) {
    let layer = JsonLayer::builder("policy-engine", "1.4.0")
        .with_resource(
            Resource::new("policy-engine", "1.4.0")
                .with_env("prod")
                .with_region("eu-west-1")
                .with_instance_id("pod-7f9c"),
        )
        .with_sampling(Sampling::unlimited())
        .with_writer(io::sink)
        .build();
    let Ok(layer) = layer else { return };
    let ours = Dispatch::new(
        tracing_subscriber::registry()
            .with(ContextLayer::new())
            .with(layer),
    );
    let fmt_json = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(io::sink)
            .finish(),
    );

    run(c, "logger/stella_json_layer", &ours, false, event);
    run(c, "logger/fmt_json", &fmt_json, true, event);
    run(
        c,
        "logger_with_secret/stella_json_layer",
        &ours,
        false,
        event_with_secret,
    );
    run(
        c,
        "logger_with_secret/fmt_json",
        &fmt_json,
        true,
        event_with_secret,
    );
    // A whole request's logging: open the span (its fields are scrubbed once here), one event,
    // close it.
    for (name, dispatch, with_resource) in [
        ("request/stella_json_layer", &ours, false),
        ("request/fmt_json", &fmt_json, true),
    ] {
        tracing::dispatcher::with_default(dispatch, || {
            c.bench_function(name, |b| {
                b.iter(|| {
                    let span = request_span(with_resource);
                    let _entered = span.enter();
                    event();
                })
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
