//! `Config`, `init()` and `build()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use stella_context::CurrentContext;
use stella_scrub::Scrubber;
use stella_scrub::grants::{Clock, Grants, SystemClock};
use tracing::span;
use tracing::subscriber::Interest;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt as _};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::guard::{Housekeeper, TelemetryGuard, TelemetryHandle};
use crate::writer::{
    DEFAULT_CAPACITY, DEFAULT_PRIORITY_WAIT, FileOutput, NonBlocking, Output, OutputError,
};
use crate::{JsonLayer, Resource, Sampling};

/// The default filter when neither `STELLA_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_FILTER: &str = "info";
/// The default bound on flushing at shutdown.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything [`init`] needs: the resource, the filter, the output, scrubbing, sampling and
/// queue bounds. Start from [`Config::from_env`] (or [`Config::new`]) and override with the
/// `with_*` methods; nothing is validated until [`init`]/[`build`].
///
/// # Environment
///
/// | variable | meaning |
/// |---|---|
/// | `STELLA_ENV`, `STELLA_REGION`, `STELLA_INSTANCE_ID` | `env`, `region`, `instance_id` |
/// | `STELLA_LOG` (else `RUST_LOG`) | the filter, `RUST_LOG` syntax (`info,hyper=warn`) |
/// | `STELLA_LOG_OUTPUT` | `stdout` (default), `stderr` or `file:PATH` |
/// | `STELLA_LOG_ROTATION` | for files: `never`, `daily`, `size:BYTES` (`k`/`m`/`g` suffixes), or `daily,size:…` |
/// | `STELLA_LOG_MAX_FILES` | for files: rotated files kept (default 5) |
/// | `STELLA_REPO_ROOT` | paths under it are not redacted as file paths |
/// | `OTEL_SERVICE_NAME` | overrides the service name |
/// | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k=v` (percent-encoded): `deployment.environment.name`, `cloud.region`, `service.instance.id`, `service.name`, others kept for exporters; `STELLA_*` wins |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | `otlp` feature: traces go to `<value>/v1/traces` (OTLP/HTTP protobuf); tracing is off without an endpoint |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | `otlp` feature: the exact traces URL |
/// | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `otlp` feature: `http/protobuf` (default) or `grpc` (the `otlp-grpc` feature; the endpoint is then used as it is) |
/// | `OTEL_TRACES_EXPORTER` | `otlp` feature: `none` turns tracing off |
/// | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY` (and their `TRACES_` forms, which win) | `otlp-tls` feature: PEM files: the CA certificates trusted instead of the webpki roots, and the client certificate and key for mutual TLS, for an `https://` endpoint over `http/protobuf`; where they cannot apply (an `http://` endpoint, gRPC, no `otlp-tls`) they are left unused with a warning line |
/// | `OTEL_PROPAGATORS` | `otlp` feature: the global OpenTelemetry propagators `init` installs, of `tracecontext`, `baggage` (the default: both) and `none`; other names are left out with a warning line. The ingress and job middleware of `stella-context` speak W3C Trace Context and Baggage whatever it says |
/// | `OTEL_SDK_DISABLED` | `otlp` feature: `true` (any case) turns tracing off; anything else is false (with a warning line when it is not `false`); the JSON logs and `/metrics` are not OpenTelemetry SDK signals and stay on |
/// | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (else `OTEL_ATTRIBUTE_COUNT_LIMIT`), `OTEL_SPAN_EVENT_COUNT_LIMIT` | `otlp` feature: the most attributes (default 128) and events (32) a span keeps; the rest are counted |
/// | `OTEL_TRACES_SAMPLER` | `otlp` feature: `parentbased_always_on` (the default), `parentbased_always_off`, `parentbased_traceidratio` (a remote parent's decision is followed), `always_on`, `always_off`, `traceidratio` (the ratio decides for continued traces too: `TraceConfig::with_parent_based_sampling(false)`) |
/// | `OTEL_TRACES_SAMPLER_ARG` | `otlp` feature: the head-sampling ratio of new traces (default 1.0), for the trace-id-ratio samplers |
/// | `STELLA_METRICS_ADDR` | `prometheus` feature: serve `GET /metrics` on this address (`0.0.0.0:9464`) |
/// | `STELLA_METRICS_TENANTS` | `prometheus` feature: comma-separated tenants kept as metric label values (others become `other`) |
/// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | `otlp` feature: the export request timeout in milliseconds (default 10 000) |
/// | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `otlp` feature: `name=value,...` (values percent-encoded) sent with every export request, the second list winning on a name; values never show in `Debug` output or errors |
/// | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | `otlp` feature: `none` (default) or `gzip`, the second variable winning ([`OtlpCompression`](crate::OtlpCompression)) |
/// | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `otlp` feature: the export interval in milliseconds (default 1 000), the queue bound in spans (8 192), the most spans per request (2 048) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_telemetry::{Config, Output, Sampling};
///
/// let config = Config::from_env("policy-engine", env!("CARGO_PKG_VERSION"))
///     .with_env("prod")
///     .with_filter("info,hyper=warn")
///     .with_output(Output::Stderr)
///     .with_sampling(Sampling::new().with_tenant_limit(500, Duration::from_secs(1)));
/// # let _ = config;
/// ```
#[must_use]
pub struct Config {
    pub(crate) resource: Resource,
    filter: Option<String>,
    output: Output,
    repo_root: Option<String>,
    scrubber: Option<Scrubber>,
    grants: Option<Grants>,
    sampling: Sampling,
    queue_capacity: usize,
    priority_wait: Duration,
    flush_timeout: Duration,
    log_bridge: bool,
    clock: Arc<dyn Clock>,
    /// `clock` is the system clock (none injected).
    system_clock: bool,
    env_error: Option<(&'static str, String)>,
    warnings: Vec<String>,
    #[cfg(feature = "otlp")]
    traces: crate::TraceConfig,
    /// The global OpenTelemetry propagators `init` installs (`OTEL_PROPAGATORS`).
    #[cfg(feature = "otlp")]
    propagators: crate::trace::Propagators,
    #[cfg(feature = "prometheus")]
    metrics: crate::metrics::MetricsConfig,
    #[cfg(feature = "prometheus")]
    metrics_listener: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("resource", &self.resource)
            .field("filter", &self.filter)
            .field("output", &self.output)
            .field("repo_root", &self.repo_root)
            .field("sampling", &self.sampling)
            .field("queue_capacity", &self.queue_capacity)
            .field("priority_wait", &self.priority_wait)
            .field("flush_timeout", &self.flush_timeout)
            .field("log_bridge", &self.log_bridge)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration for `service` at `version` with every default and nothing read from the
    /// environment.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = stella_telemetry::Config::new("svc", "1.0");
    /// assert_eq!(c.resource().service(), "svc");
    /// ```
    pub fn new(service: impl Into<String>, version: impl Into<String>) -> Self {
        Config {
            resource: Resource::new(service, version),
            filter: None,
            output: Output::Stdout,
            repo_root: None,
            scrubber: None,
            grants: None,
            sampling: Sampling::new(),
            queue_capacity: DEFAULT_CAPACITY,
            priority_wait: DEFAULT_PRIORITY_WAIT,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            log_bridge: true,
            clock: Arc::new(SystemClock::default()),
            system_clock: true,
            env_error: None,
            warnings: Vec::new(),
            #[cfg(feature = "otlp")]
            traces: crate::TraceConfig::new(),
            #[cfg(feature = "otlp")]
            propagators: crate::trace::Propagators::default(),
            #[cfg(feature = "prometheus")]
            metrics: crate::metrics::MetricsConfig::new(),
            #[cfg(feature = "prometheus")]
            metrics_listener: None,
        }
    }

    /// [`Config::new`], then the settings of the process environment (see the table above).
    /// Malformed values are reported by [`init`], not here.
    pub fn from_env(service: impl Into<String>, version: impl Into<String>) -> Self {
        Config::from_lookup(service, version, |k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] with the variables read from `lookup` (tests, or a config map).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::Config;
    ///
    /// let env = [("STELLA_ENV", "staging"), ("OTEL_RESOURCE_ATTRIBUTES", "cloud.region=eu%2Dwest%2D1")];
    /// let c = Config::from_lookup("svc", "1.0", |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()));
    /// assert_eq!(c.resource().env(), Some("staging"));
    /// assert_eq!(c.resource().region(), Some("eu-west-1"));
    /// ```
    pub fn from_lookup(
        service: impl Into<String>,
        version: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut c = Config::new(service, version);
        let otel_service = get("OTEL_SERVICE_NAME");
        if let Some(s) = &otel_service {
            c.resource.set_service(s.clone());
        }
        c.resource.set_env(get("STELLA_ENV"));
        c.resource.set_region(get("STELLA_REGION"));
        c.resource.set_instance_id(get("STELLA_INSTANCE_ID"));
        if let Some(attrs) = get("OTEL_RESOURCE_ATTRIBUTES")
            && let Err(e) = c
                .resource
                .apply_otel_attributes(&attrs, otel_service.is_some())
        {
            c.warnings
                .push(format!("OTEL_RESOURCE_ATTRIBUTES ignored: {e}"));
        }
        c.filter = get("STELLA_LOG").or_else(|| get("RUST_LOG"));
        if let Some(out) = get("STELLA_LOG_OUTPUT") {
            match Output::parse(&out) {
                Ok(o) => c.output = o,
                Err(e) => c.env_error = Some(("STELLA_LOG_OUTPUT", e.to_string())),
            }
        }
        let rotation = get("STELLA_LOG_ROTATION");
        let max_files = get("STELLA_LOG_MAX_FILES");
        if rotation.is_some() || max_files.is_some() {
            match std::mem::take(&mut c.output) {
                Output::File(mut f) => {
                    if let Some(spec) = rotation {
                        match f.clone().with_rotation_spec(&spec) {
                            Ok(r) => f = r,
                            Err(e) => c.env_error = Some(("STELLA_LOG_ROTATION", e.to_string())),
                        }
                    }
                    if let Some(n) = max_files {
                        match n.parse::<usize>() {
                            Ok(n) => f = f.with_max_files(n),
                            Err(_) => {
                                c.env_error =
                                    Some(("STELLA_LOG_MAX_FILES", format!("`{n}` is not a number")))
                            }
                        }
                    }
                    c.output = Output::File(f);
                }
                other => {
                    c.output = other;
                    c.warnings.push("STELLA_LOG_ROTATION/STELLA_LOG_MAX_FILES ignored: the output is not a file".to_owned());
                }
            }
        }
        c.repo_root = get("STELLA_REPO_ROOT");
        #[cfg(feature = "prometheus")]
        {
            c.metrics_listener = get("STELLA_METRICS_ADDR");
        }
        #[cfg(feature = "prometheus")]
        if let Some(t) = get("STELLA_METRICS_TENANTS") {
            c.metrics = std::mem::take(&mut c.metrics)
                .with_tenants(t.split(',').map(str::trim).filter(|t| !t.is_empty()));
        }
        #[cfg(feature = "otlp")]
        match c.traces.apply_env(get) {
            Ok(warnings) => c.warnings.extend(warnings),
            Err(e) => {
                if c.env_error.is_none() {
                    c.env_error = Some(e);
                }
            }
        }
        #[cfg(feature = "otlp")]
        if let Some(list) = get("OTEL_PROPAGATORS") {
            let (propagators, unsupported) = crate::trace::Propagators::parse(&list);
            c.propagators = propagators;
            for name in unsupported {
                c.warnings.push(format!(
                    "OTEL_PROPAGATORS: `{}` is not supported (tracecontext, baggage, none) and is left out",
                    crate::json::prefix(&name, 32)
                ));
            }
        }
        c
    }

    /// The resource as configured so far.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// Sets the service name.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.resource.set_service(service.into());
        self
    }

    /// Sets the service version.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.resource.set_version(version.into());
        self
    }

