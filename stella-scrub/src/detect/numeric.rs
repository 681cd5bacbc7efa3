//! Patterns without literals: IP addresses, card numbers, SSNs and phone numbers. Reached
//! through the byte-class gate at each digit; every decision is made in code (std IP parsing,
//! Luhn, issuer tables, SSN ranges).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{BlockMasks, PrivateIpPolicy, Scan};
use crate::kind::Kind;

#[inline]
pub(super) fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Is the character at `i` a word character? ASCII letters, digits and `_`, and letters of the
/// Latin script: the key scanner reads `6aşifre` as one word, so `::6a` in front of `şifre` is
/// not an address (otherwise its redaction would make `şifre` a key on a second pass).
#[inline]
fn word_at(scan: &Scan<'_, '_>, i: usize) -> bool {
    let c = scan.at(i);
    if c < 0x80 {
        return word(c);
    }
    scan.text
        .get(i..)
        .and_then(|s| s.chars().next())
        .is_some_and(|ch| ch.is_alphabetic() && crate::keys::latin(ch))
}

/// [`word_at`] for the character that ends at `i`.
#[inline]
fn word_before(scan: &Scan<'_, '_>, i: usize) -> bool {
    let c = scan.before(i);
    if c < 0x80 {
        return word(c);
    }
    scan.text
        .get(..i)
        .and_then(|s| s.chars().next_back())
        .is_some_and(|ch| ch.is_alphabetic() && crate::keys::latin(ch))
}

#[inline]
fn digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// Called at a digit at `i`; `floor` is where the previous numeric word ended. Returns the
/// position the byte-class pass may resume from.
///
/// Most numbers in a log line (counts, durations, dates, the digits that open a hex id) cannot
/// start any of the patterns; they are skipped here, from the bytes around the run of digits,
/// without the full decision in [`at_digit_slow`] (which returns the same position for them: a
/// test holds the two together).
#[inline(always)]
pub(super) fn at_digit(scan: &mut Scan<'_, '_>, i: usize, floor: usize) -> usize {
    let rest = scan.b.get(i..).unwrap_or(&[]);
    let n = rest.iter().position(|c| !digit(*c)).unwrap_or(rest.len());
    let we = i + n;
    let next = scan.at(we);
    let prev = scan.before(i);
    if next >= 0x80 || matches!(prev, b'_' | b']') {
        return at_digit_slow(scan, i, floor);
    }
    if next.is_ascii_alphabetic() || next == b'_' {
        // A word that goes on with letters: only a run of at most four hex digits followed by
        // `:` (or after one) can be an IPv6 group (`2a00:1450::`).
        if n >= 4 {
            return we;
        }
        let hex = rest
            .iter()
            .take(5)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if prev != b':' && (hex > 4 || scan.at(i + hex) != b':') {
            return we;
        }
    } else if prev == b':' && n == 2 && iso_time_part(scan, i) {
        // The minutes or seconds of an ISO 8601 time (`T10:01:18.007Z`): the IPv6 scan walks
        // back to the `T` and stops there, and two digits start nothing else; the seconds may
        // go on with a fraction, but fewer than three dots rule out an IPv4 address.
        if !three_dots_around_run(scan, i, we, prev, next) {
            return we;
        }
    } else if next == b'.' || prev == b'.' {
        // Versions and decimals (`1.14.2`, `0.93`): with fewer than three dots in the run of
        // digits and dots around, no IPv4 address; then only a North American number
        // (`1.800…`, `415.555.2671`) or a card number can start here.
        if next != b':'
            && !matches!(prev, b':' | b'+' | b'(')
            && !three_dots_around_run(scan, i, we, prev, next)
        {
            if matches!(prev, b'.' | b'-') {
                return we;
            }
            // a leading `1.` only matters before a three-digit area code (`nanp`'s first test)
            let nanp_one = n == 1 && rest.first() == Some(&b'1') && digits_at(scan, we + 1, 3) == 3;
            if !nanp_one && n != 3 && !(13..=19).contains(&n) {
                return we;
            }
        }
    } else if next != b':' {
        if prev == b'-' {
            return we; // after a dash: no pattern starts here unless `.` or `:` follows
        }
        // After a lone `:` (`"count":12`) no IPv6 address can start: it would begin with a
        // single colon.
        let lone_colon = prev == b':' && !ipv6_char(scan.before(i - 1));
        // Phones, SSNs and grouped card numbers go on with a digit after the `-` or space.
        let grouped = matches!(next, b'-' | b' ') && digit(scan.at(we + 1));
        if (!matches!(prev, b'.' | b'+' | b'(' | b':') || lone_colon) && !(13..=19).contains(&n) {
            if !grouped {
                return we;
            }
            // A grouped run (`2026-11-28`, `8 of 8`) can only open a North American number
            // (`1-800…`), an SSN or a phone (three digits) or a grouped card number (four to
            // six digits, then at least three).
            if !(n == 1 && rest.first() == Some(&b'1'))
                && n != 3
                && !((4..=6).contains(&n) && digits_at(scan, we + 1, 3) >= 3)
            {
                return we;
            }
        }
    }
    at_digit_slow(scan, i, floor)
}

