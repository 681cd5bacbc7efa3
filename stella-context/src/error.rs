//! The parse error shared by every header parser in this crate.

/// Why a `traceparent`, `tracestate`, `baggage` value or an id failed to parse.
///
/// Telemetry never fails a request: the carriers turn these errors into "start a new trace" or
/// "drop the header". The error is public so that callers parsing values by hand can tell why.
///
/// # Examples
///
/// ```
/// use stella_context::{ParseError, TraceParent};
///
/// let err = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
///     .parse::<TraceParent>()
///     .unwrap_err();
/// assert_eq!(err, ParseError::ZeroTraceId);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The `traceparent` value is shorter than 55 bytes, or longer than 55 bytes for version `00`.
    #[error("traceparent must be 55 bytes, got {0}")]
    Length(usize),
    /// The version is `ff`, which the specification forbids.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// A field is not lowercase hexadecimal of the right width, or a separator is missing.
    #[error("traceparent field `{0}` is malformed")]
    Malformed(&'static str),
    /// The trace id is all zeros.
    #[error("trace-id must not be all zeros")]
    ZeroTraceId,
    /// The parent (span) id is all zeros.
    #[error("parent-id must not be all zeros")]
    ZeroSpanId,
    /// An id is not lowercase hexadecimal of the right width.
    #[error("id must be {0} lowercase hex digits")]
    InvalidId(usize),
    /// A `tracestate` key does not follow the key grammar.
    #[error("tracestate key is invalid")]
    InvalidKey,
    /// A `tracestate` value does not follow the value grammar.
    #[error("tracestate value is invalid")]
    InvalidValue,
    /// A `tracestate` list member has no `=`.
    #[error("tracestate list member has no `=`")]
    MissingEquals,
    /// The same `tracestate` key appears twice.
    #[error("tracestate key appears more than once")]
    DuplicateKey,
    /// More than 32 `tracestate` list members.
    #[error("tracestate has more than 32 list members")]
    TooManyMembers,
    /// A baggage entry is invalid (key, value or property).
    #[error("baggage entry is invalid")]
    InvalidBaggage,
    /// Adding a baggage entry would exceed 180 members or 8192 bytes.
    #[error("baggage would exceed 180 members or 8192 bytes")]
    BaggageLimit,
}
