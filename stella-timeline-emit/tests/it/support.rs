//! Shared helpers: schema validation of every produced event, temp dirs, bounded waits.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use stella_timeline_emit::{EventBuilder, EventKind, TimelineEvent};

pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/timeline_event.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::draft202012::new(&schema).unwrap()
    })
}

/// Asserts that a JSON value is a valid `timeline_event` per the published JSON Schema.
pub fn assert_schema_valid_value(v: &Value) {
    let errors: Vec<String> = validator().iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema violations {errors:?} in {v}");
}

/// Asserts that an event's wire JSON validates against the schema.
pub fn assert_schema_valid(e: &TimelineEvent) {
    let v: Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_schema_valid_value(&v);
}

pub fn schema_is_valid(v: &Value) -> bool {
    validator().is_valid(v)
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "stella-timeline-it-{name}-{}",
        uuid::Uuid::now_v7()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A valid `job.started` event for tenant `acme`.
pub fn job_started(i: usize) -> EventBuilder {
    TimelineEvent::builder(EventKind::JobStarted, "job", format!("job-{i}"))
        .with_tenant("acme")
        .with_detail("job_type", "sbom.compute")
        .with_detail("seq", i as u64)
}

/// Polls `f` until it returns true or `timeout` passes (a failure guard, not a timing check).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// The generous bound used as a failure guard for asynchronous delivery.
pub const GUARD: Duration = Duration::from_secs(60);
