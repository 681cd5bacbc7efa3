//! The shortcuts of the JSON layer's hot path give the same lines as the long way: small event
//! numbers judged by the per-thread verdict table instead of the joined scan, and the resolved
//! scope of a span kept between its events.

use serde_json::{Value, json};
use stella_scrub::Scrubber;
use stella_scrub::rules::Rule;

use crate::support::Harness;

fn room_scrubber() -> Scrubber {
    Scrubber::builder()
        .with_rule(Rule::new("room", r"\b4242\b"))
        .build()
        .unwrap()
}

#[test]
fn small_event_numbers_are_judged_like_the_scrubber_judges_them() {
    let scrubber = room_scrubber();
    let redacted = Value::String(scrubber.scrub("4242").into_owned());
    assert_ne!(redacted, json!("4242"), "the rule redacts the number");
    let h = Harness::with(|b| b.with_scrubber(scrubber.clone()));
    h.run(|| {
        // Each twice: the first scan fills the verdict table, the second answers from it.
        for round in 0..2u64 {
            tracing::info!(round, n = 4242_u64, "unsigned");
            tracing::info!(round, n = 4242_i64, "signed");
            tracing::info!(round, n = 42_u64, "small");
            tracing::info!(round, n = 42_u64, note = "text 4242", "with text");
            tracing::info!(round, n = -4242_i64, "negative");
            tracing::info!(round, n = 20_000_u64, "large");
        }
    });
    let lines = h.lines();
    assert_eq!(lines.len(), 12);
    for l in &lines {
        let d = &l["details"];
        match l["message"].as_str().unwrap() {
            "unsigned" | "signed" => assert_eq!(d["n"], redacted, "{l}"),
            "small" => assert_eq!(d["n"], json!(42), "{l}"),
            "with text" => {
                assert_eq!(d["n"], json!(42), "{l}");
                assert_eq!(
                    d["note"],
                    Value::String(scrubber.scrub("text 4242").into_owned())
                );
            }
            "negative" => assert_eq!(
                d["n"],
                Value::String(scrubber.scrub("-4242").into_owned()),
                "{l}"
            ),
            "large" => assert_eq!(d["n"], json!(20_000), "{l}"),
            other => panic!("unexpected line {other}"),
        }
    }
}

#[test]
fn a_kept_span_scope_follows_records_and_yields_to_the_event() {
    let h = Harness::new();
    h.run(|| {
        let outer = tracing::info_span!(
            "outer",
            tenant_id = "acme",
            route = "/tenants/{tenant}/evaluate",
            actor = tracing::field::Empty,
            phase = "load",
            attempt = 1_u64,
        );
        let _o = outer.enter();
        let inner = tracing::info_span!(
            "inner",
            step = 2_u64,
            job_id = "job-1",
            note = tracing::field::Empty
        );
        let _i = inner.enter();
        tracing::info!("first");
        tracing::info!("second");
        // A parent records: lines inside the child see it at once.
        outer.record("actor", "user-7");
        outer.record("phase", "evaluate");
        tracing::info!("after parent record");
        // The span itself records.
        inner.record("note", "half way");
        tracing::info!("after own record");
        // The event's own values win over the kept scope, for this line only.
        tracing::info!(
            tenant_id = "globex",
            job_id = "job-9",
            phase = "own",
            step = 5_u64,
            "own values"
        );
        tracing::info!("back to the spans");
        drop(_i);
        tracing::info!("in the parent");
    });
    let line = |m: &str| h.line(m);
    for m in ["first", "second"] {
        let l = line(m);
        assert_eq!(l["tenant_id"], "acme", "{l}");
        assert_eq!(l["route"], "/tenants/{tenant}/evaluate");
        assert_eq!(l["job_id"], "job-1");
        assert!(l.get("actor").is_none(), "{l}");
        assert_eq!(
            l["details"],
            json!({"step": 2, "phase": "load", "attempt": 1})
        );
    }
    let l = line("after parent record");
    assert_eq!(l["actor"], "user-7", "{l}");
    assert_eq!(
        l["details"],
        json!({"step": 2, "phase": "evaluate", "attempt": 1})
    );
    let l = line("after own record");
    assert_eq!(
        l["details"],
        json!({"step": 2, "note": "half way", "phase": "evaluate", "attempt": 1})
    );
    let l = line("own values");
    assert_eq!(l["tenant_id"], "globex", "{l}");
    assert_eq!(l["job_id"], "job-9");
    assert_eq!(l["route"], "/tenants/{tenant}/evaluate");
    assert_eq!(l["actor"], "user-7");
    assert_eq!(
        l["details"],
        json!({"phase": "own", "step": 5, "note": "half way", "attempt": 1})
    );
    let l = line("back to the spans");
    assert_eq!(l["tenant_id"], "acme", "{l}");
    assert_eq!(l["job_id"], "job-1");
    assert_eq!(
        l["details"],
        json!({"step": 2, "note": "half way", "phase": "evaluate", "attempt": 1})
    );
    let l = line("in the parent");
    assert!(l.get("job_id").is_none(), "{l}");
    assert_eq!(l["details"], json!({"phase": "evaluate", "attempt": 1}));
}

#[test]
fn the_key_order_of_details_is_the_same_with_a_kept_scope() {
    // Lines are compared as text: the kept scope must give the same bytes as the first line
    // (which builds it), but for the message.
    let h = Harness::new();
    h.run(|| {
        let outer = tracing::info_span!("outer", a = "1", b = 2_u64, request_id = "req-1");
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", c = "3", a = "inner a");
        let _i = inner.enter();
        for _ in 0..3 {
            tracing::info!(d = 4_u64, "same");
        }
    });
    let text = h.capture.contents();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| *l == lines[0]), "{lines:#?}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["request_id"], "req-1");
    // The event's own, then the inner span's, then the outer span's.
    let details = lines[0]
        .split_once(",\"details\":")
        .and_then(|(_, d)| d.strip_suffix('}'))
        .unwrap();
    assert_eq!(crate::support::keys_in_order(details), ["d", "c", "a", "b"]);
    assert_eq!(v["details"]["a"], "inner a");
}
