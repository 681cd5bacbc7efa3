//! Server -> client -> second server over real loopback HTTP shows one trace.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::Request;
use hyper::body::Incoming;
use stella_context::tower::{AuthDecision, IngressSpan};
use stella_context::{ContextExt, RequestContext, ServerLayer, TraceContext, TraceParent};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{self, Body, ok};

#[derive(Clone, Debug)]
struct Seen {
    headers: http::HeaderMap,
    trace: Option<TraceContext>,
    request: Option<RequestContext>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The downstream service B: records what it received and its current context.
async fn downstream(log: Log) -> String {
    let svc = ServiceBuilder::new().layer(ServerLayer::new()).service_fn(
        move |req: Request<Incoming>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Seen {
                    headers: req.headers().clone(),
                    trace: TraceContext::current(),
                    request: RequestContext::current(),
                });
                Ok::<_, Infallible>(ok("b"))
            }
        },
    );
    format!("http://{}/b", support::serve(svc).await)
}

/// The upstream service A: calls B twice in sequence and once from a spawned task.
async fn upstream(b_url: String, log: Log) -> String {
    let client = support::client();
    let svc = ServiceBuilder::new().layer(ServerLayer::new()).service_fn(
        move |req: Request<Incoming>| {
            let client = client.clone();
            let b_url = b_url.clone();
            let log = log.clone();
            async move {
                if let Some(span) = req.extensions().get::<IngressSpan>() {
                    AuthDecision::allow()
                        .with_method("bearer")
                        .record_on(span.span());
                }
                log.lock().unwrap().push(Seen {
                    headers: req.headers().clone(),
                    trace: TraceContext::current(),
                    request: RequestContext::current(),
                });
                for _ in 0..2 {
                    let call = Request::post(b_url.as_str()).body(Body::default()).unwrap();
                    client.clone().oneshot(call).await.unwrap();
                }
                let spawned_client = client.clone();
                let url = b_url.clone();
                tokio::spawn(
                    async move {
                        let call = Request::post(url.as_str()).body(Body::default()).unwrap();
                        spawned_client.oneshot(call).await.unwrap();
                    }
                    .in_current_context(),
                )
                .await
                .unwrap();
                Ok::<_, Infallible>(ok("a"))
            }
        },
    );
    format!("http://{}/a", support::serve(svc).await)
}

async fn run(headers: &[(&str, &str)]) -> (Vec<Seen>, Vec<Seen>, http::HeaderMap) {
    let a_log = Log::default();
    let b_log = Log::default();
    let b = downstream(b_log.clone()).await;
    let a = upstream(b, a_log.clone()).await;
    let (resp_headers, body) = support::post(&support::raw_client(), &a, headers, "").await;
    assert_eq!(body, "a");
    let a_seen = a_log.lock().unwrap().clone();
    let b_seen = b_log.lock().unwrap().clone();
    (a_seen, b_seen, resp_headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_through_two_servers() {
    let (a, b, resp) = run(&[
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
        ("baggage", "tier=gold"),
        ("x-request-id", "req-123"),
    ])
    .await;
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 3);
    let a_trace = a[0].trace.clone().unwrap();
    assert_eq!(
        a_trace.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(a_trace.span_id().to_string(), "00f067aa0ba902b7");
    assert_eq!(
        a[0].request.as_ref().unwrap().request_id.as_deref(),
        Some("req-123")
    );
    assert_eq!(resp["x-request-id"], "req-123");

    let mut parents = std::collections::HashSet::new();
    for seen in &b {
        assert_eq!(seen.headers.get_all("traceparent").iter().count(), 1);
        let tp: TraceParent = seen.headers["traceparent"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(tp.version(), 0);
        assert_eq!(tp.trace_id(), a_trace.trace_id());
        assert_ne!(
            tp.parent_id(),
            a_trace.span_id(),
            "each call is a new client span"
        );
        parents.insert(tp.parent_id());
        assert_eq!(seen.headers["tracestate"], "congo=t61rcWkgMzE");
        assert_eq!(seen.headers["baggage"], "tier=gold");
        assert!(
            seen.headers.get("x-request-id").is_none(),
            "not propagated by default"
        );
        let b_trace = seen.trace.clone().unwrap();
        assert_eq!(b_trace.trace_id(), a_trace.trace_id());
        assert!(seen.request.as_ref().unwrap().request_id.is_some());
    }
    assert_eq!(parents.len(), 3, "a new parent id per call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_trace_when_traceparent_invalid() {
    let (a, b, resp) = run(&[
        (
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
    ])
    .await;
    let a_trace = a[0].trace.clone().unwrap();
    assert_ne!(
        a_trace.trace_id().to_string(),
        "00000000000000000000000000000000"
    );
    assert!(a_trace.flags().is_random());
    for seen in &b {
        assert!(
            seen.headers.get("tracestate").is_none(),
            "tracestate dropped with the trace"
        );
        assert!(seen.headers.get("baggage").is_none());
        assert_eq!(seen.trace.as_ref().unwrap().trace_id(), a_trace.trace_id());
    }
    let generated = resp["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32);
}

#[tokio::test(flavor = "current_thread")]
async fn trace_response_names_the_server_span() {
    use tower::Service;
    let mut svc = ServiceBuilder::new()
        .layer(ServerLayer::builder().with_trace_response(true).build())
        .service_fn(|_req: Request<String>| async {
            let cx = TraceContext::current().unwrap();
            Ok::<_, Infallible>(http::Response::new(cx.span_id().to_string()))
        });
    let req = Request::builder()
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(String::new())
        .unwrap();
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    let tr: TraceParent = resp.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        tr.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(tr.parent_id().to_string(), *resp.body());
}

#[cfg(feature = "axum")]
mod axum_route {
    use std::sync::{Arc, Mutex};

    use stella_context::ServerLayer;
    use tower::ServiceExt;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    #[derive(Clone, Default)]
    struct Names(Arc<Mutex<Vec<String>>>);

    struct NameVisitor<'a>(&'a mut Option<String>);

    impl Visit for NameVisitor<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "otel.name" {
                *self.0 = Some(format!("{value:?}"));
            }
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Names {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            let mut name = None;
            attrs.record(&mut NameVisitor(&mut name));
            if let Some(name) = name {
                self.0.lock().unwrap().push(name);
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn span_named_after_matched_path() {
        let names = Names::default();
        let _default =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(names.clone()));
        let app = axum::Router::new()
            .route(
                "/tenants/{tenant}/sboms/{id}",
                axum::routing::get(|| async { "ok" }),
            )
            .layer(ServerLayer::new());
        let req = http::Request::get("/tenants/acme/sboms/42")
            .body(String::new())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let req = http::Request::get("/nowhere").body(String::new()).unwrap();
        assert_eq!(app.oneshot(req).await.unwrap().status(), 404);
        let names = names.0.lock().unwrap().clone();
        assert_eq!(names[0], "api./tenants/{tenant}/sboms/{id}");
        assert!(names.iter().all(|n| !n.contains("acme")), "{names:?}");
    }
}
