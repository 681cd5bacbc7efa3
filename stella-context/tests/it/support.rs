//! Real HTTP/1.1 on loopback: hyper servers and a hyper-util client behind the layers.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stella_context::ClientLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

pub type Body = Full<Bytes>;
pub type HttpClient = stella_context::tower::Client<Client<HttpConnector, Body>>;

/// Serves `service` on an ephemeral loopback port until the runtime stops.
pub async fn serve<S>(service: S) -> SocketAddr
where
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| service.clone().oneshot(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A hyper-util client behind the `ClientLayer`.
pub fn client() -> HttpClient {
    ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http())
}

/// A plain client (no layer) to play the caller with hand-written headers.
pub fn raw_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` with `headers` and returns the response headers and body.
pub async fn post(
    client: &Client<HttpConnector, Body>,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (http::HeaderMap, Bytes) {
    let mut req = Request::post(url)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let resp = client.request(req).await.unwrap();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (headers, body)
}

pub fn ok(body: impl Into<Bytes>) -> Response<Body> {
    Response::new(Full::new(body.into()))
}
