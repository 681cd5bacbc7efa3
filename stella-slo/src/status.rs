//! The read model: current burn rates and budget per SLO, serialisable for `GET /obs/slo`.

use serde::{Deserialize, Serialize};

use crate::math::Budget;
use crate::policy::Severity;
use crate::window::Window;

/// Status of every SLO an evaluator tracks: the body of `GET /obs/slo`.
///
/// # Examples
///
/// ```
/// use stella_slo::{Evaluator, StatusReport};
/// let ev = Evaluator::builder().build()?;
/// let report: StatusReport = ev.status();
/// let json = serde_json::to_string(&report)?;
/// assert!(json.contains("\"slos\":[]"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When the last tick ran (RFC 3339), `None` before the first.
    pub evaluated_at: Option<String>,
    /// One entry per SLO, in registration order.
    pub slos: Vec<SloStatus>,
}

/// Status of one SLO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SloStatus {
    /// SLO name.
    pub slo: String,
    /// Service.
    pub service: String,
    /// Tenant.
    pub tenant: String,
    /// Objective.
    pub objective: f64,
    /// Rolling period.
    pub period: Window,
    /// Burn over each tracked window, shortest first.
    pub windows: Vec<WindowStatus>,
    /// Error budget over the period.
    pub budget: Budget,
    /// Each alert rule.
    pub alerts: Vec<AlertStatus>,
    /// Whether this SLO holds incident mode on.
    pub incident_mode: bool,
}

/// Burn over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowStatus {
    /// The window.
    pub window: Window,
    /// Events in the window.
    pub events: u64,
    /// Bad events in the window.
    pub bad_events: u64,
    /// `bad / total` (0 when `no_data`).
    pub error_ratio: f64,
    /// Error ratio / (1 - objective) (0 when `no_data`).
    pub burn_rate: f64,
    /// No events in the window (or fewer than the low-traffic guard).
    pub no_data: bool,
}

/// One alert rule's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertStatus {
    /// Rule name.
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// Long window.
    pub long: Window,
    /// Short window.
    pub short: Window,
    /// Burn-rate factor.
    pub factor: f64,
    /// Whether it is firing.
    pub firing: bool,
    /// Since when (RFC 3339) if firing.
    pub since: Option<String>,
}