/// [`at_digit`]'s quick answers, decided from a window of bytes alone: true only where
/// `at_digit` would return the end of the run at once, finding nothing. The byte-class pass
/// drops such runs from its mask before the per-byte dispatch, so they cost no call.
///
/// `w` is the byte-class pass's window (the byte before a 64-byte block, then the block, zeros
/// past the end of the text as [`Scan::at`] reads them) and `masks` its digits and dots; `j` is
/// the run's first digit in `w` (`j >= 1`) and `n` the run's length. Where an answer needs a
/// byte outside the window, the answer is false and `at_digit` decides as before. A test
/// holds the two together.
#[inline(always)]
pub(super) fn digit_run_skipped(w: &[u8], masks: &BlockMasks, j: usize, n: usize) -> bool {
    let (Some(&prev), Some(&next)) = (w.get(j.wrapping_sub(1)), w.get(j + n)) else {
        return false;
    };
    if next >= 0x80 || matches!(prev, b'_' | b']') {
        return false;
    }
    if next.is_ascii_alphabetic() || next == b'_' {
        if n >= 4 {
            return true;
        }
        if prev == b':' {
            return false;
        }
        // Only a `:` among the bytes `j + n ..= j + 4` can make the answer false (the hex run
        // below stops at it): where the masks show no flagged byte other than a digit there,
        // the answer is true without the byte loop.
        if j + 4 < w.len() && j + 3 < 64 {
            let span = (u64::MAX >> (63 - (4 - n))) << (j + n - 1);
            if masks.flagged & !masks.digits & span == 0 {
                return true;
            }
        }
        // the first five bytes' run of hex digits, and the byte after it
        let mut hex = n;
        while hex < 5 && w.get(j + hex).is_some_and(u8::is_ascii_hexdigit) {
            hex += 1;
        }
        return hex > 4 || w.get(j + hex).is_some_and(|c| *c != b':');
    }
    if prev == b':' && n == 2 {
        match iso_time_part_in(w, j) {
            Some(false) => {}
            Some(true) => return three_dots_in(masks, j - 1, n, prev, next) == Some(false),
            None => return false,
        }
    }
    if next == b'.' || prev == b'.' {
        if next == b':' || matches!(prev, b':' | b'+' | b'(') {
            return false;
        }
        if three_dots_in(masks, j - 1, n, prev, next) != Some(false) {
            return false;
        }
        if prev == b'.' || prev == b'-' {
            return true;
        }
        // A leading `1.` only matters before a three-digit area code: `digits_at(…, 3) == 3`
        // in `at_digit` (undecided where the digits run out of the window).
        if n == 1 && w.get(j) == Some(&b'1') && digits_in(w, j + n + 1).is_none_or(|d| d == 3) {
            return false;
        }
        return n != 3 && !(13..=19).contains(&n);
    }
    if next == b':' {
        return false;
    }
    if prev == b'-' {
        return true;
    }
    if matches!(prev, b'+' | b'(') || (13..=19).contains(&n) {
        return false;
    }
    if prev == b':' {
        // a lone colon (`"count":12`) and not an IPv6 group
        match w.get(j.wrapping_sub(2)) {
            Some(c) if !ipv6_char(*c) => {}
            _ => return false,
        }
    }
    if !matches!(next, b'-' | b' ') {
        return true;
    }
    // grouped: a digit after the `-` or space
    let Some(after) = digits_in(w, j + n + 1) else {
        return false;
    };
    if after == 0 {
        return true;
    }
    !(n == 1 && w.get(j) == Some(&b'1')) && n != 3 && !((4..=6).contains(&n) && after >= 3)
}

/// The digits at `p` in `w`, at most four (as `digits_at(…, 3)` counts them), or `None` where
/// they run out of the window first.
#[inline(always)]
fn digits_in(w: &[u8], p: usize) -> Option<usize> {
    let mut k = 0;
    loop {
        match w.get(p + k) {
            Some(c) if c.is_ascii_digit() && k < 4 => k += 1,
            Some(_) => return Some(k),
            None => return None,
        }
    }
}

