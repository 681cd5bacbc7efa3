//! The bridge: a `tracing-subscriber` layer that turns spans into OpenTelemetry span data.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use stella_context::{
    Baggage, CurrentContext, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState,
};
use tracing::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::TraceConfig;
use super::export::Queue;
use super::sampler::HeadSampler;
use super::stats::{Counters, add};
use super::tail::Tail;
use crate::layer::SpanFields;

/// The fields of a decision log copied onto its span.
const DECISION_ATTRIBUTES: [&str; 6] = [
    "decision_effect",
    "decision.kind",
    "decision_reason",
    "policy_version",
    "decision.rule_ids",
    "decision.scopes",
];

/// The longest string attribute kept, in bytes.
const MAX_VALUE_LEN: usize = 4 * 1024;

/// A text of span data: a range of its owner's [`Texts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Text {
    start: u32,
    end: u32,
}

impl Text {
    pub(crate) fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

/// The texts of one span's data (its name and string attribute values) or of its events (their
/// names and string attribute values), in one string: a value is a range of it, so a string
/// costs no allocation of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Texts {
    buf: String,
}

impl Texts {
    /// Appends `s`; returns its range.
    pub(crate) fn push(&mut self, s: &str) -> Text {
        let start = index(self.buf.len());
        if self.buf.capacity() == 0 {
            self.buf.reserve(s.len().max(128));
        }
        self.buf.push_str(s);
        Text {
            start,
            end: index(self.buf.len()),
        }
    }

    /// Appends `value`'s `Debug` text, cut at [`MAX_VALUE_LEN`]; returns its range.
    fn push_debug(&mut self, value: &dyn fmt::Debug) -> Text {
        let start = self.buf.len();
        if self.buf.capacity() == 0 {
            self.buf.reserve(128);
        }
        let _ = write!(self.buf, "{value:?}");
        if self.buf.len() - start > MAX_VALUE_LEN {
            let end = start + self.buf.get(start..).map_or(0, |s| cut(s).len());
            self.buf.truncate(end);
        }
        Text {
            start: index(start),
            end: index(self.buf.len()),
        }
    }

    /// The text of `t` (empty if `t` is not a range of these texts).
    #[inline]
    pub(crate) fn get(&self, t: Text) -> &str {
        self.buf.get(t.start as usize..t.end as usize).unwrap_or("")
    }

    /// All of the texts, with what is no longer referred to.
    #[cfg(test)]
    pub(crate) fn get_all(&self) -> &str {
        &self.buf
    }

    /// Removes `t` when it is the last text appended (a value that was not kept).
    fn pop(&mut self, t: Text) {
        if t.end as usize == self.buf.len() {
            self.buf.truncate(t.start as usize);
        }
    }

    /// The bytes held.
    fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Empties the texts, keeping the buffer when it is within [`MAX_KEPT_TEXT`].
    fn recycle(&mut self) {
        if self.buf.capacity() > MAX_KEPT_TEXT {
            self.buf = String::new();
        } else {
            self.buf.clear();
        }
    }

    /// The value of `v`, its text looked up here.
    #[inline]
    pub(crate) fn value<'a>(&'a self, v: &Value) -> ValueRef<'a> {
        match *v {
            Value::Str(t) => ValueRef::Str(self.get(t)),
            Value::Static(s) => ValueRef::Str(s),
            Value::I64(n) => ValueRef::I64(n),
            Value::F64(n) => ValueRef::F64(n),
            Value::Bool(b) => ValueRef::Bool(b),
        }
    }

    /// Replaces the text of each string value of `attributes` (a range of these texts) by
    /// `f(key, text)` where it returns a new text (scrubbing): the new text is appended and
    /// the value points to it; the old text is no longer referred to.
    fn rewrite(
        &mut self,
        attributes: &mut [(&'static str, Value)],
        mut f: impl FnMut(&'static str, &str) -> Option<String>,
    ) {
        for (k, v) in attributes {
            if let Value::Str(t) = v
                && let Some(new) = f(k, self.get(*t))
            {
                *t = self.push(&new);
            }
        }
    }
}

/// An attribute value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// Raw text, a range of the owner's [`Texts`]: scrubbed before export.
    Str(Text),
    /// A constant of the library (a level name): exported as is.
    Static(&'static str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// An attribute value with its text looked up (see [`Texts::value`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Str(&'a str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// The OTLP span kinds (`SpanKind` enum values of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl Kind {
    /// The kind named `s`, in any case (compared in place: nothing is allocated per span).
    fn parse(s: &str) -> Option<Kind> {
        [
            ("internal", Kind::Internal),
            ("server", Kind::Server),
            ("client", Kind::Client),
            ("producer", Kind::Producer),
            ("consumer", Kind::Consumer),
        ]
        .into_iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name))
        .map(|(_, k)| k)
    }
}

/// The span status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Status {
    #[default]
    Unset,
    Ok,
    Error(String),
}

/// One span event: its name and attributes are ranges of the span's [`Events`] storage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventData {
    pub(crate) time: u64,
    name: Text,
    attributes: (u32, u32),
    /// The name is a message the JSON layer found clean with the export's scrubber: not
    /// scrubbed again before export.
    name_scrubbed: bool,
}

