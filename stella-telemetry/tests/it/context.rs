//! Span and context inheritance, including across `tokio::spawn`.

use stella_context::{ContextExt, CurrentContext, RequestContext, TraceContext};
use tracing::instrument::WithSubscriber;

use crate::support::Harness;

#[test]
fn span_fields_apply_to_every_line_inside_and_events_override() {
    let h = Harness::new();
    h.run(|| {
        let outer = tracing::info_span!(
            "api",
            tenant_id = "acme",
            request_id = "req-1",
            region_hint = "x"
        );
        let _o = outer.enter();
        tracing::info!("outer line");
        let inner =
            tracing::info_span!("policy.evaluate", sbom_id = "sbom-1", request_id = "req-2");
        let _i = inner.enter();
        tracing::info!("inner line");
        tracing::info!(tenant_id = "globex", "override");
    });
    let l = h.line("outer line");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["request_id"], "req-1");
    assert_eq!(l["details"]["region_hint"], "x");
    let l = h.line("inner line");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["request_id"], "req-2", "the innermost span wins");
    assert_eq!(l["sbom_id"], "sbom-1");
    assert_eq!(h.line("override")["tenant_id"], "globex");
}

#[test]
fn fields_recorded_later_on_a_span_apply_to_later_lines() {
    let h = Harness::new();
    h.run(|| {
        let span = tracing::info_span!(
            "api",
            tenant_id = tracing::field::Empty,
            actor = tracing::field::Empty
        );
        let _e = span.enter();
        tracing::info!("before auth");
        span.record("tenant_id", "acme");
        span.record("actor", "user-1");
        tracing::info!("after auth");
    });
    assert!(h.line("before auth").get("tenant_id").is_none());
    let l = h.line("after auth");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["actor"], "user-1");
}

#[test]
fn the_current_context_fills_what_spans_do_not() {
    let h = Harness::new();
    let trace = TraceContext::new_root();
    let cx = CurrentContext::new(
        Some(trace.clone()),
        Some(
            RequestContext::new()
                .with_tenant_id("acme")
                .with_job_id("job-7")
                .with_policy_version("v3"),
        ),
    );
    h.run(|| cx.scope(|| tracing::info!("in context")));
    let l = h.line("in context");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["job_id"], "job-7");
    assert_eq!(l["policy_version"], "v3");
    assert_eq!(l["trace_id"], trace.trace_id().to_string());
    assert_eq!(l["span_id"], trace.span_id().to_string());
}

#[test]
fn spawned_tasks_that_carry_the_context_keep_tenant_and_trace() {
    let h = Harness::new();
    let trace = TraceContext::new_root();
    let cx = CurrentContext::new(
        Some(trace.clone()),
        Some(
            RequestContext::new()
                .with_tenant_id("acme")
                .with_request_id("req-9"),
        ),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    h.run(|| {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        rt.block_on(async {
            let span = cx.scope(|| tracing::info_span!("api", actor = "user-5"));
            let task = cx.scope(|| {
                let _e = span.enter();
                async {
                    tokio::task::yield_now().await;
                    tracing::info!("in spawned task");
                }
                .in_current_context()
            });
            tokio::spawn(task.with_subscriber(dispatch.clone()))
                .await
                .unwrap();
            // Without the helper, the context is lost at spawn.
            let lost = cx.scope(|| async { tracing::info!("without helper") });
            tokio::spawn(lost.with_subscriber(dispatch.clone()))
                .await
                .unwrap();
        });
    });
    let l = h.line("in spawned task");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["request_id"], "req-9");
    assert_eq!(l["actor"], "user-5");
    assert_eq!(l["trace_id"], trace.trace_id().to_string());
    assert!(h.line("without helper").get("tenant_id").is_none());
}

#[test]
fn a_span_with_its_own_trace_context_gives_its_ids_to_the_lines_inside() {
    use stella_context::subscriber::ContextLayer;
    use stella_telemetry::JsonLayer;
    use stella_telemetry::testing::CaptureWriter;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// Stands in for the OpenTelemetry bridge: gives `db` spans their own span id.
    struct PerSpanIds(TraceContext);
    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for PerSpanIds {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: Context<'_, S>,
        ) {
            if attrs.metadata().name() == "db"
                && let Some(span) = ctx.span(id)
            {
                span.extensions_mut().insert(self.0.clone());
            }
        }
    }

    let root = TraceContext::new_root();
    let child = root.child();
    let capture = CaptureWriter::new();
    let layer = JsonLayer::builder("svc", "1")
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(ContextLayer::new())
        .with(PerSpanIds(child.clone()))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        CurrentContext::from_trace(root.clone()).scope(|| {
            tracing::info!("in request");
            let span = tracing::info_span!("db");
            let _e = span.enter();
            tracing::info!("in db span");
        });
    });
    let lines = crate::support::check_lines(&capture.contents());
    assert_eq!(lines[0]["span_id"], root.span_id().to_string());
    assert_eq!(lines[1]["span_id"], child.span_id().to_string());
    assert_eq!(lines[1]["trace_id"], root.trace_id().to_string());
}

#[test]
fn span_details_merge_innermost_first_once_each_with_their_types() {
    let h = Harness::new();
    h.run(|| {
        let outer = tracing::info_span!(
            "api",
            attempt = 1_u64,
            note = "outer \"quoted\"\nline\ttab",
            flag = true,
            ratio = 0.5,
            delta = -3_i64,
            route = "/tenants/{tenant}",
        );
        let _o = outer.enter();
        let inner = tracing::info_span!("step", attempt = 2_u64, stage = "load");
        let _i = inner.enter();
        tracing::info!(stage = "event", "merged");
    });
    let l = h.line("merged");
    let d = &l["details"];
    assert_eq!(d["stage"], "event", "the event wins");
    assert_eq!(d["attempt"], 2, "the innermost span wins");
    assert_eq!(d["note"], "outer \"quoted\"\nline\ttab");
    assert_eq!(d["flag"], true);
    assert_eq!(d["ratio"], 0.5);
    assert_eq!(d["delta"], -3);
    assert_eq!(l["route"], "/tenants/{tenant}");
    let raw = h.capture.contents();
    let line = raw
        .lines()
        .find(|l| l.contains("\"merged\""))
        .expect("the line");
    let at = line.find("\"details\":").expect("details") + "\"details\":".len();
    let details = &line[at..line.len() - 1];
    assert_eq!(
        crate::support::keys_in_order(details),
        ["stage", "attempt", "note", "flag", "ratio", "delta"],
        "the event's details, then the inner span's, then the outer span's, each key once"
    );
}