/// [`iso_time_part`] in the window (`j` the run's first digit), or `None` where the `T` could
/// lie before the window.
#[inline(always)]
fn iso_time_part_in(w: &[u8], j: usize) -> Option<bool> {
    let hh_mm = |t: usize| -> Option<bool> {
        let s = w.get(j.checked_sub(t)?..j)?;
        let (&first, rest) = s.split_first()?;
        Some(
            first == b'T'
                && rest
                    .chunks(3)
                    .all(|g| matches!(g, [a, b, b':'] if digit(*a) && digit(*b))),
        )
    };
    Some(hh_mm(4)? || hh_mm(7)?)
}

/// [`three_dots_around_run`] from the block masks, for the run of `n` digits at bit `s`, or
/// `None` where the run of digits and dots around it leaves the block within the bounds the
/// count looks at.
#[inline(always)]
fn three_dots_in(masks: &BlockMasks, s: usize, n: usize, prev: u8, next: u8) -> Option<bool> {
    let run = masks.digits | masks.dots;
    // the bits `lo..hi`, `hi <= 64`
    let between = |lo: usize, hi: usize| -> u64 {
        if hi <= lo {
            return 0;
        }
        let below_hi = u64::MAX.checked_shr(64 - hi as u32).unwrap_or(0);
        below_hi & u64::MAX.checked_shl(lo as u32).unwrap_or(0)
    };
    // The dots found, as bits: "three or more" is two lowest set bits cleared and some left
    // (`count_ones` has no instruction in the x86-64 baseline).
    let at_least_three = |x: u64| {
        let x = x & x.wrapping_sub(1);
        x & x.wrapping_sub(1) != 0
    };
    let mut dots = 0;
    if next == b'.' {
        // forward from the byte after the run, up to 20 bytes after its first digit
        let e = s + n;
        if e >= 64 {
            return None;
        }
        let len = (!(run >> e)).trailing_zeros() as usize;
        let limit = s + 20;
        if e + len >= 64 && limit > 64 {
            return None;
        }
        dots = masks.dots & between(e, (e + len).min(limit));
        if at_least_three(dots) {
            return Some(true);
        }
    }
    if prev != b'.' {
        return Some(false);
    }
    // backward from the byte before the run, at most 16 bytes (bits apart from the forward ones)
    if s == 0 || s >= 64 {
        return None;
    }
    let len = (run << (64 - s)).leading_ones() as usize;
    if len == s && s < 16 {
        return None;
    }
    dots |= masks.dots & between(s - len.min(16), s);
    Some(at_least_three(dots))
}

/// Is the two-digit run at `i` the minutes (`T10:01`) or the seconds (`T10:01:18`) of an ISO
/// 8601 time? Then every byte between the `T` and `i` is a digit or a colon.
#[inline]
fn iso_time_part(scan: &Scan<'_, '_>, i: usize) -> bool {
    let hh_mm = |t: usize| {
        i >= t
            && scan.at(i - t) == b'T'
            && scan.b.get(i - t + 1..i).is_some_and(|s| {
                s.chunks(3)
                    .all(|g| matches!(g, [a, b, b':'] if digit(*a) && digit(*b)))
            })
    };
    hh_mm(4) || hh_mm(7)
}

/// Are there three dots or more in the run of digits and dots around `i`, within the bounds
/// [`ipv4`] looks at (sixteen bytes back, twenty on)? Stops at the third dot.
#[cfg(test)]
fn three_dots_around(scan: &Scan<'_, '_>, i: usize) -> bool {
    let dots = dots_ahead(scan, i, i);
    dots >= 3 || three_dots_behind(scan, i, dots)
}

/// The dots of the run of digits and dots from `from`, within 20 bytes of `i`.
#[inline]
fn dots_ahead(scan: &Scan<'_, '_>, i: usize, from: usize) -> usize {
    let after = scan.b.get(from..(i + 20).min(scan.b.len())).unwrap_or(&[]);
    let mut dots = 0;
    for &c in after {
        if c == b'.' {
            dots += 1;
        } else if !digit(c) {
            break;
        }
    }
    dots
}

/// Whether `dots` and the dots of the run of digits and dots that ends at `i` (within 16
/// bytes) make three.
#[inline]
fn three_dots_behind(scan: &Scan<'_, '_>, i: usize, mut dots: usize) -> bool {
    let before = scan.b.get(i.saturating_sub(16)..i).unwrap_or(&[]);
    for &c in before.iter().rev() {
        if c == b'.' {
            dots += 1;
            if dots >= 3 {
                return true;
            }
        } else if !digit(c) {
            break;
        }
    }
    false
}