/// The events of one span, in three buffers shared by all of them (the names and string
/// values in one [`Texts`], the attributes in one list), so an event costs no allocation of
/// its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Events {
    list: Vec<EventData>,
    texts: Texts,
    attributes: Vec<(&'static str, Value)>,
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Events {
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Adds an event; its attributes are moved out of `attributes` (whose capacity is kept),
    /// their string values being ranges of `texts`.
    pub(crate) fn push(
        &mut self,
        time: u64,
        name: &str,
        attributes: &mut Vec<(&'static str, Value)>,
        texts: &Texts,
    ) {
        self.push_with(time, name, attributes, texts, false);
    }

    /// [`Self::push`], saying whether the name is already known clean (see
    /// [`EventData::name_scrubbed`]).
    pub(crate) fn push_with(
        &mut self,
        time: u64,
        name: &str,
        attributes: &mut Vec<(&'static str, Value)>,
        texts: &Texts,
        name_scrubbed: bool,
    ) {
        let name = self.texts.push(name);
        let start = index(self.attributes.len());
        if self.attributes.capacity() == 0 {
            self.attributes = Vec::with_capacity(4);
        }
        self.attributes.extend_from_slice(attributes);
        attributes.clear();
        // The texts of string values are copied one by one (not the whole of `texts`: a value
        // left out of `attributes`, such as a decision's actor, is not carried along).
        for (_, v) in self
            .attributes
            .get_mut(start as usize..)
            .unwrap_or_default()
        {
            if let Value::Str(t) = v {
                *t = self.texts.push(texts.get(*t));
            }
        }
        let attributes = (start, index(self.attributes.len()));
        if self.list.capacity() == 0 {
            self.list = Vec::with_capacity(4);
        }
        self.list.push(EventData {
            time,
            name,
            attributes,
            name_scrubbed,
        });
    }

    /// The events, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &EventData> {
        self.list.iter()
    }

    /// An event's name.
    pub(crate) fn name(&self, e: &EventData) -> &str {
        self.texts.get(e.name)
    }

    /// An event's attributes (their texts in [`Self::texts`]).
    pub(crate) fn attributes(&self, e: &EventData) -> &[(&'static str, Value)] {
        self.attributes
            .get(e.attributes.0 as usize..e.attributes.1 as usize)
            .unwrap_or(&[])
    }

    /// The texts of the events' names and string values.
    pub(crate) fn texts(&self) -> &Texts {
        &self.texts
    }

    /// Empties the events, keeping each buffer whose capacity is within the reuse bounds
    /// (freeing the others).
    fn recycle(&mut self) {
        keep_cleared(&mut self.list, MAX_KEPT_EVENTS);
        keep_cleared(&mut self.attributes, MAX_KEPT_ATTRIBUTES);
        self.texts.recycle();
    }

    /// The bytes of the buffers held.
    fn retained_bytes(&self) -> usize {
        bytes_of(&self.list) + bytes_of(&self.attributes) + self.texts.capacity()
    }

    /// Replaces each event's name by `f(name)` where it returns a new text (scrubbing; names
    /// known clean are not passed to `f`).
    pub(crate) fn rewrite_names(&mut self, mut f: impl FnMut(&str) -> Option<String>) {
        for e in &mut self.list {
            if e.name_scrubbed {
                continue;
            }
            if let Some(new) = f(self.texts.get(e.name)) {
                e.name = self.texts.push(&new);
            }
        }
    }

    /// Replaces each string value of the events' attributes by `f(key, text)` where it
    /// returns a new text (scrubbing).
    pub(crate) fn rewrite_values(&mut self, f: impl FnMut(&'static str, &str) -> Option<String>) {
        self.texts.rewrite(&mut self.attributes, f);
    }
}

/// The largest buffers a recycled span keeps (see [`SpanData::recycle`]): texts of 1 KiB (the
/// span's, and its events'), 32 attributes (the span's, and its events'), 16 events, 8 links;
/// at most about 6 KiB per span. Larger ones are freed.
const MAX_KEPT_TEXT: usize = 1024;
const MAX_KEPT_ATTRIBUTES: usize = 32;
const MAX_KEPT_EVENTS: usize = 16;
const MAX_KEPT_LINKS: usize = 8;

/// Empties `list`, keeping its buffer when it holds at most `max` entries (else freeing it).
fn keep_cleared<T>(list: &mut Vec<T>, max: usize) {
    if list.capacity() > max {
        *list = Vec::new();
    } else {
        list.clear();
    }
}

/// The bytes of `list`'s buffer.
fn bytes_of<T>(list: &Vec<T>) -> usize {
    list.capacity() * std::mem::size_of::<T>()
}

/// A span's name: a constant (a `tracing` span's static name), else a range of its texts.
#[derive(Debug, Clone, Copy)]
enum Name {
    Static(&'static str),
    Text(Text),
}

/// Bytes of a span's texts no longer referred to (replaced values) above which the texts are
/// compacted, when they are also more than half of them.
const MAX_STALE_TEXT: usize = 1024;

/// Everything exported about one span.
#[derive(Debug, Clone)]
pub(crate) struct SpanData {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    pub(crate) sampled: bool,
    pub(crate) local_root: bool,
    name: Name,
    pub(crate) kind: Kind,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The attributes; their string values are ranges of `texts`.
    attributes: Vec<(&'static str, Value)>,
    /// The name (unless static) and the string attribute values.
    texts: Texts,
    /// Bytes of `texts` that replaced values left behind.
    stale: usize,
    /// The attributes (by index, the first 64) whose text the JSON layer found clean with
    /// the export's scrubber under the same key: not scrubbed again before export.
    clean: u64,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Events,
    pub(crate) dropped_events: u32,
    pub(crate) links: Vec<([u8; 16], [u8; 8])>,
    pub(crate) status: Status,
    pub(crate) tenant: Option<String>,
    /// The span's `trace_id` and `span_id` members as the JSON layer writes them in the lines
    /// inside the span, rendered once when the span starts (empty until then).
    pub(crate) ids_json: String,
}

impl SpanData {
    /// A span named `name`, with no ids, times, attributes or events (and no allocation).
    pub(crate) fn new(name: &'static str) -> SpanData {
        SpanData {
            trace_id: [0; 16],
            span_id: [0; 8],
            parent_span_id: None,
            sampled: false,
            local_root: true,
            name: Name::Static(name),
            kind: Kind::Internal,
            start: 0,
            end: 0,
            attributes: Vec::new(),
            texts: Texts::default(),
            stale: 0,
            clean: 0,
            dropped_attributes: 0,
            events: Events::default(),
            dropped_events: 0,
            links: Vec::new(),
            status: Status::Unset,
            tenant: None,
            ids_json: String::new(),
        }
    }

    pub(crate) fn is_error(&self) -> bool {
        matches!(self.status, Status::Error(_))
    }

    pub(crate) fn duration_nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub(crate) fn name(&self) -> &str {
        match self.name {
            Name::Static(s) => s,
            Name::Text(t) => self.texts.get(t),
        }
    }

    /// Whether the name was given at run time (a copy in the span's texts), not a constant.
    pub(crate) fn has_runtime_name(&self) -> bool {
        matches!(self.name, Name::Text(_))
    }

    /// Names the span with a constant.
    pub(crate) fn set_static_name(&mut self, name: &'static str) {
        self.replace_name(Name::Static(name));
    }

    /// Names the span with a copy of `name`.
    pub(crate) fn set_name(&mut self, name: &str) {
        let t = self.texts.push(name);
        self.replace_name(Name::Text(t));
    }

    /// Names the span (a constant stays one, an owned name is copied).
    pub(crate) fn set_name_cow(&mut self, name: Cow<'static, str>) {
        match name {
            Cow::Borrowed(s) => self.set_static_name(s),
            Cow::Owned(s) => self.set_name(&s),
        }
    }

    fn set_name_debug(&mut self, value: &dyn fmt::Debug) {
        let t = self.texts.push_debug(value);
        self.replace_name(Name::Text(t));
    }

    fn replace_name(&mut self, name: Name) {
        if let Name::Text(old) = std::mem::replace(&mut self.name, name) {
            self.left_behind(old);
        }
    }

    /// The attributes (their texts in [`Self::texts`]).
    pub(crate) fn attributes(&self) -> &[(&'static str, Value)] {
        &self.attributes
    }

    /// The texts of the name and the string attribute values.
    pub(crate) fn texts(&self) -> &Texts {
        &self.texts
    }

    /// The texts, to append a string value to (then set with [`Self::set_attribute`]).
    pub(crate) fn texts_mut(&mut self) -> &mut Texts {
        &mut self.texts
    }

    /// The text of the string attribute `key`, if any.
    pub(crate) fn str_attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find_map(|(k, v)| match v {
            Value::Str(t) if *k == key => Some(self.texts.get(*t)),
            _ => None,
        })
    }

    /// Sets attribute `key` to `value` (a `Value::Str` must be a range of this span's texts):
    /// its value is replaced, else it is added while there are fewer than `max`. Returns
    /// whether it was set (`false`: dropped).
    pub(crate) fn set_attribute(&mut self, key: &'static str, value: Value, max: usize) -> bool {
        self.set_attribute_at(key, value, max).is_some()
    }

    /// [`Self::set_attribute`], returning the attribute's index when it was set.
    fn set_attribute_at(&mut self, key: &'static str, value: Value, max: usize) -> Option<usize> {
        if let Some(i) = self.attributes.iter().position(|(k, _)| *k == key) {
            // The new value's verdict is not known.
            self.clean &= !clean_bit(i);
            let slot = self.attributes.get_mut(i)?;
            let old = std::mem::replace(&mut slot.1, value);
            if let Value::Str(t) = old {
                self.left_behind(t);
            }
            Some(i)
        } else if self.attributes.len() < max {
            self.attributes.push((key, value));
            Some(self.attributes.len() - 1)
        } else {
            if let Value::Str(t) = value {
                // Its text was just appended: not kept either.
                self.texts.pop(t);
            }
            None
        }
    }

    /// Makes room for `n` more attributes.
    pub(crate) fn reserve_attributes(&mut self, n: usize) {
        self.attributes.reserve(n);
    }

    /// Adds an attribute without looking for its key (the library's own attributes, added
    /// once).
    pub(crate) fn push_attribute(&mut self, key: &'static str, value: Value) {
        self.attributes.push((key, value));
    }

    /// [`Self::set_attribute_str`] of a text the JSON layer found clean with the export's
    /// scrubber under `key`: marked so that it is not scrubbed again before export.
    fn set_attribute_clean_str(&mut self, key: &'static str, value: &str, max: usize) -> bool {
        if !self.has_room(key, max) {
            return false;
        }
        let t = self.texts.push(value);
        match self.set_attribute_at(key, Value::Str(t), max) {
            Some(i) => {
                self.clean |= clean_bit(i);
                true
            }
            None => false,
        }
    }

    /// [`Self::set_attribute`] with a copy of the text `value`.
    pub(crate) fn set_attribute_str(&mut self, key: &'static str, value: &str, max: usize) -> bool {
        if !self.has_room(key, max) {
            return false;
        }
        let t = self.texts.push(value);
        self.set_attribute(key, Value::Str(t), max)
    }

    /// [`Self::set_attribute`] with `value`'s `Debug` text, cut at [`MAX_VALUE_LEN`].
    fn set_attribute_debug(
        &mut self,
        key: &'static str,
        value: &dyn fmt::Debug,
        max: usize,
    ) -> bool {
        if !self.has_room(key, max) {
            return false;
        }
        let t = self.texts.push_debug(value);
        self.set_attribute(key, Value::Str(t), max)
    }

    /// Whether attribute `key` can be set (it is there already, or there is room).
    fn has_room(&self, key: &str, max: usize) -> bool {
        self.attributes.len() < max || self.attributes.iter().any(|(k, _)| *k == key)
    }

    /// Empties the span for reuse: every field as [`SpanData::new`] leaves it (nothing of the
    /// span is left: ids, times, name, attributes, events, links, status, tenant), keeping the
    /// buffers within the reuse bounds ([`MAX_KEPT_TEXT`] and the others) and freeing the
    /// others. Returns the bytes of the buffers kept.
    pub(crate) fn recycle(&mut self) -> usize {
        // Field by field, in place (no whole new span built and the old one dropped); every
        // field is named, so a new one cannot be forgotten here.
        let SpanData {
            trace_id,
            span_id,
            parent_span_id,
            sampled,
            local_root,
            name,
            kind,
            start,
            end,
            attributes,
            texts,
            stale,
            clean,
            dropped_attributes,
            events,
            dropped_events,
            links,
            status,
            tenant,
            ids_json,
        } = self;
        *trace_id = [0; 16];
        *span_id = [0; 8];
        *parent_span_id = None;
        *sampled = false;
        *local_root = true;
        *name = Name::Static("");
        *kind = Kind::Internal;
        *start = 0;
        *end = 0;
        keep_cleared(attributes, MAX_KEPT_ATTRIBUTES);
        texts.recycle();
        *stale = 0;
        *clean = 0;
        *dropped_attributes = 0;
        events.recycle();
        *dropped_events = 0;
        keep_cleared(links, MAX_KEPT_LINKS);
        *status = Status::Unset;
        *tenant = None;
        ids_json.clear();
        self.retained_bytes()
    }

    /// The bytes of the buffers held.
    pub(crate) fn retained_bytes(&self) -> usize {
        bytes_of(&self.attributes)
            + self.texts.capacity()
            + self.events.retained_bytes()
            + bytes_of(&self.links)
            + self.ids_json.capacity()
    }

    /// Empties the span as [`Self::recycle`] does but for its ids, sampling flags and tenant
    /// (what a span that is not recorded keeps, for its children).
    pub(crate) fn keep_ids_only(&mut self) {
        let (trace_id, span_id, parent_span_id) =
            (self.trace_id, self.span_id, self.parent_span_id);
        let (sampled, local_root, tenant) = (self.sampled, self.local_root, self.tenant.take());
        self.recycle();
        self.trace_id = trace_id;
        self.span_id = span_id;
        self.parent_span_id = parent_span_id;
        self.sampled = sampled;
        self.local_root = local_root;
        self.tenant = tenant;
    }

    /// Replaces the text of each string attribute value by `f(key, text)` where it returns a
    /// new text (scrubbing), but for the values marked clean.
    pub(crate) fn rewrite_values(
        &mut self,
        mut f: impl FnMut(&'static str, &str) -> Option<String>,
    ) {
        if self.clean == 0 {
            self.texts.rewrite(&mut self.attributes, f);
            return;
        }
        for (i, (k, v)) in self.attributes.iter_mut().enumerate() {
            if let Value::Str(t) = v
                && self.clean & clean_bit(i) == 0
                && let Some(new) = f(k, self.texts.get(*t))
            {
                *t = self.texts.push(&new);
            }
        }
    }

    /// A text of the span is no longer referred to: the texts are compacted once such texts
    /// are over [`MAX_STALE_TEXT`] bytes and half of them (so a span whose attributes are
    /// recorded again and again holds at most about twice its live texts).
    fn left_behind(&mut self, t: Text) {
        if t.end as usize == self.texts.len() {
            // The last text: simply dropped (nothing was appended after it).
            self.texts.pop(t);
            return;
        }
        self.stale += t.len();
        if self.stale > MAX_STALE_TEXT && self.stale * 2 > self.texts.len() {
            self.compact();
        }
    }

    /// Copies the texts still referred to into a new buffer.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.texts);
        self.texts.buf = String::with_capacity(old.len().saturating_sub(self.stale));
        self.stale = 0;
        if let Name::Text(t) = &mut self.name {
            *t = self.texts.push(old.get(*t));
        }
        for (_, v) in &mut self.attributes {
            if let Value::Str(t) = v {
                *t = self.texts.push(old.get(*t));
            }
        }
    }
}

/// An attribute value with its own text, to build and read span data in tests.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    Str(String),
    Static(&'static str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

#[cfg(test)]
impl Plain {
    fn value(&self, texts: &mut Texts) -> Value {
        match self {
            Plain::Str(s) => Value::Str(texts.push(s)),
            Plain::Static(s) => Value::Static(s),
            Plain::I64(n) => Value::I64(*n),
            Plain::F64(n) => Value::F64(*n),
            Plain::Bool(b) => Value::Bool(*b),
        }
    }

    fn of(texts: &Texts, v: &Value) -> Plain {
        match *v {
            Value::Str(t) => Plain::Str(texts.get(t).to_owned()),
            Value::Static(s) => Plain::Static(s),
            Value::I64(n) => Plain::I64(n),
            Value::F64(n) => Plain::F64(n),
            Value::Bool(b) => Plain::Bool(b),
        }
    }
}

#[cfg(test)]
impl Events {
    /// Sets every event's time to zero.
    pub(crate) fn clear_times(&mut self) {
        for e in &mut self.list {
            e.time = 0;
        }
    }

    /// Adds an event with these attributes.
    pub(crate) fn push_plain(
        &mut self,
        time: u64,
        name: &str,
        attributes: &[(&'static str, Plain)],
    ) {
        let mut texts = Texts::default();
        let mut list: Vec<_> = attributes
            .iter()
            .map(|(k, v)| (*k, v.value(&mut texts)))
            .collect();
        self.push(time, name, &mut list, &texts);
    }

    /// An event's attributes with their texts.
    pub(crate) fn plain_attributes(&self, e: &EventData) -> Vec<(&'static str, Plain)> {
        self.attributes(e)
            .iter()
            .map(|(k, v)| (*k, Plain::of(&self.texts, v)))
            .collect()
    }
}

#[cfg(test)]
impl SpanData {
    /// Adds an attribute as is (even a key already there).
    pub(crate) fn push_plain(&mut self, key: &'static str, value: Plain) {
        let v = value.value(&mut self.texts);
        self.attributes.push((key, v));
    }

    /// How many attributes are marked clean.
    pub(crate) fn clean_marks(&self) -> u32 {
        self.clean.count_ones()
    }

    /// Removes every attribute.
    pub(crate) fn clear_attributes(&mut self) {
        self.attributes.clear();
        self.clean = 0;
    }

    /// The attributes with their texts.
    pub(crate) fn plain_attributes(&self) -> Vec<(&'static str, Plain)> {
        self.attributes
            .iter()
            .map(|(k, v)| (*k, Plain::of(&self.texts, v)))
            .collect()
    }
}

/// The bit of attribute `i` in [`SpanData::clean`] (none past the first 64).
fn clean_bit(i: usize) -> u64 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}

/// What a span keeps in its extensions.
#[derive(Debug)]
pub(crate) struct SpanState {
    /// Boxed: it is moved from the pool to the span, to the queue and back whole.
    data: Box<SpanData>,
    recording: bool,
    /// The span's own trace context (read by the JSON layer, exemplars and the OpenTelemetry
    /// API tracer through [`span_trace_context`]); kept here so a span has one extension of
    /// the bridge, not two.
    trace: Option<TraceContext>,
    /// The span's tenant was in incident mode when it started: every log event is copied
    /// into it, whatever the span event level.
    incident: bool,
    /// The JSON layer's fields of the span, when it shared the visit of the span's fields
    /// (see [`crate::layer::fields_of`]): one extension, and one allocation, for both layers.
    fields: Option<SpanFields>,
}

/// The JSON layer's fields of a span kept in the bridge's state.
pub(crate) fn span_fields<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<&'a SpanFields> {
    ext.get::<SpanState>().and_then(|s| s.fields.as_ref())
}

/// [`span_fields`], to change them.
pub(crate) fn span_fields_mut<'a>(
    ext: &'a mut tracing_subscriber::registry::ExtensionsMut<'_>,
) -> Option<&'a mut SpanFields> {
    ext.get_mut::<SpanState>().and_then(|s| s.fields.as_mut())
}

/// What the JSON layer reads of a span the bridge has state for, with one lookup: the
/// `trace_id` and `span_id` members of the lines inside it (rendered when it started, see
/// [`SpanData::ids_json`]; empty without a trace context), its trace context and the JSON
/// layer's fields kept here.
pub(crate) fn span_state<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<(&'a str, Option<&'a TraceContext>, Option<&'a SpanFields>)> {
    ext.get::<SpanState>().map(|s| {
        (
            s.data.ids_json.as_str(),
            s.trace.as_ref(),
            s.fields.as_ref(),
        )
    })
}

/// The trace context the bridge gave a span, from the span's extensions.
pub(crate) fn span_trace_context<'a>(
    ext: &'a tracing_subscriber::registry::Extensions<'_>,
) -> Option<&'a TraceContext> {
    ext.get::<SpanState>().and_then(|s| s.trace.as_ref())
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The shared state of the bridge: sampler, tail buffer, export queue, counters.
pub(crate) struct Pipeline {
    pub(crate) sampler: HeadSampler,
    tail: Option<Mutex<Tail>>,
    queue: Arc<Queue>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) max_attributes: usize,
    pub(crate) max_events: usize,
    /// The least severe event copied into its span ([`TraceConfig::with_span_event_level`]).
    span_event_level: Level,
    incidents: Arc<crate::incident::Incidents>,
    /// The identity (grants address) of the scrubber spans are scrubbed with before export.
    scrubber_id: usize,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("sampler", &self.sampler)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn new(
        config: &TraceConfig,
        queue: Arc<Queue>,
        stats: Arc<Counters>,
        incidents: Arc<crate::incident::Incidents>,
        scrubber: &stella_scrub::Scrubber,
    ) -> Self {
        Pipeline {
            scrubber_id: std::ptr::from_ref(scrubber.grants()) as usize,
            sampler: HeadSampler::new(config.ratio, config.parent_based),
            tail: config.tail.then(|| Mutex::new(Tail::new(config))),
            queue,
            stats,
            max_attributes: config.max_attributes,
            max_events: config.max_events,
            span_event_level: config.span_event_level,
            incidents,
        }
    }

    /// Span data named `name`, otherwise empty: an exported span's, with its buffers, when
    /// the pool has one (see [`Queue::take_span`]), else a new one.
    pub(crate) fn span_data(&self, name: &'static str) -> Box<SpanData> {
        match self.queue.take_span() {
            Some(mut data) => {
                data.set_static_name(name);
                data
            }
            None => Box::new(SpanData::new(name)),
        }
    }

    /// Hands span data that will not be exported back to the pool (never waits).
    pub(crate) fn recycle(&self, data: Box<SpanData>) {
        self.queue.recycle(data);
    }

    /// Spans waiting in the export queue.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// The housekeeping tick: applies the tail buffer's age bound even when no span ends.
    pub(crate) fn sweep(&self) {
        let Some(tail) = &self.tail else { return };
        let mut out = Vec::new();
        {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.sweep(now_nanos(), &mut out, &self.stats);
        }
        if !out.is_empty() {
            self.queue.push(out.into_iter(), &self.stats);
        }
    }

    /// Whether spans the head sampler did not keep are recorded (for the tail sampler).
    pub(crate) fn records_unsampled(&self) -> bool {
        self.tail.is_some()
    }

    /// A span ended: export it, buffer it for the tail decision, or let it go.
    pub(crate) fn finish(&self, span: Box<SpanData>) {
        if span.sampled {
            self.queue.push_one(span, &self.stats);
            return;
        }
        let Some(tail) = &self.tail else { return };
        let mut out = Vec::new();
        {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.offer(span, now_nanos(), &mut out, &self.stats);
        }
        if !out.is_empty() {
            self.queue.push(out.into_iter(), &self.stats);
        }
    }
}

/// The bridge layer.
#[derive(Clone, Debug)]
pub(crate) struct OtelLayer {
    pipeline: Arc<Pipeline>,
}

impl OtelLayer {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        OtelLayer { pipeline }
    }

    /// Whether spans are scrubbed with this scrubber before export (the same grants registry, so the
    /// same verdicts).
    pub(crate) fn scrubs_with(&self, scrubber: &stella_scrub::Scrubber) -> bool {
        std::ptr::from_ref(scrubber.grants()) as usize == self.pipeline.scrubber_id
    }
}

/// Ids and hints read from a span's fields.
#[derive(Default)]
struct Hints {
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    parent_span_id: Option<SpanId>,
    link_trace: Option<TraceId>,
    link_span: Option<SpanId>,
}

/// Records fields into span data (raw: the export worker scrubs them before encoding).
pub(crate) struct FieldVisitor<'a> {
    data: &'a mut SpanData,
    hints: Option<&'a mut Hints>,
    max_attributes: usize,
    buf: String,
    /// The JSON layer scrubs with the export's scrubber: a text it found clean is marked so.
    clean_shared: bool,
}

impl FieldVisitor<'_> {
    /// Takes the JSON layer's verdicts of clean texts (it scrubs with the export's scrubber,
    /// see [`OtelLayer::scrubs_with`]).
    pub(crate) fn share_clean(&mut self, yes: bool) {
        self.clean_shared = yes;
    }
}

