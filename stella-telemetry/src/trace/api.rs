//! The OpenTelemetry API entry: a `TracerProvider` whose spans take the same road as bridged
//! `tracing` spans (head and tail sampling, incident mode, scrubbing before export, the
//! resource, the bounded queue and its counters).
//!
//! No OpenTelemetry SDK objects are involved: a span started through `opentelemetry` is built
//! directly as the pipeline's span data and handed to it when it ends (or is dropped).
//!
//! Parents, in order: the active span of the `opentelemetry::Context` the span is started with
//! (a remote context makes it a local root); else the innermost `tracing` span that carries a
//! `stella_context::TraceContext` (what the bridge stores); else the current
//! `stella_context` trace; else a new trace sampled by the head ratio.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanKind, Status as OtelStatus, TraceContextExt as _, TraceFlags,
    TraceState,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use stella_context::{CurrentContext, SpanId, TraceContext, TraceId};
use tracing_subscriber::registry::LookupSpan as _;

use super::layer::{Kind, Pipeline, SpanData, Status, Texts, Value, now_nanos};
use super::stats::add;
use crate::incident::Incidents;

/// The longest string attribute kept, in bytes (as for bridged spans).
const MAX_VALUE_LEN: usize = 4 * 1024;
/// The most distinct attribute keys of API spans per process (see [`intern`]).
const MAX_KEYS: usize = 1_024;
/// The longest attribute key kept, in bytes.
const MAX_KEY_LEN: usize = 128;

/// Attribute keys as the pipeline's span data holds them (`&'static str`, like `tracing`
/// field names). Keys of the OpenTelemetry API are conventionally a small fixed set, so each
/// distinct key is stored once for the life of the process, at most [`MAX_KEYS`] of them;
/// attributes with further keys are dropped and counted like attributes over the span limit.
fn intern(key: &str) -> Option<&'static str> {
    static KEYS: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| RwLock::new(HashSet::new()));
    if let Some(k) = keys.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Some(k);
    }
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return None;
    }
    let mut keys = keys.write().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = keys.get(key) {
        return Some(k);
    }
    if keys.len() >= MAX_KEYS {
        return None;
    }
    let k: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(k);
    Some(k)
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// An attribute value: a number or flag as is, anything else as text (cut at
/// [`MAX_VALUE_LEN`]) appended to `texts`.
fn value(v: opentelemetry::Value, texts: &mut Texts) -> Value {
    match v {
        opentelemetry::Value::Bool(b) => Value::Bool(b),
        opentelemetry::Value::I64(n) => Value::I64(n),
        opentelemetry::Value::F64(n) => Value::F64(n),
        opentelemetry::Value::String(s) => {
            Value::Str(texts.push(crate::json::prefix(s.as_str(), MAX_VALUE_LEN)))
        }
        other => Value::Str(texts.push(crate::json::prefix(&other.to_string(), MAX_VALUE_LEN))),
    }
}

fn kind(k: SpanKind) -> Kind {
    match k {
        SpanKind::Server => Kind::Server,
        SpanKind::Client => Kind::Client,
        SpanKind::Producer => Kind::Producer,
        SpanKind::Consumer => Kind::Consumer,
        SpanKind::Internal => Kind::Internal,
    }
}

/// What both the provider and its tracers share.
#[derive(Debug)]
struct Shared {
    pipeline: Arc<Pipeline>,
    incidents: Arc<Incidents>,
}

/// The `opentelemetry::trace::TracerProvider` of a running pipeline ([`init`](crate::init)
/// installs it as the global provider).
#[derive(Clone, Debug)]
pub(crate) struct TracerProvider {
    shared: Arc<Shared>,
}

impl TracerProvider {
    pub(crate) fn new(pipeline: Arc<Pipeline>, incidents: Arc<Incidents>) -> Self {
        TracerProvider {
            shared: Arc::new(Shared {
                pipeline,
                incidents,
            }),
        }
    }
}

impl opentelemetry::trace::TracerProvider for TracerProvider {
    type Tracer = Tracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        let name = scope.name();
        Tracer {
            shared: Arc::clone(&self.shared),
            scope: (!name.is_empty()).then(|| crate::json::prefix(name, 256).to_owned()),
        }
    }
}

/// A tracer of the pipeline.
#[derive(Clone, Debug)]
pub(crate) struct Tracer {
    shared: Arc<Shared>,
    scope: Option<String>,
}

/// The parent a new span joins.
struct Parent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
    local_root: bool,
    /// An OpenTelemetry context extracted from another process (its `sampled` flag is the
    /// caller's, which a sampler that is not parent-based decides again).
    remote: bool,
    state: TraceState,
}

