//! The head-sampling hook: who decides the `sampled` flag of the traces an ingress continues
//! or starts.
//!
//! This crate parses and propagates contexts; it has no sampling policy of its own. A
//! telemetry pipeline registers its head sampler here (`stella_telemetry::init()` does, with
//! its runtime ratio and incident mode), so that the flag the
//! [`ServerLayer`](crate::tower::ServerLayer) puts in the request's context, its
//! `traceresponse` header and every downstream `traceparent` is the decision the exporter
//! applies. Without a registered sampler the behaviour is OpenTelemetry's default
//! (`parentbased_always_on`): new traces are sampled, continued traces keep the caller's flag.
//!
//! ```
//! use std::sync::Arc;
//! use stella_context::sampling::{self, HeadSampler, SamplingInput};
//! use stella_context::TraceId;
//!
//! /// Samples new traces of one tenant only; continued traces follow their parent.
//! struct OnlyAcme;
//! impl HeadSampler for OnlyAcme {
//!     fn should_sample(&self, input: &SamplingInput<'_>) -> bool {
//!         match input.parent {
//!             Some(parent) => parent.flags().is_sampled(),
//!             None => input.tenant_id == Some("acme"),
//!         }
//!     }
//! }
//!
//! let sampler: Arc<dyn HeadSampler> = Arc::new(OnlyAcme);
//! let id = TraceId::random();
//! assert!(sampler.should_sample(&SamplingInput::new(id).with_tenant_id(Some("acme"))));
//! assert!(!sampler.should_sample(&SamplingInput::new(id)));
//! // Without a global sampler, new traces are sampled.
//! assert!(sampling::should_sample(&SamplingInput::new(id)));
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::{TraceContext, TraceId};

/// What a head sampler decides on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SamplingInput<'a> {
    /// The trace id of the span being started (the caller's, or a new one).
    pub trace_id: TraceId,
    /// The incoming parent (remote, from `traceparent`), if the trace is continued.
    pub parent: Option<&'a TraceContext>,
    /// The tenant, when the ingress knows it (a tenant header behind a trusted proxy).
    pub tenant_id: Option<&'a str>,
}

impl<'a> SamplingInput<'a> {
    /// The input for a new trace with this id, no tenant.
    pub fn new(trace_id: TraceId) -> Self {
        SamplingInput {
            trace_id,
            parent: None,
            tenant_id: None,
        }
    }

    /// The same input continuing `parent`.
    #[must_use]
    pub fn with_parent(mut self, parent: Option<&'a TraceContext>) -> Self {
        self.parent = parent;
        self
    }

    /// The same input for `tenant_id`.
    #[must_use]
    pub fn with_tenant_id(mut self, tenant_id: Option<&'a str>) -> Self {
        self.tenant_id = tenant_id;
        self
    }
}

/// Decides whether a span the ingress starts is sampled (the W3C `sampled` flag).
///
/// Called once per request, on the request path: keep it cheap, never block, never panic.
pub trait HeadSampler: Send + Sync {
    /// `true` to sample.
    fn should_sample(&self, input: &SamplingInput<'_>) -> bool;
}

/// OpenTelemetry's default, `parentbased_always_on`: the parent's flag, else sampled.
fn default_decision(input: &SamplingInput<'_>) -> bool {
    input.parent.is_none_or(|p| p.flags().is_sampled())
}

static GLOBAL: RwLock<Option<Arc<dyn HeadSampler>>> = RwLock::new(None);
static GLOBAL_SET: AtomicBool = AtomicBool::new(false);

/// Registers the process-wide head sampler the ingress middleware asks when it was not given
/// one of its own; returns the previous one. A telemetry pipeline calls this when it starts
/// (`stella_telemetry::init()`).
pub fn set_global_head_sampler(sampler: Arc<dyn HeadSampler>) -> Option<Arc<dyn HeadSampler>> {
    let mut slot = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let previous = slot.replace(sampler);
    GLOBAL_SET.store(true, Ordering::Release);
    previous
}

/// Removes the process-wide head sampler (back to `parentbased_always_on`); returns it.
pub fn clear_global_head_sampler() -> Option<Arc<dyn HeadSampler>> {
    let mut slot = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    GLOBAL_SET.store(false, Ordering::Release);
    slot.take()
}

/// The process-wide head sampler, if one is registered.
pub fn global_head_sampler() -> Option<Arc<dyn HeadSampler>> {
    if !GLOBAL_SET.load(Ordering::Acquire) {
        return None;
    }
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The decision of the process-wide head sampler, or `parentbased_always_on` without one.
pub fn should_sample(input: &SamplingInput<'_>) -> bool {
    if !GLOBAL_SET.load(Ordering::Acquire) {
        return default_decision(input);
    }
    match &*GLOBAL.read().unwrap_or_else(|e| e.into_inner()) {
        Some(s) => s.should_sample(input),
        None => default_decision(input),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::{SpanId, TraceFlags, TraceParent};

    #[test]
    fn default_is_parent_based_always_on() {
        let id = TraceId::random();
        assert!(default_decision(&SamplingInput::new(id)));
        let unsampled = TraceContext::new(
            TraceParent::new(id, SpanId::random(), TraceFlags::default()),
            crate::TraceState::new(),
            crate::Baggage::new(),
        );
        assert!(!default_decision(
            &SamplingInput::new(id).with_parent(Some(&unsampled))
        ));
        let sampled = unsampled.clone().with_sampled(true);
        assert!(default_decision(
            &SamplingInput::new(id).with_parent(Some(&sampled))
        ));
    }

    /// Agrees with the default, so that other tests in this binary see no difference.
    struct Counting(AtomicUsize);
    impl HeadSampler for Counting {
        fn should_sample(&self, input: &SamplingInput<'_>) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            default_decision(input)
        }
    }

    #[test]
    fn global_registration() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let _ = set_global_head_sampler(counting.clone());
        assert!(global_head_sampler().is_some());
        assert!(should_sample(&SamplingInput::new(TraceId::random())));
        assert!(counting.0.load(Ordering::SeqCst) >= 1);
        assert!(clear_global_head_sampler().is_some());
        assert!(global_head_sampler().is_none());
    }
}