    /// Sets `env` (`STELLA_ENV`).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.resource.set_env(Some(env.into()));
        self
    }

    /// Sets `region` (`STELLA_REGION`).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.resource.set_region(Some(region.into()));
        self
    }

    /// Sets `instance_id` (`STELLA_INSTANCE_ID`).
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.resource.set_instance_id(Some(id.into()));
        self
    }

    /// Replaces the whole resource.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// The filter, in `RUST_LOG` syntax (`STELLA_LOG`; default [`DEFAULT_FILTER`]).
    pub fn with_filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Where lines go (`STELLA_LOG_OUTPUT`).
    pub fn with_output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// Writes to a file with rotation (`STELLA_LOG_OUTPUT=file:…`, `STELLA_LOG_ROTATION`).
    pub fn with_file(self, file: FileOutput) -> Self {
        self.with_output(Output::File(file))
    }

    /// Paths under `root` are not redacted (`STELLA_REPO_ROOT`). Ignored when a scrubber is
    /// given with [`with_scrubber`](Self::with_scrubber).
    pub fn with_repo_root(mut self, root: impl Into<String>) -> Self {
        self.repo_root = Some(root.into());
        self
    }

    /// Scrubs with this scrubber instead of building one (custom rules, HMAC tags, grants).
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = Some(scrubber);
        self
    }

    /// The deep-debug grants registry the built scrubber consults (default: a new one on the
    /// system clock). Ignored when a scrubber is given.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = Some(grants);
        self
    }

    /// Rate limits for info, debug and trace records.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// The writer queue bound, in lines (default 8 192).
    pub fn with_queue_capacity(mut self, lines: usize) -> Self {
        self.queue_capacity = lines.max(1);
        self
    }

    /// How long an error or warn line waits for room in a full queue (default 100 ms).
    pub fn with_priority_wait(mut self, wait: Duration) -> Self {
        self.priority_wait = wait;
        self
    }

    /// The bound on flushing when the guard drops or shuts down (default 2 s).
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Whether [`init`] installs the `log` crate bridge (default on, with the `log` feature).
    pub fn with_log_bridge(mut self, on: bool) -> Self {
        self.log_bridge = on;
        self
    }

    /// The trace settings (`otlp` feature): endpoint, sampling, bounds.
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn with_traces(mut self, traces: crate::TraceConfig) -> Self {
        self.traces = traces;
        self
    }

    /// The trace settings as configured so far (`otlp` feature).
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn traces(&self) -> &crate::TraceConfig {
        &self.traces
    }

    /// Exports traces to the OTLP/HTTP collector at `base` (`http://host:4318`), keeping the
    /// other trace settings (`otlp` feature; `OTEL_EXPORTER_OTLP_ENDPOINT`).
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn with_otlp_endpoint(mut self, base: impl AsRef<str>) -> Self {
        self.traces = self.traces.with_endpoint(base);
        self
    }

    /// The metric settings (`prometheus` feature): cardinality caps, tenants, buckets.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn with_metrics(mut self, metrics: crate::metrics::MetricsConfig) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves `GET /metrics` on `addr` (`0.0.0.0:9464`, the port the shipped Prometheus
    /// configuration scrapes; `STELLA_METRICS_ADDR`) from a dedicated thread, with the same
    /// content negotiation as [`TelemetryHandle::render_metrics`]. Without it, serve
    /// `render_metrics` from the service's own router.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn with_metrics_listener(mut self, addr: impl Into<String>) -> Self {
        self.metrics_listener = Some(addr.into());
        self
    }

    /// The clock for timestamps and rate-limit windows (tests).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self.system_clock = false;
        self
    }
}

