//! The ingress asks the head sampler: a new root is sampled as the sampler decides (ratio,
//! tenant), a continued trace keeps the caller's flag unless the sampler raises it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use stella_context::sampling::{HeadSampler, SamplingInput};
use stella_context::{ServerLayer, TraceContext};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

/// A ratio of 0 or 1 with one tenant forced on, like a pipeline with incident mode.
struct Switch {
    all: AtomicBool,
    forced_tenant: &'static str,
}

impl HeadSampler for Switch {
    fn should_sample(&self, input: &SamplingInput<'_>) -> bool {
        let head = match input.parent {
            Some(p) => p.flags().is_sampled(),
            None => self.all.load(Ordering::SeqCst),
        };
        head || input.tenant_id == Some(self.forced_tenant)
    }
}

/// The sampled bit (`00` or `01`) of the `traceresponse`, checked against the handler's
/// current context.
async fn flags(layer: &ServerLayer, traceparent: Option<&str>, tenant: &str) -> String {
    let mut svc =
        ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(|_req: http::Request<()>| async {
                let cx = TraceContext::current().expect("a current trace");
                Ok::<_, Infallible>(http::Response::new(format!("{:02x}", cx.flags().to_byte())))
            });
    let mut req = http::Request::builder().header("x-stella-tenant", tenant);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = svc
        .ready()
        .await
        .unwrap()
        .call(req.body(()).unwrap())
        .await
        .unwrap();
    let header = resp.headers()["traceresponse"].to_str().unwrap().to_owned();
    let flags = header.rsplit('-').next().unwrap().to_owned();
    let byte = u8::from_str_radix(&flags, 16).unwrap();
    // Only the sampled bit is the sampler's; a new root also has the Level 2 random bit.
    assert_eq!(resp.body(), &flags, "{header}");
    format!("{:02x}", byte & 0x01)
}

#[tokio::test(flavor = "current_thread")]
async fn the_ingress_follows_the_head_sampler() {
    let sampler = Arc::new(Switch {
        all: AtomicBool::new(false),
        forced_tenant: "acme",
    });
    let layer = ServerLayer::builder()
        .with_tenant_header(http::HeaderName::from_static("x-stella-tenant"))
        .with_trace_response(true)
        .with_head_sampler(sampler.clone())
        .build();
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    // ratio 0
    assert_eq!(flags(&layer, None, "globex").await, "00");
    assert_eq!(flags(&layer, None, "acme").await, "01");
    assert_eq!(flags(&layer, Some(sampled), "globex").await, "01");
    assert_eq!(flags(&layer, Some(unsampled), "globex").await, "00");
    assert_eq!(flags(&layer, Some(unsampled), "acme").await, "01");
    // ratio 1, changed at runtime
    sampler.all.store(true, Ordering::SeqCst);
    assert_eq!(flags(&layer, None, "globex").await, "01");
    assert_eq!(flags(&layer, Some(unsampled), "globex").await, "00");
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_sampler_new_traces_are_sampled_and_parents_followed() {
    // No sampler of its own and (in this binary) no global one: parentbased_always_on.
    let layer = ServerLayer::builder().with_trace_response(true).build();
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_eq!(flags(&layer, None, "x").await, "01");
    assert_eq!(flags(&layer, Some(unsampled), "x").await, "00");
}
