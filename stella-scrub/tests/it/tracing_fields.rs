//! The `tracing` feature: a secret passed as a field, in a message and in a span field never
//! reaches the writer, in text and in JSON output.

use std::io;
use std::sync::{Arc, Mutex};

use stella_scrub::tracing::{ScrubFields, ScrubJson};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
    }
}

const SECRETS: &[&str] = &[
    "hunter2",
    "bob@example.com",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "k-12345",
    "s3ss10n",
    "4111 1111 1111 1111",
];

fn emit() {
    let span = tracing::info_span!("request", api_key = "k-12345", tenant = "acme");
    let _g = span.enter();
    span.record("tenant", "acme");
    let inner = tracing::info_span!("db", session = "s3ss10n");
    let _g2 = inner.enter();
    tracing::info!(
        password = "hunter2",
        user = "bob",
        "login by bob@example.com"
    );
    tracing::warn!(
        card = "4111 1111 1111 1111",
        "clone with token ghp_16C7e42F292c6912E7710c838347Ae178B4a failed"
    );
    tracing::error!(pin = 1234, "done");
}

#[test]
fn text_output_never_contains_a_secret() {
    let cap = Capture::default();
    let scrubber = super::scrubber();
    let subscriber = tracing_subscriber::fmt()
        .fmt_fields(ScrubFields::new(scrubber))
        .with_writer(cap.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let out = cap.text();
    for s in SECRETS {
        assert!(!out.contains(s), "{s} leaked:\n{out}");
    }
    assert!(out.contains("login by [REDACTED:email]"), "{out}");
    assert!(out.contains("password=\"[REDACTED:password]\""), "{out}");
    assert!(out.contains("api_key=\"[REDACTED:api_key]\""), "{out}");
    assert!(out.contains("session=\"[REDACTED:session]\""), "{out}");
    assert!(out.contains("pin=[REDACTED:otp]"), "{out}");
    assert!(out.contains("user=\"bob\""), "{out}");
}

#[test]
fn json_output_never_contains_a_secret() {
    let cap = Capture::default();
    let json = ScrubJson::new(super::scrubber());
    let subscriber = tracing_subscriber::fmt()
        .event_format(json.clone())
        .fmt_fields(json)
        .with_writer(cap.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let out = cap.text();
    for s in SECRETS {
        assert!(!out.contains(s), "{s} leaked:\n{out}");
    }
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["fields"]["message"], "login by [REDACTED:email]");
    assert_eq!(lines[0]["fields"]["password"], "[REDACTED:password]");
    assert_eq!(lines[0]["fields"]["user"], "bob");
    assert_eq!(lines[0]["spans"][0]["api_key"], "[REDACTED:api_key]");
    assert_eq!(lines[0]["spans"][0]["tenant"], "acme");
    assert_eq!(lines[0]["span"]["session"], "[REDACTED:session]");
    assert_eq!(lines[1]["fields"]["card"], "[REDACTED:card]");
    assert_eq!(lines[2]["fields"]["pin"], "[REDACTED:otp]");
    assert_eq!(lines[2]["level"], "ERROR");
}
