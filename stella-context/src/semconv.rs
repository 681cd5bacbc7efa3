//! OpenTelemetry semantic-convention helpers.

/// The `http.request.method` value: the method if it is a standard one, `_OTHER` otherwise.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}
