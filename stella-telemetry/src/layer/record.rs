//! Collecting the fields of one event (raw, into a reusable arena) and of spans (scrubbed once,
//! when recorded).

use std::borrow::Cow;
use std::cell::RefCell;
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
    /// Written through [`Self::put_slot`] (which keeps `set` and `raw`), read directly.
    pub(crate) slots: [Option<(Val, Origin)>; SLOTS],
    /// The slots set, one bit per slot index.
    set: u32,
    /// The slots set with a raw value ([`Origin::Raw`]), one bit per slot index.
    raw: u32,
    pub(crate) message: Option<(usize, usize)>,
    pub(crate) details: Vec<(&'static str, Val, Origin)>,
    /// Error `Display` text and source chain, raw.
    pub(crate) chain: String,
}

impl EventFields {
    pub(crate) fn clear(&mut self) {
        self.arena.clear();
        self.slots = [None; SLOTS];
        self.set = 0;
        self.raw = 0;
        self.message = None;
        self.details.clear();
        self.chain.clear();
    }

    /// Which slots are set, one bit per slot index (there are at most 32 slots).
    pub(crate) fn slots_set(&self) -> u32 {
        self.set
    }

    /// Which slots hold a raw value (to scan when written), one bit per slot index.
    pub(crate) fn slots_raw(&self) -> u32 {
        self.raw
    }

    /// Whether `slot` is still empty.
    #[inline]
    pub(crate) fn is_empty_slot(&self, slot: Slot) -> bool {
        self.set & (1 << slot.index()) == 0
    }

    /// Sets a slot.
    #[inline]
    pub(crate) fn put_slot(&mut self, slot: Slot, val: Val, origin: Origin) {
        let bit = 1 << slot.index();
        if let Some(s) = self.slots.get_mut(slot.index()) {
            *s = Some((val, origin));
            self.set |= bit;
            if origin == Origin::Raw {
                self.raw |= bit;
            } else {
                self.raw &= !bit;
            }
        }
    }

    /// Empties every slot not in `set` (from [`Self::slots_set`]).
    pub(crate) fn keep_slots(&mut self, set: u32) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            if set & (1 << i) == 0 {
                *s = None;
            }
        }
        self.set &= set;
        self.raw &= set;
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
                self.put_slot(slot, val, Origin::Raw);
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
        if self.is_empty_slot(Slot::ErrorMessage) || matches!(name, "error" | "error_message") {
            self.put_slot(Slot::ErrorMessage, Val::Str(start, end), Origin::Raw);
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

/// The scalar methods of a tee visitor: each value to the first visitor (`self.$first`), then
/// to `self.also`, as it is.
macro_rules! tee_scalars {
    ($first:ident) => {
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.$first.record_i64(field, value);
            self.also.record_i64(field, value);
        }

        fn record_u64(&mut self, field: &Field, value: u64) {
            self.$first.record_u64(field, value);
            self.also.record_u64(field, value);
        }

        fn record_f64(&mut self, field: &Field, value: f64) {
            self.$first.record_f64(field, value);
            self.also.record_f64(field, value);
        }

        fn record_bool(&mut self, field: &Field, value: bool) {
            self.$first.record_bool(field, value);
            self.also.record_bool(field, value);
        }

        fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
            self.$first.record_error(field, value);
            self.also.record_error(field, value);
        }
    };
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

    tee_scalars!(ev);
}

// === impl SpanFields ===

/// A byte range of a span's text buffer ([`SpanFields::text`]).
pub(crate) type Range = (usize, usize);

fn at(text: &str, r: Range) -> &str {
    text.get(r.0..r.1).unwrap_or_default()
}

/// A span string, scrubbed when recorded (strictly: no tenant relaxation), as ranges of the
/// span's text buffer. The raw text is kept only when scrubbing changed it, so a deep-debug
/// tenant's lines can rescrub it relaxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanStr {
    /// For a common field, the whole JSON member (`,"route":"/x"`), rendered once so that
    /// every line inside the span copies it as is; under `details`, the `"key":"value"`
    /// member (see [`SpanDetail`]).
    json: Range,
    /// The clean text: the quoted value in `json` as is unless the member needed escapes.
    clean: Range,
    raw: Option<Range>,
}

