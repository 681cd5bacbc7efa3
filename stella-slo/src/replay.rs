//! Replays a per-minute scenario through the math, for checking it against any external
//! reference implementation (the `slo-replay` example is a thin wrapper around [`run`]).
//!
//! # Scenario
//!
//! ```json
//! {"objective": 0.999, "period_minutes": 43200,
//!  "sli": {"kind": "ratio"},
//!  "minutes": [[good, total], ...],
//!  "evaluate_at": [1, 60, ...]}
//! ```
//!
//! or, for a latency SLI, `"sli": {"kind": "latency", "threshold_seconds": 5, "buckets_le":
//! ["0.5", "1", "2.5", "10", "+Inf"]}` with one array of cumulative bucket counts per minute
//! (same order as `buckets_le`, the last being `+Inf`, the total).
//!
//! Minute `i` holds the events of `[i, i+1)`. Evaluating at minute `t` uses minutes
//! `t-W .. t-1` for a window of `W` minutes (fewer at the start of the series; minutes past the
//! end of the series hold no events). `budget_remaining` is over the minutes
//! `max(0, t-period) .. t-1`, unclamped (negative when overspent; 1 with no events).
//!
//! The windows are always the six workbook windows `5m, 30m, 1h, 6h, 1d, 3d` and the alerts
//! always the workbook rules (page_fast: 1h & 5m > 14.4; page_slow: 6h & 30m > 6; ticket: 3d &
//! 6h > 1), whatever `period_minutes` is: the period only changes `budget_remaining`. With the
//! optional `"scale_alerts": true` the factors are instead scaled to the period
//! ([`AlertPolicy::scaled_for`]). There is no low-traffic guard unless `"min_events": N` is given.
//!
//! # Output
//!
//! One JSON line per `evaluate_at` entry, in order:
//! `{"minute": t, "windows": {"5m": {"error_ratio": x, "burn_rate": y, "no_data": false}, ...},
//! "budget_remaining": z, "alerts": {"page_fast": bool, "page_slow": bool, "ticket": bool}}`.
//! A window without events has `error_ratio` 0, `burn_rate` 0 and `no_data` true.

use serde::{Deserialize, Serialize};

use crate::math::{self, Counts};
use crate::objective::Objective;
use crate::policy::AlertPolicy;
use crate::sli::{Buckets, LatencySli, Selector};
use crate::window::Window;

/// Why a scenario was rejected. Its `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scenario: {0}")]
pub struct ReplayError(String);

/// The output of a replay: JSON lines and warnings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Replay {
    /// One JSON object per evaluation, without trailing newline.
    pub lines: Vec<String>,
    /// Warnings (the latency threshold is not a bucket bound).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Scenario {
    objective: serde_json::Number,
    #[serde(default = "default_period")]
    period_minutes: u64,
    sli: SliSpec,
    minutes: Vec<Vec<u64>>,
    evaluate_at: Vec<u64>,
    #[serde(default)]
    scale_alerts: bool,
    #[serde(default)]
    min_events: u64,
}

