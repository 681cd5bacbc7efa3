//! The current context: a scoped thread-local, set on each poll, with a span fallback.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::{RequestContext, TraceContext};

thread_local! {
    static CURRENT: RefCell<Option<CurrentContext>> = const { RefCell::new(None) };
}

#[derive(Debug, Default)]
struct Inner {
    trace: Option<TraceContext>,
    request: Option<RequestContext>,
}

/// The trace and request context of the work running now on this thread.
///
/// It lives in a scoped thread-local: [`CurrentContext::enter`] and [`CurrentContext::scope`]
/// set it synchronously; the `ServerLayer` (feature `tower`) response future, a
/// restored job and [`WithContext`](crate::WithContext) set it around every poll, so it follows
/// a request's future across threads and `.await` points. That works with or without a
/// `tracing` subscriber.
///
/// With the `subscriber` feature, `subscriber::ContextLayer` also stores it
/// in the extensions of every span created while it is current, and [`CurrentContext::get`]
/// falls back to the nearest such span of `tracing::Span::current()`, so code inside an
/// instrumented future finds it even when nobody set the thread-local.
///
/// # For loggers
///
/// A `tracing-subscriber` layer reads the context of an event either with
/// [`CurrentContext::get`] (one thread-local read and a reference-count increment), or from the
/// event's span scope: `span.extensions().get::<CurrentContext>()` on the innermost span that has
/// one (requires `subscriber::ContextLayer` in the subscriber).
///
/// Cloning is cheap (one shared allocation).
///
/// # Examples
///
/// ```
/// use stella_context::{CurrentContext, RequestContext, TraceContext};
///
/// let current = CurrentContext::from_trace(TraceContext::new_root())
///     .with_request(RequestContext::new().with_tenant_id("acme"));
/// {
///     let _guard = current.enter();
///     assert!(TraceContext::current().is_some());
///     assert_eq!(RequestContext::current().and_then(|r| r.tenant_id).as_deref(), Some("acme"));
/// }
/// assert!(CurrentContext::get().is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CurrentContext {
    inner: Arc<Inner>,
}

/// Restores the previous current context when dropped. Not `Send`: drop it on the same thread.
#[derive(Debug)]
#[must_use = "the context is current only while the guard lives"]
pub struct ContextGuard {
    previous: Option<CurrentContext>,
    active: bool,
    _not_send: PhantomData<*const ()>,
}

impl CurrentContext {
    /// A context with both parts.
    pub fn new(trace: Option<TraceContext>, request: Option<RequestContext>) -> Self {
        Self {
            inner: Arc::new(Inner { trace, request }),
        }
    }

    /// A context with only a trace.
    pub fn from_trace(trace: TraceContext) -> Self {
        Self::new(Some(trace), None)
    }

    /// A context with only a request context.
    pub fn from_request(request: RequestContext) -> Self {
        Self::new(None, Some(request))
    }

    /// The same context with this request context.
    #[must_use]
    pub fn with_request(&self, request: RequestContext) -> Self {
        Self::new(self.inner.trace.clone(), Some(request))
    }

    /// The same context with this trace context.
    #[must_use]
    pub fn with_trace(&self, trace: TraceContext) -> Self {
        Self::new(Some(trace), self.inner.request.clone())
    }

    /// The trace context.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.inner.trace.as_ref()
    }

    /// The request context.
    pub fn request(&self) -> Option<&RequestContext> {
        self.inner.request.as_ref()
    }

    /// The context current on this thread: the thread-local first, then (with the `subscriber`
    /// feature) the nearest span of the current `tracing` span that carries one.
    pub fn get() -> Option<CurrentContext> {
        Self::get_local().or_else(Self::from_span)
    }

    /// Only the thread-local (what [`enter`](Self::enter) set), without the span fallback.
    pub fn get_local() -> Option<CurrentContext> {
        CURRENT
            .try_with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
            .ok()
            .flatten()
    }

    #[cfg(feature = "subscriber")]
    fn from_span() -> Option<CurrentContext> {
        crate::subscriber::from_current_span()
    }

    #[cfg(not(feature = "subscriber"))]
    fn from_span() -> Option<CurrentContext> {
        None
    }

    /// Makes this context current until the guard drops.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{CurrentContext, TraceContext};
    ///
    /// let cx = TraceContext::new_root();
    /// let guard = CurrentContext::from_trace(cx.clone()).enter();
    /// assert_eq!(TraceContext::current(), Some(cx));
    /// drop(guard);
    /// assert_eq!(TraceContext::current(), None);
    /// ```
    pub fn enter(&self) -> ContextGuard {
        let swapped = CURRENT
            .try_with(|c| {
                c.try_borrow_mut()
                    .ok()
                    .map(|mut slot| slot.replace(self.clone()))
            })
            .ok()
            .flatten();
        match swapped {
            Some(previous) => ContextGuard {
                previous,
                active: true,
                _not_send: PhantomData,
            },
            None => ContextGuard {
                previous: None,
                active: false,
                _not_send: PhantomData,
            },
        }
    }

    /// Runs `f` with this context current.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Wraps a closure so that it runs with the context current now, for
    /// `tokio::task::spawn_blocking`, `std::thread::spawn` or a thread pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{CurrentContext, TraceContext};
    ///
    /// let cx = TraceContext::new_root();
    /// let job = CurrentContext::from_trace(cx.clone())
    ///     .scope(|| CurrentContext::bind(|| TraceContext::current()));
    /// let seen = std::thread::spawn(job).join().ok().flatten();
    /// assert_eq!(seen, Some(cx));
    /// ```
    pub fn bind<F, R>(f: F) -> impl FnOnce() -> R + Send + 'static
    where
        F: FnOnce() -> R + Send + 'static,
    {
        let current = Self::get();
        let span = tracing::Span::current();
        move || {
            let _entered = span.enter();
            match current {
                Some(c) => c.scope(f),
                None => f(),
            }
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if self.active {
            let previous = self.previous.take();
            let _ = CURRENT.try_with(|c| {
                if let Ok(mut slot) = c.try_borrow_mut() {
                    *slot = previous;
                }
            });
        }
    }
}
