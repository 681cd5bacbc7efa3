//! Which field names are plain (their values are scanned as free text) and which name a
//! secret or PII (the scrubber's key-aware path), learned from the scrubber once per key.

use std::borrow::Cow;
use std::collections::HashMap;

use stella_scrub::{ScrubView, Scrubber};

/// The most keys remembered per thread before the cache starts over.
const MAX_KEYS: usize = 4096;

/// Probe values covering every key-dependent behaviour of `scrub_field`: a plain word (secret
/// keys redact it whole) and one value of each PII shape (PII keys redact those whole).
const PROBES: [&str; 8] = [
    "probe-value",
    "+14155550123",
    "4155550123",
    "bob@example.com",
    "203.0.113.7",
    "078-05-1120",
    "4111111111111111",
    "/home/probe/file",
];

/// A per-thread cache of key classifications, keyed by scrubber and by the `&'static str`
/// field name's address.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    map: HashMap<(usize, usize, usize), bool>,
}

impl KeyCache {
    /// True when `scrub_field(key, v)` equals `scrub(v)` for every probe: the key says nothing,
    /// so free-text scanning is the whole job.
    pub(crate) fn plain(&mut self, scrubber: &Scrubber, key: &'static str) -> bool {
        let id = (
            std::ptr::from_ref(scrubber.grants()) as usize,
            key.as_ptr() as usize,
            key.len(),
        );
        if let Some(p) = self.map.get(&id) {
            return *p;
        }
        let plain = PROBES
            .iter()
            .all(|p| scrubber.scrub_field(key, p) == scrubber.scrub(p));
        if self.map.len() >= MAX_KEYS {
            self.map.clear();
        }
        self.map.insert(id, plain);
        plain
    }
}

/// Scrubs values for one line: the tenant's view plus the key cache.
pub(crate) struct Scan<'a> {
    pub(crate) scrubber: &'a Scrubber,
    pub(crate) view: ScrubView<'a>,
    pub(crate) keys: &'a mut KeyCache,
}

impl Scan<'_> {
    /// `scrub_field(key, value)` for this tenant, skipping the key analysis for plain keys.
    pub(crate) fn field<'v>(&mut self, key: &'static str, value: &'v str) -> Cow<'v, str> {
        if self.keys.plain(self.scrubber, key) {
            self.view.scrub(value)
        } else {
            self.view.scrub_field(key, value)
        }
    }

    /// Free text (the message).
    pub(crate) fn text<'v>(&self, value: &'v str) -> Cow<'v, str> {
        self.view.scrub(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_behaviour() {
        let s = Scrubber::builder().build().unwrap();
        let mut c = KeyCache::default();
        assert!(c.plain(&s, "tenant_id"));
        assert!(c.plain(&s, "decision_reason"));
        assert!(!c.plain(&s, "password"));
        assert!(!c.plain(&s, "client_secret"));
        assert!(c.plain(&s, "tenant_id"));
    }
}
