//! A `tracing-subscriber` layer that stores the current context in span extensions.
//!
//! Add [`ContextLayer`] to a `Registry`-based subscriber. Every span created while a
//! [`CurrentContext`] is current (inside the [`ServerLayer`](crate::tower::ServerLayer), a
//! restored job or a [`WithContext`](crate::WithContext) future) gets a clone of it in its
//! extensions. A logging layer then reads it from the event's span scope:
//!
//! ```
//! use stella_context::CurrentContext;
//! use stella_context::subscriber::ContextLayer;
//! use tracing_subscriber::layer::{Context, SubscriberExt};
//! use tracing_subscriber::registry::LookupSpan;
//!
//! struct Fields;
//! impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Fields {
//!     fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
//!         let found = ctx.event_scope(event).and_then(|scope| {
//!             scope.into_iter().find_map(|span| span.extensions().get::<CurrentContext>().cloned())
//!         });
//!         // `found.request()` has tenant_id, request_id, ...; `found.trace()` the trace id.
//!         let _ = found;
//!     }
//! }
//!
//! let subscriber = tracing_subscriber::registry().with(ContextLayer::new()).with(Fields);
//! tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
//! ```

use tracing::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::CurrentContext;

/// Stores the thread's [`CurrentContext`] in the extensions of each new span.
///
/// # Examples
///
/// ```
/// use stella_context::subscriber::ContextLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(ContextLayer::new());
/// # drop(subscriber);
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct ContextLayer;

impl ContextLayer {
    /// A new layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> tracing_subscriber::Layer<S> for ContextLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let (Some(current), Some(span)) = (CurrentContext::get_local(), ctx.span(id)) {
            span.extensions_mut().replace(current);
        }
    }
}

/// The context stored on the nearest span of `tracing::Span::current()`, when the subscriber is
/// a `Registry` (possibly layered) with a [`ContextLayer`].
pub(crate) fn from_current_span() -> Option<CurrentContext> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|s| s.extensions().get::<CurrentContext>().cloned())
        })
        .flatten()
}
