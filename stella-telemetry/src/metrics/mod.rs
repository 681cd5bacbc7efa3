//! Metrics: the `metrics` facade with a recorder that keeps exemplars and caps cardinality,
//! and the `/metrics` exposition (OpenMetrics with exemplars, or Prometheus text).
//!
//! Services record with the `metrics` macros (`metrics::counter!`, `histogram!`, `gauge!`) or
//! the golden-signal helpers here ([`record_http_request`], [`InFlight`], [`Journey`],
//! [`record_job`]). [`init`](crate::init) installs the recorder globally; the exposition comes
//! from [`TelemetryHandle::render_metrics`](crate::TelemetryHandle::render_metrics).
//!
//! - Names: the facade name with dots as underscores, plus the unit suffix (`_seconds`,
//!   `_bytes`) and `_total` for counters: `http.server.request.duration` is exposed as
//!   `http_server_request_duration_seconds`. Every series gets a `service` label.
//! - Exemplars: a histogram observation made inside a span whose trace is sampled keeps that
//!   trace id as the exemplar of its bucket (`# {trace_id="…"} value timestamp`, OpenMetrics
//!   only).
//! - Cardinality: at most [`MetricsConfig::with_max_series`] label sets per metric (default
//!   1 000); later label sets fold into one series labelled `otel_metric_overflow="true"` and
//!   are counted in `stella_telemetry_metric_overflow_total{metric=…}`. Tenant labels
//!   (`tenant_id`, `tenant`, `tenant.id`) keep only the tenants operators list
//!   ([`MetricsConfig::with_tenants`]); any other tenant becomes `other`.
//!
//! ```
//! use std::time::Duration;
//! use stella_telemetry::metrics::{self as m, Journey};
//! use stella_telemetry::{Config, Output};
//!
//! let (dispatch, guard) = stella_telemetry::build(Config::new("policy-engine", "1.4.0").with_output(Output::Stderr))?;
//! let handle = guard.handle();
//! handle.with_metrics_recorder(|| {
//!     m::record_http_request("POST", "/evaluate", 200, Duration::from_millis(42));
//!     Journey::PolicyEvaluate.record(Duration::from_millis(850), true, &[("size_class", "5k")]);
//! });
//! let exposition = handle.render_metrics(Some("text/plain"));
//! assert!(exposition.body().contains("http_server_request_duration_seconds_count{service=\"policy-engine\""));
//! # let _ = dispatch;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod exemplar;
mod golden;
mod process;
mod registry;
mod render;
mod server;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use self::golden::{
    HTTP_DURATION_BUCKETS, HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION, InFlight,
    JOB_DURATION, Journey, QUEUE_DEPTH, record_http_request, record_job,
};
pub(crate) use self::registry::{Kind, Registry};
pub(crate) use self::render::{Format, Simple};
pub use self::render::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};
pub(crate) use self::server::MetricsServer;

/// The label keys treated as tenant labels.
const TENANT_LABELS: [&str; 3] = ["tenant_id", "tenant", "tenant.id"];

/// Metric settings: cardinality caps, the tenants allowed as label values, histogram buckets.
///
/// # Examples
///
/// ```
/// use stella_telemetry::metrics::MetricsConfig;
///
/// let m = MetricsConfig::new()
///     .with_max_series(500)
///     .with_tenants(["acme", "globex"])
///     .with_buckets("stella.cache.lookup.duration", [0.001, 0.01, 0.1]);
/// # let _ = m;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct MetricsConfig {
    pub(crate) max_series: usize,
    tenants: HashSet<String>,
    buckets: HashMap<String, Arc<[f64]>>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig::new()
    }
}

impl MetricsConfig {
    /// The defaults: 1 000 label sets per metric, no tenant kept as a label value, the
    /// semantic-convention HTTP buckets for every histogram but the journeys (SLO-aligned).
    pub fn new() -> Self {
        let mut buckets: HashMap<String, Arc<[f64]>> = HashMap::new();
        for j in Journey::ALL {
            buckets.insert(j.metric_name().to_owned(), Arc::from(j.buckets()));
        }
        MetricsConfig {
            max_series: 1_000,
            tenants: HashSet::new(),
            buckets,
        }
    }

    /// At most `n` label sets per metric (at least 1); the rest fold into the overflow series.
    pub fn with_max_series(mut self, n: usize) -> Self {
        self.max_series = n.max(1);
        self
    }

    /// The tenants kept as tenant label values (`STELLA_METRICS_TENANTS`, comma-separated);
    /// any other tenant is exposed as `other`.
    pub fn with_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// The bucket bounds of one histogram (facade name); unsorted and NaN bounds are fixed up.
    pub fn with_buckets(
        mut self,
        metric: impl Into<String>,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Self {
        let mut b: Vec<f64> = bounds.into_iter().filter(|b| b.is_finite()).collect();
        b.sort_by(f64::total_cmp);
        b.dedup();
        self.buckets.insert(metric.into(), Arc::from(b));
        self
    }

    pub(crate) fn buckets_for(&self, name: &str) -> Arc<[f64]> {
        self.buckets
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::from(HTTP_DURATION_BUCKETS))
    }

    pub(crate) fn is_tenant_label(&self, key: &str) -> bool {
        TENANT_LABELS.contains(&key)
    }

    pub(crate) fn tenant_value<'a>(&self, value: &'a str) -> &'a str {
        if self.tenants.contains(value) {
            value
        } else {
            "other"
        }
    }
}

/// A rendered `/metrics` response: the body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposition {
    content_type: &'static str,
    body: String,
}

impl Exposition {
    pub(crate) fn new(content_type: &'static str, body: String) -> Self {
        Exposition { content_type, body }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The exposition text.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The exposition text, owned.
    pub fn into_body(self) -> String {
        self.body
    }
}

/// Renders the registry plus the library's own metrics.
pub(crate) fn render(
    registry: &Registry,
    service: &str,
    accept: Option<&str>,
    own: &[Simple<'_>],
) -> Exposition {
    let format = Format::negotiate(accept);
    let mut out = String::with_capacity(4 * 1024);
    let overflowed = render::registry(&mut out, format, registry, service);
    for m in own {
        render::simple(&mut out, format, service, m);
    }
    #[expect(clippy::cast_precision_loss, reason = "exposition is float")]
    let overflow = Simple {
        name: "stella_telemetry_metric_overflow_total",
        kind: Kind::Counter,
        unit: None,
        help: "Label sets folded into the overflow series of a metric over its cardinality cap.",
        samples: overflowed
            .into_iter()
            .map(|(m, n)| (vec![("metric".to_owned(), m)], n as f64))
            .collect(),
    };
    render::simple(&mut out, format, service, &overflow);
    for m in process::metrics() {
        render::simple(&mut out, format, service, &m);
    }
    let content_type = match format {
        Format::OpenMetrics => {
            out.push_str("# EOF\n");
            OPENMETRICS_CONTENT_TYPE
        }
        Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
    };
    Exposition::new(content_type, out)
}

/// The registry shared by the handle and the installed recorder.
#[derive(Debug, Clone)]
pub(crate) struct SharedRegistry(pub(crate) Arc<Registry>);

impl metrics::Recorder for SharedRegistry {
    fn describe_counter(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_counter(key, unit, description);
    }

    fn describe_gauge(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Counter {
        self.0.register_counter(key, m)
    }

    fn register_gauge(&self, key: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.0.register_gauge(key, m)
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        m: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.0.register_histogram(key, m)
    }
}
