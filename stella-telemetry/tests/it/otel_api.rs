//! Spans started through the `opentelemetry` API reach the same pipeline as `tracing` spans
//! (parents, sampling, incident mode, scrubbing, resource), and the `stella-context` ingress
//! samples new traces as the pipeline does: end to end against the loopback OTLP receiver.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use stella_context::sampling::HeadSampler;
use stella_context::tower::ServerLayer;
use stella_context::{CurrentContext, RequestContext, TraceContext};
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{Config, IncidentRequest, Output, TelemetryGuard, TraceConfig};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::collector::{Mode, Receiver, attr, attr_str, hex, span_named};

fn build(rx: &Receiver, ratio: f64, tail: bool) -> (tracing::Dispatch, TelemetryGuard) {
    build_with(rx, ratio, tail, CaptureWriter::new())
}

fn build_with(
    rx: &Receiver,
    ratio: f64,
    tail: bool,
    capture: CaptureWriter,
) -> (tracing::Dispatch, TelemetryGuard) {
    let cfg = Config::new("policy-engine", "1.4.0")
        .with_env("prod")
        .with_instance_id("pod-7")
        .with_output(Output::Writer(Box::new(capture)))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(20))
                .with_sample_ratio(ratio)
                .with_tail_sampling(tail)
                .with_tail_latency(Duration::from_secs(60)),
        );
    stella_telemetry::build(cfg).unwrap()
}

