//! The propagated trace context: `traceparent`, `tracestate` and baggage together.

use crate::carrier::{Extractor, Field, Injector};
use crate::{Baggage, SpanId, TraceFlags, TraceId, TraceParent, TraceState};

/// The trace context of one span: its `traceparent` (whose parent id is this span's id), the
/// `tracestate` and the baggage.
///
/// Contexts are values: [`TraceContext::child`] makes the context of a new span in the same
/// trace. [`TraceContext::extract`] reads a remote context from a carrier,
/// [`TraceContext::continue_from`] continues it (or starts a new trace when it is missing or
/// invalid) and [`TraceContext::inject`] writes the propagated form.
///
/// # Examples
///
/// ```
/// use stella_context::TraceContext;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?);
/// headers.insert("tracestate", "congo=t61rcWkgMzE".parse()?);
///
/// // An ingress continues the caller's trace with a span of its own.
/// let server = TraceContext::continue_from(&headers);
/// assert_eq!(server.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_ne!(server.span_id().to_string(), "00f067aa0ba902b7");
///
/// // An outgoing call gets a new parent id in the same trace.
/// let mut out = http::HeaderMap::new();
/// server.child().inject(&mut out);
/// assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    traceparent: TraceParent,
    tracestate: TraceState,
    baggage: Baggage,
    remote: bool,
}

impl TraceContext {
    /// A context from its parts (local, not remote).
    pub fn new(traceparent: TraceParent, tracestate: TraceState, baggage: Baggage) -> Self {
        Self {
            traceparent,
            tracestate,
            baggage,
            remote: false,
        }
    }

    /// The root of a new trace: random ids, `sampled` and `random` flags set.
    ///
    /// # Examples
    ///
    /// ```
    /// let root = stella_context::TraceContext::new_root();
    /// assert!(root.flags().is_random());
    /// ```
    pub fn new_root() -> Self {
        let flags = TraceFlags::default().with_sampled(true).with_random(true);
        Self::new(
            TraceParent::new(TraceId::random(), SpanId::random(), flags),
            TraceState::new(),
            Baggage::new(),
        )
    }

