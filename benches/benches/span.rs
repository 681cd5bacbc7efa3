//! Per-span cost of the trace bridge against `tracing-opentelemetry`, with the same exporter
//! setup: every span sampled, OTLP/HTTP protobuf posted from a background thread to the same
//! loopback receiver, the same `JsonLayer` (to `std::io::sink` through a `NonBlocking` writer)
//! in both stacks, and the request context stored in every span (by `ContextLayer` in the
//! peer's stack; the subscriber `build()` assembles stores it itself).
//!
//! - `span/stella_bridge`: `stella_telemetry::build()` with traces on (its own bridge, batch
//!   queue and OTLP encoder).
//! - `span/tracing_opentelemetry`: `tracing-opentelemetry` 0.34 over the OpenTelemetry SDK
//!   0.33 (`SdkTracerProvider` with the batch span processor) and an exporter that encodes with
//!   `opentelemetry-proto`'s transform and posts with the same HTTP client.
//!
//! - `span/no_bridge`: the same `build()` with traces off: what both stacks share (`JsonLayer`,
//!   the stored context); subtract it to get each bridge's own cost (for the peer slightly
//!   overstated: its `ContextLayer` is a layer of its own).
//!
//! Each iteration opens a span with three fields (one a string that is scrubbed), optionally
//! records one event inside it, and closes it. Export runs on other threads in both cases.
//! `span` and `span_with_event` time the calling thread by the wall clock (so on a loaded
//! 2-core machine the export threads competing for a core show up); `span_cpu` and
//! `span_with_event_cpu` time the same by the calling thread's own CPU time (Linux schedstat).
//!
//! Run: `cargo bench -p stella-benches --bench span -- --warm-up-time 1 --measurement-time 3`
//!
//! Machine: the shared 2-core CI container; baseline: `tracing_opentelemetry` in the same run.
//! Target (issue 5): `stella_bridge` at most 0.6 of `tracing_opentelemetry`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use stella_benches::loopback_receiver;
use stella_context::subscriber::ContextLayer;
use stella_telemetry::{Config, JsonLayer, NonBlocking, Output, TraceConfig};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn stella(url: &str) -> (Dispatch, stella_telemetry::TelemetryGuard) {
    stella_telemetry::build(
        Config::new("policy-engine", "1.4.0")
            .with_output(Output::Writer(Box::new(std::io::sink())))
            // Every event copied into its span, as `tracing-opentelemetry` does (the default
            // copies warnings and errors only).
            .with_traces(
                TraceConfig::new()
                    .with_endpoint(url)
                    .with_span_event_level(tracing::Level::TRACE),
            ),
    )
    .expect("build")
}

fn otel(url: &str) -> (Dispatch, SdkTracerProvider, stella_telemetry::WriterGuard) {
    let provider = stella_benches::peer::tracer_provider(url, "policy-engine");
    let tracer = provider.tracer("bench");
    let (writer, guard) = NonBlocking::builder()
        .build(Output::Writer(Box::new(std::io::sink())))
        .expect("writer");
    let json = JsonLayer::builder("policy-engine", "1.4.0")
        .with_non_blocking(writer)
        .build()
        .expect("layer");
    let subscriber = tracing_subscriber::registry()
        .with(ContextLayer::new())
        .with(json)
        .with(tracing_opentelemetry::layer().with_tracer(tracer));
    (Dispatch::new(subscriber), provider, guard)
}

fn one_span(event: bool) {
    let span = tracing::info_span!(
        "policy.evaluate",
        tenant_id = "acme",
        sbom_id = "sbom-7f3c",
        components = 5_000_u64
    );
    let _e = span.enter();
    if event {
        tracing::info!(rules = 42_u64, "evaluated");
    }
}

/// Nanoseconds the calling thread has spent on a CPU (Linux `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Times `one_span` by the calling thread's own CPU time, which the other threads of a loaded
/// 2-core machine (the export threads included) cannot inflate. schedstat advances with
/// scheduler ticks, so each sample runs at least 16 384 spans and is scaled back to `iters`.
fn cpu_time(b: &mut criterion::Bencher<'_>, event: bool) {
    b.iter_custom(|iters| {
        let runs = iters.max(16_384);
        let start = thread_cpu_ns().unwrap_or(0);
        for _ in 0..runs {
            one_span(event);
        }
        let cpu = thread_cpu_ns().unwrap_or(0).saturating_sub(start);
        let scaled = u128::from(cpu) * u128::from(iters) / u128::from(runs);
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX).max(1))
    });
}

fn bench(c: &mut Criterion) {
    let url = loopback_receiver().expect("loopback receiver");
    let (ours, ours_guard) = stella(&url);
    let (theirs, provider, theirs_guard) = otel(&url);
    let (baseline, baseline_guard) = stella_telemetry::build(
        Config::new("policy-engine", "1.4.0")
            .with_output(Output::Writer(Box::new(std::io::sink()))),
    )
    .expect("build");
    for (group, event) in [("span", false), ("span_with_event", true)] {
        let mut g = c.benchmark_group(group);
        g.bench_function("stella_bridge", |b| {
            tracing::dispatcher::with_default(&ours, || b.iter(|| one_span(event)));
        });
        g.bench_function("tracing_opentelemetry", |b| {
            tracing::dispatcher::with_default(&theirs, || b.iter(|| one_span(event)));
        });
        g.bench_function("no_bridge", |b| {
            tracing::dispatcher::with_default(&baseline, || b.iter(|| one_span(event)));
        });
        g.finish();
    }
    if thread_cpu_ns().is_some() {
        for (group, event) in [("span_cpu", false), ("span_with_event_cpu", true)] {
            let mut g = c.benchmark_group(group);
            g.sample_size(20);
            for (name, dispatch) in [
                ("stella_bridge", &ours),
                ("tracing_opentelemetry", &theirs),
                ("no_bridge", &baseline),
            ] {
                g.bench_function(name, |b| {
                    tracing::dispatcher::with_default(dispatch, || cpu_time(b, event));
                });
            }
            g.finish();
        }
    }
    let stats = ours_guard.handle().trace_stats();
    eprintln!(
        "stella bridge: {} spans exported, {} dropped",
        stats.spans_exported,
        stats.dropped()
    );
    drop(ours_guard);
    let _ = provider.shutdown();
    drop(theirs_guard);
    drop(baseline_guard);
}

criterion_group!(benches, bench);
criterion_main!(benches);
