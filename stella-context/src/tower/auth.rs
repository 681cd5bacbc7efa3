//! Authentication and authorisation decision attributes on the ingress span.

use crate::RequestContext;

/// The outcome of an authentication or authorisation decision.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthOutcome {
    /// The request may proceed.
    Allow,
    /// The request was refused.
    Deny,
}

impl AuthOutcome {
    /// `allow` or `deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// An auth decision to record on the ingress span, without personal data.
///
/// Method, reason and scope are `&'static str` on purpose: they are codes from the program
/// (`"bearer"`, `"missing_scope"`, `"obs:read"`), never values from the request, so no token,
/// name or email can reach the span. The subject goes in [`RequestContext::actor`] as an opaque id.
///
/// # Examples
///
/// ```
/// use stella_context::tower::AuthDecision;
///
/// let span = tracing::info_span!("api", auth.decision = tracing::field::Empty);
/// AuthDecision::deny().with_method("bearer").with_reason("missing_scope").record_on(&span);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthDecision {
    /// Allow or deny.
    pub outcome: AuthOutcome,
    /// The authentication method (`bearer`, `mtls`, ...).
    pub method: Option<&'static str>,
    /// A reason code.
    pub reason: Option<&'static str>,
    /// The scope that was checked.
    pub scope: Option<&'static str>,
}

impl AuthDecision {
    /// An `allow` decision.
    pub const fn allow() -> Self {
        Self {
            outcome: AuthOutcome::Allow,
            method: None,
            reason: None,
            scope: None,
        }
    }

    /// A `deny` decision.
    pub const fn deny() -> Self {
        Self {
            outcome: AuthOutcome::Deny,
            ..Self::allow()
        }
    }

    /// Sets the method.
    #[must_use]
    pub const fn with_method(mut self, method: &'static str) -> Self {
        self.method = Some(method);
        self
    }

    /// Sets the reason code.
    #[must_use]
    pub const fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Sets the scope checked.
    #[must_use]
    pub const fn with_scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Records `auth.decision`, `auth.method`, `auth.reason` and `auth.scope` on `span` (the
    /// ingress span declares them).
    pub fn record_on(&self, span: &tracing::Span) {
        span.record("auth.decision", self.outcome.as_str());
        if let Some(m) = self.method {
            span.record("auth.method", m);
        }
        if let Some(r) = self.reason {
            span.record("auth.reason", r);
        }
        if let Some(s) = self.scope {
            span.record("auth.scope", s);
        }
    }
}

/// The ingress span, in the request extensions, so that auth middleware and handlers can record
/// on it.
///
/// # Examples
///
/// ```
/// use stella_context::tower::{AuthDecision, IngressSpan};
///
/// fn authorise<B>(req: &http::Request<B>) {
///     if let Some(span) = req.extensions().get::<IngressSpan>() {
///         AuthDecision::allow().with_method("bearer").record_on(span.span());
///     }
/// }
/// authorise(&http::Request::new(()));
/// ```
#[derive(Clone, Debug)]
pub struct IngressSpan(pub(crate) tracing::Span);

impl IngressSpan {
    /// The span.
    pub fn span(&self) -> &tracing::Span {
        &self.0
    }

    /// Records the identity fields `tenant_id`, `project_id` and `actor` from `request`.
    pub fn record_identity(&self, request: &RequestContext) {
        if let Some(t) = &request.tenant_id {
            self.0.record("tenant_id", t.as_str());
        }
        if let Some(p) = &request.project_id {
            self.0.record("project_id", p.as_str());
        }
        if let Some(a) = &request.actor {
            self.0.record("actor", a.as_str());
        }
    }
}
