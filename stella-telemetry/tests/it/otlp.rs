//! Traces over OTLP/HTTP to a real loopback receiver: parents, resource, scrubbing, tail
//! sampling, failure injection, the job helper and bounded shutdown.

use std::time::Duration;

use serde_json::Value;
use stella_context::{CurrentContext, JobEnvelope, JobMeta, RestoreMode, TraceContext};
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, Output, ShutdownError, TraceConfig};

use crate::collector::{
    Mode, Receiver, assert_the_refused_batch_was_delivered, attr, attr_str, dead_url, emit, hex,
    span_named, wait_for_a_retry,
};

/// The service of these tests, with every log event copied into its span (the default copies
/// warnings and errors only): most tests check what the copies carry.
fn config(url: &str, capture: &CaptureWriter) -> Config {
    Config::new("policy-engine", "1.4.0")
        .with_env("prod")
        .with_region("eu-west-1")
        .with_instance_id("pod-7")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(url)
                .with_export_interval(Duration::from_millis(20))
                .with_span_event_level(tracing::Level::TRACE),
        )
}

/// The service of [`config`] sending to `rx`, its trace settings changed by `change`.
fn build_with(
    rx: &Receiver,
    change: impl FnOnce(TraceConfig) -> TraceConfig,
) -> (tracing::Dispatch, stella_telemetry::TelemetryGuard) {
    let cfg = config(&rx.url(), &CaptureWriter::new());
    let traces = change(cfg.traces().clone());
    stella_telemetry::build(cfg.with_traces(traces)).unwrap()
}

const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN: &str = "00f067aa0ba902b7";

#[test]
fn spans_arrive_with_parents_resource_and_scrubbed_values() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    let server_span = "b7ad6b7169203331";
    tracing::dispatcher::with_default(&dispatch, || {
        // The shape of the stella-context ingress span: its ids are fields.
        let api = tracing::info_span!(
            "api",
            otel.name = "api.evaluate",
            otel.kind = "server",
            http.route = "/tenants/{tenant}/evaluate",
            trace_id = REMOTE_TRACE,
            span_id = server_span,
            parent_span_id = REMOTE_SPAN,
            tenant_id = "acme",
        );
        let _a = api.enter();
        let work = tracing::info_span!(
            "policy.evaluate",
            token = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            owner = "alice@example.com",
            components = 5000_u64,
        );
        let _w = work.enter();
        tracing::info!(user = "bob@example.com", "evaluating for carol@example.com");
        stella_telemetry::decision::Decision::policy(stella_telemetry::decision::Effect::Deny)
            .with_actor("dave@example.com")
            .with_policy_version("2026.11.3")
            .with_rule_ids(["no-critical"])
            .emit();
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let api = spans.iter().find(|s| s.name == "api.evaluate").unwrap();
    let work = spans.iter().find(|s| s.name == "policy.evaluate").unwrap();
    assert_eq!(hex(&api.trace_id), REMOTE_TRACE);
    assert_eq!(hex(&api.span_id), server_span);
    assert_eq!(hex(&api.parent_span_id), REMOTE_SPAN);
    assert_eq!(api.kind, 2, "server");
    assert_eq!(hex(&work.trace_id), REMOTE_TRACE);
    assert_eq!(work.parent_span_id, api.span_id);
    assert_eq!(work.kind, 1, "internal");
    // ids are attributes of nobody
    assert!(attr(&api.attributes, "trace_id").is_none());
    assert!(attr(&api.attributes, "otel.name").is_none());
    assert_eq!(
        attr_str(&api.attributes, "http.route"),
        Some("/tenants/{tenant}/evaluate")
    );
    // scrubbed attributes and events
    let token = attr_str(&work.attributes, "token").unwrap();
    assert!(token.starts_with("[REDACTED"), "{token}");
    assert!(
        !attr_str(&work.attributes, "owner")
            .unwrap()
            .contains("alice")
    );
    assert!(matches!(
        attr(&work.attributes, "components"),
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(5000))
    ));
    // the policy decision is on the span, without the actor
    assert_eq!(attr_str(&work.attributes, "decision_effect"), Some("deny"));
    assert_eq!(
        attr_str(&work.attributes, "policy_version"),
        Some("2026.11.3")
    );
    assert!(attr(&work.attributes, "actor").is_none());
    assert!(
        work.events
            .iter()
            .all(|e| attr(&e.attributes, "actor").is_none())
    );
    let event = work.events.first().unwrap();
    assert!(!event.name.contains("carol"), "{}", event.name);
    assert!(event.name.contains("[REDACTED:email]"), "{}", event.name);
    assert!(!attr_str(&event.attributes, "user").unwrap().contains("bob"));
    // the resource
    let req = rx.requests();
    let resource = req[0].resource_spans[0].resource.as_ref().unwrap();
    for (k, v) in [
        ("service.name", "policy-engine"),
        ("service.version", "1.4.0"),
        ("deployment.environment.name", "prod"),
        ("cloud.region", "eu-west-1"),
        ("service.instance.id", "pod-7"),
    ] {
        assert_eq!(attr_str(&resource.attributes, k), Some(v), "{k}");
    }
    // the log line inside the span carries the exported span's ids
    let line: Value = serde_json::from_str(&capture.lines()[0]).unwrap();
    assert_eq!(line["trace_id"], REMOTE_TRACE);
    assert_eq!(line["span_id"], hex(&work.span_id));
    // and its parent: the exported span's parent, not the ingress span's caller
    assert_eq!(line["parent_span_id"], hex(&work.parent_span_id));
    assert_eq!(line["parent_span_id"], server_span);
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 2);
    assert_eq!(stats.dropped(), 0);
    guard.shutdown().unwrap();
}

