//! The job envelope: trace context and job metadata serialised with a queue payload.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::carrier::{Extractor, Field, Injector};
use crate::sampling::SamplingInput;
use crate::{CurrentContext, RequestContext, TraceContext, WithContext};

/// The trace part of a [`JobEnvelope`]: the W3C fields as strings.
///
/// Also a carrier, so it can be filled and read like a header map.
///
/// # Examples
///
/// ```
/// use stella_context::{JobTrace, TraceContext};
///
/// let mut trace = JobTrace::default();
/// TraceContext::new_root().inject(&mut trace);
/// assert_eq!(trace.traceparent.len(), 55);
/// assert!(TraceContext::extract(&trace).is_some());
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTrace {
    /// The producer's `traceparent` (its span is the parent of the job).
    #[serde(default)]
    pub traceparent: String,
    /// The `tracestate`, empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracestate: String,
    /// The baggage, empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub baggage: String,
}

impl JobTrace {
    fn slot(&mut self, field: Field) -> &mut String {
        match field {
            Field::TraceParent => &mut self.traceparent,
            Field::TraceState => &mut self.tracestate,
            Field::Baggage => &mut self.baggage,
        }
    }

    fn value(&self, field: Field) -> &str {
        match field {
            Field::TraceParent => &self.traceparent,
            Field::TraceState => &self.tracestate,
            Field::Baggage => &self.baggage,
        }
    }
}

impl Extractor for JobTrace {
    fn get_all_values(&self, field: Field) -> impl Iterator<Item = &[u8]> {
        let v = self.value(field);
        (!v.is_empty()).then_some(v.as_bytes()).into_iter()
    }
}

impl Injector for JobTrace {
    fn set_value(&mut self, field: Field, value: &str) {
        value.clone_into(self.slot(field));
    }

    fn remove_value(&mut self, field: Field) {
        self.slot(field).clear();
    }
}

/// The job part of a [`JobEnvelope`]: which job, which run, which attempt, for whom.
///
/// # Examples
///
/// ```
/// let meta = stella_context::JobMeta::new("job-7").with_kind("policy.evaluate").with_tenant_id("acme");
/// assert_eq!(meta.attempt, 1);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMeta {
    /// The job id.
    pub job_id: String,
    /// The run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The kind of job (low cardinality, e.g. `policy.evaluate`); the span's destination name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Delivery attempt, from 1.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The actor that caused the job (an opaque subject id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request that enqueued the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The source being ingested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The SBOM being worked on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom_id: Option<String>,
    /// The policy version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

fn first_attempt() -> u32 {
    1
}

macro_rules! with_opt {
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

impl JobMeta {
    /// Metadata for the first attempt of `job_id`.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            run_id: None,
            kind: None,
            attempt: 1,
            tenant_id: None,
            project_id: None,
            actor: None,
            request_id: None,
            source_id: None,
            sbom_id: None,
            policy_version: None,
        }
    }

    with_opt! {
        /// Sets `run_id`.
        with_run_id => run_id;
        /// Sets `kind`.
        with_kind => kind;
        /// Sets `tenant_id`.
        with_tenant_id => tenant_id;
        /// Sets `project_id`.
        with_project_id => project_id;
        /// Sets `actor`.
        with_actor => actor;
        /// Sets `request_id`.
        with_request_id => request_id;
        /// Sets `source_id`.
        with_source_id => source_id;
        /// Sets `sbom_id`.
        with_sbom_id => sbom_id;
        /// Sets `policy_version`.
        with_policy_version => policy_version;
    }

    /// Sets the delivery attempt (from 1).
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt.max(1);
        self
    }

    /// Fills unset identity fields from `request`.
    fn fill_from(&mut self, request: &RequestContext) {
        fn fill(slot: &mut Option<String>, from: &Option<String>) {
            if slot.is_none() {
                slot.clone_from(from);
            }
        }
        fill(&mut self.tenant_id, &request.tenant_id);
        fill(&mut self.project_id, &request.project_id);
        fill(&mut self.actor, &request.actor);
        fill(&mut self.request_id, &request.request_id);
        fill(&mut self.run_id, &request.run_id);
        fill(&mut self.source_id, &request.source_id);
        fill(&mut self.sbom_id, &request.sbom_id);
        fill(&mut self.policy_version, &request.policy_version);
    }

    /// The request context a worker runs with.
    pub fn to_request_context(&self) -> RequestContext {
        RequestContext {
            tenant_id: self.tenant_id.clone(),
            project_id: self.project_id.clone(),
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            job_id: Some(self.job_id.clone()),
            run_id: self.run_id.clone(),
            source_id: self.source_id.clone(),
            sbom_id: self.sbom_id.clone(),
            policy_version: self.policy_version.clone(),
        }
    }
}

