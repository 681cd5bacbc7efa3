//! The current context across `.await`, `tokio::spawn`, `spawn_blocking`, with and without a
//! `tracing` subscriber.

use stella_context::{ContextExt, CurrentContext, RequestContext, TraceContext};

fn scoped() -> (TraceContext, CurrentContext) {
    let trace = TraceContext::new_root();
    let current = CurrentContext::from_trace(trace.clone())
        .with_request(RequestContext::new().with_tenant_id("acme"));
    (trace, current)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_carries_context_with_helper() {
    let (trace, current) = scoped();
    let task = current.scope(|| {
        async {
            tokio::task::yield_now().await;
            (TraceContext::current(), RequestContext::current())
        }
        .in_current_context()
    });
    let (t, r) = tokio::spawn(task).await.unwrap();
    assert_eq!(t, Some(trace));
    assert_eq!(r.and_then(|r| r.tenant_id).as_deref(), Some("acme"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_without_helper_loses_context() {
    let (_, current) = scoped();
    let task = current.scope(|| async { TraceContext::current() });
    assert_eq!(tokio::spawn(task).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_with_bind() {
    let (trace, current) = scoped();
    let f = current.scope(|| CurrentContext::bind(TraceContext::current));
    assert_eq!(tokio::task::spawn_blocking(f).await.unwrap(), Some(trace));
}

#[test]
fn nested_scopes_restore() {
    let (outer, current) = scoped();
    let inner = TraceContext::new_root();
    current.scope(|| {
        CurrentContext::from_trace(inner.clone()).scope(|| {
            assert_eq!(TraceContext::current(), Some(inner.clone()));
            assert!(RequestContext::current().is_none());
        });
        assert_eq!(TraceContext::current(), Some(outer.clone()));
    });
    assert!(CurrentContext::get().is_none());
}

#[test]
fn with_subscriber_installed() {
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        let (trace, current) = scoped();
        current.scope(|| {
            let _span = tracing::info_span!("work").entered();
            assert_eq!(TraceContext::current(), Some(trace.clone()));
        });
    });
}

#[cfg(feature = "subscriber")]
mod span_extensions {
    use std::sync::{Arc, Mutex};

    use stella_context::subscriber::ContextLayer;
    use stella_context::{CurrentContext, TraceContext};
    use tracing::Instrument;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::scoped;

    /// What a JSON logger does: read the context from the event's span scope.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Option<String>>>>);

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let tenant = ctx.event_scope(event).and_then(|scope| {
                scope.into_iter().find_map(|span| {
                    span.extensions()
                        .get::<CurrentContext>()
                        .and_then(|c| c.request().and_then(|r| r.tenant_id.clone()))
                })
            });
            self.0.lock().unwrap().push(tenant);
        }
    }

    #[test]
    fn logger_reads_context_from_span() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(ContextLayer::new())
            .with(capture.clone());
        tracing::subscriber::with_default(subscriber, || {
            let (trace, current) = scoped();
            let span = current.scope(|| tracing::info_span!("request"));
            // Outside the scope, inside the span: found through the span.
            let _entered = span.enter();
            tracing::info!("inside");
            assert_eq!(TraceContext::current(), Some(trace));
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(capture.clone()),
            || {
                tracing::info!("no context");
            },
        );
        assert_eq!(*capture.0.lock().unwrap(), [Some("acme".to_owned()), None]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn instrumented_future_finds_context_through_span() {
        let subscriber = tracing_subscriber::registry().with(ContextLayer::new());
        let _default = tracing::subscriber::set_default(subscriber);
        let (trace, current) = scoped();
        let span = current.scope(|| tracing::info_span!("job"));
        let seen = tokio::spawn(async { TraceContext::current() }.instrument(span))
            .await
            .unwrap();
        assert_eq!(seen, Some(trace));
    }
}
