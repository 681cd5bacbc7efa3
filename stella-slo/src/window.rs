//! Time windows in Prometheus duration notation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a window was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// Not a Prometheus-style duration such as `5m`, `1h30m`, `3d`.
    #[error(
        "unknown window {0:?}: expected a duration such as 5m, 1h, 6h, 3d, 30d (units s, m, h, d, w)"
    )]
    Syntax(String),
    /// The window is zero seconds long.
    #[error("window must be longer than zero")]
    Zero,
}

/// A time window (alert window or SLO period), a whole number of seconds greater than zero.
///
/// Its name is the Prometheus duration in the largest unit that divides it (`300 s` is `5m`,
/// `30 d` is `30d`), which is what the generated recording rules use (`ratio_rate5m`).
///
/// # Examples
///
/// ```
/// use stella_slo::Window;
///
/// let w: Window = "1h".parse()?;
/// assert_eq!(w.as_secs(), 3600);
/// assert_eq!(Window::from_minutes(4320)?.to_string(), "3d");
/// assert!("5x".parse::<Window>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    secs: u64,
}

impl Window {
    /// The SRE Workbook windows, shortest first: 5m, 30m, 1h, 6h, 1d, 3d.
    pub const STANDARD: [Window; 6] = [
        Window { secs: 300 },
        Window { secs: 1800 },
        Window { secs: 3600 },
        Window { secs: 21_600 },
        Window { secs: 86_400 },
        Window { secs: 259_200 },
    ];

    /// The default SLO period, 30 days.
    pub const THIRTY_DAYS: Window = Window { secs: 2_592_000 };

    /// A window of `secs` seconds.
    ///
    /// # Errors
    ///
    /// [`WindowError::Zero`] when `secs == 0`.
    pub fn from_secs(secs: u64) -> Result<Window, WindowError> {
        if secs == 0 {
            return Err(WindowError::Zero);
        }
        Ok(Window { secs })
    }

    /// A window of `minutes` minutes.
    ///
    /// # Errors
    ///
    /// [`WindowError::Zero`] when `minutes == 0` (or on overflow).
    pub fn from_minutes(minutes: u64) -> Result<Window, WindowError> {
        Window::from_secs(minutes.checked_mul(60).ok_or(WindowError::Zero)?)
    }

    /// Length in seconds.
    pub fn as_secs(&self) -> u64 {
        self.secs
    }

    /// Length in whole minutes (rounded down).
    pub fn as_minutes(&self) -> u64 {
        self.secs / 60
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Window, WindowError> {
        let err = || WindowError::Syntax(s.to_owned());
        let t = s.trim();
        if t.is_empty() {
            return Err(err());
        }
        let mut total: u64 = 0;
        let mut num: Option<u64> = None;
        for c in t.chars() {
            if let Some(d) = c.to_digit(10) {
                let n = num.unwrap_or(0);
                num = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d)))
                        .ok_or_else(err)?,
                );
                continue;
            }
            let unit: u64 = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(err()),
            };
            let n = num.take().ok_or_else(err)?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(err)?;
        }
        if num.is_some() {
            return Err(err());
        }
        Window::from_secs(total)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Window({self})")
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_name() {
        let names: Vec<String> = Window::STANDARD.iter().map(|w| w.to_string()).collect();
        assert_eq!(names, ["5m", "30m", "1h", "6h", "1d", "3d"]);
        for w in Window::STANDARD {
            assert_eq!(w.to_string().parse::<Window>().unwrap(), w);
        }
        assert_eq!("1h30m".parse::<Window>().unwrap().to_string(), "90m");
        assert_eq!("2w".parse::<Window>().unwrap().to_string(), "14d");
        assert_eq!("90s".parse::<Window>().unwrap().to_string(), "90s");
        for bad in ["", "5", "m", "5x", "0m", "-5m", "5 m"] {
            assert!(bad.parse::<Window>().is_err(), "{bad:?}");
        }
    }
}