impl SpanStr {
    /// The scrubbed text.
    pub(crate) fn clean<'t>(&self, text: &'t str) -> &'t str {
        at(text, self.clean)
    }

    /// The whole JSON member.
    #[cfg(test)]
    pub(crate) fn json<'t>(&self, text: &'t str) -> &'t str {
        at(text, self.json)
    }

    /// The length of the whole JSON member.
    pub(crate) fn json_len(&self) -> usize {
        self.json.1 - self.json.0
    }

    /// The range of the whole JSON member.
    pub(crate) fn json_range(&self) -> Range {
        self.json
    }

    /// The text as recorded, when scrubbing changed it.
    pub(crate) fn raw<'t>(&self, text: &'t str) -> Option<&'t str> {
        self.raw.map(|r| at(text, r))
    }

    /// The text as recorded (for grant lookups of the tenant id).
    #[inline]
    pub(crate) fn original<'t>(&self, text: &'t str) -> &'t str {
        self.raw(text).unwrap_or(self.clean(text))
    }

    /// The bytes of the buffer it uses.
    fn size(&self) -> usize {
        let own_clean = if self.clean.0 >= self.json.0 && self.clean.1 <= self.json.1 {
            0
        } else {
            self.clean.1 - self.clean.0
        };
        (self.json.1 - self.json.0) + own_clean + self.raw.map_or(0, |r| r.1 - r.0)
    }

    /// Copies its text into `to`, returning its ranges there.
    fn moved(&self, from: &str, to: &mut String) -> SpanStr {
        let json = push_range(to, at(from, self.json));
        let clean = if self.clean.0 >= self.json.0 && self.clean.1 <= self.json.1 {
            let off = self.clean.0 - self.json.0;
            (json.0 + off, json.0 + off + (self.clean.1 - self.clean.0))
        } else {
            push_range(to, at(from, self.clean))
        };
        let raw = self.raw.map(|r| push_range(to, at(from, r)));
        SpanStr { json, clean, raw }
    }
}

fn push_range(to: &mut String, s: &str) -> Range {
    let start = to.len();
    to.push_str(s);
    (start, to.len())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SpanVal {
    Str(SpanStr),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// The fields of one span, stored in its extensions: every rendered member, clean and raw
/// text in one buffer, the fields as ranges of it. Its buffers go back to the thread that
/// drops it (see [`SpanFields::new`]).
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) text: String,
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
    /// Bytes of `text` no field uses any more (replaced values), reclaimed by compacting.
    dead: usize,
}

/// A span field written under `details`.
#[derive(Debug)]
pub(crate) struct SpanDetail {
    pub(crate) key: &'static str,
    pub(crate) val: SpanVal,
    /// `"key":value`, rendered once when recorded (strings scrubbed strictly).
    pub(crate) json: Range,
}

impl SpanDetail {
    fn size(&self) -> usize {
        match &self.val {
            SpanVal::Str(s) => s.size(),
            _ => self.json.1 - self.json.0,
        }
    }
}

/// The room a span's text buffer gets with its first field: an ingress span's members take
/// about 200 bytes.
const FIRST_TEXT: usize = 256;

/// Text of replaced values a span keeps before its buffer is compacted.
const MAX_DEAD: usize = 1024;

thread_local! {
    /// Buffers of dropped span fields, for the next spans of the thread.
    static SPARE: RefCell<Vec<SpanBuffers>> = const { RefCell::new(Vec::new()) };
}

/// The buffers of a dropped [`SpanFields`], emptied.
#[derive(Debug)]
struct SpanBuffers {
    text: String,
    slots: Vec<(Slot, SpanStr)>,
    details: Vec<SpanDetail>,
    line: String,
}

/// How many spans' buffers a thread keeps.
const SPARE_KEPT: usize = 16;
/// The largest text buffer kept (bytes); a span whose buffers grew past the bounds gives
/// them back to the allocator.
const SPARE_TEXT: usize = 1024;
/// The most common fields or details whose room is kept.
const SPARE_ITEMS: usize = 32;

impl Drop for SpanFields {
    fn drop(&mut self) {
        let fits = self.text.capacity() <= SPARE_TEXT
            && self.line.capacity() <= SPARE_TEXT
            && self.slots.capacity() <= SPARE_ITEMS
            && self.details.capacity() <= SPARE_ITEMS;
        let any = self.text.capacity() > 0
            || self.line.capacity() > 0
            || self.slots.capacity() > 0
            || self.details.capacity() > 0;
        if !fits || !any {
            return;
        }
        let mut b = SpanBuffers {
            text: std::mem::take(&mut self.text),
            slots: std::mem::take(&mut self.slots),
            details: std::mem::take(&mut self.details),
            line: std::mem::take(&mut self.line),
        };
        b.text.clear();
        b.slots.clear();
        b.details.clear();
        b.line.clear();
        // Not kept while the thread shuts down or the list is in use.
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < SPARE_KEPT
            {
                spare.push(b);
            }
        });
    }
}

