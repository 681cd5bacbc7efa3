//! A small instrumented HTTP service: `stella_telemetry::init()` plus `stella_context`'s
//! `ServerLayer`, printing scrubbed JSON log lines with the common fields.
//!
//! ```text
//! cargo run -p stella-examples --bin instrumented-service            # one-shot: 3 self-requests, then exit
//! cargo run -p stella-examples --bin instrumented-service -- --serve # keep serving on 127.0.0.1:8080
//! ```
//!
//! The one-shot run binds a loopback port, sends three requests to itself (an SBOM evaluation
//! for tenant `acme` with a caller `traceparent`, a health check, an unknown route), and exits;
//! the guard flushes the log on the way out. Every line on standard output is one JSON object
//! valid against `stella-telemetry/schema/log-line.schema.json`: the tenant set on the request
//! span appears on every line of the request, also in the spawned task; the email, the bearer
//! token and the password in the handler's messages come out as `[REDACTED:<kind>]`. Settings
//! come from the environment (`STELLA_ENV`, `STELLA_LOG`, `STELLA_LOG_OUTPUT`, ...).

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stella_context::{ContextExt as _, ServerLayer};
use stella_telemetry::Config;
use stella_telemetry::decision::{Decision, Effect};
use tower::{Service, ServiceBuilder, ServiceExt as _};

/// The route template of a request (never its raw path: ids stay out of span names).
fn route(_: &Method, uri: &http::Uri, _: &http::Extensions) -> Option<String> {
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["health"] => Some("/health".to_owned()),
        ["tenants", _, "sboms", _, "evaluate"] => {
            Some("/tenants/{tenant}/sboms/{id}/evaluate".to_owned())
        }
        _ => None,
    }
}

#[derive(Debug)]
struct UpstreamError {
    detail: String,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "advisory feed unreachable: {}", self.detail)
    }
}

impl std::error::Error for UpstreamError {}

#[derive(Debug)]
struct EvaluateError(UpstreamError);

impl std::fmt::Display for EvaluateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("advisory enrichment skipped")
    }
}

impl std::error::Error for EvaluateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

async fn evaluate(tenant: &str, sbom: &str) -> Response<Full<Bytes>> {
    let span = tracing::Span::current();
    span.record("project_id", "proj-payments");
    span.record("actor", "user-8731");
    tracing::info!(
        sbom_id = sbom,
        components = 5_000_u64,
        "evaluating for alice@example.com with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    );
    Decision::authz(Effect::Allow)
        .with_resource(format!("tenants/{tenant}/sboms"))
        .with_action("sbom:evaluate")
        .with_scopes([format!("stella:policy:evaluate#tenant/{tenant}")])
        .with_reason("scope_granted")
        .emit();

    // Work in a spawned task keeps the tenant and trace because it carries the context.
    let enrich = tokio::spawn(
        async {
            tracing::info!(
                source_id = "nvd",
                "enriching advisories (db password=hunter2)"
            );
            Err::<(), _>(EvaluateError(UpstreamError {
                detail: "connect to 203.0.113.9:443 timed out".to_owned(),
            }))
        }
        .in_current_context(),
    );
    if let Ok(Err(e)) = enrich.await {
        tracing::warn!(
            error = &e as &dyn std::error::Error,
            error_code = "ADVISORY_FEED",
            "continuing without enrichment"
        );
    }

    Decision::policy(Effect::Deny)
        .with_policy_version("2026.11.3")
        .with_rule_ids(["no-critical-cves", "sbom-signed"])
        .with_resource(format!("sbom/{sbom}"))
        .with_reason("2 critical vulnerabilities without VEX")
        .emit();
    respond(StatusCode::OK, "{\"effect\":\"deny\"}")
}

fn respond(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Ok(match parts.as_slice() {
        ["health"] => {
            tracing::debug!("health check");
            respond(StatusCode::OK, "ok")
        }
        ["tenants", tenant, "sboms", sbom, "evaluate"] if req.method() == Method::POST => {
            evaluate(tenant, sbom).await
        }
        _ => {
            tracing::warn!(
                error_code = "NOT_FOUND",
                "no route for {path} (caller token=ghp_R3alLooking0Token1234567890abcdefABCD)"
            );
            respond(StatusCode::NOT_FOUND, "{}")
        }
    })
}

async fn serve(listener: tokio::net::TcpListener) {
    let service = ServiceBuilder::new()
        .layer(
            ServerLayer::builder()
                .with_route_extractor(route)
                .with_tenant_header(http::HeaderName::from_static("x-tenant-id"))
                .build(),
        )
        .service_fn(handle);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
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
                tracing::debug!(error = %err, "connection closed");
            }
        });
    }
}

async fn self_requests(addr: SocketAddr) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let requests = [
        Request::post(format!(
            "http://{addr}/tenants/acme/sboms/sbom-7f3c/evaluate"
        ))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-tenant-id", "acme")
        .body(Full::new(Bytes::new()))?,
        Request::get(format!("http://{addr}/health")).body(Full::new(Bytes::new()))?,
        Request::get(format!("http://{addr}/admin/users/bob@example.com"))
            .body(Full::new(Bytes::new()))?,
    ];
    for req in requests {
        let resp = client.request(req).await.context("self-request")?;
        resp.into_body()
            .collect()
            .await
            .context("reading the response")?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    let telemetry = stella_telemetry::init(Config::from_env(
        "instrumented-service",
        env!("CARGO_PKG_VERSION"),
    ))?;

    let addr: SocketAddr = if keep_serving {
        "127.0.0.1:8080"
    } else {
        "127.0.0.1:0"
    }
    .parse()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, "instrumented-service ready");
    let server = tokio::spawn(serve(listener));
    if keep_serving {
        server.await?;
    } else {
        self_requests(addr).await?;
        server.abort();
        tracing::info!(lines = telemetry.stats().lines, "done");
    }
    telemetry.shutdown()?;
    Ok(())
}
