//! Decision logs have one shape everywhere.

use stella_context::{CurrentContext, RequestContext};
use stella_telemetry::decision::{Decision, Effect};

use crate::support::Harness;

#[test]
fn authz_and_policy_decisions() {
    let h = Harness::new();
    let cx = CurrentContext::from_request(
        RequestContext::new()
            .with_tenant_id("acme")
            .with_actor("user-1")
            .with_request_id("r-1"),
    );
    h.run(|| {
        cx.scope(|| {
            Decision::authz(Effect::Deny)
                .with_resource("tenants/acme/evidence")
                .with_action("evidence:create")
                .with_scopes([
                    "stella:evidence:create#tenant/acme",
                    "stella:obs:read#tenant/acme",
                ])
                .with_reason("missing_scope")
                .emit();
            Decision::policy(Effect::Warn)
                .with_policy_version("2026.11.3")
                .with_rule_ids(["no-critical", "sbom-signed"])
                .with_resource("sbom/7f3c")
                .with_reason("token=ghp_R3alLooking0Token1234567890abcdefABCD")
                .emit();
        });
    });
    let a = h.line("authz decision");
    assert_eq!(a["decision_effect"], "deny");
    assert_eq!(a["decision_reason"], "missing_scope");
    assert_eq!(a["tenant_id"], "acme");
    assert_eq!(a["actor"], "user-1");
    assert_eq!(a["request_id"], "r-1");
    assert_eq!(a["resource"], "tenants/acme/evidence");
    assert_eq!(a["action"], "evidence:create");
    assert_eq!(a["details"]["decision.kind"], "authz");
    assert_eq!(
        a["details"]["decision.scopes"],
        "stella:evidence:create#tenant/acme,stella:obs:read#tenant/acme"
    );
    let p = h.line("policy evaluation");
    assert_eq!(p["decision_effect"], "warn");
    assert_eq!(p["policy_version"], "2026.11.3");
    assert_eq!(p["details"]["decision.rule_ids"], "no-critical,sbom-signed");
    assert_eq!(p["decision_reason"], "token=[REDACTED:github_token]");
}

#[test]
fn decision_logs_pass_any_level_filter() {
    use stella_telemetry::{Config, Output};
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("svc", "1")
            .with_filter("error")
            .with_output(Output::Writer(Box::new(capture.clone()))),
    )
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!("filtered");
        Decision::authz(Effect::Allow).with_reason("ok").emit();
    });
    guard.shutdown().unwrap();
    let lines = crate::support::check_lines(&capture.contents());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "authz decision");
}
