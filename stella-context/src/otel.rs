//! The OpenTelemetry bridge: extracted contexts become OpenTelemetry parents.
//!
//! Two ways to use it:
//!
//! - By hand: [`parent_context`] turns a [`TraceContext`] into an `opentelemetry::Context`
//!   whose span context is the (remote) parent, so a span started with it joins the caller's
//!   trace; [`from_span_context`] goes back; [`link`] makes an OpenTelemetry link (a worker
//!   restoring a retried job).
//! - In the middleware: `ServerLayer::builder().with_otel_tracer(tracer)` starts an
//!   OpenTelemetry server span per request, parented on the extracted context, and the trace
//!   continues with that span's id, so downstream calls made through
//!   `ClientLayer::new().with_otel_tracer(tracer)` are children of exported spans.
//!
//! ```
//! use opentelemetry::trace::{TraceContextExt, Tracer};
//! use stella_context::{TraceContext, otel};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?);
//! let remote = TraceContext::extract(&headers).ok_or("no context")?;
//! let parent = otel::parent_context(&remote);
//! assert_eq!(parent.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(parent.span().span_context().is_remote());
//!
//! let tracer = opentelemetry::global::tracer("example");
//! let _span = tracer.start_with_context("api.example", &parent);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt, TraceState as OtelTraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};

use crate::{Baggage, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState};

/// The OpenTelemetry span context of `cx` (remote when `cx` was extracted).
pub fn to_span_context(cx: &TraceContext) -> SpanContext {
    let state = cx
        .tracestate()
        .as_str()
        .parse::<OtelTraceState>()
        .unwrap_or_default();
    SpanContext::new(
        opentelemetry::TraceId::from_bytes(cx.trace_id().to_bytes()),
        opentelemetry::SpanId::from_bytes(cx.span_id().to_bytes()),
        opentelemetry::TraceFlags::new(cx.flags().known().to_byte()),
        cx.is_remote(),
        state,
    )
}

/// An `opentelemetry::Context` whose current span context is `cx`: the parent to start spans
/// with (`tracer.start_with_context(name, &parent_context(&cx))`).
pub fn parent_context(cx: &TraceContext) -> Context {
    Context::new().with_remote_span_context(to_span_context(cx))
}

/// A [`TraceContext`] for an OpenTelemetry span context (`None` when it is invalid).
pub fn from_span_context(sc: &SpanContext) -> Option<TraceContext> {
    let trace_id = TraceId::from_bytes(sc.trace_id().to_bytes())?;
    let span_id = SpanId::from_bytes(sc.span_id().to_bytes())?;
    let flags = TraceFlags::from_byte(sc.trace_flags().to_u8());
    let state = TraceState::parse_bytes(sc.trace_state().header().as_bytes()).unwrap_or_default();
    Some(TraceContext::new(
        TraceParent::new(trace_id, span_id, flags),
        state,
        Baggage::new(),
    ))
}

/// An OpenTelemetry link to `cx` (a worker linking to its producer on a retry).
pub fn link(cx: &TraceContext) -> Link {
    Link::with_context(to_span_context(cx))
}

fn adopt(
    started: &Context,
    fallback: TraceContext,
    tracestate: TraceState,
    baggage: Baggage,
) -> TraceContext {
    let sc = started.span().span_context().clone();
    match from_span_context(&sc) {
        Some(cx) => cx.with_tracestate(tracestate).with_baggage(baggage),
        None => fallback,
    }
}

#[cfg(feature = "tower")]
pub(crate) fn start_server<B>(
    tracer: Option<&opentelemetry::global::BoxedTracer>,
    req: &http::Request<B>,
    route: Option<&str>,
    remote: Option<&TraceContext>,
    fallback: TraceContext,
    tenant_id: Option<&str>,
) -> (TraceContext, Option<Context>) {
    let Some(tracer) = tracer else {
        return (fallback, None);
    };
    let parent = remote.map_or_else(Context::new, parent_context);
    let name = format!("api.{}", route.unwrap_or("unmatched"));
    let mut attributes = vec![
        KeyValue::new(
            "http.request.method",
            crate::semconv::method_name(req.method()),
        ),
        KeyValue::new(
            "url.scheme",
            req.uri().scheme_str().unwrap_or("http").to_owned(),
        ),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    if let Some(tenant) = tenant_id {
        // The tracer's sampler can apply per-tenant policies (incident mode) as the ingress does.
        attributes.push(KeyValue::new("tenant_id", tenant.to_owned()));
    }
    let span = tracer.build_with_context(
        SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes),
        &parent,
    );
    let started = parent.with_span(span);
    let cx = adopt(
        &started,
        fallback.clone(),
        fallback.tracestate().clone(),
        fallback.baggage().clone(),
    );
    (cx, Some(started))
}

#[cfg(feature = "tower")]
pub(crate) fn start_client<B>(
    tracer: Option<&opentelemetry::global::BoxedTracer>,
    req: &http::Request<B>,
    parent: Option<&TraceContext>,
) -> (TraceContext, Option<Context>) {
    let fallback = parent.map_or_else(TraceContext::new_root, TraceContext::child);
    let Some(tracer) = tracer else {
        return (fallback, None);
    };
    let parent_cx = parent.map_or_else(Context::new, parent_context);
    let method = crate::semconv::method_name(req.method());
    let mut attributes = vec![KeyValue::new("http.request.method", method)];
    if let Some(host) = req.uri().host() {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
    }
    if let Some(port) = req.uri().port_u16() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    let span = tracer.build_with_context(
        SpanBuilder::from_name(method)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes),
        &parent_cx,
    );
    let started = parent_cx.with_span(span);
    let cx = adopt(
        &started,
        fallback.clone(),
        fallback.tracestate().clone(),
        fallback.baggage().clone(),
    );
    (cx, Some(started))
}

#[cfg(feature = "tower")]
pub(crate) fn end_http_span(cx: &Context, status: Option<u16>, failed: bool, _server: bool) {
    let span = cx.span();
    if let Some(status) = status {
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if failed {
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
        }
    }
    if failed {
        span.set_status(opentelemetry::trace::Status::Error {
            description: Cow::Borrowed(""),
        });
    }
    span.end();
}

/// Starts the OpenTelemetry span of a restored job: a child of the producer, or a new root
/// with a link to it, per the messaging conventions. Returns the OpenTelemetry context and the
/// worker's trace context with the span's id.
pub fn start_job_span(
    tracer: &opentelemetry::global::BoxedTracer,
    restored: &crate::Restored,
    name: impl Into<Cow<'static, str>>,
) -> (Context, TraceContext) {
    let mut builder = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Consumer)
        .with_attributes([KeyValue::new("messaging.operation.type", "process")]);
    let parent = match restored.parent() {
        Some(p) => parent_context(p),
        None => {
            if !restored.links().is_empty() {
                builder = builder.with_links(restored.links().iter().map(link).collect());
            }
            Context::new()
        }
    };
    let span = tracer.build_with_context(builder, &parent);
    let started = parent.with_span(span);
    let worker = restored.trace().clone();
    let cx = adopt(
        &started,
        worker.clone(),
        worker.tracestate().clone(),
        worker.baggage().clone(),
    );
    (started, cx)
}