impl crate::layer::SpanShare for FieldVisitor<'_> {
    fn renders_ids(&self) -> bool {
        true
    }

    fn record_clean_str(&mut self, field: &Field, value: &str) {
        let key = field.name();
        // Only a text kept whole, as an attribute (not an id, a name or a status).
        if !self.clean_shared || cut(value).len() != value.len() {
            self.string(key, value);
            return;
        }
        if self.special(key, value) {
            return;
        }
        let set = self
            .data
            .set_attribute_clean_str(key, value, self.max_attributes);
        self.count(set);
    }
}

fn cut(s: &str) -> &str {
    crate::json::prefix(s, MAX_VALUE_LEN)
}

/// The fields whose text the bridge reads as ids and links instead of attributes.
const HINT_KEYS: [&str; 6] = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "link.trace_id",
    "link.span_id",
    "link.count",
];

/// The text of an id field, written into a stack buffer: an id is at most 32 hex digits, so
/// a longer text is not one (and is read as the empty text, which no id parses from).
#[derive(Default)]
struct IdText {
    buf: [u8; 32],
    len: usize,
    long: bool,
}

impl IdText {
    fn as_bytes(&self) -> &[u8] {
        if self.long {
            return &[];
        }
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// A trace id's text as `TraceId`'s `FromStr` reads it (32 lowercase hex digits, not all
/// zero), without the text being a `str`.
fn trace_id(text: &[u8]) -> Option<TraceId> {
    TraceId::parse_bytes(text).ok()
}

/// A span id's text as `SpanId`'s `FromStr` reads it (16 lowercase hex digits, not all zero).
fn span_id(text: &[u8]) -> Option<SpanId> {
    SpanId::parse_bytes(text).ok()
}

impl fmt::Write for IdText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.saturating_add(s.len());
        match self.buf.get_mut(self.len..end) {
            Some(dst) if !self.long => {
                dst.copy_from_slice(s.as_bytes());
                self.len = end;
            }
            _ => self.long = true,
        }
        Ok(())
    }
}

