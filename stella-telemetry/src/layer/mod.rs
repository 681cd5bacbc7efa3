//! The JSON log layer: one scrubbed JSON object per line with the common fields in a fixed order.
//!
//! ```
//! use stella_telemetry::JsonLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let layer = JsonLayer::builder("policy-engine", "1.4.0").with_writer(std::io::stdout).build()?;
//! let subscriber = tracing_subscriber::registry()
//!     .with(stella_context::subscriber::ContextLayer::new())
//!     .with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(tenant_id = "acme", "evaluated with password=hunter2"); // password redacted
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod keys;
mod record;
mod render;

#[cfg(feature = "otlp")]
pub(crate) use record::SpanShare;

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use stella_context::CurrentContext;
use stella_scrub::Scrubber;
use stella_scrub::grants::{Clock, SystemClock};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub(crate) use self::record::SpanFields;
use self::record::{EventFields, SpanVisitor};
use crate::sampling::Limiters;
use crate::stats::{Stats, bump};
use crate::writer::{NonBlocking, is_priority};
use crate::{LogStats, Resource, Sampling};

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Per-thread buffers reused by every event on the thread.
#[derive(Debug, Default)]
struct Scratch {
    ev: EventFields,
    out: String,
    tmp: String,
    tenant: String,
    keys: keys::KeyCache,
    messages: keys::CleanMessages,
}

/// Buffers above this capacity are given back after a huge event.
const MAX_SCRATCH: usize = 256 * 1024;

impl Scratch {
    /// Gives back memory a huge earlier event left behind.
    fn trim(&mut self) {
        for b in [
            &mut self.out,
            &mut self.tmp,
            &mut self.ev.arena,
            &mut self.ev.chain,
        ] {
            if b.capacity() > MAX_SCRATCH {
                b.clear();
                b.shrink_to(4 * 1024);
            }
        }
    }
}

/// Runs `f` with this thread's scratch buffers, or fresh ones when they are in use (an event
/// emitted while formatting another one) or the thread is shutting down.
fn with_scratch<R: Default>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let r = SCRATCH
        .try_with(|cell| {
            let mut s = cell.try_borrow_mut().ok()?;
            let f = f.take()?;
            Some(f(&mut s))
        })
        .ok()
        .flatten();
    match (r, f) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&mut Scratch::default()),
        (None, None) => R::default(),
    }
}

/// The tenant recorded on a span by the JSON layer, if any (for the trace bridge).
#[cfg(feature = "otlp")]
pub(crate) fn span_tenant(ext: &tracing_subscriber::registry::Extensions<'_>) -> Option<String> {
    fields_of(ext).and_then(|f| {
        f.slot(crate::fields::Slot::TenantId)
            .map(|s| s.original(&f.text).to_owned())
    })
}

#[cfg(feature = "otlp")]
pub(crate) use render::push_ids_json;

/// This layer's fields of a span: in the OpenTelemetry bridge's state when the bridge shared
/// the span's visit (one extension, one allocation per span for both), else in an extension
/// of their own.
#[cfg(feature = "otlp")]
pub(crate) fn fields_of<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<&'a SpanFields> {
    crate::trace::span_fields(ext).or_else(|| ext.get::<SpanFields>())
}

/// [`fields_of`], to change them.
fn fields_of_mut<'a>(
    ext: &'a mut tracing_subscriber::registry::ExtensionsMut<'_>,
) -> Option<&'a mut SpanFields> {
    #[cfg(feature = "otlp")]
    if crate::trace::span_fields_mut(ext).is_some() {
        return crate::trace::span_fields_mut(ext);
    }
    ext.get_mut::<SpanFields>()
}

/// Where the ids of the lines inside a span come from.
pub(crate) enum SpanIds<'a> {
    /// The `trace_id` and `span_id` members the OpenTelemetry bridge rendered when the span
    /// started.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    Rendered(&'a str),
    /// The span's own trace context (another layer's, or the bridge's unrendered).
    Context(&'a stella_context::TraceContext),
    None,
}