impl SpanFields {
    /// Empty fields, with the buffers of a span this thread dropped when it kept some: two to
    /// four allocations fewer per span.
    pub(crate) fn new() -> Self {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop()))
            .ok()
            .flatten();
        match spare {
            Some(b) => SpanFields {
                text: b.text,
                slots: b.slots,
                details: b.details,
                line: b.line,
                stale: false,
                any_raw: false,
                dead: 0,
            },
            None => SpanFields::default(),
        }
    }

    #[cfg(any(feature = "otlp", test))]
    pub(crate) fn slot(&self, slot: Slot) -> Option<&SpanStr> {
        self.slots.iter().find(|(s, _)| *s == slot).map(|(_, v)| v)
    }

    /// The bytes of the buffer a common field uses (0 when unset).
    fn slot_size(&self, slot: Slot) -> usize {
        self.slots
            .iter()
            .find(|(s, _)| *s == slot)
            .map_or(0, |(_, v)| v.size())
    }

    /// A range of the text buffer.
    pub(crate) fn str(&self, r: Range) -> &str {
        at(&self.text, r)
    }

    /// Makes room for `n` more bytes; the first time for a whole span's fields at once.
    fn room(&mut self, n: usize) {
        if self.text.capacity() == 0 {
            self.text.reserve_exact(n.max(FIRST_TEXT));
        } else {
            self.text.reserve(n);
        }
    }

    /// Pushes `head`, then `clean` escaped and quoted, then the raw text if any.
    fn push_quoted(&mut self, head: &str, clean: &str, raw: Option<&str>) -> SpanStr {
        let start = self.text.len();
        self.room(head.len() + clean.len() + 2 + raw.map_or(0, str::len));
        self.text.push_str(head);
        self.text.push('"');
        let value_at = self.text.len();
        crate::json::push_escaped(&mut self.text, clean);
        let value_end = self.text.len();
        self.text.push('"');
        let json = (start, self.text.len());
        // The value is in the member as is unless it was escaped.
        let clean = if value_end - value_at == clean.len() {
            (value_at, value_end)
        } else {
            push_range(&mut self.text, clean)
        };
        let raw = raw.map(|r| push_range(&mut self.text, r));
        SpanStr { json, clean, raw }
    }

    /// A common field's value, with its member rendered.
    fn member(&mut self, slot: Slot, clean: &str, raw: Option<&str>) -> SpanStr {
        let head = slot.member_head();
        self.push_quoted(head.strip_suffix('"').unwrap_or(head), clean, raw)
    }

    /// A common field's value that its slot's format accepted (hex ids, a method token:
    /// nothing to escape, nothing to scrub), with its member rendered.
    fn validated(&mut self, slot: Slot, value: &str) -> SpanStr {
        let start = self.text.len();
        self.room(slot.member_head().len() + value.len() + 1);
        self.text.push_str(slot.member_head());
        let value_at = self.text.len();
        self.text.push_str(value);
        let value_end = self.text.len();
        self.text.push('"');
        SpanStr {
            json: (start, self.text.len()),
            clean: (value_at, value_end),
            raw: None,
        }
    }

    /// A string under `details`, with its `"key":"value"` member rendered.
    fn detail_str(&mut self, key: &str, clean: &str, raw: Option<&str>) -> SpanStr {
        let start = self.text.len();
        self.room(key.len() + clean.len() + 5 + raw.map_or(0, str::len));
        crate::json::push_str(&mut self.text, key);
        self.text.push(':');
        // The key rendered here, the quoted value by `push_quoted`.
        let mut s = self.push_quoted("", clean, raw);
        s.json.0 = start;
        s
    }

    /// A number or boolean under `details`: its `"key":value` member.
    fn detail_other(&mut self, key: &str, val: &SpanVal) -> Range {
        let start = self.text.len();
        self.room(key.len() + 26);
        let json = &mut self.text;
        crate::json::push_str(json, key);
        json.push(':');
        match val {
            SpanVal::I64(n) => {
                if *n < 0 {
                    json.push('-');
                }
                super::render::push_u64(json, n.unsigned_abs());
            }
            SpanVal::U64(n) => super::render::push_u64(json, *n),
            SpanVal::F64(n) => crate::json::push_f64(json, *n),
            SpanVal::Bool(b) => json.push_str(if *b { "true" } else { "false" }),
            SpanVal::Str(_) => {}
        }
        (start, self.text.len())
    }

    /// Notes `n` bytes no longer used, compacting the buffer when they pile up.
    fn dropped(&mut self, n: usize) {
        self.dead += n;
        if self.dead > MAX_DEAD && self.dead > self.text.len() / 2 {
            self.compact();
        }
    }

    /// Rebuilds the buffer with the text of the current fields only.
    fn compact(&mut self) {
        let live = self.text.len().saturating_sub(self.dead);
        let mut to = String::with_capacity(live);
        for (_, v) in &mut self.slots {
            *v = v.moved(&self.text, &mut to);
        }
        for d in &mut self.details {
            match &mut d.val {
                SpanVal::Str(s) => {
                    *s = s.moved(&self.text, &mut to);
                    d.json = s.json;
                }
                _ => d.json = push_range(&mut to, at(&self.text, d.json)),
            }
        }
        self.text = to;
        self.dead = 0;
    }

    /// Rebuilds [`Self::line`] after the span's common fields changed.
    pub(crate) fn finish(&mut self) {
        if !self.stale {
            return;
        }
        self.stale = false;
        self.line.clear();
        self.any_raw = false;
        let len: usize = self.slots.iter().map(|(_, v)| v.json.1 - v.json.0).sum();
        self.line.reserve_exact(len);
        for (slot, v) in &self.slots {
            self.any_raw |= v.raw.is_some();
            if *slot != Slot::ErrorMessage {
                self.line.push_str(at(&self.text, v.json));
            }
        }
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
    /// The last string value put was scrubbed (strictly, key-aware) and left unchanged.
    pub(crate) last_clean: bool,
    /// The span's `trace_id`, `span_id` and `parent_span_id` fields are not kept: the trace
    /// bridge renders these members for the span's lines ([`SpanShare::renders_ids`]).
    pub(crate) skip_ids: bool,
}