impl FieldVisitor<'_> {
    /// Counts an attribute that did not fit (`set` is false).
    fn count(&mut self, set: bool) {
        if !set {
            self.data.dropped_attributes = self.data.dropped_attributes.saturating_add(1);
        }
    }

    fn push(&mut self, key: &'static str, value: Value) {
        let set = self.data.set_attribute(key, value, self.max_attributes);
        self.count(set);
    }

    /// Reads an id field's text (when ids are read: a new span).
    fn id(&mut self, key: &str, value: &[u8]) {
        if let Some(h) = self.hints.as_deref_mut() {
            match key {
                "trace_id" => h.trace_id = trace_id(value),
                "span_id" => h.span_id = span_id(value),
                "parent_span_id" => h.parent_span_id = span_id(value),
                "link.trace_id" => h.link_trace = trace_id(value),
                _ => h.link_span = span_id(value),
            }
        }
    }

    fn special(&mut self, key: &'static str, value: &str) -> bool {
        match key {
            "otel.name" => self.data.set_name(cut(value)),
            "otel.kind" => {
                if let Some(k) = Kind::parse(value) {
                    self.data.kind = k;
                }
            }
            "otel.status_code" => {
                self.data.status = if value.eq_ignore_ascii_case("error") {
                    match &self.data.status {
                        Status::Error(m) => Status::Error(m.clone()),
                        _ => Status::Error(String::new()),
                    }
                } else if value.eq_ignore_ascii_case("ok") {
                    Status::Ok
                } else {
                    Status::Unset
                };
            }
            "otel.status_description" | "otel.status_message" => {
                let m = cut(value).to_owned();
                self.data.status = Status::Error(m);
            }
            "trace_id" | "span_id" | "parent_span_id" | "link.trace_id" | "link.span_id" => {
                self.id(key, value.as_bytes());
            }
            "link.count" => {}
            _ if key.starts_with("otel.") => {}
            _ => return false,
        }
        true
    }

    fn string(&mut self, key: &'static str, value: &str) {
        if self.special(key, value) {
            return;
        }
        let set = self
            .data
            .set_attribute_str(key, cut(value), self.max_attributes);
        self.count(set);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let key = field.name();
        if key == "otel.name" {
            // Formatted straight into the span's texts.
            self.data.set_name_debug(value);
            return;
        }
        if !key.starts_with("otel.") && !HINT_KEYS.contains(&key) {
            let set = self
                .data
                .set_attribute_debug(key, value, self.max_attributes);
            self.count(set);
            return;
        }
        if matches!(
            key,
            "trace_id" | "span_id" | "parent_span_id" | "link.trace_id" | "link.span_id"
        ) {
            // An id (a `Display` of stella-context's ids, most often): its text is written
            // into a stack buffer and parsed from there, only when ids are read (a new span).
            if self.hints.is_some() {
                let mut id = IdText::default();
                let _ = write!(id, "{value:?}");
                self.id(key, id.as_bytes());
            }
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let _ = write!(buf, "{value:?}");
        self.string(key, &buf);
        self.buf = buf;
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        // An OTLP integer when it fits in `i64`, else its decimal text.
        let set = match i64::try_from(value) {
            Ok(n) => self
                .data
                .set_attribute(field.name(), Value::I64(n), self.max_attributes),
            Err(_) => self
                .data
                .set_attribute_debug(field.name(), &value, self.max_attributes),
        };
        self.count(set);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = value.to_string();
        let set = self
            .data
            .set_attribute_str(field.name(), error_line(&text), self.max_attributes);
        self.count(set);
    }
}