/// What a line reads of one of its spans: where the ids come from (when `ids` is asked: the
/// bridge's rendered members, else the span's own trace context, as [`span_trace`] finds it)
/// and this layer's fields ([`fields_of`]), with one lookup of the bridge's state.
fn span_view<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
    ids: bool,
) -> (SpanIds<'a>, Option<&'a SpanFields>) {
    #[cfg(feature = "otlp")]
    if let Some((rendered, trace, fields)) = crate::trace::span_state(ext) {
        let found = match (ids, trace) {
            (false, _) => SpanIds::None,
            (true, _) if !rendered.is_empty() => SpanIds::Rendered(rendered),
            (true, Some(t)) => SpanIds::Context(t),
            (true, None) => other_trace(ext),
        };
        let fields = fields.or_else(|| ext.get::<SpanFields>());
        return (found, fields);
    }
    let found = if ids { other_trace(ext) } else { SpanIds::None };
    (found, ext.get::<SpanFields>())
}

/// A trace context another layer stored in a span's extensions.
fn other_trace<'a>(ext: &'a tracing_subscriber::registry::Extensions<'_>) -> SpanIds<'a> {
    match ext.get::<stella_context::TraceContext>() {
        Some(t) => SpanIds::Context(t),
        None => SpanIds::None,
    }
}

/// A span's own trace context: the one the OpenTelemetry bridge gave it, else one another
/// layer stored in its extensions.
#[cfg_attr(not(any(feature = "otlp", feature = "prometheus")), allow(dead_code))]
pub(crate) fn span_trace<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<&'a stella_context::TraceContext> {
    #[cfg(feature = "otlp")]
    if let Some(t) = crate::trace::span_trace_context(ext) {
        return Some(t);
    }
    ext.get::<stella_context::TraceContext>()
}

/// What [`JsonLayer::event_at_sharing`] tells the trace bridge about an event.
#[derive(Debug, Default, Clone, Copy)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Noted {
    /// Every value of the event was handed on (the fields were visited).
    pub(crate) shared: bool,
    /// The event had a message and the strict scrubber left it unchanged.
    pub(crate) message_clean: bool,
}

/// Building a [`JsonLayer`] failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(BuildErrorKind);

#[derive(Debug, thiserror::Error)]
enum BuildErrorKind {
    #[error("scrubber: {0}")]
    Scrubber(#[from] stella_scrub::BuildError),
    #[error("resource: {0}")]
    Resource(String),
    #[error("sampling: {0}")]
    Sampling(String),
}

/// The shared state of a layer (cheap to clone the layer: one `Arc`).
pub(crate) struct Core {
    pub(crate) resource: Resource,
    fragment: String,
    pub(crate) scrubber: Scrubber,
    limiters: Limiters,
    pub(crate) stats: Arc<Stats>,
    pub(crate) clock: Arc<dyn Clock>,
    /// `clock` is the system clock (not one a test injected): its time can stamp the bridge's
    /// span events.
    system_clock: bool,
    summary_every_nanos: u64,
    next_summary: AtomicU64,
    last_reported: Mutex<LogStats>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("resource", &self.resource)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn now_nanos(&self) -> u64 {
        self.clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Builds a [`JsonLayer`].
#[must_use]
pub struct JsonLayerBuilder<W> {
    resource: Resource,
    scrubber: Option<Scrubber>,
    sampling: Sampling,
    clock: Arc<dyn Clock>,
    system_clock: bool,
    writer: W,
    stats: Option<Arc<Stats>>,
}

impl<W> fmt::Debug for JsonLayerBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayerBuilder")
            .field("resource", &self.resource)
            .field("sampling", &self.sampling)
            .finish_non_exhaustive()
    }
}

impl<W> JsonLayerBuilder<W> {
    /// Replaces the resource (service, version, env, region, instance id).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// Scrubs with this scrubber (for example one with a repository root, custom rules and a
    /// shared grants registry). Default: `Scrubber::builder().build()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::Scrubber;
    /// use stella_telemetry::JsonLayer;
    ///
    /// let scrubber = Scrubber::builder().with_repo_root("/srv/app").build()?;
    /// let layer = JsonLayer::builder("svc", "1").with_scrubber(scrubber).build()?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = Some(scrubber);
        self
    }