/// [`three_dots_around`] for the run of digits `i..we`, with `prev` the byte before `i` and
/// `next` the byte at `we`: the digits hold no dot, so the forward count starts at `we` (within
/// the same bound) and only runs when `next` is a dot, and the backward count only when `prev`
/// is a dot or a digit.
#[inline]
fn three_dots_around_run(scan: &Scan<'_, '_>, i: usize, we: usize, prev: u8, next: u8) -> bool {
    let dots = if next == b'.' {
        dots_ahead(scan, i, we)
    } else {
        0
    };
    if dots >= 3 {
        return true;
    }
    (prev == b'.' || digit(prev)) && three_dots_behind(scan, i, dots)
}

/// The full decision at a digit that starts a word (see [`at_digit`]).
#[inline(never)]
fn at_digit_slow(scan: &mut Scan<'_, '_>, i: usize, floor: usize) -> usize {
    // The byte-class pass calls this only where a digit starts a word.
    let _ = floor;
    let ws = i;
    let mut we = i;
    while we < scan.b.len() && digit(scan.at(we)) {
        we += 1;
    }
    let prev = scan.before(ws);
    if prev == b'_' || prev == b']' {
        // inside an identifier such as `abc_123`
        while we < scan.b.len() && word(scan.at(we)) {
            we += 1;
        }
        return we;
    }
    if word_at(scan, we) {
        // A word that starts with digits and goes on with letters: only an IPv6 group
        // (2a00:1450::) matters; the rest of the word is skipped by the byte-class pass.
        if we - ws < 4 {
            let mut h = we;
            while h < scan.b.len() && scan.at(h).is_ascii_hexdigit() && h - ws < 5 {
                h += 1;
            }
            if h - ws <= 4 && (scan.at(h) == b':' || prev == b':') && !word_at(scan, h) {
                return ipv6(scan, ws).unwrap_or(h);
            }
        }
        return we;
    }
    let next = scan.at(we);
    let n = we - ws;
    // IPv4
    if ((next == b'.' && digit(scan.at(we + 1)))
        || (prev == b'.' && ws >= 2 && digit(scan.at(ws - 2))))
        && let Some(end) = ipv4(scan, ws)
    {
        return end;
    }
    // Telegram bot tokens: 123456789:AAH…(35)
    if next == b':' && (8..=10).contains(&n) && scan.at(we + 1) == b'A' {
        let body = super::tokens::run(scan, we + 1, 40, |c| {
            c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
        });
        if body == 35 {
            scan.push_kind(ws, we + 1 + body, Kind::VendorToken);
            return we + 1 + body;
        }
    }
    // IPv6 starting with digits (2001:db8::1)
    if (next == b':' || prev == b':')
        && n <= 4
        && let Some(end) = ipv6(scan, ws)
    {
        return end;
    }
    if prev == b'.' || prev == b'-' {
        return we; // decimals and negative numbers are neither cards nor SSNs
    }
    // Phones with a leading +
    if prev == b'+' && ws >= 1 && !word_before(scan, ws - 1) && scan.before(ws - 1) != b']' {
        if let Some(end) = phone_e164(scan, ws) {
            return end;
        }
        return we;
    }
    if prev == b'('
        && n == 3
        && let Some(end) = nanp(scan, ws - 1, ws, true)
    {
        return end;
    }
    if n == 1
        && scan.at(ws) == b'1'
        && matches!(next, b'-' | b' ' | b'.')
        && digit(scan.at(we + 1))
        && let Some(end) = nanp(scan, ws, we + 1, false)
    {
        return end;
    }
    if n == 3 && matches!(next, b'-' | b' ' | b'.') {
        if let Some(end) = ssn(scan, ws) {
            return end;
        }
        if let Some(end) = nanp(scan, ws, ws, false) {
            return end;
        }
    }
    if ((13..=19).contains(&n)
        || ((4..=6).contains(&n) && matches!(next, b' ' | b'-') && digits_at(scan, we + 1, 3) >= 3))
        && let Some(end) = card(scan, ws)
    {
        return end;
    }
    we
}

fn digits_at(scan: &Scan<'_, '_>, p: usize, max: usize) -> usize {
    let mut n = 0;
    while n <= max && digit(scan.at(p + n)) {
        n += 1;
    }
    n
}

