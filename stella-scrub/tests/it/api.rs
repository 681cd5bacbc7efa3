//! The public API: builder errors, Cow behaviour, HMAC tags, truncation, counts, grants, custom
//! rules, thread safety.

use std::borrow::Cow;
use std::time::Duration;

use stella_scrub::grants::{AuditAction, GrantError, GrantRequest, Grants, ManualClock};
use stella_scrub::rules::{Rule, key_kind};
use stella_scrub::{Kind, PiiKind, PrivateIpPolicy, Scrubber};

#[test]
fn public_types_are_send_and_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<Scrubber>();
    ok::<stella_scrub::ScrubberBuilder>();
    ok::<stella_scrub::ScrubView<'static>>();
    ok::<Kind>();
    ok::<PiiKind>();
    ok::<PrivateIpPolicy>();
    ok::<stella_scrub::RedactionCounts>();
    ok::<stella_scrub::BuildError>();
    ok::<Rule>();
    ok::<Grants>();
    ok::<stella_scrub::grants::GrantsBuilder>();
    ok::<stella_scrub::grants::Grant>();
    ok::<GrantRequest>();
    ok::<stella_scrub::grants::AuditRecord>();
    ok::<AuditAction>();
    ok::<GrantError>();
    ok::<ManualClock>();
    ok::<stella_scrub::grants::SystemClock>();
    #[cfg(feature = "tracing")]
    {
        ok::<stella_scrub::tracing::ScrubFields>();
        ok::<stella_scrub::tracing::ScrubJson>();
    }
}

#[test]
fn default_build_and_borrowing() {
    let s = Scrubber::builder().build().expect("builds");
    assert!(matches!(
        s.scrub("nothing to see here 42"),
        Cow::Borrowed(_)
    ));
    assert!(matches!(s.scrub(""), Cow::Borrowed(_)));
    let mut buf = String::from("> ");
    s.scrub_into("a@b.example", &mut buf);
    assert_eq!(buf, "> [REDACTED:email]");
    assert!(s.memory_usage() > 0);
}

