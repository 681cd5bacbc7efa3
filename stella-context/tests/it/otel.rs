//! The OpenTelemetry bridge: exported spans join the caller's trace.

use std::convert::Infallible;

use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use stella_context::tower::{ClientLayer, ServerLayer};
use stella_context::{JobEnvelope, JobMeta, RestoreMode, TraceContext, otel};
use tower::{Service, ServiceBuilder, ServiceExt};

fn provider() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn boxed(provider: &SdkTracerProvider) -> opentelemetry::global::BoxedTracer {
    opentelemetry::global::BoxedTracer::new(Box::new(provider.tracer("stella-context-test")))
}

#[tokio::test(flavor = "current_thread")]
async fn server_and_client_spans_join_the_callers_trace() {
    let (provider, exporter) = provider();
    let client_layer = ClientLayer::new().with_otel_tracer(boxed(&provider));
    let downstream = ServiceBuilder::new().service_fn(|req: http::Request<String>| async move {
        let tp = req.headers()["traceparent"].to_str().unwrap().to_owned();
        Ok::<_, Infallible>(http::Response::new(tp))
    });
    let client = ServiceBuilder::new()
        .layer(client_layer)
        .service(downstream);
    let mut server = ServiceBuilder::new()
        .layer(
            ServerLayer::builder()
                .with_otel_tracer(boxed(&provider))
                .build(),
        )
        .service_fn(move |_req: http::Request<String>| {
            let client = client.clone();
            async move {
                let resp = client.oneshot(http::Request::new(String::new())).await?;
                Ok::<_, Infallible>(resp)
            }
        });
    let req = http::Request::builder()
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(String::new())
        .unwrap();
    let sent = server
        .ready()
        .await
        .unwrap()
        .call(req)
        .await
        .unwrap()
        .into_body();
    let sent: stella_context::TraceParent = sent.parse().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let server_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(server_span.name, "api.unmatched");
    assert_eq!(
        server_span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server_span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(
        client_span.parent_span_id,
        server_span.span_context.span_id()
    );
    assert_eq!(
        client_span.span_context.trace_id(),
        server_span.span_context.trace_id()
    );
    // What went on the wire names the exported client span as parent.
    assert_eq!(
        sent.parent_id().to_bytes(),
        client_span.span_context.span_id().to_bytes()
    );
}

#[test]
fn conversions_round_trip() {
    let cx = TraceContext::new_root().with_tracestate("a=1".parse().unwrap());
    let sc = otel::to_span_context(&cx);
    let back = otel::from_span_context(&sc).unwrap();
    assert_eq!(back.trace_id(), cx.trace_id());
    assert_eq!(back.span_id(), cx.span_id());
    assert_eq!(back.tracestate(), cx.tracestate());
}

#[test]
fn job_spans_child_and_link() {
    let (provider, exporter) = provider();
    let tracer = boxed(&provider);
    let producer = TraceContext::new_root();
    let envelope = JobEnvelope::new(JobMeta::new("j"), ()).with_trace_context(&producer);

    let (cx, worker) =
        otel::start_job_span(&tracer, &envelope.restore(RestoreMode::Child), "process j");
    assert_eq!(worker.trace_id(), producer.trace_id());
    drop(cx);
    let (cx, worker) =
        otel::start_job_span(&tracer, &envelope.restore(RestoreMode::Link), "process j");
    assert_ne!(worker.trace_id(), producer.trace_id());
    drop(cx);
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        spans[0].parent_span_id.to_bytes(),
        producer.span_id().to_bytes()
    );
    assert_eq!(spans[1].links.links.len(), 1);
    assert_eq!(
        spans[1].links.links[0].span_context.trace_id().to_bytes(),
        producer.trace_id().to_bytes()
    );
}
