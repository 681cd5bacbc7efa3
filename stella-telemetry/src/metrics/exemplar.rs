//! The exemplar of an observation: the trace id of the sampled span it was made in.

use std::time::{SystemTime, UNIX_EPOCH};

use stella_context::{TraceContext, TraceId};
use tracing_subscriber::registry::LookupSpan as _;

/// The trace id of the innermost enclosing span whose trace the bridge sampled (its
/// `TraceContext` in the span's extensions has the sampled flag), when the current subscriber
/// is a `tracing-subscriber` `Registry`.
pub(crate) fn sampled_trace_id() -> Option<TraceId> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.scope().find_map(|s| {
                crate::layer::span_trace(&s.extensions())
                    .filter(|t| t.flags().is_sampled())
                    .map(TraceContext::trace_id)
            })
        })
        .flatten()
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