#[test]
fn otel_api_spans_are_exported_with_parents_resource_and_scrubbing() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(&rx, 1.0, true);
    let tracer = guard.handle().otel_tracer("policy-lib").unwrap();
    let remote = TraceContext::new_root();
    tracing::dispatcher::with_default(&dispatch, || {
        // Under a bridged `tracing` span: its child.
        let outer = tracing::info_span!("policy.evaluate", tenant_id = "acme");
        outer.in_scope(|| {
            let mut span = tracer
                .span_builder("policy.rule")
                .with_kind(SpanKind::Internal)
                .with_attributes([
                    KeyValue::new("token", "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
                    KeyValue::new("rules", 12_i64),
                ])
                .start(&tracer);
            span.add_event(
                "matched for carol@example.com",
                vec![KeyValue::new("owner", "alice@example.com")],
            );
            // An OpenTelemetry child of the OpenTelemetry span.
            let cx = Context::current_with_span(span);
            let mut child = tracer.start_with_context("policy.rule.load", &cx);
            child.set_status(Status::error("cache miss for bob@example.com"));
            child.end();
            cx.span().end();
        });
        // Under a bare stella-context trace: its child.
        CurrentContext::from_trace(remote.clone()).scope(|| {
            tracer.start("excitor.link").end();
        });
        // No context at all: a new root.
        let mut root = tracer.start("orchestrator.schedule");
        root.set_attribute(KeyValue::new("jobs", 3_i64));
        drop(root); // dropped without end(): still exported
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let by = |n: &str| span_named(&spans, n);
    let outer = by("policy.evaluate");
    let rule = by("policy.rule");
    let load = by("policy.rule.load");
    assert_eq!(rule.trace_id, outer.trace_id);
    assert_eq!(rule.parent_span_id, outer.span_id);
    assert_eq!(load.parent_span_id, rule.span_id);
    assert_eq!(load.trace_id, outer.trace_id);
    assert_eq!(load.status.as_ref().map(|s| s.code), Some(2));
    assert!(
        !load.status.as_ref().unwrap().message.contains("bob"),
        "{:?}",
        load.status
    );
    let token = attr_str(&rule.attributes, "token").unwrap();
    assert!(token.starts_with("[REDACTED"), "{token}");
    assert!(matches!(
        attr(&rule.attributes, "rules"),
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(12))
    ));
    assert_eq!(
        attr_str(&rule.attributes, "otel.scope.name"),
        Some("policy-lib")
    );
    let event = &rule.events[0];
    assert!(event.name.contains("[REDACTED:email]"), "{}", event.name);
    assert!(
        !attr_str(&event.attributes, "owner")
            .unwrap()
            .contains("alice")
    );
    let linked = by("excitor.link");
    assert_eq!(hex(&linked.trace_id), remote.trace_id().to_string());
    assert_eq!(hex(&linked.parent_span_id), remote.span_id().to_string());
    let root = by("orchestrator.schedule");
    assert!(root.parent_span_id.is_empty());
    assert_ne!(root.trace_id, outer.trace_id);
    let req = rx.requests();
    let resource = req[0].resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        attr_str(&resource.attributes, "service.name"),
        Some("policy-engine")
    );
    assert_eq!(
        attr_str(&resource.attributes, "service.instance.id"),
        Some("pod-7")
    );
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 5, "{stats:?}");
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn tracing_spans_inside_an_attached_otel_span_are_its_children() {
    let rx = Receiver::start(Mode::Accept);
    let capture = CaptureWriter::new();
    let (dispatch, guard) = build_with(&rx, 1.0, false, capture.clone());
    let tracer = guard.handle().otel_tracer("policy-lib").unwrap();
    let (otel_trace, otel_span) = tracing::dispatcher::with_default(&dispatch, || {
        // No `tracing` span and no stella-context trace: only the attached OpenTelemetry span.
        let span = tracer.start("policy.batch");
        let sc = span.span_context().clone();
        let _attached = Context::current_with_span(span).attach();
        tracing::info_span!("policy.evaluate").in_scope(|| {
            tracing::info!("evaluating");
            tracing::info_span!("policy.rule").in_scope(|| {});
        });
        // `in_span` attaches its span too.
        tracer.in_span("policy.load", |_cx| {
            tracing::info_span!("cache.read").in_scope(|| {});
        });
        (sc.trace_id().to_string(), sc.span_id().to_string())
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let by = |n: &str| span_named(&spans, n);
    let batch = by("policy.batch");
    assert_eq!(hex(&batch.span_id), otel_span);
    let evaluate = by("policy.evaluate");
    assert_eq!(hex(&evaluate.trace_id), otel_trace);
    assert_eq!(hex(&evaluate.parent_span_id), otel_span);
    // A `tracing` parent wins over the OpenTelemetry context.
    let rule = by("policy.rule");
    assert_eq!(hex(&rule.trace_id), otel_trace);
    assert_eq!(rule.parent_span_id, evaluate.span_id);
    let load = by("policy.load");
    let read = by("cache.read");
    assert_eq!(hex(&load.trace_id), otel_trace);
    assert_eq!(load.parent_span_id, batch.span_id);
    assert_eq!(read.trace_id, load.trace_id);
    assert_eq!(read.parent_span_id, load.span_id);
    // The log line inside carries the exported span's ids.
    let line = capture
        .lines()
        .into_iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap())
        .find(|l| l["message"] == "evaluating")
        .unwrap_or_else(|| panic!("{:?}", capture.lines()));
    assert_eq!(line["trace_id"], otel_trace);
    assert_eq!(line["span_id"], hex(&evaluate.span_id));
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_exported, 5, "{stats:?}");
}