/// [`init`] or [`build`] failed; nothing was installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// An environment variable is malformed.
    #[error("{var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The filter directives do not parse.
    #[error("log filter: {0}")]
    Filter(String),
    /// The output could not be opened.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The scrubber could not be built.
    #[error("scrubber: {0}")]
    Scrubber(#[from] stella_scrub::BuildError),
    /// The logger could not be built (empty service name, zero sampling window).
    #[error("logger: {0}")]
    Layer(#[from] crate::layer::BuildError),
    /// The trace settings are invalid (`otlp` feature).
    #[cfg(feature = "otlp")]
    #[error("traces: {0}")]
    Traces(#[from] crate::TraceConfigError),
    /// A global `tracing` subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInitialized,
}

/// Builds the subscriber and its guard without installing anything: for tests, or to run a
/// part of a program under its own dispatcher (`tracing::dispatcher::with_default`).
///
/// # Errors
///
/// [`InitError`] for a malformed environment variable, filter or setting, an output that cannot
/// be opened, or a scrubber that does not build.
///
/// # Examples
///
/// ```
/// use stella_telemetry::{Config, Output};
///
/// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1.0").with_output(Output::Stderr))?;
/// tracing::dispatcher::with_default(&dispatch, || tracing::info!("hello"));
/// guard.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build(config: Config) -> Result<(tracing::Dispatch, TelemetryGuard), InitError> {
    let (dispatch, guard, _) = build_parts(config)?;
    Ok((dispatch, guard))
}

pub(crate) struct Parts {
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    pub(crate) log_bridge: bool,
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    pub(crate) max_level: Option<LevelFilter>,
}

fn build_parts(config: Config) -> Result<(tracing::Dispatch, TelemetryGuard, Parts), InitError> {
    if let Some((var, reason)) = config.env_error {
        return Err(InitError::Env { var, reason });
    }
    let filter = EnvFilter::try_new(config.filter.as_deref().unwrap_or(DEFAULT_FILTER))
        .map_err(|e| InitError::Filter(e.to_string()))?;
    let max_level = filter.max_level_hint();
    let scrubber = match config.scrubber {
        Some(s) => s,
        None => {
            let mut b = Scrubber::builder().with_grants(config.grants.unwrap_or_default());
            if let Some(root) = config.repo_root {
                b = b.with_repo_root(root);
            }
            b.build()?
        }
    };
    let (writer, writer_guard) = NonBlocking::builder()
        .with_capacity(config.queue_capacity)
        .with_priority_wait(config.priority_wait)
        .build(config.output)?;
    let layer = JsonLayer::builder(
        config.resource.service().to_owned(),
        config.resource.version().to_owned(),
    )
    .with_resource(config.resource)
    .with_scrubber(scrubber)
    .with_sampling(config.sampling)
    .with_shared_clock(config.clock, config.system_clock)
    .with_non_blocking(writer)
    .build()?;
    let handle = TelemetryHandle::new(layer.core());
    let summary = layer.clone();
    #[cfg(feature = "otlp")]
    let (traces, handle) = match crate::trace::Tracing::start(
        &config.traces,
        handle.resource(),
        handle.scrubber(),
        handle.incident_registry(),
    )? {
        Some(t) => {
            let handle = handle.with_traces(t.pipeline());
            (Some(t), handle)
        }
        None => (None, handle),
    };
    #[cfg(feature = "prometheus")]
    let handle = {
        let scrubber = handle.scrubber().clone();
        handle.with_metrics(std::sync::Arc::new(
            crate::metrics::Registry::new(config.metrics).with_scrubber(scrubber),
        ))
    };
    #[cfg(feature = "otlp")]
    let otel_layer = traces.as_ref().map(crate::trace::Tracing::layer);
    let breadcrumbs =
        crate::incident::BreadcrumbLayer::new(handle.incident_registry(), summary.clone());
    // The JSON layer and the trace bridge follow the same directives: one layer for both, so
    // each span and event is looked up in the registry once. With the breadcrumbs, behind one
    // global filter: no per-layer filter looks spans up on enter, exit, record and close.
    let layer = Stack::new(
        layer,
        #[cfg(feature = "otlp")]
        otel_layer,
    );
    let event_filter = EventFilter::new(filter, config.filter.as_deref().unwrap_or(DEFAULT_FILTER));
    let subscriber = tracing_subscriber::registry().with(Telemetry {
        stack: layer,
        events: event_filter,
        breadcrumbs,
    });
    let dispatch = tracing::Dispatch::new(subscriber);
    for w in &config.warnings {
        tracing::dispatcher::with_default(
            &dispatch,
            || tracing::warn!(target: "stella_telemetry", warning = %w, "telemetry configuration"),
        );
    }
    let housekeeper = Housekeeper::spawn(dispatch.clone(), handle.clone(), summary.clone())?;
    #[allow(unused_mut)]
    let mut guard = TelemetryGuard::new(
        handle,
        writer_guard,
        summary,
        housekeeper,
        config.flush_timeout,
    );
    #[cfg(feature = "otlp")]
    if let Some(t) = traces {
        guard = guard.with_traces(t.into_exporter());
    }
    #[cfg(feature = "prometheus")]
    if let Some(addr) = &config.metrics_listener {
        let server = crate::metrics::MetricsServer::start(addr, guard.handle()).map_err(|e| {
            InitError::Env {
                var: "STELLA_METRICS_ADDR",
                reason: format!("cannot listen on `{}`: {e}", crate::json::prefix(addr, 64)),
            }
        })?;
        guard = guard.with_metrics_server(server);
    }
    Ok((
        dispatch,
        guard,
        Parts {
            log_bridge: config.log_bridge,
            max_level,
        },
    ))
}

/// The JSON layer and the trace bridge as one layer (behind their shared filter): each
/// callback looks its span up once for both, and runs the JSON layer first, then the bridge
/// (the order `JsonLayer::and_then(bridge)` gave).
struct Stack<W> {
    json: JsonLayer<W>,
    #[cfg(feature = "otlp")]
    otel: Option<crate::trace::OtelLayer>,
    /// Whether the bridge's export thread scrubs with the JSON layer's scrubber: then a
    /// message the JSON layer found clean is not scrubbed again as a span event's name, nor
    /// a new span's string value it found clean under the same key.
    #[cfg(feature = "otlp")]
    share_clean_messages: bool,
    /// The bridge is present and the JSON layer's clock is the system clock: an event's time
    /// is read once for both.
    #[cfg(feature = "otlp")]
    share_clock: bool,
}

impl<W> Stack<W>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + 'static,
{
    fn new_span_at<S>(&self, attrs: &span::Attributes<'_>, span: &SpanRef<'_, S>)
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        // The JSON layer visits the span's fields once for both, feeding the bridge's
        // visitor as it visits.
        #[cfg(feature = "otlp")]
        if let Some(otel) = &self.otel {
            otel.new_span_at_sharing(attrs, span, |also| {
                // A text the JSON layer found clean is not scrubbed again for the export.
                also.share_clean(self.share_clean_messages);
                Some(self.json.new_span_fields(attrs, Some(also)))
            });
            return;
        }
        self.json.new_span_at(attrs, span);
    }
}

