//! Every common field, in the fixed order, validated against the schema.

use serde_json::json;
use stella_telemetry::COMMON_FIELDS;

use crate::support::{Harness, keys_in_order};

#[test]
fn all_common_fields_come_out_in_the_fixed_order() {
    let h = Harness::new();
    h.run(|| {
        let span = tracing::info_span!(
            "api",
            otel.name = "api./sboms/{id}",
            http.route = "/sboms/{id}",
            http.request.method = "POST",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            parent_span_id = "b7ad6b7169203331",
            request_id = "req-1",
            tenant_id = "acme",
            project_id = "proj-9",
            actor = "user-8731",
        );
        let _e = span.enter();
        tracing::error!(
            error_code = "E_POLICY",
            error_message = "evaluation failed",
            decision_reason = "critical cve",
            decision_effect = "deny",
            policy_version = "2026.11.3",
            sbom_id = "sbom-7f3c",
            source_id = "nvd",
            run_id = "run-2",
            job_id = "job-1",
            resource = "sbom/7f3c",
            action = "policy.evaluate",
            components = 5000_u64,
            "all fields"
        );
    });
    let lines = h.lines();
    assert_eq!(lines.len(), 1);
    let raw = h.capture.lines().remove(0);
    let expected: Vec<&str> = COMMON_FIELDS
        .iter()
        .copied()
        .chain(["message", "details"])
        .collect();
    assert_eq!(keys_in_order(&raw), expected);
    let l = &lines[0];
    assert_eq!(l["level"], "error");
    assert_eq!(l["ts"], "2025-11-28T11:05:30.000000Z");
    assert_eq!(l["service"], "test-svc");
    assert_eq!(l["route"], "/sboms/{id}");
    assert_eq!(l["method"], "POST");
    assert_eq!(l["details"], json!({"components": 5000}));
}

#[test]
fn absent_fields_are_omitted_and_message_is_always_there() {
    let h = Harness::new();
    h.run(|| tracing::info!(count = 3));
    let l = &h.lines()[0];
    assert_eq!(l["message"], "");
    assert!(l.get("tenant_id").is_none());
    assert!(l.get("trace_id").is_none());
    assert_eq!(l["details"]["count"], 3);
}

#[test]
fn invalid_known_format_values_are_dropped_not_printed() {
    let h = Harness::new();
    h.run(|| {
        tracing::info!(
            trace_id = "bob@example.com",
            span_id = "0000000000000000",
            method = "get /x",
            "ids"
        );
    });
    let l = h.line("ids");
    assert!(l.get("trace_id").is_none());
    assert!(l.get("span_id").is_none());
    assert!(l.get("method").is_none());
    assert!(!h.capture.contents().contains("bob@example.com"));
    assert_eq!(h.handle.stats().invalid_fields, 3);
}

#[test]
fn control_characters_and_quotes_stay_valid_json() {
    let h = Harness::new();
    h.run(|| tracing::info!(note = "a\"b\\c\u{1}\u{7f}", "line\nbreak \"quoted\""));
    let l = h.line("line\nbreak \"quoted\"");
    assert_eq!(l["details"]["note"], "a\"b\\c\u{1}\u{7f}");
}

#[test]
fn errors_fold_into_a_bounded_stack() {
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused by db.internal")
        }
    }
    impl std::error::Error for Inner {}
    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("load failed\n  at loader.rs:10\n  at main.rs:3")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let h = Harness::new();
    let e = Outer(Inner);
    h.run(|| tracing::error!(error = &e as &dyn std::error::Error, "request failed"));
    let l = h.line("request failed");
    assert_eq!(l["error_message"], "load failed");
    assert_eq!(
        l["details"]["stack"],
        "  at loader.rs:10\n  at main.rs:3\ncaused by: connection refused by db.internal"
    );

    let long = "x".repeat(10_000);
    let h = Harness::new();
    h.run(|| tracing::error!(error_message = format!("{long}\n{long}").as_str(), "huge"));
    let l = h.line("huge");
    assert!(l["error_message"].as_str().unwrap().len() <= 256);
    assert!(
        l["error_message"]
            .as_str()
            .unwrap()
            .ends_with("...[truncated]")
    );
    assert!(l["details"]["stack"].as_str().unwrap().len() <= 4096);
}

#[test]
fn a_route_under_a_file_system_root_is_kept_and_a_file_path_beside_it_is_not() {
    let h = Harness::new();
    h.run(|| {
        let span = tracing::info_span!(
            "api",
            otel.name = "api.feed",
            http.route = "/home/{user}/feed",
            url.path = "/home/alice/feed",
            config_file = "/home/alice/.config/app.toml"
        );
        let _e = span.enter();
        tracing::info!("from the span");
        tracing::info!(route = "/etc/{name}", "its own");
    });
    let l = h.line("from the span");
    assert_eq!(l["route"], "/home/{user}/feed", "{l}");
    assert_eq!(l["details"]["config_file"], "[REDACTED:path]", "{l}");
    // The event's own route is the line's (the event's fields come first), scrubbed the same
    // way.
    assert_eq!(h.line("its own")["route"], "/etc/{name}");
}

#[test]
fn route_and_method_come_from_the_ingress_span_and_span_attributes_stay_there() {
    let h = Harness::new();
    h.run(|| {
        let span = tracing::info_span!(
            "api",
            otel.name = "api.x",
            otel.kind = "server",
            http.route = "/x",
            http.request.method = "GET",
            http.response.status_code = tracing::field::Empty
        );
        let _e = span.enter();
        span.record("http.response.status_code", 200_u64);
        tracing::info!("inside");
    });
    let l = h.line("inside");
    assert_eq!(l["route"], "/x");
    assert_eq!(l["method"], "GET");
    assert!(
        l.get("details").is_none(),
        "HTTP span attributes stay on the span: {l}"
    );
}
