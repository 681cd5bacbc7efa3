//! Hand-rolled JSON output: string escaping, RFC 3339 timestamps, bounded text.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal (with quotes).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends the JSON escape of `s` (without quotes).
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        if let Some(prefix) = s.get(start..i) {
            out.push_str(prefix);
        }
        match esc {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
        start = i + 1;
    }
    if let Some(rest) = s.get(start..) {
        out.push_str(rest);
    }
}

/// Appends a JSON number for a float, or a string for NaN and the infinities.
pub(crate) fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "\"{v}\"");
    }
}

/// Appends `t` as RFC 3339 UTC with microseconds: `2026-11-28T11:05:30.123456Z`.
pub(crate) fn push_ts(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    let _ = write!(
        out,
        "\"{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z\"",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    );
}

/// Days since the Unix epoch to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn escapes() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn timestamps() {
        let mut s = String::new();
        push_ts(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(1_764_327_930_123_456),
        );
        assert_eq!(s, "\"2025-11-28T11:05:30.123456Z\"");
        s.clear();
        push_ts(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!(s, "\"2000-02-29T00:00:00.000000Z\"");
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("abc", 10), "abc");
    }
}
