//! The `tracestate` header: vendor-specific key/value pairs, in order.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::HeaderValue;

use crate::ParseError;

/// The most list members a `tracestate` may hold.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A validated `tracestate` list, kept in its canonical form (`k=v,k=v`, no spaces).
///
/// Parsing follows W3C Trace Context Level 2: simple keys (`lcalpha` then up to 255 of
/// `a-z 0-9 _ - * /`) and multi-tenant keys (`tenant@system`, tenant 1 to 241 characters starting
/// with a letter or digit, system 1 to 14 starting with a letter), values of 1 to 256 printable
/// characters without `,` or `=` and not ending in a space, spaces and tabs around members
/// ignored, empty members tolerated, at most 32 members, no duplicate keys. Any violation makes
/// the whole header invalid. Cloning is cheap (the list is shared).
///
/// # Examples
///
/// ```
/// use stella_context::TraceState;
///
/// let ts: TraceState = "rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE, tenant@vendor=x".parse()?;
/// assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
/// assert_eq!(ts.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=x");
///
/// let ts = ts.with_entry("stella", "1")?;
/// assert_eq!(ts.to_string(), "stella=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=x");
/// assert!("foo=1,foo=2".parse::<TraceState>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct TraceState {
    header: Repr,
}

/// The canonical list: shared text, or the received header value itself when it was already
/// canonical (then extracting and re-injecting it copies nothing).
#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Text(Arc<str>),
    Header(HeaderValue),
}

impl PartialEq for TraceState {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TraceState {}

impl std::hash::Hash for TraceState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

const KEY: u8 = 1; // a-z 0-9 _ - * /
const LC: u8 = 2; // a-z
const DIGIT: u8 = 4; // 0-9
const NBLK: u8 = 8; // %x21-2B / %x2D-3C / %x3E-7E
const CHR: u8 = 16; // NBLK or space

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let mut v = 0;
        if b.is_ascii_lowercase() {
            v |= KEY | LC;
        }
        if b.is_ascii_digit() {
            v |= KEY | DIGIT;
        }
        if matches!(b, b'_' | b'-' | b'*' | b'/') {
            v |= KEY;
        }
        if matches!(b, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e) {
            v |= NBLK | CHR;
        }
        if b == b' ' {
            v |= CHR;
        }
        t[c] = v;
        c += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

#[inline]
fn class(c: u8) -> u8 {
    CLASS[usize::from(c)]
}

/// Validates a key against the Level 2 grammar (one pass).
pub(crate) fn valid_key(key: &[u8]) -> bool {
    let Some((&first, rest)) = key.split_first() else {
        return false;
    };
    let mut at = None;
    for (i, &c) in rest.iter().enumerate() {
        if class(c) & KEY == 0 {
            if c == b'@' && at.is_none() {
                at = Some(i + 1);
            } else {
                return false;
            }
        }
    }
    match at {
        None => class(first) & LC != 0 && key.len() <= 256,
        Some(at) => {
            let tenant_len = at;
            let system = key.get(at + 1..).unwrap_or_default();
            class(first) & (LC | DIGIT) != 0
                && tenant_len <= 241
                && system.first().is_some_and(|&c| class(c) & LC != 0)
                && system.len() <= 14
        }
    }
}

/// Validates a value against the Level 2 grammar.
pub(crate) fn valid_value(value: &[u8]) -> bool {
    match value.split_last() {
        Some((last, rest)) => {
            class(*last) & NBLK != 0
                && rest.len() <= 255
                && rest.iter().all(|&c| class(c) & CHR != 0)
        }
        None => false,
    }
}

/// Splits one member into key and value, both validated (one pass over the key).
fn split_member(member: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let mut at = None;
    let mut eq = None;
    for (i, &c) in member.iter().enumerate() {
        if class(c) & KEY != 0 {
            continue;
        }
        match c {
            b'=' => {
                eq = Some(i);
                break;
            }
            b'@' if at.is_none() && i > 0 => at = Some(i),
            _ => return Err(ParseError::InvalidKey),
        }
    }
    let eq = eq.ok_or(ParseError::MissingEquals)?;
    let (key, rest) = member.split_at(eq);
    let first = key.first().map_or(0, |&c| class(c));
    let key_ok = match at {
        None => first & LC != 0 && key.len() <= 256,
        Some(at) => {
            let system = key.get(at + 1..).unwrap_or_default();
            first & (LC | DIGIT) != 0
                && at <= 241
                && system.first().is_some_and(|&c| class(c) & LC != 0)
                && system.len() <= 14
        }
    };
    if !key_ok {
        return Err(ParseError::InvalidKey);
    }
    let val = rest.get(1..).unwrap_or_default();
    if !valid_value(val) {
        return Err(ParseError::InvalidValue);
    }
    Ok((key, val))
}

/// The non-empty members of the combined list, OWS trimmed.
fn members<'a, I>(values: I) -> impl Iterator<Item = &'a [u8]>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    values
        .into_iter()
        .flat_map(|v| v.split(|&c| c == b','))
        .map(trim_ows)
        .filter(|m| !m.is_empty())
}

