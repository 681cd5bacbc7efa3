use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use super::Server;
use crate::sampling::{HeadSampler, SamplingInput};
use crate::tower::{DefaultRoute, RouteExtractor};

pub(crate) struct Config {
    pub(crate) route: Box<dyn RouteExtractor>,
    pub(crate) request_id_header: HeaderName,
    pub(crate) echo_request_id: bool,
    pub(crate) tenant_header: Option<HeaderName>,
    pub(crate) scheme: &'static str,
    pub(crate) trace_response: bool,
    pub(crate) sampler: Option<Arc<dyn HeadSampler>>,
    #[cfg(feature = "otel")]
    pub(crate) otel: Option<opentelemetry::global::BoxedTracer>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("request_id_header", &self.request_id_header)
            .field("echo_request_id", &self.echo_request_id)
            .field("tenant_header", &self.tenant_header)
            .field("scheme", &self.scheme)
            .field("trace_response", &self.trace_response)
            .field("own_sampler", &self.sampler.is_some())
            .finish_non_exhaustive()
    }
}

/// Applies [`Server`] to a service: continues or starts the trace of every request, opens the
/// ingress span and makes the [`RequestContext`](crate::RequestContext) current.
///
/// Cheap to clone (the configuration is shared).
///
/// # Examples
///
/// ```
/// use stella_context::tower::ServerLayer;
///
/// let layer = ServerLayer::builder()
///     .with_request_id_header(http::HeaderName::from_static("x-correlation-id"))
///     .with_tenant_header(http::HeaderName::from_static("x-stella-tenant"))
///     .build();
/// # drop(layer);
/// ```
#[derive(Clone, Debug)]
pub struct ServerLayer {
    config: Arc<Config>,
}

/// Builds a [`ServerLayer`].
#[derive(Debug)]
#[must_use]
pub struct ServerLayerBuilder {
    config: Config,
}

impl ServerLayer {
    /// The layer with defaults: [`DefaultRoute`], `x-request-id` taken or generated and echoed on
    /// the response, no tenant header, scheme `http`.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> ServerLayerBuilder {
        ServerLayerBuilder {
            config: Config {
                route: Box::new(DefaultRoute),
                request_id_header: HeaderName::from_static("x-request-id"),
                echo_request_id: true,
                tenant_header: None,
                scheme: "http",
                trace_response: false,
                sampler: None,
                #[cfg(feature = "otel")]
                otel: None,
            },
        }
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayerBuilder {
    /// How the route template of a request is found.
    pub fn with_route_extractor(mut self, route: impl RouteExtractor) -> Self {
        self.config.route = Box::new(route);
        self
    }

    /// The header that carries the request id (default `x-request-id`).
    pub fn with_request_id_header(mut self, name: HeaderName) -> Self {
        self.config.request_id_header = name;
        self
    }

    /// Whether the request id is set on the response (default `true`).
    pub fn with_echo_request_id(mut self, echo: bool) -> Self {
        self.config.echo_request_id = echo;
        self
    }

    /// A header whose value becomes `tenant_id` (only behind a proxy that sets it; by default
    /// the tenant comes from authentication).
    pub fn with_tenant_header(mut self, name: HeaderName) -> Self {
        self.config.tenant_header = Some(name);
        self
    }

    /// The `url.scheme` to report (default `http`; `https` behind TLS termination).
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.config.scheme = scheme;
        self
    }

    /// Whether to answer with a `traceresponse` header (W3C Trace Context Level 2) naming the
    /// server span, so that a browser console or a CLI can show the trace id (default `false`).
    pub fn with_trace_response(mut self, enabled: bool) -> Self {
        self.config.trace_response = enabled;
        self
    }

    /// The head sampler that decides the `sampled` flag of each request's trace (default: the
    /// one registered with
    /// [`sampling::set_global_head_sampler`](crate::sampling::set_global_head_sampler), as
    /// `stella_telemetry::init()` does, else `parentbased_always_on`). It sees the caller's
    /// parent and the tenant from [`with_tenant_header`](Self::with_tenant_header).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use stella_context::sampling::{HeadSampler, SamplingInput};
    /// use stella_context::tower::ServerLayer;
    ///
    /// struct Never;
    /// impl HeadSampler for Never {
    ///     fn should_sample(&self, _: &SamplingInput<'_>) -> bool { false }
    /// }
    /// let layer = ServerLayer::builder().with_head_sampler(Arc::new(Never)).build();
    /// # drop(layer);
    /// ```
    pub fn with_head_sampler(mut self, sampler: Arc<dyn HeadSampler>) -> Self {
        self.config.sampler = Some(sampler);
        self
    }

    /// Also start an OpenTelemetry server span per request with `tracer`, parented on the
    /// extracted context; the trace continues with that span's id.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn with_otel_tracer(mut self, tracer: opentelemetry::global::BoxedTracer) -> Self {
        self.config.otel = Some(tracer);
        self
    }

    /// The layer.
    pub fn build(self) -> ServerLayer {
        ServerLayer {
            config: Arc::new(self.config),
        }
    }
}

impl Config {
    /// The head-sampling decision for a span of trace `trace_id`.
    pub(crate) fn sample(
        &self,
        trace_id: crate::TraceId,
        parent: Option<&crate::TraceContext>,
        tenant_id: Option<&str>,
    ) -> bool {
        let input = SamplingInput::new(trace_id)
            .with_parent(parent)
            .with_tenant_id(tenant_id);
        match &self.sampler {
            Some(s) => s.should_sample(&input),
            None => crate::sampling::should_sample(&input),
        }
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Server::from_parts(inner, self.config.clone())
    }
}
