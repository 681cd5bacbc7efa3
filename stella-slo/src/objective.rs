//! Validated numbers: the objective and burn-rate factors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ratio::Ratio;

/// Why a number was rejected as an [`Objective`] or a [`Factor`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// The objective is not strictly between 0 and 1 (NaN included).
    #[error("objective must be strictly between 0 and 1, got {0}")]
    ObjectiveOutOfRange(String),
    /// A burn-rate factor is not a finite number greater than 0.
    #[error("burn-rate factor must be a finite number greater than 0, got {0}")]
    FactorOutOfRange(String),
    /// The text is not a plain decimal number.
    #[error("not a plain decimal number: {0:?}")]
    NotDecimal(String),
    /// More precision than the exact arithmetic supports (18 significant fractional digits).
    #[error("{0} has more precision than supported (at most 18 fractional digits)")]
    TooPrecise(String),
}

// === impl Objective ===

/// An SLO objective: the fraction of events that must be good, strictly between 0 and 1.
///
/// Held as an exact fraction (`0.999` is exactly `999/1000`), so burn-rate thresholds are
/// decided exactly; `1 - objective` (the error budget) can never be zero.
///
/// # Examples
///
/// ```
/// use stella_slo::Objective;
///
/// let o = Objective::new(0.999)?;
/// assert_eq!(o.to_string(), "0.999");
/// assert!((o.error_budget() - 0.001).abs() < 1e-15);
/// assert!(Objective::new(1.0).is_err());
/// assert!(Objective::new(f64::NAN).is_err());
/// assert_eq!("0.95".parse::<Objective>()?, Objective::new(0.95)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Objective {
    exact: Ratio,
    budget: Ratio,
}

impl Objective {
    /// Validates an objective given as a float; the float's shortest decimal form is taken
    /// exactly (`0.999` means `999/1000`).
    ///
    /// # Errors
    ///
    /// [`NumberError::ObjectiveOutOfRange`] for values `<= 0`, `>= 1` or NaN;
    /// [`NumberError::TooPrecise`] beyond 18 fractional digits.
    pub fn new(value: f64) -> Result<Objective, NumberError> {
        if !(value > 0.0 && value < 1.0) {
            return Err(NumberError::ObjectiveOutOfRange(format!("{value}")));
        }
        let exact =
            Ratio::from_f64(value).ok_or_else(|| NumberError::TooPrecise(format!("{value}")))?;
        Objective::from_ratio(exact, &format!("{value}"))
    }

    fn from_ratio(exact: Ratio, text: &str) -> Result<Objective, NumberError> {
        if !exact.is_bounded() {
            return Err(NumberError::TooPrecise(text.to_owned()));
        }
        if exact <= Ratio::ZERO || exact >= Ratio::ONE {
            return Err(NumberError::ObjectiveOutOfRange(text.to_owned()));
        }
        let budget = Ratio::ONE
            .checked_sub(exact)
            .ok_or_else(|| NumberError::ObjectiveOutOfRange(text.to_owned()))?;
        Ok(Objective { exact, budget })
    }

    /// The objective as a float.
    pub fn as_f64(&self) -> f64 {
        self.exact.to_f64()
    }

    /// The error budget `1 - objective` as a float (never 0).
    pub fn error_budget(&self) -> f64 {
        self.budget.to_f64()
    }

    pub(crate) fn budget_ratio(&self) -> Ratio {
        self.budget
    }
}

impl FromStr for Objective {
    type Err = NumberError;

    /// Parses a plain decimal such as `"0.999"` exactly.
    fn from_str(s: &str) -> Result<Objective, NumberError> {
        let exact = Ratio::parse_decimal(s).ok_or_else(|| NumberError::NotDecimal(s.to_owned()))?;
        Objective::from_ratio(exact, s)
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.exact.to_decimal_string())
    }
}

impl fmt::Debug for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Objective({self})")
    }
}

impl Serialize for Objective {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Objective, D::Error> {
        let v = f64::deserialize(d)?;
        Objective::new(v).map_err(serde::de::Error::custom)
    }
}

// === impl Factor ===

/// A burn-rate factor (alert threshold), an exact positive number such as `14.4`.
///
/// # Examples
///
/// ```
/// use stella_slo::Factor;
///
/// let f = Factor::new(14.4)?;
/// assert_eq!(f.to_string(), "14.4");
/// assert!(Factor::new(0.0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Factor(pub(crate) Ratio);

impl Factor {
    /// Validates a factor given as a float (taken as its shortest decimal form).
    ///
    /// # Errors
    ///
    /// [`NumberError::FactorOutOfRange`] for values `<= 0`, infinite or NaN;
    /// [`NumberError::TooPrecise`] when it does not fit the exact arithmetic.
    pub fn new(value: f64) -> Result<Factor, NumberError> {
        if !(value > 0.0 && value.is_finite()) {
            return Err(NumberError::FactorOutOfRange(format!("{value}")));
        }
        let r =
            Ratio::from_f64(value).ok_or_else(|| NumberError::TooPrecise(format!("{value}")))?;
        Factor::from_ratio(r).ok_or_else(|| NumberError::TooPrecise(format!("{value}")))
    }

    /// An exact factor `num / den`.
    ///
    /// # Errors
    ///
    /// [`NumberError::FactorOutOfRange`] when `num` or `den` is 0;
    /// [`NumberError::TooPrecise`] when a reduced part exceeds 10^18.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_slo::Factor;
    /// assert_eq!(Factor::from_fraction(72, 5)?, Factor::new(14.4)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fraction(num: u64, den: u64) -> Result<Factor, NumberError> {
        let text = format!("{num}/{den}");
        if num == 0 || den == 0 {
            return Err(NumberError::FactorOutOfRange(text));
        }
        Ratio::new(u128::from(num), u128::from(den))
            .and_then(Factor::from_ratio)
            .ok_or(NumberError::TooPrecise(text))
    }

    pub(crate) fn from_ratio(r: Ratio) -> Option<Factor> {
        (r.is_bounded() && r > Ratio::ZERO).then_some(Factor(r))
    }

    /// The factor as a float.
    pub fn as_f64(&self) -> f64 {
        self.0.to_f64()
    }

    pub(crate) fn ratio(&self) -> Ratio {
        self.0
    }
}

impl FromStr for Factor {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Factor, NumberError> {
        let r = Ratio::parse_decimal(s).ok_or_else(|| NumberError::NotDecimal(s.to_owned()))?;
        if r == Ratio::ZERO {
            return Err(NumberError::FactorOutOfRange(s.to_owned()));
        }
        Factor::from_ratio(r).ok_or_else(|| NumberError::TooPrecise(s.to_owned()))
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_decimal_string())
    }
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Factor({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_bounds() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Objective::new(bad).is_err(), "{bad}");
        }
        for bad in ["0", "1", "1.0", "abc", "0.1234567890123456789"] {
            assert!(bad.parse::<Objective>().is_err(), "{bad}");
        }
        let o: Objective = "0.999".parse().unwrap();
        assert_eq!(o, Objective::new(0.999).unwrap());
        assert_eq!(o.budget_ratio(), Ratio::new(1, 1000).unwrap());
    }

    #[test]
    fn factor_bounds() {
        assert!(Factor::new(-1.0).is_err());
        assert!(Factor::new(f64::INFINITY).is_err());
        assert!("0".parse::<Factor>().is_err());
        assert_eq!("6".parse::<Factor>().unwrap(), Factor::new(6.0).unwrap());
    }
}