/// Validates the combined list; returns the member count and the canonical length.
fn scan<'a, I>(values: I) -> Result<(usize, usize), ParseError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut keys: [&[u8]; MAX_TRACESTATE_MEMBERS] = [&[]; MAX_TRACESTATE_MEMBERS];
    let mut count = 0usize;
    let mut len = 0usize;
    for value in values {
        let mut rest = value;
        loop {
            let (raw, next) = match rest.iter().position(|&c| c == b',') {
                Some(p) => (rest.get(..p).unwrap_or_default(), rest.get(p + 1..)),
                None => (rest, None),
            };
            let member = trim_ows(raw);
            if !member.is_empty() {
                let (key, _) = split_member(member)?;
                if keys.get(..count).unwrap_or_default().contains(&key) {
                    return Err(ParseError::DuplicateKey);
                }
                *keys.get_mut(count).ok_or(ParseError::TooManyMembers)? = key;
                count += 1;
                len += member.len() + usize::from(count > 1);
            }
            match next {
                Some(n) => rest = n,
                None => break,
            }
        }
    }
    Ok((count, len))
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let ows = |c: &u8| *c == b' ' || *c == b'\t';
    if !s.first().is_some_and(ows) && !s.last().is_some_and(ows) {
        return s;
    }
    let start = s.iter().position(|c| !ows(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !ows(c)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

impl TraceState {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            header: Repr::Empty,
        }
    }

    fn from_text(text: String) -> Self {
        if text.is_empty() {
            Self::new()
        } else {
            Self {
                header: Repr::Text(Arc::from(text)),
            }
        }
    }

    /// Parses one received header value, keeping it as is (no copy) when it is already canonical.
    pub(crate) fn from_header_value(value: &HeaderValue) -> Result<Self, ParseError> {
        let (count, len) = scan(std::iter::once(value.as_bytes()))?;
        if count > 0 && len == value.len() {
            return Ok(Self {
                header: Repr::Header(value.clone()),
            });
        }
        Self::parse_iter(std::iter::once(value.as_bytes()))
    }

    /// The header value to send (`None` when empty).
    pub(crate) fn to_header_value(&self) -> Option<HeaderValue> {
        match &self.header {
            Repr::Empty => None,
            Repr::Text(t) => HeaderValue::from_str(t).ok(),
            Repr::Header(h) => Some(h.clone()),
        }
    }

    /// Parses one header value.
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the list breaks the grammar, repeats a key or has more than 32 members.
    ///
    /// # Examples
    ///
    /// ```
    /// let ts = stella_context::TraceState::parse_bytes(b"a=1, b=2")?;
    /// assert_eq!(ts.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_bytes(value: &[u8]) -> Result<Self, ParseError> {
        Self::parse_iter(std::iter::once(value))
    }

    /// Parses several header values as one list, in order (repeated `tracestate` headers).
    ///
    /// # Errors
    ///
    /// [`ParseError`] as for [`TraceState::parse_bytes`], over the combined list.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::TraceState;
    /// let ts = TraceState::parse_values([&b"foo=1"[..], b"", b"bar=2"])?;
    /// assert_eq!(ts.to_string(), "foo=1,bar=2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_values<'a, I>(values: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let values: Vec<&[u8]> = values.into_iter().collect();
        Self::parse_iter(values.iter().copied())
    }

    fn parse_iter<'a, I>(values: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = &'a [u8]> + Clone,
    {
        let (count, len) = scan(values.clone())?;
        if count == 0 {
            return Ok(Self::new());
        }
        let mut out = String::with_capacity(len);
        for member in members(values) {
            if !out.is_empty() {
                out.push(',');
            }
            // Members were checked to be printable ASCII by `scan`.
            out.push_str(std::str::from_utf8(member).map_err(|_| ParseError::InvalidValue)?);
        }
        Ok(Self::from_text(out))
    }

    /// The canonical header value (`""` when empty).
    pub fn as_str(&self) -> &str {
        match &self.header {
            Repr::Empty => "",
            Repr::Text(t) => t,
            Repr::Header(h) => h.to_str().unwrap_or_default(),
        }
    }

    /// Whether the list has no members.
    pub fn is_empty(&self) -> bool {
        matches!(self.header, Repr::Empty)
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let text = self.as_str();
        (!text.is_empty())
            .then_some(text)
            .into_iter()
            .flat_map(|h| h.split(','))
            .filter_map(|m| m.split_once('='))
    }

    /// The value for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ts: stella_context::TraceState = "a=1,t@v=2".parse()?;
    /// assert_eq!(ts.get("t@v"), Some("2"));
    /// assert_eq!(ts.get("b"), None);
    /// assert_eq!(ts.iter().collect::<Vec<_>>(), [("a", "1"), ("t@v", "2")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A list with `key=value` first and any older entry for `key` removed; the list is cut to 32.
    ///
    /// # Errors
    ///
    /// [`ParseError::InvalidKey`] or [`ParseError::InvalidValue`] when the pair breaks the grammar.
    ///
    /// # Examples
    ///
    /// ```
    /// let ts = stella_context::TraceState::new().with_entry("stella", "abc")?;
    /// assert_eq!(ts.as_str(), "stella=abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_entry(&self, key: &str, value: &str) -> Result<Self, ParseError> {
        if !valid_key(key.as_bytes()) {
            return Err(ParseError::InvalidKey);
        }
        if !valid_value(value.as_bytes()) {
            return Err(ParseError::InvalidValue);
        }
        let mut out = String::with_capacity(key.len() + value.len() + 1 + self.as_str().len());
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        for (k, v) in self
            .iter()
            .filter(|(k, _)| *k != key)
            .take(MAX_TRACESTATE_MEMBERS - 1)
        {
            out.push(',');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        Ok(Self::from_text(out))
    }

    /// A list without `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ts: stella_context::TraceState = "a=1,b=2".parse()?;
    /// assert_eq!(ts.without("a").as_str(), "b=2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        let rest: Vec<String> = self
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if rest.is_empty() {
            return Self::new();
        }
        Self::from_text(rest.join(","))
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceState").field(&self.as_str()).finish()
    }
}