/// A queue message: `{ "trace": {...}, "job": {...}, "payload": ... }`.
///
/// The producer builds it inside its request (the current trace and request context are
/// captured); the worker calls [`JobEnvelope::restore`] and runs the job inside the returned
/// context. Per the OpenTelemetry messaging conventions, the first attempt continues the trace as
/// a child of the producer; retries and fan-in start a new trace with a link to the producer.
///
/// # Examples
///
/// ```
/// use stella_context::{CurrentContext, JobEnvelope, JobMeta, RestoreMode, TraceContext};
///
/// let request = TraceContext::new_root();
/// let envelope = CurrentContext::from_trace(request.clone())
///     .scope(|| JobEnvelope::new(JobMeta::new("job-1").with_kind("sbom.ingest"), vec![1, 2, 3]));
/// let json = serde_json::to_string(&envelope)?;
///
/// // In the worker:
/// let received: JobEnvelope<Vec<u8>> = serde_json::from_str(&json)?;
/// let restored = received.restore(RestoreMode::Auto);
/// assert_eq!(restored.trace().trace_id(), request.trace_id()); // first attempt: a child
/// restored.scope(|| {
///     let job = stella_context::RequestContext::current().and_then(|r| r.job_id);
///     assert_eq!(job.as_deref(), Some("job-1"));
/// });
///
/// let retried = received.retry().restore(RestoreMode::Auto);
/// assert_ne!(retried.trace().trace_id(), request.trace_id()); // a retry: a new trace...
/// assert_eq!(retried.link().map(|l| l.trace_id()), Some(request.trace_id())); // ...linked
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnvelope<T> {
    /// The producer's trace context.
    #[serde(default)]
    pub trace: JobTrace,
    /// The job metadata.
    pub job: JobMeta,
    /// The job's own payload.
    pub payload: T,
}

/// How a worker restores the producer's context.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestoreMode {
    /// Child on the first attempt, link on retries.
    #[default]
    Auto,
    /// Continue the producer's trace as a child span.
    Child,
    /// Start a new trace with a link to the producer (retries, fan-in, batch processing).
    Link,
}

impl<T> JobEnvelope<T> {
    /// Wraps `payload`, capturing the current trace (a new producer span of it, or a new trace)
    /// and filling unset identity fields of `job` from the current request context.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{CurrentContext, JobEnvelope, JobMeta, RequestContext};
    ///
    /// let request = CurrentContext::from_request(RequestContext::new().with_tenant_id("acme"));
    /// let envelope = request.scope(|| JobEnvelope::new(JobMeta::new("job-1"), 42));
    /// assert_eq!(envelope.job.tenant_id.as_deref(), Some("acme"));
    /// assert_eq!(envelope.trace.traceparent.len(), 55); // no current trace: a new one
    /// ```
    pub fn new(mut job: JobMeta, payload: T) -> Self {
        let current = CurrentContext::get();
        if let Some(request) = current.as_ref().and_then(CurrentContext::request) {
            job.fill_from(request);
        }
        let producer = current
            .as_ref()
            .and_then(CurrentContext::trace)
            .map_or_else(TraceContext::new_root, TraceContext::child);
        let mut trace = JobTrace::default();
        producer.inject(&mut trace);
        Self {
            trace,
            job,
            payload,
        }
    }

    /// The same envelope carrying `context` as the producer's.
    #[must_use]
    pub fn with_trace_context(mut self, context: &TraceContext) -> Self {
        context.inject(&mut self.trace);
        self
    }

    /// The same envelope for the next delivery attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{JobEnvelope, JobMeta};
    /// let envelope = JobEnvelope::new(JobMeta::new("job-1"), ()).retry();
    /// assert_eq!(envelope.job.attempt, 2);
    /// ```
    #[must_use]
    pub fn retry(mut self) -> Self {
        self.job.attempt = self.job.attempt.saturating_add(1);
        self
    }

    /// The producer's context, when the envelope carries a valid one.
    pub fn producer_context(&self) -> Option<TraceContext> {
        TraceContext::extract(&self.trace)
    }

