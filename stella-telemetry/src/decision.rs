//! Decision logs: one structured record per authZ decision and per policy evaluation, the same
//! shape in every service.
//!
//! A decision log is an `info` event with target [`DECISION_TARGET`]. It is never rate-limited
//! and, like errors, waits for room in a full queue rather than being dropped. It fills the
//! common fields `decision_effect`, `decision_reason`, `actor`, `resource`, `action`,
//! `policy_version` (and `tenant_id` when given; otherwise the request context's), and puts the
//! decision kind, the rule ids and the scopes checked under `details` as `decision.kind`,
//! `decision.rule_ids` and `decision.scopes` (comma-separated). Every value is scrubbed like any
//! other field.
//!
//! ```
//! use stella_telemetry::decision::{Decision, Effect};
//!
//! Decision::authz(Effect::Deny)
//!     .with_actor("user-8731")
//!     .with_resource("tenants/acme/evidence")
//!     .with_action("evidence:create")
//!     .with_scopes(["stella:evidence:create#tenant/acme"])
//!     .with_reason("missing_scope")
//!     .emit();
//!
//! Decision::policy(Effect::Deny)
//!     .with_policy_version("2026.11.3")
//!     .with_rule_ids(["no-critical-cves", "sbom-signed"])
//!     .with_resource("sbom/7f3c")
//!     .with_reason("2 critical vulnerabilities")
//!     .emit();
//! ```

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use stella_scrub::grants::{AuditAction, AuditRecord};

pub use crate::writer::DECISION_TARGET;

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Effect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// Allowed with a warning (policy `warn` rules).
    Warn,
    /// No rule applied.
    NotApplicable,
    /// The decision could not be made (evaluation error).
    Indeterminate,
}

impl Effect {
    /// `allow`, `deny`, `warn`, `not_applicable` or `indeterminate`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Warn => "warn",
            Effect::NotApplicable => "not_applicable",
            Effect::Indeterminate => "indeterminate",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecisionKind {
    /// An authorisation decision (scopes, tenancy).
    Authz,
    /// A policy evaluation.
    Policy,
    /// A deep-debug grant, revocation or expiry.
    DeepDebug,
}

impl DecisionKind {
    /// `authz`, `policy` or `deep_debug`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Authz => "authz",
            DecisionKind::Policy => "policy",
            DecisionKind::DeepDebug => "deep_debug",
        }
    }
}

/// One decision, emitted as one structured log record by [`Decision::emit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a decision is logged only by `emit()`"]
pub struct Decision {
    kind: DecisionKind,
    effect: Effect,
    reason: Option<String>,
    tenant_id: Option<String>,
    actor: Option<String>,
    resource: Option<String>,
    action: Option<String>,
    policy_version: Option<String>,
    rule_ids: Vec<String>,
    scopes: Vec<String>,
}

impl Decision {
    /// An authorisation decision.
    pub fn authz(effect: Effect) -> Self {
        Decision::new(DecisionKind::Authz, effect)
    }

    /// A policy evaluation.
    pub fn policy(effect: Effect) -> Self {
        Decision::new(DecisionKind::Policy, effect)
    }

    /// A decision of any kind.
    pub fn new(kind: DecisionKind, effect: Effect) -> Self {
        Decision {
            kind,
            effect,
            reason: None,
            tenant_id: None,
            actor: None,
            resource: None,
            action: None,
            policy_version: None,
            rule_ids: Vec::new(),
            scopes: Vec::new(),
        }
    }

    /// Why (a reason code such as `missing_scope`, or a short explanation; scrubbed).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The tenant (default: the request context's).
    pub fn with_tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Who asked (an opaque subject id; default: the request context's).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// What it is about (`sbom/7f3c`, `tenants/acme/evidence`).
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// What was attempted (`evidence:create`, `policy.evaluate`).
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// The policy version evaluated.
    pub fn with_policy_version(mut self, version: impl Into<String>) -> Self {
        self.policy_version = Some(version.into());
        self
    }

    /// The rules that decided.
    pub fn with_rule_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rule_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes checked.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Emits the record through the current `tracing` dispatcher.
    pub fn emit(&self) {
        let rules = (!self.rule_ids.is_empty()).then(|| self.rule_ids.join(","));
        let scopes = (!self.scopes.is_empty()).then(|| self.scopes.join(","));
        let message = match self.kind {
            DecisionKind::Authz => "authz decision",
            DecisionKind::Policy => "policy evaluation",
            DecisionKind::DeepDebug => "deep debug decision",
        };
        tracing::info!(
            target: "stella_telemetry::decision",
            decision_effect = self.effect.as_str(),
            decision.kind = self.kind.as_str(),
            decision_reason = self.reason.as_deref(),
            tenant_id = self.tenant_id.as_deref(),
            actor = self.actor.as_deref(),
            resource = self.resource.as_deref(),
            action = self.action.as_deref(),
            policy_version = self.policy_version.as_deref(),
            decision.rule_ids = rules.as_deref(),
            decision.scopes = scopes.as_deref(),
            "{message}"
        );
    }
}

fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Logs a deep-debug audit record as a decision.
pub(crate) fn emit_grant_audit(audit: &AuditRecord) {
    let (effect, action) = match audit.action {
        AuditAction::Granted => (Effect::Allow, "deep_debug.granted"),
        AuditAction::Revoked => (Effect::Deny, "deep_debug.revoked"),
        _ => (Effect::Deny, "deep_debug.expired"),
    };
    let kinds: Vec<&str> = audit.kinds.iter().map(|k| k.as_str()).collect();
    let kinds = kinds.join(",");
    tracing::info!(
        target: "stella_telemetry::decision",
        decision_effect = effect.as_str(),
        decision.kind = DecisionKind::DeepDebug.as_str(),
        decision_reason = audit.reason.as_str(),
        tenant_id = audit.tenant.as_str(),
        actor = audit.actor.as_str(),
        resource = "logs",
        action = action,
        decision.grant_id = audit.grant_id,
        decision.pii_kinds = kinds.as_str(),
        decision.expires_at_unix = unix_secs(audit.expires_at),
        "deep debug decision"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Effect::NotApplicable.as_str(), "not_applicable");
        assert_eq!(DecisionKind::DeepDebug.as_str(), "deep_debug");
        let d = Decision::policy(Effect::Warn).with_rule_ids(["a", "b"]);
        assert_eq!(d.rule_ids, ["a", "b"]);
    }
}
