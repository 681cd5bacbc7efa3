//! Secrets in details never survive; artifact digests and sources are kept as seen.

use serde_json::json;
use stella_timeline_emit::testing::MemorySink;
use stella_timeline_emit::{Digest, Emitter, EventKind, TimelineEvent};

use crate::support::{GUARD, assert_schema_valid};

/// Secrets that must not appear anywhere in an emitted event.
const SECRETS: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2-super-secret",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
];

#[test]
fn secrets_in_details_never_survive() {
    let memory = MemorySink::new();
    let emitter = Emitter::builder()
        .with_sink(memory.clone())
        .build()
        .unwrap();
    let sbom = Digest::of_bytes(b"sbom");
    emitter
        .emit(
            TimelineEvent::builder(EventKind::JobFailed, "job", "job-1")
                .with_tenant("acme")
                .with_detail("job_type", "source.fetch")
                .with_detail(
                    "root_cause",
                    json!({"code": "E_AUTH", "message": "upstream said 401"}),
                )
                .with_detail("password", SECRETS[2])
                .with_detail(
                    "env",
                    json!({"AWS_ACCESS_KEY_ID": SECRETS[0], "AWS_SECRET_ACCESS_KEY": SECRETS[1]}),
                )
                .with_detail(
                    "headers",
                    json!({"authorization": format!("Bearer {}", SECRETS[3])}),
                )
                .with_detail("source_url", "https://feeds.example.org/advisories.json")
                .with_input("sbom", sbom.clone()),
        )
        .unwrap();
    emitter.flush(GUARD).unwrap();
    let events = memory.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    let json = e.to_json();
    for s in SECRETS {
        assert!(!json.contains(s), "secret {s} survived in {json}");
    }
    // The digest covers the scrubbed content; nothing unscrubbed is hashed.
    e.verify().unwrap();
    assert_schema_valid(e);
    // Artifact digests and non-secret source data are recorded as seen.
    assert_eq!(e.details()["inputs"][0]["digest"], sbom.as_str());
    assert_eq!(
        e.details()["source_url"],
        "https://feeds.example.org/advisories.json"
    );
    assert_eq!(e.details()["root_cause"]["code"], "E_AUTH");
    assert_eq!(e.resource_id(), "job-1");
}