    /// Restores the context for the worker.
    ///
    /// A missing or invalid trace part starts a new trace without a link. The worker's
    /// `sampled` flag is the process-wide head sampler's decision
    /// ([`sampling::should_sample`](crate::sampling::should_sample)), with the producer's
    /// context as the caller's for a child and the job's tenant: without a registered sampler,
    /// a child keeps the producer's flag and a new trace is sampled.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{JobEnvelope, JobMeta, RestoreMode};
    ///
    /// let envelope = JobEnvelope::new(JobMeta::new("job-1"), ());
    /// let producer = envelope.producer_context().ok_or("no context")?;
    /// let child = envelope.restore(RestoreMode::Child);
    /// assert_eq!(child.parent().map(|p| p.span_id()), Some(producer.span_id()));
    /// let linked = envelope.restore(RestoreMode::Link);
    /// assert_eq!(linked.link().map(|l| l.trace_id()), Some(producer.trace_id()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(&self, mode: RestoreMode) -> Restored {
        let mode = match mode {
            RestoreMode::Auto if self.job.attempt <= 1 => RestoreMode::Child,
            RestoreMode::Auto => RestoreMode::Link,
            other => other,
        };
        let producer = self.producer_context();
        let (trace, parent, link) = match (mode, producer) {
            (RestoreMode::Child, Some(p)) => (p.child(), Some(p), None),
            (_, Some(p)) => (
                TraceContext::new_root().with_baggage(p.baggage().clone()),
                None,
                Some(p),
            ),
            (_, None) => (TraceContext::new_root(), None, None),
        };
        // The worker's `sampled` flag is the head sampler's decision, as for a request's
        // (see [`crate::sampling`]): the producer's flag for a child under a parent-based
        // sampler, the sampler's own decision for a new trace.
        let input = SamplingInput::new(trace.trace_id())
            .with_parent(parent.as_ref())
            .with_tenant_id(self.job.tenant_id.as_deref());
        let trace = trace.with_sampled(crate::sampling::should_sample(&input));
        Restored {
            trace,
            parent,
            links: link.into_iter().collect(),
            request: self.job.to_request_context(),
            meta: self.job.clone(),
        }
    }
}

/// A worker's restored context: its trace (child or linked), the request context, and the span
/// to run in.
#[derive(Clone, Debug)]
pub struct Restored {
    trace: TraceContext,
    parent: Option<TraceContext>,
    links: Vec<TraceContext>,
    request: RequestContext,
    meta: JobMeta,
}

impl Restored {
    /// The worker's trace context.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The producer's context when the worker continues it as a child.
    pub fn parent(&self) -> Option<&TraceContext> {
        self.parent.as_ref()
    }

    /// The producer's context when the worker started a new trace linked to it (the first link).
    pub fn link(&self) -> Option<&TraceContext> {
        self.links.first()
    }

    /// Every linked producer (fan-in: one worker span for several messages).
    pub fn links(&self) -> &[TraceContext] {
        &self.links
    }

    /// The same restored context with one more link, for fan-in and batch processing: restore
    /// the first message with [`RestoreMode::Link`], then add the other producers.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::{JobEnvelope, JobMeta, RestoreMode};
    ///
    /// let a = JobEnvelope::new(JobMeta::new("a"), ());
    /// let b = JobEnvelope::new(JobMeta::new("b"), ());
    /// let batch = a
    ///     .restore(RestoreMode::Link)
    ///     .with_link(b.producer_context().ok_or("no context")?);
    /// assert_eq!(batch.links().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_link(mut self, producer: TraceContext) -> Self {
        self.links.push(producer);
        self
    }

    /// The request context (job, run, tenant, ...).
    pub fn request(&self) -> &RequestContext {
        &self.request
    }

    /// The context to make current.
    pub fn current(&self) -> CurrentContext {
        CurrentContext::new(Some(self.trace.clone()), Some(self.request.clone()))
    }

    /// Runs `f` with the restored context current.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.current().scope(f)
    }

    /// The worker span `job`, named `process <kind>` for OpenTelemetry (`otel.name`), with the
    /// messaging and job fields, the trace ids, and the link when there is one.
    pub fn span(&self) -> tracing::Span {
        let kind = self.meta.kind.as_deref().unwrap_or("job");
        let link = self.links.first();
        self.current().scope(|| {
            tracing::info_span!(
                "job",
                otel.name = %format_args!("process {kind}"),
                otel.kind = "consumer",
                messaging.operation.type = "process",
                messaging.operation.name = "process",
                messaging.destination.name = kind,
                messaging.message.id = %self.meta.job_id,
                job_id = %self.meta.job_id,
                run_id = self.meta.run_id.as_deref(),
                job.attempt = self.meta.attempt,
                tenant_id = self.meta.tenant_id.as_deref(),
                trace_id = self.trace.trace_id().hex().as_str(),
                span_id = self.trace.span_id().hex().as_str(),
                parent_span_id = self.parent.as_ref().map(|p| p.span_id().hex()).as_ref().map(crate::HexId::as_str),
                link.trace_id = link.map(|l| l.trace_id().hex()).as_ref().map(crate::HexId::as_str),
                link.span_id = link.map(|l| l.span_id().hex()).as_ref().map(crate::HexId::as_str),
                link.count = self.links.len(),
            )
        })
    }

    /// Runs `future` inside the worker span with the restored context current on every poll.
    pub fn instrument<F: Future>(&self, future: F) -> WithContext<F> {
        WithContext::new(future, Some(self.current()), self.span())
    }
}
