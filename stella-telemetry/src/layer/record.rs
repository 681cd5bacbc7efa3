//! Collecting the fields of one event (raw, into a reusable arena) and of spans (scrubbed once,
//! when recorded).

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};

use stella_scrub::Scrubber;
use tracing_core::field::{Field, Visit};

use crate::fields::{Format, SLOTS, Slot, is_hidden, is_span_only};
use crate::stats::{Stats, bump};

/// The bound on the raw text collected for `details.stack` from error source chains.
pub(crate) const MAX_CHAIN: usize = 8 * 1024;
/// The most error sources followed.
const MAX_SOURCES: usize = 16;

/// A value collected from an event or span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val {
    /// A byte range of the arena.
    Str(usize, usize),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// Where a resolved value came from, which says whether it is scrubbed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The event, the request context or a raw span value: scan it when writing.
    Raw,
    /// A span value scrubbed when recorded: escape, but do not scan.
    Clean,
    /// A span value rendered when recorded as the whole JSON member (`,"key":"value"` for a
    /// common field, `"key":value` under `details`): write as is.
    Json,
}

const _: () = assert!(SLOTS <= 32, "slots_set keeps one bit per slot in a u32");

/// One event's fields, then the values resolved from spans and the context. Reused across
/// events through a thread-local, so steady-state formatting allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct EventFields {
    pub(crate) arena: String,
    pub(crate) slots: [Option<(Val, Origin)>; SLOTS],
    pub(crate) message: Option<(usize, usize)>,
    pub(crate) details: Vec<(&'static str, Val, Origin)>,
    /// Error `Display` text and source chain, raw.
    pub(crate) chain: String,
}

impl EventFields {
    pub(crate) fn clear(&mut self) {
        self.arena.clear();
        self.slots = [None; SLOTS];
        self.message = None;
        self.details.clear();
        self.chain.clear();
    }

    /// Which slots are set, one bit per slot index (there are at most 32 slots).
    pub(crate) fn slots_set(&self) -> u32 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    /// Empties every slot not in `set` (from [`Self::slots_set`]).
    pub(crate) fn keep_slots(&mut self, set: u32) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            if set & (1 << i) == 0 {
                *s = None;
            }
        }
    }

    pub(crate) fn str_at(&self, start: usize, end: usize) -> &str {
        self.arena.get(start..end).unwrap_or("")
    }

    pub(crate) fn push_arena(&mut self, s: &str) -> Val {
        let start = self.arena.len();
        self.arena.push_str(s);
        Val::Str(start, self.arena.len())
    }

    pub(crate) fn has_detail(&self, key: &str) -> bool {
        self.details.iter().any(|(k, _, _)| *k == key)
    }

    /// The raw text of a slot, if it is a string.
    pub(crate) fn slot_str(&self, slot: Slot) -> Option<&str> {
        match self.slots.get(slot.index()).copied().flatten() {
            Some((Val::Str(s, e), _)) => Some(self.str_at(s, e)),
            _ => None,
        }
    }

    fn set(&mut self, field: &Field, val: Val) {
        let name = field.name();
        if name == "message" {
            if let Val::Str(s, e) = val {
                self.message = Some((s, e));
            }
            return;
        }
        if is_hidden(name) {
            return;
        }
        match Slot::of(name) {
            Some(slot) => {
                let val = match val {
                    Val::Str(..) => val,
                    other => {
                        let start = self.arena.len();
                        let _ = match other {
                            Val::I64(v) => write!(self.arena, "{v}"),
                            Val::U64(v) => write!(self.arena, "{v}"),
                            Val::F64(v) => write!(self.arena, "{v}"),
                            Val::Bool(v) => write!(self.arena, "{v}"),
                            Val::Str(..) => Ok(()),
                        };
                        Val::Str(start, self.arena.len())
                    }
                };
                if let Some(s) = self.slots.get_mut(slot.index()) {
                    *s = Some((val, Origin::Raw));
                }
            }
            None => {
                if let Some(d) = self.details.iter_mut().find(|(k, _, _)| *k == name) {
                    d.1 = val;
                } else {
                    self.details.push((name, val, Origin::Raw));
                }
            }
        }
    }
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let start = self.arena.len();
        let _ = write!(self.arena, "{value:?}");
        self.set(field, Val::Str(start, self.arena.len()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let v = self.push_arena(value);
        self.set(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Val::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Val::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Val::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Val::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        // The error's own text becomes error_message (first line) unless the event set one;
        // the full text and every source go to details.stack.
        let start = self.arena.len();
        let _ = write!(self.arena, "{value}");
        let end = self.arena.len();
        let name = field.name();
        if self
            .slots
            .get(Slot::ErrorMessage.index())
            .copied()
            .flatten()
            .is_none()
            || matches!(name, "error" | "error_message")
        {
            if let Some(s) = self.slots.get_mut(Slot::ErrorMessage.index()) {
                *s = Some((Val::Str(start, end), Origin::Raw));
            }
        } else if !is_hidden(name) && Slot::of(name).is_none() {
            self.details.push((name, Val::Str(start, end), Origin::Raw));
        }
        let mut source = value.source();
        let mut n = 0;
        while let Some(e) = source {
            if n >= MAX_SOURCES || self.chain.len() >= MAX_CHAIN {
                self.chain.push_str("\n...");
                break;
            }
            if !self.chain.is_empty() {
                self.chain.push('\n');
            }
            let _ = write!(self.chain, "caused by: {e}");
            source = e.source();
            n += 1;
        }
    }
}

/// Records an event's fields into [`EventFields`] and hands each value on to another visitor
/// (the trace bridge's), so that the event is visited and its message and `Debug` values
/// formatted once for both: a `Debug` value reaches `also` as its text, by `record_str` (the
/// text the JSON layer scans and writes); an error by `record_error`.
pub(crate) struct Tee<'a, V> {
    pub(crate) ev: &'a mut EventFields,
    pub(crate) also: &'a mut V,
}

