//! OpenTelemetry traces: the span bridge, head and tail sampling, OTLP/HTTP protobuf export
//! (OTLP/gRPC with the `otlp-grpc` feature).
//!
//! `tracing` spans become OpenTelemetry spans through a light bridge layer (no
//! `tracing-opentelemetry`, no OpenTelemetry SDK span objects on the hot path):
//!
//! - ids: a span that carries `trace_id`/`span_id`/`parent_span_id` fields (the
//!   `stella-context` ingress, client and job spans) keeps those ids; any other span is a child
//!   of its nearest enclosing span, else of the active span of the attached
//!   `opentelemetry::Context` (a span started through the `opentelemetry` API), else of the
//!   current `stella_context` trace, else a new root; it keeps its parent's sampled flag.
//!   The span's ids are stored as a `stella_context::TraceContext` in its extensions, so log
//!   lines inside it carry the same `trace_id`/`span_id` as the exported span.
//! - names and kinds: `otel.name`, `otel.kind`, `otel.status_code` and
//!   `otel.status_description` fields, as `tracing-opentelemetry` reads them; an `error`-level
//!   event inside a span marks it as failed.
//! - scrubbing: every string attribute, event name and field, and status message passes
//!   through the scrubber, key-aware, on the export thread right before encoding (never relaxed
//!   by deep-debug grants: exported data is always strict). Raw values stay in process memory
//!   only; spans that are not kept are never scrubbed at all.
//! - sampling: parent-based head sampling with a ratio that can change at runtime
//!   ([`TelemetryHandle::set_trace_sample_ratio`](crate::TelemetryHandle::set_trace_sample_ratio)),
//!   plus in-process tail sampling (see [`TraceConfig::with_tail_latency`]).
//! - the `opentelemetry` API: spans started through a tracer of [`init`](crate::init)'s global
//!   provider (or [`TelemetryHandle::otel_tracer`](crate::TelemetryHandle::otel_tracer)) are
//!   built as the same span data and take the same road (sampling, incident mode, scrubbing,
//!   resource, queue); their parent is the OpenTelemetry context's span, else the current
//!   `tracing` span or `stella_context` trace.
//! - the ingress: [`init`](crate::init) registers the head sampler with
//!   `stella_context::sampling`, so `ServerLayer` sets the `sampled` flag the exporter applies.
//! - export: a bounded queue drained by a dedicated thread that posts OTLP/HTTP protobuf, or
//!   calls OTLP/gRPC `TraceService/Export` from a current-thread runtime of its own
//!   (`otlp-grpc`); a full queue drops and counts, a failed export drops and counts its batch;
//!   nothing ever blocks the instrumented code.

mod api;
mod config;
mod encode;
mod export;
#[cfg(feature = "otlp-grpc")]
mod grpc;
mod job;
mod layer;
mod pool;
mod sampler;
mod stats;
mod tail;

pub(crate) use self::api::TracerProvider;
pub use self::config::{OtlpCompression, OtlpProtocol, TraceConfig, TraceConfigError};
pub(crate) use self::export::Exporter;
pub use self::job::{JobSpan, job_span, schedule_span};
pub(crate) use self::layer::{
    OtelLayer, Pipeline, Shared, now_nanos, span_fields, span_fields_mut, span_state,
    span_trace_context,
};
pub use self::sampler::RatioError;
pub(crate) use self::sampler::check_ratio;
pub use self::stats::TraceStats;
#[cfg(test)]
pub(crate) use self::{export::Queue, layer::Plain, layer::SpanData};

/// An export request of `batch`, scrubbed with `scrubber` (an empty resource).
#[cfg(test)]
pub(crate) fn encode_request(
    batch: &mut [Box<layer::SpanData>],
    scrubber: &stella_scrub::Scrubber,
) -> Vec<u8> {
    encode::request(&[], batch, scrubber)
}

/// Which global OpenTelemetry propagators to install (`OTEL_PROPAGATORS`): W3C Trace Context
/// and W3C Baggage, both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagators {
    pub(crate) trace_context: bool,
    pub(crate) baggage: bool,
}

impl Default for Propagators {
    fn default() -> Self {
        Propagators {
            trace_context: true,
            baggage: true,
        }
    }
}

impl Propagators {
    /// The propagators of an `OTEL_PROPAGATORS` list (comma-separated, any case, spaces
    /// ignored), and the names of it this crate does not implement. `none` installs none,
    /// whatever else the list names (a list that names `none` asks for no propagation); an
    /// empty list is the default.
    pub(crate) fn parse(list: &str) -> (Propagators, Vec<String>) {
        let names: Vec<String> = list
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return (Propagators::default(), Vec::new());
        }
        const NONE: Propagators = Propagators {
            trace_context: false,
            baggage: false,
        };
        let (mut p, mut none, mut unsupported) = (NONE, false, Vec::new());
        for name in names {
            match name.as_str() {
                "tracecontext" => p.trace_context = true,
                "baggage" => p.baggage = true,
                "none" => none = true,
                _ => unsupported.push(name),
            }
        }
        (if none { NONE } else { p }, unsupported)
    }
}