#[test]
fn new_roots_and_context_parents() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    let remote = TraceContext::new_root();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("orchestrator.schedule").in_scope(|| {
            tracing::info_span!("db.query").in_scope(|| tracing::info!("x"));
            tracing::info!("y");
        });
        // a span opened under a current stella-context trace is its child
        CurrentContext::from_trace(remote.clone()).scope(|| {
            tracing::info_span!("excitor.link").in_scope(|| {});
        });
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "orchestrator.schedule")
        .unwrap();
    let child = spans.iter().find(|s| s.name == "db.query").unwrap();
    assert!(root.parent_span_id.is_empty());
    assert_eq!(child.trace_id, root.trace_id);
    assert_eq!(child.parent_span_id, root.span_id);
    let linked = spans.iter().find(|s| s.name == "excitor.link").unwrap();
    assert_eq!(hex(&linked.trace_id), remote.trace_id().to_string());
    assert_eq!(hex(&linked.parent_span_id), remote.span_id().to_string());
    let line: Value = serde_json::from_str(&capture.lines()[0]).unwrap();
    assert_eq!(line["span_id"], hex(&child.span_id));
    assert_eq!(line["trace_id"], hex(&root.trace_id));
    assert_eq!(line["parent_span_id"], hex(&root.span_id));
    // a line of the root span: its id, and no parent
    let line: Value = serde_json::from_str(&capture.lines()[1]).unwrap();
    assert_eq!(line["span_id"], hex(&root.span_id));
    assert!(line.get("parent_span_id").is_none(), "{line}");
}