impl SpanVisitor<'_> {
    /// Whether a string field of this name is left out of the span's fields (hidden, the
    /// message, a span-only field that is no common field, or an id the bridge renders);
    /// `slot` is `Slot::of(name)`.
    fn dropped(&self, name: &str, slot: Option<Slot>) -> bool {
        is_hidden(name)
            || name == "message"
            || (slot.is_none() && is_span_only(name))
            || (self.skip_ids
                && matches!(
                    slot,
                    Some(Slot::TraceId | Slot::SpanId | Slot::ParentSpanId)
                ))
    }

    fn put_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let slot = Slot::of(name);
        if !self.dropped(name, slot) {
            self.put_str_at(name, slot, value);
        }
    }

    /// [`Self::put_str`] for a field not dropped, with its slot looked up.
    fn put_str_at(&mut self, name: &'static str, slot: Option<Slot>, value: &str) {
        self.last_clean = false;
        match slot {
            Some(slot) => {
                let format = slot.format();
                if format != Format::Scanned {
                    if !format.accepts(value) {
                        bump(&self.stats.invalid_fields);
                        let old = self.fields.slot_size(slot);
                        self.fields.slots.retain(|(s, _)| *s != slot);
                        self.fields.stale = true;
                        if old > 0 {
                            self.fields.dropped(old);
                        }
                        return;
                    }
                    let v = self.fields.validated(slot, value);
                    self.set_slot(slot, v);
                    return;
                }
                let (clean, changed) = self.scrub(name, value);
                let v = self.fields.member(slot, &clean, changed.then_some(value));
                self.set_slot(slot, v);
                self.last_clean = !changed;
            }
            None => {
                let (clean, changed) = self.scrub(name, value);
                self.last_clean = !changed;
                let v = self
                    .fields
                    .detail_str(name, &clean, changed.then_some(value));
                let json = v.json;
                self.put_detail(SpanDetail {
                    key: name,
                    val: SpanVal::Str(v),
                    json,
                });
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

    /// The value scrubbed, and whether scrubbing changed it.
    fn scrub<'v>(&mut self, key: &'static str, value: &'v str) -> (Cow<'v, str>, bool) {
        // A plain key's value is free text: a text seen clean before is clean again.
        let plain = self.keys.plain(self.scrubber, key);
        // Ids never repeat: not worth remembering.
        let memo = plain && !crate::fields::is_unique_id(key);
        if memo && self.messages.is_clean(self.scrubber, value) {
            return (Cow::Borrowed(value), false);
        }
        let clean = self.scrub_field(key, value);
        if memo && clean == value {
            self.messages.remember(self.scrubber, value);
        }
        if clean == value {
            (Cow::Borrowed(value), false)
        } else {
            (clean, true)
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
        let mut old = 0;
        match slots.iter().position(|(s, _)| s.index() >= slot.index()) {
            Some(at) => match slots.get_mut(at) {
                Some(e) if e.0 == slot => {
                    old = e.1.size();
                    e.1 = v;
                }
                _ => slots.insert(at, (slot, v)),
            },
            None => slots.push((slot, v)),
        }
        if old > 0 {
            self.fields.dropped(old);
        }
    }

    /// Sets a number or boolean under `details` (never a span-only one: the callers checked).
    fn set_detail(&mut self, name: &'static str, v: SpanVal) {
        let json = self.fields.detail_other(name, &v);
        self.put_detail(SpanDetail {
            key: name,
            val: v,
            json,
        });
    }

    /// Sets a field under `details`, its text already in the span's buffer.
    fn put_detail(&mut self, d: SpanDetail) {
        let mut old = 0;
        match self.fields.details.iter_mut().find(|e| e.key == d.key) {
            Some(e) => {
                old = e.size();
                *e = d;
            }
            None => self.fields.details.push(d),
        }
        if old > 0 {
            self.fields.dropped(old);
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
        if self.dropped(name, slot) {
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
        if self.dropped(name, slot) {
            return;
        }
        self.buf.clear();
        let _ = write!(self.buf, "{value}");
        let s = std::mem::take(&mut self.buf);
        self.put_str_at(name, slot, &s);
        self.buf = s;
    }
}

/// Records a span's fields into [`SpanFields`] (through its [`SpanVisitor`]) and hands each
/// value on to another visitor (the trace bridge's), so that a new span's fields are visited,
/// and its `Debug` values (the ids of an ingress span) formatted, once for both: a `Debug`
/// value this layer formats reaches `also` as its text, by `record_str`; one it leaves out
/// unformatted (`otel.name`, a hidden field) and an error reach `also` as they are, which then
/// formats them itself. A string this layer scrubbed and found unchanged reaches `also` by
/// [`SpanShare::record_clean_str`].
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct SpanTee<'a, 'b, V> {
    pub(crate) span: &'a mut SpanVisitor<'b>,
    pub(crate) also: &'a mut V,
}

/// A visitor fed by [`SpanTee`].
pub(crate) trait SpanShare: Visit {
    /// `record_str` of a text the JSON layer's scrubber left unchanged under this field's
    /// name (strictly, key-aware).
    fn record_clean_str(&mut self, field: &Field, value: &str) {
        self.record_str(field, value);
    }

    /// Whether this visitor renders the span's `trace_id`, `span_id` and `parent_span_id`
    /// members itself (the trace bridge does, from the ids it exports the span under, and
    /// lines take them from there): the JSON layer then does not keep the span's id fields
    /// ([`SpanVisitor::skip_ids`]).
    fn renders_ids(&self) -> bool {
        false
    }
}

impl SpanShare for EventFields {}

impl<V: SpanShare> SpanTee<'_, '_, V> {
    /// Hands on the text `self.span` was just given.
    fn hand_on(&mut self, field: &Field, text: &str) {
        if self.span.last_clean {
            self.also.record_clean_str(field, text);
        } else {
            self.also.record_str(field, text);
        }
    }
}

impl<V: SpanShare> Visit for SpanTee<'_, '_, V> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.span.dropped(field.name(), Slot::of(field.name())) {
            self.also.record_debug(field, value);
            return;
        }
        // The visitor formats the value into `buf` and leaves it there.
        self.span.last_clean = false;
        self.span.record_debug(field, value);
        let text = std::mem::take(&mut self.span.buf);
        self.hand_on(field, &text);
        self.span.buf = text;
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.span.last_clean = false;
        self.span.record_str(field, value);
        self.hand_on(field, value);
    }

    tee_scalars!(span);
}

#[cfg(test)]
mod span_str_tests {
    use super::{EventFields, Origin, Val};
    use crate::fields::Slot;

    #[test]
    fn slots_set_and_kept() {
        let mut ev = EventFields::default();
        assert_eq!(ev.slots_set(), 0);
        let v = ev.push_arena("x");
        for slot in [Slot::TenantId, Slot::SpanId, Slot::ErrorMessage] {
            ev.put_slot(slot, v, Origin::Raw);
        }
        let set = ev.slots_set();
        assert_eq!(set.count_ones(), 3);
        // Filled later (by the spans), then emptied again: the event's own stay.
        let w = ev.push_arena("y");
        ev.put_slot(Slot::Route, w, Origin::Json);
        ev.put_slot(Slot::TraceId, w, Origin::Json);
        assert_eq!(ev.slots_raw(), set);
        ev.keep_slots(set);
        assert_eq!(ev.slots_set(), set);
        assert_eq!(ev.slots_raw(), set);
        assert_eq!(
            ev.slots[Slot::SpanId.index()],
            Some((Val::Str(0, 1), Origin::Raw))
        );
        assert_eq!(ev.slots[Slot::Route.index()], None);
    }

    /// The state a [`SpanVisitor`] borrows, for tests that record span fields directly.
    struct VisitorParts {
        scrubber: stella_scrub::Scrubber,
        stats: crate::stats::Stats,
        keys: crate::layer::keys::KeyCache,
        messages: crate::layer::keys::CleanMessages,
    }

    impl VisitorParts {
        fn new() -> Self {
            VisitorParts {
                scrubber: stella_scrub::Scrubber::builder().build().unwrap(),
                stats: crate::stats::Stats::default(),
                keys: crate::layer::keys::KeyCache::default(),
                messages: crate::layer::keys::CleanMessages::default(),
            }
        }

        fn visitor<'a>(&'a mut self, fields: &'a mut super::SpanFields) -> super::SpanVisitor<'a> {
            super::SpanVisitor {
                fields,
                scrubber: &self.scrubber,
                stats: &self.stats,
                keys: &mut self.keys,
                messages: &mut self.messages,
                buf: String::new(),
                last_clean: false,
                skip_ids: false,
            }
        }
    }

    /// The metadata of a span callsite with `fields`, for recording fields by name.
    macro_rules! span_metadata {
        ($fields:expr) => {{
            struct Cs;
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
                fields: $fields,
                callsite: &CS,
                kind: tracing_core::metadata::Kind::SPAN,
            );
            &META
        }};
    }

    #[test]
    fn span_common_fields_stay_in_slot_order() {
        use super::SpanFields;
        use tracing_core::field::Visit;

        let mut parts = VisitorParts::new();
        let mut fields = SpanFields::default();
        let mut v = parts.visitor(&mut fields);
        // Recorded in the order of `ServerLayer`'s span, then again (replaced in place).
        static FIELDS: &[&str] = &[
            "http.request.method",
            "http.route",
            "request_id",
            "tenant_id",
        ];
        let meta = span_metadata!(FIELDS);
        for value in ["first", "second"] {
            for name in FIELDS {
                let field = meta.fields().field(name).unwrap();
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
        assert_eq!(
            fields.slot(Slot::Route).unwrap().clean(&fields.text),
            "second"
        );
        // The members joined in slot order, rebuilt after the fields changed.
        fields.finish();
        let joined: String = fields
            .slots
            .iter()
            .map(|(_, v)| v.json(&fields.text))
            .collect();
        assert_eq!(fields.line, joined);
        assert!(
            fields
                .line
                .starts_with(",\"tenant_id\":\"second\",\"route\":")
        );
        assert!(!fields.any_raw);
    }

    #[test]
    fn a_dropped_span_s_buffers_come_back_empty_and_big_ones_do_not() {
        use super::{SPARE, SPARE_TEXT, SpanFields};
        use tracing_core::field::Visit;

        // A fresh thread: nothing spare yet.
        std::thread::spawn(|| {
            let spare = || SPARE.with(|s| s.borrow().len());
            let mut parts = VisitorParts::new();
            static FIELDS: &[&str] = &["tenant_id", "phase", "attempt"];
            let meta = span_metadata!(FIELDS);
            let field = |n: &str| meta.fields().field(n).unwrap();
            let mut fields = SpanFields::new();
            let mut v = parts.visitor(&mut fields);
            v.record_str(&field("tenant_id"), "acme");
            v.record_str(&field("phase"), "password=hunter2");
            v.record_u64(&field("attempt"), 3);
            fields.finish();
            assert!(!fields.line.is_empty() && !fields.details.is_empty());
            let text_at = fields.text.as_ptr();
            drop(fields);
            assert_eq!(spare(), 1);
            // The next span takes them: the same allocation, nothing of the first span in it.
            let fields = SpanFields::new();
            assert_eq!(spare(), 0);
            assert_eq!(fields.text.as_ptr(), text_at);
            assert!(fields.text.is_empty() && fields.line.is_empty());
            assert!(fields.slots.is_empty() && fields.details.is_empty());
            assert!(fields.text.capacity() > 0 && fields.slots.capacity() > 0);
            drop(fields);
            // A span whose text grew past the bound gives it back to the allocator.
            let mut big = SpanFields::new();
            big.text.reserve(SPARE_TEXT * 2);
            drop(big);
            assert_eq!(spare(), 0);
            // Spans without buffers keep nothing.
            drop(SpanFields::default());
            assert_eq!(spare(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_member_holds_its_clean_text_once_unless_escaped() {
        use super::SpanFields;
        for (clean, raw) in [
            ("/tenants/{tenant}/evaluate", None),
            ("", None),
            ("say \"hi\"\n\\ é", None),
            ("[REDACTED:email]", Some("bob@example.com")),
        ] {
            let mut f = SpanFields::default();
            let s = f.member(Slot::Route, clean, raw);
            let mut want = String::from(",\"route\":");
            crate::json::push_str(&mut want, clean);
            assert_eq!(s.json(&f.text), want);
            assert_eq!(s.clean(&f.text), clean);
            assert_eq!(s.original(&f.text), raw.unwrap_or(clean));
            let escaped = clean.contains(['"', '\n', '\\']);
            assert_eq!(
                f.text.len(),
                want.len() + if escaped { clean.len() } else { 0 } + raw.map_or(0, str::len),
                "{clean:?}"
            );
            let d = f.detail_str("k\"ey", clean, raw);
            let mut want = String::from("\"k\\\"ey\":");
            crate::json::push_str(&mut want, clean);
            assert_eq!(d.json(&f.text), want);
            assert_eq!(d.clean(&f.text), clean);
            assert_eq!(d.original(&f.text), raw.unwrap_or(clean));
        }
    }

    #[test]
    fn a_span_recorded_many_times_keeps_its_buffer_bounded() {
        use super::{SpanFields, SpanVal};
        use tracing_core::field::Visit;

        let mut parts = VisitorParts::new();
        let mut fields = SpanFields::default();
        let mut v = parts.visitor(&mut fields);
        static FIELDS: &[&str] = &["http.route", "note", "n", "trace_id"];
        let meta = span_metadata!(FIELDS);
        let field = |n: &str| meta.fields().field(n).unwrap();
        for i in 0..10_000u64 {
            v.record_str(&field("http.route"), &format!("/r/{i}"));
            v.record_str(&field("note"), &format!("mail bob{i}@example.com \"q\""));
            v.record_u64(&field("n"), i);
            let id = if i % 2 == 0 {
                "00f067aa0ba902b7"
            } else {
                "not hex"
            };
            v.record_str(&field("trace_id"), id);
        }
        assert!(fields.text.len() < 4096, "{}", fields.text.len());
        let route = fields.slot(Slot::Route).unwrap();
        assert_eq!(route.json(&fields.text), ",\"route\":\"/r/9999\"");
        assert!(fields.slot(Slot::TraceId).is_none());
        fields.finish();
        assert_eq!(fields.line, ",\"route\":\"/r/9999\"");
        let note = &fields.details[0];
        assert_eq!(
            fields.str(note.json),
            "\"note\":\"mail [REDACTED:email] \\\"q\\\"\""
        );
        let SpanVal::Str(s) = note.val else {
            panic!("a string")
        };
        assert_eq!(s.clean(&fields.text), "mail [REDACTED:email] \"q\"");
        assert_eq!(s.original(&fields.text), "mail bob9999@example.com \"q\"");
        assert_eq!(fields.str(fields.details[1].json), "\"n\":9999");
    }
}
