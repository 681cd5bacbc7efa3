//! The request context: who and what a request or job is about.

use serde::{Deserialize, Serialize};

/// The identity fields of the common log and span fields: tenant, project, actor and the ids
/// of the request, job, run, source, SBOM and policy version being worked on.
///
/// The `ServerLayer` (feature `tower`) puts one in the request extensions and makes it
/// current; a worker gets one from its [`JobEnvelope`](crate::JobEnvelope). Loggers read it with
/// [`RequestContext::current`] or from span extensions (see [`CurrentContext`](crate::CurrentContext)).
/// Never put secrets or personal data here: `actor` is an opaque subject id.
///
/// # Examples
///
/// ```
/// use stella_context::RequestContext;
///
/// let cx = RequestContext::new().with_tenant_id("acme").with_request_id("req-1");
/// assert_eq!(cx.tenant_id.as_deref(), Some("acme"));
/// let json = serde_json::to_string(&cx)?;
/// assert_eq!(serde_json::from_str::<RequestContext>(&json)?, cx);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// The tenant the work belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The project inside the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The authenticated subject (an opaque id, never a name or an email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request id (`x-request-id`, or generated at ingress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The background job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The run of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The advisory or VEX source being ingested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The SBOM being worked on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom_id: Option<String>,
    /// The policy version evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

macro_rules! with_field {
    ($($(#[$doc:meta])* $method:ident => $field:ident;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $method(mut self, value: impl Into<String>) -> Self {
                self.$field = Some(value.into());
                self
            }
        )*
    };
}

impl RequestContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current request context, if any (see [`CurrentContext`](crate::CurrentContext)).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{CurrentContext, RequestContext};
    ///
    /// let cx = RequestContext::new().with_tenant_id("acme");
    /// CurrentContext::from_request(cx).scope(|| {
    ///     assert_eq!(RequestContext::current().and_then(|c| c.tenant_id).as_deref(), Some("acme"));
    /// });
    /// ```
    pub fn current() -> Option<RequestContext> {
        crate::CurrentContext::get().and_then(|c| c.request().cloned())
    }

    with_field! {
        /// Sets `tenant_id`.
        with_tenant_id => tenant_id;
        /// Sets `project_id`.
        with_project_id => project_id;
        /// Sets `actor` (an opaque subject id).
        with_actor => actor;
        /// Sets `request_id`.
        with_request_id => request_id;
        /// Sets `job_id`.
        with_job_id => job_id;
        /// Sets `run_id`.
        with_run_id => run_id;
        /// Sets `source_id`.
        with_source_id => source_id;
        /// Sets `sbom_id`.
        with_sbom_id => sbom_id;
        /// Sets `policy_version`.
        with_policy_version => policy_version;
    }

    /// Each set field as `(name, value)`, in the order of the common field list.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = stella_context::RequestContext::new().with_job_id("j1");
    /// assert_eq!(cx.fields().collect::<Vec<_>>(), [("job_id", "j1")]);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        [
            ("tenant_id", &self.tenant_id),
            ("project_id", &self.project_id),
            ("actor", &self.actor),
            ("request_id", &self.request_id),
            ("job_id", &self.job_id),
            ("run_id", &self.run_id),
            ("source_id", &self.source_id),
            ("sbom_id", &self.sbom_id),
            ("policy_version", &self.policy_version),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    }
}
