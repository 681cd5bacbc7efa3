use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::CurrentContext;

pin_project! {
    /// The response future of [`Client`](super::Client): polls the call inside the client span
    /// and records the status.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        pub(crate) inner: F,
        pub(crate) span: tracing::Span,
        pub(crate) current: CurrentContext,
        pub(crate) otel: crate::tower::OtelSpan,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _span = this.span.enter();
        let _current = this.current.enter();
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_client_error() || status.is_server_error() {
                    this.span.record("error.type", status.as_str());
                    this.span.record("otel.status_code", "ERROR");
                }
                #[cfg(feature = "otel")]
                if let Some(otel) = this.otel.take() {
                    let failed = status.is_client_error() || status.is_server_error();
                    crate::otel::end_http_span(&otel, Some(status.as_u16()), failed, false);
                }
            }
            Err(_) => {
                this.span
                    .record("error.type", crate::tower::server::short_type_name::<E>());
                this.span.record("otel.status_code", "ERROR");
                #[cfg(feature = "otel")]
                if let Some(otel) = this.otel.take() {
                    crate::otel::end_http_span(&otel, None, true, false);
                }
            }
        }
        Poll::Ready(result)
    }
}
