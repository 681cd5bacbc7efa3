//! The bridge to `stella-context`: fills event fields from the current request and trace.

use stella_context::{RequestContext, TraceContext};

/// Fills each `None` from the current request context (tenant, project, actor) and the current
/// trace context (trace id); fields already set are kept.
pub(crate) fn fill(
    tenant_id: &mut Option<String>,
    project_id: &mut Option<String>,
    actor: &mut Option<String>,
    trace_id: &mut Option<String>,
) {
    if (tenant_id.is_none() || project_id.is_none() || actor.is_none())
        && let Some(cx) = RequestContext::current()
    {
        if tenant_id.is_none() {
            *tenant_id = cx.tenant_id;
        }
        if project_id.is_none() {
            *project_id = cx.project_id;
        }
        if actor.is_none() {
            *actor = cx.actor;
        }
    }
    if trace_id.is_none()
        && let Some(tc) = TraceContext::current()
    {
        *trace_id = Some(tc.trace_id().to_string());
    }
}
