//! Trace and span identifiers.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out`, which must be twice as long.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        if let [hi, lo] = pair {
            *hi = HEX[usize::from(byte >> 4)];
            *lo = HEX[usize::from(byte & 0x0f)];
        }
    }
}

const fn hex_table() -> [u8; 256] {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
}

/// Lowercase hex digit values; `0xff` for anything else.
static HEX_VAL: [u8; 256] = hex_table();

/// Value of one lowercase hex digit, or `None`.
#[inline]
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    let v = HEX_VAL[usize::from(c)];
    (v != 0xff).then_some(v)
}

/// Decodes exactly `digits` (at most 32) lowercase hex digits into an integer.
#[inline]
pub(crate) fn decode_hex_u128(src: &[u8], digits: usize) -> Option<u128> {
    if src.len() != digits || digits > 32 {
        return None;
    }
    let mut acc = 0u128;
    let mut bad = 0u8;
    for &c in src {
        let v = HEX_VAL[usize::from(c)];
        bad |= v;
        acc = (acc << 4) | u128::from(v & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(acc)
}

/// A 16-byte W3C trace id, shown as 32 lowercase hex digits.
///
/// Generated ids are random and never all-zero; parsing rejects the all-zero id.
///
/// # Examples
///
/// ```
/// use stella_context::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse()?;
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_ne!(TraceId::random(), TraceId::random());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

/// An 8-byte W3C span (parent) id, shown as 16 lowercase hex digits.
///
/// # Examples
///
/// ```
/// use stella_context::SpanId;
///
/// let id: SpanId = "00f067aa0ba902b7".parse()?;
/// assert_eq!(id.to_bytes(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

// === impl TraceId ===

impl TraceId {
    /// Builds an id from bytes; `None` when all are zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::TraceId;
    /// assert!(TraceId::from_bytes([0; 16]).is_none());
    /// assert!(TraceId::from_bytes([1; 16]).is_some());
    /// ```
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(Self(bytes))
    }

    /// A new random id from a fast, non-blocking generator; never all-zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = stella_context::TraceId::random();
    /// assert_ne!(id.to_bytes(), [0; 16]);
    /// ```
    pub fn random() -> Self {
        loop {
            let v = fastrand::u128(..);
            if v != 0 {
                return Self(v.to_be_bytes());
            }
        }
    }

    /// The raw bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Writes the 32 hex digits into `out`.
    pub(crate) fn write_hex(&self, out: &mut [u8]) {
        encode_hex(&self.0, out);
    }

    /// The 32 lowercase hex digits, on the stack: a span field recorded as a `&str`
    /// (`trace_id = id.hex().as_str()`) skips the formatting machinery that `%id` goes through.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = stella_context::TraceId::from_bytes([0xab; 16]).unwrap();
    /// assert_eq!(id.hex().as_str(), id.to_string());
    /// ```
    pub fn hex(&self) -> HexId<32> {
        let mut h = HexId([b'0'; 32]);
        self.write_hex(&mut h.0);
        h
    }

    /// Parses 32 lowercase hex digits, as [`FromStr`] does, from bytes that need not be a
    /// `str` (a header value, a field's text).
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the text is not 32 lowercase hex digits, or is all zeros.
    ///
    /// ```
    /// use stella_context::TraceId;
    ///
    /// let id = TraceId::parse_bytes(b"4bf92f3577b34da6a3ce929d0e0e4736")?;
    /// assert_eq!(id.hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::parse_bytes(b"4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
    /// assert!(TraceId::parse_bytes(&[b'0'; 32]).is_err());
    /// # Ok::<(), stella_context::ParseError>(())
    /// ```
    pub fn parse_bytes(src: &[u8]) -> Result<Self, ParseError> {
        let value = decode_hex_u128(src, 32).ok_or(ParseError::InvalidId(32))?;
        Self::from_bytes(value.to_be_bytes()).ok_or(ParseError::ZeroTraceId)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        self.write_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl FromStr for TraceId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(s.as_bytes())
    }
}

// === impl SpanId ===

impl SpanId {
    /// Builds an id from bytes; `None` when all are zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::SpanId;
    /// assert!(SpanId::from_bytes([0; 8]).is_none());
    /// ```
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        (bytes != [0; 8]).then_some(Self(bytes))
    }

    /// A new random id from a fast, non-blocking generator; never all-zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = stella_context::SpanId::random();
    /// assert_ne!(id.to_bytes(), [0; 8]);
    /// ```
    pub fn random() -> Self {
        loop {
            let v = fastrand::u64(..);
            if v != 0 {
                return Self(v.to_be_bytes());
            }
        }
    }

    /// The raw bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    pub(crate) fn write_hex(&self, out: &mut [u8]) {
        encode_hex(&self.0, out);
    }

    /// The 16 lowercase hex digits, on the stack (see [`TraceId::hex`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let id = stella_context::SpanId::from_bytes([0x0f; 8]).unwrap();
    /// assert_eq!(id.hex().as_str(), "0f0f0f0f0f0f0f0f");
    /// ```
    pub fn hex(&self) -> HexId<16> {
        let mut h = HexId([b'0'; 16]);
        self.write_hex(&mut h.0);
        h
    }

    /// Parses 16 lowercase hex digits, as [`FromStr`] does, from bytes that need not be a
    /// `str`.
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the text is not 16 lowercase hex digits, or is all zeros.
    ///
    /// ```
    /// use stella_context::SpanId;
    ///
    /// let id = SpanId::parse_bytes(b"00f067aa0ba902b7")?;
    /// assert_eq!(id.hex().as_str(), "00f067aa0ba902b7");
    /// assert!(SpanId::parse_bytes(b"00f067aa0ba902b").is_err());
    /// # Ok::<(), stella_context::ParseError>(())
    /// ```
    pub fn parse_bytes(src: &[u8]) -> Result<Self, ParseError> {
        let value = decode_hex_u128(src, 16).ok_or(ParseError::InvalidId(16))?;
        let value = u64::try_from(value).map_err(|_| ParseError::InvalidId(16))?;
        Self::from_bytes(value.to_be_bytes()).ok_or(ParseError::ZeroSpanId)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 16];
        self.write_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl FromStr for SpanId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert!(
            "0AF7651916CD43DD8448EB211C80319C"
                .parse::<TraceId>()
                .is_err()
        );
        assert_eq!(
            "0000000000000000".parse::<SpanId>(),
            Err(ParseError::ZeroSpanId)
        );
        assert!("abc".parse::<SpanId>().is_err());
    }
}

/// The lowercase hex text of a [`TraceId`] (`N` = 32) or a [`SpanId`] (`N` = 16), held on the
/// stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexId<const N: usize>([u8; N]);

impl<const N: usize> HexId<N> {
    /// The digits as text.
    pub fn as_str(&self) -> &str {
        // Always hex digits (ASCII): the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Debug for HexId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
