//! Breach and incident-mode events, their NATS subjects, and the sink trait they go out through.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::policy::Severity;
use crate::slo::is_tenant;
use crate::window::Window;

/// The wire schema version of [`BreachEvent`] and [`IncidentSignal`].
pub const SCHEMA_VERSION: u32 = 1;

/// Why a subject could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {0:?} is not a valid subject token: use only letters, digits, '_' and '-'")]
pub struct SubjectError(String);

/// The NATS subject breach events of `tenant` are published on: `stella.<tenant>.slo.breach`.
///
/// # Errors
///
/// [`SubjectError`] when `tenant` is empty or contains anything but `[A-Za-z0-9_-]` (dots and
/// wildcards would change the subject's meaning).
///
/// # Examples
///
/// ```
/// assert_eq!(stella_slo::breach_subject("acme")?, "stella.acme.slo.breach");
/// assert!(stella_slo::breach_subject("a.>").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn breach_subject(tenant: &str) -> Result<String, SubjectError> {
    if !is_tenant(tenant) {
        return Err(SubjectError(tenant.to_owned()));
    }
    Ok(format!("stella.{tenant}.slo.breach"))
}

/// The NATS subject incident-mode start and stop signals go on: `stella.<tenant>.incident.mode`.
///
/// # Errors
///
/// As [`breach_subject`].
///
/// # Examples
///
/// ```
/// assert_eq!(stella_slo::incident_subject("acme")?, "stella.acme.incident.mode");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn incident_subject(tenant: &str) -> Result<String, SubjectError> {
    if !is_tenant(tenant) {
        return Err(SubjectError(tenant.to_owned()));
    }
    Ok(format!("stella.{tenant}.incident.mode"))
}

/// Whether an event opens or closes a breach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BreachKind {
    /// `slo.breach`: an alert rule started firing.
    #[serde(rename = "slo.breach")]
    Breach,
    /// `slo.resolved`: the alert rule stopped firing.
    #[serde(rename = "slo.resolved")]
    Resolved,
}

impl BreachKind {
    /// `"slo.breach"` or `"slo.resolved"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BreachKind::Breach => "slo.breach",
            BreachKind::Resolved => "slo.resolved",
        }
    }
}

impl fmt::Display for BreachKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The burn over one alert window at the time of an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowBurn {
    /// The window (`"1h"`).
    pub window: Window,
    /// Events in the window.
    pub events: u64,
    /// Bad events in the window.
    pub bad_events: u64,
    /// `bad / total` (0 without events).
    pub error_ratio: f64,
    /// Error ratio / (1 - objective) (0 without events).
    pub burn_rate: f64,
    /// Fraction of the period's error budget this window consumed (burn rate × window / period).
    pub budget_consumed: f64,
}

/// An `slo.breach` event (or its `slo.resolved` counterpart, with the same `breach_id`).
///
/// Serialises to the JSON that webhooks receive and that the timeline adapter puts in an
/// event's details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BreachEvent {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Breach or resolution.
    pub kind: BreachKind,
    /// Shared by a breach and its resolution: `<slo>:<rule>:<started_at unix seconds>`.
    pub breach_id: String,
    /// The tenant (subject token).
    pub tenant: String,
    /// SLO name.
    pub slo: String,
    /// Service.
    pub service: String,
    /// Alert rule (`page_fast`, `page_slow`, `ticket`, ...).
    pub rule: String,
    /// Severity of the rule.
    pub severity: Severity,
    /// The SLO objective.
    pub objective: f64,
    /// The rule's burn-rate factor.
    pub factor: f64,
    /// The rule's long and short windows, in that order.
    pub windows: Vec<WindowBurn>,
    /// Error budget left over the period (may be negative).
    pub budget_remaining: f64,
    /// When the breach started (RFC 3339, UTC).
    pub started_at: String,
    /// When this event was produced (RFC 3339, UTC).
    pub at: String,
    /// Whether incident mode is on for this SLO at the time of the event.
    pub incident_mode: bool,
}

impl BreachEvent {
    /// The NATS subject for this event, `stella.<tenant>.slo.breach`.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] for an invalid tenant (the evaluator only produces valid ones).
    pub fn subject(&self) -> Result<String, SubjectError> {
        breach_subject(&self.tenant)
    }
}

/// Whether incident mode starts or stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IncidentAction {
    /// Turn incident mode on.
    Start,
    /// Turn it off again.
    Stop,
}

/// Asks for incident mode to start (a firing rule burns above the configured threshold) or
/// stop (no rule does any more).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncidentSignal {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Start or stop.
    pub action: IncidentAction,
    /// Tenant.
    pub tenant: String,
    /// SLO name.
    pub slo: String,
    /// Service.
    pub service: String,
    /// The highest long-window burn rate among firing rules (0 on stop).
    pub burn_rate: f64,
    /// The configured threshold.
    pub threshold: f64,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl IncidentSignal {
    /// The NATS subject, `stella.<tenant>.incident.mode`.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] for an invalid tenant.
    pub fn subject(&self) -> Result<String, SubjectError> {
        incident_subject(&self.tenant)
    }
}

/// Where breach events go. Implementations must not block: hand the event to a queue and
/// return (the webhook sink does exactly that).
///
/// Closures `Fn(&BreachEvent) + Send + Sync` are sinks too.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use stella_slo::{BreachEvent, BreachSink};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let sink = move |e: &BreachEvent| s.lock().map(|mut v| v.push(e.breach_id.clone())).unwrap_or(());
/// let _boxed: Box<dyn BreachSink> = Box::new(sink);
/// ```
pub trait BreachSink: Send + Sync {
    /// A breach started or resolved.
    fn breach(&self, event: &BreachEvent);

    /// Incident mode starts or stops (default: ignored).
    fn incident(&self, signal: &IncidentSignal) {
        let _ = signal;
    }
}

impl<F> BreachSink for F
where
    F: Fn(&BreachEvent) + Send + Sync,
{
    fn breach(&self, event: &BreachEvent) {
        self(event);
    }
}

/// Formats a time as RFC 3339 UTC with second precision (`2026-11-28T10:00:00Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_860_000)),
            "2026-11-28T10:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn subjects() {
        assert!(breach_subject("").is_err());
        assert!(breach_subject("a b").is_err());
        assert!(breach_subject("*").is_err());
        assert_eq!(
            breach_subject("tenant-1_x").unwrap(),
            "stella.tenant-1_x.slo.breach"
        );
    }
}
