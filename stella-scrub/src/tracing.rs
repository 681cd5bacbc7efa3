//! The scrubbing layer for plain `tracing-subscriber` users: drop-in field and event formatters
//! that scrub every field of every event and span before anything reaches the writer.
//!
//! Text output, with the usual `fmt` event formats (full, compact, pretty):
//!
//! ```
//! use stella_scrub::{Scrubber, tracing::ScrubFields};
//!
//! let scrubber = Scrubber::builder().build()?;
//! let subscriber = tracing_subscriber::fmt()
//!     .fmt_fields(ScrubFields::new(scrubber))
//!     .with_writer(std::io::sink)
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(password = "hunter2", "login by bob@example.com");
//!     // writes: INFO …: login by [REDACTED:email] password="[REDACTED:password]"
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! JSON output, one object per line (`timestamp`, `level`, `target`, `fields`, `span`, `spans`):
//!
//! ```
//! use stella_scrub::{Scrubber, tracing::ScrubJson};
//!
//! let json = ScrubJson::new(Scrubber::builder().build()?);
//! let subscriber = tracing_subscriber::fmt()
//!     .event_format(json.clone())
//!     .fmt_fields(json)
//!     .with_writer(std::io::sink)
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("request", api_key = "k-123").entered();
//!     tracing::warn!(card = "4111 1111 1111 1111", "declined");
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Fields are scrubbed with [`Scrubber::scrub_field`] (the field name decides whether the whole
//! value is a secret) and messages with [`Scrubber::scrub`]. Span and target names are static
//! and are written as they are.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::Scrubber;

// === impl ScrubFields ===

/// A [`FormatFields`] that scrubs every field before writing it as `name=value` text, the
/// message first (like `tracing-subscriber`'s default fields formatter).
///
/// Use it with `tracing_subscriber::fmt().fmt_fields(ScrubFields::new(scrubber))`.
///
/// # Examples
///
/// ```
/// # use std::io::Write;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Capture(Arc<Mutex<Vec<u8>>>);
/// # impl Write for Capture {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
/// #         self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(b);
/// #         Ok(b.len())
/// #     }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// # impl Capture {
/// #     fn text(&self) -> String { self.0.lock().map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default() }
/// # }
/// use stella_scrub::{Scrubber, tracing::ScrubFields};
///
/// let out = Capture::default();
/// let writer = out.clone();
/// let subscriber = tracing_subscriber::fmt()
///     .fmt_fields(ScrubFields::new(Scrubber::builder().build()?))
///     .with_ansi(false)
///     .with_writer(move || writer.clone())
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(password = "hunter2", user = "bob", "login by bob@example.com");
/// });
/// let line = out.text();
/// assert!(line.contains(r#"login by [REDACTED:email] password="[REDACTED:password]" user="bob""#));
/// assert!(!line.contains("hunter2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScrubFields {
    scrubber: Scrubber,
}

impl ScrubFields {
    /// Scrubs with `scrubber`.
    pub fn new(scrubber: Scrubber) -> Self {
        ScrubFields { scrubber }
    }
}

struct TextVisitor<'a, 'w> {
    scrubber: &'a Scrubber,
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &str, quote: bool) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            let clean = self.scrubber.scrub(value);
            write!(self.writer, "{sep}{clean}")
        } else {
            let clean = self.scrubber.scrub_field(field.name(), value);
            if quote {
                write!(self.writer, "{sep}{}={:?}", field.name(), clean.as_ref())
            } else {
                write!(self.writer, "{sep}{}={}", field.name(), clean)
            }
        };
    }
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value, true);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, &value.to_string(), true);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"), false);
    }
}