/// An error attribute's text: the first line of its message, cut to the attribute length
/// bound.
fn error_line(text: &str) -> &str {
    cut(text.lines().next().unwrap_or_default())
}

/// Records an event's fields: the message becomes the event name. Reused across events through
/// a thread-local, so recording an event allocates nothing of its own in steady state.
#[derive(Default)]
pub(crate) struct EventVisitor {
    /// The message, raw, when `named`.
    name: String,
    named: bool,
    /// The message was not cut to the attribute length bound.
    whole: bool,
    attributes: Vec<(&'static str, Value)>,
    /// The texts of the string values of `attributes`.
    texts: Texts,
    max: usize,
    dropped: u32,
}

thread_local! {
    static EVENT_VISITOR: std::cell::RefCell<EventVisitor> =
        std::cell::RefCell::new(EventVisitor::default());
}

impl EventVisitor {
    fn reset(&mut self, max: usize) {
        self.name.clear();
        self.named = false;
        self.whole = false;
        self.attributes.clear();
        self.texts.clear();
        self.max = max;
        self.dropped = 0;
    }

    fn push(&mut self, key: &'static str, value: Value) {
        if self.attributes.len() < self.max {
            self.attributes.push((key, value));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Whether another attribute fits (else it is counted as dropped).
    fn room(&mut self) -> bool {
        let room = self.attributes.len() < self.max;
        if !room {
            self.dropped = self.dropped.saturating_add(1);
        }
        room
    }

    fn string(&mut self, key: &'static str, value: &str) {
        if key == "message" {
            let name = cut(value);
            self.name.clear();
            self.name.push_str(name);
            self.named = true;
            self.whole = name.len() == value.len();
        } else if self.room() {
            let t = self.texts.push(cut(value));
            self.attributes.push((key, Value::Str(t)));
        }
    }
}

impl Visit for EventVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.name.clear();
            let _ = write!(self.name, "{value:?}");
            let end = cut(&self.name).len();
            self.whole = end == self.name.len();
            self.name.truncate(end);
            self.named = true;
        } else if self.room() {
            let t = self.texts.push_debug(value);
            self.attributes.push((field.name(), Value::Str(t)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(n) => self.push(field.name(), Value::I64(n)),
            Err(_) => {
                if self.room() {
                    let t = self.texts.push_debug(&value);
                    self.attributes.push((field.name(), Value::Str(t)));
                }
            }
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.room() {
            let text = value.to_string();
            let t = self.texts.push(error_line(&text));
            self.attributes.push((field.name(), Value::Str(t)));
        }
    }
}

/// The tenant of a new span: its own `tenant_id` attribute, else the nearest enclosing span's
/// (as the bridge or the JSON layer recorded it), else the current request's.
fn span_tenant<'a, R>(
    data: &SpanData,
    span: &SpanRef<'a, R>,
    current: Option<&CurrentContext>,
) -> Option<String>
where
    R: LookupSpan<'a>,
{
    let own = data.str_attribute("tenant_id").map(str::to_owned);
    own.or_else(|| {
        // The parents, nearest first (the span itself is not looked up again).
        let mut next = span.parent();
        while let Some(s) = next {
            let ext = s.extensions();
            let found = ext
                .get::<SpanState>()
                .and_then(|st| st.data.tenant.clone())
                .or_else(|| crate::layer::span_tenant(&ext));
            if found.is_some() {
                return found;
            }
            drop(ext);
            next = s.parent();
        }
        None
    })
    .or_else(|| {
        current
            .and_then(CurrentContext::request)
            .and_then(|r| r.tenant_id.clone())
    })
}

/// The active span of the attached `opentelemetry::Context`, as a parent.
struct OtelParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
    remote: bool,
}

/// The span of the current `opentelemetry::Context` when it has a valid one (a span started
/// through the OpenTelemetry API and attached, or a remote context). Read in place, without
/// cloning the context; asked only for spans without a bridged `tracing` parent.
fn otel_parent() -> Option<OtelParent> {
    use opentelemetry::trace::TraceContextExt as _;
    opentelemetry::Context::map_current(|cx| {
        if !cx.has_active_span() {
            return None;
        }
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| OtelParent {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
            remote: sc.is_remote(),
        })
    })
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S> Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            self.new_span_at(attrs, &span);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            self.record_at(values, &span);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.event_at(event, ctx.event_span(event).as_ref());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let state = span.extensions_mut().remove::<SpanState>();
        if let Some(mut s) = state {
            if s.recording {
                s.data.end = now_nanos();
                self.pipeline.finish(s.data);
            } else {
                self.pipeline.recycle(s.data);
            }
        }
    }
}

