//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The canonical form is what the event digest is computed over, so it must be byte-exact with
//! every other conforming implementation:
//!
//! - object members sorted by their names as arrays of UTF-16 code units;
//! - numbers serialised as ECMAScript `Number.prototype.toString` does (shortest round-trip
//!   digits, `1e+21` exponent forms, `-0` as `0`); NaN and infinities are errors;
//! - strings with minimal escaping: only `"`, `\` and the C0 controls, using `\b \f \n \r \t`
//!   where they exist and lowercase `\u00xx` otherwise;
//! - no whitespace.
//!
//! # Examples
//!
//! ```
//! use stella_timeline_emit::canonical;
//!
//! let value = serde_json::json!({"b": [1.50, -0.0, 1e21], "a": "€\n"});
//! assert_eq!(canonical::to_string(&value)?, r#"{"a":"€\n","b":[1.5,0,1e+21]}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Why a value has no RFC 8785 canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A number is NaN or infinite (I-JSON forbids them).
    #[error("number {0} is not finite and has no canonical JSON form")]
    NonFinite(String),
    /// The input text is not JSON.
    #[error("input is not valid JSON: {0}")]
    Parse(String),
}

/// Returns the canonical (RFC 8785) serialisation of `value`.
///
/// # Errors
///
/// [`CanonicalError::NonFinite`] if a number is NaN or infinite (only reachable through
/// `serde_json::Number` values built from floats by hand; parsed JSON never contains one).
///
/// # Examples
///
/// ```
/// let v = serde_json::json!({"z": 1, "a": [true, null]});
/// assert_eq!(stella_timeline_emit::canonical::to_string(&v)?, r#"{"a":[true,null],"z":1}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn to_string(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Parses JSON text and returns its canonical (RFC 8785) serialisation.
///
/// Duplicate member names keep the last value, as `serde_json` does; I-JSON producers never emit
/// them.
///
/// # Errors
///
/// [`CanonicalError::Parse`] if `text` is not JSON.
///
/// # Examples
///
/// ```
/// let out = stella_timeline_emit::canonical::canonicalize_str(r#"{ "b" : 4.50, "a" : 2e-3 }"#)?;
/// assert_eq!(out, r#"{"a":0.002,"b":4.5}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn canonicalize_str(text: &str) -> Result<String, CanonicalError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| CanonicalError::Parse(e.to_string()))?;
    to_string(&value)
}

/// Appends the canonical serialisation of `value` to `out`.
pub(crate) fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map.iter())?,
    }
    Ok(())
}

