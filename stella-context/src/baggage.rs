//! W3C Baggage: application-defined key/value pairs that travel with a request.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

use crate::ParseError;

/// The most members a baggage may hold (W3C Baggage limit).
pub const MAX_BAGGAGE_MEMBERS: usize = 180;
/// The most bytes the `baggage` header may hold (W3C Baggage limit).
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// Bytes outside `baggage-octet`, and `%` itself, are percent-encoded in values.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Entry {
    key: String,
    value: String,
    /// Canonical properties, `;`-joined, without a leading `;` (`""` when none).
    properties: String,
}

#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct Inner {
    entries: Vec<Entry>,
    header: String,
}

/// A validated W3C baggage list: keys, percent-decoded values and optional properties.
///
/// Parsing drops invalid members (it never fails a request), tolerates empty members and
/// spaces or tabs around separators, and keeps at most 180 members and 8192 header bytes. A
/// repeated key keeps its first position and its last value. [`Display`](fmt::Display) writes
/// the canonical header, percent-encoding values. Cloning is cheap (the list is shared).
///
/// # Examples
///
/// ```
/// use stella_context::Baggage;
///
/// let bag: Baggage = "userId=alice, serverNode=DF%2028;ttl=60, bad key=x".parse()?;
/// assert_eq!(bag.get("serverNode"), Some("DF 28"));
/// assert_eq!(bag.properties("serverNode"), Some("ttl=60"));
/// assert_eq!(bag.len(), 2); // the invalid member was dropped
/// assert_eq!(bag.to_string(), "userId=alice,serverNode=DF%2028;ttl=60");
///
/// let bag = bag.with_entry("tenant", "acme, inc")?;
/// assert_eq!(bag.get("tenant"), Some("acme, inc"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    inner: Option<Arc<Inner>>,
}

#[inline]
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[inline]
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn valid_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| is_tchar(c))
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Parses `key OWS = OWS value`, returning trimmed parts.
fn split_pair(s: &str) -> Option<(&str, &str)> {
    let (k, v) = s.split_once('=')?;
    Some((trim_ows(k), trim_ows(v)))
}

/// Parses and canonicalises one member; `None` when invalid.
fn parse_member(member: &str) -> Option<Entry> {
    let mut parts = member.split(';');
    let (key, raw_value) = split_pair(parts.next()?)?;
    if !valid_token(key.as_bytes()) || !raw_value.bytes().all(is_baggage_octet) {
        return None;
    }
    let value = percent_decode(raw_value.as_bytes())
        .decode_utf8_lossy()
        .into_owned();
    let mut properties = String::new();
    for prop in parts {
        let prop = trim_ows(prop);
        let canonical: Cow<'_, str> = match split_pair(prop) {
            Some((k, v)) => {
                if !valid_token(k.as_bytes()) || !v.bytes().all(is_baggage_octet) {
                    return None;
                }
                Cow::Owned(format!("{k}={v}"))
            }
            None => {
                if !valid_token(prop.as_bytes()) {
                    return None;
                }
                Cow::Borrowed(prop)
            }
        };
        if !properties.is_empty() {
            properties.push(';');
        }
        properties.push_str(&canonical);
    }
    Some(Entry {
        key: key.to_owned(),
        value,
        properties,
    })
}

fn validate_properties(props: &str) -> Result<(), ParseError> {
    if props.is_empty() {
        return Ok(());
    }
    for prop in props.split(';') {
        let ok = match prop.split_once('=') {
            Some((k, v)) => valid_token(k.as_bytes()) && v.bytes().all(is_baggage_octet),
            None => valid_token(prop.as_bytes()),
        };
        if !ok {
            return Err(ParseError::InvalidBaggage);
        }
    }
    Ok(())
}

fn encoded_len(e: &Entry) -> usize {
    let value: usize = utf8_percent_encode(&e.value, VALUE_ENCODE)
        .map(str::len)
        .sum();
    e.key.len()
        + 1
        + value
        + if e.properties.is_empty() {
            0
        } else {
            1 + e.properties.len()
        }
}

fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.key);
        out.push('=');
        out.extend(utf8_percent_encode(&e.value, VALUE_ENCODE));
        if !e.properties.is_empty() {
            out.push(';');
            out.push_str(&e.properties);
        }
    }
    out
}

impl Baggage {
    /// An empty baggage.
    pub const fn new() -> Self {
        Self { inner: None }
    }

    /// Parses one header value, dropping invalid members and members over the limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let bag = stella_context::Baggage::parse_lossy(b"a=1,=2,b=%E2%9C%93");
    /// assert_eq!(bag.get("b"), Some("\u{2713}"));
    /// assert_eq!(bag.len(), 2);
    /// ```
    pub fn parse_lossy(value: &[u8]) -> Self {
        Self::parse_values_lossy(std::iter::once(value))
    }

