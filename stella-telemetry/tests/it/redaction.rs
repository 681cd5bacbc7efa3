//! Secrets and PII never reach the output: messages, fields, span fields, `Debug` payloads and
//! error chains.

use crate::support::Harness;

const GITHUB: &str = "ghp_R3alLooking0Token1234567890abcdefABCD";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const AWS: &str = "AKIA2E0A8F3B244C9986";
const EMAIL: &str = "bob.smith@example.com";
const PASSWORD: &str = "hunter2-Correct-Horse";
const CARD: &str = "4111 1111 1111 1111";

fn secrets() -> [&'static str; 6] {
    [GITHUB, JWT, AWS, EMAIL, PASSWORD, CARD]
}

fn assert_clean(h: &Harness) {
    let out = h.capture.contents();
    assert!(!out.is_empty());
    for s in secrets() {
        assert!(!out.contains(s), "{s} leaked in {out}");
    }
    assert!(
        !out.contains("4111111111111111"),
        "card number leaked in {out}"
    );
    h.lines();
}

#[test]
fn messages_and_fields() {
    let h = Harness::new();
    h.run(|| {
        tracing::info!("user {EMAIL} logged in with password={PASSWORD}");
        tracing::info!(
            password = PASSWORD,
            token = GITHUB,
            auth = format!("Bearer {JWT}").as_str(),
            "fields"
        );
        tracing::warn!(
            note = format!("key {AWS} and card {CARD}").as_str(),
            card = 4111111111111111_u64,
            "more"
        );
        tracing::info!(client_secret = 12345_u64, "numeric secret");
    });
    assert_clean(&h);
    let l = h.line("fields");
    assert_eq!(l["details"]["password"], "[REDACTED:password]");
    assert_eq!(
        h.line("numeric secret")["details"]["client_secret"],
        "[REDACTED:secret]"
    );
}

#[test]
fn span_fields() {
    let h = Harness::new();
    h.run(|| {
        let span = tracing::info_span!(
            "api",
            actor = EMAIL,
            authorization = format!("Bearer {JWT}").as_str(),
            api_key = AWS
        );
        let _e = span.enter();
        span.record("actor", EMAIL);
        let inner = tracing::info_span!(
            "db",
            query = format!("select * where password='{PASSWORD}' and card='{CARD}'").as_str()
        );
        let _i = inner.enter();
        tracing::info!(github = GITHUB, "inside");
    });
    assert_clean(&h);
    assert_eq!(h.line("inside")["actor"], "[REDACTED:email]");
}

#[test]
fn debug_payloads() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Login<'a> {
        email: &'a str,
        password: &'a str,
        headers: Vec<(&'a str, String)>,
    }
    let payload = Login {
        email: EMAIL,
        password: PASSWORD,
        headers: vec![("authorization", format!("Bearer {JWT}"))],
    };
    let h = Harness::new();
    h.run(|| {
        tracing::info!(request = ?payload, "debug payload");
        tracing::info!("inline {payload:?}");
        let span = tracing::info_span!("api", body = ?payload);
        let _e = span.enter();
        tracing::info!("in span");
    });
    assert_clean(&h);
}

#[test]
fn error_chains() {
    #[derive(Debug)]
    struct Inner(String);
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "auth rejected for {} with token {}", EMAIL, self.0)
        }
    }
    impl std::error::Error for Inner {}
    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "login failed: password={PASSWORD}\ncard {CARD}")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let e = Outer(Inner(GITHUB.to_owned()));
    let h = Harness::new();
    h.run(|| {
        tracing::error!(error = &e as &dyn std::error::Error, "chain");
        tracing::error!(cause = &e as &dyn std::error::Error, "named");
        tracing::error!(error = %e, "display");
    });
    assert_clean(&h);
    let l = h.line("chain");
    assert_eq!(
        l["error_message"],
        "login failed: password=[REDACTED:password]"
    );
    assert!(
        l["details"]["stack"]
            .as_str()
            .unwrap()
            .contains("caused by: auth rejected for [REDACTED:email]")
    );
}

#[test]
fn paths_beyond_the_repo_root() {
    let h = Harness::new();
    h.run(|| {
        tracing::info!(
            file = "/work/main/src/lib.rs",
            other = "/home/bob/.ssh/id_rsa",
            "paths"
        )
    });
    let l = h.line("paths");
    assert_eq!(l["details"]["file"], "/work/main/src/lib.rs");
    assert_eq!(l["details"]["other"], "[REDACTED:path]");
}

#[derive(serde::Deserialize)]
struct Leak {
    kind: String,
    value: String,
}

/// The part of a corpus value that must never appear: the secret itself, not its key.
fn secret_part(value: &str) -> &str {
    let v = value.trim_end_matches('=');
    v.rsplit_once([' ', '=']).map_or(v, |(_, s)| s)
}

#[test]
fn corpus_never_leaks_through_any_channel() {
    use log::Log as _;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Payload<'a> {
        note: &'a str,
    }
    #[derive(Debug)]
    struct Wrapped(String);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "upstream said {}", self.0)
        }
    }
    impl std::error::Error for Wrapped {}
    #[derive(Debug)]
    struct Top(Wrapped);
    impl std::fmt::Display for Top {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("request failed")
        }
    }
    impl std::error::Error for Top {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    let leaks: Vec<Leak> = serde_json::from_str(include_str!("../data/leaks.json")).unwrap();
    let bridge = stella_telemetry::LogBridge::new();
    for leak in &leaks {
        let h = Harness::new();
        let v = leak.value.as_str();
        h.run(|| {
            let span = tracing::info_span!("api", note = v);
            let _e = span.enter();
            tracing::info!("message with {v} inside");
            tracing::info!(note = v, "field");
            tracing::info!(payload = ?Payload { note: v }, "debug payload");
            let e = Top(Wrapped(v.to_owned()));
            tracing::error!(error = &e as &dyn std::error::Error, "error chain");
            bridge.log(
                &log::Record::builder()
                    .level(log::Level::Warn)
                    .target("dep")
                    .args(format_args!("dep saw {v}"))
                    .build(),
            );
        });
        let out = h.capture.contents();
        let secret = secret_part(v);
        assert!(!out.contains(secret), "{} leaked: {out}", leak.kind);
        assert!(
            out.contains(&format!("[REDACTED:{}", leak.kind)) || leak.kind == "password",
            "{} not named in {out}",
            leak.kind
        );
        assert_eq!(h.lines().len(), 5);
    }
}
