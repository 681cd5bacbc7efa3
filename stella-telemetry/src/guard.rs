//! The guard [`init`](crate::init) returns, and the handle for runtime controls.

use std::fmt;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use stella_scrub::Scrubber;
use stella_scrub::grants::{Grant, GrantError, GrantRequest};

use crate::layer::Core;
use crate::writer::{NonBlocking, WriterGuard};
use crate::{JsonLayer, LogStats, Resource, decision};

/// Keeps telemetry running; flushes and stops it when dropped (bounded by the configured flush
/// timeout, 2 s by default) or on [`shutdown`](Self::shutdown).
///
/// Hold it in `main` until the program ends. Dropping it early stops the writer: later lines are
/// counted as dropped, never written half-way.
#[must_use = "telemetry stops (and flushes) when the guard is dropped; keep it alive in main"]
pub struct TelemetryGuard {
    handle: TelemetryHandle,
    writer: Option<WriterGuard>,
    summary: JsonLayer<NonBlocking>,
    housekeeper: Housekeeper,
    flush_timeout: Duration,
    #[cfg(feature = "otlp")]
    traces: Option<crate::trace::Exporter>,
    #[cfg(feature = "prometheus")]
    metrics_server: Option<crate::metrics::MetricsServer>,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("handle", &self.handle)
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}

/// Flushing or shutting down did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The log writer did not drain its queue within the timeout (the thread is left to finish
    /// on its own; the process is not held up).
    #[error("the log writer did not finish within {0:?}")]
    Timeout(Duration),
    /// The trace exporter did not send what was queued within the timeout (a collector that
    /// is slow or hanging); the worker is left to finish on its own and unsent spans are lost.
    #[error("the trace exporter did not finish within {0:?}")]
    TraceTimeout(Duration),
}

impl TelemetryGuard {
    pub(crate) fn new(
        handle: TelemetryHandle,
        writer: WriterGuard,
        summary: JsonLayer<NonBlocking>,
        housekeeper: Housekeeper,
        flush_timeout: Duration,
    ) -> Self {
        TelemetryGuard {
            handle,
            writer: Some(writer),
            summary,
            housekeeper,
            flush_timeout,
            #[cfg(feature = "otlp")]
            traces: None,
            #[cfg(feature = "prometheus")]
            metrics_server: None,
        }
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn with_metrics_server(mut self, server: crate::metrics::MetricsServer) -> Self {
        self.metrics_server = Some(server);
        self
    }

    /// The address the built-in `/metrics` listener is bound to
    /// ([`Config::with_metrics_listener`](crate::Config::with_metrics_listener),
    /// `STELLA_METRICS_ADDR`), if it runs.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server
            .as_ref()
            .map(crate::metrics::MetricsServer::addr)
    }

    #[cfg(feature = "otlp")]
    pub(crate) fn with_traces(mut self, exporter: crate::trace::Exporter) -> Self {
        self.traces = Some(exporter);
        self
    }

    /// A cloneable handle for runtime controls (deep-debug grants, counters).
    pub fn handle(&self) -> TelemetryHandle {
        self.handle.clone()
    }