#[test]
fn tracing_spans_follow_the_sampled_flag_of_an_attached_otel_span() {
    let rx = Receiver::start(Mode::Accept);
    // ratio 1: a new root would be sampled, but the parent's flag decides
    let (dispatch, guard) = build(&rx, 1.0, false);
    let unsampled = opentelemetry::trace::SpanContext::new(
        opentelemetry::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        opentelemetry::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        opentelemetry::trace::TraceFlags::default(),
        true,
        opentelemetry::trace::TraceState::NONE,
    );
    let sampled = opentelemetry::trace::SpanContext::new(
        opentelemetry::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        opentelemetry::SpanId::from_hex("b7ad6b7169203331").unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        opentelemetry::trace::TraceState::NONE,
    );
    tracing::dispatcher::with_default(&dispatch, || {
        {
            let _g = Context::new().with_remote_span_context(unsampled).attach();
            tracing::info_span!("dropped").in_scope(|| {});
        }
        let _g = Context::new().with_remote_span_context(sampled).attach();
        tracing::info_span!("kept").in_scope(|| {});
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].name, "kept");
    assert_eq!(hex(&spans[0].trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex(&spans[0].parent_span_id), "b7ad6b7169203331");
}

#[test]
fn otel_api_spans_follow_head_and_tail_sampling_and_incident_mode() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(&rx, 0.0, true);
    let handle = guard.handle();
    let tracer = handle.otel_tracer("svc").unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        // head ratio 0: unsampled, recorded for the tail sampler, discarded when fast and fine
        let span = tracer.start("fast.root");
        assert!(!span.span_context().is_sampled());
        assert!(span.is_recording());
        drop(span);
        // an error keeps the trace
        let mut failed = tracer.start("failed.root");
        failed.set_status(Status::error("boom"));
        failed.end();
        // incident mode for one tenant samples its spans at 100 %
        handle
            .start_incident(IncidentRequest::new("acme", Duration::from_secs(60)))
            .unwrap();
        let span = tracer
            .span_builder("acme.root")
            .with_attributes([KeyValue::new("tenant_id", "acme")])
            .start(&tracer);
        assert!(span.span_context().is_sampled());
        drop(span);
        CurrentContext::from_request(RequestContext::new().with_tenant_id("acme"))
            .scope(|| tracer.start("acme.from_context").end());
        let other = tracer
            .span_builder("globex.root")
            .with_attributes([KeyValue::new("tenant_id", "globex")])
            .start(&tracer);
        assert!(!other.span_context().is_sampled());
        drop(other);
    });
    guard.flush().unwrap();
    let mut names: Vec<String> = rx.spans().into_iter().map(|s| s.name).collect();
    names.sort_unstable();
    assert_eq!(names, ["acme.from_context", "acme.root", "failed.root"]);
    let acme = rx
        .spans()
        .into_iter()
        .find(|s| s.name == "acme.root")
        .unwrap();
    assert!(matches!(
        attr(&acme.attributes, "stella.incident_mode"),
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(true))
    ));
    let stats = handle.trace_stats();
    assert_eq!(stats.tail_kept_traces, 1);
    assert_eq!(stats.spans_head_sampled, 2);
    drop(dispatch);
}

