//! Hand-rolled JSON output: string escaping, RFC 3339 timestamps, bounded text.

use std::cell::RefCell;
use std::fmt::Write as _;
#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowercase hex digits (escapes here, span and trace ids in `layer::render`).
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal (with quotes).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// True when a byte of the little-endian word `w` needs escaping: below 0x20, `"`, `\\` or
/// DEL (the classic "has a byte less than / equal to" bit tricks, exact for existence).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let control = w.wrapping_sub(LO * 0x20) & !w & HI;
    control
        | zero_in(w ^ (LO * u64::from(b'"')))
        | zero_in(w ^ (LO * u64::from(b'\\')))
        | zero_in(w ^ (LO * 0x7f))
        != 0
}

#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

/// A word holding the last bytes of `bytes` from `i` on (fewer than eight), for
/// [`word_needs_escape`]: the last eight bytes when there are that many (some already checked),
/// else overlapping fixed-size reads padded with spaces (a byte read twice changes nothing for
/// a check of existence). Fixed-size reads only: no copy of a variable length.
#[inline]
fn last_word(bytes: &[u8], i: usize) -> u64 {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let n = bytes.len();
    if let Some(w) = n.checked_sub(8).and_then(|at| bytes.get(at..)) {
        return u64::from_le_bytes(w.try_into().unwrap_or([b' '; 8]));
    }
    let tail = bytes.get(i..).unwrap_or_default();
    let two = |at: usize| {
        tail.get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map_or(0, |b| u64::from(u16::from_le_bytes(b)))
    };
    let four = |at: usize| {
        tail.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
    };
    match *tail {
        [] => SPACES,
        [b] => (SPACES & !0xff) | u64::from(b),
        [_, _] | [_, _, _] => (SPACES & !0xffff_ffff) | two(0) | two(tail.len() - 2) << 16,
        _ => four(0) | four(tail.len() - 4) << 32,
    }
}