#[test]
fn tail_sampler_keeps_error_and_slow_traces_at_head_ratio_zero() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let cfg = config(&rx.url(), &capture).with_traces(
        TraceConfig::new()
            .with_endpoint(rx.url())
            .with_export_interval(Duration::from_millis(20))
            .with_sample_ratio(0.0)
            .with_tail_latency(Duration::from_millis(30)),
    );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..20 {
            tracing::info_span!("fast.root").in_scope(|| {
                tracing::info_span!("fast.child").in_scope(|| tracing::info!("fine"));
            });
        }
        tracing::info_span!("error.root").in_scope(|| {
            tracing::info_span!("error.child").in_scope(|| tracing::error!("it broke"));
            tracing::info_span!("error.sibling").in_scope(|| {});
        });
        tracing::info_span!("slow.root").in_scope(|| {
            tracing::info_span!("slow.child").in_scope(|| {});
            std::thread::sleep(Duration::from_millis(40));
        });
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "error.child",
            "error.root",
            "error.sibling",
            "slow.child",
            "slow.root"
        ]
    );
    let child = spans.iter().find(|s| s.name == "error.child").unwrap();
    assert_eq!(child.status.as_ref().map(|s| s.code), Some(2));
    let root = spans.iter().find(|s| s.name == "error.root").unwrap();
    assert_eq!(child.parent_span_id, root.span_id);
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_head_sampled, 0);
    assert_eq!(stats.tail_kept_traces, 2);
    assert_eq!(stats.tail_discarded_spans, 40);
}

#[test]
fn head_ratio_changes_at_runtime() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let cfg = config(&rx.url(), &capture).with_traces(
        TraceConfig::new()
            .with_endpoint(rx.url())
            .with_export_interval(Duration::from_millis(20))
            .with_sample_ratio(0.0)
            .with_tail_sampling(false),
    );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("dropped").in_scope(|| tracing::error!("unsampled errors stay local"));
        guard.handle().set_trace_sample_ratio(1.0).unwrap();
        tracing::info_span!("kept").in_scope(|| {});
    });
    guard.flush().unwrap();
    let names: Vec<String> = rx.spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["kept"]);
}

#[test]
fn collector_absent_costs_only_the_dropped_spans() {
    let capture = CaptureWriter::new();
    let timeout = Duration::from_secs(5);
    let cfg = config(&dead_url(), &capture).with_traces(
        TraceConfig::new()
            .with_endpoint(dead_url())
            .with_export_interval(Duration::from_millis(10))
            .with_export_timeout(timeout)
            .with_queue_capacity(16),
    );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    let took = emit(&dispatch, 200);
    assert!(
        took < timeout,
        "the service waited for the collector: {took:?}"
    );
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 0);
    assert_eq!(
        stats.dropped_export + stats.dropped_queue_full,
        200,
        "{stats:?}"
    );
    assert!(stats.export_failures > 0);
}

#[test]
fn a_collector_that_comes_up_late_gets_the_batch_it_refused() {
    // Nothing listens yet: the connection is refused, and the batch is sent again after the
    // backoff (a collector restarting, as OTLP asks clients to bridge).
    let url = dead_url();
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&url, &capture)).unwrap();
    emit(&dispatch, 3);
    wait_for_a_retry(&guard);
    let rx = Receiver::start_at(url.trim_start_matches("http://"), Mode::Accept);
    rx.wait_for("the refused batch", |r| r.spans().len() == 3);
    assert_the_refused_batch_was_delivered(&guard, 3);
    guard.shutdown().unwrap();
}

#[test]
fn collector_answering_503_then_recovering() {
    let rx = Receiver::start(Mode::Unavailable);
    let (dispatch, guard) = build_with(&rx, |t| t);
    emit(&dispatch, 10);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.dropped_export, 10, "{stats:?}");
    // Sent three times (OTLP's retryable answer), then dropped and counted, with the reason.
    assert_eq!(
        (stats.export_retries, stats.export_failures),
        (2, 1),
        "{stats:?}"
    );
    assert_eq!(rx.hits(), 3);
    assert_eq!(
        guard.handle().last_export_error().as_deref(),
        Some("the collector answered 503")
    );
    assert!(rx.spans().is_empty());
    rx.set_mode(Mode::Accept);
    emit(&dispatch, 5);
    guard.flush().unwrap();
    assert_eq!(rx.spans().len(), 5);
    assert_eq!(guard.handle().trace_stats().spans_exported, 5);
}