/// One request through `ServerLayer` with `sampler`, under `dispatch`; returns the flags of
/// its `traceresponse`, as `00` or `01`.
fn ingress_flags(
    dispatch: &tracing::Dispatch,
    sampler: Option<Arc<dyn HeadSampler>>,
    traceparent: Option<&str>,
    tenant: &str,
) -> String {
    let mut b = ServerLayer::builder()
        .with_tenant_header(http::HeaderName::from_static("x-stella-tenant"))
        .with_trace_response(true);
    if let Some(s) = sampler {
        b = b.with_head_sampler(s);
    }
    let mut svc =
        ServiceBuilder::new()
            .layer(b.build())
            .service_fn(|_req: http::Request<()>| async {
                let flags = TraceContext::current()
                    .map(|t| format!("{:02x}", t.flags().to_byte()))
                    .unwrap_or_default();
                Ok::<_, Infallible>(http::Response::new(flags))
            });
    let mut req = http::Request::builder().header("x-stella-tenant", tenant);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let req = req.body(()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let resp = tracing::dispatcher::with_default(dispatch, || {
        rt.block_on(async { svc.ready().await.unwrap().call(req).await.unwrap() })
    });
    let header = resp.headers()["traceresponse"].to_str().unwrap().to_owned();
    let flags = header.rsplit('-').next().unwrap().to_owned();
    let byte = u8::from_str_radix(&flags, 16).unwrap();
    // Only the sampled bit is the sampler's; a new root also has the Level 2 random bit.
    // the handler saw the same decision
    assert_eq!(resp.body(), &flags, "{header}");
    format!("{:02x}", byte & 0x01)
}

#[test]
fn the_ingress_samples_new_traces_as_the_pipeline_does() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(&rx, 0.0, false);
    let handle = guard.handle();
    let sampler = handle.head_sampler().unwrap();
    let s = || Some(Arc::clone(&sampler));
    // ratio 0: a new root is not sampled ...
    assert_eq!(ingress_flags(&dispatch, s(), None, "globex"), "00");
    // ... unless its tenant is in incident mode
    tracing::dispatcher::with_default(&dispatch, || {
        handle
            .start_incident(IncidentRequest::new("acme", Duration::from_secs(60)))
            .unwrap()
    });
    assert_eq!(ingress_flags(&dispatch, s(), None, "acme"), "01");
    assert_eq!(ingress_flags(&dispatch, s(), None, "globex"), "00");
    // an incoming sampled parent stays sampled at ratio 0
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_eq!(ingress_flags(&dispatch, s(), Some(sampled), "globex"), "01");
    // ratio 1 at runtime: new roots are sampled; an unsampled parent stays unsampled
    handle.set_trace_sample_ratio(1.0).unwrap();
    assert_eq!(ingress_flags(&dispatch, s(), None, "globex"), "01");
    assert_eq!(
        ingress_flags(&dispatch, s(), Some(unsampled), "globex"),
        "00"
    );
    guard.flush().unwrap();
    // Only the sampled ingress spans were exported, with the flags the responses named.
    let exported = rx.spans().len();
    assert_eq!(exported, 3, "{:?}", rx.spans());
}

#[test]
fn server_layer_with_the_pipeline_otel_tracer_exports_one_span_per_request() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(&rx, 1.0, true);
    let tracer = guard.handle().otel_tracer("ingress").unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(ServerLayer::builder().with_otel_tracer(tracer).build())
        .service_fn(|_req: http::Request<()>| async {
            tracing::info_span!("policy.evaluate").in_scope(|| {});
            Ok::<_, Infallible>(http::Response::new(()))
        });
    let req = http::Request::builder()
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(())
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        rt.block_on(async { svc.ready().await.unwrap().call(req).await.unwrap() })
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let servers: Vec<_> = spans.iter().filter(|s| s.kind == 2).collect();
    assert_eq!(servers.len(), 1, "{spans:?}");
    let server = servers[0];
    assert_eq!(hex(&server.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&server.parent_span_id), "00f067aa0ba902b7");
    let child = spans.iter().find(|s| s.name == "policy.evaluate").unwrap();
    assert_eq!(child.parent_span_id, server.span_id);
    let stats = guard.handle().trace_stats();
    assert_eq!(stats.spans_started, 2, "{stats:?}");
}

#[test]
fn client_layer_with_the_pipeline_otel_tracer_exports_one_span_per_call() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = build(&rx, 1.0, true);
    let tracer = guard.handle().otel_tracer("egress").unwrap();
    let mut client = ServiceBuilder::new()
        .layer(stella_context::ClientLayer::new().with_otel_tracer(tracer))
        .service_fn(|req: http::Request<()>| async move {
            let sent = req.headers()["traceparent"].to_str().unwrap().to_owned();
            Ok::<_, Infallible>(http::Response::new(sent))
        });
    let request = TraceContext::new_root();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sent = tracing::dispatcher::with_default(&dispatch, || {
        CurrentContext::from_trace(request.clone()).scope(|| {
            let req = http::Request::builder()
                .uri("http://policy:8080/evaluate")
                .body(())
                .unwrap();
            rt.block_on(async { client.ready().await.unwrap().call(req).await.unwrap() })
        })
    });
    guard.flush().unwrap();
    let spans = rx.spans();
    let clients: Vec<_> = spans.iter().filter(|s| s.kind == 3).collect();
    assert_eq!(clients.len(), 1, "{spans:?}");
    let call = clients[0];
    assert_eq!(hex(&call.trace_id), request.trace_id().to_string());
    assert_eq!(hex(&call.parent_span_id), request.span_id().to_string());
    // the exported client span is the parent the next service was told about
    assert!(
        sent.body().contains(&hex(&call.span_id)),
        "{} vs {}",
        sent.body(),
        hex(&call.span_id)
    );
}

