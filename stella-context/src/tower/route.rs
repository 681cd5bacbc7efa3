//! Route extraction for the ingress span name.

use http::{Extensions, Method, Uri};

/// Finds the route template (`/tenants/{tenant}/sboms`) of a request, never its raw path.
///
/// The ingress span is named `api.<route>`; a request without a route gets `api.unmatched`.
/// Closures `Fn(&Method, &Uri, &Extensions) -> Option<String>` are extractors too.
///
/// # Examples
///
/// ```
/// use stella_context::tower::ServerLayer;
///
/// let layer = ServerLayer::builder()
///     .with_route_extractor(|_: &http::Method, uri: &http::Uri, _: &http::Extensions| {
///         uri.path().starts_with("/health").then(|| "/health".to_owned())
///     })
///     .build();
/// # drop(layer);
/// ```
pub trait RouteExtractor: Send + Sync + 'static {
    /// The route template, or `None`.
    fn route(&self, method: &Method, uri: &Uri, extensions: &Extensions) -> Option<String>;
}

impl<F> RouteExtractor for F
where
    F: Fn(&Method, &Uri, &Extensions) -> Option<String> + Send + Sync + 'static,
{
    fn route(&self, method: &Method, uri: &Uri, extensions: &Extensions) -> Option<String> {
        self(method, uri, extensions)
    }
}

/// A route template put in the request extensions by a router (or a middleware before the
/// [`ServerLayer`](super::ServerLayer)).
///
/// # Examples
///
/// ```
/// use stella_context::tower::Route;
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(Route::new("/sboms/{id}"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route(String);

impl Route {
    /// A route template.
    pub fn new(template: impl Into<String>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The default extractor: axum's `MatchedPath` (with the `axum` feature), then a [`Route`]
/// extension.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultRoute;

impl RouteExtractor for DefaultRoute {
    fn route(&self, _method: &Method, _uri: &Uri, extensions: &Extensions) -> Option<String> {
        #[cfg(feature = "axum")]
        if let Some(matched) = extensions.get::<axum::extract::MatchedPath>() {
            return Some(matched.as_str().to_owned());
        }
        extensions.get::<Route>().map(|r| r.0.clone())
    }
}