impl<V: Visit> Visit for Tee<'_, V> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let start = self.ev.arena.len();
        self.ev.record_debug(field, value);
        let text = self.ev.arena.get(start..).unwrap_or_default();
        self.also.record_str(field, text);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.ev.record_str(field, value);
        self.also.record_str(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.ev.record_i64(field, value);
        self.also.record_i64(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.ev.record_u64(field, value);
        self.also.record_u64(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.ev.record_f64(field, value);
        self.also.record_f64(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.ev.record_bool(field, value);
        self.also.record_bool(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.ev.record_error(field, value);
        self.also.record_error(field, value);
    }
}

// === impl SpanFields ===

/// A span string, scrubbed when recorded (strictly: no tenant relaxation). The raw text is kept
/// only when scrubbing changed it, so a deep-debug tenant's lines can rescrub it relaxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanStr {
    /// For a common field, the whole JSON member (`,"route":"/x"`), rendered once so that
    /// every line inside the span copies it as is; empty under `details` (see [`SpanDetail`]).
    json: String,
    /// The clean text, when it is not the quoted value in `json` as is (under `details`, or
    /// when the member needed escapes): one allocation per common field in the usual case.
    clean: Option<String>,
    /// Where the quoted value starts in `json`.
    value_at: usize,
    pub(crate) raw: Option<String>,
}

impl SpanStr {
    /// A value under `details`.
    pub(crate) fn new(clean: &str, raw: Option<String>) -> SpanStr {
        SpanStr {
            json: String::new(),
            clean: Some(clean.to_owned()),
            value_at: 0,
            raw,
        }
    }

    /// A common field's value, with its member rendered.
    pub(crate) fn member(slot: Slot, clean: &str, raw: Option<String>) -> SpanStr {
        let head = slot.member_head();
        let mut json = String::with_capacity(head.len() + clean.len() + 1);
        json.push_str(head);
        crate::json::push_escaped(&mut json, clean);
        json.push('"');
        // `,"key":"` value `"`: the value is in the member as is unless it was escaped.
        let as_is = json.len() == head.len() + clean.len() + 1;
        SpanStr {
            json,
            clean: (!as_is).then(|| clean.to_owned()),
            value_at: head.len(),
            raw,
        }
    }

    /// A common field's value that its slot's format accepted (hex ids, a method token:
    /// nothing to escape, nothing to scrub), with its member rendered.
    fn validated(slot: Slot, value: &str) -> SpanStr {
        let head = slot.member_head();
        let mut json = String::with_capacity(head.len() + value.len() + 1);
        json.push_str(head);
        json.push_str(value);
        json.push('"');
        SpanStr {
            json,
            clean: None,
            value_at: head.len(),
            raw: None,
        }
    }

    /// The scrubbed text.
    pub(crate) fn clean(&self) -> &str {
        match &self.clean {
            Some(c) => c,
            None => self
                .json
                .get(self.value_at..self.json.len().saturating_sub(1))
                .unwrap_or_default(),
        }
    }

    /// The whole JSON member of a common field (empty under `details`).
    pub(crate) fn json(&self) -> &str {
        &self.json
    }

    /// The text as recorded (for grant lookups of the tenant id).
    pub(crate) fn original(&self) -> &str {
        self.raw.as_deref().unwrap_or(self.clean())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SpanVal {
    Str(SpanStr),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// The fields of one span, stored in its extensions.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    /// In slot order.
    pub(crate) slots: Vec<(Slot, SpanStr)>,
    pub(crate) details: Vec<SpanDetail>,
    /// The members of `slots` (all but `error_message`) joined in slot order, so that a line
    /// that takes them all copies them in one piece; rebuilt by [`Self::finish`].
    pub(crate) line: String,
    /// Set when `slots` changed since `line` was built.
    stale: bool,
    /// Whether a common field's raw text was kept (a deep-debug tenant's line rescrubs it).
    pub(crate) any_raw: bool,
}

/// A span field written under `details`.
#[derive(Debug)]
pub(crate) struct SpanDetail {
    pub(crate) key: &'static str,
    pub(crate) val: SpanVal,
    /// `"key":value`, rendered once when recorded (strings scrubbed strictly).
    pub(crate) json: String,
}

impl SpanDetail {
    fn new(key: &'static str, val: SpanVal) -> SpanDetail {
        let mut json = String::with_capacity(match &val {
            SpanVal::Str(s) => s.clean().len() + key.len() + 5,
            _ => key.len() + 24,
        });
        crate::json::push_str(&mut json, key);
        json.push(':');
        match &val {
            SpanVal::Str(s) => crate::json::push_str(&mut json, s.clean()),
            SpanVal::I64(n) => {
                if *n < 0 {
                    json.push('-');
                }
                super::render::push_u64(&mut json, n.unsigned_abs());
            }
            SpanVal::U64(n) => super::render::push_u64(&mut json, *n),
            SpanVal::F64(n) => crate::json::push_f64(&mut json, *n),
            SpanVal::Bool(b) => json.push_str(if *b { "true" } else { "false" }),
        }
        SpanDetail { key, val, json }
    }
}

impl SpanFields {
    /// Rebuilds [`Self::line`] after the span's common fields changed.
    pub(crate) fn finish(&mut self) {
        if !self.stale {
            return;
        }
        self.stale = false;
        self.line.clear();
        self.any_raw = false;
        let len: usize = self.slots.iter().map(|(_, v)| v.json.len()).sum();
        self.line.reserve_exact(len);
        for (slot, v) in &self.slots {
            self.any_raw |= v.raw.is_some();
            if *slot != Slot::ErrorMessage {
                self.line.push_str(v.json());
            }
        }
    }

    #[cfg(any(feature = "otlp", test))]
    pub(crate) fn slot(&self, slot: Slot) -> Option<&SpanStr> {
        self.slots.iter().find(|(s, _)| *s == slot).map(|(_, v)| v)
    }
}

/// The room a span's common fields get with the first of them: an ingress span has six to
/// nine (the method, route, ids, tenant and the ones recorded later).
const FIRST_SLOTS: usize = 8;

/// Records span fields, scrubbing each string once.
pub(crate) struct SpanVisitor<'a> {
    pub(crate) fields: &'a mut SpanFields,
    pub(crate) scrubber: &'a Scrubber,
    pub(crate) stats: &'a Stats,
    pub(crate) keys: &'a mut super::keys::KeyCache,
    pub(crate) messages: &'a mut super::keys::CleanMessages,
    pub(crate) buf: String,
}

impl SpanVisitor<'_> {
    /// Whether a string field of this name is left out of the span's fields (hidden, the
    /// message, or a span-only field that is no common field); `slot` is `Slot::of(name)`.
    fn dropped(name: &str, slot: Option<Slot>) -> bool {
        is_hidden(name) || name == "message" || (slot.is_none() && is_span_only(name))
    }

    fn put_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let slot = Slot::of(name);
        if !Self::dropped(name, slot) {
            self.put_str_at(name, slot, value);
        }
    }

    /// [`Self::put_str`] for a field not dropped, with its slot looked up.
    fn put_str_at(&mut self, name: &'static str, slot: Option<Slot>, value: &str) {
        match slot {
            Some(slot) => {
                let format = slot.format();
                if format != Format::Scanned {
                    if !format.accepts(value) {
                        bump(&self.stats.invalid_fields);
                        self.fields.slots.retain(|(s, _)| *s != slot);
                        self.fields.stale = true;
                        return;
                    }
                    self.set_slot(slot, SpanStr::validated(slot, value));
                    return;
                }
                let (clean, raw) = self.scrub(name, value);
                self.set_slot(slot, SpanStr::member(slot, &clean, raw));
            }
            None => {
                let (clean, raw) = self.scrub(name, value);
                self.set_detail(name, SpanVal::Str(SpanStr::new(&clean, raw)));
            }
        }
    }

    /// `scrub_field`, skipping the key analysis for keys the cache knows are plain.
    fn scrub_field<'v>(&mut self, key: &'static str, value: &'v str) -> std::borrow::Cow<'v, str> {
        if self.keys.plain(self.scrubber, key) {
            self.scrubber.scrub(value)
        } else {
            self.scrubber.scrub_field(key, value)
        }
    }

    /// The value scrubbed, and the raw text when scrubbing changed it.
    fn scrub<'v>(&mut self, key: &'static str, value: &'v str) -> (Cow<'v, str>, Option<String>) {
        // A plain key's value is free text: a text seen clean before is clean again.
        let plain = self.keys.plain(self.scrubber, key);
        // Ids never repeat: not worth remembering.
        let memo = plain && !crate::fields::is_unique_id(key);
        if memo && self.messages.is_clean(self.scrubber, value) {
            return (Cow::Borrowed(value), None);
        }
        let clean = self.scrub_field(key, value);
        if memo && clean == value {
            self.messages.remember(self.scrubber, value);
        }
        if clean == value {
            (Cow::Borrowed(value), None)
        } else {
            (Cow::Owned(clean.into_owned()), Some(value.to_owned()))
        }
    }

    /// Sets a common field, keeping the span's common fields in slot order (the order of the
    /// line, so that a line copies a span's adjacent members in one piece).
    fn set_slot(&mut self, slot: Slot, v: SpanStr) {
        self.fields.stale = true;
        let slots = &mut self.fields.slots;
        if slots.capacity() == 0 {
            // Room for an ingress span's common fields at once, not grown from four.
            slots.reserve_exact(FIRST_SLOTS);
        }
        match slots.iter().position(|(s, _)| s.index() >= slot.index()) {
            Some(at) => match slots.get_mut(at) {
                Some(e) if e.0 == slot => e.1 = v,
                _ => slots.insert(at, (slot, v)),
            },
            None => slots.push((slot, v)),
        }
    }

    /// Sets a field under `details` (never a span-only one: the callers checked).
    fn set_detail(&mut self, name: &'static str, v: SpanVal) {
        let d = SpanDetail::new(name, v);
        match self.fields.details.iter_mut().find(|e| e.key == name) {
            Some(e) => *e = d,
            None => self.fields.details.push(d),
        }
    }

    fn put_num(&mut self, field: &Field, v: SpanVal) {
        let name = field.name();
        let slot = Slot::of(name);
        if is_hidden(name) || (slot.is_none() && is_span_only(name)) {
            return;
        }
        self.buf.clear();
        match v {
            SpanVal::I64(n) => {
                if n < 0 {
                    self.buf.push('-');
                }
                super::render::push_u64(&mut self.buf, n.unsigned_abs());
            }
            SpanVal::U64(n) => super::render::push_u64(&mut self.buf, n),
            SpanVal::F64(n) => {
                let _ = write!(self.buf, "{n}");
            }
            SpanVal::Bool(_) | SpanVal::Str(_) => {}
        }
        let s = std::mem::take(&mut self.buf);
        let changed = match v {
            _ if slot.is_some() => true,
            SpanVal::U64(n) if self.keys.plain(self.scrubber, name) => {
                !self.messages.number_is_clean(self.scrubber, n, &s)
            }
            SpanVal::I64(n) if n >= 0 && self.keys.plain(self.scrubber, name) => !self
                .messages
                .number_is_clean(self.scrubber, n.unsigned_abs(), &s),
            _ => self.scrub_field(name, &s) != s,
        };
        if changed {
            // An id given as a number, a card number, or a number under a secret key: as text.
            self.put_str(field, &s);
        } else {
            self.set_detail(name, v);
        }
        self.buf = s;
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Not formatted at all when it would be dropped (`otel.name = %..`).
        let (name, slot) = (field.name(), Slot::of(field.name()));
        if Self::dropped(name, slot) {
            return;
        }
        self.buf.clear();
        let _ = write!(self.buf, "{value:?}");
        let s = std::mem::take(&mut self.buf);
        self.put_str_at(name, slot, &s);
        self.buf = s;
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_str(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put_num(field, SpanVal::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put_num(field, SpanVal::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put_num(field, SpanVal::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let name = field.name();
        if is_hidden(name) || is_span_only(name) {
            return;
        }
        self.set_detail(name, SpanVal::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let (name, slot) = (field.name(), Slot::of(field.name()));
        if Self::dropped(name, slot) {
            return;
        }
        self.buf.clear();
        let _ = write!(self.buf, "{value}");
        let s = std::mem::take(&mut self.buf);
        self.put_str_at(name, slot, &s);
        self.buf = s;
    }
}

#[cfg(test)]
mod span_str_tests {
    use super::{EventFields, Origin, SpanStr, Val};
    use crate::fields::Slot;

    #[test]
    fn slots_set_and_kept() {
        let mut ev = EventFields::default();
        assert_eq!(ev.slots_set(), 0);
        let v = ev.push_arena("x");
        for slot in [Slot::TenantId, Slot::SpanId, Slot::ErrorMessage] {
            ev.slots[slot.index()] = Some((v, Origin::Raw));
        }
        let set = ev.slots_set();
        assert_eq!(set.count_ones(), 3);
        // Filled later (by the spans), then emptied again: the event's own stay.
        let w = ev.push_arena("y");
        ev.slots[Slot::Route.index()] = Some((w, Origin::Json));
        ev.slots[Slot::TraceId.index()] = Some((w, Origin::Json));
        ev.keep_slots(set);
        assert_eq!(ev.slots_set(), set);
        assert_eq!(
            ev.slots[Slot::SpanId.index()],
            Some((Val::Str(0, 1), Origin::Raw))
        );
        assert_eq!(ev.slots[Slot::Route.index()], None);
    }

    #[test]
    fn span_common_fields_stay_in_slot_order() {
        use super::{SpanFields, SpanVisitor};
        use crate::stats::Stats;
        use tracing_core::field::Visit;

        let scrubber = stella_scrub::Scrubber::builder().build().unwrap();
        let stats = Stats::default();
        let mut keys = crate::layer::keys::KeyCache::default();
        let mut messages = crate::layer::keys::CleanMessages::default();
        let mut fields = SpanFields::default();
        let mut v = SpanVisitor {
            fields: &mut fields,
            scrubber: &scrubber,
            stats: &stats,
            keys: &mut keys,
            messages: &mut messages,
            buf: String::new(),
        };
        // Recorded in the order of `ServerLayer`'s span, then again (replaced in place).
        struct Cs;
        static FIELDS: &[&str] = &[
            "http.request.method",
            "http.route",
            "request_id",
            "tenant_id",
        ];
        impl tracing_core::callsite::Callsite for Cs {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &tracing_core::Metadata<'_> {
                &META
            }
        }
        static CS: Cs = Cs;
        static META: tracing_core::Metadata<'static> = tracing_core::metadata!(
            name: "span",
            target: "t",
            level: tracing_core::Level::INFO,
            fields: FIELDS,
            callsite: &CS,
            kind: tracing_core::metadata::Kind::SPAN,
        );
        for value in ["first", "second"] {
            for name in FIELDS {
                let field = META.fields().field(name).unwrap();
                let text = if *name == "http.request.method" {
                    "POST"
                } else {
                    value
                };
                v.record_str(&field, text);
            }
        }
        let order: Vec<Slot> = fields.slots.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            order,
            [Slot::TenantId, Slot::Route, Slot::Method, Slot::RequestId]
        );
        assert_eq!(fields.slot(Slot::Route).unwrap().clean(), "second");
        // The members joined in slot order, rebuilt after the fields changed.
        fields.finish();
        let joined: String = fields.slots.iter().map(|(_, v)| v.json()).collect();
        assert_eq!(fields.line, joined);
        assert!(
            fields
                .line
                .starts_with(",\"tenant_id\":\"second\",\"route\":")
        );
        assert!(!fields.any_raw);
    }

    #[test]
    fn a_member_holds_its_clean_text_once_unless_escaped() {
        for (clean, raw) in [
            ("/tenants/{tenant}/evaluate", None),
            ("", None),
            ("say \"hi\"\n\\ é", None),
            ("[REDACTED:email]", Some("bob@example.com".to_owned())),
        ] {
            let s = SpanStr::member(Slot::Route, clean, raw.clone());
            let mut want = String::from(",\"route\":");
            crate::json::push_str(&mut want, clean);
            assert_eq!(s.json(), want);
            assert_eq!(s.clean(), clean);
            assert_eq!(s.original(), raw.as_deref().unwrap_or(clean));
            assert_eq!(
                s.clean.is_some(),
                clean.contains(['"', '\n', '\\']),
                "{clean:?}"
            );
        }
        let d = SpanStr::new("under details", None);
        assert_eq!(d.json(), "");
        assert_eq!(d.clean(), "under details");
        assert_eq!(d.original(), "under details");
    }
}