fn from_trace_context(cx: &TraceContext, local_root: bool) -> Parent {
    Parent {
        trace_id: cx.trace_id().to_bytes(),
        span_id: cx.span_id().to_bytes(),
        sampled: cx.flags().is_sampled(),
        local_root,
        remote: false,
        state: cx
            .tracestate()
            .as_str()
            .parse::<TraceState>()
            .unwrap_or_default(),
    }
}

/// The trace context of the innermost current `tracing` span that has one (the bridge stores
/// it in the extensions of every span it records).
fn current_tracing_parent() -> Option<TraceContext> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|s| crate::layer::span_trace(&s.extensions()).cloned())
        })
        .flatten()
}

/// Whether the current `tracing` span is recorded by the bridge under the same ids.
fn mirrored_by_tracing(data: &SpanData) -> bool {
    current_tracing_parent().is_some_and(|t| {
        t.span_id().to_bytes() == data.span_id && t.trace_id().to_bytes() == data.trace_id
    })
}

fn parent_of(cx: &Context) -> Option<Parent> {
    if cx.has_active_span() {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            return Some(Parent {
                trace_id: sc.trace_id().to_bytes(),
                span_id: sc.span_id().to_bytes(),
                sampled: sc.is_sampled(),
                local_root: sc.is_remote(),
                remote: sc.is_remote(),
                state: sc.trace_state().clone(),
            });
        }
    }
    if let Some(t) = current_tracing_parent() {
        return Some(from_trace_context(&t, false));
    }
    // As for bridged spans: a span under a bare current context is its process's local root.
    CurrentContext::get_local()
        .as_ref()
        .and_then(CurrentContext::trace)
        .map(|t| from_trace_context(t, true))
}

impl opentelemetry::trace::Tracer for Tracer {
    type Span = Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Span {
        let p = &*self.shared.pipeline;
        add(&p.stats.spans_started, 1);
        let parent = parent_of(parent_cx);
        let (trace_id, parent_span_id, mut sampled, local_root, state) = match parent {
            Some(parent) => (
                parent.trace_id,
                Some(parent.span_id),
                if parent.remote {
                    p.sampler.continued(&parent.trace_id, parent.sampled)
                } else {
                    parent.sampled
                },
                parent.local_root,
                parent.state,
            ),
            None => {
                let t = TraceId::random().to_bytes();
                (t, None, p.sampler.sample_root(&t), true, TraceState::NONE)
            }
        };
        let span_id = SpanId::random().to_bytes();
        let mut data = p.span_data("");
        data.trace_id = trace_id;
        data.span_id = span_id;
        data.parent_span_id = parent_span_id;
        data.local_root = local_root;
        data.set_name_cow(builder.name);
        data.kind = kind(builder.span_kind.unwrap_or(SpanKind::Internal));
        data.start = builder.start_time.map_or_else(now_nanos, nanos);
        let mut recording = Recording {
            data,
            max_attributes: p.max_attributes,
            max_events: p.max_events,
        };
        if let Some(scope) = &self.scope {
            recording.set(KeyValue::new("otel.scope.name", scope.clone()));
        }
        for kv in builder.attributes.into_iter().flatten() {
            recording.set(kv);
        }
        if recording.data.tenant.is_none() {
            recording.data.tenant = CurrentContext::get()
                .as_ref()
                .and_then(CurrentContext::request)
                .and_then(|r| r.tenant_id.clone());
        }
        let incidents = &self.shared.incidents;
        if incidents.any_active()
            && recording
                .data
                .tenant
                .as_deref()
                .is_some_and(|t| incidents.is_active(t))
        {
            sampled = true;
            recording
                .data
                .push_attribute("stella.incident_mode", Value::Bool(true));
        }
        recording.data.sampled = sampled;
        if sampled {
            add(&p.stats.spans_head_sampled, 1);
        }
        for e in builder.events.into_iter().flatten() {
            recording.event(e.name, e.timestamp, e.attributes);
        }
        for l in builder.links.into_iter().flatten() {
            recording.link(&l.span_context);
        }
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let cx = SpanContext::new(
            opentelemetry::TraceId::from_bytes(trace_id),
            opentelemetry::SpanId::from_bytes(span_id),
            flags,
            false,
            state,
        );
        // Unsampled spans are recorded only for the tail sampler.
        let record = sampled || p.records_unsampled();
        let recording = if record {
            Some(recording)
        } else {
            p.recycle(recording.data);
            None
        };
        Span {
            cx,
            recording,
            pipeline: Arc::clone(&self.shared.pipeline),
        }
    }
}