fn ipv4(scan: &mut Scan<'_, '_>, ws: usize) -> Option<usize> {
    let mut start = ws;
    while start > 0 && (digit(scan.before(start)) || scan.before(start) == b'.') && ws - start < 16
    {
        start -= 1;
    }
    while scan.at(start) == b'.' {
        start += 1;
    }
    let mut end = ws;
    while end < scan.b.len() && (digit(scan.at(end)) || scan.at(end) == b'.') && end - start < 20 {
        end += 1;
    }
    let mut stop = end;
    while stop > start && scan.before(stop) == b'.' {
        stop -= 1;
    }
    let s = scan.text.get(start..stop)?;
    if s.bytes().filter(|c| *c == b'.').count() != 3 {
        return None;
    }
    if word_before(scan, start)
        || scan.before(start) == b'.'
        || word_at(scan, stop)
        || scan.at(stop) == b'['
        || (scan.at(stop) == b'.' && digit(scan.at(stop + 1)))
    {
        return Some(end);
    }
    let addr: Ipv4Addr = s.parse().ok()?;
    if v4_redact(addr, scan.settings.private_ips) {
        scan.push_kind(start, stop, Kind::Ip);
    }
    Some(end)
}

fn v4_redact(a: Ipv4Addr, policy: PrivateIpPolicy) -> bool {
    let o = a.octets();
    if a.is_loopback()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || o[0] == 0
        || o[0] >= 240
    {
        return false;
    }
    let private = a.is_private() || a.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1]));
    if private {
        return policy == PrivateIpPolicy::Redact;
    }
    true
}

fn v6_redact(a: Ipv6Addr, policy: PrivateIpPolicy) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return v4_redact(v4, policy);
    }
    if a.is_loopback() || a.is_unspecified() || a.is_multicast() {
        return false;
    }
    let seg0 = a.segments()[0];
    let private = (seg0 & 0xfe00) == 0xfc00 || (seg0 & 0xffc0) == 0xfe80;
    if private {
        return policy == PrivateIpPolicy::Redact;
    }
    true
}

/// A byte an IPv6 address (or its embedded IPv4 tail) is made of.
#[inline]
fn ipv6_char(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

fn ipv6(scan: &mut Scan<'_, '_>, ws: usize) -> Option<usize> {
    let hexc = ipv6_char;
    let mut start = ws;
    while start > 0 && hexc(scan.before(start)) && ws - start < 45 {
        start -= 1;
    }
    let mut end = ws;
    while end < scan.b.len() && hexc(scan.at(end)) && end - start < 45 {
        end += 1;
    }
    // Only at a clear token boundary (not after `]` or `)`, so a redaction marker in front
    // never turns `x::30` into an address on a second pass).
    let b = scan.before(start);
    if !(start == 0
        || b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\''
                | b'['
                | b'('
                | b'='
                | b','
                | b';'
                | b'/'
                | b'@'
                | b'{'
                | b'<'
                | b'|'
                | b'>'
        ))
        || word_at(scan, end)
        || scan.at(end) == b'['
    {
        return None;
    }
    let mut stop = end;
    // "addr 2001:db8::1: error" / "…1." at the end of a sentence
    while stop > start && matches!(scan.before(stop), b'.') {
        stop -= 1;
    }
    if scan.before(stop) == b':' && scan.before(stop - 1) != b':' {
        stop -= 1;
    }
    let s = scan.text.get(start..stop)?;
    if s.bytes().filter(|c| *c == b':').count() < 2 {
        return None;
    }
    let addr: Ipv6Addr = match s.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => a,
        _ => return None,
    };
    if v6_redact(addr, scan.settings.private_ips) {
        scan.push_kind(start, stop, Kind::Ip);
    }
    Some(end)
}

fn ssn(scan: &mut Scan<'_, '_>, ws: usize) -> Option<usize> {
    let sep = scan.at(ws + 3);
    if !matches!(sep, b'-' | b' ') {
        return None;
    }
    if digits_at(scan, ws + 4, 2) != 2 || scan.at(ws + 6) != sep || digits_at(scan, ws + 7, 4) != 4
    {
        return None;
    }
    let end = ws + 11;
    if word_at(scan, end) || (scan.at(end) == sep && digit(scan.at(end + 1))) {
        return None;
    }
    let d = |i: usize| u32::from(scan.at(i).wrapping_sub(b'0'));
    let area = d(ws) * 100 + d(ws + 1) * 10 + d(ws + 2);
    let group = d(ws + 4) * 10 + d(ws + 5);
    let serial = d(ws + 7) * 1000 + d(ws + 8) * 100 + d(ws + 9) * 10 + d(ws + 10);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return None;
    }
    scan.push_kind(ws, end, Kind::Ssn);
    Some(end)
}