impl OtelLayer {
    /// `on_new_span`, for the span already looked up (shared with the JSON layer).
    pub(crate) fn new_span_at<'a, R>(&self, attrs: &Attributes<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        self.new_span_at_sharing(attrs, span, |_| None);
    }

    /// [`Self::new_span_at`], sharing the visit of the span's fields with the JSON layer:
    /// `first` is given this bridge's visitor before the span's ids are worked out, and feeds
    /// it the span's values as it visits them, returning the JSON layer's fields of the span
    /// (kept in this bridge's state: one extension for both), or does not (`None`: the span's
    /// fields are then visited here).
    pub(crate) fn new_span_at_sharing<'a, R>(
        &self,
        attrs: &Attributes<'_>,
        span: &SpanRef<'a, R>,
        first: impl FnOnce(&mut FieldVisitor<'_>) -> Option<SpanFields>,
    ) where
        R: LookupSpan<'a>,
    {
        let p = &*self.pipeline;
        add(&p.stats.spans_started, 1);
        let meta = attrs.metadata();
        let mut data = p.span_data(meta.name());
        data.start = now_nanos();
        data.reserve_attributes(meta.fields().len());
        let mut hints = Hints::default();
        let mut visitor = FieldVisitor {
            data: &mut data,
            hints: Some(&mut hints),
            max_attributes: p.max_attributes,
            buf: String::new(),
            clean_shared: false,
        };
        let fields = first(&mut visitor);
        if fields.is_none() {
            attrs.record(&mut visitor);
        }
        if data.dropped_attributes > 0 {
            add(
                &p.stats.dropped_attributes,
                usize::try_from(data.dropped_attributes).unwrap_or(usize::MAX),
            );
        }
        let parent = span.parent().and_then(|parent| {
            parent
                .extensions()
                .get::<SpanState>()
                .map(|s| (s.data.trace_id, s.data.span_id, s.data.sampled))
        });
        let current = CurrentContext::get_local();
        let current_trace = current.as_ref().and_then(CurrentContext::trace);
        match (hints.trace_id, hints.span_id, &parent) {
            // The span names its own ids (stella-context ingress, client and job spans).
            (Some(t), Some(s), _) => {
                data.trace_id = t.to_bytes();
                data.span_id = s.to_bytes();
                data.parent_span_id = hints.parent_span_id.map(SpanId::to_bytes);
                match &parent {
                    Some((pt, _, sampled)) if *pt == data.trace_id => {
                        data.local_root = false;
                        data.sampled = *sampled;
                    }
                    _ => {
                        data.sampled = match (hints.parent_span_id, current_trace) {
                            (Some(_), Some(cx)) if cx.trace_id() == t => cx.flags().is_sampled(),
                            (Some(_), _) => true,
                            (None, _) => p.sampler.sample_root(&data.trace_id),
                        };
                    }
                }
            }
            (_, _, Some((pt, ps, sampled))) => {
                data.trace_id = *pt;
                data.span_id = SpanId::random().to_bytes();
                data.parent_span_id = Some(*ps);
                data.sampled = *sampled;
                data.local_root = false;
            }
            // No bridged `tracing` parent: the active OpenTelemetry span, else the current
            // stella-context trace, else a new root.
            (_, _, None) => match otel_parent() {
                Some(o) => {
                    data.trace_id = o.trace_id;
                    data.span_id = SpanId::random().to_bytes();
                    data.parent_span_id = Some(o.span_id);
                    data.sampled = if o.remote {
                        p.sampler.continued(&o.trace_id, o.sampled)
                    } else {
                        o.sampled
                    };
                    data.local_root = o.remote;
                }
                None => match current_trace {
                    Some(cx) => {
                        data.trace_id = cx.trace_id().to_bytes();
                        data.span_id = SpanId::random().to_bytes();
                        data.parent_span_id = Some(cx.span_id().to_bytes());
                        data.sampled = cx.flags().is_sampled();
                    }
                    None => {
                        data.trace_id = TraceId::random().to_bytes();
                        data.span_id = SpanId::random().to_bytes();
                        data.sampled = p.sampler.sample_root(&data.trace_id);
                    }
                },
            },
        }
        if let (Some(t), Some(s)) = (hints.link_trace, hints.link_span) {
            data.links.push((t.to_bytes(), s.to_bytes()));
        }
        // Incident mode: every trace of the tenant is kept, here and by the collector's
        // tail sampler (its `stella.incident_mode` policy). The tenant is looked up only while
        // some incident is on: the span's own `tenant_id`, else the nearest enclosing span's,
        // else the current request's.
        if p.incidents.any_active() {
            data.tenant = span_tenant(&data, span, current.as_ref());
        }
        let incident = p.incidents.any_active()
            && data
                .tenant
                .as_deref()
                .is_some_and(|t| p.incidents.is_active(t));
        if incident {
            data.sampled = true;
            data.push_attribute("stella.incident_mode", Value::Bool(true));
        }
        if data.sampled {
            add(&p.stats.spans_head_sampled, 1);
        }
        let recording = data.sampled || p.tail.is_some();
        if !recording {
            // Only the ids (for children) are kept: nothing recorded is held while the span is
            // open; its buffers go back to the pool when it closes.
            data.keep_ids_only();
        }
        let trace = match (
            TraceId::from_bytes(data.trace_id),
            SpanId::from_bytes(data.span_id),
        ) {
            (Some(t), Some(s)) => Some(TraceContext::new(
                TraceParent::new(t, s, TraceFlags::default().with_sampled(data.sampled)),
                TraceState::new(),
                Baggage::new(),
            )),
            _ => None,
        };
        if trace.is_some() {
            crate::layer::push_ids_json(
                &mut data.ids_json,
                &data.trace_id,
                &data.span_id,
                data.parent_span_id.as_ref(),
            );
        }
        span.extensions_mut().replace(SpanState {
            data,
            recording,
            trace,
            incident,
            fields,
        });
    }

    /// `on_record`, for the span already looked up.
    pub(crate) fn record_at<'a, R>(&self, values: &Record<'_>, span: &SpanRef<'a, R>)
    where
        R: LookupSpan<'a>,
    {
        let mut ext = span.extensions_mut();
        let Some(state) = ext.get_mut::<SpanState>() else {
            return;
        };
        if !state.recording {
            return;
        }
        let before = state.data.dropped_attributes;
        values.record(&mut FieldVisitor {
            data: &mut state.data,
            hints: None,
            max_attributes: self.pipeline.max_attributes,
            buf: String::new(),
            clean_shared: false,
        });
        let dropped = state.data.dropped_attributes.saturating_sub(before);
        if dropped > 0 {
            add(
                &self.pipeline.stats.dropped_attributes,
                usize::try_from(dropped).unwrap_or(usize::MAX),
            );
        }
    }

    /// `on_event`, with the event's span (the innermost one the filter enables) already
    /// looked up.
    pub(crate) fn event_at<'a, R>(&self, event: &Event<'_>, span: Option<&SpanRef<'a, R>>)
    where
        R: LookupSpan<'a>,
    {
        self.event_at_sharing(event, span, None, |_| Shared::default());
    }

    /// [`Self::event_at`], sharing the visit of the event's fields with the JSON layer:
    /// `first` runs once, before the event is recorded here; when the span records the event,
    /// it is given this bridge's visitor (level set, no field yet) and feeds it the event's
    /// values as it visits them, so that they are not visited (a `Debug` value formatted, the
    /// message formatted) a second time; when the span does not record it (unsampled, or full
    /// of events), `first` is given nothing and nothing more is visited. When `first` did not
    /// feed the visitor ([`Shared::values`] false: its own visit was skipped), the event is
    /// visited here.
    ///
    /// The span's extensions are read before any value is visited, and no lock is held
    /// while values are visited: an event logged from a field's `Debug` records on its own
    /// (into a visitor of its own, the shared one being in use).
    ///
    /// `now`: the event's time, if already read from the system clock (the JSON layer's,
    /// read once for both); otherwise the clock is read here.
    pub(crate) fn event_at_sharing<'a, R>(
        &self,
        event: &Event<'_>,
        span: Option<&SpanRef<'a, R>>,
        now: Option<u64>,
        first: impl FnOnce(Option<&mut EventVisitor>) -> Shared,
    ) where
        R: LookupSpan<'a>,
    {
        let Some(span) = span.filter(|span| self.records_event(event, span)) else {
            first(None);
            return;
        };
        let p = &*self.pipeline;
        let level = Value::Static(level_name(event.metadata().level()));
        let mut first = Some(first);
        let mut record = |v: &mut EventVisitor| {
            v.reset(p.max_attributes);
            v.push("level", level);
            let shared = first.take().map(|f| f(Some(&mut *v))).unwrap_or_default();
            if !shared.values {
                v.reset(p.max_attributes);
                v.push("level", level);
                event.record(v);
            }
            self.push_event(event, span, v, shared.values && shared.message_clean, now);
        };
        // A re-entrant event (a field's `Debug` that logs) records into a visitor of its own.
        let done = EVENT_VISITOR
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut v) => {
                    record(&mut v);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            record(&mut EventVisitor::default());
        }
    }

    /// Whether `span` records `event` (read from its extensions, which are not held): its
    /// span records, and has room for another event or the event is an error. A dropped event
    /// is counted.
    fn records_event<'a, R>(&self, event: &Event<'_>, span: &SpanRef<'a, R>) -> bool
    where
        R: LookupSpan<'a>,
    {
        let p = &*self.pipeline;
        let level = *event.metadata().level();
        // Less severe than the configured level: in the logs only (errors always pass), unless
        // the span's tenant is in incident mode.
        let below = level > p.span_event_level;
        if below && !p.incidents.any_active() {
            return false;
        }
        let (recording, full, incident) = match span.extensions().get::<SpanState>() {
            Some(s) => (s.recording, s.data.events.len() >= p.max_events, s.incident),
            None => return false,
        };
        if !recording || (below && !incident) {
            return false;
        }
        if full && level != Level::ERROR {
            let mut ext = span.extensions_mut();
            if let Some(s) = ext.get_mut::<SpanState>() {
                s.data.dropped_events = s.data.dropped_events.saturating_add(1);
            }
            add(&p.stats.dropped_events, 1);
            return false;
        }
        true
    }

    /// Adds the event recorded in `v` to its span. `message_clean`: the JSON layer found the
    /// message `v` was given clean with the export's scrubber (see [`Self::scrubs_with`]):
    /// the event's name is then not scrubbed again before export, unless it was cut.
    /// `now`: the event's time, if already read from the system clock.
    fn push_event<'a, R>(
        &self,
        event: &Event<'_>,
        span: &SpanRef<'a, R>,
        v: &mut EventVisitor,
        message_clean: bool,
        now: Option<u64>,
    ) where
        R: LookupSpan<'a>,
    {
        let p = &*self.pipeline;
        let meta = event.metadata();
        let is_error = *meta.level() == Level::ERROR;
        if meta.target() == crate::writer::DECISION_TARGET {
            // Who decided stays in the (scrubbed) decision log; exported spans carry no actor.
            v.attributes.retain(|(k, _)| *k != "actor");
        }
        let decision = meta.target() == crate::writer::DECISION_TARGET;
        let EventVisitor {
            name,
            named,
            whole,
            attributes,
            texts,
            ..
        } = v;
        let name: &str = if *named { name } else { meta.name() };
        // The name is the very text the JSON layer scanned, unless it was cut.
        let name_scrubbed = *named && message_clean && *whole;
        let mut ext = span.extensions_mut();
        let Some(s) = ext.get_mut::<SpanState>() else {
            return;
        };
        if is_error && s.data.status == Status::Unset {
            s.data.status = Status::Error(name.to_owned());
        }
        // A decision log (authZ outcome, policy evaluation) also lands on its span as
        // attributes, without the actor: the span says what was decided, the log says by
        // whom.
        if decision {
            for (k, val) in attributes.iter() {
                if DECISION_ATTRIBUTES.contains(k) {
                    match *val {
                        Value::Str(t) => {
                            s.data.set_attribute_str(k, texts.get(t), p.max_attributes)
                        }
                        v => s.data.set_attribute(k, v, p.max_attributes),
                    };
                }
            }
        }
        if s.data.events.len() < p.max_events {
            s.data.events.push_with(
                now.unwrap_or_else(now_nanos),
                name,
                attributes,
                texts,
                name_scrubbed,
            );
        } else {
            s.data.dropped_events = s.data.dropped_events.saturating_add(1);
            add(&p.stats.dropped_events, 1);
        }
    }
}

