//! stella-context propagation against `opentelemetry_sdk`'s `TraceContextPropagator`, in one run.
//!
//! Run: `cargo bench -p stella-context --bench propagation -- --warm-up-time 1 --measurement-time 3`
//! Machine of the recorded baseline (stella-context/README.md): 2-core AMD EPYC VM, shared.
//!
//! - `traceparent`: parse a `traceparent` value and format it back. OpenTelemetry only exposes
//!   this through its propagator, so it extracts from and injects into a one-field carrier.
//! - `headermap`: extract `traceparent` + `tracestate` from an `http::HeaderMap` and inject the
//!   propagated context into another (the per-request work of a server plus one client call).
//!   The outgoing map is allocated once and cleared per iteration, for both sides.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use stella_context::{TraceContext, TraceParent};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TS: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// A carrier holding only a `traceparent`, so OpenTelemetry's cost is its parse and format.
#[derive(Default)]
struct One(Option<String>);

impl Extractor for One {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent")
            .then_some(self.0.as_deref())
            .flatten()
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

impl Injector for One {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

/// The usual `HeaderMap` adapters (as in `opentelemetry-http`).
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn traceparent(c: &mut Criterion) {
    let mut group = c.benchmark_group("traceparent parse+format");
    group.bench_function("stella-context", |b| {
        b.iter(|| {
            let tp: TraceParent = black_box(TP).parse().unwrap();
            black_box(tp.to_bytes());
        });
    });
    group.bench_function("stella-context (String)", |b| {
        b.iter(|| {
            let tp: TraceParent = black_box(TP).parse().unwrap();
            black_box(tp.to_string());
        });
    });
    let propagator = TraceContextPropagator::new();
    let carrier = One(Some(TP.to_owned()));
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            let cx = propagator.extract(black_box(&carrier));
            let mut out = One::default();
            propagator.inject_context(&cx, &mut out);
            black_box(out.0);
        });
    });
    group.finish();
}

fn headermap(c: &mut Criterion) {
    let mut incoming = HeaderMap::new();
    incoming.insert("traceparent", HeaderValue::from_static(TP));
    incoming.insert("tracestate", HeaderValue::from_static(TS));
    incoming.insert("content-type", HeaderValue::from_static("application/json"));
    incoming.insert("user-agent", HeaderValue::from_static("bench/1.0"));

    // The outgoing request's map exists already (as in a real client); both sides reuse it.
    let mut group = c.benchmark_group("headermap extract+inject");
    let mut out = HeaderMap::with_capacity(8);
    group.bench_function("stella-context", |b| {
        b.iter(|| {
            out.clear();
            let cx = TraceContext::extract(black_box(&incoming)).unwrap();
            cx.child().inject(&mut out);
            black_box(&out);
        });
    });
    let propagator = TraceContextPropagator::new();
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            out.clear();
            let cx = propagator.extract(&HeaderExtractor(black_box(&incoming)));
            propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, traceparent, headermap);
criterion_main!(benches);