/// North American numbers: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199.
fn nanp(scan: &mut Scan<'_, '_>, start: usize, area: usize, paren: bool) -> Option<usize> {
    if digits_at(scan, area, 3) != 3 {
        return None;
    }
    let mut p = area + 3;
    let sep;
    if paren {
        if scan.at(p) != b')' {
            return None;
        }
        p += 1;
        if scan.at(p) == b' ' {
            p += 1;
        }
        if digits_at(scan, p, 3) != 3 {
            return None;
        }
        p += 3;
        sep = scan.at(p);
        if !matches!(sep, b'-' | b'.' | b' ') {
            return None;
        }
    } else {
        sep = scan.at(p);
        if !matches!(sep, b'-' | b'.') {
            return None;
        }
        p += 1;
        if digits_at(scan, p, 3) != 3 {
            return None;
        }
        p += 3;
        if scan.at(p) != sep {
            return None;
        }
    }
    let exch = p - 3;
    p += 1;
    if digits_at(scan, p, 4) != 4 {
        return None;
    }
    p += 4;
    if word_at(scan, p) || (matches!(scan.at(p), b'-' | b'.') && digit(scan.at(p + 1))) {
        return None;
    }
    if !matches!(scan.at(area), b'2'..=b'9') || !matches!(scan.at(exch), b'2'..=b'9') {
        return None;
    }
    scan.push_kind(start, p, Kind::Phone);
    Some(p)
}

/// `+` then 8 to 15 digits, in groups separated by single spaces, dashes, dots or parentheses.
fn phone_e164(scan: &mut Scan<'_, '_>, ws: usize) -> Option<usize> {
    if scan.at(ws) == b'0' {
        return None;
    }
    let first = digits_at(scan, ws, 16);
    if first >= 8 {
        if first > 15 {
            return None;
        }
        let end = ws + first;
        scan.push_kind(ws - 1, end, Kind::Phone);
        return Some(end);
    }
    let mut total = first;
    let mut p = ws + first;
    let mut end = p;
    let mut groups = 1;
    // the number as it stood before the last group, and where that group's digits start
    let (mut prev_end, mut prev_total, mut last_digits) = (end, total, end);
    while total < 15 && groups < 7 {
        let mut q = p;
        let c = scan.at(q);
        if matches!(c, b' ' | b'-' | b'.') {
            q += 1;
        }
        let paren = scan.at(q) == b'(';
        if paren {
            q += 1;
        }
        let g = digits_at(scan, q, 15);
        if g == 0 || q == p || total + g > 15 {
            break;
        }
        (prev_end, prev_total, last_digits) = (end, total, q);
        q += g;
        if paren {
            if scan.at(q) != b')' {
                break;
            }
            q += 1;
        }
        total += g;
        groups += 1;
        p = q;
        end = q;
    }
    if !(8..=15).contains(&total) {
        return None;
    }
    if word_at(scan, end) {
        // The last group is glued to a word (`+5552 47552 471abc`), so the number is rejected.
        // A redaction found later in this pass that starts between the last full group and
        // the word's first letter turns the rest into a marker, and the next pass would accept
        // the number up to it: settled once every hit is known (`Scan::settle_deferred`).
        if groups > 1 {
            scan.deferred_phones.push(DeferredPhone {
                start: ws - 1,
                prev_end,
                prev_total,
                last_digits,
                end,
                total,
                paren: scan.at(end.saturating_sub(1)) == b')',
            });
        }
        return None;
    }
    scan.push_kind(ws - 1, end, Kind::Phone);
    Some(end)
}

/// A `+` phone number rejected only because its last group is glued to a word; see
/// [`phone_e164`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeferredPhone {
    /// The `+`.
    start: usize,
    /// The end of the group before the glued one, and the digits up to there.
    prev_end: usize,
    prev_total: usize,
    /// Where the glued group's digits start.
    last_digits: usize,
    /// The end of the glued group (the word starts here), and the digits up to there.
    end: usize,
    total: usize,
    /// The glued group is `(…)`.
    paren: bool,
}

impl DeferredPhone {
    /// The end of the number as the next pass redacts it, where a redaction of this pass
    /// starting at `r` turns the bytes from `r` on into a marker (`None`: no number then).
    ///
    /// A marker after the separator or `(` ends the number at the group before; a marker
    /// right after `)` leaves the whole number. A marker glued to a digit leaves no number:
    /// the next pass does not redact a token that a marker continues (`Scan::push`).
    pub(crate) fn end_before(&self, r: usize) -> Option<usize> {
        let (end, total) = if r > self.prev_end && r <= self.last_digits {
            (self.prev_end, self.prev_total)
        } else if self.paren && r == self.end {
            (self.end, self.total)
        } else {
            return None;
        };
        (8..=15).contains(&total).then_some(end)
    }

    /// The `+` that starts the number.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The end of the last group before the glued one.
    pub(crate) fn prev_end(&self) -> usize {
        self.prev_end
    }
}

