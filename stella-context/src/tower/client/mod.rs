//! The outgoing-call middleware.
//!
//! ```
//! use std::convert::Infallible;
//! use stella_context::{ContextExt, CurrentContext, TraceContext};
//! use stella_context::tower::ClientLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A stand-in for an HTTP client (hyper-util, reqwest via tower, ...).
//! let mut client = ServiceBuilder::new()
//!     .layer(ClientLayer::new())
//!     .service_fn(|req: http::Request<String>| async move {
//!         let tp = req.headers()["traceparent"].to_str().unwrap_or_default().to_owned();
//!         Ok::<_, Infallible>(http::Response::new(tp))
//!     });
//!
//! let request_cx = TraceContext::new_root();
//! let call = async {
//!     let svc = client.ready().await?;
//!     svc.call(http::Request::new(String::new())).await
//! };
//! let sent = call.with_context(CurrentContext::from_trace(request_cx.clone())).await?;
//! let sent = sent.into_body();
//! assert!(sent.contains(&request_cx.trace_id().to_string()));
//! assert!(!sent.contains(&request_cx.span_id().to_string())); // a new parent id per call
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tower_service::Service;

pub use self::future::ResponseFuture;
pub use self::layer::ClientLayer;
use self::layer::Config;
use crate::CurrentContext;
#[cfg(not(feature = "otel"))]
use crate::TraceContext;
use crate::tower::method_name;

/// The outgoing-call service made by [`ClientLayer`].
///
/// For each request it takes the current [`TraceContext`](crate::TraceContext) (or starts a new trace when there is
/// none, as a CLI does), makes a child span context with a new parent id, and replaces any
/// `traceparent`, `tracestate` and `baggage` headers with exactly one version-`00` `traceparent`
/// and `tracestate`/`baggage` only when non-empty. It opens a `http.client` span (OpenTelemetry
/// client semantic-convention fields) around the call.
#[derive(Clone, Debug)]
pub struct Client<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Client<S> {
    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Client<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let parent = CurrentContext::get();
        let parent_trace = parent.as_ref().and_then(CurrentContext::trace);

        #[cfg(feature = "otel")]
        let (call, otel) =
            crate::otel::start_client(self.config.otel.as_deref(), &req, parent_trace);
        #[cfg(not(feature = "otel"))]
        let otel = None;
        #[cfg(not(feature = "otel"))]
        let call = parent_trace.map_or_else(TraceContext::new_root, TraceContext::child);

        call.inject(req.headers_mut());
        if let (Some(name), Some(id)) = (
            &self.config.propagate_request_id,
            parent
                .as_ref()
                .and_then(CurrentContext::request)
                .and_then(|r| r.request_id.as_deref()),
        ) && let Ok(value) = HeaderValue::from_str(id)
        {
            req.headers_mut().insert(name.clone(), value);
        }

        let current = parent.as_ref().map_or_else(
            || CurrentContext::from_trace(call.clone()),
            |p| p.with_trace(call.clone()),
        );
        let span = current.scope(|| {
            let uri = req.uri();
            tracing::info_span!(
                "http.client",
                otel.name = method_name(req.method()),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                http.request.method = method_name(req.method()),
                url.scheme = uri.scheme_str(),
                server.address = uri.host(),
                server.port = uri.port_u16(),
                http.response.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
                trace_id = call.trace_id().hex().as_str(),
                span_id = call.span_id().hex().as_str(),
                parent_span_id = parent_trace.map(|p| p.span_id().hex()).as_ref().map(crate::HexId::as_str),
            )
        });
        let inner = {
            let _span = span.enter();
            let _current = current.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            span,
            current,
            otel,
        }
    }
}