/// Installs the W3C `traceparent`/`tracestate` and `baggage` propagators `which` names as the
/// global OpenTelemetry text-map propagator (for code that uses the `opentelemetry` API
/// directly).
pub(crate) fn install_propagator(which: Propagators) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
    let mut list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    if which.trace_context {
        list.push(Box::new(TraceContextPropagator::new()));
    }
    if which.baggage {
        list.push(Box::new(BaggagePropagator::new()));
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(list),
    );
}

#[cfg(test)]
mod propagator_tests {
    use super::Propagators;

    #[test]
    fn otel_propagators_lists_are_read_as_the_specification_says() {
        let both = Propagators::default();
        let only = |trace_context, baggage| Propagators {
            trace_context,
            baggage,
        };
        assert_eq!(Propagators::parse(""), (both, vec![]));
        assert_eq!(Propagators::parse("tracecontext,baggage"), (both, vec![]));
        assert_eq!(
            Propagators::parse(" TraceContext "),
            (only(true, false), vec![])
        );
        assert_eq!(Propagators::parse("baggage"), (only(false, true), vec![]));
        assert_eq!(Propagators::parse("none"), (only(false, false), vec![]));
        assert_eq!(
            Propagators::parse("tracecontext,none"),
            (only(false, false), vec![])
        );
        assert_eq!(
            Propagators::parse("b3,tracecontext,xray"),
            (only(true, false), vec!["b3".to_owned(), "xray".to_owned()])
        );
    }
}

/// The head sampler of a pipeline as `stella_context::sampling` asks it (for requests and
/// restored jobs): the caller's flag for a continued trace (parent-based, the default) or the
/// runtime ratio on its trace id, the runtime ratio for a new one, and always for a tenant in
/// incident mode (the decisions the bridge and the API tracer make for the same spans).
#[derive(Debug)]
pub(crate) struct IngressSampler {
    pipeline: std::sync::Arc<Pipeline>,
    incidents: std::sync::Arc<crate::incident::Incidents>,
}

impl IngressSampler {
    pub(crate) fn new(
        pipeline: std::sync::Arc<Pipeline>,
        incidents: std::sync::Arc<crate::incident::Incidents>,
    ) -> Self {
        IngressSampler {
            pipeline,
            incidents,
        }
    }
}

impl stella_context::sampling::HeadSampler for IngressSampler {
    fn should_sample(&self, input: &stella_context::sampling::SamplingInput<'_>) -> bool {
        let head = match input.parent {
            Some(parent) => self
                .pipeline
                .sampler
                .continued(&input.trace_id.to_bytes(), parent.flags().is_sampled()),
            None => self
                .pipeline
                .sampler
                .sample_root(&input.trace_id.to_bytes()),
        };
        head || (self.incidents.any_active()
            && input.tenant_id.is_some_and(|t| self.incidents.is_active(t)))
    }
}

/// The running trace pipeline of one [`build`](crate::build): the bridge layer's shared state
/// and the export worker.
#[derive(Debug)]
pub(crate) struct Tracing {
    pipeline: std::sync::Arc<Pipeline>,
    exporter: Exporter,
}

impl Tracing {
    /// Starts the export worker when `config` has an endpoint; `None` when tracing is off.
    pub(crate) fn start(
        config: &TraceConfig,
        resource: &crate::Resource,
        scrubber: &stella_scrub::Scrubber,
        incidents: std::sync::Arc<crate::incident::Incidents>,
    ) -> Result<Option<Tracing>, crate::InitError> {
        let validated = config.validate()?;
        if config.endpoint.is_none() {
            return Ok(None);
        }
        let stats = std::sync::Arc::new(stats::Counters::default());
        let queue = std::sync::Arc::new(export::Queue::new(
            config.queue_capacity,
            config.batch_size,
            scrubber.clone(),
        ));
        let exporter = Exporter::start(
            config,
            &validated,
            export::proto_resource(resource, scrubber),
            std::sync::Arc::clone(&queue),
            std::sync::Arc::clone(&stats),
        )
        .map_err(|e| crate::InitError::Output(crate::OutputError::Thread(e)))?;
        let pipeline =
            std::sync::Arc::new(Pipeline::new(config, queue, stats, incidents, scrubber));
        Ok(Some(Tracing { pipeline, exporter }))
    }

    pub(crate) fn pipeline(&self) -> std::sync::Arc<Pipeline> {
        std::sync::Arc::clone(&self.pipeline)
    }

    pub(crate) fn layer(&self) -> OtelLayer {
        OtelLayer::new(self.pipeline())
    }

    pub(crate) fn into_exporter(self) -> Exporter {
        self.exporter
    }
}
