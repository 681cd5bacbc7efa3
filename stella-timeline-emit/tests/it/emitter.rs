//! The emitter: context filling, validation errors, never blocking, spill, counters.

use std::time::Duration;

use stella_context::{CurrentContext, RequestContext, TraceContext};
use stella_timeline_emit::testing::MemorySink;
use stella_timeline_emit::{
    BuildError, EmitError, Emitter, EventKind, FieldError, JournalConfig, TimelineEvent,
};

use crate::support::{GUARD, assert_schema_valid, job_started, tmpdir};

#[test]
fn fills_tenant_project_actor_and_trace_from_the_current_context() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap();
    let trace = TraceContext::new_root();
    let request = RequestContext::new()
        .with_tenant_id("acme")
        .with_project_id("web")
        .with_actor("user:42");
    let cx = CurrentContext::new(Some(trace.clone()), Some(request));
    cx.scope(|| {
        emitter
            .emit(
                TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
                    .with_detail("slo", "availability"),
            )
            .unwrap();
        // Explicit values win over the context.
        emitter
            .emit(
                TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
                    .with_detail("slo", "availability")
                    .with_tenant("other")
                    .with_actor("svc:slo"),
            )
            .unwrap();
    });
    emitter.flush(GUARD).unwrap();
    let events = memory.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].tenant_id(), "acme");
    assert_eq!(events[0].project_id(), Some("web"));
    assert_eq!(events[0].actor(), Some("user:42"));
    assert_eq!(
        events[0].trace_id(),
        Some(trace.trace_id().to_string().as_str())
    );
    assert_eq!(events[1].tenant_id(), "other");
    assert_eq!(events[1].project_id(), Some("web"));
    assert_eq!(events[1].actor(), Some("svc:slo"));
    for e in &events {
        assert_schema_valid(e);
        e.verify().unwrap();
    }
}

#[test]
fn invalid_events_are_errors_for_the_caller() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap();
    let no_tenant =
        TimelineEvent::builder(EventKind::SloResolved, "slo", "x").with_detail("slo", "x");
    assert_eq!(
        emitter.emit(no_tenant),
        Err(EmitError::Invalid(BuildError::MissingTenant))
    );
    let bad_tenant = job_started(1).with_tenant("acme.>");
    assert!(matches!(
        emitter.emit(bad_tenant),
        Err(EmitError::Invalid(BuildError::Invalid(
            FieldError::TenantId(_)
        )))
    ));
    let bad_trace = job_started(1).with_trace_id("xyz");
    assert!(matches!(
        emitter.emit(bad_trace),
        Err(EmitError::Invalid(_))
    ));
    let missing_detail = TimelineEvent::builder(EventKind::JobFailed, "job", "j")
        .with_tenant("acme")
        .with_detail("job_type", "x");
    assert!(matches!(
        emitter.emit(missing_detail),
        Err(EmitError::Invalid(BuildError::Invalid(
            FieldError::MissingDetail {
                field: "root_cause",
                ..
            }
        )))
    ));
    emitter.flush(GUARD).unwrap();
    assert!(memory.is_empty());
    assert_eq!(emitter.stats().emitted, 0);
    assert_eq!(emitter.stats().dropped, 0);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .with_queue_capacity(4)
        .build()
        .unwrap();
    let pause = memory.pause();
    let mut accepted = 0;
    let mut full = 0;
    for i in 0..200 {
        match emitter.emit(job_started(i)) {
            Ok(_) => accepted += 1,
            Err(EmitError::QueueFull { .. }) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // The worker holds at most one event while paused, the queue four.
    assert!(accepted <= 5, "accepted {accepted}");
    assert_eq!(accepted + full, 200);
    drop(pause);
    emitter.flush(GUARD).unwrap();
    let stats = emitter.stats();
    assert_eq!(stats.emitted, accepted as u64);
    assert_eq!(stats.dropped, full as u64);
    assert_eq!(memory.len(), accepted);
}

#[test]
fn a_full_queue_spills_to_the_journal_and_replays_in_order() {
    let memory = MemorySink::new();
    let dir = tmpdir("spill");
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .with_queue_capacity(4)
        .with_spill_journal(JournalConfig::new(&dir))
        .build()
        .unwrap();
    let pause = memory.pause();
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(emitter.emit(job_started(i)).unwrap());
    }
    assert!(emitter.stats().journaled > 0);
    drop(pause);
    emitter.flush(GUARD).unwrap();
    let got: Vec<String> = memory
        .events()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    assert_eq!(got, ids, "every event exactly once, in emit order");
    let stats = emitter.stats();
    assert_eq!(stats.emitted, 300);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.replayed, stats.journaled);
    for e in memory.events() {
        assert_schema_valid(&e);
    }
    emitter.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shutdown_flushes_and_then_refuses() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap();
    for i in 0..100 {
        emitter.emit(job_started(i)).unwrap();
    }
    emitter.shutdown(GUARD).unwrap();
    assert_eq!(memory.len(), 100);
    assert_eq!(emitter.emit(job_started(0)), Err(EmitError::Closed));
    // A second shutdown is a no-op.
    emitter.shutdown(Duration::from_millis(1)).unwrap();
}

