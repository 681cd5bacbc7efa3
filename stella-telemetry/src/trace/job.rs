//! Both sides of a job: the producer's `orchestrator.schedule` span under the ids the envelope
//! carries; the worker's `runner.execute` after restoring the envelope, with the job metadata.

use std::future::Future;

use stella_context::{
    CurrentContext, HexId, JobEnvelope, RestoreMode, Restored, TraceContext, WithContext,
};

/// A job's span (`orchestrator.schedule` or `runner.execute`): its kind and messaging
/// operation, the job metadata of `$meta` (a `JobMeta`), the ids it is exported under, then
/// any further fields.
macro_rules! job_info_span {
    ($name:literal, $kind:literal, $operation:literal, $meta:expr, $trace_id:expr, $span_id:expr,
     $parent_span_id:expr $(, $($rest:tt)*)?) => {
        tracing::info_span!(
            $name,
            otel.name = $name,
            otel.kind = $kind,
            otel.status_code = tracing::field::Empty,
            messaging.operation.type = $operation,
            messaging.message.id = %$meta.job_id,
            job.kind = $meta.kind.as_deref(),
            job.attempt = $meta.attempt,
            job_id = %$meta.job_id,
            run_id = $meta.run_id.as_deref(),
            tenant_id = $meta.tenant_id.as_deref(),
            project_id = $meta.project_id.as_deref(),
            sbom_id = $meta.sbom_id.as_deref(),
            policy_version = $meta.policy_version.as_deref(),
            trace_id = $trace_id,
            span_id = $span_id,
            parent_span_id = $parent_span_id,
            $($($rest)*)?
        )
    };
}

/// The producer side of a job: the `orchestrator.schedule` span (a producer span) that the
/// envelope's trace context names. Open it where the envelope was made and enqueue inside it:
/// the worker's [`job_span`] is then its child in the exported trace, instead of the child of
/// a span no one recorded. Its parent is the current context's span (the request's, when the
/// envelope was made in a handler); it carries the job metadata like `runner.execute`. Open
/// it once per envelope: its span id is the envelope's. An envelope without a trace context
/// gets no span ([`tracing::Span::none`]).
///
/// # Examples
///
/// ```
/// use stella_context::{JobEnvelope, JobMeta};
///
/// let envelope = JobEnvelope::new(JobMeta::new("job-42").with_kind("sbom.ingest"), ());
/// let schedule = stella_telemetry::schedule_span(&envelope);
/// schedule.in_scope(|| tracing::info!("enqueued"));
/// ```
pub fn schedule_span<T>(envelope: &JobEnvelope<T>) -> tracing::Span {
    let Some(producer) = envelope.producer_context() else {
        return tracing::Span::none();
    };
    let meta = &envelope.job;
    // The envelope's context is a child of the context current when it was made.
    let parent = TraceContext::current()
        .filter(|c| c.trace_id() == producer.trace_id() && c.span_id() != producer.span_id());
    job_info_span!(
        "orchestrator.schedule",
        "producer",
        "send",
        meta,
        producer.trace_id().hex().as_str(),
        producer.span_id().hex().as_str(),
        parent
            .map(|p| p.span_id().hex())
            .as_ref()
            .map(HexId::as_str),
    )
}

/// A job's `runner.execute` span with the context restored from its envelope. Run the job
/// inside it with [`in_scope`](Self::in_scope) (synchronous work) or
/// [`instrument`](Self::instrument) (a future).
#[derive(Debug, Clone)]
pub struct JobSpan {
    span: tracing::Span,
    current: CurrentContext,
    restored: Restored,
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    kind: String,
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    started: std::time::Instant,
}

/// Restores a job envelope and opens its `runner.execute` span (a consumer span).
///
/// The span continues the producer's trace as a child on a first attempt and starts a new
/// trace linked to the producer on a retry ([`RestoreMode::Auto`]; `Child`/`Link` force one).
/// It carries the job metadata (`job_id`, `run_id`, `job.kind`, `job.attempt`, `tenant_id`,
/// `project_id`, `sbom_id`, `policy_version`) and the messaging attributes, and every log
/// line and span inside it has the job's `trace_id`, `job_id` and tenant.
///
/// # Examples
///
/// ```
/// use stella_context::{JobEnvelope, JobMeta, RestoreMode};
///
/// let envelope = JobEnvelope::new(JobMeta::new("job-42").with_kind("sbom.ingest").with_tenant_id("acme"), ());
/// let job = stella_telemetry::job_span(&envelope, RestoreMode::Auto);
/// job.in_scope(|| tracing::info!("ingesting"));
/// assert_eq!(job.restored().parent().map(|p| p.trace_id()), envelope.producer_context().map(|p| p.trace_id()));
/// ```
pub fn job_span<T>(envelope: &JobEnvelope<T>, mode: RestoreMode) -> JobSpan {
    let restored = envelope.restore(mode);
    let current = restored.current();
    let meta = &envelope.job;
    let trace = restored.trace();
    let parent = restored.parent();
    let link = restored.link();
    let span = current.scope(|| {
        job_info_span!(
            "runner.execute",
            "consumer",
            "process",
            meta,
            trace.trace_id().hex().as_str(),
            trace.span_id().hex().as_str(),
            parent
                .map(|p| p.span_id().hex())
                .as_ref()
                .map(HexId::as_str),
            link.trace_id = link.map(|l| l.trace_id().hex()).as_ref().map(HexId::as_str),
            link.span_id = link.map(|l| l.span_id().hex()).as_ref().map(HexId::as_str),
        )
    });
    JobSpan {
        span,
        current,
        restored,
        kind: meta.kind.clone().unwrap_or_else(|| "job".to_owned()),
        started: std::time::Instant::now(),
    }
}

impl JobSpan {
    /// The `runner.execute` span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The restored trace and request context.
    pub fn restored(&self) -> &Restored {
        &self.restored
    }

    /// Marks the job finished: a failed job sets the span's status to error (so the tail
    /// sampler keeps its trace) and, with the `prometheus` feature, the run time is recorded in
    /// `stella.job.duration` with `job.kind` and `outcome`. The span ends when the last handle
    /// to it is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{JobEnvelope, JobMeta, RestoreMode};
    ///
    /// let envelope = JobEnvelope::new(JobMeta::new("job-7").with_kind("export.bundle"), ());
    /// let job = stella_telemetry::job_span(&envelope, RestoreMode::Auto);
    /// let ok = job.in_scope(|| true);
    /// job.finish(ok);
    /// ```
    pub fn finish(self, ok: bool) {
        if !ok {
            self.span.record("otel.status_code", "ERROR");
        }
        #[cfg(feature = "prometheus")]
        crate::metrics::record_job(&self.kind, self.started.elapsed(), ok);
    }

    /// Runs `f` inside the span with the job's context current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.span.enter();
        self.current.scope(f)
    }

    /// Runs `future` inside the span with the job's context current on every poll; the span
    /// ends when the future is dropped.
    pub fn instrument<F: Future>(self, future: F) -> WithContext<F> {
        WithContext::new(future, Some(self.current), self.span)
    }
}