    /// Rate limits for info, debug and trace records.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// The clock for `ts` and rate-limit windows (tests inject a manual clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::grants::ManualClock;
    /// use stella_telemetry::JsonLayer;
    ///
    /// let clock = ManualClock::at_unix_secs(1_764_327_930);
    /// let layer = JsonLayer::builder("svc", "1").with_clock(clock.clone()).build()?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self.system_clock = false;
        self
    }

    /// `system`: `clock` is the system clock.
    pub(crate) fn with_shared_clock(mut self, clock: Arc<dyn Clock>, system: bool) -> Self {
        self.clock = clock;
        self.system_clock = system;
        self
    }

    /// Writes lines to `writer` (any `tracing-subscriber` `MakeWriter`: `std::io::stdout`, a
    /// [`NonBlocking`], a test capture). Each line is one `write_all` call.
    pub fn with_writer<W2>(self, writer: W2) -> JsonLayerBuilder<W2>
    where
        W2: for<'a> MakeWriter<'a> + 'static,
    {
        JsonLayerBuilder {
            resource: self.resource,
            scrubber: self.scrubber,
            sampling: self.sampling,
            clock: self.clock,
            system_clock: self.system_clock,
            writer,
            stats: self.stats,
        }
    }

    /// Writes lines to a [`NonBlocking`] writer and shares its counters, so that queue drops
    /// appear in the layer's [`LogStats`] and suppression summaries.
    pub fn with_non_blocking(self, writer: NonBlocking) -> JsonLayerBuilder<NonBlocking> {
        let stats = writer.shared_stats();
        let mut b = self.with_writer(writer);
        b.stats = Some(stats);
        b
    }

    /// Validates the settings, builds the scrubber if none was given, and scrubs the resource
    /// once.
    ///
    /// # Errors
    ///
    /// [`BuildError`] when the service name is empty, a sampling window is zero, or the
    /// default scrubber fails to build.
    pub fn build(self) -> Result<JsonLayer<W>, BuildError>
    where
        W: for<'a> MakeWriter<'a> + 'static,
    {
        self.sampling
            .validate()
            .map_err(|e| BuildError(BuildErrorKind::Sampling(e)))?;
        let scrubber = match self.scrubber {
            Some(s) => s,
            None => Scrubber::builder()
                .build()
                .map_err(|e| BuildError(BuildErrorKind::Scrubber(e)))?,
        };
        let fragment = self
            .resource
            .to_fragment(&scrubber)
            .map_err(|e| BuildError(BuildErrorKind::Resource(e)))?;
        let every = u64::try_from(self.sampling.summary_interval().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let core = Core {
            resource: self.resource,
            fragment,
            scrubber,
            limiters: Limiters::new(&self.sampling),
            stats: self.stats.unwrap_or_default(),
            clock: self.clock,
            system_clock: self.system_clock,
            summary_every_nanos: every,
            next_summary: AtomicU64::new(0),
            last_reported: Mutex::new(LogStats::default()),
        };
        core.next_summary
            .store(core.now_nanos().saturating_add(every), Ordering::Relaxed);
        Ok(JsonLayer {
            core: Arc::new(core),
            writer: self.writer,
        })
    }
}

/// The JSON log layer: a `tracing-subscriber` [`Layer`] that writes one scrubbed JSON object per
/// event, with the common fields in the fixed order of [`COMMON_FIELDS`](crate::COMMON_FIELDS),
/// then `message`, then `details`.
///
/// Values come from the event, then the enclosing spans (innermost first), then the current
/// [`stella_context::RequestContext`] and [`stella_context::TraceContext`], then the static
/// [`Resource`]. Put [`stella_context::subscriber::ContextLayer`] before it so that spans carry
/// the context into spawned tasks. Every string is scrubbed key-aware by `stella-scrub`; trace
/// ids, span ids and methods are validated instead (invalid ones are dropped and counted).
///
/// See the crate docs for the schema and `docs/observability/telemetry-standards.md`.
pub struct JsonLayer<W = NonBlocking> {
    core: Arc<Core>,
    writer: W,
}

impl<W: Clone> Clone for JsonLayer<W> {
    fn clone(&self) -> Self {
        JsonLayer {
            core: Arc::clone(&self.core),
            writer: self.writer.clone(),
        }
    }
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl JsonLayer {
    /// A builder for `service` at `version`, writing to standard output until
    /// [`with_writer`](JsonLayerBuilder::with_writer) says otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = stella_telemetry::JsonLayer::builder("svc", "1.0").build()?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(
        service: impl Into<String>,
        version: impl Into<String>,
    ) -> JsonLayerBuilder<fn() -> io::Stdout> {
        JsonLayerBuilder {
            resource: Resource::new(service, version),
            scrubber: None,
            sampling: Sampling::new(),
            clock: Arc::new(SystemClock::default()),
            system_clock: true,
            writer: io::stdout,
            stats: None,
        }
    }
}

