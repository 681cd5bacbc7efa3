use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;

use crate::CurrentContext;

pin_project! {
    /// The response future of [`Server`](super::Server): polls the inner future inside the
    /// ingress span with the request's context current, then records the status.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        pub(crate) inner: F,
        pub(crate) span: tracing::Span,
        pub(crate) current: CurrentContext,
        pub(crate) echo: Option<(HeaderName, HeaderValue)>,
        pub(crate) trace_response: Option<HeaderValue>,
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
        #[cfg(feature = "otel")]
        let _otel = this.otel.as_ref().map(|c| c.clone().attach());
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    this.span.record("error.type", status.as_str());
                    this.span.record("otel.status_code", "ERROR");
                }
                #[cfg(feature = "otel")]
                if let Some(otel) = this.otel.take() {
                    crate::otel::end_http_span(
                        &otel,
                        Some(status.as_u16()),
                        status.is_server_error(),
                        true,
                    );
                }
            }
            Err(_) => {
                this.span.record("error.type", short_type_name::<E>());
                this.span.record("otel.status_code", "ERROR");
                #[cfg(feature = "otel")]
                if let Some(otel) = this.otel.take() {
                    crate::otel::end_http_span(&otel, None, true, true);
                }
            }
        }
        let mut result = result;
        if let Ok(response) = &mut result {
            if let Some((name, value)) = this.echo.take() {
                response.headers_mut().entry(name).or_insert(value);
            }
            if let Some(value) = this.trace_response.take() {
                response.headers_mut().insert(TRACERESPONSE, value);
            }
        }
        Poll::Ready(result)
    }
}

const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// The last path segment of a type name (`std::io::Error` -> `Error`), generics dropped.
pub(crate) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}