#[test]
fn build_errors_name_the_rule_or_setting() {
    let e = Scrubber::builder()
        .with_rule(Rule::new("bad_one", "(unclosed"))
        .build()
        .unwrap_err();
    assert_eq!(e.rule_name(), Some("bad_one"));
    assert!(e.to_string().contains("bad_one"));
    let e = Scrubber::builder()
        .with_rule(Rule::new("empty", "a*").with_anchor("aa"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("empty string"));
    let e = Scrubber::builder()
        .with_rule(Rule::new("email", "x+y"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("built-in"));
    let e = Scrubber::builder()
        .with_rule(Rule::new("Bad Name", "xy"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("[a-z0-9_]"));
    let e = Scrubber::builder()
        .with_rule(Rule::new("dup", "xy"))
        .with_rule(Rule::new("dup", "zw"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("duplicate"));
    assert!(
        Scrubber::builder()
            .with_repo_root("relative/dir")
            .build()
            .is_err()
    );
    assert!(
        Scrubber::builder()
            .with_hmac_key(b"short".to_vec())
            .build()
            .is_err()
    );
    assert!(Scrubber::builder().with_max_input_len(10).build().is_err());
    assert!(
        Scrubber::builder()
            .with_path_roots(["app"])
            .build()
            .is_err()
    );
}

#[test]
fn custom_rules_anchored_and_not() {
    let s = Scrubber::builder()
        .with_rule(Rule::new("ticket", r"TCK-[A-Z0-9]{8}").with_anchor("TCK-"))
        .with_rule(Rule::new("employee_id", r"\bE\d{6}\b"))
        .build()
        .expect("builds");
    assert_eq!(
        s.scrub("see TCK-AB12CD34 and E123456"),
        "see [REDACTED:ticket] and [REDACTED:employee_id]"
    );
    let counts = s.redaction_counts();
    assert_eq!(counts.get("ticket"), 1);
    assert_eq!(counts.get("employee_id"), 1);
}

#[test]
fn hmac_tags_correlate_without_revealing() {
    let s = Scrubber::builder()
        .with_hmac_key(b"0123456789abcdef-test-key".to_vec())
        .build()
        .expect("builds");
    let a = s.scrub("password=hunter2").into_owned();
    let b = s.scrub("password=hunter2").into_owned();
    let c = s.scrub("password=hunter3").into_owned();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.starts_with("password=[REDACTED:password#") && a.ends_with(']'));
    let tag = &a["password=[REDACTED:password#".len()..a.len() - 1];
    assert_eq!(tag.len(), 8);
    assert!(tag.bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(!a.contains("hunter2"));
    assert_eq!(s.scrub(&a), a, "tagged output is idempotent");
    let other = Scrubber::builder()
        .with_hmac_key(b"another-key-0123456789".to_vec())
        .build()
        .expect("builds");
    assert_ne!(
        other.scrub("password=hunter2"),
        a,
        "the tag depends on the key"
    );
}

#[test]
fn overlong_values_are_truncated_never_passed_through() {
    let s = Scrubber::builder()
        .with_max_input_len(1024)
        .build()
        .expect("builds");
    let mut text = "x ".repeat(400);
    text.push_str("token=ghp_16C7e42F292c6912E7710c838347Ae178B4a ");
    text.push_str(&"y ".repeat(400));
    text.push_str("AKIAIOSFODNN7EXAMPLE");
    let out = s.scrub(&text);
    assert!(out.len() <= 1024 + 64, "{}", out.len());
    assert!(out.contains("[TRUNCATED:"));
    assert!(!out.contains("ghp_16C7"));
    assert!(!out.contains("AKIAIOSFODNN7EXAMPLE"));
    // a token straddling the cut is dropped whole, not half kept
    let mut t2 = "a".repeat(1000);
    t2.push(' ');
    t2.push_str("ghp_16C7e42F292c6912E7710c838347Ae178B4a");
    let out2 = s.scrub(&t2);
    assert!(!out2.contains("ghp_"), "{out2}");
    let mut buf = String::new();
    s.scrub_into(&t2, &mut buf);
    assert_eq!(buf, out2);
}

#[test]
fn counts_are_per_kind_and_shared_by_clones() {
    let s = Scrubber::builder().build().expect("builds");
    let c = s.clone();
    let _ = s.scrub("a@b.example c@d.example password=x1");
    let _ = c.scrub_field("api_key", "zzz");
    let counts = s.redaction_counts();
    assert_eq!(counts.get("email"), 2);
    assert_eq!(counts.get("password"), 1);
    assert_eq!(counts.get("api_key"), 1);
    assert_eq!(counts.total(), 4);
    let listed: Vec<_> = counts.iter().map(|(k, _)| k.to_owned()).collect();
    for name in &listed {
        assert!(
            Kind::from_name(name).is_some(),
            "only kind names are exposed: {name}"
        );
    }
}

#[test]
fn private_ip_policy() {
    let keep = Scrubber::builder().build().expect("builds");
    let redact = Scrubber::builder()
        .with_private_ips(PrivateIpPolicy::Redact)
        .build()
        .expect("builds");
    for ip in [
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.20",
        "fd12:3456::1",
        "100.64.0.1",
    ] {
        assert_eq!(keep.scrub(ip), ip);
        assert_eq!(redact.scrub(ip), "[REDACTED:ip]", "{ip}");
    }
    for ip in ["127.0.0.1", "::1", "0.0.0.0", "::"] {
        assert_eq!(redact.scrub(ip), ip, "loopback/unspecified kept");
    }
}

#[test]
fn repo_root_is_component_wise() {
    let s = Scrubber::builder()
        .with_repo_root("/work/main")
        .build()
        .expect("builds");
    assert_eq!(s.scrub("/work/main/src/lib.rs"), "/work/main/src/lib.rs");
    assert_eq!(
        s.scrub("at /work/main/./docs/x.md:3"),
        "at /work/main/./docs/x.md:3"
    );
    assert_eq!(s.scrub("at /work/mainframe/x"), "at [REDACTED:path]");
    assert_eq!(s.scrub("at /work/main/../secrets/x"), "at [REDACTED:path]");
    assert_eq!(s.scrub("GET /api/v1/users"), "GET /api/v1/users");
    let w = Scrubber::builder()
        .with_repo_root("C:\\src\\repo")
        .build()
        .expect("builds");
    assert_eq!(w.scrub(r"C:\src\repo\main.rs"), r"C:\src\repo\main.rs");
    assert_eq!(w.scrub(r"c:\SRC\Repo\main.rs"), r"c:\SRC\Repo\main.rs");
    assert_eq!(w.scrub(r"C:\Users\bob\x.txt"), "[REDACTED:path]");
    let app = Scrubber::builder()
        .with_path_root("/app/")
        .build()
        .expect("builds");
    assert_eq!(
        app.scrub("open /app/config/secrets.yaml"),
        "open [REDACTED:path]"
    );
}

#[test]
fn deep_debug_relaxes_only_granted_pii_for_that_tenant() {
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let grants = Grants::builder()
        .with_clock(clock.clone())
        .with_max_ttl(Duration::from_secs(3600))
        .build()
        .expect("builds");
    let s = Scrubber::builder()
        .with_grants(grants.clone())
        .build()
        .expect("builds");
    let line = "bob@example.com from 8.8.8.8 password=hunter2 card 4111 1111 1111 1111 ssn 123-45-6789 key AKIAIOSFODNN7EXAMPLE";
    let strict = "[REDACTED:email] from [REDACTED:ip] password=[REDACTED:password] card [REDACTED:card] ssn [REDACTED:ssn] key [REDACTED:aws_access_key_id]";
    assert_eq!(s.for_tenant(Some("acme")).scrub(line), strict);

    let req = GrantRequest::new(
        "acme",
        [PiiKind::Email, PiiKind::Ip],
        Duration::from_secs(600),
    )
    .with_actor("oncall@acme")
    .with_reason("INC-7 login loop");
    let (grant, audit) = grants.grant(req).expect("granted");
    assert_eq!(audit.action, AuditAction::Granted);
    assert_eq!(audit.tenant, "acme");
    assert_eq!(audit.kinds, vec![PiiKind::Email, PiiKind::Ip]);
    assert_eq!(audit.to_json()["reason"], "INC-7 login loop");

    let relaxed = "bob@example.com from 8.8.8.8 password=[REDACTED:password] card [REDACTED:card] ssn [REDACTED:ssn] key [REDACTED:aws_access_key_id]";
    assert_eq!(s.for_tenant(Some("acme")).scrub(line), relaxed);
    assert_eq!(
        s.for_tenant(Some("globex")).scrub(line),
        strict,
        "other tenants unaffected"
    );
    assert_eq!(s.for_tenant(None).scrub(line), strict);
    assert_eq!(s.scrub(line), strict);
    assert_eq!(
        s.for_tenant(Some("acme")).scrub_field("password", "x"),
        "[REDACTED:password]"
    );
    assert_eq!(
        s.for_tenant(Some("acme"))
            .scrub_field("email", "bob@example.com"),
        "bob@example.com"
    );
    let v = serde_json::json!({"user": "bob@example.com", "token": "t"});
    assert_eq!(
        s.for_tenant(Some("acme")).scrub_json(&v),
        serde_json::json!({"user": "bob@example.com", "token": "[REDACTED:token]"})
    );
    assert_eq!(
        s.for_tenant(Some("acme")).relaxed(),
        vec![PiiKind::Email, PiiKind::Ip]
    );
    assert!(!s.for_tenant(Some("acme")).is_strict());
    assert!(s.for_tenant(Some("other")).is_strict());
    assert!(s.for_tenant(None).is_strict());

    // expiry applies at once; the sweep returns the audit record
    clock.advance(Duration::from_secs(600));
    assert_eq!(s.for_tenant(Some("acme")).scrub(line), strict);
    assert!(s.for_tenant(Some("acme")).is_strict());
    assert!(s.for_tenant(Some("acme")).relaxed().is_empty());
    let expired = grants.expire();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].action, AuditAction::Expired);
    assert_eq!(expired[0].grant_id, grant.id());

    // revoke
    let (g2, _) = grants
        .grant(
            GrantRequest::new("acme", [PiiKind::Path], Duration::from_secs(60))
                .with_actor("a")
                .with_reason("r"),
        )
        .expect("granted");
    assert_eq!(
        s.for_tenant(Some("acme")).scrub("/home/bob/x"),
        "/home/bob/x"
    );
    let rec = grants.revoke(g2.id(), "security@acme").expect("revoked");
    assert_eq!(rec.action, AuditAction::Revoked);
    assert_eq!(rec.actor, "security@acme");
    assert_eq!(
        s.for_tenant(Some("acme")).scrub("/home/bob/x"),
        "[REDACTED:path]"
    );

    // TTL above the maximum is refused
    let too_long = GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(7200))
        .with_actor("a")
        .with_reason("r");
    assert!(matches!(
        grants.grant(too_long),
        Err(GrantError::Ttl { .. })
    ));
}

#[test]
fn key_classifier() {
    assert_eq!(key_kind("password"), Some(Kind::Password));
    assert_eq!(key_kind("Set-Cookie"), Some(Kind::Cookie));
    assert_eq!(key_kind("token_type"), None);
    assert_eq!(key_kind("key"), None);
    assert_eq!(key_kind("pass"), Some(Kind::Password));
}

#[test]
fn secret_keys_are_what_scrub_field_decides_by() {
    let s = super::scrubber();
    for k in [
        "password",
        "pass",
        "X-Api-Key",
        "client_secret",
        "Set-Cookie",
        "phone",
        "ssn",
        "card_number",
    ] {
        assert!(s.is_secret_key(k), "{k}");
    }
    for k in [
        "token_type",
        "max_tokens",
        "password_changed_at",
        "secret_name",
        "key",
        "trace_id",
        "message",
        "",
        "http.route",
    ] {
        assert!(!s.is_secret_key(k), "{k}");
    }
}

#[test]
fn route_keys_are_not_plain_text_and_keep_their_paths() {
    let s = super::scrubber();
    for k in [
        "http.route",
        "http_route",
        "URL.PATH",
        "url.template",
        "http.target",
        "route",
    ] {
        assert!(!s.scrubs_as_text(k), "{k}");
        assert!(!s.is_secret_key(k), "{k}");
        assert_eq!(
            s.scrub_field(k, "/home/{user}/feed"),
            "/home/{user}/feed",
            "{k}"
        );
        assert_eq!(
            s.scrub_field(k, "/home/alice/notes?sig=abcdefghijklmnop1234"),
            "/home/alice/notes?sig=[REDACTED:signature]",
            "{k}"
        );
    }
    for k in [
        "trace_id",
        "message",
        "routes",
        "path",
        "file",
        "http.routes",
    ] {
        assert!(s.scrubs_as_text(k), "{k}");
        assert_eq!(
            s.scrub_field(k, "/home/alice/feed"),
            "[REDACTED:path]",
            "{k}"
        );
    }
    // A deep-debug view that relaxes nothing keeps the route too.
    let view = s.for_tenant(None);
    assert_eq!(
        view.scrub_field("http.route", "/home/{user}"),
        "/home/{user}"
    );
}

#[test]
fn scrubs_from_many_threads() {
    let s = Scrubber::builder().build().expect("builds");
    std::thread::scope(|scope| {
        for i in 0..4 {
            let s = s.clone();
            scope.spawn(move || {
                for j in 0..200 {
                    let line = format!("user{i}-{j}@example.com password=p{j}");
                    let out = s.scrub(&line);
                    assert_eq!(out, "[REDACTED:email] password=[REDACTED:password]");
                }
            });
        }
    });
    assert_eq!(s.redaction_counts().get("email"), 800);
}

/// Short secret key names are decided on the key's own bytes, not on the word or quote before
/// the key: `pw` after a word, in logfmt, in quotes, in JSON, in a query string.
#[test]
fn short_keys_after_a_word() {
    let s = super::scrubber();
    for (input, expected) in [
        ("x pw=hunter2", "x pw=[REDACTED:password]"),
        ("where pw='s3cret'", "where pw='[REDACTED:password]'"),
        ("pw=hunter2", "pw=[REDACTED:password]"),
        ("a=1 pw=hunter2 b=2", "a=1 pw=[REDACTED:password] b=2"),
        (
            r#"{"a":1,"pw":"hunter2"}"#,
            r#"{"a":1,"pw":"[REDACTED:password]"}"#,
        ),
        ("?u=bob&pw=hunter2", "?u=bob&pw=[REDACTED:password]"),
        ("x dbPw=hunter2", "x dbPw=[REDACTED:password]"),
        (
            "x pin=1234 sid=abc123",
            "x pin=[REDACTED:otp] sid=[REDACTED:session]",
        ),
    ] {
        assert_eq!(s.scrub(input), expected, "{input}");
    }
    for clean in ["x pwm=1 npw=3 mypw=4", "pw hunter2"] {
        assert_eq!(s.scrub(clean), clean);
    }
}

/// `scrub_json_in_place` leaves clean strings where they are (no copy, no allocation) and
/// replaces only what it redacts.
#[test]
fn json_in_place_touches_only_what_changes() {
    let s = super::scrubber();
    let mut v = serde_json::json!({
        "service": "policy-engine",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "attrs": {"route": "/api/v1/users/{id}", "pw": "hunter2"},
        "tags": ["a", "b"],
    });
    let before = v["service"].as_str().map(str::as_ptr);
    let route_before = v["attrs"]["route"].as_str().map(str::as_ptr);
    s.scrub_json_in_place(&mut v);
    assert_eq!(v["service"].as_str().map(str::as_ptr), before);
    assert_eq!(v["attrs"]["route"].as_str().map(str::as_ptr), route_before);
    assert_eq!(v["attrs"]["pw"], "[REDACTED:password]");
    assert_eq!(v, s.scrub_json(&v));
}

/// Scrubbing from a thread-local's destructor, after the scrubber's own per-thread buffers
/// are gone (they were first used after this value was set, so they are destroyed before it):
/// no panic, the same redaction.
#[test]
fn scrubbing_while_thread_locals_are_destroyed() {
    struct ScrubOnDrop(std::sync::mpsc::Sender<String>);
    impl Drop for ScrubOnDrop {
        fn drop(&mut self) {
            let line = format!(
                "{} token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
                "x".repeat(600)
            );
            let out = super::scrubber().scrub(&line).into_owned();
            let _ = self.0.send(out);
        }
    }
    thread_local! {
        static LAST: std::cell::RefCell<Option<ScrubOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        LAST.with(|l| *l.borrow_mut() = Some(ScrubOnDrop(tx)));
        // The scrubber's per-thread buffers come into use after `LAST`.
        let warm = format!(
            "{} ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            "y".repeat(600)
        );
        assert!(super::scrubber().scrub(&warm).contains("[REDACTED:"));
    });
    assert!(worker.join().is_ok(), "the thread panicked");
    let out = rx.recv().expect("the destructor scrubbed");
    assert!(out.contains("[REDACTED:"), "{out}");
    assert!(!out.contains("ghp_0123456789"), "{out}");
}
