//! The golden signals and user-journey metrics, with OpenTelemetry semantic-convention names.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Label, SharedString, Unit};

/// `http.server.request.duration` (histogram, seconds): the latency of each request; with its
/// `_count`, throughput; with `http.response.status_code`/`error.type`, errors. Exposed as
/// `http_server_request_duration_seconds`.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
/// `http.server.active_requests` (gauge): in-flight requests (saturation).
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http.server.active_requests";
/// `stella.queue.depth` (gauge, label `queue`): items waiting in a queue (saturation). Exposed
/// as `stella_queue_depth`.
pub const QUEUE_DEPTH: &str = "stella.queue.depth";
/// `stella.job.duration` (histogram, seconds, labels `job.kind`, `outcome`): job run time; its
/// `_count` by outcome gives job throughput and failures.
pub const JOB_DURATION: &str = "stella.job.duration";

/// A user journey of the brief, each with its SLO-aligned histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Journey {
    /// SBOM ingest, start to first component (`stella_sbom_ingest_first_component_duration_seconds`).
    SbomIngest,
    /// Policy evaluation (`stella_policy_evaluation_duration_seconds`, label `size_class`).
    PolicyEvaluate,
    /// Advisory link to exposure delta (`stella_advisory_link_exposure_delta_duration_seconds`).
    AdvisoryLink,
    /// VEX reconcile (`stella_vex_reconcile_duration_seconds`).
    VexReconcile,
    /// Export bundle, request to ready (`stella_export_bundle_ready_duration_seconds`).
    ExportBundle,
    /// Notification send (`stella_notification_send_duration_seconds`).
    NotificationSend,
}

impl Journey {
    /// Every journey.
    pub const ALL: [Journey; 6] = [
        Journey::SbomIngest,
        Journey::PolicyEvaluate,
        Journey::AdvisoryLink,
        Journey::VexReconcile,
        Journey::ExportBundle,
        Journey::NotificationSend,
    ];

