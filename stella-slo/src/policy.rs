//! Multi-window, multi-burn-rate alert policies (SRE Workbook, chapter 5).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::math::{Counts, Threshold};
use crate::objective::{Factor, Objective};
use crate::ratio::Ratio;
use crate::window::Window;

/// Why an alert policy or rule was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A policy needs at least one rule.
    #[error("an alert policy needs at least one rule")]
    Empty,
    /// Rule names are lowercase identifiers (`[a-z][a-z0-9_]*`).
    #[error("alert rule name {0:?} must match [a-z][a-z0-9_]*")]
    BadName(String),
    /// Two rules share a name.
    #[error("duplicate alert rule name {0:?}")]
    Duplicate(String),
    /// The short window must be shorter than the long one.
    #[error("rule {rule}: short window {short} must be shorter than long window {long}")]
    ShortNotShorter {
        /// Rule name.
        rule: String,
        /// Short window.
        short: Window,
        /// Long window.
        long: Window,
    },
    /// A window is longer than the SLO period.
    #[error("rule {rule}: window {window} is longer than the period {period}")]
    LongerThanPeriod {
        /// Rule name.
        rule: String,
        /// Offending window.
        window: Window,
        /// SLO period.
        period: Window,
    },
    /// A scaled factor does not fit the exact arithmetic.
    #[error("rule {0}: the scaled burn-rate factor is out of range")]
    Factor(String),
}

/// How loudly an alert asks for attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Open a ticket: the budget is burning slowly.
    Ticket,
    /// Page someone now.
    Page,
}

impl Severity {
    /// `"page"` or `"ticket"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One multi-window rule: fire when the burn rates over *both* windows are strictly above the
/// factor.
///
/// # Examples
///
/// ```
/// use stella_slo::{AlertRule, Factor, Severity};
/// let rule = AlertRule::new("page_fast", Severity::Page, "1h".parse()?, "5m".parse()?, Factor::new(14.4)?)?;
/// assert_eq!(rule.long().to_string(), "1h");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertRule {
    name: String,
    severity: Severity,
    long: Window,
    short: Window,
    factor: Factor,
}

impl AlertRule {
    /// A rule named `name` (`[a-z][a-z0-9_]*`).
    ///
    /// # Errors
    ///
    /// [`PolicyError::BadName`] or [`PolicyError::ShortNotShorter`].
    pub fn new(
        name: &str,
        severity: Severity,
        long: Window,
        short: Window,
        factor: Factor,
    ) -> Result<AlertRule, PolicyError> {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(PolicyError::BadName(name.to_owned()));
        }
        if short >= long {
            return Err(PolicyError::ShortNotShorter {
                rule: name.to_owned(),
                short,
                long,
            });
        }
        Ok(AlertRule {
            name: name.to_owned(),
            severity,
            long,
            short,
            factor,
        })
    }

    /// A rule whose factor spends `budget_consumed` (e.g. `0.02`) of the budget of `period`
    /// over the long window: `factor = budget_consumed × period / long` (SRE Workbook).
    ///
    /// # Errors
    ///
    /// As [`AlertRule::new`], plus [`PolicyError::Factor`] when the factor is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_slo::{AlertRule, Severity, Window};
    /// let r = AlertRule::from_budget_consumed("page_fast", Severity::Page, "1h".parse()?, "5m".parse()?, "0.02", Window::THIRTY_DAYS)?;
    /// assert_eq!(r.factor().to_string(), "14.4");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_budget_consumed(
        name: &str,
        severity: Severity,
        long: Window,
        short: Window,
        budget_consumed: &str,
        period: Window,
    ) -> Result<AlertRule, PolicyError> {
        let bad = || PolicyError::Factor(name.to_owned());
        let c = Ratio::parse_decimal(budget_consumed).ok_or_else(bad)?;
        let scale =
            Ratio::new(u128::from(period.as_secs()), u128::from(long.as_secs())).ok_or_else(bad)?;
        let f = c
            .checked_mul(scale)
            .and_then(Factor::from_ratio)
            .ok_or_else(bad)?;
        AlertRule::new(name, severity, long, short, f)
    }

    /// Rule name (`page_fast`, `page_slow`, `ticket` in the default policy).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The long window.
    pub fn long(&self) -> Window {
        self.long
    }

    /// The short window.
    pub fn short(&self) -> Window {
        self.short
    }

    /// The burn-rate factor both windows must exceed.
    pub fn factor(&self) -> Factor {
        self.factor
    }

    /// Whether this rule fires for the given long- and short-window counts, ignoring any
    /// low-traffic guard: both burn rates strictly above the factor, decided exactly.
    pub fn fires(&self, objective: &Objective, long: Counts, short: Counts) -> bool {
        let t = Threshold::new(objective, &self.factor);
        t.exceeded_by(long) && t.exceeded_by(short)
    }
}

/// A set of alert rules plus the low-traffic guard.
///
/// # Examples
///
/// ```
/// use stella_slo::{AlertPolicy, Counts, Objective, Window};
///
/// let policy = AlertPolicy::workbook();
/// let o = Objective::new(0.999)?;
/// // 2 % errors everywhere: burn 20 in every window, all three rules fire.
/// let fired = policy.evaluate(&o, |_w: Window| Counts::from_bad(20, 1000).unwrap_or_default());
/// assert_eq!(fired, [true, true, true]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertPolicy {
    rules: Vec<AlertRule>,
    min_events: u64,
}