/// The span data of a span that records.
#[derive(Debug)]
struct Recording {
    data: Box<SpanData>,
    max_attributes: usize,
    max_events: usize,
}

impl Recording {
    fn set(&mut self, kv: KeyValue) {
        let Some(key) = intern(kv.key.as_str()) else {
            self.data.dropped_attributes = self.data.dropped_attributes.saturating_add(1);
            return;
        };
        let data = &mut self.data;
        let v = value(kv.value, data.texts_mut());
        if key == "tenant_id"
            && let Value::Str(t) = v
        {
            data.tenant = Some(data.texts().get(t).to_owned());
        }
        if !data.set_attribute(key, v, self.max_attributes) {
            data.dropped_attributes = data.dropped_attributes.saturating_add(1);
        }
    }

    fn event(&mut self, name: Cow<'static, str>, time: SystemTime, attributes: Vec<KeyValue>) {
        if self.data.events.len() >= self.max_events {
            self.data.dropped_events = self.data.dropped_events.saturating_add(1);
            return;
        }
        let mut attrs = Vec::new();
        let mut texts = Texts::default();
        for kv in attributes {
            match intern(kv.key.as_str()) {
                Some(k) if attrs.len() < self.max_attributes => {
                    attrs.push((k, value(kv.value, &mut texts)));
                }
                _ => self.data.dropped_attributes = self.data.dropped_attributes.saturating_add(1),
            }
        }
        self.data.events.push(
            nanos(time),
            crate::json::prefix(&name, MAX_VALUE_LEN),
            &mut attrs,
            &texts,
        );
    }

    fn link(&mut self, sc: &SpanContext) {
        if sc.is_valid() && self.data.links.len() < self.max_events {
            self.data
                .links
                .push((sc.trace_id().to_bytes(), sc.span_id().to_bytes()));
        }
    }
}

/// A span started through the OpenTelemetry API. It is handed to the pipeline when it ends,
/// or when it is dropped without ending.
#[derive(Debug)]
pub(crate) struct Span {
    cx: SpanContext,
    recording: Option<Recording>,
    pipeline: Arc<Pipeline>,
}

impl opentelemetry::trace::Span for Span {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some(r) = &mut self.recording {
            r.event(name.into(), timestamp, attributes);
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.cx
    }

    fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(r) = &mut self.recording {
            r.set(attribute);
        }
    }

    fn set_status(&mut self, status: OtelStatus) {
        let Some(r) = &mut self.recording else { return };
        match status {
            // Ok is final; Unset changes nothing.
            OtelStatus::Ok => r.data.status = Status::Ok,
            OtelStatus::Error { description } if r.data.status != Status::Ok => {
                r.data.status =
                    Status::Error(crate::json::prefix(&description, MAX_VALUE_LEN).to_owned());
            }
            _ => {}
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(r) = &mut self.recording {
            r.data.set_name_cow(new_name.into());
        }
    }

    fn add_link(&mut self, span_context: SpanContext, _attributes: Vec<KeyValue>) {
        if let Some(r) = &mut self.recording {
            r.link(&span_context);
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(r) = self.recording.take() {
            let mut data = r.data;
            if mirrored_by_tracing(&data) {
                // `ServerLayer::with_otel_tracer` opens its `tracing` ingress span with this
                // span's ids, and the bridge exports that one (it also has the tenant, auth
                // and status fields): one span per id reaches the collector.
                let stats = &self.pipeline.stats;
                stats
                    .spans_started
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if data.sampled {
                    stats
                        .spans_head_sampled
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.pipeline.recycle(data);
                return;
            }
            data.end = nanos(timestamp).max(data.start);
            if data.dropped_attributes > 0 {
                add(
                    &self.pipeline.stats.dropped_attributes,
                    usize::try_from(data.dropped_attributes).unwrap_or(usize::MAX),
                );
            }
            if data.dropped_events > 0 {
                add(
                    &self.pipeline.stats.dropped_events,
                    usize::try_from(data.dropped_events).unwrap_or(usize::MAX),
                );
            }
            self.pipeline.finish(data);
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.recording.is_some() {
            opentelemetry::trace::Span::end(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_interned_once_and_bounded() {
        let a = intern("http.route").unwrap();
        let b = intern(&String::from("http.route")).unwrap();
        assert!(std::ptr::eq(a, b));
        assert!(intern("").is_none());
        assert!(intern(&"k".repeat(MAX_KEY_LEN + 1)).is_none());
    }
}