impl<W> Stack<W> {
    fn new(
        json: JsonLayer<W>,
        #[cfg(feature = "otlp")] otel: Option<crate::trace::OtelLayer>,
    ) -> Self {
        #[cfg(feature = "otlp")]
        let share_clean_messages = otel
            .as_ref()
            .is_some_and(|o| o.scrubs_with(json.scrubber()));
        #[cfg(feature = "otlp")]
        let share_clock = otel.is_some() && json.has_system_clock();
        Stack {
            json,
            #[cfg(feature = "otlp")]
            otel,
            #[cfg(feature = "otlp")]
            share_clean_messages,
            #[cfg(feature = "otlp")]
            share_clock,
        }
    }
}

impl<S, W> tracing_subscriber::Layer<S> for Stack<W>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + 'static,
{
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        self.json.record_at(values, &span);
        #[cfg(feature = "otlp")]
        if let Some(otel) = &self.otel {
            otel.record_at(values, &span);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event);
        // The JSON layer visits the event's fields once for both: when the event's span
        // records it, the bridge's visitor is fed as the JSON layer visits.
        #[cfg(feature = "otlp")]
        if let Some(otel) = &self.otel {
            // One read of the clock stamps both the line and the span event.
            let now = self.share_clock.then(crate::trace::now_nanos);
            otel.event_at_sharing(event, span.as_ref(), now, |also| {
                let noted = self.json.event_at_sharing(event, span.as_ref(), also, now);
                crate::trace::Shared {
                    values: noted.shared,
                    message_clean: self.share_clean_messages && noted.message_clean,
                }
            });
            return;
        }
        self.json.event_at(event, span.as_ref());
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        #[cfg(feature = "otlp")]
        if let Some(otel) = &self.otel {
            tracing_subscriber::Layer::<S>::on_close(otel, id, ctx);
        }
        #[cfg(not(feature = "otlp"))]
        let _ = (id, ctx);
    }
}