impl AlertPolicy {
    /// The SRE Workbook policy for a 30-day period: `page_fast` (1h & 5m > 14.4, page),
    /// `page_slow` (6h & 30m > 6, page), `ticket` (3d & 6h > 1, ticket).
    pub fn workbook() -> AlertPolicy {
        let [m5, m30, h1, h6, _, d3] = Window::STANDARD;
        let rule = |name: &str, severity, long, short, num| AlertRule {
            name: name.to_owned(),
            severity,
            long,
            short,
            factor: Factor::from_ratio(Ratio::new(num, 10).unwrap_or(Ratio::ONE))
                .unwrap_or(Factor(Ratio::ONE)),
        };
        AlertPolicy {
            rules: vec![
                rule("page_fast", Severity::Page, h1, m5, 144),
                rule("page_slow", Severity::Page, h6, m30, 60),
                rule("ticket", Severity::Ticket, d3, h6, 10),
            ],
            min_events: 0,
        }
    }

    /// The workbook windows with factors scaled to `period` so that each rule still means the
    /// same budget consumption over its long window (2 %, 5 %, 10 %):
    /// `factor = consumption × period / long`. For 30 days this is exactly [`workbook`](Self::workbook);
    /// for 7 days the factors are 3.36, 1.4 and 0.2333….
    ///
    /// # Errors
    ///
    /// [`PolicyError::LongerThanPeriod`] when the period is shorter than 3 days.
    pub fn scaled_for(period: Window) -> Result<AlertPolicy, PolicyError> {
        let [m5, m30, h1, h6, _, d3] = Window::STANDARD;
        let rules = vec![
            AlertRule::from_budget_consumed("page_fast", Severity::Page, h1, m5, "0.02", period)?,
            AlertRule::from_budget_consumed("page_slow", Severity::Page, h6, m30, "0.05", period)?,
            AlertRule::from_budget_consumed("ticket", Severity::Ticket, d3, h6, "0.1", period)?,
        ];
        AlertPolicy::new(rules, 0)?.checked_against(period)
    }

    /// A policy from explicit rules.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Empty`] or [`PolicyError::Duplicate`].
    pub fn new(rules: Vec<AlertRule>, min_events: u64) -> Result<AlertPolicy, PolicyError> {
        if rules.is_empty() {
            return Err(PolicyError::Empty);
        }
        for (i, r) in rules.iter().enumerate() {
            if rules.iter().take(i).any(|o| o.name == r.name) {
                return Err(PolicyError::Duplicate(r.name.clone()));
            }
        }
        Ok(AlertPolicy { rules, min_events })
    }

    /// The same policy with a low-traffic guard: a window with fewer than `min_events` events
    /// counts as "no data" for alerting.
    #[must_use]
    pub fn with_min_events(mut self, min_events: u64) -> AlertPolicy {
        self.min_events = min_events;
        self
    }

    /// Checks every window fits in `period`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::LongerThanPeriod`].
    pub fn checked_against(self, period: Window) -> Result<AlertPolicy, PolicyError> {
        for r in &self.rules {
            if r.long > period {
                return Err(PolicyError::LongerThanPeriod {
                    rule: r.name.clone(),
                    window: r.long,
                    period,
                });
            }
        }
        Ok(self)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// The low-traffic guard (0 when off).
    pub fn min_events(&self) -> u64 {
        self.min_events
    }

    /// The distinct windows the rules use, shortest first.
    pub fn windows(&self) -> Vec<Window> {
        let mut w: Vec<Window> = self.rules.iter().flat_map(|r| [r.long, r.short]).collect();
        w.sort();
        w.dedup();
        w
    }

    /// Whether a window's counts are enough to alert on (non-empty and at least `min_events`).
    pub fn has_data(&self, c: Counts) -> bool {
        c.total() > 0 && c.total() >= self.min_events
    }

    /// Decides every rule, in order, given the counts of each window.
    pub fn evaluate(&self, objective: &Objective, counts: impl Fn(Window) -> Counts) -> Vec<bool> {
        self.rules
            .iter()
            .map(|r| {
                let (l, s) = (counts(r.long), counts(r.short));
                self.has_data(l) && self.has_data(s) && r.fires(objective, l, s)
            })
            .collect()
    }
}

impl Default for AlertPolicy {
    fn default() -> AlertPolicy {
        AlertPolicy::workbook()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_for_thirty_days_is_the_workbook() {
        assert_eq!(
            AlertPolicy::scaled_for(Window::THIRTY_DAYS).unwrap(),
            AlertPolicy::workbook()
        );
        let week = AlertPolicy::scaled_for("7d".parse().unwrap()).unwrap();
        let f: Vec<String> = week
            .rules()
            .iter()
            .map(|r| r.factor().to_string())
            .collect();
        assert_eq!(f[0], "3.36");
        assert_eq!(f[1], "1.4");
        assert!(AlertPolicy::scaled_for("1d".parse().unwrap()).is_err());
    }

    #[test]
    fn rule_validation() {
        let f = Factor::new(1.0).unwrap();
        let (a, b): (Window, Window) = ("1h".parse().unwrap(), "5m".parse().unwrap());
        assert!(AlertRule::new("Bad", Severity::Page, a, b, f).is_err());
        assert!(AlertRule::new("ok", Severity::Page, b, a, f).is_err());
        let r = AlertRule::new("ok", Severity::Page, a, b, f).unwrap();
        assert!(AlertPolicy::new(vec![r.clone(), r], 0).is_err());
        assert!(AlertPolicy::new(vec![], 0).is_err());
    }
}