    /// The metric name (facade form, dots).
    pub const fn metric_name(self) -> &'static str {
        match self {
            Journey::SbomIngest => "stella.sbom.ingest.first_component.duration",
            Journey::PolicyEvaluate => "stella.policy.evaluation.duration",
            Journey::AdvisoryLink => "stella.advisory.link.exposure_delta.duration",
            Journey::VexReconcile => "stella.vex.reconcile.duration",
            Journey::ExportBundle => "stella.export.bundle.ready.duration",
            Journey::NotificationSend => "stella.notification.send.duration",
        }
    }

    /// The histogram buckets (seconds), aligned with the SLO thresholds in
    /// `collector-config/slo/specs`.
    pub const fn buckets(self) -> &'static [f64] {
        match self {
            Journey::SbomIngest => &[0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            Journey::PolicyEvaluate => &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0],
            Journey::AdvisoryLink => &[1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
            Journey::VexReconcile => &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            Journey::ExportBundle => &[5.0, 15.0, 30.0, 60.0, 90.0, 180.0, 300.0, 600.0],
            Journey::NotificationSend => &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        }
    }

    /// Records one completed journey: `outcome` is `ok` or `error`; `labels` are extra labels
    /// (for example `size_class` for policy evaluation).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_telemetry::metrics::Journey;
    ///
    /// Journey::PolicyEvaluate.record(Duration::from_millis(850), true, &[("size_class", "5k")]);
    /// ```
    pub fn record(self, took: Duration, ok: bool, labels: &[(&'static str, &str)]) {
        let mut all = Vec::with_capacity(labels.len() + 1);
        all.push(Label::from_static_parts(
            "outcome",
            if ok { "ok" } else { "error" },
        ));
        all.extend(labels.iter().map(|(k, v)| Label::new(*k, (*v).to_owned())));
        metrics::histogram!(self.metric_name(), all).record(took.as_secs_f64());
    }
}

/// The default buckets of `http.server.request.duration` (the semantic conventions' advice).
pub const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Records one served HTTP request: `http.server.request.duration` with
/// `http.request.method`, `http.route` (the template, never the raw path),
/// `http.response.status_code` and, for 5xx, `error.type`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// stella_telemetry::metrics::record_http_request("POST", "/tenants/{tenant}/sboms", 201, Duration::from_millis(12));
/// ```
pub fn record_http_request(method: &str, route: &str, status: u16, took: Duration) {
    let code = status_text(status);
    let mut labels = Vec::with_capacity(4);
    labels.push(Label::new("http.request.method", method_text(method)));
    labels.push(Label::new("http.route", route_text(route)));
    labels.push(Label::new("http.response.status_code", code.clone()));
    if status >= 500 {
        labels.push(Label::new("error.type", code));
    }
    metrics::histogram!(HTTP_SERVER_REQUEST_DURATION, labels).record(took.as_secs_f64());
}

/// The label value of an HTTP method: the standard ones without an allocation.
fn method_text(method: &str) -> SharedString {
    const METHODS: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    match METHODS.iter().find(|m| **m == method) {
        Some(&m) => SharedString::const_str(m),
        None => SharedString::from(method.to_owned()),
    }
}

/// How many route texts a thread keeps shared.
const ROUTES_KEPT: usize = 8;

thread_local! {
    /// The last few route texts of a thread, shared by the labels made of them (replaced in
    /// turn): a request's `http.route` is labelled at its start and its end.
    static ROUTES: std::cell::RefCell<(Vec<Arc<str>>, usize)> =
        const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// The label value of a route: a text this thread labelled lately shared (a reference count)
/// instead of copied for each label.
fn route_text(route: &str) -> SharedString {
    ROUTES
        .try_with(|r| {
            let Ok(mut r) = r.try_borrow_mut() else {
                return None;
            };
            let (kept, next) = &mut *r;
            if let Some(text) = kept.iter().find(|t| ***t == *route) {
                return Some(SharedString::from(Arc::clone(text)));
            }
            let text: Arc<str> = Arc::from(route);
            if kept.len() < ROUTES_KEPT {
                kept.push(Arc::clone(&text));
            } else if let Some(slot) = kept.get_mut(*next % ROUTES_KEPT) {
                *slot = Arc::clone(&text);
                *next = (*next + 1) % ROUTES_KEPT;
            }
            Some(SharedString::from(text))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| SharedString::from(route.to_owned()))
}

/// The label value of a status code: the common ones without an allocation.
fn status_text(status: u16) -> SharedString {
    const CODES: [(u16, &str); 22] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (206, "206"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (307, "307"),
        (308, "308"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (501, "501"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    match CODES.iter().find(|(c, _)| *c == status) {
        Some(&(_, t)) => SharedString::const_str(t),
        None => SharedString::from(status.to_string()),
    }
}

/// Counts a request in flight (`http.server.active_requests`) until dropped.
///
/// # Examples
///
/// ```
/// let _in_flight = stella_telemetry::metrics::InFlight::start("GET", "/healthz");
/// ```
#[derive(Debug)]
#[must_use = "the request counts as in flight until this is dropped"]
pub struct InFlight {
    gauge: metrics::Gauge,
}

impl InFlight {
    /// Counts one more request in flight for `method` and `route`.
    pub fn start(method: &str, route: &str) -> Self {
        let labels = vec![
            Label::new("http.request.method", method_text(method)),
            Label::new("http.route", route_text(route)),
        ];
        let gauge = metrics::gauge!(HTTP_SERVER_ACTIVE_REQUESTS, labels);
        gauge.increment(1.0);
        InFlight { gauge }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// Records a finished job: `stella.job.duration` with `job.kind` and `outcome`.
pub fn record_job(kind: &str, took: Duration, ok: bool) {
    let labels = vec![
        Label::new("job.kind", kind.to_owned()),
        Label::from_static_parts("outcome", if ok { "ok" } else { "error" }),
    ];
    metrics::histogram!(JOB_DURATION, labels).record(took.as_secs_f64());
}

/// Descriptions registered up front: (name, unit, help).
pub(crate) const DESCRIPTIONS: &[(&str, Unit, &str)] = &[
    (
        HTTP_SERVER_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of HTTP server requests.",
    ),
    (
        HTTP_SERVER_ACTIVE_REQUESTS,
        Unit::Count,
        "Number of active HTTP server requests.",
    ),
    (QUEUE_DEPTH, Unit::Count, "Items waiting in a queue."),
    (JOB_DURATION, Unit::Seconds, "Duration of background jobs."),
    (
        "stella.sbom.ingest.first_component.duration",
        Unit::Seconds,
        "SBOM ingest, start to first component.",
    ),
    (
        "stella.policy.evaluation.duration",
        Unit::Seconds,
        "Policy evaluation duration.",
    ),
    (
        "stella.advisory.link.exposure_delta.duration",
        Unit::Seconds,
        "Advisory link to exposure delta.",
    ),
    (
        "stella.vex.reconcile.duration",
        Unit::Seconds,
        "VEX reconcile duration.",
    ),
    (
        "stella.export.bundle.ready.duration",
        Unit::Seconds,
        "Export bundle, request to ready.",
    ),
    (
        "stella.notification.send.duration",
        Unit::Seconds,
        "Notification send duration.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_texts_kept_and_replaced() {
        let routes: Vec<String> = (0..20).map(|i| format!("/r/{i}/{{id}}")).collect();
        for _ in 0..3 {
            for r in &routes {
                assert_eq!(&*route_text(r), r.as_str());
                assert_eq!(&*route_text(r), r.as_str());
            }
        }
        let kept = ROUTES.with(|r| r.borrow().0.len());
        assert_eq!(kept, ROUTES_KEPT);
        let mut buf = String::from("/a/{x}");
        assert_eq!(&*route_text(&buf), "/a/{x}");
        buf.replace_range(1..2, "b");
        assert_eq!(&*route_text(&buf), "/b/{x}");
    }
}