impl<W> JsonLayer<W> {
    /// What this layer wrote, suppressed and dropped so far.
    pub fn stats(&self) -> LogStats {
        self.core.stats.snapshot()
    }

    /// The scrubber every value passes through.
    pub fn scrubber(&self) -> &Scrubber {
        &self.core.scrubber
    }

    /// Runtime controls for this layer (deep-debug grants, counters).
    pub fn handle(&self) -> crate::TelemetryHandle {
        crate::TelemetryHandle::new(Arc::clone(&self.core))
    }

    pub(crate) fn core(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }

    /// The layer's clock is the system clock (none injected): an event's time can then be
    /// read once, outside, for this layer and the trace bridge.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn has_system_clock(&self) -> bool {
        self.core.system_clock
    }
}

impl<W> JsonLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// Writes a suppression summary line when the interval has passed and something was
    /// suppressed or dropped since the last one.
    pub(crate) fn maybe_summary(&self, now: u64) {
        let next = self.core.next_summary.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        if self
            .core
            .next_summary
            .compare_exchange(
                next,
                now.saturating_add(self.core.summary_every_nanos),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return;
        }
        self.write_summary(now);
    }

    /// Writes kept breadcrumbs of `tenant` (time, text) as debug lines.
    pub(crate) fn write_breadcrumbs(&self, tenant: &str, crumbs: &[(u64, String)]) {
        for (at, text) in crumbs {
            with_scratch(|s| {
                render::breadcrumb(&self.core, *at, tenant, text, &mut s.out);
                let mut w = self.writer.make_writer();
                if w.write_all(s.out.as_bytes()).is_err() {
                    bump(&self.core.stats.write_errors);
                } else {
                    bump(&self.core.stats.lines);
                }
            });
        }
    }

    /// Writes a summary line if anything was suppressed since the last one.
    pub(crate) fn write_summary(&self, now: u64) -> bool {
        let line = with_scratch(|s| {
            render::summary(&self.core, now, &mut s.out).then(|| {
                let mut w = self.writer.make_writer();
                if w.write_all(s.out.as_bytes()).is_err() {
                    bump(&self.core.stats.write_errors);
                }
            })
        });
        if line.is_some() {
            bump(&self.core.stats.summaries);
        }
        line.is_some()
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
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
}

