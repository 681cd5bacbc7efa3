//! The burn-rate math, as pure functions over validated types.
//!
//! * error ratio = `bad / total` over a window, a ratio of sums (never an average of ratios);
//! * burn rate = error ratio / (1 - objective); a window with no events has burn rate 0 and is
//!   "no data", which never fires an alert;
//! * budget remaining over the period = `1 - (bad / total) / (1 - objective)`, which goes
//!   negative once the budget is overspent (see [`Budget`]);
//! * budget consumed by a window = burn rate × window / period.
//!
//! Threshold decisions ([`exceeds`]) are exact: `bad / total / (1 - o) > f` is decided as
//! `bad · den > total · num` on integers, so `0.0144 / 0.001 > 14.4` is false, as it should be.

use serde::{Deserialize, Serialize};

use crate::objective::{Factor, Objective};
use crate::ratio::cmp_products;
use crate::window::Window;

/// Why a pair of counts was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CountsError {
    /// More good (or bad) events than events in total.
    #[error("{part} events ({value}) exceed total events ({total})")]
    PartExceedsTotal {
        /// `good` or `bad`.
        part: &'static str,
        /// The offending count.
        value: u64,
        /// The total.
        total: u64,
    },
}

/// Event counts over some interval: how many events in total, how many of them good.
///
/// # Examples
///
/// ```
/// use stella_slo::Counts;
///
/// let c = Counts::new(990, 1000)?;
/// assert_eq!(c.bad(), 10);
/// assert_eq!(Counts::from_bad(10, 1000)?, c);
/// assert!(Counts::new(2, 1).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCounts", into = "RawCounts")]
pub struct Counts {
    good: u64,
    total: u64,
}

#[derive(Serialize, Deserialize)]
struct RawCounts {
    good: u64,
    total: u64,
}

impl TryFrom<RawCounts> for Counts {
    type Error = CountsError;
    fn try_from(r: RawCounts) -> Result<Counts, CountsError> {
        Counts::new(r.good, r.total)
    }
}

impl From<Counts> for RawCounts {
    fn from(c: Counts) -> RawCounts {
        RawCounts {
            good: c.good,
            total: c.total,
        }
    }
}

impl Counts {
    /// No events.
    pub const ZERO: Counts = Counts { good: 0, total: 0 };

    /// `good` good events out of `total`.
    ///
    /// # Errors
    ///
    /// [`CountsError::PartExceedsTotal`] when `good > total`.
    pub fn new(good: u64, total: u64) -> Result<Counts, CountsError> {
        if good > total {
            return Err(CountsError::PartExceedsTotal {
                part: "good",
                value: good,
                total,
            });
        }
        Ok(Counts { good, total })
    }

    /// `bad` bad events out of `total`.
    ///
    /// # Errors
    ///
    /// [`CountsError::PartExceedsTotal`] when `bad > total`.
    pub fn from_bad(bad: u64, total: u64) -> Result<Counts, CountsError> {
        if bad > total {
            return Err(CountsError::PartExceedsTotal {
                part: "bad",
                value: bad,
                total,
            });
        }
        Ok(Counts {
            good: total - bad,
            total,
        })
    }

    /// Good events.
    pub fn good(&self) -> u64 {
        self.good
    }

    /// All events.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bad events (`total - good`).
    pub fn bad(&self) -> u64 {
        self.total - self.good
    }

    /// Whether there are no events at all ("no data").
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The sum of both, saturating at `u64::MAX` (keeping `good <= total`).
    #[must_use]
    pub fn saturating_add(self, o: Counts) -> Counts {
        let total = self.total.saturating_add(o.total);
        let good = self.good.saturating_add(o.good).min(total);
        Counts { good, total }
    }

    /// `self - o`, saturating at zero (keeping `good <= total`).
    #[must_use]
    pub fn saturating_sub(self, o: Counts) -> Counts {
        let total = self.total.saturating_sub(o.total);
        let good = self.good.saturating_sub(o.good).min(total);
        Counts { good, total }
    }
}

/// The error ratio `bad / total`, or `None` for a window without events.
///
/// # Examples
///
/// ```
/// use stella_slo::{Counts, math};
/// assert_eq!(math::error_ratio(Counts::from_bad(1, 4)?), Some(0.25));
/// assert_eq!(math::error_ratio(Counts::ZERO), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn error_ratio(c: Counts) -> Option<f64> {
    (c.total > 0).then(|| c.bad() as f64 / c.total as f64)
}

/// The burn rate `error ratio / (1 - objective)`; 0 for a window without events.
///
/// For display: decisions use [`exceeds`], which is exact.
///
/// # Examples
///
/// ```
/// use stella_slo::{Counts, Objective, math};
/// let o = Objective::new(0.999)?;
/// let rate = math::burn_rate(Counts::from_bad(2, 1000)?, &o);
/// assert!((rate - 2.0).abs() < 1e-12);
/// assert_eq!(math::burn_rate(Counts::ZERO, &o), 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn burn_rate(c: Counts, o: &Objective) -> f64 {
    if c.total == 0 {
        return 0.0;
    }
    let e = o.budget_ratio();
    // bad * den / (total * num), each part exact in f64 for realistic sizes.
    (c.bad() as f64 * e.den() as f64) / (c.total as f64 * e.num() as f64)
}

