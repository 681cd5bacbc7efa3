//! The ingress middleware.
//!
//! ```
//! use std::convert::Infallible;
//! use stella_context::{RequestContext, TraceContext};
//! use stella_context::tower::ServerLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut svc = ServiceBuilder::new()
//!     .layer(ServerLayer::new())
//!     .service_fn(|req: http::Request<String>| async move {
//!         // The context is in the extensions and current in handler code.
//!         let from_ext = req.extensions().get::<RequestContext>().cloned();
//!         assert_eq!(RequestContext::current(), from_ext);
//!         let trace = TraceContext::current().map(|t| t.trace_id().to_string()).unwrap_or_default();
//!         Ok::<_, Infallible>(http::Response::new(trace))
//!     });
//!
//! let req = http::Request::builder()
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(String::new())?;
//! let resp = svc.ready().await?.call(req).await?;
//! assert_eq!(resp.body(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(resp.headers().contains_key("x-request-id"));
//! assert!(!resp.headers().contains_key("traceresponse")); // opt in with `with_trace_response`
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
pub(crate) use self::future::short_type_name;
use self::layer::Config;
pub use self::layer::{ServerLayer, ServerLayerBuilder};
use crate::tower::{IngressSpan, method_name};
use crate::{CurrentContext, HexId, RequestContext, TraceContext};

/// The longest `x-request-id` taken from a request; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The ingress service made by [`ServerLayer`].
///
/// For each request it:
/// 1. continues the caller's trace from `traceparent`/`tracestate`/`baggage` (or starts a new
///    one when they are missing or invalid), as a new server span whose `sampled` flag is the
///    head sampler's decision (see [`crate::sampling`]: the caller's flag, or the configured
///    ratio for a new trace, raised by per-tenant policies such as incident mode);
/// 2. takes the request id from `x-request-id` (visible ASCII, at most 128 bytes) or generates
///    one;
/// 3. puts the [`TraceContext`], the [`RequestContext`] and an [`IngressSpan`] in the request
///    extensions;
/// 4. opens the span `api` named `api.<route>` for OpenTelemetry (`otel.name`), with the HTTP
///    semantic-convention fields (`http.request.method`, `http.route`, `url.scheme`,
///    `server.address`, `server.port`, `network.protocol.version`, `http.response.status_code`,
///    `error.type`), `trace_id`, `span_id`, `parent_span_id`, `request_id`, `tenant_id`,
///    `project_id`, `actor`, and empty `auth.*` fields for [`AuthDecision`](super::AuthDecision);
/// 5. polls the inner service inside that span with the context current.
#[derive(Clone, Debug)]
pub struct Server<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Server<S> {
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

fn valid_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= MAX_REQUEST_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(s)
}

/// A new request id: 32 random lowercase hex digits.
pub(crate) fn new_request_id() -> String {
    crate::TraceId::random().to_string()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Server<S>
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
        let config = &self.config;
        let remote = TraceContext::extract(req.headers());
        let route = config
            .route
            .route(req.method(), req.uri(), req.extensions());

        let mut request = RequestContext::new();
        if let Some(tenant) = config
            .tenant_header
            .as_ref()
            .and_then(|h| req.headers().get(h))
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
        {
            request = request.with_tenant_id(tenant);
        }
        // Continue the caller's trace or start one, sampled as the head sampler decides.
        let fallback = match &remote {
            Some(r) => r.child(),
            None => {
                TraceContext::new_root().with_baggage(TraceContext::extract_baggage(req.headers()))
            }
        };
        let sampled = config.sample(
            fallback.trace_id(),
            remote.as_ref(),
            request.tenant_id.as_deref(),
        );
        let fallback = fallback.with_sampled(sampled);

        #[cfg(feature = "otel")]
        let (trace, otel) = crate::otel::start_server(
            config.otel.as_ref(),
            &req,
            route.as_deref(),
            remote.as_ref(),
            fallback,
            request.tenant_id.as_deref(),
        );
        #[cfg(not(feature = "otel"))]
        let otel = None;
        #[cfg(not(feature = "otel"))]
        let trace = fallback;

        let request_id = req
            .headers()
            .get(&config.request_id_header)
            .and_then(valid_request_id)
            .map_or_else(new_request_id, str::to_owned);
        let request = request.with_request_id(request_id);
        let echo = config
            .echo_request_id
            .then(|| {
                request
                    .request_id
                    .as_deref()
                    .and_then(|id| HeaderValue::from_str(id).ok())
                    .map(|v| (config.request_id_header.clone(), v))
            })
            .flatten();

        let trace_response = config
            .trace_response
            .then(|| HeaderValue::from_bytes(&trace.traceparent().to_propagated().to_bytes()).ok())
            .flatten();
        let current = CurrentContext::new(Some(trace.clone()), Some(request.clone()));
        let span = current.scope(|| {
            let uri = req.uri();
            let host = uri.host().map(str::to_owned).or_else(|| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned())
            });
            let port = uri.port_u16().or_else(|| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| h.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok())
            });
            let scheme = uri.scheme_str().unwrap_or(config.scheme);
            let name = route.as_deref().unwrap_or("unmatched");
            tracing::info_span!(
                "api",
                otel.name = %format_args!("api.{name}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                http.request.method = method_name(req.method()),
                http.route = route.as_deref(),
                url.scheme = scheme,
                server.address = host.as_deref(),
                server.port = port,
                network.protocol.version = protocol_version(req.version()),
                http.response.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
                // Formatted only when the span is enabled (the macro evaluates its values
                // then), as text: no formatting machinery.
                trace_id = trace.trace_id().hex().as_str(),
                span_id = trace.span_id().hex().as_str(),
                parent_span_id = remote.as_ref().map(|r| r.span_id().hex()).as_ref().map(HexId::as_str),
                request_id = request.request_id.as_deref(),
                tenant_id = request.tenant_id.as_deref(),
                project_id = tracing::field::Empty,
                actor = tracing::field::Empty,
                auth.decision = tracing::field::Empty,
                auth.method = tracing::field::Empty,
                auth.reason = tracing::field::Empty,
                auth.scope = tracing::field::Empty,
            )
        });

        let extensions = req.extensions_mut();
        extensions.insert(trace);
        extensions.insert(request);
        extensions.insert(IngressSpan(span.clone()));

        let inner = {
            let _span = span.enter();
            let _current = current.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            span,
            current,
            echo,
            trace_response,
            otel,
        }
    }
}

fn protocol_version(v: http::Version) -> Option<&'static str> {
    match v {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}