impl<W> JsonLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// `on_new_span`, for the span already looked up (shared with the trace bridge).
    pub(crate) fn new_span_at<'a, R>(&self, attrs: &Attributes<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        self.new_span_at_sharing(attrs, span, None::<&mut record::EventFields>);
    }

    /// [`Self::new_span_at`], handing each of the span's values on to `also` as it is visited
    /// (see [`record::SpanTee`]): the trace bridge's visitor, which then need not visit the
    /// span's fields again.
    pub(crate) fn new_span_at_sharing<'a, R, V>(
        &self,
        attrs: &Attributes<'_>,
        span: &SpanRef<'a, R>,
        also: Option<&mut V>,
    ) where
        R: LookupSpan<'a>,
        V: record::SpanShare,
    {
        let fields = self.new_span_fields(attrs, also);
        span.extensions_mut().insert(fields);
    }

    /// A new span's fields, visited once, each value handed on to `also` as it is visited;
    /// the caller keeps them in the span's extensions (see [`fields_of`]).
    pub(crate) fn new_span_fields<V>(
        &self,
        attrs: &Attributes<'_>,
        also: Option<&mut V>,
    ) -> SpanFields
    where
        V: record::SpanShare,
    {
        let mut fields = SpanFields::new();
        let skip_ids = also.as_ref().is_some_and(|a| a.renders_ids());
        with_scratch(|s| {
            let mut visitor = SpanVisitor {
                fields: &mut fields,
                scrubber: &self.core.scrubber,
                stats: &self.core.stats,
                keys: &mut s.keys,
                messages: &mut s.messages,
                buf: std::mem::take(&mut s.tmp),
                last_clean: false,
                skip_ids,
            };
            match also {
                Some(also) => attrs.record(&mut record::SpanTee {
                    span: &mut visitor,
                    also,
                }),
                None => attrs.record(&mut visitor),
            }
            s.tmp = visitor.buf;
        });
        fields.finish();
        fields
    }

    /// `on_record`, for the span already looked up.
    pub(crate) fn record_at<'a, R>(&self, values: &Record<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        let mut ext = span.extensions_mut();
        if let Some(fields) = fields_of_mut(&mut ext) {
            with_scratch(|s| {
                let mut visitor = SpanVisitor {
                    fields,
                    scrubber: &self.core.scrubber,
                    stats: &self.core.stats,
                    keys: &mut s.keys,
                    messages: &mut s.messages,
                    buf: std::mem::take(&mut s.tmp),
                    last_clean: false,
                    skip_ids: false,
                };
                values.record(&mut visitor);
                s.tmp = visitor.buf;
            });
            fields.finish();
        }
    }

    /// `on_event`, with the event's span (the innermost one this layer's filter enables)
    /// already looked up.
    pub(crate) fn event_at<'a, R>(&self, event: &Event<'_>, span: Option<&SpanRef<'a, R>>)
    where
        R: LookupSpan<'a>,
    {
        let _ = self.event_at_sharing(event, span, None::<&mut record::EventFields>, None);
    }

    /// [`Self::event_at`], handing each of the event's values on to `also` as it is visited
    /// (see [`record::Tee`]): the trace bridge's visitor, which then need not visit the event
    /// again. Says whether `also` was given every value (not when the event was suppressed
    /// before its fields were visited) and whether the strict scrubber left the event's
    /// message unchanged (the text handed on: the bridge need not scrub it again as the span
    /// event's name). `now`: the time of the event if already read, from the system clock
    /// (see [`Self::has_system_clock`]).
    pub(crate) fn event_at_sharing<'a, R, V>(
        &self,
        event: &Event<'_>,
        span: Option<&SpanRef<'a, R>>,
        also: Option<&mut V>,
        now: Option<u64>,
    ) -> Noted
    where
        R: LookupSpan<'a>,
        V: tracing_core::field::Visit,
    {
        let meta = event.metadata();
        let core = &*self.core;
        let now = now.unwrap_or_else(|| core.now_nanos());
        let limited = !is_priority(meta);
        if limited && !core.limiters.allow_callsite(&meta.callsite(), now) {
            bump(&core.stats.suppressed_callsite);
            self.maybe_summary(now);
            return Noted::default();
        }
        let (written, noted) = with_scratch(|s| {
            s.trim();
            s.ev.clear();
            match also {
                Some(also) => event.record(&mut record::Tee {
                    ev: &mut s.ev,
                    also,
                }),
                None => event.record(&mut s.ev),
            }
            let mut noted = Noted {
                shared: true,
                message_clean: false,
            };
            // The event's own fields, restored when a deep-debug tenant's line resolves again.
            // (The slots the event set, as a bit set: resolving fills only empty slots.)
            let mark = (s.ev.arena.len(), s.ev.slots_set(), s.ev.details.len());
            let has_tenant = render::resolve(
                &mut s.ev,
                span,
                CurrentContext::get_local(),
                None,
                &mut s.tenant,
            );
            let tenant = has_tenant.then_some(s.tenant.as_str());
            if limited
                && let Some(t) = tenant
                && !core.limiters.allow_tenant(t, now)
            {
                bump(&core.stats.suppressed_tenant);
                return (false, noted);
            }
            let view = core.scrubber.for_tenant(tenant);
            let relaxed = !view.is_strict();
            if relaxed {
                // Span values the strict scrubber changed are rescrubbed with the tenant's view.
                s.ev.arena.truncate(mark.0);
                s.ev.keep_slots(mark.1);
                s.ev.details.truncate(mark.2);
                let mut tenant = std::mem::take(&mut s.tmp);
                render::resolve(
                    &mut s.ev,
                    span,
                    CurrentContext::get_local(),
                    Some(&view),
                    &mut tenant,
                );
                s.tmp = tenant;
            }
            let mut scan = keys::Scan {
                scrubber: &core.scrubber,
                view,
                keys: &mut s.keys,
                messages: &mut s.messages,
                all_clean: false,
                message_clean: false,
            };
            (scan.all_clean, scan.message_clean) =
                render::batch_clean(&mut s.ev, meta, &mut scan, relaxed, &mut s.tmp);
            noted.message_clean = scan.message_clean && s.ev.message.is_some();
            render::write_line(core, meta, now, &s.ev, &mut scan, &mut s.out, &mut s.tmp);
            let mut w = self.writer.make_writer_for(meta);
            if w.write_all(s.out.as_bytes()).is_err() {
                bump(&core.stats.write_errors);
            }
            (true, noted)
        });
        if written {
            bump(&core.stats.lines);
        }
        self.maybe_summary(now);
        noted
    }
}