    /// Parses several header values as one list, in order (repeated `baggage` headers).
    ///
    /// # Examples
    ///
    /// ```
    /// let bag = stella_context::Baggage::parse_values_lossy([&b"a=1"[..], b"b=2"]);
    /// assert_eq!(bag.to_string(), "a=1,b=2");
    /// ```
    pub fn parse_values_lossy<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0usize;
        for value in values {
            // Non-UTF-8 bytes are outside every production, so such a header has no valid member.
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            for raw in value.split(',') {
                let member = trim_ows(raw);
                if member.is_empty() {
                    continue;
                }
                let Some(entry) = parse_member(member) else {
                    continue;
                };
                if let Some(existing) = entries.iter_mut().find(|e| e.key == entry.key) {
                    let old = encoded_len(existing);
                    let new = encoded_len(&entry);
                    if bytes - old + new <= MAX_BAGGAGE_BYTES {
                        bytes = bytes - old + new;
                        *existing = entry;
                    }
                    continue;
                }
                let add = encoded_len(&entry) + usize::from(!entries.is_empty());
                if entries.len() >= MAX_BAGGAGE_MEMBERS || bytes + add > MAX_BAGGAGE_BYTES {
                    continue;
                }
                bytes += add;
                entries.push(entry);
            }
        }
        Self::from_entries(entries)
    }

    fn from_entries(entries: Vec<Entry>) -> Self {
        if entries.is_empty() {
            return Self::new();
        }
        let header = render(&entries);
        Self {
            inner: Some(Arc::new(Inner { entries, header })),
        }
    }

    fn entries(&self) -> &[Entry] {
        self.inner.as_deref().map_or(&[], |i| i.entries.as_slice())
    }

    /// The canonical header value (`""` when empty).
    pub fn as_str(&self) -> &str {
        self.inner.as_deref().map_or("", |i| i.header.as_str())
    }

    /// Whether the baggage has no members.
    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// The decoded value for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let bag: stella_context::Baggage = "k=a%20b".parse()?;
    /// assert_eq!(bag.get("k"), Some("a b"));
    /// assert_eq!(bag.iter().collect::<Vec<_>>(), [("k", "a b")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// The canonical properties for `key` (`k=v;flag`), `Some("")` when it has none.
    pub fn properties(&self, key: &str) -> Option<&str> {
        self.entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.properties.as_str())
    }

    /// The members in order, as `(key, decoded value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries()
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    /// A baggage with `key` set to `value` (any string; it is percent-encoded on the wire).
    ///
    /// # Errors
    ///
    /// [`ParseError::InvalidBaggage`] when `key` is not an HTTP token, and
    /// [`ParseError::BaggageLimit`] when the result would exceed 180 members or 8192 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let bag = stella_context::Baggage::new().with_entry("k", "v 1")?;
    /// assert_eq!(bag.as_str(), "k=v%201");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_entry(&self, key: &str, value: &str) -> Result<Self, ParseError> {
        self.with_entry_and_properties(key, value, "")
    }

    /// Like [`Baggage::with_entry`], with canonical `properties` (`k=v;flag`, no spaces).
    ///
    /// # Errors
    ///
    /// As [`Baggage::with_entry`], and [`ParseError::InvalidBaggage`] for invalid properties.
    ///
    /// # Examples
    ///
    /// ```
    /// let bag = stella_context::Baggage::new().with_entry_and_properties("k", "v", "ttl=5")?;
    /// assert_eq!(bag.as_str(), "k=v;ttl=5");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_entry_and_properties(
        &self,
        key: &str,
        value: &str,
        properties: &str,
    ) -> Result<Self, ParseError> {
        if !valid_token(key.as_bytes()) {
            return Err(ParseError::InvalidBaggage);
        }
        validate_properties(properties)?;
        let entry = Entry {
            key: key.to_owned(),
            value: value.to_owned(),
            properties: properties.to_owned(),
        };
        let mut entries = self.entries().to_vec();
        match entries.iter_mut().find(|e| e.key == key) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
        if entries.len() > MAX_BAGGAGE_MEMBERS {
            return Err(ParseError::BaggageLimit);
        }
        let out = Self::from_entries(entries);
        if out.as_str().len() > MAX_BAGGAGE_BYTES {
            return Err(ParseError::BaggageLimit);
        }
        Ok(out)
    }

    /// A baggage without `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let bag: stella_context::Baggage = "a=1,b=2".parse()?;
    /// assert_eq!(bag.without("a").as_str(), "b=2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        Self::from_entries(
            self.entries()
                .iter()
                .filter(|e| e.key != key)
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Baggage").field(&self.as_str()).finish()
    }
}

impl FromStr for Baggage {
    type Err = std::convert::Infallible;

    /// Parses lossily: invalid members are dropped.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse_lossy(s.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold() {
        let many: Vec<String> = (0..200).map(|i| format!("k{i}=v")).collect();
        let bag = Baggage::parse_lossy(many.join(",").as_bytes());
        assert_eq!(bag.len(), MAX_BAGGAGE_MEMBERS);
        let big = format!("a={},b=1", "x".repeat(8190));
        let bag = Baggage::parse_lossy(big.as_bytes());
        assert_eq!(bag.len(), 1);
        assert!(bag.as_str().len() <= MAX_BAGGAGE_BYTES);
        let bag = Baggage::parse_lossy(format!("a={}", "x".repeat(8191)).as_bytes());
        assert!(bag.is_empty());
    }

    #[test]
    fn properties_and_ows() {
        let bag = Baggage::parse_lossy(b" k1 = v1 ; p1 = x ; flag ,k2=v2;bad prop");
        assert_eq!(bag.as_str(), "k1=v1;p1=x;flag");
        assert_eq!(Baggage::parse_lossy(b"k=%ZZ").get("k"), Some("%ZZ"));
    }
}
