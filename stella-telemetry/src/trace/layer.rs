//! The bridge: a `tracing-subscriber` layer that turns spans into OpenTelemetry span data.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use stella_context::{
    Baggage, CurrentContext, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState,
};
use tracing::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::TraceConfig;
use super::export::Queue;
use super::sampler::HeadSampler;
use super::stats::{Counters, add};
use super::tail::Tail;

/// The fields of a decision log copied onto its span.
const DECISION_ATTRIBUTES: [&str; 6] = [
    "decision_effect",
    "decision.kind",
    "decision_reason",
    "policy_version",
    "decision.rule_ids",
    "decision.scopes",
];

/// The longest string attribute kept, in bytes.
const MAX_VALUE_LEN: usize = 4 * 1024;

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// Raw text: scrubbed on the export thread.
    Str(String),
    /// A constant of the library (a level name): exported as is.
    Static(&'static str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// The OTLP span kinds (`SpanKind` enum values of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "internal" => Kind::Internal,
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            _ => return None,
        })
    }
}

/// The span status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Status {
    #[default]
    Unset,
    Ok,
    Error(String),
}

/// One span event: its name and attributes are ranges of the span's [`Events`] storage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventData {
    pub(crate) time: u64,
    name: (u32, u32),
    attributes: (u32, u32),
    /// The name is a message the JSON layer found clean with the export's scrubber: not
    /// scrubbed again on the export thread.
    name_scrubbed: bool,
}

