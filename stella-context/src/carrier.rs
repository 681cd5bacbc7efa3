//! Carriers: where trace context is read from and written to.
//!
//! A carrier is anything with named string fields: `http::HeaderMap`, a `HashMap<String, String>`
//! (message headers, job metadata), or the trace part of a [`JobEnvelope`](crate::JobEnvelope).
//! Field names are matched case-insensitively, and repeated fields are read in order, as the W3C
//! specifications require for HTTP.

use std::collections::HashMap;
use std::hash::BuildHasher;

use http::header::GetAll;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The propagation fields this crate reads and writes.
///
/// # Examples
///
/// ```
/// use stella_context::carrier::Field;
/// assert_eq!(Field::TraceParent.as_str(), "traceparent");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `traceparent`
    TraceParent,
    /// `tracestate`
    TraceState,
    /// `baggage`
    Baggage,
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

impl Field {
    /// The lowercase field name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TraceParent => "traceparent",
            Self::TraceState => "tracestate",
            Self::Baggage => "baggage",
        }
    }

    /// The HTTP header name.
    pub const fn header_name(self) -> HeaderName {
        match self {
            Self::TraceParent => TRACEPARENT,
            Self::TraceState => TRACESTATE,
            Self::Baggage => BAGGAGE,
        }
    }
}

/// Reads propagation fields from a carrier.
///
/// # Examples
///
/// ```
/// use stella_context::carrier::{Extractor, Field};
///
/// let mut headers = http::HeaderMap::new();
/// headers.append("tracestate", "a=1".parse()?);
/// headers.append("TraceState", "b=2".parse()?);
/// let values: Vec<&[u8]> = headers.get_all_values(Field::TraceState).collect();
/// assert_eq!(values, [&b"a=1"[..], b"b=2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Extractor {
    /// Every value of `field`, in order, with the name matched case-insensitively.
    fn get_all_values(&self, field: Field) -> impl Iterator<Item = &[u8]>;

    /// Every value of `field` as HTTP header values, when the carrier is a header map and can
    /// lend them without copying (one lookup). The default is `None`: use
    /// [`Extractor::get_all_values`].
    fn get_all_headers(&self, field: Field) -> Option<GetAll<'_, HeaderValue>> {
        let _ = field;
        None
    }
}

/// Writes propagation fields into a carrier.
pub trait Injector {
    /// Replaces every value of `field` with `value`.
    fn set_value(&mut self, field: Field, value: &str);
    /// Removes every value of `field`.
    fn remove_value(&mut self, field: Field);

    /// Replaces every value of `field` with an HTTP header value (header maps take it without
    /// copying). The default converts it to text for [`Injector::set_value`].
    fn set_header_value(&mut self, field: Field, value: HeaderValue) {
        match value.to_str() {
            Ok(text) => self.set_value(field, text),
            Err(_) => self.remove_value(field),
        }
    }
}

// === impl HeaderMap ===

impl Extractor for HeaderMap {
    fn get_all_values(&self, field: Field) -> impl Iterator<Item = &[u8]> {
        self.get_all(field.header_name())
            .into_iter()
            .map(HeaderValue::as_bytes)
    }

    fn get_all_headers(&self, field: Field) -> Option<GetAll<'_, HeaderValue>> {
        Some(self.get_all(field.header_name()))
    }
}

impl Injector for HeaderMap {
    fn set_value(&mut self, field: Field, value: &str) {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.insert(field.header_name(), v);
            }
            Err(_) => {
                self.remove(field.header_name());
            }
        }
    }

    fn remove_value(&mut self, field: Field) {
        self.remove(field.header_name());
    }

    fn set_header_value(&mut self, field: Field, value: HeaderValue) {
        self.insert(field.header_name(), value);
    }
}

// === impl HashMap ===

impl<H: BuildHasher> Extractor for HashMap<String, String, H> {
    fn get_all_values(&self, field: Field) -> impl Iterator<Item = &[u8]> {
        let name = field.as_str();
        self.iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl<H: BuildHasher> Injector for HashMap<String, String, H> {
    fn set_value(&mut self, field: Field, value: &str) {
        self.remove_value(field);
        self.insert(field.as_str().to_owned(), value.to_owned());
    }

    fn remove_value(&mut self, field: Field) {
        let name = field.as_str();
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
    }
}
