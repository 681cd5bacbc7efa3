//! Exact non-negative rationals, used wherever a decision is made.
//!
//! Objectives and burn-rate factors are written as decimals (`0.999`, `14.4`); parsed as exact
//! fractions they make every threshold comparison exact: `bad / total / (1 - o) > f` is decided as
//! `bad * d > total * n` on integers, with a 256-bit product so nothing overflows.

use std::cmp::Ordering;

/// The largest numerator or denominator a validated ratio may carry (10^18).
pub(crate) const MAX_PART: u128 = 1_000_000_000_000_000_000;

/// An exact, reduced, non-negative rational `num / den` with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ratio {
    num: u128,
    den: u128,
}

pub(crate) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// The full 256-bit product of two `u128`s as `(high, low)`.
pub(crate) fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const M: u128 = u64::MAX as u128;
    if (a | b) >> 64 == 0 {
        return (0, a * b);
    }
    let (a1, a0) = (a >> 64, a & M);
    let (b1, b0) = (b >> 64, b & M);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & M) + (p10 & M);
    let lo = (p00 & M) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// Compares `a * b` with `c * d` exactly.
pub(crate) fn cmp_products(a: u128, b: u128, c: u128, d: u128) -> Ordering {
    mul_wide(a, b).cmp(&mul_wide(c, d))
}

impl Ratio {
    pub(crate) const ZERO: Ratio = Ratio { num: 0, den: 1 };
    pub(crate) const ONE: Ratio = Ratio { num: 1, den: 1 };

    /// A reduced ratio; `None` when `den == 0`.
    pub(crate) fn new(num: u128, den: u128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        Some(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    pub(crate) fn num(self) -> u128 {
        self.num
    }

    pub(crate) fn den(self) -> u128 {
        self.den
    }

    /// Whether both parts are at most [`MAX_PART`], so products of two parts fit in a `u128`.
    pub(crate) fn is_bounded(self) -> bool {
        self.num <= MAX_PART && self.den <= MAX_PART
    }

    /// Parses a plain decimal (`"0.999"`, `"14.4"`, `"+3"`, `"5."`); no exponent, no sign but `+`.
    pub(crate) fn parse_decimal(s: &str) -> Option<Ratio> {
        let s = s.trim();
        let s = s.strip_prefix('+').unwrap_or(s);
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        let int = int.trim_start_matches('0');
        if int.len() + frac.len() > 36 {
            return None;
        }
        let mut num: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            num = num.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
        }
        let den = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
        Ratio::new(num, den)
    }

    /// The exact decimal that a finite, non-negative `f64` prints as (its shortest round-trip
    /// form), so `0.999_f64` becomes exactly `999/1000`.
    pub(crate) fn from_f64(x: f64) -> Option<Ratio> {
        if !x.is_finite() || x < 0.0 {
            return None;
        }
        Ratio::parse_decimal(&format!("{x}"))
    }

    pub(crate) fn checked_mul(self, o: Ratio) -> Option<Ratio> {
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        let num = (self.num / g1).checked_mul(o.num / g2)?;
        let den = (self.den / g2).checked_mul(o.den / g1)?;
        Ratio::new(num, den)
    }

    pub(crate) fn checked_div(self, o: Ratio) -> Option<Ratio> {
        if o.num == 0 {
            return None;
        }
        self.checked_mul(Ratio {
            num: o.den,
            den: o.num,
        })
    }

    /// `self - o`, `None` when negative or on overflow.
    pub(crate) fn checked_sub(self, o: Ratio) -> Option<Ratio> {
        let g = gcd(self.den, o.den).max(1);
        let l = (self.den / g).checked_mul(o.den)?;
        let a = self.num.checked_mul(l / self.den)?;
        let b = o.num.checked_mul(l / o.den)?;
        Ratio::new(a.checked_sub(b)?, l)
    }

    pub(crate) fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// The exact decimal when the fraction terminates, else the shortest `f64` form.
    pub(crate) fn to_decimal_string(self) -> String {
        let mut d = self.den;
        while d.is_multiple_of(2) {
            d /= 2;
        }
        while d.is_multiple_of(5) {
            d /= 5;
        }
        if d != 1 {
            return format!("{}", self.to_f64());
        }
        let int = self.num / self.den;
        let mut rem = self.num % self.den;
        if rem == 0 {
            return int.to_string();
        }
        let mut out = format!("{int}.");
        while rem != 0 && out.len() < 80 {
            // rem < den <= 10^36, so rem * 10 cannot overflow.
            rem *= 10;
            out.push(char::from(b'0' + (rem / self.den) as u8));
            rem %= self.den;
        }
        out
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_products(self.num, other.den, other.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Ratio::parse_decimal("0.999"), Ratio::new(999, 1000));
        assert_eq!(Ratio::parse_decimal("14.4"), Ratio::new(72, 5));
        assert_eq!(Ratio::parse_decimal("5"), Ratio::new(5, 1));
        assert_eq!(Ratio::parse_decimal("+.5"), Ratio::new(1, 2));
        assert_eq!(Ratio::parse_decimal("1e3"), None);
        assert_eq!(Ratio::parse_decimal("-1"), None);
        assert_eq!(Ratio::parse_decimal("."), None);
        assert_eq!(Ratio::from_f64(0.999), Ratio::new(999, 1000));
        assert_eq!(Ratio::from_f64(1e-7), Ratio::new(1, 10_000_000));
    }

    #[test]
    fn wide_products_compare_exactly() {
        let big = u128::MAX;
        assert_eq!(cmp_products(big, big, big, big - 1), Ordering::Greater);
        assert_eq!(mul_wide(big, big), (big - 1, 1));
        assert_eq!(mul_wide(1 << 64, 1 << 64), (1, 0));
    }

    #[test]
    fn arithmetic_and_decimal_output() {
        let o = Ratio::parse_decimal("0.999").unwrap();
        let e = Ratio::ONE.checked_sub(o).unwrap();
        assert_eq!(e, Ratio::new(1, 1000).unwrap());
        let f = Ratio::parse_decimal("14.4").unwrap();
        assert_eq!(f.checked_mul(e).unwrap().to_decimal_string(), "0.0144");
        assert_eq!(
            Ratio::new(1, 3).unwrap().to_decimal_string(),
            "0.3333333333333333"
        );
        assert_eq!(Ratio::new(6, 1).unwrap().to_decimal_string(), "6");
        assert!(Ratio::new(1, 3).unwrap() < Ratio::new(334, 1000).unwrap());
        assert_eq!(Ratio::ZERO.checked_sub(Ratio::ONE), None);
        assert_eq!(
            Ratio::ONE.checked_div(Ratio::new(1, 4).unwrap()),
            Ratio::new(4, 1)
        );
    }
}