/// Replaces every number in `value` with the number its canonical text reads back as, so that
/// a value holds exactly what its canonical form says: `0.0` and `-0.0` become `0`, `1.0`
/// becomes `1`, an integer beyond 2^53 becomes the double the digest was computed over.
///
/// Integers a double holds exactly are already canonical and cost one comparison.
pub(crate) fn normalize_numbers(value: &mut Value) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => normalize_number(n)?,
        Value::Array(items) => {
            for item in items {
                normalize_numbers(item)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                normalize_numbers(item)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
    Ok(())
}

fn normalize_number(n: &mut Number) -> Result<(), CanonicalError> {
    if exact_integer(n) {
        return Ok(());
    }
    let mut text = String::with_capacity(24);
    write_number(&mut text, n)?;
    // Canonical number text is always JSON; a parse failure would leave `n` as it was.
    if let Ok(read) = text.parse::<Number>() {
        *n = read;
    }
    Ok(())
}

/// Writes an object whose members come from `members` (any order).
pub(crate) fn write_object<'a, I>(out: &mut String, members: I) -> Result<(), CanonicalError>
where
    I: IntoIterator<Item = (&'a String, &'a Value)>,
{
    let mut sorted: Vec<(&String, &Value)> = members.into_iter().collect();
    sorted.sort_by(|a, b| cmp_utf16(a.0, b.0));
    out.push('{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, v)?;
    }
    out.push('}');
    Ok(())
}

/// Compares two strings as sequences of UTF-16 code units (RFC 8785 section 3.2.3).
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    // UTF-8 byte order equals code point order, which differs from UTF-16 order only when a
    // supplementary character meets a BMP character in U+E000..=U+FFFF. Take the fast path for
    // ASCII-only keys, which is what event fields are.
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Writes `s` as a JSON string with RFC 8785 minimal escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{08}' => Some("\\b"),
            '\u{0c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Whether `n` is an integer a double holds exactly: printed as it is, already canonical.
fn exact_integer(n: &Number) -> bool {
    const EXACT: u64 = 1 << 53;
    match n.as_i64() {
        Some(i) => i.unsigned_abs() <= EXACT,
        None => n.as_u64().is_some_and(|u| u <= EXACT),
    }
}

fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalError> {
    // Integers that a double holds exactly print as integers; everything else goes through the
    // double, as RFC 8785 (I-JSON) defines numbers as IEEE 754 doubles.
    if exact_integer(n) {
        let _ = write!(out, "{n}");
        return Ok(());
    }
    let f = n
        .as_f64()
        .ok_or_else(|| CanonicalError::NonFinite(n.to_string()))?;
    write_f64(out, f)
}

/// Writes a double as ECMAScript `Number::toString(10)` does (ECMA-262 section 6.1.6.1.20).
///
/// # Errors
///
/// [`CanonicalError::NonFinite`] for NaN and the infinities.
pub(crate) fn write_f64(out: &mut String, f: f64) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFinite(f.to_string()));
    }
    if f == 0.0 {
        out.push('0'); // covers -0
        return Ok(());
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` prints the shortest digit string that round-trips, like ECMAScript's
    // algorithm: "d.ddddde[-]x".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if let Some(even) = tie_to_even(f.abs(), &digits, exp) {
        digits = even;
    }
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = exp + 1; // the decimal point sits after `n` digits
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).unwrap_or(0);
        out.push_str(digits.get(..split).unwrap_or_default());
        out.push('.');
        out.push_str(digits.get(split..).unwrap_or_default());
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { "+" } else { "-" }, e.abs());
    }
    Ok(())
}

/// ECMAScript picks the even candidate when two shortest digit strings are equally close to
/// the exact value (RFC 8785 Appendix B, "round to even"); Rust's shortest formatting rounds
/// such ties up. Returns the even digit string when `digits` (with decimal exponent `exp` of
/// its first digit) sits on the odd side of an exact tie.
fn tie_to_even(x: f64, digits: &str, exp: i32) -> Option<String> {
    let k = digits.len();
    let (exact, exact_exp) = exact_digits(x)?; // exact value = 0.d1d2.. x 10^exact_exp, digits w/o trailing zeros
    if exact.len() != k + 1 || !exact.ends_with('5') || exact_exp != exp + 1 {
        return None;
    }
    let lo = exact.get(..k)?.to_owned();
    let hi = increment(&lo)?;
    let last_even = |s: &str| {
        s.bytes()
            .last()
            .is_some_and(|b| (b - b'0').is_multiple_of(2))
    };
    let want = if last_even(&lo) { lo } else { hi };
    if want == digits || want.len() != k {
        return None;
    }
    let parsed: f64 = format!("0.{want}e{}", exp + 1).parse().ok()?;
    (parsed == x).then_some(want)
}

/// Adds one to a decimal digit string; `None` on carry out of the top digit.
fn increment(s: &str) -> Option<String> {
    let mut b = s.as_bytes().to_vec();
    for d in b.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return String::from_utf8(b).ok();
        }
    }
    None
}

/// The exact decimal significant digits of a positive finite double and the exponent `e` with
/// value = 0.DIGITS x 10^e, when there are at most 40 of them (`None` otherwise, which never
/// matters: a tie needs at most 18).
fn exact_digits(x: f64) -> Option<(String, i32)> {
    let bits = x.to_bits();
    let raw_exp = i32::try_from((bits >> 52) & 0x7ff).ok()?;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if raw_exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), raw_exp - 1075)
    };
    if m == 0 {
        return None;
    }
    while m & 1 == 0 {
        m >>= 1;
        e += 1;
    }
    let (n, shift): (u128, i32) = if e >= 0 {
        if e + (64 - i32::try_from(m.leading_zeros()).ok()?) > 127 {
            return None;
        }
        (u128::from(m) << e, 0)
    } else {
        if -e > 27 {
            return None;
        }
        (u128::from(m) * 5u128.pow(u32::try_from(-e).ok()?), e)
    };
    let s = n.to_string();
    let trimmed = s.trim_end_matches('0');
    let len = i32::try_from(s.len()).ok()?;
    Some((trimmed.to_owned(), len + shift))
}

/// Formats a double the RFC 8785 way (test helper for the Appendix B vectors).
#[cfg(test)]
fn f64_to_string(f: f64) -> Result<String, CanonicalError> {
    let mut s = String::new();
    write_f64(&mut s, f)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendix_b_numbers() {
        let table: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in table {
            assert_eq!(
                f64_to_string(f64::from_bits(*bits)).unwrap(),
                *want,
                "{bits:016x}"
            );
        }
        assert!(f64_to_string(f64::from_bits(0x7fffffffffffffff)).is_err());
        assert!(f64_to_string(f64::from_bits(0x7ff0000000000000)).is_err());
    }

    #[test]
    fn numbers_normalize_to_what_their_canonical_text_reads_back_as() {
        let mut v = serde_json::json!({
            "zero": 0.0, "minus_zero": -0.0, "one": 1.0, "half": 0.5, "small": 7,
            "big": 9_007_199_254_740_993_u64, "huge": 1e21, "deep": [[{"x": -2.0}]],
        });
        normalize_numbers(&mut v).unwrap();
        let text = to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"big":9007199254740992,"deep":[[{"x":-2}]],"half":0.5,"huge":1e+21,"minus_zero":0,"one":1,"small":7,"zero":0}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the value equals its canonical text read back");
        assert!(v["zero"].is_u64() && v["deep"][0][0]["x"].is_i64());
    }

    #[test]
    fn escapes_are_minimal() {
        let mut s = String::new();
        write_string(&mut s, "a\u{1}\u{1f}\u{7f}\u{80}/\"\\\u{8}\u{c}\n\r\t€");
        assert_eq!(
            s,
            "\"a\\u0001\\u001f\u{7f}\u{80}/\\\"\\\\\\b\\f\\n\\r\\t€\""
        );
    }

    #[test]
    fn utf16_order() {
        assert_eq!(cmp_utf16("\u{1F600}", "\u{FB33}"), Ordering::Less);
        assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
    }

    #[test]
    fn big_integers_go_through_the_double() {
        let v: Value =
            serde_json::from_str("[9007199254740993, -9007199254740993, 18446744073709551615]")
                .unwrap();
        assert_eq!(
            to_string(&v).unwrap(),
            "[9007199254740992,-9007199254740992,18446744073709552000]"
        );
    }
}