/// The events of one span, in three buffers shared by all of them (the names in one string,
/// the attributes in one list), so an event costs no allocation of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Events {
    list: Vec<EventData>,
    text: String,
    attributes: Vec<(&'static str, Value)>,
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Events {
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Adds an event; its attributes are moved out of `attributes`, whose capacity is kept.
    pub(crate) fn push(
        &mut self,
        time: u64,
        name: &str,
        attributes: &mut Vec<(&'static str, Value)>,
    ) {
        self.push_with(time, name, attributes, false);
    }

    /// [`Self::push`], saying whether the name is already known clean (see
    /// [`EventData::name_scrubbed`]).
    pub(crate) fn push_with(
        &mut self,
        time: u64,
        name: &str,
        attributes: &mut Vec<(&'static str, Value)>,
        name_scrubbed: bool,
    ) {
        let start = index(self.text.len());
        if self.text.capacity() == 0 {
            self.text = String::with_capacity(64);
        }
        self.text.push_str(name);
        let name = (start, index(self.text.len()));
        let start = index(self.attributes.len());
        if self.attributes.capacity() == 0 {
            self.attributes = Vec::with_capacity(4);
        }
        self.attributes.append(attributes);
        let attributes = (start, index(self.attributes.len()));
        if self.list.capacity() == 0 {
            self.list = Vec::with_capacity(4);
        }
        self.list.push(EventData {
            time,
            name,
            attributes,
            name_scrubbed,
        });
    }

    /// The events, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &EventData> {
        self.list.iter()
    }

    /// An event's name.
    pub(crate) fn name(&self, e: &EventData) -> &str {
        self.text
            .get(e.name.0 as usize..e.name.1 as usize)
            .unwrap_or("")
    }

    /// An event's attributes.
    pub(crate) fn attributes(&self, e: &EventData) -> &[(&'static str, Value)] {
        self.attributes
            .get(e.attributes.0 as usize..e.attributes.1 as usize)
            .unwrap_or(&[])
    }

    /// Every event attribute, for scrubbing in place.
    pub(crate) fn all_attributes_mut(&mut self) -> &mut [(&'static str, Value)] {
        &mut self.attributes
    }

    /// Whether no buffer is allocated yet (the span has had no event).
    pub(crate) fn unallocated(&self) -> bool {
        self.list.capacity() == 0
    }

    /// Whether the buffers are allocated and small enough to be handed on.
    fn reusable(&self) -> bool {
        !self.unallocated()
            && self.list.capacity() <= 16
            && self.text.capacity() <= 1024
            && self.attributes.capacity() <= 32
    }

    /// Empties the buffers in place (their contents are dropped now) when they can be handed
    /// on; returns whether they were.
    pub(crate) fn clear_for_reuse(&mut self) -> bool {
        if !self.reusable() {
            return false;
        }
        self.list.clear();
        self.text.clear();
        self.attributes.clear();
        true
    }

    /// Whether these are emptied buffers ready to be handed on (see [`Self::clear_for_reuse`]).
    pub(crate) fn is_spare(&self) -> bool {
        self.reusable()
            && self.list.is_empty()
            && self.text.is_empty()
            && self.attributes.is_empty()
    }

    /// Replaces each event's name by `f(name)` where it returns a new text (scrubbing; names
    /// known clean are not passed to `f`); the names are copied into a new string only when one
    /// changed.
    pub(crate) fn rewrite_names(&mut self, mut f: impl FnMut(&str) -> Option<String>) {
        let mut rebuilt: Option<String> = None;
        for e in &mut self.list {
            let old = self
                .text
                .get(e.name.0 as usize..e.name.1 as usize)
                .unwrap_or("");
            let new = if e.name_scrubbed { None } else { f(old) };
            if rebuilt.is_none() {
                if new.is_none() {
                    continue;
                }
                let mut out = String::with_capacity(self.text.len());
                out.push_str(self.text.get(..e.name.0 as usize).unwrap_or(""));
                rebuilt = Some(out);
            }
            let Some(out) = rebuilt.as_mut() else {
                continue;
            };
            let start = index(out.len());
            out.push_str(new.as_deref().unwrap_or(old));
            e.name = (start, index(out.len()));
        }
        if let Some(text) = rebuilt {
            self.text = text;
        }
    }
}

/// Everything exported about one span.
#[derive(Debug, Clone)]
pub(crate) struct SpanData {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    pub(crate) sampled: bool,
    pub(crate) local_root: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: Kind,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) attributes: Vec<(&'static str, Value)>,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Events,
    pub(crate) dropped_events: u32,
    pub(crate) links: Vec<([u8; 16], [u8; 8])>,
    pub(crate) status: Status,
    pub(crate) tenant: Option<String>,
}

impl SpanData {
    pub(crate) fn is_error(&self) -> bool {
        matches!(self.status, Status::Error(_))
    }

    pub(crate) fn duration_nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// What a span keeps in its extensions.
#[derive(Debug)]
pub(crate) struct SpanState {
    data: SpanData,
    recording: bool,
    /// The span's own trace context (read by the JSON layer, exemplars and the OpenTelemetry
    /// API tracer through [`span_trace_context`]); kept here so a span has one extension of
    /// the bridge, not two.
    trace: Option<TraceContext>,
}

/// The trace context the bridge gave a span, from the span's extensions.
pub(crate) fn span_trace_context<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<&'a TraceContext> {
    ext.get::<SpanState>().and_then(|s| s.trace.as_ref())
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The shared state of the bridge: sampler, tail buffer, export queue, counters.
pub(crate) struct Pipeline {
    pub(crate) sampler: HeadSampler,
    tail: Option<Mutex<Tail>>,
    queue: Arc<Queue>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) max_attributes: usize,
    pub(crate) max_events: usize,
    incidents: Arc<crate::incident::Incidents>,
    /// The identity (grants address) of the scrubber the export thread scrubs with.
    scrubber_id: usize,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("sampler", &self.sampler)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn new(
        config: &TraceConfig,
        queue: Arc<Queue>,
        stats: Arc<Counters>,
        incidents: Arc<crate::incident::Incidents>,
        scrubber: &stella_scrub::Scrubber,
    ) -> Self {
        Pipeline {
            scrubber_id: std::ptr::from_ref(scrubber.grants()) as usize,
            sampler: HeadSampler::new(config.ratio),
            tail: config.tail.then(|| Mutex::new(Tail::new(config))),
            queue,
            stats,
            max_attributes: config.max_attributes,
            max_events: config.max_events,
            incidents,
        }
    }

    /// Emptied event buffers of an exported span, when the export worker has one to spare.
    fn spare_events(&self) -> Option<Events> {
        self.queue.spare_events()
    }

    /// An emptied attribute list of an exported span with room for `n`, else a new one.
    fn attribute_list(&self, n: usize) -> Vec<(&'static str, Value)> {
        match self.queue.spare_attributes() {
            Some(mut list) => {
                list.reserve(n);
                list
            }
            None => Vec::with_capacity(n),
        }
    }

    /// Spans waiting in the export queue.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// The housekeeping tick: applies the tail buffer's age bound even when no span ends.
    pub(crate) fn sweep(&self) {
        let Some(tail) = &self.tail else { return };
        let mut out = Vec::new();
        {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.sweep(now_nanos(), &mut out, &self.stats);
        }
        if !out.is_empty() {
            self.queue.push(out.into_iter(), &self.stats);
        }
    }

    /// Whether spans the head sampler did not keep are recorded (for the tail sampler).
    pub(crate) fn records_unsampled(&self) -> bool {
        self.tail.is_some()
    }

    /// A span ended: export it, buffer it for the tail decision, or let it go.
    pub(crate) fn finish(&self, span: SpanData) {
        if span.sampled {
            self.queue.push(std::iter::once(span), &self.stats);
            return;
        }
        let Some(tail) = &self.tail else { return };
        let mut out = Vec::new();
        {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.offer(span, now_nanos(), &mut out, &self.stats);
        }
        if !out.is_empty() {
            self.queue.push(out.into_iter(), &self.stats);
        }
    }
}

/// The bridge layer.
#[derive(Clone, Debug)]
pub(crate) struct OtelLayer {
    pipeline: Arc<Pipeline>,
}

impl OtelLayer {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        OtelLayer { pipeline }
    }

    /// Whether the export thread scrubs with this scrubber (the same grants registry, so the
    /// same verdicts).
    pub(crate) fn scrubs_with(&self, scrubber: &stella_scrub::Scrubber) -> bool {
        std::ptr::from_ref(scrubber.grants()) as usize == self.pipeline.scrubber_id
    }
}

/// Ids and hints read from a span's fields.
#[derive(Default)]
struct Hints {
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    parent_span_id: Option<SpanId>,
    link_trace: Option<TraceId>,
    link_span: Option<SpanId>,
}

/// Records fields into span data (raw: the export worker scrubs them before encoding).
struct FieldVisitor<'a> {
    data: &'a mut SpanData,
    hints: Option<&'a mut Hints>,
    max_attributes: usize,
    buf: String,
}

fn cut(s: &str) -> &str {
    crate::json::prefix(s, MAX_VALUE_LEN)
}

/// The fields whose text the bridge reads as ids and links instead of attributes.
const HINT_KEYS: [&str; 6] = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "link.trace_id",
    "link.span_id",
    "link.count",
];

/// `value`'s `Debug` text, cut at [`MAX_VALUE_LEN`], in one allocation.
fn owned_text(value: &dyn fmt::Debug) -> String {
    let mut s = String::new();
    let _ = write!(s, "{value:?}");
    if s.len() > MAX_VALUE_LEN {
        let end = cut(&s).len();
        s.truncate(end);
    }
    s
}

impl FieldVisitor<'_> {
    fn push(&mut self, key: &'static str, value: Value) {
        if let Some(slot) = self.data.attributes.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else if self.data.attributes.len() < self.max_attributes {
            self.data.attributes.push((key, value));
        } else {
            self.data.dropped_attributes = self.data.dropped_attributes.saturating_add(1);
        }
    }

    fn special(&mut self, key: &'static str, value: &str) -> bool {
        match key {
            "otel.name" => self.data.name = Cow::Owned(cut(value).to_owned()),
            "otel.kind" => {
                if let Some(k) = Kind::parse(value) {
                    self.data.kind = k;
                }
            }
            "otel.status_code" => {
                self.data.status = match value.to_ascii_uppercase().as_str() {
                    "ERROR" => match &self.data.status {
                        Status::Error(m) => Status::Error(m.clone()),
                        _ => Status::Error(String::new()),
                    },
                    "OK" => Status::Ok,
                    _ => Status::Unset,
                };
            }
            "otel.status_description" | "otel.status_message" => {
                let m = cut(value).to_owned();
                self.data.status = Status::Error(m);
            }
            "trace_id" | "span_id" | "parent_span_id" | "link.trace_id" | "link.span_id" => {
                if let Some(h) = self.hints.as_deref_mut() {
                    match key {
                        "trace_id" => h.trace_id = value.parse().ok(),
                        "span_id" => h.span_id = value.parse().ok(),
                        "parent_span_id" => h.parent_span_id = value.parse().ok(),
                        "link.trace_id" => h.link_trace = value.parse().ok(),
                        _ => h.link_span = value.parse().ok(),
                    }
                }
            }
            "link.count" => {}
            _ if key.starts_with("otel.") => {}
            _ => return false,
        }
        true
    }

    fn string(&mut self, key: &'static str, value: &str) {
        if self.special(key, value) {
            return;
        }
        let clean = cut(value).to_owned();
        self.push(key, Value::Str(clean));
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let key = field.name();
        if key == "otel.name" {
            // Formatted straight into the name: one allocation.
            self.data.name = Cow::Owned(owned_text(value));
            return;
        }
        if !key.starts_with("otel.") && !HINT_KEYS.contains(&key) {
            self.push(key, Value::Str(owned_text(value)));
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let _ = write!(buf, "{value:?}");
        self.string(key, &buf);
        self.buf = buf;
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), u64_value(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), error_value(value));
    }
}