impl FromStr for TraceState {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let k256 = "z".repeat(256);
        assert!(valid_key(k256.as_bytes()));
        assert!(!valid_key("z".repeat(257).as_bytes()));
        let tenant = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(valid_key(tenant.as_bytes()));
        assert!(!valid_key(format!("{}@v", "t".repeat(242)).as_bytes()));
        assert!(!valid_key(format!("t@{}", "v".repeat(15)).as_bytes()));
        for bad in [
            "foo@",
            "@foo",
            "foo@@bar",
            "foo@bar@baz",
            "FOO",
            "foo.bar",
            "foo ",
        ] {
            assert!(!valid_key(bad.as_bytes()), "{bad}");
        }
        assert!(valid_value("v".repeat(256).as_bytes()));
        assert!(!valid_value("v".repeat(257).as_bytes()));
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            many.join(",").parse::<TraceState>(),
            Err(ParseError::TooManyMembers)
        );
        assert_eq!(
            many[..32].join(",").parse::<TraceState>().unwrap().len(),
            32
        );
    }

    #[test]
    fn with_entry_caps_at_32() {
        let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let ts: TraceState = many.join(",").parse().unwrap();
        let ts = ts.with_entry("new", "1").unwrap();
        assert_eq!(ts.len(), 32);
        assert_eq!(ts.get("k31"), None);
        assert_eq!(ts.without("new").len(), 31);
    }

    #[test]
    fn empty_forms() {
        assert!("".parse::<TraceState>().unwrap().is_empty());
        assert!(" , ,\t".parse::<TraceState>().unwrap().is_empty());
        assert!("foo=".parse::<TraceState>().is_err());
        assert!("foo=bar=baz".parse::<TraceState>().is_err());
    }
}