fn card(scan: &mut Scan<'_, '_>, ws: usize) -> Option<usize> {
    let mut digits = [0u8; 19];
    let mut count = 0usize;
    let mut p = ws;
    let mut sep: Option<u8> = None;
    // candidate ends at group boundaries: (end, digit count)
    let mut ends: [(usize, usize); 8] = [(0, 0); 8];
    let mut n_ends = 0;
    loop {
        let g = digits_at(scan, p, 19);
        if g == 0 || count + g > 19 {
            break;
        }
        for k in 0..g {
            if let Some(slot) = digits.get_mut(count + k) {
                *slot = scan.at(p + k) - b'0';
            }
        }
        count += g;
        p += g;
        if let Some(slot) = ends.get_mut(n_ends) {
            *slot = (p, count);
            n_ends += 1;
        }
        let c = scan.at(p);
        if matches!(c, b' ' | b'-')
            && digit(scan.at(p + 1))
            && sep.is_none_or(|s| s == c)
            && (sep.is_some() || (4..=6).contains(&g))
        {
            sep = Some(c);
            p += 1;
        } else {
            break;
        }
    }
    if word_at(scan, p) && !matches!(scan.at(p), b'_') && sep.is_none() {
        return None;
    }
    for &(end, cnt) in ends.iter().take(n_ends).rev() {
        if !(13..=19).contains(&cnt) {
            continue;
        }
        if word_at(scan, end) || (scan.at(end) == b'.' && digit(scan.at(end + 1))) {
            continue; // part of a longer word or a decimal number
        }
        let d = digits.get(..cnt)?;
        if luhn(d) && issuer_ok(d) {
            scan.push_kind(ws, end, Kind::Card);
            return Some(end);
        }
    }
    None
}

pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

