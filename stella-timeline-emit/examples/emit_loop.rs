//! Emits events with a ~1 KiB details object to `/dev/null` as fast as the caller can; used to
//! profile `emit()` (e.g. `valgrind --tool=callgrind --toggle-collect='*Emitter*emit*'`).
//!
//! `cargo run --release -p stella-timeline-emit --example emit_loop -- 20000`

use std::time::{Duration, Instant};

use serde_json::json;
use stella_timeline_emit::{Emitter, EventKind, FileSink, FsyncPolicy, TimelineEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let details = json!({
        "policy_version": "2026.11.3",
        "decision": "deny",
        "rule_ids": ["R-001", "R-017", "R-023", "R-042", "R-108", "R-116", "R-204", "R-311"],
        "engine": {"name": "stella-policy-engine", "version": "3.14.1", "mode": "strict"},
        "summary": "2 critical findings in openssl@3.0.7 reachable from the public API; VEX says affected for CVE-2022-3602 and CVE-2022-3786",
        "findings": [
            {"id": "CVE-2022-3602", "component": "pkg:generic/openssl@3.0.7", "severity": "critical", "reachable": true},
            {"id": "CVE-2022-3786", "component": "pkg:generic/openssl@3.0.7", "severity": "high", "reachable": true},
            {"id": "GHSA-xxxx-yyyy-zzzz", "component": "pkg:npm/lodash@4.17.20", "severity": "medium", "reachable": false}
        ],
        "counts": {"deny": 2, "warn": 1, "allow": 117, "total": 120},
        "duration_ms": 41.7
    });
    let sink = FileSink::builder()
        .with_path("/dev/null")
        .with_fsync(FsyncPolicy::Never)
        .build()?;
    let emitter = Emitter::builder()
        .with_sink(sink)
        .with_queue_capacity(n.max(1))
        .build()?;
    let mut spent = Duration::ZERO;
    for chunk in 0..n.div_ceil(256) {
        let m = 256.min(n - chunk * 256);
        let batch: Vec<_> = (0..m)
            .map(|_| {
                TimelineEvent::builder(EventKind::PolicyEvaluated, "sbom", "sbom-7")
                    .with_tenant("acme")
                    .with_project("web-shop")
                    .with_actor("svc:policy-engine")
                    .with_trace_id("4bf92f3577b34da6a3ce929d0e0e4736")
                    .with_details(details.clone())
            })
            .collect();
        let start = Instant::now();
        for b in batch {
            emitter.emit(b)?;
        }
        spent += start.elapsed();
    }
    emitter.shutdown(Duration::from_secs(120))?;
    println!(
        "{n} events, {:.2} µs/event on the caller (wall clock)",
        spent.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