/// The filter of the JSON layer and the bridge: events follow the directives; spans at `info`
/// and above are always seen, so that a `warn` line inside a request still carries the request
/// span's fields (tenant, route, actor); decision logs are audit records and are never filtered
/// out. Span-level directives (`[span{field=value}]=debug`) keep working.
struct EventFilter {
    filter: EnvFilter,
    /// Whether a directive names a span or its fields (`[span{field=value}]`): only then does
    /// the filter need to follow spans being created, entered, left, recorded and closed.
    dynamic: bool,
}

impl EventFilter {
    fn new(filter: EnvFilter, directives: &str) -> Self {
        EventFilter {
            filter,
            dynamic: directives.contains('['),
        }
    }

    fn enabled<S>(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        always_on(meta) || self.filter.enabled(meta, cx.clone())
    }

    fn callsite_enabled<S>(&self, meta: &'static tracing::Metadata<'static>) -> Interest
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        // The inner filter sees every callsite even when the answer is already known: it
        // learns there which span callsites its span directives match (without that, a
        // `[span{field=value}]=debug` directive never matches a span).
        let inner = Filter::<S>::callsite_enabled(&self.filter, meta);
        if always_on(meta) {
            Interest::always()
        } else {
            inner
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.filter
            .max_level_hint()
            .map(|l| l.max(LevelFilter::INFO))
    }
}

fn always_on(meta: &tracing::Metadata<'_>) -> bool {
    (meta.is_span() && *meta.level() <= tracing::Level::INFO)
        || meta.target() == crate::writer::DECISION_TARGET
}

/// The JSON layer and the trace bridge ([`Stack`]) behind the [`EventFilter`], and the
/// breadcrumb layer behind its own gate (debug and error events while an incident is active),
/// as one layer with a global filter: a span or event is enabled when either part wants it, and
/// each event is then handed to the parts that want it.
///
/// `tracing-subscriber`'s per-layer filters (`Filtered`) would give the same split, but look
/// the span up in the registry on every enter, exit, record and close, once per filtered layer,
/// to read which filters enabled it. Here nothing needs looking up: the breadcrumbs take no
/// spans, so every span that exists was enabled by the event filter. The callsite interest is
/// the union of both parts' (`always` when the event filter always wants the callsite: the
/// breadcrumbs' gate is then checked per event), the level hint the most verbose of both.
/// It also stores the thread's current context in each new span's extensions, as
/// `ContextLayer` does, on the span it looks up for the JSON layer and the bridge.
struct Telemetry<W> {
    stack: Stack<W>,
    events: EventFilter,
    breadcrumbs: crate::incident::BreadcrumbLayer,
}

impl<S, W> tracing_subscriber::Layer<S> for Telemetry<W>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + 'static,
{
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> Interest {
        let events = self.events.callsite_enabled::<S>(meta);
        if events.is_always() {
            return events;
        }
        let crumbs = crate::incident::BreadcrumbLayer::callsite_interest(meta);
        if events.is_never() && crumbs.is_never() {
            Interest::never()
        } else {
            Interest::sometimes()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: Context<'_, S>) -> bool {
        self.events.enabled(meta, &cx) || self.breadcrumbs.wants(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let events = self.events.max_level_hint()?;
        Some(events.max(self.breadcrumbs.max_level_hint()))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        if self.events.dynamic {
            self.events.filter.on_new_span(attrs, id, cx.clone());
        }
        let Some(span) = cx.span(id) else { return };
        // What `ContextLayer` does, on the span already looked up for the JSON layer and the
        // bridge (which read the context from the span's extensions).
        if let Some(current) = CurrentContext::get_local() {
            span.extensions_mut().replace(current);
        }
        self.stack.new_span_at(attrs, &span);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        if self.events.dynamic {
            self.events.filter.on_record(id, values, cx.clone());
        }
        self.stack.on_record(id, values, cx);
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        if self.events.dynamic {
            self.events.filter.on_enter(id, cx);
        }
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        if self.events.dynamic {
            self.events.filter.on_exit(id, cx);
        }
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        if self.events.dynamic {
            self.events.filter.on_close(id.clone(), cx.clone());
        }
        tracing_subscriber::Layer::<S>::on_close(&self.stack, id, cx);
    }

    fn on_event(&self, event: &tracing::Event<'_>, cx: Context<'_, S>) {
        let meta = event.metadata();
        // An event of another level can only have been enabled by the event filter; a debug or
        // error event may have come for the breadcrumbs alone, so the filter is asked again.
        let crumb_level = crate::incident::BreadcrumbLayer::takes_level(meta);
        if !crumb_level || self.events.enabled(meta, &cx) {
            self.stack.on_event(event, cx);
        }
        if crumb_level && self.breadcrumbs.wants(meta) {
            self.breadcrumbs.on_event(event);
        }
    }
}

/// Installs the JSON logger as the global `tracing` subscriber (spans carry the request
/// context, as [`ContextLayer`](stella_context::subscriber::ContextLayer) would store it),
/// bridges the `log` crate, and returns
/// the guard that flushes on drop. With traces on (`otlp` feature and an endpoint) it also
/// installs the W3C propagators, the global OpenTelemetry tracer provider (spans started
/// through `opentelemetry::global::tracer(..)` are exported by the same pipeline) and the
/// global `stella_context` head sampler (the ingress follows the trace sample ratio and
/// incident mode).
///
/// Call it once, first thing in `main`, and keep the guard alive until the program ends.
///
/// # Errors
///
/// Everything [`build`] reports, and [`InitError::AlreadyInitialized`] when a global subscriber
/// exists. A `log` logger installed by someone else is not an error: the bridge is skipped and a
/// warning line says so.
///
/// # Examples
///
/// ```no_run
/// use stella_telemetry::Config;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _telemetry = stella_telemetry::init(Config::from_env("policy-engine", env!("CARGO_PKG_VERSION")))?;
///     tracing::info!("started");
///     Ok(()) // the guard drops here and flushes, with a timeout
/// }
/// ```
pub fn init(config: Config) -> Result<TelemetryGuard, InitError> {
    #[cfg(feature = "otlp")]
    let propagators = config.propagators;
    let (dispatch, guard, parts) = build_parts(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| InitError::AlreadyInitialized)?;
    #[cfg(feature = "otlp")]
    {
        crate::trace::install_propagator(propagators);
        let handle = guard.handle();
        // Spans of the `opentelemetry` API take the same road as `tracing` spans, and the
        // ingress middleware samples as the exporter does.
        if let Some(provider) = handle.otel_provider() {
            opentelemetry::global::set_tracer_provider(provider);
        }
        if let Some(sampler) = handle.head_sampler() {
            let _ = stella_context::sampling::set_global_head_sampler(sampler);
        }
    }
    #[cfg(feature = "prometheus")]
    if let Some(registry) = guard.handle().metrics_registry()
        && ::metrics::set_global_recorder(crate::metrics::SharedRegistry(registry)).is_err()
    {
        tracing::warn!(target: "stella_telemetry", "a `metrics` recorder is already installed; metrics recorded through the facade go there");
    }
    #[cfg(feature = "log")]
    if parts.log_bridge && crate::bridge::install(parts.max_level).is_err() {
        tracing::warn!(target: "stella_telemetry", "a `log` logger is already installed; log records are not bridged");
    }
    #[cfg(not(feature = "log"))]
    let _ = parts;
    Ok(guard)
}

#[cfg(all(test, feature = "otlp"))]
#[allow(clippy::unwrap_used)]
mod sharing_tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::{EventFilter, Stack, Telemetry};
    use crate::JsonLayer;
    use crate::trace::{OtelLayer, Pipeline, Plain, Queue, SpanData, TraceConfig};
    use tracing_subscriber::EnvFilter;

    /// The bridge's configuration with every event copied into its span (the default copies
    /// warnings and errors only): these tests compare the copies.
    fn every_event() -> TraceConfig {
        TraceConfig::new().with_span_event_level(tracing::Level::TRACE)
    }

    /// A field whose `Debug` text is not its `Display` text.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Item {
        id: u32,
        owner: &'static str,
    }

