//! Per-tenant deep debug relaxes PII only for the granted tenant and only until expiry.

use std::time::Duration;

use stella_scrub::PiiKind;
use stella_scrub::grants::GrantRequest;

use crate::support::Harness;

const EMAIL: &str = "bob@example.com";

fn emit(h: &Harness, tag: &str) {
    h.run(|| {
        for tenant in ["acme", "globex"] {
            let span = tracing::info_span!("api", tenant_id = tenant, contact = EMAIL);
            let _e = span.enter();
            tracing::info!(user = EMAIL, "{tag} {tenant} mail {EMAIL} password=hunter2");
            tracing::error!(
                error_message = format!("failed for {EMAIL}").as_str(),
                "{tag} {tenant} error"
            );
        }
    });
}

#[test]
fn relaxes_only_the_granted_tenant_until_expiry() {
    let h = Harness::new();
    let grant = h
        .run(|| {
            h.handle.grant_deep_debug(
                GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(600))
                    .with_actor("oncall-7")
                    .with_reason("INC-42"),
            )
        })
        .unwrap();
    let audit = h.line("deep debug decision");
    assert_eq!(audit["tenant_id"], "acme");
    assert_eq!(audit["actor"], "oncall-7");
    assert_eq!(audit["decision_effect"], "allow");
    assert_eq!(audit["decision_reason"], "INC-42");
    assert_eq!(audit["action"], "deep_debug.granted");
    assert_eq!(audit["details"]["decision.kind"], "deep_debug");
    assert_eq!(audit["details"]["decision.pii_kinds"], "email");
    assert_eq!(audit["details"]["decision.grant_id"], grant.id());

    emit(&h, "during");
    let acme = h.line(&format!(
        "during acme mail {EMAIL} password=[REDACTED:password]"
    ));
    assert_eq!(acme["details"]["user"], EMAIL);
    assert_eq!(
        acme["details"]["contact"], EMAIL,
        "span fields are relaxed too"
    );
    let globex = h.line("during globex mail [REDACTED:email] password=[REDACTED:password]");
    assert_eq!(globex["details"]["user"], "[REDACTED:email]");
    assert_eq!(globex["details"]["contact"], "[REDACTED:email]");
    // error_message stays PII-free even for the granted tenant
    assert_eq!(
        h.line("during acme error")["error_message"],
        "failed for [REDACTED:email]"
    );

    h.clock.advance(Duration::from_secs(601));
    emit(&h, "after");
    let acme = h.line("after acme mail [REDACTED:email] password=[REDACTED:password]");
    assert_eq!(acme["details"]["user"], "[REDACTED:email]");
    assert_eq!(acme["details"]["contact"], "[REDACTED:email]");

    assert_eq!(h.run(|| h.handle.expire_deep_debug()), 1);
    let lines = h.lines();
    let expired: Vec<_> = lines
        .iter()
        .filter(|l| l["action"] == "deep_debug.expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["decision_effect"], "deny");
    assert!(h.grants.active().is_empty());
}

#[test]
fn revocation_ends_relaxation_and_is_logged() {
    let h = Harness::new();
    let grant = h
        .run(|| {
            h.handle.grant_deep_debug(
                GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(600))
                    .with_actor("oncall-7")
                    .with_reason("INC-42"),
            )
        })
        .unwrap();
    h.run(|| h.handle.revoke_deep_debug(grant.id(), "lead-1"))
        .unwrap();
    emit(&h, "revoked");
    assert!(!h.capture.contents().contains(&format!("mail {EMAIL}")));
    let lines = h.lines();
    let revoked: Vec<_> = lines
        .iter()
        .filter(|l| l["action"] == "deep_debug.revoked")
        .collect();
    assert_eq!(revoked[0]["actor"], "lead-1");
}

#[test]
fn invalid_grants_are_refused_and_not_logged() {
    let h = Harness::new();
    let r = h.run(|| {
        h.handle.grant_deep_debug(GrantRequest::new(
            "acme",
            [PiiKind::Email],
            Duration::from_secs(600),
        ))
    });
    assert!(r.is_err());
    assert!(h.capture.contents().is_empty());
}

#[test]
fn the_guard_logs_expiries_on_its_own() {
    use stella_scrub::grants::{Grants, ManualClock};
    use stella_telemetry::{Config, Output};

    let clock = ManualClock::at_unix_secs(crate::support::T0);
    let grants = Grants::builder().with_clock(clock.clone()).build().unwrap();
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_grants(grants.clone())
            .with_output(Output::Writer(Box::new(capture.clone()))),
    )
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        guard.handle().grant_deep_debug(
            GrantRequest::new("acme", [PiiKind::Ip], Duration::from_secs(60))
                .with_actor("oncall-7")
                .with_reason("INC-7"),
        )
    })
    .unwrap();
    clock.advance(Duration::from_secs(61));
    // The housekeeping thread sweeps once a second; wait (bounded) for its record.
    let mut found = false;
    for _ in 0..300 {
        guard.flush().unwrap();
        if capture.contents().contains("deep_debug.expired") {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(found, "no expiry record in {}", capture.contents());
    assert!(grants.active().is_empty());
    guard.shutdown().unwrap();
    crate::support::check_lines(&capture.contents());
}