/// What the JSON layer did with the bridge's visitor (see [`OtelLayer::event_at_sharing`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Shared {
    /// Every value of the event was given to the visitor.
    pub(crate) values: bool,
    /// The message given to the visitor is clean with the export's scrubber.
    pub(crate) message_clean: bool,
}

#[cfg(test)]
mod events_tests {
    use super::*;

    #[test]
    fn names_and_values_are_rewritten_and_attributes_kept_per_event() {
        let mut events = Events::default();
        events.push_plain(
            1,
            "clean",
            &[("n", Plain::I64(1)), ("s", Plain::Str("keep".into()))],
        );
        events.push_plain(2, "secret here", &[("level", Plain::Static("warn"))]);
        events.push_plain(3, "", &[]);
        events.push_plain(
            4,
            "tail",
            &[("m", Plain::Bool(true)), ("s", Plain::Str("secret".into()))],
        );
        events.rewrite_names(|n| (n == "secret here").then(|| "[redacted]".to_owned()));
        events.rewrite_values(|k, v| (k == "s" && v == "secret").then(|| "[x]".to_owned()));
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.time, events.name(e), events.plain_attributes(e)))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    "clean",
                    vec![("n", Plain::I64(1)), ("s", Plain::Str("keep".into()))]
                ),
                (2, "[redacted]", vec![("level", Plain::Static("warn"))]),
                (3, "", vec![]),
                (
                    4,
                    "tail",
                    vec![("m", Plain::Bool(true)), ("s", Plain::Str("[x]".into()))]
                ),
            ]
        );
        events.rewrite_names(|_| None);
        assert_eq!(events.name(events.iter().nth(3).unwrap()), "tail");
    }

    #[test]
    fn span_texts_hold_the_name_and_values_and_stay_bounded() {
        let mut s = SpanData::new("step");
        assert_eq!(s.name(), "step");
        assert!(s.set_attribute_str("a", "one", 3));
        assert!(s.set_attribute("n", Value::I64(7), 3));
        s.set_name("policy.evaluate");
        assert!(s.set_attribute_str("b", "two", 3));
        // Full: a new key is dropped and its text not kept; a known key is replaced.
        let len = s.texts.len();
        assert!(!s.set_attribute_str("c", "three", 3));
        assert!(!s.set_attribute_debug("c", &"three", 3));
        assert_eq!(s.texts.len(), len, "a dropped value leaves no text");
        assert!(s.set_attribute_str("a", "uno", 3));
        assert_eq!(s.name(), "policy.evaluate");
        assert_eq!(
            s.plain_attributes(),
            vec![
                ("a", Plain::Str("uno".into())),
                ("n", Plain::I64(7)),
                ("b", Plain::Str("two".into())),
            ]
        );
        assert_eq!(s.str_attribute("b"), Some("two"));
        assert_eq!(s.str_attribute("n"), None);
        // Recorded again and again, alternately: the texts are compacted, never more than
        // about twice the live texts (plus the threshold).
        let long = "x".repeat(300);
        for i in 0..1_000 {
            s.set_attribute_str(if i % 2 == 0 { "a" } else { "b" }, &long, 3);
            s.set_name(&long[..(i % 50)]);
            let live = 2 * long.len() + i % 50;
            assert!(
                s.texts.len() <= 2 * live + MAX_STALE_TEXT + long.len(),
                "{i}"
            );
        }
        assert_eq!(s.name(), &long[..999 % 50]);
        assert_eq!(s.str_attribute("a"), Some(long.as_str()));
        assert_eq!(s.str_attribute("b"), Some(long.as_str()));
        assert_eq!(s.attributes().len(), 3);
        // A value replaced by a number: its text, the last one, is dropped.
        s.set_static_name("step");
        let len = s.texts.len();
        s.set_attribute_str("a", "last", 3);
        s.set_attribute("a", Value::Bool(true), 3);
        assert_eq!(s.texts.len(), len);
        assert_eq!(s.name(), "step");
    }

    #[test]
    fn id_texts_are_read_up_to_32_bytes() {
        let t: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        let mut id = IdText::default();
        let _ = write!(id, "{t}");
        assert_eq!(id.as_bytes(), b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace_id(id.as_bytes()), Some(t));
        let (a, b) = ("00f067aa", "0ba902b7");
        let mut id = IdText::default();
        let _ = write!(id, "{a}{b}");
        assert_eq!(id.as_bytes(), b"00f067aa0ba902b7");
        let mut id = IdText::default();
        let _ = write!(id, "{t:?}");
        assert_eq!(id.as_bytes(), b"", "TraceId(...) is 41 bytes: not an id");
        let long = "x".repeat(40);
        let mut id = IdText::default();
        let _ = write!(id, "{long}");
        assert_eq!(id.as_bytes(), b"");
    }

    #[test]
    fn ids_are_read_as_their_from_str_reads_them() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "0".repeat(32),
            "0".repeat(16),
            "00f067aa0ba902b7".into(),
            "00F067AA0BA902B7".into(),
            "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            "4bf92f3577b34da6a3ce929d0e0e473g".into(),
            "4bf92f3577b34da6a3ce929d0e0e473".into(),
            "4bf92f3577b34da6a3ce929d0e0e47360".into(),
            " 0f067aa0ba902b7".into(),
            "00f067aa0ba902b\u{e9}".into(),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = [16, 32, 15, 31, 17][(x % 5) as usize];
            let alphabet = b"0123456789abcdefABCDEFgz-";
            let t: String = (0..len)
                .map(|i| {
                    let r = ((x >> (i % 60)) as usize) ^ (i * 7);
                    let n = if x.is_multiple_of(3) {
                        16
                    } else {
                        alphabet.len()
                    };
                    alphabet[r % n] as char
                })
                .collect();
            texts.push(t);
        }
        for t in &texts {
            assert_eq!(trace_id(t.as_bytes()), t.parse::<TraceId>().ok(), "{t}");
            assert_eq!(span_id(t.as_bytes()), t.parse::<SpanId>().ok(), "{t}");
        }
    }

    #[test]
    fn scrubbed_values_replace_the_raw_ones() {
        let mut s = SpanData::new("step");
        s.set_attribute_str("k", "secret", 4);
        s.set_attribute_str("j", "fine", 4);
        s.rewrite_values(|_, v| (v == "secret").then(|| "[redacted]".to_owned()));
        assert_eq!(
            s.plain_attributes(),
            vec![
                ("k", Plain::Str("[redacted]".into())),
                ("j", Plain::Str("fine".into())),
            ]
        );
    }

    #[test]
    fn values_marked_clean_are_not_rewritten_until_replaced() {
        let mut s = SpanData::new("step");
        assert!(s.set_attribute_clean_str("a", "clean", 4));
        s.set_attribute_str("b", "raw", 4);
        assert!(s.set_attribute_clean_str("c", "also", 4));
        assert_eq!(s.clean_marks(), 2);
        let mut seen = Vec::new();
        s.rewrite_values(|k, _| {
            seen.push(k);
            None
        });
        assert_eq!(seen, ["b"]);
        // Replaced by a value without a verdict: scrubbed again.
        s.set_attribute_str("a", "new", 4);
        assert_eq!(s.clean_marks(), 1);
        seen.clear();
        s.rewrite_values(|k, _| {
            seen.push(k);
            None
        });
        assert_eq!(seen, ["a", "b"]);
        // Not set (no room): nothing marked.
        assert!(s.set_attribute_str("d", "x", 4));
        assert!(!s.set_attribute_clean_str("e", "y", 4));
        assert_eq!(s.clean_marks(), 1);
        s.recycle();
        assert_eq!(s.clean_marks(), 0);
        assert_eq!(clean_bit(63), 1 << 63);
        assert_eq!(clean_bit(64), 0);
    }
}

