//! The cases of the W3C trace-context test suite (`test/test.py` of w3c/trace-context), run
//! against a service built like `examples/src/bin/tracecontext-test-service.rs`: the harness
//! sends headers to the service, the service calls the harness back through `ClientLayer`, and
//! the callbacks' headers are checked.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use stella_context::{ServerLayer, TraceParent, TraceState};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{self, Body, ok};

const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP0: &str = "00-12345678901234567890123456789012-1234567890123456-00";
const TRACE: &str = "12345678901234567890123456789012";

type Callbacks = Arc<Mutex<HashMap<String, http::HeaderMap>>>;

struct Harness {
    service_url: String,
    harness_url: String,
    callbacks: Callbacks,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Body,
    >,
}

impl Harness {
    async fn start() -> Self {
        let callbacks = Callbacks::default();
        let log = callbacks.clone();
        let harness = ServiceBuilder::new().service_fn(move |req: Request<Incoming>| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .insert(req.uri().path().to_owned(), req.headers().clone());
                Ok::<_, Infallible>(ok("null"))
            }
        });
        let harness_url = format!("http://{}", support::serve(harness).await);

        // The service under test, as the example builds it.
        let client = support::client();
        let service = ServiceBuilder::new().layer(ServerLayer::new()).service_fn(
            move |req: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let items = match value {
                        serde_json::Value::Array(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        let url = item["url"].as_str().unwrap().to_owned();
                        let args = item
                            .get("arguments")
                            .cloned()
                            .unwrap_or(serde_json::json!([]));
                        let call = Request::post(url)
                            .header("content-type", "application/json")
                            .body(Body::from(serde_json::to_vec(&args).unwrap()))
                            .unwrap();
                        client.clone().oneshot(call).await.unwrap();
                    }
                    Ok::<_, Infallible>(ok("{}"))
                }
            },
        );
        let service_url = format!("http://{}/test", support::serve(service).await);
        Self {
            service_url,
            harness_url,
            callbacks,
            client: support::raw_client(),
        }
    }

    /// Sends `headers` to the service and asks for `count` callbacks; returns their headers.
    async fn request(&self, headers: &[(&str, &str)], count: usize) -> Vec<http::HeaderMap> {
        let scope = fastrand::u64(..);
        let calls: Vec<serde_json::Value> = (0..count)
            .map(|i| serde_json::json!({"url": format!("{}/{scope}.{i}", self.harness_url), "arguments": []}))
            .collect();
        let (_, body) = support::post(
            &self.client,
            &self.service_url,
            headers,
            &serde_json::to_string(&calls).unwrap(),
        )
        .await;
        assert_eq!(body, "{}");
        let callbacks = self.callbacks.lock().unwrap();
        (0..count)
            .map(|i| callbacks[&format!("/{scope}.{i}")].clone())
            .collect()
    }

    async fn single(
        &self,
        headers: &[(&str, &str)],
    ) -> (TraceParent, Option<TraceState>, http::HeaderMap) {
        let out = self.request(headers, 1).await.remove(0);
        assert_eq!(
            out.get_all("traceparent").iter().count(),
            1,
            "exactly one traceparent"
        );
        let raw = out["traceparent"].to_str().unwrap();
        assert!(raw.starts_with("00-") && raw.len() == 55 && raw == raw.to_ascii_lowercase());
        let tp: TraceParent = raw.parse().unwrap();
        let ts = out
            .get("tracestate")
            .map(|v| v.to_str().unwrap().parse::<TraceState>().unwrap());
        assert!(
            ts.as_ref().is_none_or(|t| !t.is_empty()),
            "no empty tracestate header"
        );
        assert_eq!(out["content-type"], "application/json");
        (tp, ts, out)
    }

    async fn trace_id(&self, headers: &[(&str, &str)]) -> String {
        self.single(headers).await.0.trace_id().to_string()
    }

    async fn state(&self, headers: &[(&str, &str)]) -> TraceState {
        self.single(headers).await.1.unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3c_traceparent_cases() {
    let h = Harness::start().await;
    // Missing, included, duplicated.
    h.single(&[]).await;
    let (tp, _, _) = h.single(&[("traceparent", TP)]).await;
    assert_eq!(tp.trace_id().to_string(), TRACE);
    assert_ne!(tp.parent_id().to_string(), "1234567890123456");
    let dup = h
        .trace_id(&[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            ("traceparent", TP),
        ])
        .await;
    assert!(dup != TRACE && dup != "12345678901234567890123456789011");
    // Header names.
    for name in ["trace-parent", "trace.parent"] {
        assert_ne!(h.trace_id(&[(name, TP)]).await, TRACE);
    }
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        assert_eq!(h.trace_id(&[(name, TP)]).await, TRACE);
    }
    // Same trace id expected.
    for value in [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_eq!(
            h.trace_id(&[("traceparent", value)]).await,
            TRACE,
            "{value:?}"
        );
    }
    // New trace expected.
    for value in [
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
    ] {
        let got = h.trace_id(&[("traceparent", value)]).await;
        assert_ne!(got, TRACE, "{value:?}");
        assert_ne!(got, "00000000000000000000000000000000");
        assert_ne!(got, "23456789012345678901234567890123");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3c_tracestate_cases() {
    let h = Harness::start().await;
    // Tracestate without traceparent is discarded.
    let one = h.state(&[("tracestate", "foo=1")]).await;
    let two = h.state(&[("tracestate", "foo=1,bar=2")]).await;
    assert_eq!(one.len(), two.len());
    assert!(one.get("foo").is_none());

    let ts = h
        .state(&[("traceparent", TP0), ("tracestate", "foo=1,bar=2")])
        .await;
    assert_eq!((ts.get("foo"), ts.get("bar")), (Some("1"), Some("2")));
    for name in ["trace-state", "trace.state"] {
        assert!(
            h.state(&[("traceparent", TP0), (name, "foo=1")])
                .await
                .get("foo")
                .is_none()
        );
    }
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        assert_eq!(
            h.state(&[("traceparent", TP0), (name, "foo=1")])
                .await
                .get("foo"),
            Some("1")
        );
    }
    // Empty headers.
    let (tp, ts, _) = h.single(&[("traceparent", TP0), ("tracestate", "")]).await;
    assert_eq!(tp.trace_id().to_string(), TRACE);
    assert!(ts.is_none());
    for order in [
        [("tracestate", "foo=1"), ("tracestate", "")],
        [("tracestate", ""), ("tracestate", "foo=1")],
    ] {
        let mut headers = vec![("traceparent", TP0)];
        headers.extend(order);
        assert_eq!(h.state(&headers).await.get("foo"), Some("1"));
    }
    // Multiple headers combine in order.
    let ts = h
        .state(&[
            ("traceparent", TP0),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ])
        .await;
    assert_eq!(ts.as_str(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    // Duplicated keys invalidate the whole list.
    for pair in [
        ["foo=1,foo=1", ""],
        ["foo=1,foo=2", ""],
        ["foo=1", "foo=1"],
        ["foo=1", "foo=2"],
    ] {
        let mut headers = vec![("traceparent", TP0), ("tracestate", pair[0])];
        if !pair[1].is_empty() {
            headers.push(("tracestate", pair[1]));
        }
        let (tp, ts, _) = h.single(&headers).await;
        assert_eq!(tp.trace_id().to_string(), TRACE);
        assert!(ts.unwrap_or_default().get("foo").is_none(), "{pair:?}");
    }
    // All allowed characters.
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x7e)
        .filter(|c| *c != b',' && *c != b'=')
        .map(char::from)
        .collect();
    for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let member = format!("{key}={value}");
        let ts = h
            .state(&[("traceparent", TP0), ("tracestate", &member)])
            .await;
        assert_eq!(ts.get(&key), Some(value.as_str()));
    }
    // OWS.
    for v in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let ts = h.state(&[("traceparent", TP0), ("tracestate", v)]).await;
        assert_eq!(
            (ts.get("foo"), ts.get("bar"), ts.get("baz")),
            (Some("1"), Some("2"), Some("3"))
        );
    }
    for v in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(
            h.state(&[("traceparent", TP0), ("tracestate", v)])
                .await
                .get("foo"),
            Some("1")
        );
    }
    // Illegal keys, vendor formats and values.
    for v in ["foo =1", "FOO=1", "foo.bar=1"] {
        assert!(
            h.state(&[("traceparent", TP0), ("tracestate", v)])
                .await
                .is_empty(),
            "{v}"
        );
    }
    for v in [
        "foo@=1,bar=2",
        "@foo=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
    ] {
        assert!(
            h.state(&[("traceparent", TP0), ("tracestate", v)])
                .await
                .get("bar")
                .is_none(),
            "{v}"
        );
    }
    for v in ["foo=bar=baz", "foo=,bar=3"] {
        let ts = h.state(&[("traceparent", TP0), ("tracestate", v)]).await;
        assert!(ts.get("foo").is_none() && ts.get("bar").is_none(), "{v}");
    }
    // Member count limit.
    let lines: Vec<String> = (0..4)
        .map(|chunk| {
            (chunk * 10 + 1..=(chunk * 10 + 10).min(32))
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let mut headers = vec![("traceparent", TP0)];
    headers.extend(lines.iter().map(|l| ("tracestate", l.as_str())));
    let ts = h.state(&headers).await;
    assert_eq!((ts.len(), ts.get("bar01")), (32, Some("01")));
    let last = format!("{},bar33=33", lines[3]);
    headers.pop();
    headers.push(("tracestate", &last));
    assert!(h.state(&headers).await.get("bar01").is_none());
    // Key length limits.
    let long = |n: usize, c: &str| c.repeat(n);
    let cases = [
        (format!("{}=1", long(256, "z")), true),
        (format!("{}=1", long(257, "z")), false),
        (format!("{}@{}=1", long(241, "t"), long(14, "v")), true),
        (format!("{}@v=1", long(242, "t")), false),
        (format!("t@{}=1", long(15, "v")), false),
    ];
    for (member, keeps) in cases {
        let ts = h
            .state(&[
                ("traceparent", TP0),
                ("tracestate", "foo=1"),
                ("tracestate", &member),
            ])
            .await;
        assert_eq!(ts.get("foo").is_some(), keeps, "{}", member.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3c_advanced_cases() {
    let h = Harness::start().await;
    for (headers, keeps) in [
        (vec![("traceparent", TP)], true),
        (vec![], false),
        (
            vec![(
                "traceparent",
                "00-00000000000000000000000000000000-1234567890123456-01",
            )],
            false,
        ),
    ] {
        let outs = h.request(&headers, 3).await;
        let tps: Vec<TraceParent> = outs
            .iter()
            .map(|o| o["traceparent"].to_str().unwrap().parse().unwrap())
            .collect();
        let traces: std::collections::HashSet<_> = tps.iter().map(|t| t.trace_id()).collect();
        let parents: std::collections::HashSet<_> = tps.iter().map(|t| t.parent_id()).collect();
        assert_eq!(traces.len(), 1, "same trace id on every call");
        assert_eq!(parents.len(), 3, "a new parent id per call");
        assert_eq!(traces.iter().any(|t| t.to_string() == TRACE), keeps);
    }
}