#[test]
fn export_headers_reach_the_collector() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build_with(&rx, |t| t.with_header("Authorization", "Bearer t0ken"));
    emit(&dispatch, 2);
    guard.flush().unwrap();
    assert_eq!(rx.spans().len(), 2);
    assert_eq!(rx.authorization().as_deref(), Some("Bearer t0ken"));
}

#[test]
fn gzip_compressed_requests_arrive_whole() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build_with(&rx, |t| {
        t.with_compression(stella_telemetry::OtlpCompression::Gzip)
    });
    emit(&dispatch, 20);
    guard.flush().unwrap();
    emit(&dispatch, 5);
    guard.flush().unwrap();
    let spans = rx.spans();
    assert_eq!(spans.len(), 25);
    assert!(
        spans
            .iter()
            .all(|s| s.name == "api.request" && s.events.len() == 1)
    );
    assert_eq!(rx.gzipped(), rx.hits());
    assert!(rx.hits() >= 2);
    assert_eq!(guard.handle().trace_stats().spans_exported, 25);
}

#[test]
fn a_collector_asking_to_retry_gets_the_spans_on_the_next_try() {
    let rx = Receiver::start(Mode::UnavailableOnce);
    let (dispatch, guard) = build_with(&rx, |t| t);
    emit(&dispatch, 4);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(rx.spans().len(), 4);
    assert_eq!(
        (stats.spans_exported, stats.export_retries, stats.dropped()),
        (4, 1, 0),
        "{stats:?}"
    );
    assert_eq!(guard.handle().last_export_error(), None);
}

#[test]
fn spans_the_collector_rejects_in_a_partial_success_are_counted_not_retried() {
    let rx = Receiver::start(Mode::RejectFirst);
    let (dispatch, guard) = build_with(&rx, |t| t);
    emit(&dispatch, 4);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert_eq!(rx.hits(), 1, "not retried");
    assert_eq!(
        (stats.spans_exported, stats.rejected_spans, stats.dropped()),
        (3, 1, 1),
        "{stats:?}"
    );
    let reason = guard.handle().last_export_error().unwrap_or_default();
    assert!(
        reason.contains("rejected 1 of 4 spans: span too large"),
        "{reason}"
    );
    let metrics = guard.handle().render_metrics(None);
    assert!(
        metrics.body().contains("reason=\"rejected\"} 1"),
        "{}",
        metrics.body()
    );
}

#[test]
fn hanging_collector_never_blocks_the_service_and_export_resumes() {
    let rx = Receiver::start(Mode::Hang);
    let capture = CaptureWriter::new();
    let timeout = Duration::from_secs(2);
    let cfg = config(&rx.url(), &capture)
        .with_flush_timeout(Duration::from_secs(10))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(10))
                .with_export_timeout(timeout)
                .with_queue_capacity(32)
                .with_batch_size(8),
        );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    emit(&dispatch, 8);
    rx.wait_for("the first export to hang", |r| r.hits() >= 1);
    // While the exporter is stuck, the service goes on; the queue fills and drops.
    let took = emit(&dispatch, 200);
    assert!(
        took < timeout,
        "the service waited for the collector: {took:?}"
    );
    assert!(guard.handle().trace_stats().dropped_queue_full > 0);
    rx.set_mode(Mode::Accept);
    guard.flush().unwrap();
    emit(&dispatch, 3);
    guard.flush().unwrap();
    let stats = guard.handle().trace_stats();
    assert!(stats.spans_exported >= 3, "{stats:?}");
    assert_eq!(
        stats.spans_exported + stats.dropped(),
        211,
        "every span is exported or counted: {stats:?}"
    );
}