    #[derive(Debug)]
    struct Failure;

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("lookup failed\nsecond line")
        }
    }

    impl std::error::Error for Failure {}

    /// A `Debug` that logs an event of its own to the dispatcher formatting it (inside the
    /// span being recorded). Through `Dispatch::event`: `tracing`'s macros would not dispatch
    /// while a scoped dispatcher is busy, but do with a global one.
    struct Chatty(std::sync::OnceLock<tracing::Dispatch>);

    struct InnerSite;
    static INNER_SITE: InnerSite = InnerSite;
    static INNER: tracing_core::Metadata<'static> = tracing_core::metadata!(
        name: "inner",
        target: "t",
        level: tracing_core::Level::INFO,
        fields: &["message"],
        callsite: &INNER_SITE,
        kind: tracing_core::metadata::Kind::EVENT,
    );

    impl tracing_core::callsite::Callsite for InnerSite {
        fn set_interest(&self, _: tracing_core::Interest) {}
        fn metadata(&self) -> &tracing_core::Metadata<'_> {
            &INNER
        }
    }

    impl std::fmt::Debug for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if let Some(d) = self.0.get()
                && let Some(field) = INNER.fields().field("message")
            {
                let text = "logged while formatting";
                let values = [(&field, Some(&text as &dyn tracing::Value))];
                let values = INNER.fields().value_set(&values);
                d.event(&tracing::Event::new(&INNER, &values));
            }
            f.write_str("chatty")
        }
    }

    /// A span's name, status, attributes and events (name, attributes), as the bridge
    /// recorded them, with the events and attributes it dropped.
    type Recorded = (
        String,
        String,
        Vec<(&'static str, Plain)>,
        Vec<(String, Vec<(&'static str, Plain)>)>,
        (u32, u32),
    );

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Mode {
        /// `Stack`: the JSON layer visits each event once for both.
        Shared,
        /// The JSON layer and the bridge as two layers: each visits.
        Apart,
        /// The bridge without the JSON layer.
        Alone,
    }

    fn run(mode: Mode, traces: &TraceConfig, body: impl FnOnce()) -> (Vec<Recorded>, u64) {
        let (spans, lines, _, _, _) = run_timed(mode, traces, None, body);
        (spans, lines)
    }

    /// A span's ids, parent, kind and links, as the bridge recorded them.
    type Ids = (
        [u8; 16],
        [u8; 8],
        Option<[u8; 8]>,
        String,
        Vec<([u8; 16], [u8; 8])>,
    );

    /// [`run`], the JSON layer on `clock` if given; also the times of the spans' events.
    fn run_timed(
        mode: Mode,
        traces: &TraceConfig,
        clock: Option<stella_scrub::grants::ManualClock>,
        body: impl FnOnce(),
    ) -> (Vec<Recorded>, u64, Vec<u64>, Vec<Ids>, Vec<SpanData>) {
        let scrubber = stella_scrub::Scrubber::builder().build().unwrap();
        let (writer, _writer_guard) = crate::NonBlocking::builder()
            .build(crate::Output::Writer(Box::new(std::io::sink())))
            .unwrap();
        let builder = JsonLayer::builder("svc", "1")
            .with_scrubber(scrubber.clone())
            .with_sampling(crate::Sampling::unlimited());
        let builder = match clock {
            Some(clock) => builder.with_clock(clock),
            None => builder,
        };
        let json = builder.with_non_blocking(writer).build().unwrap();
        let queue = Arc::new(Queue::new(1024, 512, scrubber.clone()));
        let incidents = Arc::new(crate::incident::Incidents::new(
            Arc::new(stella_scrub::grants::SystemClock::default()),
            scrubber.clone(),
        ));
        let pipeline = Arc::new(Pipeline::new(
            traces,
            Arc::clone(&queue),
            Arc::default(),
            Arc::clone(&incidents),
            &scrubber,
        ));
        let otel = OtelLayer::new(pipeline);
        let stats = json.clone();
        let dispatch = match mode {
            Mode::Shared => {
                let breadcrumbs =
                    crate::incident::BreadcrumbLayer::new(Arc::clone(&incidents), json.clone());
                tracing::Dispatch::new(tracing_subscriber::registry().with(Telemetry {
                    stack: Stack::new(json, Some(otel)),
                    events: EventFilter::new(EnvFilter::new("info"), "info"),
                    breadcrumbs,
                }))
            }
            Mode::Apart => {
                tracing::Dispatch::new(tracing_subscriber::registry().with(json).with(otel))
            }
            Mode::Alone => tracing::Dispatch::new(tracing_subscriber::registry().with(otel)),
        };
        tracing::dispatcher::with_default(&dispatch, body);
        let taken = queue.take_all();
        let times = taken
            .iter()
            .flat_map(|s| s.events.iter().map(|e| e.time))
            .collect();
        let ids = taken
            .iter()
            .map(|s| {
                (
                    s.trace_id,
                    s.span_id,
                    s.parent_span_id,
                    format!("{:?}", s.kind),
                    s.links.clone(),
                )
            })
            .collect();
        let spans = taken
            .iter()
            .map(|s| {
                let events = s
                    .events
                    .iter()
                    .map(|e| (s.events.name(e).to_owned(), s.events.plain_attributes(e)))
                    .collect();
                (
                    s.name().to_owned(),
                    format!("{:?}", s.status),
                    s.plain_attributes(),
                    events,
                    (s.dropped_events, s.dropped_attributes),
                )
            })
            .collect();
        (spans, stats.stats().lines, times, ids, taken)
    }

    fn events() {
        let span = tracing::info_span!("work", otel.name = "policy.evaluate", step = 3_u64);
        let _e = span.enter();
        let item = Item {
            id: 7,
            owner: "acme",
        };
        let who = "erin@example.com";
        tracing::info!(
            n = -3_i64,
            big = u64::MAX,
            small = 5_u64,
            ratio = 0.5,
            flag = true,
            text = "plain text",
            item = ?item,
            shown = %who,
            error = &Failure as &(dyn std::error::Error + 'static),
            "evaluated {} rules for {who}",
            12
        );
        // No message: the event is named after its call site.
        tracing::info!(only = "fields", tenant_id = "acme");
        tracing::warn!(message = 5_i64, k = "v");
        tracing::info!("{}", "x".repeat(5_000));
        tracing::event!(
            target: crate::writer::DECISION_TARGET,
            tracing::Level::INFO,
            decision_effect = "allow",
            actor = "bob",
            "decided"
        );
        tracing::error!(code = 2_u64, "failed");
    }

    #[test]
    fn the_bridge_records_the_same_events_with_the_json_layer_sharing_its_visit_or_not() {
        let traces = every_event();
        let (shared, lines) = run(Mode::Shared, &traces, events);
        let (apart, apart_lines) = run(Mode::Apart, &traces, events);
        let (alone, _) = run(Mode::Alone, &traces, events);
        assert_eq!(lines, 6);
        assert_eq!(apart_lines, 6);
        assert_eq!(shared.len(), 1);
        assert_eq!(shared, apart);
        assert_eq!(shared, alone);
        let (_, _, _, events, _) = &shared[0];
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].0, "evaluated 12 rules for erin@example.com");
        assert!(
            events[0]
                .1
                .contains(&("item", Plain::Str("Item { id: 7, owner: \"acme\" }".into())))
        );
        assert!(events[3].0.len() < 5_000, "cut");
    }

    #[test]
    fn span_events_take_the_json_layers_time_only_from_the_system_clock() {
        let traces = every_event();
        let since = |t: std::time::SystemTime| {
            u64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()).unwrap()
        };
        let before = since(std::time::SystemTime::now());
        let (shared, _, times, _, _) = run_timed(Mode::Shared, &traces, None, events);
        let (alone, _, alone_times, _, _) = run_timed(Mode::Alone, &traces, None, events);
        let after = since(std::time::SystemTime::now());
        assert_eq!(shared, alone);
        assert_eq!(times.len(), 6);
        assert_eq!(alone_times.len(), 6);
        assert!(
            times
                .iter()
                .chain(&alone_times)
                .all(|t| (before..=after).contains(t))
        );
        assert!(times.is_sorted());
        // A clock injected into the JSON layer stamps its lines, not the exported events.
        let clock = stella_scrub::grants::ManualClock::at_unix_secs(1_000_000_000);
        let before = since(std::time::SystemTime::now());
        let (manual, _, times, _, _) = run_timed(Mode::Shared, &traces, Some(clock), events);
        let after = since(std::time::SystemTime::now());
        assert_eq!(manual, alone);
        assert_eq!(times.len(), 6);
        assert!(times.iter().all(|t| (before..=after).contains(t)));
    }

    /// Spans whose fields take every path of the bridge's visitor: ids as `Display` values,
    /// `otel.*` fields, `Debug` values, a value past the length bound, an error, a hidden
    /// field, a field recorded later.
    fn spans() {
        let trace = stella_context::TraceId::random();
        let remote = stella_context::SpanId::random();
        let ingress = tracing::info_span!(
            "api",
            otel.name = %format_args!("api.{}", "orders"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.route = "/orders",
            server.port = 8080_u64,
            trace_id = %trace,
            span_id = %stella_context::SpanId::random(),
            parent_span_id = %remote,
            request_id = "req-1",
            tenant_id = "acme",
            actor = tracing::field::Empty,
        );
        let _i = ingress.enter();
        ingress.record("actor", "erin@example.com");
        let item = Item {
            id: 7,
            owner: "acme",
        };
        let step = tracing::info_span!(
            "step",
            otel.name = "policy.evaluate",
            item = ?item,
            long = ?"y".repeat(5_000),
            shown = %"erin@example.com",
            error = &Failure as &(dyn std::error::Error + 'static),
            password = "hunter2",
            n = -3_i64,
            big = u64::MAX,
            ratio = 0.5,
            flag = true,
            link.trace_id = %stella_context::TraceId::random(),
            link.span_id = %stella_context::SpanId::random(),
            // Not ids: read as no id.
            span_id = ?"z".repeat(40),
        );
        let _s = step.enter();
        tracing::info!("inside");
        let bad = tracing::info_span!("bad", trace_id = %"nothex", span_id = 5_u64);
        let _b = bad.enter();
        tracing::info!("inner");
    }

    #[test]
    fn the_bridge_records_the_same_spans_with_the_json_layer_sharing_its_visit_or_not() {
        let traces = every_event();
        // The random ids differ from run to run: the runs are compared on what does not
        // depend on them, and on how the ids relate (same trace, parents).
        let ids = |mode| run_timed(mode, &traces, None, spans);
        let (shared, lines, _, shared_ids, _) = ids(Mode::Shared);
        let (apart, apart_lines, _, apart_ids, _) = ids(Mode::Apart);
        let (alone, _, _, alone_ids, _) = ids(Mode::Alone);
        assert_eq!(lines, 2);
        assert_eq!(apart_lines, 2);
        assert_eq!(shared.len(), 3);
        assert_eq!(shared, apart);
        assert_eq!(shared, alone);
        let shape = |ids: &[Ids]| {
            ids.iter()
                .map(|(t, s, p, kind, links)| {
                    let parent = p.and_then(|p| ids.iter().position(|(_, s, ..)| *s == p));
                    let same_trace: Vec<bool> = ids.iter().map(|(u, ..)| u == t).collect();
                    (
                        *s != [0; 8],
                        p.is_some(),
                        parent,
                        same_trace,
                        kind.clone(),
                        links.len(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&shared_ids), shape(&apart_ids));
        assert_eq!(shape(&shared_ids), shape(&alone_ids));
        let (name, _, attributes, _, _) = &shared[2];
        assert_eq!(name, "api.orders");
        assert!(attributes.contains(&("actor", Plain::Str("erin@example.com".into()))));
        let (name, _, attributes, _, _) = &shared[1];
        assert_eq!(name, "policy.evaluate");
        assert!(
            attributes.contains(&("item", Plain::Str("Item { id: 7, owner: \"acme\" }".into())))
        );
        assert_eq!(shared[1].2.len(), alone[1].2.len());
        assert_eq!(shared_ids[1].4.len(), 1);
    }

    #[test]
    fn the_ingress_span_keeps_the_ids_it_names_shared_or_not() {
        let traces = every_event();
        let trace = stella_context::TraceId::random();
        let span = stella_context::SpanId::random();
        let parent = stella_context::SpanId::random();
        let body = || {
            let ingress = tracing::info_span!(
                "api",
                otel.name = %"api.x",
                trace_id = %trace,
                span_id = %span,
                parent_span_id = %parent,
            );
            let _i = ingress.enter();
            tracing::info!("inside");
        };
        let expect = (trace.to_bytes(), span.to_bytes(), Some(parent.to_bytes()));
        for mode in [Mode::Shared, Mode::Apart, Mode::Alone] {
            let (spans, _, _, ids, _) = run_timed(mode, &traces, None, body);
            assert_eq!(spans[0].0, "api.x");
            assert_eq!((ids[0].0, ids[0].1, ids[0].2), expect, "{mode:?}");
        }
    }

    #[test]
    fn values_found_clean_are_marked_and_the_export_is_the_same_shared_or_not() {
        let traces = every_event();
        let trace = stella_context::TraceId::random();
        let span = stella_context::SpanId::random();
        let body = || {
            let ingress = tracing::info_span!(
                "api",
                otel.name = %"api.x",
                trace_id = %trace,
                span_id = %span,
                request_id = "req-0123",
                tenant_id = "acme",
                http.route = "/orders/{id}",
                note = "mail erin@example.com",
                shown = %"erin@example.com",
                item = ?Item { id: 7, owner: "acme" },
                long = %"k".repeat(5_000),
                actor = tracing::field::Empty,
            );
            // Recorded later, on its own: no verdict carried.
            ingress.record("actor", "bob@example.com");
            let _i = ingress.enter();
            tracing::info!(k = "v", "inside");
        };
        let scrubber = stella_scrub::Scrubber::builder().build().unwrap();
        let export = |mode| {
            let (_, _, _, _, mut spans) = run_timed(mode, &traces, None, body);
            let marked: Vec<u32> = spans.iter().map(SpanData::clean_marks).collect();
            let mut batch: Vec<Box<SpanData>> = spans
                .drain(..)
                .map(|mut s| {
                    s.start = 0;
                    s.end = 0;
                    s.events.clear_times();
                    Box::new(s)
                })
                .collect();
            (crate::trace::encode_request(&mut batch, &scrubber), marked)
        };
        let (shared, marked) = export(Mode::Shared);
        let (apart, unmarked) = export(Mode::Apart);
        let (alone, _) = export(Mode::Alone);
        assert_eq!(shared, apart);
        assert_eq!(shared, alone);
        // request_id, tenant_id, http.route and the item's text; not the e-mails, the text
        // past the length bound, the one recorded later.
        assert_eq!(marked, [4]);
        assert_eq!(unmarked, [0]);
        let text = String::from_utf8_lossy(&shared);
        assert!(text.contains("req-0123"));
        assert!(!text.contains("erin@example.com"));
        assert!(!text.contains("bob@example.com"));
    }

    #[test]
    fn a_full_span_drops_the_same_events_shared_or_not() {
        let mut traces = every_event();
        traces.max_events = 2;
        traces.max_attributes = 3;
        let (shared, _) = run(Mode::Shared, &traces, events);
        let (apart, _) = run(Mode::Apart, &traces, events);
        assert_eq!(shared, apart);
        assert_eq!(shared[0].4.0, 4);
    }

    #[test]
    fn an_unsampled_span_records_no_event_and_lines_are_still_written() {
        let mut traces = every_event();
        traces.ratio = 0.0;
        traces.tail = false;
        let (shared, lines) = run(Mode::Shared, &traces, events);
        assert!(shared.is_empty());
        assert_eq!(lines, 6);
    }

    #[test]
    fn an_event_logged_from_a_debug_value_records_without_deadlock() {
        let traces = every_event();
        let chatty = Chatty(std::sync::OnceLock::new());
        let outer = || {
            tracing::dispatcher::get_default(|d| {
                let _ = chatty.0.set(d.clone());
            });
            let span = tracing::info_span!("work");
            let _e = span.enter();
            tracing::info!(value = ?chatty, "outer");
        };
        let (shared, lines) = run(Mode::Shared, &traces, outer);
        // Formatted once, for both layers: the inner event is logged once, before the outer
        // one is added to the span.
        assert_eq!(lines, 2);
        let names: Vec<&str> = shared[0].3.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["logged while formatting", "outer"]);
        assert!(
            shared[0].3[1]
                .1
                .contains(&("value", Plain::Str("chatty".into())))
        );
    }
}
