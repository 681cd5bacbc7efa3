//! The `traceparent` header: version, trace id, parent id and flags.

use std::fmt;
use std::str::FromStr;

use crate::id::hex_val;
use crate::{ParseError, SpanId, TraceId};

/// The length of a version-`00` `traceparent` value.
pub(crate) const TRACEPARENT_LEN: usize = 55;

/// The 8 trace flags of a `traceparent` (W3C Trace Context Level 2).
///
/// Bit 0 is `sampled`, bit 1 is `random` (the trace id's rightmost 7 bytes are random). Other bits
/// are kept as received but zeroed when this crate propagates a context.
///
/// # Examples
///
/// ```
/// use stella_context::TraceFlags;
///
/// let flags = TraceFlags::default().with_sampled(true).with_random(true);
/// assert_eq!(flags.to_byte(), 0x03);
/// assert!(flags.is_sampled() && flags.is_random());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The `sampled` bit.
    pub const SAMPLED: u8 = 0x01;
    /// The `random` bit (Level 2): the trace id's rightmost 7 bytes are random.
    pub const RANDOM: u8 = 0x02;
    /// The bits this crate understands and propagates.
    pub const KNOWN: u8 = Self::SAMPLED | Self::RANDOM;

    /// Flags from their byte, unknown bits included.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// The flag byte.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// Whether the caller may have recorded the trace.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }

    /// Whether the trace id was generated randomly (Level 2 `random` flag).
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM != 0
    }

    /// Sets or clears the `sampled` bit.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED)
        } else {
            Self(self.0 & !Self::SAMPLED)
        }
    }

    /// Sets or clears the `random` bit.
    #[must_use]
    pub const fn with_random(self, random: bool) -> Self {
        if random {
            Self(self.0 | Self::RANDOM)
        } else {
            Self(self.0 & !Self::RANDOM)
        }
    }

    /// Only the bits this crate understands, as sent on the wire.
    #[must_use]
    pub const fn known(self) -> Self {
        Self(self.0 & Self::KNOWN)
    }
}

/// A parsed `traceparent`: `version-trace_id-parent_id-flags`.
///
/// Parsing follows W3C Trace Context Level 2: leading and trailing spaces and tabs are ignored,
/// hex must be lowercase, ids must not be all-zero, version `ff` is invalid, version `00` must be
/// exactly 55 bytes, and higher versions are parsed from their first 55 bytes, which must be
/// followed by `-` or the end. [`Display`](fmt::Display) writes the canonical 55-byte form.
///
/// # Examples
///
/// ```
/// use stella_context::TraceParent;
///
/// let tp: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert_eq!(tp.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.parent_id().to_string(), "00f067aa0ba902b7");
/// assert!(tp.flags().is_sampled());
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
///
/// // A future version keeps its first 55 bytes.
/// let future: TraceParent =
///     "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra".parse()?;
/// assert_eq!(future.version(), 0xcc);
/// assert!("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse::<TraceParent>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    version: u8,
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
}

impl TraceParent {
    /// A version-`00` `traceparent`.
    pub const fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> Self {
        Self {
            version: 0,
            trace_id,
            parent_id,
            flags,
        }
    }

    /// Parses a header value (bytes), ignoring surrounding spaces and tabs.
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the value does not follow the `traceparent` grammar.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_context::TraceParent;
    /// let tp = TraceParent::parse_bytes(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\t")?;
    /// assert!(!tp.flags().is_sampled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_bytes(value: &[u8]) -> Result<Self, ParseError> {
        let b = value.trim_ascii();
        let len = b.len();
        if len < TRACEPARENT_LEN {
            return Err(ParseError::Length(len));
        }
        let version = match (
            b.first().copied().and_then(hex_val),
            b.get(1).copied().and_then(hex_val),
        ) {
            (Some(h), Some(l)) => (h << 4) | l,
            _ => return Err(ParseError::Malformed("version")),
        };
        if version == 0xff {
            return Err(ParseError::InvalidVersion);
        }
        if version == 0 && len != TRACEPARENT_LEN {
            return Err(ParseError::Length(len));
        }
        if len > TRACEPARENT_LEN && b.get(TRACEPARENT_LEN) != Some(&b'-') {
            return Err(ParseError::Malformed("trace-flags"));
        }
        if b.get(2) != Some(&b'-') {
            return Err(ParseError::Malformed("version"));
        }
        if b.get(35) != Some(&b'-') {
            return Err(ParseError::Malformed("trace-id"));
        }
        if b.get(52) != Some(&b'-') {
            return Err(ParseError::Malformed("parent-id"));
        }
        let trace_id = match b.get(3..35) {
            Some(s) => TraceId::parse_bytes(s).map_err(|e| match e {
                ParseError::ZeroTraceId => e,
                _ => ParseError::Malformed("trace-id"),
            })?,
            None => return Err(ParseError::Malformed("trace-id")),
        };
        let parent_id = match b.get(36..52) {
            Some(s) => SpanId::parse_bytes(s).map_err(|e| match e {
                ParseError::ZeroSpanId => e,
                _ => ParseError::Malformed("parent-id"),
            })?,
            None => return Err(ParseError::Malformed("parent-id")),
        };
        let flags = match (
            b.get(53).copied().and_then(hex_val),
            b.get(54).copied().and_then(hex_val),
        ) {
            (Some(h), Some(l)) => TraceFlags((h << 4) | l),
            _ => return Err(ParseError::Malformed("trace-flags")),
        };
        Ok(Self {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The version byte as received (`0` for contexts this crate creates).
    pub const fn version(&self) -> u8 {
        self.version
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The parent id: the id of the span that sent this `traceparent`.
    pub const fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The trace flags.
    pub const fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The same trace with another parent id.
    #[must_use]
    pub const fn with_parent_id(self, parent_id: SpanId) -> Self {
        Self { parent_id, ..self }
    }

    /// The same trace with other flags.
    #[must_use]
    pub const fn with_flags(self, flags: TraceFlags) -> Self {
        Self { flags, ..self }
    }

    /// What this crate sends on the wire: version `00`, unknown flag bits zeroed.
    #[must_use]
    pub const fn to_propagated(self) -> Self {
        Self {
            version: 0,
            flags: self.flags.known(),
            ..self
        }
    }

    /// The canonical 55-byte header form.
    pub fn to_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        if let Some(v) = out.get_mut(0..2) {
            crate::id::encode_hex(&[self.version], v);
        }
        if let Some(t) = out.get_mut(3..35) {
            self.trace_id.write_hex(t);
        }
        if let Some(p) = out.get_mut(36..52) {
            self.parent_id.write_hex(p);
        }
        if let Some(f) = out.get_mut(53..55) {
            crate::id::encode_hex(&[self.flags.0], f);
        }
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buf = self.to_bytes();
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for TraceParent {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats() {
        let tp: TraceParent = VALID.parse().unwrap();
        assert_eq!(tp.to_string(), VALID);
        assert_eq!(tp.version(), 0);
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad}");
        }
    }

    #[test]
    fn future_versions() {
        let tp: TraceParent = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what"
            .parse()
            .unwrap();
        assert_eq!(tp.version(), 0xcc);
        assert_eq!(
            tp.to_propagated().to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