/// Appends the JSON escape of `s` (without quotes). Clean runs are copied whole; the scan
/// looks at eight bytes at a time.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !word_needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        } else if !word_needs_escape(last_word(bytes, i)) {
            break;
        }
        let end = (i + 8).min(bytes.len());
        while i < end {
            let b = bytes.get(i).copied().unwrap_or(0);
            if needs_escape(b) {
                if let Some(prefix) = s.get(start..i) {
                    out.push_str(prefix);
                }
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    _ => {
                        out.push_str("\\u00");
                        out.push(char::from(HEX[usize::from(b >> 4)]));
                        out.push(char::from(HEX[usize::from(b & 0x0f)]));
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
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

thread_local! {
    /// The last second formatted on this thread (`"YYYY-MM-DDTHH:MM:SS.`, quote and dot
    /// included): lines come many per second.
    static LAST_SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch, for years 0 to 9999.
fn second_text(secs: u64) -> Option<[u8; 19]> {
    let days = i64::try_from(secs / 86_400).ok()?;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let y = u64::try_from(y).ok().filter(|y| *y <= 9_999)?;
    let mut b = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for k in (at..at + width).rev() {
            if let Some(slot) = b.get_mut(k) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, rem / 3600);
    put(14, 2, (rem % 3600) / 60);
    put(17, 2, rem % 60);
    Some(b)
}

/// Appends `t` as RFC 3339 UTC with microseconds: `2026-11-28T11:05:30.123456Z`.
#[cfg(test)]
pub(crate) fn push_ts(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    push_ts_parts(out, d.as_secs(), d.subsec_micros());
}

/// Appends the time `nanos` (since the Unix epoch) as RFC 3339 UTC with microseconds:
/// `2026-11-28T11:05:30.123456Z`.
pub(crate) fn push_ts_nanos(out: &mut String, nanos: u64) {
    let micros = u32::try_from((nanos % 1_000_000_000) / 1_000).unwrap_or(0);
    push_ts_parts(out, nanos / 1_000_000_000, micros);
}

fn push_ts_parts(out: &mut String, secs: u64, micros: u32) {
    // The text of the second is kept as a `String`, and the digits are pushed as characters:
    // nothing to check as UTF-8 per line.
    let cached = LAST_SECOND
        .try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return false;
            };
            if c.0 != secs || c.1.is_empty() {
                let Some(text) = second_text(secs) else {
                    return false;
                };
                let (at, head) = &mut *c;
                head.clear();
                head.push('"');
                head.extend(text.iter().map(|b| char::from(*b)));
                head.push('.');
                *at = secs;
            }
            out.push_str(&c.1);
            true
        })
        .unwrap_or(false);
    if !cached {
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let rem = secs % 86_400;
        let (y, m, day) = civil_from_days(days);
        let _ = write!(
            out,
            "\"{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z\"",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60,
        );
        return;
    }
    let mut digits = [b'0'; 6];
    let mut v = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(digits.iter().map(|d| char::from(*d)));
    out.push_str("Z\"");
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
    fn timestamps_from_nanos_match() {
        for nanos in [
            0u64,
            999,
            1_764_327_930_123_456_789,
            951_782_400_000_007_000,
        ] {
            let (mut a, mut b) = (String::new(), String::new());
            push_ts_nanos(&mut a, nanos);
            push_ts(&mut b, UNIX_EPOCH + Duration::from_nanos(nanos));
            assert_eq!(a, b);
        }
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
        // the cached second, then a new one
        s.clear();
        push_ts(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(951_782_400_000_007),
        );
        assert_eq!(s, "\"2000-02-29T00:00:00.000007Z\"");
        s.clear();
        push_ts(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(951_868_799_999_999),
        );
        assert_eq!(s, "\"2000-02-29T23:59:59.999999Z\"");
        // beyond year 9999: the general path
        s.clear();
        push_ts(&mut s, UNIX_EPOCH + Duration::from_secs(253_402_300_800));
        assert_eq!(s, "\"10000-01-01T00:00:00.000000Z\"");
    }

    #[test]
    fn cached_timestamps_match_the_formatted_ones() {
        let reference = |secs: u64, micros: u32| {
            let days = i64::try_from(secs / 86_400).unwrap();
            let rem = secs % 86_400;
            let (y, m, day) = civil_from_days(days);
            format!(
                "\"{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z\"",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60,
            )
        };
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x % 253_402_300_800;
            let micros = u32::try_from((x >> 40) % 1_000_000).unwrap();
            // A new second, the same one again (from the cache), the next one.
            for s in [secs, secs, secs + 1] {
                let mut out = String::from("x");
                push_ts_parts(&mut out, s, micros);
                assert_eq!(out, format!("x{}", reference(s, micros)));
            }
        }
    }

    #[test]
    fn escapes_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', '\u{7f}', 'é'] {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    text.insert(at, special);
                    let mut s = String::new();
                    push_str(&mut s, &text);
                    let back: String = serde_json::from_str(&s).unwrap();
                    assert_eq!(back, text);
                }
            }
        }
    }

    /// The escape of `s`, byte by byte.
    fn escaped_slowly(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\u{:04x}", u32::from(c)));
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn escapes_like_the_byte_by_byte_escape() {
        // Every length up to 24, one or two special bytes anywhere (the last word of a text
        // is checked with overlapping reads).
        let specials = [
            '"', '\\', '\n', '\r', '\t', '\u{1}', '\u{1f}', '\u{7f}', 'é', ' ', '~',
        ];
        for len in 0..24 {
            let base: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
            let mut out = String::new();
            push_escaped(&mut out, &base);
            assert_eq!(out, base);
            for at in 0..=len {
                for a in specials {
                    let mut text = base.clone();
                    text.insert(at, a);
                    for b in [None, Some('"'), Some('\u{0}')] {
                        let mut text = text.clone();
                        if let Some(b) = b {
                            text.push(b);
                        }
                        let mut out = String::from("x");
                        push_escaped(&mut out, &text);
                        assert_eq!(out, format!("x{}", escaped_slowly(&text)), "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("abc", 10), "abc");
    }
}