pub(crate) fn issuer_ok(d: &[u8]) -> bool {
    let len = d.len();
    let num = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (p1, p2, p3, p4, p6) = (num(1), num(2), num(3), num(4), num(6));
    match p1 {
        4 => matches!(len, 13 | 16 | 19),
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 || p4 == 3095)
                    && (14..=19).contains(&len))
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
        }
        5 => {
            ((51..=55).contains(&p2) && len == 16)
                || ((p2 == 50 || (56..=59).contains(&p2)) && (13..=19).contains(&len))
        }
        2 => {
            ((2221..=2720).contains(&p4) && len == 16)
                || ((2200..=2204).contains(&p4) && (16..=19).contains(&len))
        }
        6 => {
            (16..=19).contains(&len)
                || (p4 == 6759 || p4 == 6761 || p4 == 6763 || (622126..=622925).contains(&p6))
                    && len >= 13
        }
        8 => (p2 == 81 || p2 == 82) && len == 16,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RepoRoots, Settings};
    use super::*;

    /// The run form of the dot count agrees with the plain one at every digit that starts a run.
    #[test]
    fn three_dots_around_run_agrees() {
        let settings = crate::detect::Settings::new(
            crate::detect::PrivateIpPolicy::Keep,
            crate::detect::RepoRoots::default(),
            crate::detect::default_path_roots(),
        );
        let pieces = [
            "1",
            "22",
            "333",
            ".",
            "..",
            "a",
            ":",
            "-",
            "T",
            " ",
            "4444444444",
            "0.0.0",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(seed % 9 + 1) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let b = text.as_bytes();
            let mut hits = Vec::new();
            let scan = Scan {
                text: &text,
                b,
                hits: &mut hits,
                settings: &settings,
                deferred_phones: Vec::new(),
                deferred_emails: Vec::new(),
            };
            for i in 0..b.len() {
                if !digit(b[i]) || (i > 0 && digit(b[i - 1])) {
                    continue;
                }
                let we = i + b[i..].iter().take_while(|c| digit(**c)).count();
                let (prev, next) = (scan.before(i), scan.at(we));
                assert_eq!(
                    three_dots_around_run(&scan, i, we, prev, next),
                    three_dots_around(&scan, i),
                    "{text:?} at {i}"
                );
            }
        }
    }

    /// The fast path of [`at_digit`] agrees with [`at_digit_slow`] (same resume position, same
    /// hits) at every digit that starts a word, on generated text made of the pieces the
    /// numeric patterns are built from.
    #[test]
    fn fast_path_agrees_with_full_decision() {
        let pieces = [
            "0",
            "1",
            "2",
            "4",
            "7",
            "9",
            "12",
            "45",
            "123",
            "415",
            "555",
            "2001",
            "2671",
            "4111",
            "1111",
            "6789",
            "203.0.113.7",
            "123-45-6789",
            "4111 1111 1111 1111",
            "(415) 555-2671",
            "1-800-555-0199",
            "+44 20 7946 0958",
            "5555555555554444",
            "1.14.2",
            "0.93",
            "10.0.0.1",
            "1.800.555.0199",
            "415.555.2671",
            "::ffff:",
            "8.8.8.8",
            "2001:db8::1",
            "2026",
            "a",
            "f",
            "db8",
            "x",
            "Z",
            "T",
            "_",
            "]",
            ".",
            ":",
            "::",
            "-",
            " ",
            "+",
            "(",
            ")",
            "\"",
            "=",
            "é",
            "ş",
            "/",
            "@",
            "\\u00e9",
            "[REDACTED:ip]",
            "A",
            "2026-11-28",
            "T10:01:18.007Z",
            "T23:59",
            "1.2.3",
            ":12",
            "8 of 8",
        ];
        for policy in [PrivateIpPolicy::Keep, PrivateIpPolicy::Redact] {
            let settings = Settings::new(policy, RepoRoots::default(), Vec::new());
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as usize
            };
            for _ in 0..60_000 {
                let mut text = String::new();
                for _ in 0..1 + next() % 16 {
                    text.push_str(pieces[next() % pieces.len()]);
                }
                let b = text.as_bytes();
                for i in 0..b.len() {
                    if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
                        continue;
                    }
                    let (mut fast_hits, mut full_hits) = (Vec::new(), Vec::new());
                    let fast = at_digit(
                        &mut Scan {
                            text: &text,
                            b,
                            hits: &mut fast_hits,
                            settings: &settings,
                            deferred_phones: Vec::new(),
                            deferred_emails: Vec::new(),
                        },
                        i,
                        0,
                    );
                    let full = at_digit_slow(
                        &mut Scan {
                            text: &text,
                            b,
                            hits: &mut full_hits,
                            settings: &settings,
                            deferred_phones: Vec::new(),
                            deferred_emails: Vec::new(),
                        },
                        i,
                        0,
                    );
                    assert_eq!((fast, &fast_hits), (full, &full_hits), "{text:?} at {i}");
                    // the window answers of the byte-class pass, from windows that start at
                    // several places before the digit (as the 64-byte blocks fall)
                    let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                    for lo in [
                        i,
                        i.saturating_sub(1),
                        i.saturating_sub(2),
                        i.saturating_sub(7),
                    ]
                    .into_iter()
                    .chain([i.saturating_sub(next() % 64)])
                    {
                        let mut w = vec![if lo == 0 { 0 } else { b[lo - 1] }];
                        w.extend_from_slice(&b[lo..b.len().min(lo + 64)]);
                        if lo + 64 > b.len() {
                            w.resize(65, 0);
                        }
                        let j = i - lo + 1;
                        let n = w[j..].iter().take_while(|c| c.is_ascii_digit()).count();
                        let win: [u8; 65] = w.as_slice().try_into().expect("65 bytes");
                        let masks = super::super::block_mask(&win);
                        if digit_run_skipped(&w, &masks, j, n) {
                            assert_eq!((fast, fast_hits.len()), (i + run, 0), "{text:?} at {i}");
                        }
                    }
                }
            }
        }
    }

    fn ds(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|c| c - b'0')
            .collect()
    }

    #[test]
    fn luhn_and_issuers() {
        for c in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "2223003122003222",
            "36227206271667",
        ] {
            let d = ds(c);
            assert!(luhn(&d), "{c}");
            assert!(issuer_ok(&d), "{c}");
        }
        assert!(!luhn(&ds("4111111111111112")));
        assert!(!issuer_ok(&ds("1732791198123")));
    }

    /// A `+` number whose last group is glued to a word is decided as the next pass sees it:
    /// redacted up to a later redaction that starts after its last full group, kept otherwise.
    #[test]
    fn phone_glued_to_later_redaction() {
        let s = crate::Scrubber::builder().build().expect("builds");
        for (input, want) in [
            (
                "call +5552 47552 471abc@example.com now",
                "call [REDACTED:phone] [REDACTED:email] now",
            ),
            // the local part starts after `)`: the whole number stays
            (
                "call +5552 47552 (471)abc@example.com now",
                "call [REDACTED:phone][REDACTED:email] now",
            ),
            ("call +5552 47552 471abc now", "call +5552 47552 471abc now"),
            // too few digits before the glued group
            (
                "call +555 4755 471abc@example.com now",
                "call +555 4755 [REDACTED:email] now",
            ),
        ] {
            let once = s.scrub(input).into_owned();
            assert_eq!(once, want, "{input:?}");
            assert_eq!(s.scrub(&once), once, "{input:?}");
        }
    }
}