/// A `u64` attribute: an OTLP integer when it fits in `i64`, else its decimal text.
fn u64_value(value: u64) -> Value {
    i64::try_from(value).map_or_else(|_| Value::Str(value.to_string()), Value::I64)
}

/// An error attribute: the first line of its message, cut to the attribute length bound.
fn error_value(value: &(dyn std::error::Error + 'static)) -> Value {
    let text = value.to_string();
    Value::Str(cut(text.lines().next().unwrap_or_default()).to_owned())
}

/// Records an event's fields: the message becomes the event name. Reused across events through
/// a thread-local, so recording an event allocates nothing of its own in steady state.
#[derive(Default)]
struct EventVisitor {
    /// The message, raw, when `named`.
    name: String,
    named: bool,
    attributes: Vec<(&'static str, Value)>,
    max: usize,
    dropped: u32,
}

thread_local! {
    static EVENT_VISITOR: std::cell::RefCell<EventVisitor> =
        std::cell::RefCell::new(EventVisitor::default());
}

impl EventVisitor {
    fn reset(&mut self, max: usize) {
        self.name.clear();
        self.named = false;
        self.attributes.clear();
        self.max = max;
        self.dropped = 0;
    }

    fn push(&mut self, key: &'static str, value: Value) {
        if self.attributes.len() < self.max {
            self.attributes.push((key, value));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn string(&mut self, key: &'static str, value: &str) {
        if key == "message" {
            self.name.clear();
            self.name.push_str(cut(value));
            self.named = true;
        } else {
            let clean = cut(value).to_owned();
            self.push(key, Value::Str(clean));
        }
    }
}

impl Visit for EventVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.name.clear();
            let _ = write!(self.name, "{value:?}");
            let end = cut(&self.name).len();
            self.name.truncate(end);
            self.named = true;
        } else {
            self.push(field.name(), Value::Str(owned_text(value)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), u64_value(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), error_value(value));
    }
}

/// The tenant of a new span: its own `tenant_id` attribute, else the nearest enclosing span's
/// (as the bridge or the JSON layer recorded it), else the current request's.
fn span_tenant<'a, R>(
    data: &SpanData,
    span: &SpanRef<'a, R>,
    current: Option<&CurrentContext>,
) -> Option<String>
where
    R: LookupSpan<'a>,
{
    let own = data.attributes.iter().find_map(|(k, v)| match v {
        Value::Str(t) if *k == "tenant_id" => Some(t.clone()),
        _ => None,
    });
    own.or_else(|| {
        // The parents, nearest first (the span itself is not looked up again).
        let mut next = span.parent();
        while let Some(s) = next {
            let ext = s.extensions();
            let found = ext
                .get::<SpanState>()
                .and_then(|st| st.data.tenant.clone())
                .or_else(|| crate::layer::span_tenant(&ext));
            if found.is_some() {
                return found;
            }
            drop(ext);
            next = s.parent();
        }
        None
    })
    .or_else(|| {
        current
            .and_then(CurrentContext::request)
            .and_then(|r| r.tenant_id.clone())
    })
}

/// The active span of the attached `opentelemetry::Context`, as a parent.
struct OtelParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
    remote: bool,
}