    /// What the logger wrote, suppressed and dropped so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// tracing::dispatcher::with_default(&dispatch, || tracing::warn!("disk 91% full"));
    /// assert_eq!(guard.stats().lines, 1);
    /// assert_eq!(guard.stats().suppressed(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> LogStats {
        self.handle.stats()
    }

    /// Writes a pending suppression summary, then waits until every line logged before this call
    /// is written and the output flushed.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] after the configured flush timeout.
    pub fn flush(&self) -> Result<(), ShutdownError> {
        #[cfg(feature = "otlp")]
        if let Some(t) = &self.traces {
            t.flush(self.flush_timeout)
                .map_err(|_| ShutdownError::TraceTimeout(self.flush_timeout))?;
        }
        self.summary.write_summary(self.handle.core.now_nanos());
        match &self.writer {
            Some(w) => w
                .flush(self.flush_timeout)
                .map_err(|_| ShutdownError::Timeout(self.flush_timeout)),
            None => Ok(()),
        }
    }

    /// Writes a pending suppression summary, drains the queue and stops the writer thread,
    /// within the flush timeout.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when the writer has not finished in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (_dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        self.housekeeper.stop();
        #[cfg(feature = "prometheus")]
        if let Some(s) = self.metrics_server.take() {
            s.stop();
        }
        #[allow(unused_mut)]
        let mut result = Ok(());
        #[cfg(feature = "otlp")]
        if let Some(mut t) = self.traces.take()
            && t.shutdown(self.flush_timeout).is_err()
        {
            result = Err(ShutdownError::TraceTimeout(self.flush_timeout));
        }
        let Some(writer) = self.writer.take() else {
            return result;
        };
        self.summary.write_summary(self.handle.core.now_nanos());
        writer
            .shutdown(self.flush_timeout)
            .map_err(|_| ShutdownError::Timeout(self.flush_timeout))?;
        result
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The background chores of a guard: once a second, sweep expired deep-debug grants (logging
/// each expiry) and write a suppression summary when one is due, even if the service logs
/// nothing. Issue II adds its periodic work (incident-mode expiry, metric snapshots) here.
#[derive(Debug)]
pub(crate) struct Housekeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// How often the housekeeper runs.
const HOUSEKEEPING_TICK: Duration = Duration::from_secs(1);

impl Housekeeper {
    pub(crate) fn spawn(
        dispatch: tracing::Dispatch,
        handle: TelemetryHandle,
        summary: JsonLayer<NonBlocking>,
    ) -> Result<Housekeeper, crate::OutputError> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("stella-telemetry-housekeeping".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HOUSEKEEPING_TICK)
                {
                    tracing::dispatcher::with_default(&dispatch, || {
                        handle.expire_deep_debug();
                        handle.expire_incidents();
                        #[cfg(feature = "otlp")]
                        if let Some(p) = &handle.traces {
                            p.sweep();
                        }
                    });
                    summary.maybe_summary(handle.core.now_nanos());
                }
            })
            .map_err(crate::OutputError::Thread)?;
        Ok(Housekeeper {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread (it wakes at once) and joins it.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runtime controls shared by every clone: counters, the scrubber, deep-debug grants. Issue II
/// adds incident mode here.
#[derive(Clone)]
pub struct TelemetryHandle {
    core: Arc<Core>,
    incidents: Arc<crate::incident::Incidents>,
    #[cfg(feature = "otlp")]
    traces: Option<Arc<crate::trace::Pipeline>>,
    #[cfg(feature = "prometheus")]
    metrics: Option<Arc<crate::metrics::Registry>>,
}

impl fmt::Debug for TelemetryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryHandle")
            .field("resource", &self.core.resource)
            .finish_non_exhaustive()
    }
}

impl TelemetryHandle {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        let incidents = Arc::new(crate::incident::Incidents::new(
            Arc::clone(&core.clock),
            core.scrubber.clone(),
        ));
        TelemetryHandle {
            core,
            incidents,
            #[cfg(feature = "otlp")]
            traces: None,
            #[cfg(feature = "prometheus")]
            metrics: None,
        }
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn with_metrics(mut self, registry: Arc<crate::metrics::Registry>) -> Self {
        self.metrics = Some(registry);
        self
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn metrics_registry(&self) -> Option<Arc<crate::metrics::Registry>> {
        self.metrics.clone()
    }

    /// Runs `f` with this handle's metric registry as the `metrics` recorder of the current
    /// thread ([`init`](crate::init) installs it globally; [`build`](crate::build) does not).
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn with_metrics_recorder<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.metrics {
            Some(r) => {
                let recorder = crate::metrics::SharedRegistry(Arc::clone(r));
                ::metrics::with_local_recorder(&recorder, f)
            }
            None => f(),
        }
    }

