//! The exemplar of an observation: the trace id of the sampled span it was made in.

use std::time::{SystemTime, UNIX_EPOCH};

use stella_context::{TraceContext, TraceId};
use tracing_subscriber::registry::LookupSpan as _;

/// The trace id of the innermost enclosing span whose trace the bridge sampled (its
/// `TraceContext` in the span's extensions has the sampled flag), when the current subscriber
/// is a `tracing-subscriber` `Registry`.
pub(crate) fn sampled_trace_id() -> Option<TraceId> {
    // The current span's id as the dispatcher knows it, without `Span::current()`'s handle
    // (a reference count taken and released through the whole subscriber stack), and the
    // spans from it outwards without looking it up twice (`scope()` would).
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let id = current.id()?;
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let mut next = registry.span(id);
        while let Some(span) = next {
            let found = crate::layer::span_trace(&span.extensions())
                .filter(|t| t.flags().is_sampled())
                .map(TraceContext::trace_id);
            if found.is_some() {
                return found;
            }
            next = span.parent();
        }
        None
    })
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
