//! Carrying the context into spawned futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::CurrentContext;

pin_project! {
    /// A future that makes a [`CurrentContext`] (and a `tracing` span) current on every poll.
    ///
    /// Made by [`ContextExt`]. The runtime may poll it on any thread.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        context: Option<CurrentContext>,
        span: tracing::Span,
    }
}

impl<F> WithContext<F> {
    /// Wraps `inner` so that `context` and `span` are current while it is polled.
    pub fn new(inner: F, context: Option<CurrentContext>, span: tracing::Span) -> Self {
        Self {
            inner,
            context,
            span,
        }
    }

    /// The context made current on each poll.
    pub fn context(&self) -> Option<&CurrentContext> {
        self.context.as_ref()
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _span = this.span.enter();
        let _guard = this.context.as_ref().map(CurrentContext::enter);
        this.inner.poll(cx)
    }
}

/// Carries the current context into futures that run elsewhere (`tokio::spawn`, join sets,
/// executors): `tokio::spawn(work().in_current_context())`.
///
/// Most stacks lose the context at `spawn`, because it lives in a thread-local and the task
/// may run on another thread. This trait captures it when the future is created and sets it
/// around every poll.
///
/// # Examples
///
/// ```
/// use stella_context::{ContextExt, CurrentContext, TraceContext};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cx = TraceContext::new_root();
/// let task = CurrentContext::from_trace(cx.clone())
///     .scope(|| async { TraceContext::current() }.in_current_context());
/// let seen = tokio::spawn(task).await?;
/// assert_eq!(seen, Some(cx));
/// # Ok(())
/// # }
/// ```
pub trait ContextExt: Sized {
    /// Captures the current context and `tracing` span now and sets them on every poll.
    fn in_current_context(self) -> WithContext<Self> {
        WithContext::new(self, CurrentContext::get(), tracing::Span::current())
    }

    /// Sets `context` on every poll (keeping the `tracing` span current now).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{ContextExt, CurrentContext, RequestContext};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Auth middleware learned the tenant: run the rest of the request with it.
    /// let updated = CurrentContext::from_request(RequestContext::new().with_tenant_id("acme"));
    /// let tenant = async { RequestContext::current().and_then(|r| r.tenant_id) }
    ///     .with_context(updated)
    ///     .await;
    /// assert_eq!(tenant.as_deref(), Some("acme"));
    /// # }
    /// ```
    fn with_context(self, context: CurrentContext) -> WithContext<Self> {
        WithContext::new(self, Some(context), tracing::Span::current())
    }
}

impl<F: Future> ContextExt for F {}
