//! Job envelopes through JSON: child on the first attempt, link on retries.

use std::collections::HashMap;

use stella_context::{
    CurrentContext, JobEnvelope, JobMeta, RequestContext, RestoreMode, TraceContext,
};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Payload {
    sbom: String,
}

fn produce() -> (TraceContext, String) {
    let request = TraceContext::new_root()
        .with_tracestate("vendor=abc".parse().unwrap())
        .with_baggage("tier=gold".parse().unwrap());
    let current = CurrentContext::from_trace(request.clone()).with_request(
        RequestContext::new()
            .with_tenant_id("acme")
            .with_request_id("req-9"),
    );
    let envelope = current.scope(|| {
        JobEnvelope::new(
            JobMeta::new("job-1")
                .with_run_id("run-1")
                .with_kind("sbom.ingest"),
            Payload {
                sbom: "sbom-7".into(),
            },
        )
    });
    (request, serde_json::to_string(&envelope).unwrap())
}

#[test]
fn envelope_json_shape() {
    let (request, json) = produce();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let tp = value["trace"]["traceparent"].as_str().unwrap();
    assert!(tp.starts_with(&format!("00-{}-", request.trace_id())));
    assert!(
        !tp.contains(&request.span_id().to_string()),
        "the producer span is a new span"
    );
    assert_eq!(value["trace"]["tracestate"], "vendor=abc");
    assert_eq!(value["trace"]["baggage"], "tier=gold");
    assert_eq!(value["job"]["job_id"], "job-1");
    assert_eq!(value["job"]["tenant_id"], "acme");
    assert_eq!(value["job"]["request_id"], "req-9");
    assert_eq!(value["job"]["attempt"], 1);
    assert_eq!(value["payload"]["sbom"], "sbom-7");
}

#[test]
fn first_attempt_restores_as_child() {
    let (request, json) = produce();
    let envelope: JobEnvelope<Payload> = serde_json::from_str(&json).unwrap();
    let producer = envelope.producer_context().unwrap();
    let restored = envelope.restore(RestoreMode::Auto);
    assert_eq!(restored.trace().trace_id(), request.trace_id());
    assert_eq!(
        restored.parent().map(TraceContext::span_id),
        Some(producer.span_id())
    );
    assert_ne!(restored.trace().span_id(), producer.span_id());
    assert!(restored.link().is_none());
    assert_eq!(restored.trace().tracestate().as_str(), "vendor=abc");
    restored.scope(|| {
        let rc = RequestContext::current().unwrap();
        assert_eq!(rc.job_id.as_deref(), Some("job-1"));
        assert_eq!(rc.run_id.as_deref(), Some("run-1"));
        assert_eq!(rc.tenant_id.as_deref(), Some("acme"));
        assert_eq!(
            TraceContext::current().unwrap().trace_id(),
            request.trace_id()
        );
    });
}

#[test]
fn retry_restores_as_link() {
    let (request, json) = produce();
    let envelope: JobEnvelope<Payload> = serde_json::from_str(&json).unwrap();
    let retried: JobEnvelope<Payload> =
        serde_json::from_str(&serde_json::to_string(&envelope.retry()).unwrap()).unwrap();
    assert_eq!(retried.job.attempt, 2);
    let restored = retried.restore(RestoreMode::Auto);
    assert_ne!(restored.trace().trace_id(), request.trace_id());
    assert_eq!(
        restored.link().map(TraceContext::trace_id),
        Some(request.trace_id())
    );
    assert!(restored.parent().is_none());
    assert_eq!(restored.trace().baggage().get("tier"), Some("gold"));

    // Explicit modes override the attempt count.
    let child = retried.restore(RestoreMode::Child);
    assert_eq!(child.trace().trace_id(), request.trace_id());
    let (_, json) = produce();
    let first: JobEnvelope<Payload> = serde_json::from_str(&json).unwrap();
    assert!(first.restore(RestoreMode::Link).link().is_some());
}

#[test]
fn broken_trace_part_starts_a_new_trace() {
    let json = r#"{"trace":{"traceparent":"garbage"},"job":{"job_id":"j"},"payload":null}"#;
    let envelope: JobEnvelope<Option<u8>> = serde_json::from_str(json).unwrap();
    let restored = envelope.restore(RestoreMode::Auto);
    assert!(restored.parent().is_none() && restored.link().is_none());
    let json = r#"{"job":{"job_id":"j"},"payload":1}"#;
    let envelope: JobEnvelope<u8> = serde_json::from_str(json).unwrap();
    assert_eq!(envelope.job.attempt, 1);
    assert!(envelope.producer_context().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_future_keeps_the_context() {
    let (request, json) = produce();
    let envelope: JobEnvelope<Payload> = serde_json::from_str(&json).unwrap();
    let restored = envelope.restore(RestoreMode::Auto);
    let seen = tokio::spawn(restored.instrument(async {
        tokio::task::yield_now().await;
        (TraceContext::current(), RequestContext::current())
    }))
    .await
    .unwrap();
    assert_eq!(seen.0.unwrap().trace_id(), request.trace_id());
    assert_eq!(seen.1.unwrap().job_id.as_deref(), Some("job-1"));
}

#[test]
fn hashmap_carrier_round_trip() {
    let cx = TraceContext::new_root().with_tracestate("a=1".parse().unwrap());
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("TRACEPARENT".into(), "stale".into());
    cx.inject(&mut map);
    assert_eq!(map.len(), 2, "{map:?}");
    let back = TraceContext::extract(&map).unwrap();
    assert_eq!(back.trace_id(), cx.trace_id());
    assert_eq!(back.span_id(), cx.span_id());
    assert_eq!(back.tracestate(), cx.tracestate());
    assert!(back.is_remote());
}

/// Decides as the default (`parentbased_always_on`) except for two marker tenants, so that
/// registering it for the whole test binary changes no other test: one refuses every trace
/// (as `always_off`), one samples every trace (as `always_on`).
struct MarkerTenants;

impl stella_context::sampling::HeadSampler for MarkerTenants {
    fn should_sample(&self, input: &stella_context::sampling::SamplingInput<'_>) -> bool {
        match input.tenant_id {
            Some("job-sampling-off") => false,
            Some("job-sampling-on") => true,
            _ => input.parent.is_none_or(|p| p.flags().is_sampled()),
        }
    }
}

#[test]
fn a_restored_job_takes_the_head_samplers_decision() {
    let _ = stella_context::sampling::set_global_head_sampler(std::sync::Arc::new(MarkerTenants));
    let envelope = |tenant: &str, sampled: bool| {
        let producer = TraceContext::new_root().with_sampled(sampled);
        JobEnvelope::new(JobMeta::new("job-s").with_tenant_id(tenant), ())
            .with_trace_context(&producer)
    };
    let sampled = |e: &JobEnvelope<()>, mode| e.restore(mode).trace().flags().is_sampled();
    for mode in [RestoreMode::Child, RestoreMode::Link] {
        // A sampled producer's job is refused by a sampler that refuses everything ...
        assert!(
            !sampled(&envelope("job-sampling-off", true), mode),
            "{mode:?}"
        );
        // ... and an unsampled producer's job kept by one that samples everything.
        assert!(
            sampled(&envelope("job-sampling-on", false), mode),
            "{mode:?}"
        );
    }
    // A parent-based decision keeps the producer's flag for a child; a linked job is a new
    // trace, sampled by the default.
    assert!(!sampled(&envelope("acme", false), RestoreMode::Child));
    assert!(sampled(&envelope("acme", true), RestoreMode::Child));
    assert!(sampled(&envelope("acme", false), RestoreMode::Link));
}