/// The span of the current `opentelemetry::Context` when it has a valid one (a span started
/// through the OpenTelemetry API and attached, or a remote context). Read in place, without
/// cloning the context; asked only for spans without a bridged `tracing` parent.
fn otel_parent() -> Option<OtelParent> {
    use opentelemetry::trace::TraceContextExt as _;
    opentelemetry::Context::map_current(|cx| {
        if !cx.has_active_span() {
            return None;
        }
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| OtelParent {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
            remote: sc.is_remote(),
        })
    })
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S> Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            self.new_span_at(attrs, &span);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            self.record_at(values, &span);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.event_at(event, ctx.event_span(event).as_ref());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let state = span.extensions_mut().remove::<SpanState>();
        if let Some(mut s) = state
            && s.recording
        {
            s.data.end = now_nanos();
            self.pipeline.finish(s.data);
        }
    }
}

impl OtelLayer {
    /// `on_new_span`, for the span already looked up (shared with the JSON layer).
    pub(crate) fn new_span_at<'a, R>(&self, attrs: &Attributes<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        let p = &*self.pipeline;
        add(&p.stats.spans_started, 1);
        let meta = attrs.metadata();
        let mut data = SpanData {
            trace_id: [0; 16],
            span_id: [0; 8],
            parent_span_id: None,
            sampled: false,
            local_root: true,
            name: Cow::Borrowed(meta.name()),
            kind: Kind::Internal,
            start: now_nanos(),
            end: 0,
            attributes: p.attribute_list(meta.fields().len()),
            dropped_attributes: 0,
            events: Events::default(),
            dropped_events: 0,
            links: Vec::new(),
            status: Status::Unset,
            tenant: None,
        };
        let mut hints = Hints::default();
        attrs.record(&mut FieldVisitor {
            data: &mut data,
            hints: Some(&mut hints),
            max_attributes: p.max_attributes,
            buf: String::new(),
        });
        if data.dropped_attributes > 0 {
            add(
                &p.stats.dropped_attributes,
                usize::try_from(data.dropped_attributes).unwrap_or(usize::MAX),
            );
        }
        let parent = span.parent().and_then(|parent| {
            parent
                .extensions()
                .get::<SpanState>()
                .map(|s| (s.data.trace_id, s.data.span_id, s.data.sampled))
        });
        let current = CurrentContext::get_local();
        let current_trace = current.as_ref().and_then(CurrentContext::trace);
        match (hints.trace_id, hints.span_id, &parent) {
            // The span names its own ids (stella-context ingress, client and job spans).
            (Some(t), Some(s), _) => {
                data.trace_id = t.to_bytes();
                data.span_id = s.to_bytes();
                data.parent_span_id = hints.parent_span_id.map(SpanId::to_bytes);
                match &parent {
                    Some((pt, _, sampled)) if *pt == data.trace_id => {
                        data.local_root = false;
                        data.sampled = *sampled;
                    }
                    _ => {
                        data.sampled = match (hints.parent_span_id, current_trace) {
                            (Some(_), Some(cx)) if cx.trace_id() == t => cx.flags().is_sampled(),
                            (Some(_), _) => true,
                            (None, _) => p.sampler.sample_root(&data.trace_id),
                        };
                    }
                }
            }
            (_, _, Some((pt, ps, sampled))) => {
                data.trace_id = *pt;
                data.span_id = SpanId::random().to_bytes();
                data.parent_span_id = Some(*ps);
                data.sampled = *sampled;
                data.local_root = false;
            }
            // No bridged `tracing` parent: the active OpenTelemetry span, else the current
            // stella-context trace, else a new root.
            (_, _, None) => match otel_parent() {
                Some(o) => {
                    data.trace_id = o.trace_id;
                    data.span_id = SpanId::random().to_bytes();
                    data.parent_span_id = Some(o.span_id);
                    data.sampled = o.sampled;
                    data.local_root = o.remote;
                }
                None => match current_trace {
                    Some(cx) => {
                        data.trace_id = cx.trace_id().to_bytes();
                        data.span_id = SpanId::random().to_bytes();
                        data.parent_span_id = Some(cx.span_id().to_bytes());
                        data.sampled = cx.flags().is_sampled();
                    }
                    None => {
                        data.trace_id = TraceId::random().to_bytes();
                        data.span_id = SpanId::random().to_bytes();
                        data.sampled = p.sampler.sample_root(&data.trace_id);
                    }
                },
            },
        }
        if let (Some(t), Some(s)) = (hints.link_trace, hints.link_span) {
            data.links.push((t.to_bytes(), s.to_bytes()));
        }
        // Incident mode: every trace of the tenant is kept, here and by the collector's
        // tail sampler (its `stella.incident_mode` policy). The tenant is looked up only while
        // some incident is on: the span's own `tenant_id`, else the nearest enclosing span's,
        // else the current request's.
        if p.incidents.any_active() {
            data.tenant = span_tenant(&data, span, current.as_ref());
        }
        if p.incidents.any_active()
            && data
                .tenant
                .as_deref()
                .is_some_and(|t| p.incidents.is_active(t))
        {
            data.sampled = true;
            data.attributes
                .push(("stella.incident_mode", Value::Bool(true)));
        }
        if data.sampled {
            add(&p.stats.spans_head_sampled, 1);
        }
        let recording = data.sampled || p.tail.is_some();
        if !recording {
            data.attributes = Vec::new();
        }
        let trace = match (
            TraceId::from_bytes(data.trace_id),
            SpanId::from_bytes(data.span_id),
        ) {
            (Some(t), Some(s)) => Some(TraceContext::new(
                TraceParent::new(t, s, TraceFlags::default().with_sampled(data.sampled)),
                TraceState::new(),
                Baggage::new(),
            )),
            _ => None,
        };
        span.extensions_mut().replace(SpanState {
            data,
            recording,
            trace,
        });
    }

    /// `on_record`, for the span already looked up.
    pub(crate) fn record_at<'a, R>(&self, values: &Record<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        let mut ext = span.extensions_mut();
        let Some(state) = ext.get_mut::<SpanState>() else {
            return;
        };
        if !state.recording {
            return;
        }
        let before = state.data.dropped_attributes;
        values.record(&mut FieldVisitor {
            data: &mut state.data,
            hints: None,
            max_attributes: self.pipeline.max_attributes,
            buf: String::new(),
        });
        let dropped = state.data.dropped_attributes.saturating_sub(before);
        if dropped > 0 {
            add(
                &self.pipeline.stats.dropped_attributes,
                usize::try_from(dropped).unwrap_or(usize::MAX),
            );
        }
    }

    /// `on_event`, with the event's span (the innermost one the filter enables) already
    /// looked up.
    pub(crate) fn event_at<'a, R>(&self, event: &Event<'_>, span: Option<&SpanRef<'a, R>>)
    where
        R: LookupSpan<'a>,
    {
        self.event_at_with(event, span, false);
    }

    /// [`Self::event_at`], told whether the JSON layer just found this event's message clean
    /// with the export's scrubber (see [`Self::scrubs_with`]): an event whose name is that same
    /// text (`crate::layer::last_message_is`) is not scrubbed again on the export thread.
    pub(crate) fn event_at_with<'a, R>(
        &self,
        event: &Event<'_>,
        span: Option<&SpanRef<'a, R>>,
        message_clean: bool,
    ) where
        R: LookupSpan<'a>,
    {
        let Some(span) = span else {
            return;
        };
        let p = &*self.pipeline;
        let (recording, full) = match span.extensions().get::<SpanState>() {
            Some(s) => (s.recording, s.data.events.len() >= p.max_events),
            None => return,
        };
        if !recording {
            return;
        }
        let meta = event.metadata();
        let is_error = *meta.level() == Level::ERROR;
        if full && !is_error {
            let mut ext = span.extensions_mut();
            if let Some(s) = ext.get_mut::<SpanState>() {
                s.data.dropped_events = s.data.dropped_events.saturating_add(1);
            }
            add(&p.stats.dropped_events, 1);
            return;
        }
        let decision = meta.target() == crate::writer::DECISION_TARGET;
        let record = |v: &mut EventVisitor| {
            v.reset(p.max_attributes);
            v.push("level", Value::Static(level_name(meta.level())));
            event.record(v);
            if decision {
                // Who decided stays in the (scrubbed) decision log; exported spans carry no actor.
                v.attributes.retain(|(k, _)| *k != "actor");
            }
            let EventVisitor {
                name,
                named,
                attributes,
                ..
            } = v;
            let name: &str = if *named { name } else { meta.name() };
            // The same text the JSON layer scanned (compared, not assumed: a field's `Debug`
            // may not give the same text twice).
            let name_scrubbed = *named && message_clean && crate::layer::last_message_is(name);
            let mut ext = span.extensions_mut();
            let Some(s) = ext.get_mut::<SpanState>() else {
                return;
            };
            if is_error && s.data.status == Status::Unset {
                s.data.status = Status::Error(name.to_owned());
            }
            // A decision log (authZ outcome, policy evaluation) also lands on its span as
            // attributes, without the actor: the span says what was decided, the log says by
            // whom.
            if decision {
                for (k, val) in attributes.iter() {
                    if DECISION_ATTRIBUTES.contains(k) {
                        if let Some(slot) = s.data.attributes.iter_mut().find(|(a, _)| a == k) {
                            slot.1 = val.clone();
                        } else if s.data.attributes.len() < p.max_attributes {
                            s.data.attributes.push((k, val.clone()));
                        }
                    }
                }
            }
            if s.data.events.len() < p.max_events {
                if s.data.events.unallocated()
                    && let Some(spare) = p.spare_events()
                {
                    s.data.events = spare;
                }
                s.data
                    .events
                    .push_with(now_nanos(), name, attributes, name_scrubbed);
            } else {
                s.data.dropped_events = s.data.dropped_events.saturating_add(1);
                add(&p.stats.dropped_events, 1);
            }
        };
        // A re-entrant event (a field's `Debug` that logs) records into a visitor of its own.
        let done = EVENT_VISITOR
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut v) => {
                    record(&mut v);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            record(&mut EventVisitor::default());
        }
    }
}

