//! Email addresses, found at `@` (or `%40`): local part and domain checked in code, including
//! internationalised (UTF-8) local parts and domains.

use super::Scan;
use crate::kind::Kind;

#[inline]
fn local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-') || c >= 0x80
}

/// The bytes of [`domain_char`], one entry per byte: the domain walk at every `@` is one load
/// a byte.
static DOMAIN_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b >= 0x80;
        c += 1;
    }
    t
};

#[inline]
fn domain_char(c: u8) -> bool {
    DOMAIN_CHAR[usize::from(c)]
}

pub(crate) fn at_sign(scan: &mut Scan<'_, '_>, a: usize, at_len: usize) {
    // Text that an earlier hit redacts is a marker on the next pass, which no address crosses:
    // the walks stop where those hits end or start (idempotency).
    let ceiling = scan
        .hits
        .iter()
        .filter(|h| h.start > a)
        .map(|h| h.start)
        .min()
        .unwrap_or(scan.b.len());
    // The domain first: it decides most `@` that are not addresses (`log4j-core@2.14.1`).
    let ds = a + at_len;
    let mut de = ds;
    while de < ceiling && domain_char(scan.at(de)) && de - ds < 253 {
        de += 1;
    }
    if domain_char(scan.at(de)) && de < ceiling {
        return; // a domain longer than 253 bytes is not a domain
    }
    let walked = de;
    while de > ds && matches!(scan.before(de), b'.' | b'-') {
        de -= 1;
    }
    while de > ds && !scan.text.is_char_boundary(de) {
        de -= 1;
    }
    let Some(domain) = scan.text.get(ds..de) else {
        return;
    };
    if !domain_ok(domain) {
        // A redaction found later in this pass that starts inside the domain ends it there on
        // the next pass (`a@example.com7.0.0.1`, where the address is found after the IP is
        // redacted): decided again once every hit is known (`Scan::settle_deferred`). Only
        // where some shorter domain could pass: a dot before a byte that is no digit.
        if domain
            .as_bytes()
            .windows(2)
            .any(|w| w.first() == Some(&b'.') && w.get(1).is_some_and(|c| !c.is_ascii_digit()))
        {
            scan.deferred_emails.push((a, at_len, walked));
        }
        return;
    }
    let floor = scan
        .hits
        .iter()
        .filter(|h| h.end <= a)
        .map(|h| h.end)
        .max()
        .unwrap_or(0);
    let mut ls = a;
    while ls > floor && local_char(scan.before(ls)) && a - ls < 64 {
        ls -= 1;
    }
    if ls > floor && local_char(scan.before(ls)) {
        return; // a local part longer than 64 bytes is not an address (RFC 5321)
    }
    while ls < a
        && (matches!(scan.at(ls), b'.' | b'-' | b'+' | b'%') || !scan.text.is_char_boundary(ls))
    {
        ls += 1;
    }
    if ls >= a {
        return;
    }
    // userinfo inside a URL (scheme://user:pass@host) is the URL rule's business
    if in_url_authority(scan, ls) {
        return;
    }
    // scp-style git remotes: git@github.com:org/repo
    if scan
        .text
        .get(ls..a)
        .is_some_and(|l| l == "git" || l == "hg")
        && scan.at(de) == b':'
    {
        return;
    }
    scan.push_kind(ls, de, Kind::Email);
}

fn domain_ok(d: &str) -> bool {
    // cheap rejections first: a dot, and a last label that is not numeric
    let Some(dot) = d.bytes().rposition(|c| c == b'.') else {
        return false;
    };
    let tld = d.get(dot + 1..).unwrap_or("");
    if tld.bytes().next().is_none_or(|c| c.is_ascii_digit()) {
        return false;
    }
    if d.split('.')
        .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return false;
    }
    let tld_ok = (tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()))
        || tld.starts_with("xn--")
        || (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic) && !tld.is_ascii());
    if !tld_ok {
        return false;
    }
    // image@2x.png and friends
    if let Some(first) = d.split('.').next() {
        let f = first.as_bytes();
        if f.len() >= 2
            && f.last() == Some(&b'x')
            && f.iter().take(f.len() - 1).all(u8::is_ascii_digit)
        {
            return false;
        }
    }
    true
}

/// Is `ls` in the authority of a URL (`scheme://user:pass@` before it)? Bytes that an earlier
/// hit redacts do not count: the next pass sees a marker there, neither a `://` nor a
/// delimiter (idempotency).
fn in_url_authority(scan: &Scan<'_, '_>, ls: usize) -> bool {
    let lo = ls.saturating_sub(256);
    let Some(before) = scan.b.get(lo..ls) else {
        return false;
    };
    let covered = |j: usize| scan.hits.iter().any(|h| h.start <= j && j < h.end);
    for (i, w) in before.windows(3).enumerate().rev() {
        let at = lo + i;
        if w == b"://" && !(at..at + 3).any(covered) {
            let between = before.get(i + 3..).unwrap_or(&[]);
            return !between.iter().enumerate().any(|(k, c)| {
                matches!(c, b'/' | b' ' | b'"' | b'\'' | b'@') && !covered(at + 3 + k)
            });
        }
        if matches!(w.last(), Some(b' ' | b'"' | b'\'' | b'\n')) && !covered(at + 2) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    /// The domain-byte table says what the predicate it replaced said.
    #[test]
    fn domain_char_table() {
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-') || c >= 0x80;
            assert_eq!(super::domain_char(c), want, "{c}");
        }
    }

    /// An address whose domain runs into a later redaction is decided as the next pass sees
    /// it: the domain ends at the marker.
    #[test]
    fn domain_cut_by_later_redaction() {
        let s = crate::Scrubber::builder().build().expect("builds");
        for (input, want) in [
            (
                "mail ann@例子.authtoken广告7.0.0.13 x",
                "mail [REDACTED:email][REDACTED:ip] x",
            ),
            (
                "pkg:maven/org.apache/log4j-core@2.14.1 x",
                "pkg:maven/org.apache/log4j-core@2.14.1 x",
            ),
            ("a@example.com7.0.0.1 x", "a@example.com7.0.0.1 x"),
        ] {
            let once = s.scrub(input).into_owned();
            assert_eq!(once, want, "{input:?}");
            assert_eq!(s.scrub(&once), once, "{input:?}");
        }
    }
}