#[test]
fn samplers_that_are_not_parent_based_decide_continued_traces_themselves() {
    let rx = Receiver::start(Mode::Accept);
    // OTEL_TRACES_SAMPLER=always_off: ratio 0, and a caller's flag does not count.
    let cfg = Config::new("policy-engine", "1.4.0")
        .with_output(Output::Writer(Box::new(CaptureWriter::new())))
        .with_traces(
            TraceConfig::new()
                .with_endpoint(rx.url())
                .with_export_interval(Duration::from_millis(20))
                .with_sample_ratio(0.0)
                .with_parent_based_sampling(false)
                .with_tail_sampling(false),
        );
    let (dispatch, guard) = stella_telemetry::build(cfg).unwrap();
    let handle = guard.handle();
    let sampler = handle.head_sampler().unwrap();
    let s = || Some(Arc::clone(&sampler));
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00";
    assert_eq!(ingress_flags(&dispatch, s(), Some(sampled), "globex"), "00");
    // An OpenTelemetry context extracted from a sampled caller: refused too.
    let remote = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("5bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        opentelemetry::trace::TraceState::default(),
    );
    let tracer = handle.otel_tracer("worker").unwrap();
    let cx = Context::new().with_remote_span_context(remote.clone());
    tracer.start_with_context("worker.consume", &cx).end();
    // A `tracing` span under that context, attached: refused too.
    let bridged = |cx: Context| {
        let _attached = cx.attach();
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("worker.bridged").in_scope(|| {});
        });
    };
    bridged(cx);
    // A tenant in incident mode is still kept.
    tracing::dispatcher::with_default(&dispatch, || {
        handle
            .start_incident(IncidentRequest::new("acme", Duration::from_secs(60)))
            .unwrap()
    });
    assert_eq!(ingress_flags(&dispatch, s(), Some(sampled), "acme"), "01");
    // always_on (ratio 1 at runtime): an unsampled caller's trace is sampled, from either road.
    handle.set_trace_sample_ratio(1.0).unwrap();
    assert_eq!(
        ingress_flags(&dispatch, s(), Some(unsampled), "globex"),
        "01"
    );
    let unsampled_remote = opentelemetry::trace::SpanContext::new(
        remote.trace_id(),
        remote.span_id(),
        opentelemetry::trace::TraceFlags::default(),
        true,
        opentelemetry::trace::TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(unsampled_remote);
    tracer.start_with_context("worker.consume", &cx).end();
    bridged(cx);
    guard.flush().unwrap();
    let spans = rx.spans();
    let traces: Vec<String> = spans.iter().map(|s| hex(&s.trace_id)).collect();
    // The acme request, the unsampled caller's request, the two spans under the unsampled
    // remote context.
    assert_eq!(spans.len(), 4, "{traces:?}");
    assert_eq!(
        span_named(&spans, "worker.bridged").trace_id,
        remote.trace_id().to_bytes().to_vec()
    );
    assert_eq!(
        traces
            .iter()
            .filter(|t| *t == "0af7651916cd43dd8448eb211c80319c")
            .count(),
        1
    );
    assert_eq!(
        span_named(&spans, "worker.consume").trace_id,
        remote.trace_id().to_bytes().to_vec()
    );
    guard.shutdown().unwrap();
}