/// Precomputed coefficients for deciding `burn_rate > factor` exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Threshold {
    /// `budget.den * factor.den`
    lhs: u128,
    /// `budget.num * factor.num`
    rhs: u128,
}

impl Threshold {
    pub(crate) fn new(o: &Objective, f: &Factor) -> Threshold {
        let e = o.budget_ratio();
        let f = f.ratio();
        // Both parts of each ratio are <= 10^18 (validated), so the products fit in a u128.
        Threshold {
            lhs: e.den().saturating_mul(f.den()),
            rhs: e.num().saturating_mul(f.num()),
        }
    }

    /// Whether the burn rate of `c` is strictly above the factor; never for an empty window.
    pub(crate) fn exceeded_by(&self, c: Counts) -> bool {
        c.total > 0
            && cmp_products(u128::from(c.bad()), self.lhs, u128::from(c.total), self.rhs)
                == std::cmp::Ordering::Greater
    }
}

/// Whether the burn rate of `c` is strictly greater than `factor`, decided exactly.
///
/// A window without events never exceeds anything.
///
/// # Examples
///
/// ```
/// use stella_slo::{Counts, Factor, Objective, math};
/// let o = Objective::new(0.999)?;
/// let f = Factor::new(14.4)?;
/// // 144 bad of 10 000 is a burn rate of exactly 14.4: not above it.
/// assert!(!math::exceeds(Counts::from_bad(144, 10_000)?, &o, &f));
/// assert!(math::exceeds(Counts::from_bad(145, 10_000)?, &o, &f));
/// assert!(!math::exceeds(Counts::ZERO, &o, &f));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn exceeds(c: Counts, o: &Objective, factor: &Factor) -> bool {
    Threshold::new(o, factor).exceeded_by(c)
}

/// The error budget over a period.
///
/// `remaining = 1 - (bad / total) / (1 - objective)`: 1 when nothing was spent (or there were
/// no events), 0 when the error ratio equals the budget, negative when overspent.
/// `remaining_clamped` is the same clamped to `[0, 1]`; `consumed = 1 - remaining`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Budget {
    /// Fraction of the error budget left; may be negative.
    pub remaining: f64,
    /// `remaining` clamped to `[0, 1]`.
    pub remaining_clamped: f64,
    /// Fraction of the error budget spent (`1 - remaining`); may exceed 1.
    pub consumed: f64,
}

/// The error budget left after the events of a whole period.
///
/// # Examples
///
/// ```
/// use stella_slo::{Counts, Objective, math};
/// let o = Objective::new(0.99)?;
/// let b = math::budget(Counts::from_bad(5, 1000)?, &o);
/// assert!((b.remaining - 0.5).abs() < 1e-12);
/// let over = math::budget(Counts::from_bad(30, 1000)?, &o);
/// assert!((over.remaining + 2.0).abs() < 1e-12);
/// assert_eq!(over.remaining_clamped, 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn budget(period: Counts, o: &Objective) -> Budget {
    let consumed = burn_rate(period, o);
    let remaining = 1.0 - consumed;
    Budget {
        remaining,
        remaining_clamped: remaining.clamp(0.0, 1.0),
        consumed,
    }
}

/// The fraction of the whole period's error budget that the events of `window` consumed:
/// burn rate × window / period.
///
/// # Examples
///
/// ```
/// use stella_slo::{Counts, Objective, Window, math};
/// let o = Objective::new(0.999)?;
/// // Burning at 14.4 for 1 hour of a 30-day period spends 2 % of the budget.
/// let spent = math::budget_consumed(Counts::from_bad(144, 10_000)?, "1h".parse()?, Window::THIRTY_DAYS, &o);
/// assert!((spent - 0.02).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn budget_consumed(c: Counts, window: Window, period: Window, o: &Objective) -> f64 {
    burn_rate(c, o) * window.as_secs() as f64 / period.as_secs() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_boundaries() {
        let o = Objective::new(0.999).unwrap();
        for (f, bad, total, want) in [
            (14.4, 144, 10_000, false),
            (14.4, 145, 10_000, true),
            (6.0, 6, 1000, false),
            (6.0, 7, 1000, true),
            (1.0, 1, 1000, false),
            (1.0, 2, 1000, true),
        ] {
            let c = Counts::from_bad(bad, total).unwrap();
            assert_eq!(
                exceeds(c, &o, &Factor::new(f).unwrap()),
                want,
                "{bad}/{total} vs {f}"
            );
        }
        // 0.1 + 0.2 style trouble: objective 0.7, 3 of 10 bad is exactly burn 1.
        let o = Objective::new(0.7).unwrap();
        assert!(!exceeds(
            Counts::from_bad(3, 10).unwrap(),
            &o,
            &Factor::new(1.0).unwrap()
        ));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let o: Objective = "0.999999999999999999".parse().unwrap();
        let f = Factor::new(1e9).unwrap();
        let c = Counts::from_bad(u64::MAX, u64::MAX).unwrap();
        assert!(exceeds(c, &o, &f)); // burn 10^18 > 10^9
        assert!(!exceeds(Counts::from_bad(1, u64::MAX).unwrap(), &o, &f));
        assert!(exceeds(c, &o, &Factor::new(1.0).unwrap()));
        assert_eq!(
            Counts::new(u64::MAX, u64::MAX)
                .unwrap()
                .saturating_add(c)
                .total(),
            u64::MAX
        );
    }
}