#[test]
fn dropping_the_last_handle_flushes() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap();
    let clone = emitter.clone();
    for i in 0..50 {
        clone.emit(job_started(i)).unwrap();
    }
    drop(clone);
    drop(emitter);
    assert_eq!(memory.len(), 50);
}

#[test]
fn builder_errors() {
    assert!(Emitter::builder().build().is_err());
    assert!(
        Emitter::builder()
            .with_sink(MemorySink::new())
            .with_queue_capacity(0)
            .build()
            .is_err()
    );
}

#[test]
fn global_emitter() {
    assert_eq!(
        stella_timeline_emit::emit(job_started(0)).err(),
        Some(EmitError::NoGlobalEmitter)
    );
    let memory = MemorySink::new();
    Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap()
        .install_global()
        .unwrap();
    stella_timeline_emit::emit(job_started(1)).unwrap();
    let global = Emitter::global().unwrap();
    global.flush(GUARD).unwrap();
    assert_eq!(memory.len(), 1);
}

pub(crate) mod recorder {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    /// Counter totals by name; for gauges, the highest and the last value set, by name and
    /// labels (`name{k=v,...}`).
    #[derive(Debug, Default)]
    pub struct Capture {
        pub counters: Mutex<HashMap<String, u64>>,
        pub gauges: Mutex<HashMap<String, (f64, f64)>>,
    }

    /// The capture behind the global recorder, installed on first use (once per test binary).
    pub fn capture() -> &'static Capture {
        static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture: &'static Capture = Box::leak(Box::default());
            metrics::set_global_recorder(Rec(capture)).unwrap();
            capture
        })
    }

    struct Handle(String, &'static Capture);

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            *self
                .1
                .counters
                .lock()
                .unwrap()
                .entry(self.0.clone())
                .or_default() += value;
        }
        fn absolute(&self, _value: u64) {}
    }

    impl GaugeFn for Handle {
        fn increment(&self, _value: f64) {}
        fn decrement(&self, _value: f64) {}
        fn set(&self, value: f64) {
            let mut g = self.1.gauges.lock().unwrap();
            let e = g.entry(self.0.clone()).or_insert((value, value));
            e.0 = e.0.max(value);
            e.1 = value;
        }
    }

    struct Rec(&'static Capture);

    impl Recorder for Rec {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle(key.name().to_owned(), self.0)))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            Gauge::from_arc(Arc::new(Handle(name, self.0)))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }
}

#[test]
fn metrics_facade_receives_the_counters() {
    let capture = recorder::capture();
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .with_queue_capacity(2)
        .build()
        .unwrap();
    let pause = memory.pause();
    let mut dropped = 0u64;
    for i in 0..20 {
        if emitter.emit(job_started(i)).is_err() {
            dropped += 1;
        }
    }
    drop(pause);
    emitter.flush(GUARD).unwrap();
    let s = emitter.stats();
    assert_eq!(s.dropped, dropped);
    assert!(dropped > 0);
    // Other tests run concurrently and also count, so compare lower bounds.
    let seen = capture.counters.lock().unwrap().clone();
    assert!(
        seen.get("stella_timeline_events_emitted_total")
            .copied()
            .unwrap_or(0)
            >= s.emitted,
        "{seen:?}"
    );
    assert!(
        seen.get("stella_timeline_events_dropped_total")
            .copied()
            .unwrap_or(0)
            >= dropped,
        "{seen:?}"
    );
    assert!(
        seen.get("stella_timeline_events_delivered_total")
            .copied()
            .unwrap_or(0)
            >= s.delivered,
        "{seen:?}"
    );
}