fn default_period() -> u64 {
    43_200
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SliSpec {
    Ratio,
    Latency {
        threshold_seconds: f64,
        buckets_le: Vec<BoundText>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoundText {
    Text(String),
    Number(f64),
}

#[derive(Serialize)]
struct Line {
    minute: u64,
    windows: Windows,
    budget_remaining: f64,
    alerts: Alerts,
}

#[derive(Serialize)]
struct Windows {
    #[serde(rename = "5m")]
    m5: WindowOut,
    #[serde(rename = "30m")]
    m30: WindowOut,
    #[serde(rename = "1h")]
    h1: WindowOut,
    #[serde(rename = "6h")]
    h6: WindowOut,
    #[serde(rename = "1d")]
    d1: WindowOut,
    #[serde(rename = "3d")]
    d3: WindowOut,
}

#[derive(Serialize)]
struct WindowOut {
    error_ratio: f64,
    burn_rate: f64,
    no_data: bool,
}

#[derive(Serialize)]
struct Alerts {
    page_fast: bool,
    page_slow: bool,
    ticket: bool,
}

/// Prefix sums of good and total events.
struct Series {
    good: Vec<u128>,
    total: Vec<u128>,
}

impl Series {
    fn new(minutes: &[Counts]) -> Series {
        let mut good = Vec::with_capacity(minutes.len() + 1);
        let mut total = Vec::with_capacity(minutes.len() + 1);
        let (mut g, mut t) = (0u128, 0u128);
        good.push(0);
        total.push(0);
        for c in minutes {
            g += u128::from(c.good());
            t += u128::from(c.total());
            good.push(g);
            total.push(t);
        }
        Series { good, total }
    }

    /// Counts of minutes `[t - w, t)` (clamped to the series).
    fn window(&self, t: u64, w: u64) -> Counts {
        let len = self.total.len().saturating_sub(1) as u64;
        let end = usize::try_from(t.min(len)).unwrap_or(0);
        let start = usize::try_from(t.saturating_sub(w).min(len)).unwrap_or(0);
        let at = |v: &Vec<u128>, i: usize| v.get(i).copied().unwrap_or(0);
        let clamp = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        let total = clamp(at(&self.total, end) - at(&self.total, start).min(at(&self.total, end)));
        let good =
            clamp(at(&self.good, end) - at(&self.good, start).min(at(&self.good, end))).min(total);
        Counts::new(good, total).unwrap_or(Counts::ZERO)
    }
}

fn bad(msg: impl std::fmt::Display) -> ReplayError {
    ReplayError(msg.to_string().replace('\n', " "))
}

/// Runs a scenario given as JSON text.
///
/// # Errors
///
/// [`ReplayError`] (one line) for malformed JSON, a missing or invalid field, an objective
/// outside (0, 1), bucket bounds that do not increase or lack `+Inf`, a minute whose counts do
/// not fit the SLI (good above total, wrong length, decreasing cumulative counts).
///
/// # Examples
///
/// ```
/// let out = stella_slo::replay::run(r#"{"objective": 0.999, "period_minutes": 43200,
///     "sli": {"kind": "ratio"}, "minutes": [[90, 100], [100, 100]], "evaluate_at": [2]}"#)?;
/// assert!(out.lines[0].starts_with(r#"{"minute":2,"windows":{"5m":{"error_ratio":0.05,"#));
/// assert!(out.lines[0].ends_with(r#""alerts":{"page_fast":true,"page_slow":true,"ticket":true}}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(json: &str) -> Result<Replay, ReplayError> {
    let s: Scenario = serde_json::from_str(json).map_err(bad)?;
    let objective = match s.objective.as_f64() {
        Some(v) => Objective::new(v).map_err(|e| bad(format!("objective: {e}")))?,
        None => return Err(bad("objective: expected a number")),
    };
    let period =
        Window::from_minutes(s.period_minutes).map_err(|e| bad(format!("period_minutes: {e}")))?;
    let policy = if s.scale_alerts {
        AlertPolicy::scaled_for(period).map_err(|e| bad(format!("scale_alerts: {e}")))?
    } else {
        AlertPolicy::workbook()
    }
    .with_min_events(s.min_events);
    let mut out = Replay::default();
    let counts: Vec<Counts> = match s.sli {
        SliSpec::Ratio => s
            .minutes
            .iter()
            .enumerate()
            .map(|(i, m)| match m.as_slice() {
                [good, total] => {
                    Counts::new(*good, *total).map_err(|e| bad(format!("minutes[{i}]: {e}")))
                }
                _ => Err(bad(format!(
                    "minutes[{i}]: expected [good, total], got {} numbers",
                    m.len()
                ))),
            })
            .collect::<Result<_, _>>()?,
        SliSpec::Latency {
            threshold_seconds,
            buckets_le,
        } => {
            let texts: Vec<String> = buckets_le
                .into_iter()
                .map(|b| match b {
                    BoundText::Text(t) => t,
                    BoundText::Number(n) => format!("{n}"),
                })
                .collect();
            let buckets =
                Buckets::parse(&texts).map_err(|e| bad(format!("sli.buckets_le: {e}")))?;
            if !buckets.has_inf() {
                return Err(bad(
                    "sli.buckets_le: the last bound must be +Inf (the total)",
                ));
            }
            let h = Selector::new("replay").map_err(bad)?;
            let sli = LatencySli::new(h, buckets, threshold_seconds)
                .map_err(|e| bad(format!("sli.threshold_seconds: {e}")))?;
            out.warnings.extend(sli.warning());
            s.minutes
                .iter()
                .enumerate()
                .map(|(i, m)| sli.counts(m).map_err(|e| bad(format!("minutes[{i}]: {e}"))))
                .collect::<Result<_, _>>()?
        }
    };
    let series = Series::new(&counts);
    let window_out = |t: u64, w: Window| {
        let c = series.window(t, w.as_minutes());
        WindowOut {
            error_ratio: math::error_ratio(c).unwrap_or(0.0),
            burn_rate: math::burn_rate(c, &objective),
            no_data: c.is_empty(),
        }
    };
    let [m5, m30, h1, h6, d1, d3] = Window::STANDARD;
    for &t in &s.evaluate_at {
        let fired = policy.evaluate(&objective, |w| series.window(t, w.as_minutes()));
        let fired_named = |name: &str| {
            policy
                .rules()
                .iter()
                .zip(&fired)
                .any(|(r, f)| r.name() == name && *f)
        };
        let line = Line {
            minute: t,
            windows: Windows {
                m5: window_out(t, m5),
                m30: window_out(t, m30),
                h1: window_out(t, h1),
                h6: window_out(t, h6),
                d1: window_out(t, d1),
                d3: window_out(t, d3),
            },
            budget_remaining: math::budget(series.window(t, s.period_minutes), &objective)
                .remaining,
            alerts: Alerts {
                page_fast: fired_named("page_fast"),
                page_slow: fired_named("page_slow"),
                ticket: fired_named("ticket"),
            },
        };
        out.lines.push(serde_json::to_string(&line).map_err(bad)?);
    }
    Ok(out)
}