#[test]
fn shutdown_is_bounded_on_a_current_thread_runtime_with_a_hanging_collector() {
    let rx = Receiver::start(Mode::Hang);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let capture = CaptureWriter::new();
    let cfg = config(&rx.url(), &capture)
        .with_flush_timeout(Duration::from_millis(200))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(10))
                .with_export_timeout(Duration::from_secs(30)),
        );
    let result = rt.block_on(async move {
        let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
        emit(&dispatch, 3);
        tokio::time::sleep(Duration::from_millis(50)).await;
        emit(&dispatch, 3);
        guard.shutdown()
    });
    // Returned at all (not deadlocked) despite a 30 s export timeout; the spans stuck in the
    // hung request are reported.
    assert!(
        matches!(result, Ok(()) | Err(ShutdownError::TraceTimeout(_))),
        "{result:?}"
    );
}

#[test]
fn job_span_continues_or_links_the_producer_trace() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    let producer = TraceContext::new_root();
    let meta = JobMeta::new("job-42")
        .with_kind("sbom.ingest")
        .with_tenant_id("acme")
        .with_run_id("run-1");
    let envelope = JobEnvelope::new(meta, ()).with_trace_context(&producer);
    tracing::dispatcher::with_default(&dispatch, || {
        let job = stella_telemetry::job_span(&envelope, RestoreMode::Auto);
        job.in_scope(|| {
            tracing::info_span!("conseiller.ingest").in_scope(|| tracing::info!("ingesting"));
        });
        drop(job);
        let retry = envelope.clone().retry();
        let job = stella_telemetry::job_span(&retry, RestoreMode::Auto);
        job.in_scope(|| tracing::info!("retrying"));
        job.finish(false);
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let runs: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "runner.execute")
        .collect();
    assert_eq!(runs.len(), 2);
    let first = runs
        .iter()
        .find(|s| hex(&s.trace_id) == producer.trace_id().to_string())
        .unwrap();
    assert_eq!(hex(&first.parent_span_id), producer.span_id().to_string());
    assert_eq!(first.kind, 5, "consumer");
    assert_eq!(attr_str(&first.attributes, "job_id"), Some("job-42"));
    assert_eq!(attr_str(&first.attributes, "job.kind"), Some("sbom.ingest"));
    assert_eq!(attr_str(&first.attributes, "tenant_id"), Some("acme"));
    let ingest = spans
        .iter()
        .find(|s| s.name == "conseiller.ingest")
        .unwrap();
    assert_eq!(ingest.parent_span_id, first.span_id);
    let second = runs.iter().find(|s| s.span_id != first.span_id).unwrap();
    assert_ne!(second.trace_id, first.trace_id);
    assert!(second.parent_span_id.is_empty());
    assert_eq!(
        hex(&second.links[0].trace_id),
        producer.trace_id().to_string()
    );
    assert_eq!(
        second.status.as_ref().map(|s| s.code),
        Some(2),
        "a failed job is an error span"
    );
    let lines = capture.lines();
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["job_id"], "job-42");
    assert_eq!(line["trace_id"], producer.trace_id().to_string());
    assert_eq!(line["span_id"], hex(&ingest.span_id));
}