#[cfg(test)]
mod events_tests {
    use super::*;

    #[test]
    fn names_are_rewritten_in_place_and_attributes_kept_per_event() {
        let mut events = Events::default();
        events.push(1, "clean", &mut vec![("n", Value::I64(1))]);
        events.push(
            2,
            "secret here",
            &mut vec![("level", Value::Static("warn"))],
        );
        events.push(3, "", &mut Vec::new());
        events.push(4, "tail", &mut vec![("m", Value::Bool(true))]);
        events.rewrite_names(|n| (n == "secret here").then(|| "[redacted]".to_owned()));
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.time, events.name(e), events.attributes(e).to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "clean", vec![("n", Value::I64(1))]),
                (2, "[redacted]", vec![("level", Value::Static("warn"))]),
                (3, "", vec![]),
                (4, "tail", vec![("m", Value::Bool(true))]),
            ]
        );
        events.rewrite_names(|_| None);
        assert_eq!(events.name(events.iter().nth(3).unwrap()), "tail");
    }

    #[test]
    fn buffers_are_handed_on_only_when_allocated_and_small() {
        let mut none = Events::default();
        assert!(!none.clear_for_reuse(), "nothing to hand on");
        assert!(!none.is_spare());
        let mut events = Events::default();
        events.push(1, "one", &mut vec![("n", Value::Str("x".to_owned()))]);
        assert!(!events.is_spare(), "not emptied yet");
        assert!(events.clear_for_reuse(), "small buffers are kept");
        assert!(events.is_spare());
        assert_eq!(events.len(), 0);
        assert!(!events.unallocated(), "capacity kept");
        assert!(
            events.iter().next().is_none()
                && events.attributes.is_empty()
                && events.text.is_empty()
        );
        let mut big = Events::default();
        for i in 0..20 {
            big.push(i, "event", &mut Vec::new());
        }
        assert!(!big.clear_for_reuse(), "grown buffers are freed, not kept");
        assert!(!big.is_spare());
        assert_eq!(big.len(), 20, "left as they are");
    }
}