    /// The context of a new span in this trace: a new span id, version `00`, known flags only,
    /// the same `tracestate` and baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// let parent = stella_context::TraceContext::new_root();
    /// let child = parent.child();
    /// assert_eq!(child.trace_id(), parent.trace_id());
    /// assert_ne!(child.span_id(), parent.span_id());
    /// ```
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            traceparent: self
                .traceparent
                .to_propagated()
                .with_parent_id(SpanId::random()),
            tracestate: self.tracestate.clone(),
            baggage: self.baggage.clone(),
            remote: false,
        }
    }

    /// The current context (see [`CurrentContext`](crate::CurrentContext)), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{CurrentContext, TraceContext};
    ///
    /// assert!(TraceContext::current().is_none());
    /// let cx = TraceContext::new_root();
    /// CurrentContext::from_trace(cx.clone()).scope(|| {
    ///     assert_eq!(TraceContext::current(), Some(cx));
    /// });
    /// ```
    pub fn current() -> Option<TraceContext> {
        crate::CurrentContext::get().and_then(|c| c.trace().cloned())
    }

    /// The `traceparent` that represents this span.
    pub const fn traceparent(&self) -> &TraceParent {
        &self.traceparent
    }

    /// The `tracestate`.
    pub const fn tracestate(&self) -> &TraceState {
        &self.tracestate
    }

    /// The baggage.
    pub const fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.traceparent.trace_id()
    }

    /// This span's id (the `traceparent` parent id).
    pub const fn span_id(&self) -> SpanId {
        self.traceparent.parent_id()
    }

    /// The trace flags.
    pub const fn flags(&self) -> TraceFlags {
        self.traceparent.flags()
    }

    /// Whether the context was extracted from a carrier (it belongs to another process).
    pub const fn is_remote(&self) -> bool {
        self.remote
    }

    /// The same context with another `tracestate`.
    #[must_use]
    pub fn with_tracestate(self, tracestate: TraceState) -> Self {
        Self { tracestate, ..self }
    }

    /// The same context with another baggage.
    #[must_use]
    pub fn with_baggage(self, baggage: Baggage) -> Self {
        Self { baggage, ..self }
    }

    /// The same context with the `sampled` flag set or cleared.
    #[must_use]
    pub fn with_sampled(self, sampled: bool) -> Self {
        let flags = self.traceparent.flags().with_sampled(sampled);
        Self {
            traceparent: self.traceparent.with_flags(flags),
            ..self
        }
    }

    /// The same trace, with this span id (used when another tracer chose the span id).
    #[must_use]
    pub fn with_span_id(self, span_id: SpanId) -> Self {
        Self {
            traceparent: self.traceparent.with_parent_id(span_id),
            ..self
        }
    }

    /// Reads the remote context from a carrier.
    ///
    /// Returns `None` when `traceparent` is missing, repeated or invalid. The `tracestate` values
    /// are combined in order and dropped whole when invalid; the baggage keeps its valid members.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use stella_context::TraceContext;
    ///
    /// let mut map = HashMap::new();
    /// map.insert("TraceParent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    /// map.insert("tracestate".to_owned(), "a=1,a=2".to_owned());
    /// let remote = TraceContext::extract(&map).expect("valid traceparent");
    /// assert!(remote.is_remote());
    /// assert!(remote.tracestate().is_empty()); // duplicate keys: dropped whole
    /// ```
    pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<Self> {
        let mut values = carrier.get_all_values(Field::TraceParent);
        let first = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let traceparent = TraceParent::parse_bytes(first).ok()?;
        let tracestate = match carrier.get_all_headers(Field::TraceState) {
            Some(all) => {
                let mut values = all.iter();
                match (values.next(), values.next()) {
                    (None, _) => Ok(TraceState::new()),
                    (Some(one), None) => TraceState::from_header_value(one),
                    _ => TraceState::parse_values(all.iter().map(http::HeaderValue::as_bytes)),
                }
            }
            None => TraceState::parse_values(carrier.get_all_values(Field::TraceState)),
        }
        .unwrap_or_default();
        Some(Self {
            traceparent,
            tracestate,
            baggage: Self::extract_baggage(carrier),
            remote: true,
        })
    }

    /// Reads only the baggage from a carrier (it is independent of the trace).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.append("baggage", "a=1".parse()?);
    /// headers.append("Baggage", "b=2".parse()?);
    /// let bag = stella_context::TraceContext::extract_baggage(&headers);
    /// assert_eq!(bag.as_str(), "a=1,b=2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn extract_baggage<E: Extractor + ?Sized>(carrier: &E) -> Baggage {
        Baggage::parse_values_lossy(carrier.get_all_values(Field::Baggage))
    }

    /// The context of a new local span: a child of the carrier's context when it is valid,
    /// otherwise the root of a new trace (the received `tracestate` is then dropped; the baggage
    /// is kept, as it is independent of the trace).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse()?);
    /// headers.insert("tracestate", "congo=t61rcWkgMzE".parse()?);
    /// let cx = stella_context::TraceContext::continue_from(&headers);
    /// assert_ne!(cx.trace_id().to_bytes(), [0; 16]); // a new trace...
    /// assert!(cx.tracestate().is_empty()); // ...without the received tracestate
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn continue_from<E: Extractor + ?Sized>(carrier: &E) -> Self {
        match Self::extract(carrier) {
            Some(remote) => remote.child(),
            None => Self::new_root().with_baggage(Self::extract_baggage(carrier)),
        }
    }

    /// Writes the propagated form into a carrier: exactly one version-`00` `traceparent` with
    /// this span as parent, and `tracestate`/`baggage` only when non-empty (stale values are
    /// removed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let cx = stella_context::TraceContext::new_root();
    /// let mut message_headers: HashMap<String, String> = HashMap::new();
    /// cx.inject(&mut message_headers);
    /// assert_eq!(message_headers["traceparent"], cx.traceparent().to_string());
    /// assert!(!message_headers.contains_key("tracestate"));
    /// ```
    pub fn inject<I: Injector + ?Sized>(&self, carrier: &mut I) {
        let tp = self.traceparent.to_propagated().to_bytes();
        match http::HeaderValue::from_bytes(&tp) {
            Ok(value) => carrier.set_header_value(Field::TraceParent, value),
            Err(_) => carrier.remove_value(Field::TraceParent),
        }
        match self.tracestate.to_header_value() {
            Some(value) => carrier.set_header_value(Field::TraceState, value),
            None => carrier.remove_value(Field::TraceState),
        }
        if self.baggage.is_empty() {
            carrier.remove_value(Field::Baggage);
        } else {
            carrier.set_value(Field::Baggage, self.baggage.as_str());
        }
    }
}