    /// The `/metrics` response: OpenMetrics (with exemplars) when `accept` (the request's
    /// `Accept` header) asks for `application/openmetrics-text`, Prometheus text otherwise.
    /// Besides what the service recorded, it has the library's own counters (log lines and
    /// drops, spans exported and dropped, the span queue depth, cardinality overflow) and the
    /// process CPU and memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (_dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// let m = guard.handle().render_metrics(Some("application/openmetrics-text; version=1.0.0"));
    /// assert!(m.content_type().starts_with("application/openmetrics-text"));
    /// assert!(m.body().ends_with("# EOF\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn render_metrics(&self, accept: Option<&str>) -> crate::metrics::Exposition {
        let own = self.own_metrics();
        match &self.metrics {
            Some(r) => crate::metrics::render(r, self.core.resource.service(), accept, &own),
            None => crate::metrics::render(
                &crate::metrics::Registry::new(crate::metrics::MetricsConfig::new()),
                self.core.resource.service(),
                accept,
                &own,
            ),
        }
    }

    #[cfg(feature = "prometheus")]
    #[allow(clippy::cast_precision_loss)]
    fn own_metrics(&self) -> Vec<crate::metrics::Simple<'static>> {
        use crate::metrics::{Kind, Simple};
        let l = self.stats();
        let reason = |r: &str| vec![("reason".to_owned(), r.to_owned())];
        #[allow(unused_mut)]
        let mut out = vec![
            Simple {
                name: "stella_telemetry_log_lines_total",
                kind: Kind::Counter,
                unit: None,
                help: "Log lines written.",
                samples: vec![(Vec::new(), l.lines as f64)],
            },
            Simple {
                name: "stella_telemetry_log_records_dropped_total",
                kind: Kind::Counter,
                unit: None,
                help: "Log records suppressed by rate limits or dropped by a full queue.",
                samples: vec![
                    (reason("callsite_limit"), l.suppressed_callsite as f64),
                    (reason("tenant_limit"), l.suppressed_tenant as f64),
                    (reason("queue_full"), l.dropped_queue_full as f64),
                    (reason("priority_timeout"), l.dropped_priority as f64),
                ],
            },
        ];
        if let Some(r) = &self.metrics {
            r.set_gauge(
                crate::metrics::QUEUE_DEPTH,
                &[("queue", "log_lines")],
                self.core
                    .stats
                    .queued_lines
                    .load(std::sync::atomic::Ordering::Relaxed) as f64,
            );
        }
        #[cfg(feature = "otlp")]
        if let Some(p) = &self.traces {
            let t = p.stats.snapshot();
            out.push(Simple {
                name: "stella_telemetry_spans_exported_total",
                kind: Kind::Counter,
                unit: None,
                help: "Spans the collector accepted.",
                samples: vec![(Vec::new(), t.spans_exported as f64)],
            });
            out.push(Simple {
                name: "stella_telemetry_spans_dropped_total",
                kind: Kind::Counter,
                unit: None,
                help: "Spans lost to a full export queue, a failed export, a full tail buffer or the collector's rejection.",
                samples: vec![
                    (reason("queue_full"), t.dropped_queue_full as f64),
                    (reason("export_failed"), t.dropped_export as f64),
                    (reason("tail_buffer_full"), t.tail_overflow_spans as f64),
                    (reason("rejected"), t.rejected_spans as f64),
                ],
            });
            out.push(Simple {
                name: "stella_telemetry_span_export_retries_total",
                kind: Kind::Counter,
                unit: None,
                help: "Span export requests sent again after the collector answered try again later or could not be reached.",
                samples: vec![(Vec::new(), t.export_retries as f64)],
            });
            if let Some(r) = &self.metrics {
                r.set_gauge(
                    crate::metrics::QUEUE_DEPTH,
                    &[("queue", "otlp_spans")],
                    p.queue_depth() as f64,
                );
            }
        }
        out
    }

    #[cfg(feature = "otlp")]
    pub(crate) fn with_traces(mut self, pipeline: Arc<crate::trace::Pipeline>) -> Self {
        self.traces = Some(pipeline);
        self
    }

    /// Whether traces are exported (`otlp` feature with an endpoint).
    pub fn traces_enabled(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.traces.is_some();
        #[cfg(not(feature = "otlp"))]
        false
    }

    /// The trace pipeline's counters: spans started, sampled, exported, dropped (all zero when
    /// tracing is off).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (_dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// assert_eq!(guard.handle().trace_stats().dropped(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn trace_stats(&self) -> crate::TraceStats {
        self.traces
            .as_ref()
            .map(|p| p.stats.snapshot())
            .unwrap_or_default()
    }

    /// Why the last failed span export failed (the collector's answer, or the connection's
    /// error), once its retries were spent; `None` while none has failed or tracing is off.
    /// The failed spans are counted in [`trace_stats`](Self::trace_stats)' `dropped_export`.
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn last_export_error(&self) -> Option<String> {
        self.traces.as_ref().and_then(|p| p.stats.last_error())
    }

    /// The current head-sampling ratio of new traces (`None` when tracing is off).
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn trace_sample_ratio(&self) -> Option<f64> {
        self.traces.as_ref().map(|p| p.sampler.ratio())
    }

    /// Changes the head-sampling ratio of new traces at runtime; spans with a parent keep
    /// following the parent's decision. Does nothing when tracing is off.
    ///
    /// # Errors
    ///
    /// [`RatioError`](crate::RatioError) when `ratio` is not in `[0, 1]`; the ratio is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output, TraceConfig};
    /// let config = Config::new("svc", "1")
    ///     .with_output(Output::Stderr)
    ///     .with_traces(TraceConfig::new().with_endpoint("http://127.0.0.1:9"));
    /// let (_dispatch, guard) = stella_telemetry::build(config)?;
    /// guard.handle().set_trace_sample_ratio(0.1)?;
    /// assert_eq!(guard.handle().trace_sample_ratio(), Some(0.1));
    /// assert!(guard.handle().set_trace_sample_ratio(2.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn set_trace_sample_ratio(&self, ratio: f64) -> Result<(), crate::RatioError> {
        match &self.traces {
            Some(p) => p.sampler.set_ratio(ratio),
            None => super::trace::check_ratio(ratio).map(|_| ()),
        }
    }

    /// The head sampler of the trace pipeline (`None` when tracing is off): the caller's flag
    /// for a continued trace, the runtime ratio ([`set_trace_sample_ratio`](Self::set_trace_sample_ratio))
    /// for a new one, always for a tenant in incident mode. [`init`](crate::init) registers it
    /// with `stella_context::sampling::set_global_head_sampler`, so that `ServerLayer` sets
    /// the `sampled` flag the exporter applies; with [`build`](crate::build), hand it to
    /// `ServerLayer::builder().with_head_sampler(..)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::sampling::SamplingInput;
    /// use stella_telemetry::{Config, Output, TraceConfig};
    ///
    /// let config = Config::new("svc", "1")
    ///     .with_output(Output::Stderr)
    ///     .with_traces(TraceConfig::new().with_endpoint("http://127.0.0.1:9").with_sample_ratio(0.0));
    /// let (_dispatch, guard) = stella_telemetry::build(config)?;
    /// let sampler = guard.handle().head_sampler().ok_or("tracing is on")?;
    /// assert!(!sampler.should_sample(&SamplingInput::new(stella_context::TraceId::random())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn head_sampler(&self) -> Option<Arc<dyn stella_context::sampling::HeadSampler>> {
        self.traces.as_ref().map(|p| {
            Arc::new(crate::trace::IngressSampler::new(
                Arc::clone(p),
                Arc::clone(&self.incidents),
            )) as Arc<dyn stella_context::sampling::HeadSampler>
        })
    }

    /// An OpenTelemetry tracer whose spans go through this pipeline: the same head and tail
    /// sampling and incident mode, scrubbing, resource and export queue as `tracing` spans
    /// (`None` when tracing is off). [`init`](crate::init) installs the same provider as the
    /// global one, so `opentelemetry::global::tracer(..)` works after it; with
    /// [`build`](crate::build), take tracers here (for instance for
    /// `ServerLayer::builder().with_otel_tracer(..)`).
    ///
    /// A span's parent is the active span of the `opentelemetry::Context` it is started with,
    /// else the current `tracing` span, else the current `stella_context` trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use opentelemetry::trace::{Span as _, Tracer as _};
    /// use stella_telemetry::{Config, Output, TraceConfig};
    ///
    /// let config = Config::new("svc", "1")
    ///     .with_output(Output::Stderr)
    ///     .with_traces(TraceConfig::new().with_endpoint("http://127.0.0.1:9"));
    /// let (_dispatch, guard) = stella_telemetry::build(config)?;
    /// let tracer = guard.handle().otel_tracer("policy-engine").ok_or("tracing is on")?;
    /// let mut span = tracer.start("policy.evaluate");
    /// span.set_attribute(opentelemetry::KeyValue::new("policy_version", "2026.11.3"));
    /// span.end();
    /// assert_eq!(guard.handle().trace_stats().spans_started, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn otel_tracer(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Option<opentelemetry::global::BoxedTracer> {
        use opentelemetry::trace::TracerProvider as _;
        self.otel_provider().map(|p| {
            let scope = opentelemetry::InstrumentationScope::builder(name).build();
            opentelemetry::global::BoxedTracer::new(Box::new(p.tracer_with_scope(scope)))
        })
    }

    #[cfg(feature = "otlp")]
    pub(crate) fn otel_provider(&self) -> Option<crate::trace::TracerProvider> {
        self.traces
            .as_ref()
            .map(|p| crate::trace::TracerProvider::new(Arc::clone(p), Arc::clone(&self.incidents)))
    }

    /// What the logger wrote, suppressed and dropped so far.
    pub fn stats(&self) -> LogStats {
        self.core.stats.snapshot()
    }

    /// The scrubber every value passes through.
    pub fn scrubber(&self) -> &Scrubber {
        &self.core.scrubber
    }

    /// The static resource.
    pub fn resource(&self) -> &Resource {
        &self.core.resource
    }

    /// Grants per-tenant deep debug (relaxes the requested PII kinds on that tenant's lines
    /// until the TTL passes) and emits the decision log of the grant.
    ///
    /// # Errors
    ///
    /// [`GrantError`] when the request is incomplete or its TTL is out of range; nothing is
    /// granted or logged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::PiiKind;
    /// use stella_scrub::grants::GrantRequest;
    /// use stella_telemetry::{Config, Output};
    ///
    /// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// tracing::dispatcher::with_default(&dispatch, || {
    ///     guard.handle().grant_deep_debug(
    ///         GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(900))
    ///             .with_actor("oncall-7")
    ///             .with_reason("INC-42"),
    ///     )
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grant_deep_debug(&self, request: GrantRequest) -> Result<Grant, GrantError> {
        let (grant, audit) = self.core.scrubber.grants().grant(request)?;
        decision::emit_grant_audit(&audit);
        Ok(grant)
    }

    /// Revokes a grant before its expiry and emits the decision log.
    ///
    /// # Errors
    ///
    /// [`GrantError::NotFound`] when no active grant has this id.
    pub fn revoke_deep_debug(&self, id: u64, actor: &str) -> Result<(), GrantError> {
        let audit = self.core.scrubber.grants().revoke(id, actor)?;
        decision::emit_grant_audit(&audit);
        Ok(())
    }

    pub(crate) fn incident_registry(&self) -> Arc<crate::incident::Incidents> {
        Arc::clone(&self.incidents)
    }

    /// Switches incident mode on for a tenant for the request's TTL (starting again replaces
    /// the TTL): that tenant's traces are sampled at 100 %, its recent debug records are kept
    /// (at most [`BREADCRUMBS_PER_TENANT`](crate::BREADCRUMBS_PER_TENANT)) and written right
    /// after its next error, [`retention_bump`](Self::retention_bump) answers for it, a
    /// `stella_telemetry::incident` warn line is logged and the hooks are called.
    ///
    /// # Errors
    ///
    /// [`IncidentError`](crate::IncidentError) for an empty tenant or a TTL of zero or above
    /// seven days; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_telemetry::{Config, IncidentRequest, Output};
    ///
    /// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// let handle = guard.handle();
    /// tracing::dispatcher::with_default(&dispatch, || {
    ///     handle.start_incident(IncidentRequest::new("acme", Duration::from_secs(3600)).with_actor("oncall-7"))
    /// })?;
    /// assert!(handle.incident("acme").is_some());
    /// assert!(handle.retention_bump("acme").is_some());
    /// assert!(handle.incident("globex").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_incident(
        &self,
        request: crate::IncidentRequest,
    ) -> Result<crate::Incident, crate::IncidentError> {
        self.incidents.start(request)
    }

    /// Switches incident mode off for a tenant before its TTL.
    ///
    /// # Errors
    ///
    /// [`IncidentError::NotActive`](crate::IncidentError::NotActive) when it is not on.
    pub fn stop_incident(&self, tenant: &str) -> Result<crate::Incident, crate::IncidentError> {
        self.incidents.stop(tenant)
    }

    /// The active incident of a tenant.
    pub fn incident(&self, tenant: &str) -> Option<crate::Incident> {
        self.incidents.get(tenant)
    }

    /// Every active incident, by tenant.
    pub fn incidents(&self) -> Vec<crate::Incident> {
        self.incidents.list()
    }

    /// The evidence-retention bump to honour for evidence of `tenant` created now (`None`
    /// outside incident mode): the signal the evidence locker reads.
    pub fn retention_bump(&self, tenant: &str) -> Option<Duration> {
        self.incidents.get(tenant).map(|i| i.retention_bump)
    }

    /// Adds a hook called on every start, stop and expiry (timeline events, webhooks, the
    /// evidence locker's retention). Hooks run on the caller's thread (the housekeeping thread
    /// for expiries): hand the event to a queue rather than doing I/O in them.
    pub fn on_incident(&self, hook: impl Fn(&crate::IncidentEvent) + Send + Sync + 'static) {
        self.incidents.add_hook(Arc::new(hook));
    }

    /// Ends every incident whose TTL passed, logging and calling the hooks for each; returns how
    /// many. The guard's housekeeping thread calls it once a second; expired incidents stop
    /// applying on time either way.
    pub fn expire_incidents(&self) -> usize {
        self.incidents.expire()
    }

    /// A callback for `stella_slo::Evaluator::builder().with_incident_trigger(threshold, …)`
    /// (`slo` feature): a burn-rate breach starts incident mode for the signal's tenant for
    /// `ttl`, and the recovery signal stops it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_telemetry::{Config, Output};
    ///
    /// let (_dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// let trigger = guard.handle().incident_trigger(Duration::from_secs(4 * 3600));
    /// let evaluator = stella_slo::Evaluator::builder()
    ///     .with_incident_trigger(stella_slo::Factor::new(14.4)?, trigger)
    ///     .build()?;
    /// # let _ = evaluator;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "slo")]
    #[cfg_attr(docsrs, doc(cfg(feature = "slo")))]
    pub fn incident_trigger(
        &self,
        ttl: Duration,
    ) -> impl Fn(&stella_slo::IncidentSignal) + Send + Sync + 'static {
        let incidents = Arc::clone(&self.incidents);
        move |signal: &stella_slo::IncidentSignal| match signal.action {
            stella_slo::IncidentAction::Start => {
                let _ = incidents.start(
                    crate::IncidentRequest::new(signal.tenant.clone(), ttl)
                        .with_actor(format!("slo:{}", signal.slo))
                        .with_reason(format!(
                            "burn rate {:.1} above {:.1}",
                            signal.burn_rate, signal.threshold
                        ))
                        .with_trigger(crate::IncidentTrigger::BurnRate {
                            slo: signal.slo.clone(),
                            burn_rate: signal.burn_rate,
                        }),
                );
            }
            _ => {
                let _ = incidents.stop(&signal.tenant);
            }
        }
    }

    /// Sweeps expired grants and emits one decision log each; returns how many. Expired grants
    /// stop applying on time whether or not this runs; the [`TelemetryGuard`] of [`init`](crate::init)
    /// and [`build`](crate::build) calls it once a second. Call it yourself when you use the
    /// layer without the guard.
    pub fn expire_deep_debug(&self) -> usize {
        let expired = self.core.scrubber.grants().expire();
        for audit in &expired {
            decision::emit_grant_audit(audit);
        }
        expired.len()
    }
}
