use std::sync::Arc;

use tower_layer::Layer;

use super::Client;

#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) propagate_request_id: Option<http::HeaderName>,
    #[cfg(feature = "otel")]
    pub(crate) otel: Option<Arc<opentelemetry::global::BoxedTracer>>,
}

/// Applies [`Client`] to an HTTP client service: every outgoing request carries the current
/// trace context, with a new parent id per call.
///
/// Cheap to clone (the configuration is shared).
///
/// # Examples
///
/// ```
/// use stella_context::tower::ClientLayer;
///
/// let layer = ClientLayer::new().with_request_id_header(http::HeaderName::from_static("x-request-id"));
/// # drop(layer);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    config: Arc<Config>,
}

impl ClientLayer {
    /// The layer: propagates `traceparent`, `tracestate` and `baggage` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also sends the current `request_id` in `name` (off by default).
    #[must_use]
    pub fn with_request_id_header(self, name: http::HeaderName) -> Self {
        let mut config = (*self.config).clone();
        config.propagate_request_id = Some(name);
        Self {
            config: Arc::new(config),
        }
    }

    /// Also start an OpenTelemetry client span per call with `tracer`, parented on the current
    /// context; the injected parent id is that span's id.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    #[must_use]
    pub fn with_otel_tracer(self, tracer: opentelemetry::global::BoxedTracer) -> Self {
        let mut config = (*self.config).clone();
        config.otel = Some(Arc::new(tracer));
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Client::from_parts(inner, self.config.clone())
    }
}
