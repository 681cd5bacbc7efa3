//! The bridge to `stella-context`: fills event fields from the current request and trace.

use stella_context::CurrentContext;

/// Fills each `None` from the current request context (tenant, project, actor) and the current
/// trace context (trace id); fields already set are kept. Looks the context up once and clones
/// only the fields it uses.
pub(crate) fn fill(
    tenant_id: &mut Option<String>,
    project_id: &mut Option<String>,
    actor: &mut Option<String>,
    trace_id: &mut Option<String>,
) {
    if tenant_id.is_some() && project_id.is_some() && actor.is_some() && trace_id.is_some() {
        return;
    }
    let Some(cx) = CurrentContext::get() else {
        return;
    };
    if let Some(req) = cx.request() {
        for (slot, value) in [
            (tenant_id, &req.tenant_id),
            (project_id, &req.project_id),
            (actor, &req.actor),
        ] {
            if slot.is_none() {
                slot.clone_from(value);
            }
        }
    }
    if trace_id.is_none()
        && let Some(trace) = cx.trace()
    {
        *trace_id = Some(hex::encode(trace.trace_id().to_bytes()));
    }
}
