//! A service for the W3C trace-context test suite (`test/test.py` of w3c/trace-context).
//!
//! ```text
//! cargo run -p stella-examples --bin tracecontext-test-service -- --listen 127.0.0.1:5000
//! python test.py http://127.0.0.1:5000/test
//! ```
//!
//! `POST /test` takes a JSON array of `{"url": ..., "arguments": ...}` (a single object counts as
//! a one-element array; a missing `arguments` means `[]`). For each element, in order, it POSTs
//! `json(arguments)` to `url` through `stella_context::ClientLayer` and, once every call has
//! finished, answers `200 {}`. The trace comes only from the layers: `ServerLayer` continues the
//! caller's trace (or starts one), and `ClientLayer` sends one version-00 `traceparent` with a
//! new parent id per call, plus `tracestate`/`baggage` when non-empty. No other inbound header
//! is copied.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stella_context::{ClientLayer, ServerLayer};
use tower::{Service, ServiceBuilder, ServiceExt};

type HttpClient = stella_context::tower::Client<Client<HttpConnector, Full<Bytes>>>;

fn listen_addr() -> anyhow::Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:5000".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().context("--listen needs an address")?,
            "-h" | "--help" => {
                println!("usage: tracecontext-test-service [--listen ADDR]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    listen
        .parse()
        .with_context(|| format!("invalid listen address {listen:?}"))
}

/// The calls asked for: `(url, arguments)`.
fn parse_calls(body: &[u8]) -> Option<Vec<(String, serde_json::Value)>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| {
            let url = item.get("url")?.as_str()?.to_owned();
            let arguments = item
                .get("arguments")
                .cloned()
                .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
            Some((url, arguments))
        })
        .collect()
}

fn respond(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn call(client: &HttpClient, url: &str, arguments: &serde_json::Value) -> anyhow::Result<()> {
    let body = serde_json::to_vec(arguments)?;
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = client.clone().oneshot(req).await?;
    // Read the answer to the end so the connection can be reused.
    resp.into_body().collect().await?;
    Ok(())
}

async fn handle(
    client: HttpClient,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/test" {
        return Ok(respond(StatusCode::NOT_FOUND, "{}"));
    }
    if req.method() != Method::POST {
        return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, "{}"));
    }
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(respond(StatusCode::BAD_REQUEST, "{}")),
    };
    let Some(calls) = parse_calls(&body) else {
        return Ok(respond(StatusCode::BAD_REQUEST, "{}"));
    };
    for (url, arguments) in &calls {
        if let Err(err) = call(&client, url, arguments).await {
            eprintln!("call to {url} failed: {err:#}");
        }
    }
    Ok(respond(StatusCode::OK, "{}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = listen_addr()?;
    let client: HttpClient = ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http());
    let service = ServiceBuilder::new()
        .layer(ServerLayer::builder().with_echo_request_id(false).build())
        .service_fn(move |req| handle(client.clone(), req));

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!(
        "tracecontext-test-service listening on http://{}/test",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                eprintln!("accept failed: {err}");
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            let hyper_service = hyper::service::service_fn(move |req| {
                let mut service = service.clone();
                async move { service.ready().await?.call(req).await }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper_service)
                .await
            {
                eprintln!("connection error: {err}");
            }
        });
    }
}