#[cfg(test)]
mod id_text_tests {
    use proptest::prelude::*;

    use super::{Kind, span_id, trace_id};
    use stella_context::{SpanId, TraceId};

    proptest! {
        #[test]
        fn hex_ids_read_as_the_context_crate_reads_them(
            text in prop_oneof![
                "[0-9a-f]{32}",
                "[0-9a-f]{16}",
                "[0-9a-fA-F]{16,32}",
                "[0-9a-g]{16}",
                "0{16}|0{32}",
                any::<String>(),
            ]
        ) {
            prop_assert_eq!(trace_id(text.as_bytes()), text.parse::<TraceId>().ok());
            prop_assert_eq!(span_id(text.as_bytes()), text.parse::<SpanId>().ok());
        }
    }

    #[test]
    fn span_kinds_read_in_any_case() {
        for (text, want) in [
            ("server", Some(Kind::Server)),
            ("SERVER", Some(Kind::Server)),
            ("Client", Some(Kind::Client)),
            ("internal", Some(Kind::Internal)),
            ("producer", Some(Kind::Producer)),
            ("CONSUMER", Some(Kind::Consumer)),
            ("serverx", None),
            ("", None),
            ("sérver", None),
        ] {
            assert_eq!(Kind::parse(text), want, "{text}");
        }
    }
}