#[test]
fn a_scheduled_job_is_one_unbroken_trace_from_the_request_to_the_worker() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    let request = TraceContext::new_root();
    let wire = tracing::dispatcher::with_default(&dispatch, || {
        // The producer: inside a request's context, the envelope is made and enqueued under
        // its `orchestrator.schedule` span.
        CurrentContext::from_trace(request.clone()).scope(|| {
            let envelope = JobEnvelope::new(
                JobMeta::new("job-7")
                    .with_kind("policy.evaluate")
                    .with_tenant_id("acme"),
                (),
            );
            let schedule = stella_telemetry::schedule_span(&envelope);
            schedule.in_scope(|| tracing::info!("enqueued"));
            serde_json::to_string(&envelope).unwrap()
        })
    });
    // The worker, elsewhere: the envelope as it came off the queue.
    let envelope: JobEnvelope<()> = serde_json::from_str(&wire).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let job = stella_telemetry::job_span(&envelope, RestoreMode::Auto);
        job.in_scope(|| tracing::info!("running"));
        job.finish(true);
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let schedule = span_named(&spans, "orchestrator.schedule");
    let run = span_named(&spans, "runner.execute");
    assert_eq!(hex(&schedule.trace_id), request.trace_id().to_string());
    assert_eq!(hex(&schedule.parent_span_id), request.span_id().to_string());
    assert_eq!(schedule.kind, 4, "producer");
    assert_eq!(attr_str(&schedule.attributes, "job_id"), Some("job-7"));
    assert_eq!(
        attr_str(&schedule.attributes, "messaging.operation.type"),
        Some("send")
    );
    // The worker's span is the child of a span that was exported: no gap in the trace.
    assert_eq!(run.trace_id, schedule.trace_id);
    assert_eq!(run.parent_span_id, schedule.span_id);
    let lines = capture.lines();
    let enqueued: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(enqueued["span_id"], hex(&schedule.span_id));
    assert_eq!(enqueued["job_id"], "job-7");
    // Without a producer context (an envelope whose trace part was lost), no span.
    let lost: JobEnvelope<()> =
        serde_json::from_str(r#"{"trace":{},"job":{"job_id":"j"},"payload":null}"#).unwrap();
    assert!(stella_telemetry::schedule_span(&lost).is_none());
    guard.shutdown().unwrap();
}

/// A message whose `Debug` gives a different text each time it is formatted: clean the first
/// time, a secret after.
struct Shifty(std::sync::atomic::AtomicUsize);

impl std::fmt::Display for Shifty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
            0 => f.write_str("nothing to see"),
            _ => f.write_str("mail erin@example.com"),
        }
    }
}

#[test]
fn event_names_the_json_layer_found_clean_are_exported_as_is_and_others_scrubbed() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(config(&rx.url(), &capture)).unwrap();
    let shifty = Shifty(std::sync::atomic::AtomicUsize::new(0));
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("work");
        let _e = span.enter();
        tracing::info!("step started");
        tracing::info!("step started");
        tracing::info!("mail frank@example.com");
        tracing::info!("{shifty}");
        tracing::error!("failed for grace@example.com");
    });
    // The message is formatted once, for the JSON layer and the bridge.
    assert_eq!(shifty.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    guard.flush().unwrap();
    let spans = rx.spans();
    let work = spans.iter().find(|s| s.name == "work").unwrap();
    let names: Vec<&str> = work.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(names[0], "step started");
    assert_eq!(names[1], "step started");
    assert!(names[2].contains("[REDACTED:email]") && !names[2].contains("frank"));
    // The bridge exports the very text the JSON layer scanned.
    assert_eq!(names[3], "nothing to see", "{names:?}");
    assert!(!names[4].contains("grace"), "{names:?}");
    let lines = capture.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"nothing to see\""))
    );
    guard.shutdown().unwrap();
}

#[test]
fn by_default_info_lines_stay_in_the_logs_and_warnings_and_errors_are_copied_into_spans() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    // The default span event level: nothing set.
    let config = Config::new("policy-engine", "1.4.0")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(20)),
        );
    let (dispatch, guard) = stella_telemetry::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("work");
        let _e = span.enter();
        tracing::info!("step started");
        tracing::warn!("retrying for henry@example.com");
        tracing::info!("step finished");
        tracing::error!("gave up");
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let work = spans.iter().find(|s| s.name == "work").unwrap();
    let names: Vec<&str> = work.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("retrying for ") && !names[0].contains("henry"));
    assert_eq!(names[1], "gave up");
    // The error still fails the span.
    assert_eq!(work.status.as_ref().map(|s| s.code), Some(2));
    // Every line is in the logs, with the span's ids.
    let lines = capture.lines();
    let span_id = hex(&work.span_id);
    for message in ["step started", "step finished", "gave up"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("\"message\":\"{message}\""))
                    && l.contains(&format!("\"span_id\":\"{span_id}\""))),
            "{message}: {lines:?}"
        );
    }
    guard.shutdown().unwrap();
}
