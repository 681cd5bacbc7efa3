//! tower middleware: [`ServerLayer`] for ingress and [`ClientLayer`] for outgoing calls.
//!
//! Both are generic over request and response bodies (http 1.x) and runtime-free.
//!
//! ```
//! use std::convert::Infallible;
//! use stella_context::tower::{ClientLayer, ServerLayer};
//! use tower::ServiceBuilder;
//!
//! let server = ServiceBuilder::new()
//!     .layer(ServerLayer::new())
//!     .service_fn(|_req: http::Request<String>| async {
//!         Ok::<_, Infallible>(http::Response::new(String::new()))
//!     });
//! let client = ServiceBuilder::new()
//!     .layer(ClientLayer::new())
//!     .service_fn(|_req: http::Request<String>| async {
//!         Ok::<_, Infallible>(http::Response::new(String::new()))
//!     });
//! # drop((server, client));
//! ```

mod auth;
mod client;
mod route;
mod server;

pub use self::auth::{AuthDecision, AuthOutcome, IngressSpan};
pub use self::client::{Client, ClientLayer, ResponseFuture as ClientResponseFuture};
pub use self::route::{DefaultRoute, Route, RouteExtractor};
pub use self::server::{
    ResponseFuture as ServerResponseFuture, Server, ServerLayer, ServerLayerBuilder,
};
pub(crate) use crate::semconv::method_name;

/// The OpenTelemetry span a response future ends (nothing without the `otel` feature).
#[cfg(feature = "otel")]
pub(crate) type OtelSpan = Option<opentelemetry::Context>;
/// The OpenTelemetry span a response future ends (nothing without the `otel` feature).
#[cfg(not(feature = "otel"))]
pub(crate) type OtelSpan = Option<std::convert::Infallible>;