impl<'w> FormatFields<'w> for ScrubFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = TextVisitor {
            scrubber: &self.scrubber,
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

// === impl ScrubJson ===

/// A JSON event formatter and fields formatter in one: every event becomes one JSON object
/// per line, every field of the event and of its spans scrubbed with [`Scrubber::scrub_json`].
///
/// Use the same value for both:
/// `tracing_subscriber::fmt().event_format(json.clone()).fmt_fields(json)`.
///
/// # Examples
///
/// ```
/// # use std::io::Write;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Capture(Arc<Mutex<Vec<u8>>>);
/// # impl Write for Capture {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
/// #         self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(b);
/// #         Ok(b.len())
/// #     }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// # impl Capture {
/// #     fn text(&self) -> String { self.0.lock().map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default() }
/// # }
/// use stella_scrub::{Scrubber, tracing::ScrubJson};
///
/// let out = Capture::default();
/// let writer = out.clone();
/// let json = ScrubJson::new(Scrubber::builder().build()?);
/// let subscriber = tracing_subscriber::fmt()
///     .event_format(json.clone())
///     .fmt_fields(json)
///     .with_writer(move || writer.clone())
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     let _span = tracing::info_span!("request", api_key = "k-123").entered();
///     tracing::warn!(card = "4111 1111 1111 1111", "declined");
/// });
/// let line: serde_json::Value = serde_json::from_str(out.text().trim())?;
/// assert_eq!(line["fields"]["card"], "[REDACTED:card]");
/// assert_eq!(line["span"]["api_key"], "[REDACTED:api_key]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScrubJson {
    scrubber: Scrubber,
}

impl ScrubJson {
    /// Scrubs with `scrubber`.
    pub fn new(scrubber: Scrubber) -> Self {
        ScrubJson { scrubber }
    }

    fn fields_object<R: RecordFields>(&self, fields: R) -> Map<String, Value> {
        let mut v = JsonVisitor { map: Map::new() };
        fields.record(&mut v);
        match self.scrubber.scrub_json(&Value::Object(v.map)) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

struct JsonVisitor {
    map: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.map
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.map.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.map.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.map.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.map.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.map
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.map
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

impl<'w> FormatFields<'w> for ScrubJson {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let obj = self.fields_object(fields);
        let s = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        writer.write_str(&s)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing_core::span::Record<'_>,
    ) -> fmt::Result {
        let mut obj: Map<String, Value> = serde_json::from_str(&current.fields).unwrap_or_default();
        obj.extend(self.fields_object(fields));
        current.fields = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for ScrubJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert(
            "timestamp".to_owned(),
            Value::String(rfc3339(SystemTime::now())),
        );
        obj.insert("level".to_owned(), Value::String(meta.level().to_string()));
        obj.insert("target".to_owned(), Value::String(meta.target().to_owned()));
        obj.insert(
            "fields".to_owned(),
            Value::Object(self.fields_object(event)),
        );
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let mut s = Map::new();
                s.insert("name".to_owned(), Value::String(span.name().to_owned()));
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>() {
                    match serde_json::from_str::<Map<String, Value>>(&f.fields) {
                        // Fields formatted by ScrubJson are already scrubbed; scrub again in case
                        // another fields formatter wrote them.
                        Ok(m) => {
                            if let Value::Object(m) = self.scrubber.scrub_json(&Value::Object(m)) {
                                s.extend(m);
                            }
                        }
                        Err(_) if !f.fields.is_empty() => {
                            s.insert(
                                "fields".to_owned(),
                                Value::String(self.scrubber.scrub(&f.fields).into_owned()),
                            );
                        }
                        Err(_) => {}
                    }
                }
                spans.push(Value::Object(s));
            }
        }
        if let Some(last) = spans.last() {
            obj.insert("span".to_owned(), last.clone());
        }
        if !spans.is_empty() {
            obj.insert("spans".to_owned(), Value::Array(spans));
        }
        let line = serde_json::to_string(&Value::Object(obj)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// `SystemTime` as RFC 3339 UTC with microseconds.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(1_732_791_198)),
            "2024-11-28T10:53:18.000000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
