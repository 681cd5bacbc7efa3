//! Resolving the common fields from the event, its spans and the context, and writing the line.

use std::fmt::Write as _;

use stella_context::{CurrentContext, RequestContext, TraceContext};
use stella_scrub::ScrubView;
use tracing_core::{Level, Metadata};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::Core;
use super::keys::Scan;
use super::record::{EventFields, Origin, SpanFields, SpanVal, Val};
use crate::fields::{Format, Slot};
use crate::json;
use crate::stats::bump;

/// The bound on `error_message`, in bytes.
pub(crate) const MAX_ERROR_MESSAGE: usize = 256;
/// The bound on `details.stack`, in bytes.
pub(crate) const MAX_STACK: usize = 4 * 1024;

const TRUNCATED: &str = "...[truncated]";

pub(crate) fn level_str(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        _ => "trace",
    }
}

/// Fills what the event did not set from its spans (innermost first) and the context, in one
/// walk over the span scope, and finds the event's tenant (into `tenant`): the event's
/// `tenant_id`, else the innermost span's, else the request context's. The context is the
/// thread-local one (`current`), else the innermost span's. Returns whether a tenant was found.
///
/// Strict (`view` is `None`): span strings are copied as the JSON text rendered when they were
/// recorded. Relaxed (a deep-debug tenant's view): span strings the strict scrubber changed
/// are rescrubbed from their raw text with the view.
pub(super) fn resolve<'a, R>(
    ev: &mut EventFields,
    span: Option<&SpanRef<'a, R>>,
    mut current: Option<CurrentContext>,
    view: Option<&ScrubView<'_>>,
    tenant: &mut String,
) -> bool
where
    R: LookupSpan<'a>,
{
    tenant.clear();
    let mut found = false;
    if let Some(t) = ev.slot_str(Slot::TenantId) {
        tenant.push_str(t);
        found = true;
    }
    // The event's span, then its parents (as `event_scope` would give them, without looking
    // the event's span up a second time when the walk starts).
    if let Some(first) = span {
        walk_span(ev, first, view, tenant, &mut found, &mut current);
        let mut next = first.parent();
        while let Some(span) = next {
            walk_span(ev, &span, view, tenant, &mut found, &mut current);
            next = span.parent();
        }
    }
    if let Some(cur) = &current {
        if let Some(req) = cur.request() {
            if !found && let Some(t) = req.tenant_id.as_deref() {
                tenant.push_str(t);
                found = true;
            }
            fill_from_context(ev, req);
        }
        if ids_missing(ev)
            && let Some(trace) = cur.trace()
        {
            fill_ids(ev, trace);
        }
    }
    found
}

/// Fills the slots still empty from the request context's fields (those of
/// `RequestContext::fields`, read from the fields themselves: no name is matched per line).
fn fill_from_context(ev: &mut EventFields, req: &RequestContext) {
    let mut fill = |slot: Slot, value: &Option<String>| {
        if let Some(value) = value.as_deref()
            && ev.is_empty_slot(slot)
        {
            let val = ev.push_arena(value);
            ev.put_slot(slot, val, Origin::Raw);
        }
    };
    fill(Slot::TenantId, &req.tenant_id);
    fill(Slot::ProjectId, &req.project_id);
    fill(Slot::Actor, &req.actor);
    fill(Slot::RequestId, &req.request_id);
    fill(Slot::JobId, &req.job_id);
    fill(Slot::RunId, &req.run_id);
    fill(Slot::SourceId, &req.source_id);
    fill(Slot::SbomId, &req.sbom_id);
    fill(Slot::PolicyVersion, &req.policy_version);
}

/// One span of the walk of [`resolve`]: what it gives that is still empty.
fn walk_span<'a, R>(
    ev: &mut EventFields,
    span: &SpanRef<'a, R>,
    view: Option<&ScrubView<'_>>,
    tenant: &mut String,
    found: &mut bool,
    current: &mut Option<CurrentContext>,
) where
    R: LookupSpan<'a>,
{
    let ext = span.extensions();
    if current.is_none() {
        *current = ext.get::<CurrentContext>().cloned();
    }
    // A span's own trace context (the OpenTelemetry bridge of issue II stores one per
    // span, with its members rendered) gives the innermost span's ids, so lines agree with
    // the exported spans.
    let (ids, fields) = super::span_view(&ext, ids_missing(ev));
    match ids {
        super::SpanIds::Rendered(ids) => fill_ids_json(ev, ids),
        super::SpanIds::Context(trace) => fill_ids(ev, trace),
        super::SpanIds::None => {}
    }
    let Some(fields) = fields else {
        return;
    };
    // The span's members copied into the arena in one piece, where any is still empty in the
    // line: the empty ones take their range of it (the others' bytes go unused).
    if !fields.line.is_empty()
        && (view.is_none() || !fields.any_raw)
        && fields
            .slots
            .iter()
            .any(|(slot, _)| *slot != Slot::ErrorMessage && ev.is_empty_slot(*slot))
    {
        let mut at = ev.arena.len();
        ev.arena.push_str(&fields.line);
        for (slot, v) in &fields.slots {
            if !*found && *slot == Slot::TenantId {
                tenant.push_str(v.original(&fields.text));
                *found = true;
            }
            let entry = if *slot == Slot::ErrorMessage {
                if !ev.is_empty_slot(*slot) {
                    continue;
                }
                // Folded and bounded when written.
                (ev.push_arena(v.clean(&fields.text)), Origin::Clean)
            } else {
                let end = at + v.json_len();
                let val = Val::Str(at, end);
                at = end;
                if !ev.is_empty_slot(*slot) {
                    continue;
                }
                (val, Origin::Json)
            };
            ev.put_slot(*slot, entry.0, entry.1);
        }
        walk_details(ev, fields, view);
        return;
    }
    for (slot, v) in &fields.slots {
        if !*found && *slot == Slot::TenantId {
            tenant.push_str(v.original(&fields.text));
            *found = true;
        }
        if !ev.is_empty_slot(*slot) {
            continue;
        }
        let entry = match (v.raw(&fields.text), view) {
            (Some(raw), Some(view)) => {
                let clean = view.scrub_field(slot.key(), raw);
                (ev.push_arena(&clean), Origin::Clean)
            }
            // error_message is folded and bounded when written.
            _ if *slot == Slot::ErrorMessage => {
                (ev.push_arena(v.clean(&fields.text)), Origin::Clean)
            }
            _ => (ev.push_arena(fields.str(v.json_range())), Origin::Json),
        };
        ev.put_slot(*slot, entry.0, entry.1);
    }
    walk_details(ev, fields, view);
}

/// The details of one span of the walk of [`resolve`] that are still unset.
#[inline]
fn walk_details(ev: &mut EventFields, fields: &SpanFields, view: Option<&ScrubView<'_>>) {
    for d in &fields.details {
        let key = d.key;
        if ev.has_detail(key) {
            continue;
        }
        let (val, origin) = match (&d.val, view) {
            (SpanVal::Str(s), Some(view)) => match s.raw(&fields.text) {
                Some(raw) => {
                    let clean = view.scrub_field(key, raw);
                    (ev.push_arena(&clean), Origin::Clean)
                }
                None => (ev.push_arena(s.clean(&fields.text)), Origin::Clean),
            },
            (SpanVal::I64(n), Some(_)) => (Val::I64(*n), Origin::Clean),
            (SpanVal::U64(n), Some(_)) => (Val::U64(*n), Origin::Clean),
            (SpanVal::F64(n), Some(_)) => (Val::F64(*n), Origin::Clean),
            (SpanVal::Bool(b), Some(_)) => (Val::Bool(*b), Origin::Clean),
            // The whole `"key":value` member, as rendered when recorded.
            (_, None) => (ev.push_arena(fields.str(d.json)), Origin::Json),
        };
        ev.details.push((key, val, origin));
    }
}

/// True while `trace_id` or `span_id` is still empty.
fn ids_missing(ev: &EventFields) -> bool {
    ev.is_empty_slot(Slot::TraceId) || ev.is_empty_slot(Slot::SpanId)
}

/// Fills `trace_id` and `span_id` from `trace` where still empty.
fn fill_ids(ev: &mut EventFields, trace: &TraceContext) {
    let (need_trace, need_span) = (
        ev.is_empty_slot(Slot::TraceId),
        ev.is_empty_slot(Slot::SpanId),
    );
    if !need_trace && !need_span {
        return;
    }
    let ids = (trace.trace_id().to_bytes(), trace.span_id().to_bytes());
    // The members of the last few trace contexts are kept rendered: the lines of one span or
    // request follow one another.
    let memo = IDS
        .try_with(|m| {
            let Ok(mut m) = m.try_borrow_mut() else {
                return false;
            };
            let Some((text, split)) = m.members(&ids.0, &ids.1) else {
                return false;
            };
            put_id_members(ev, text, split)
        })
        .unwrap_or(false);
    if memo {
        return;
    }
    for (slot, need) in [(Slot::TraceId, need_trace), (Slot::SpanId, need_span)] {
        if !need {
            continue;
        }
        let start = ev.arena.len();
        push_id_member(&mut ev.arena, slot, &ids.0, &ids.1);
        set_json(ev, slot, start, ev.arena.len());
    }
}

/// The length of the `trace_id` member (`,"trace_id":"<32 hex>"`): where the `span_id`
/// member starts in [`push_ids_json`]'s text.
const TRACE_MEMBER: usize = Slot::TraceId.member_head().len() + 32 + 1;

/// The length of the `span_id` member (`,"span_id":"<16 hex>"`).
const SPAN_MEMBER: usize = Slot::SpanId.member_head().len() + 16 + 1;

/// Appends the `trace_id` and `span_id` members of these ids (valid ones: not all zeros) and,
/// when the span has a parent, the `parent_span_id` member, as [`fill_ids_json`] takes them.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn push_ids_json(
    out: &mut String,
    trace: &[u8; 16],
    span: &[u8; 8],
    parent: Option<&[u8; 8]>,
) {
    let mut buf = IdsBuf([0; IDS_TEXT]);
    let split = id_member(&mut buf.0, Slot::TraceId.key(), trace);
    let mut len = split
        + buf
            .0
            .get_mut(split..)
            .map_or(0, |rest| id_member(rest, Slot::SpanId.key(), span));
    if let Some(parent) = parent {
        len += buf
            .0
            .get_mut(len..)
            .map_or(0, |rest| id_member(rest, Slot::ParentSpanId.key(), parent));
    }
    if split == TRACE_MEMBER
        && len >= TRACE_MEMBER + SPAN_MEMBER
        && let Some(text) = buf.0.get(..len).and_then(|b| std::str::from_utf8(b).ok())
    {
        out.push_str(text);
    }
}

/// Fills `trace_id` and `span_id` where still empty from the members [`push_ids_json`]
/// rendered. The parent goes with the span id: when `span_id` is taken from these members,
/// so is `parent_span_id` (where still empty), so that a line's `parent_span_id` is the parent
/// of its `span_id`, not an outer span's caller. A span without a parent (the root of its
/// trace) leaves `parent_span_id` out: the slot is taken by an empty member that renders
/// nothing, so no outer span (of another trace) fills it.
fn fill_ids_json(ev: &mut EventFields, ids: &str) {
    let Some((own, parent)) = ids.split_at_checked(TRACE_MEMBER + SPAN_MEMBER) else {
        return;
    };
    let take_parent = ev.is_empty_slot(Slot::SpanId) && ev.is_empty_slot(Slot::ParentSpanId);
    if take_parent && ev.is_empty_slot(Slot::TraceId) {
        // The usual case: all three from here, copied in one piece (and written in one piece:
        // the three slots follow one another in the line).
        let start = ev.arena.len();
        ev.arena.push_str(ids);
        set_json(ev, Slot::TraceId, start, start + TRACE_MEMBER);
        set_json(ev, Slot::SpanId, start + TRACE_MEMBER, start + own.len());
        set_json(ev, Slot::ParentSpanId, start + own.len(), ev.arena.len());
        return;
    }
    put_id_members(ev, own, TRACE_MEMBER);
    if take_parent {
        let start = ev.arena.len();
        ev.arena.push_str(parent);
        set_json(ev, Slot::ParentSpanId, start, ev.arena.len());
    }
}

/// Fills `trace_id` and `span_id` where still empty from `text`: the `trace_id` member, then
/// the `span_id` member from `split`. False when `split` is not inside `text`.
fn put_id_members(ev: &mut EventFields, text: &str, split: usize) -> bool {
    let Some((trace_part, span_part)) = text.split_at_checked(split) else {
        return false;
    };
    let start = ev.arena.len();
    match (
        ev.is_empty_slot(Slot::TraceId),
        ev.is_empty_slot(Slot::SpanId),
    ) {
        (true, true) => {
            ev.arena.push_str(text);
            set_json(ev, Slot::TraceId, start, start + split);
            set_json(ev, Slot::SpanId, start + split, ev.arena.len());
        }
        (true, false) => {
            ev.arena.push_str(trace_part);
            set_json(ev, Slot::TraceId, start, ev.arena.len());
        }
        (false, true) => {
            ev.arena.push_str(span_part);
            set_json(ev, Slot::SpanId, start, ev.arena.len());
        }
        (false, false) => {}
    }
    true
}

/// Sets `slot` to the rendered member at `start..end` of the arena.
fn set_json(ev: &mut EventFields, slot: Slot, start: usize, end: usize) {
    ev.put_slot(slot, Val::Str(start, end), Origin::Json);
}

/// Appends the member of `slot` (`trace_id` or `span_id`) for these ids. Ids of a trace
/// context are never all zeros: valid hex, written quoted as is. The member is put together on
/// the stack and appended in one piece.
fn push_id_member(out: &mut String, slot: Slot, trace: &[u8; 16], span: &[u8; 8]) {
    let mut member = [0u8; 48];
    let len = if slot == Slot::TraceId {
        id_member(&mut member, slot.key(), trace)
    } else {
        id_member(&mut member, slot.key(), span)
    };
    out.push_str(std::str::from_utf8(member.get(..len).unwrap_or_default()).unwrap_or_default());
}

/// How many trace contexts' id members a thread keeps rendered.
const IDS_KEPT: usize = 8;

thread_local! {
    static IDS: std::cell::RefCell<IdsMemo> = const { std::cell::RefCell::new(IdsMemo::new()) };
}

/// The rendered `trace_id` and `span_id` members of the last [`IDS_KEPT`] trace contexts of
/// a thread (replaced in turn).
#[derive(Debug)]
struct IdsMemo {
    entries: Vec<IdsEntry>,
    next: usize,
}

#[derive(Debug)]
struct IdsEntry {
    trace: [u8; 16],
    span: [u8; 8],
    /// `,"trace_id":"…","span_id":"…"`.
    text: String,
    /// Where the `span_id` member starts.
    split: usize,
}

impl IdsMemo {
    const fn new() -> Self {
        IdsMemo {
            entries: Vec::new(),
            next: 0,
        }
    }

    /// The members of these ids (`text`, where the `span_id` member starts), rendered now
    /// when not kept.
    fn members(&mut self, trace: &[u8; 16], span: &[u8; 8]) -> Option<(&str, usize)> {
        let at = match self
            .entries
            .iter()
            // The span id first: one word, and it tells apart the spans of one trace.
            .position(|e| e.span == *span && e.trace == *trace)
        {
            Some(at) => at,
            None => {
                // Both members put together on the stack and checked as text at once.
                let mut buf = IdsBuf([0; IDS_TEXT]);
                let split = id_member(&mut buf.0, Slot::TraceId.key(), trace);
                let len = split + id_member(buf.0.get_mut(split..)?, Slot::SpanId.key(), span);
                let text = std::str::from_utf8(buf.0.get(..len)?).ok()?;
                let at = if self.entries.len() < IDS_KEPT {
                    self.entries.push(IdsEntry {
                        trace: *trace,
                        span: *span,
                        text: String::with_capacity(64),
                        split: 0,
                    });
                    self.entries.len() - 1
                } else {
                    let at = self.next % IDS_KEPT;
                    self.next = (at + 1) % IDS_KEPT;
                    at
                };
                let e = self.entries.get_mut(at)?;
                e.trace = *trace;
                e.span = *span;
                e.text.clear();
                e.text.push_str(text);
                e.split = split;
                at
            }
        };
        self.entries.get(at).map(|e| (e.text.as_str(), e.split))
    }
}

/// The length of `,"trace_id":"<32 hex>","span_id":"<16 hex>","parent_span_id":"<16 hex>"`
/// (111) rounded up.
const IDS_TEXT: usize = 112;

/// A stack buffer for the members of [`IdsMemo`], word-aligned: checking that it is text then
/// goes a word at a time from its start.
#[repr(align(8))]
struct IdsBuf([u8; IDS_TEXT]);

/// The two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [json::HEX[b >> 4], json::HEX[b & 0x0f]];
        b += 1;
    }
    table
};

/// Writes `,"<key>":"<hex of id>"` into `out` and returns its length (0 when it does not fit).
fn id_member(out: &mut [u8], key: &str, id: &[u8]) -> usize {
    let len = key.len() + id.len() * 2 + 6;
    let Some(buf) = out.get_mut(..len) else {
        return 0;
    };
    let (head, rest) = buf.split_at_mut(2 + key.len());
    let (hex_open, rest) = rest.split_at_mut(3);
    let (hex, close) = rest.split_at_mut(id.len() * 2);
    head[..2].copy_from_slice(b",\"");
    head[2..].copy_from_slice(key.as_bytes());
    hex_open.copy_from_slice(b"\":\"");
    for (pair, b) in hex.chunks_exact_mut(2).zip(id) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    close.copy_from_slice(b"\"");
    len
}

/// The separator of the batch scan: whitespace, which every detector treats as a boundary.
const BATCH_SEPARATOR: char = '\n';

/// One scan over every raw field value with a plain key, joined by newlines (`tmp` is
/// scratch), and one over the message. When a scan redacts nothing, none of its values needs
/// scanning on its own; when it redacts anything, each of its values is scrubbed separately, so
/// a redaction is never placed across two values. Skipped for deep-debug tenants, whose lines
/// take the per-value path. Small numbers the per-thread verdicts know clean are marked
/// [`Origin::Clean`] (written as they are). Returns whether (the fields, the message) are clean.
pub(super) fn batch_clean(
    ev: &mut EventFields,
    meta: &Metadata<'_>,
    scan: &mut Scan<'_>,
    relaxed: bool,
    tmp: &mut String,
) -> (bool, bool) {
    if relaxed {
        return (false, false);
    }
    let message_clean = match ev.message {
        Some((s, e)) => {
            let text = ev.str_at(s, e);
            // Call sites log the same text again and again.
            let site = std::ptr::from_ref(meta) as usize;
            scan.messages.is_clean_at(scan.scrubber, site, text)
                || (matches!(scan.scrubber.scrub(text), std::borrow::Cow::Borrowed(_)) && {
                    scan.messages.remember_at(scan.scrubber, site, text);
                    true
                })
        }
        None => true,
    };
    tmp.clear();
    let push = |tmp: &mut String, s: &str| {
        tmp.push_str(s);
        tmp.push(BATCH_SEPARATOR);
    };
    // The slots with a raw value, in index order (`Slot::ALL` is in index order).
    let mut raw = ev.slots_raw();
    while raw != 0 {
        let i = raw.trailing_zeros() as usize;
        raw &= raw - 1;
        if let (Some(&slot), Some(&Some((Val::Str(s, e), Origin::Raw)))) =
            (Slot::ALL.get(i), ev.slots.get(i))
            && slot.format() == Format::Scanned
            && scan.keys.plain(scan.scrubber, slot.key())
        {
            push(tmp, ev.str_at(s, e));
        }
    }
    let arena = &ev.arena;
    for (key, val, origin) in &mut ev.details {
        if *origin != Origin::Raw || !scan.keys.plain(scan.scrubber, key) {
            continue;
        }
        let _ = match *val {
            Val::Str(s, e) => {
                push(tmp, arena.get(s..e).unwrap_or(""));
                Ok(())
            }
            // A small non-negative integer (a count, a step) has a per-thread verdict of its
            // own: known clean, it needs no place in the joined scan (its value alone is what
            // the per-value path would scan), and is written as it is.
            Val::I64(n) if n >= 0 && known_clean_number(scan, n.unsigned_abs()) => {
                *origin = Origin::Clean;
                Ok(())
            }
            Val::U64(n) if known_clean_number(scan, n) => {
                *origin = Origin::Clean;
                Ok(())
            }
            Val::I64(n) => {
                if n < 0 {
                    tmp.push('-');
                }
                push_u64(tmp, n.unsigned_abs());
                tmp.push(BATCH_SEPARATOR);
                Ok(())
            }
            Val::U64(n) => {
                push_u64(tmp, n);
                tmp.push(BATCH_SEPARATOR);
                Ok(())
            }
            Val::F64(n) => writeln!(tmp, "{n}"),
            Val::Bool(_) => Ok(()),
        };
    }
    if !ev.chain.is_empty() {
        push(tmp, &ev.chain);
    }
    // Nothing left to scan: clean without a call into the scrubber.
    let fields_clean = scan.keys.plain_stack(scan.scrubber)
        && tmp.len() <= scan.scrubber.max_input_len()
        && (tmp.is_empty() || matches!(scan.scrubber.scrub(tmp), std::borrow::Cow::Borrowed(_)));
    (fields_clean, message_clean)
}

/// Whether `n` is below the size of the per-thread table of number verdicts and the scrubber
/// leaves its digits unchanged (scanning them once when the table has no verdict yet).
fn known_clean_number(scan: &mut Scan<'_>, n: u64) -> bool {
    if !super::keys::small_number(n) {
        return false;
    }
    if let Some(clean) = scan.messages.number_verdict(scan.scrubber, n) {
        return clean;
    }
    // First time on this thread: scan the digits once and remember the verdict.
    let mut digits = String::with_capacity(8);
    push_u64(&mut digits, n);
    scan.messages.number_is_clean(scan.scrubber, n, &digits)
}

/// Writes one line for the resolved fields into `out` (cleared first).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_line(
    core: &Core,
    meta: &Metadata<'_>,
    now_nanos: u64,
    ev: &EventFields,
    scan: &mut Scan<'_>,
    out: &mut String,
    tmp: &mut String,
) {
    out.clear();
    out.push_str("{\"ts\":");
    json::push_ts_nanos(out, now_nanos);
    out.push_str(",\"level\":\"");
    out.push_str(level_str(meta.level()));
    out.push('"');
    out.push_str(&core.fragment);

    // Folded lines of a multi-line error message, prepended to the stack.
    let mut error_tail: Option<&str> = None;
    // Whole members, rendered (and checked or scrubbed) when a span recorded them: members
    // that follow one another in the arena as in the line (one span's, copied in slot order)
    // are copied as one run.
    let mut run = (0, 0);
    // The set slots, in index order (`Slot::ALL` is in index order).
    let mut set = ev.slots_set();
    while set != 0 {
        let i = set.trailing_zeros() as usize;
        set &= set - 1;
        let (Some(&slot), Some(&Some((Val::Str(start, end), origin)))) =
            (Slot::ALL.get(i), ev.slots.get(i))
        else {
            continue;
        };
        if origin == Origin::Json {
            if start != run.1 {
                push_run(out, ev, run);
                run.0 = start;
            }
            run.1 = end;
            continue;
        }
        push_run(out, ev, run);
        run = (0, 0);
        let raw = ev.str_at(start, end);
        let key = slot.key();
        match slot.format() {
            Format::Scanned if slot == Slot::ErrorMessage => {
                let (head, tail) = match raw.split_once('\n') {
                    Some((h, t)) => (h.trim_end_matches('\r'), Some(t)),
                    None => (raw, None),
                };
                error_tail = tail.filter(|t| !t.trim().is_empty());
                // error_message is never relaxed by deep debug: it must stay PII-free.
                let clean = match origin {
                    Origin::Raw => scan.strict_field(key, head),
                    Origin::Clean | Origin::Json => std::borrow::Cow::Borrowed(head),
                };
                out.push_str(slot.member_head());
                if clean.len() > MAX_ERROR_MESSAGE {
                    json::push_escaped(
                        out,
                        json::prefix(&clean, MAX_ERROR_MESSAGE - TRUNCATED.len()),
                    );
                    out.push_str(TRUNCATED);
                } else {
                    json::push_escaped(out, &clean);
                }
                out.push('"');
            }
            Format::Scanned => {
                out.push_str(slot.member_head());
                match origin {
                    Origin::Raw => json::push_escaped(out, &scan.field(key, raw)),
                    Origin::Clean | Origin::Json => json::push_escaped(out, raw),
                }
                out.push('"');
            }
            f => {
                if f.accepts(raw) {
                    // Nothing to escape in a value of this format.
                    out.push_str(slot.member_head());
                    out.push_str(raw);
                    out.push('"');
                } else {
                    bump(&core.stats.invalid_fields);
                }
            }
        }
    }

    push_run(out, ev, run);

    out.push_str(",\"message\":");
    match ev.message {
        Some((s, e)) => json::push_str(out, &scan.text(ev.str_at(s, e))),
        None => out.push_str("\"\""),
    }

    let has_stack = error_tail.is_some() || !ev.chain.is_empty();
    if ev.details.is_empty() && !has_stack {
        out.push_str("}\n");
        return;
    }
    out.push_str(",\"details\":{");
    let mut first = true;
    for (key, val, origin) in &ev.details {
        if !first {
            out.push(',');
        }
        first = false;
        if let (Origin::Json, Val::Str(s, e)) = (origin, val) {
            out.push_str(ev.str_at(*s, *e));
            continue;
        }
        scan.keys.push_key(out, key);
        out.push(':');
        match *val {
            Val::Str(s, e) => {
                let raw = ev.str_at(s, e);
                match origin {
                    Origin::Raw => json::push_str(out, &scan.field(key, raw)),
                    Origin::Clean | Origin::Json => json::push_str(out, raw),
                }
            }
            Val::I64(n) => {
                tmp.clear();
                if n < 0 {
                    tmp.push('-');
                }
                push_u64(tmp, n.unsigned_abs());
                push_number_text(out, tmp, scan, key, *origin);
            }
            Val::U64(n) => {
                tmp.clear();
                push_u64(tmp, n);
                push_number_text(out, tmp, scan, key, *origin);
            }
            Val::F64(n) => {
                if *origin == Origin::Raw && n.is_finite() {
                    push_number(out, tmp, scan, key, *origin, format_args!("{n}"));
                } else {
                    json::push_f64(out, n);
                }
            }
            Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        }
    }
    if has_stack && !ev.has_detail("stack") {
        if !first {
            out.push(',');
        }
        tmp.clear();
        if let Some(t) = error_tail {
            tmp.push_str(t);
        }
        if !ev.chain.is_empty() {
            if !tmp.is_empty() {
                tmp.push('\n');
            }
            tmp.push_str(&ev.chain);
        }
        // Bound before scrubbing (work) and after (redaction markers can be longer than what
        // they replace).
        let bounded = json::prefix(tmp, MAX_STACK);
        let clean = scan.field("stack", bounded);
        let limit = MAX_STACK - TRUNCATED.len();
        out.push_str("\"stack\":\"");
        if bounded.len() < tmp.len() || clean.len() > MAX_STACK {
            json::push_escaped(out, json::prefix(&clean, limit));
            out.push_str(TRUNCATED);
        } else {
            json::push_escaped(out, &clean);
        }
        out.push('"');
    }
    out.push_str("}}\n");
}

/// Appends the arena's text at `run` (nothing when empty).
fn push_run(out: &mut String, ev: &EventFields, run: (usize, usize)) {
    if run.0 < run.1 {
        out.push_str(ev.str_at(run.0, run.1));
    }
}

/// A number from an event: scanned as text (a card number, a PIN under a secret key), written
/// as a number when nothing was redacted.
fn push_number(
    out: &mut String,
    tmp: &mut String,
    scan: &mut Scan<'_>,
    key: &'static str,
    origin: Origin,
    n: std::fmt::Arguments<'_>,
) {
    tmp.clear();
    let _ = tmp.write_fmt(n);
    push_number_text(out, tmp, scan, key, origin);
}

/// Appends the decimal digits of `v`.
pub(super) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || at == 0 {
            break;
        }
    }
    // Digit by digit: numbers here are short, and checking the digits as text costs more.
    let digits = buf.get(at..).unwrap_or_default();
    out.reserve(digits.len());
    for d in digits {
        out.push(char::from(*d));
    }
}

/// A number already formatted in `tmp`: written as a number when nothing in it is redacted.
fn push_number_text(
    out: &mut String,
    tmp: &str,
    scan: &mut Scan<'_>,
    key: &'static str,
    origin: Origin,
) {
    if origin != Origin::Raw {
        out.push_str(tmp);
        return;
    }
    let clean = scan.field(key, tmp);
    // Unchanged is almost always `tmp` itself, borrowed: no comparison of the text then.
    let same = match &clean {
        std::borrow::Cow::Borrowed(b) if std::ptr::eq(*b, tmp) => true,
        other => other.as_ref() == tmp,
    };
    if same {
        out.push_str(tmp);
    } else {
        json::push_str(out, &clean);
    }
}

/// Writes a suppression summary line into `out` when anything was suppressed or dropped since
/// the last summary; returns whether it did.
/// A breadcrumb line: a debug record of a tenant in incident mode, kept and written after the
/// tenant's next error (its text was scrubbed when it was kept).
pub(super) fn breadcrumb(core: &Core, at_nanos: u64, tenant: &str, text: &str, out: &mut String) {
    out.clear();
    out.push_str("{\"ts\":");
    json::push_ts_nanos(out, at_nanos);
    out.push_str(",\"level\":\"debug\"");
    out.push_str(&core.fragment);
    out.push_str(",\"tenant_id\":");
    json::push_str(out, &core.scrubber.scrub_field("tenant_id", tenant));
    out.push_str(",\"message\":");
    json::push_str(out, text);
    out.push_str(",\"details\":{\"breadcrumb\":true}}\n");
}

pub(super) fn summary(core: &Core, now_nanos: u64, out: &mut String) -> bool {
    let snap = core.stats.snapshot();
    let mut last = core.last_reported.lock().unwrap_or_else(|e| e.into_inner());
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let counts = [
        (
            "suppressed_callsite",
            d(snap.suppressed_callsite, last.suppressed_callsite),
        ),
        (
            "suppressed_tenant",
            d(snap.suppressed_tenant, last.suppressed_tenant),
        ),
        (
            "dropped_queue_full",
            d(snap.dropped_queue_full, last.dropped_queue_full),
        ),
        (
            "dropped_priority",
            d(snap.dropped_priority, last.dropped_priority),
        ),
    ];
    if counts.iter().all(|(_, n)| *n == 0) {
        return false;
    }
    *last = snap;
    drop(last);
    out.clear();
    out.push_str("{\"ts\":");
    json::push_ts_nanos(out, now_nanos);
    out.push_str(",\"level\":\"warn\"");
    out.push_str(&core.fragment);
    out.push_str(",\"message\":\"log records suppressed\",\"details\":{");
    for (i, (k, n)) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{k}\":{n}");
    }
    let _ = writeln!(
        out,
        ",\"interval_seconds\":{}}}}}",
        core.summary_every_nanos / 1_000_000_000
    );
    true
}

#[cfg(test)]
mod number_tests {
    #[test]
    fn digits_match_the_formatted_number() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = vec![0, 1, 9, 10, 99, 100, 5_000, u64::MAX, u64::MAX - 1];
        for _ in 0..1_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let mut out = String::from("x");
            super::push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}"));
        }
    }
}

#[cfg(test)]
mod context_tests {
    use super::{EventFields, Origin, Slot, Val, fill_from_context};
    use stella_context::RequestContext;

    #[test]
    fn every_context_field_fills_its_slot() {
        let req = RequestContext::new()
            .with_tenant_id("t")
            .with_project_id("p")
            .with_actor("a")
            .with_request_id("r")
            .with_job_id("j")
            .with_run_id("u")
            .with_source_id("s")
            .with_sbom_id("b")
            .with_policy_version("v");
        let fields: Vec<_> = req.fields().collect();
        assert_eq!(fields.len(), 9, "a new context field needs its slot here");
        let mut ev = EventFields::default();
        // A slot the event set stays.
        let own = ev.push_arena("own");
        ev.put_slot(Slot::Actor, own, Origin::Raw);
        fill_from_context(&mut ev, &req);
        for (name, value) in fields {
            let slot = Slot::of(name).expect("a context field is a common field");
            let want = if slot == Slot::Actor { "own" } else { value };
            match ev.slots[slot.index()] {
                Some((Val::Str(s, e), Origin::Raw)) => assert_eq!(ev.str_at(s, e), want, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // Nothing else is set.
        let set = ev.slots.iter().filter(|s| s.is_some()).count();
        assert_eq!(set, 9);
        // An empty context sets nothing.
        let mut ev = EventFields::default();
        fill_from_context(&mut ev, &RequestContext::new());
        assert!(ev.slots.iter().all(Option::is_none));
    }
}

#[cfg(test)]
mod id_tests {
    use super::{EventFields, Origin, Slot, Val, fill_ids, id_member};
    use stella_context::{
        Baggage, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState,
    };

    fn context(n: u8) -> TraceContext {
        let t = TraceId::from_bytes([
            n, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
            1,
        ])
        .unwrap();
        let s = SpanId::from_bytes([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, n, 0xb7]).unwrap();
        TraceContext::new(
            TraceParent::new(t, s, TraceFlags::default()),
            TraceState::new(),
            Baggage::new(),
        )
    }

    fn member(ev: &EventFields, slot: Slot) -> Option<&str> {
        match ev.slots[slot.index()] {
            Some((Val::Str(s, e), Origin::Json)) => Some(ev.str_at(s, e)),
            _ => None,
        }
    }

    #[test]
    fn kept_id_members_are_the_rendered_ones() {
        // More contexts than are kept, each several times, with either id set by the event.
        for round in 0..3 {
            for n in 0..20u8 {
                let cx = context(n);
                let want_trace = format!(",\"trace_id\":\"{}\"", cx.trace_id());
                let want_span = format!(",\"span_id\":\"{}\"", cx.span_id());
                let mut ev = EventFields::default();
                ev.push_arena("x");
                fill_ids(&mut ev, &cx);
                assert_eq!(
                    member(&ev, Slot::TraceId),
                    Some(want_trace.as_str()),
                    "{round} {n}"
                );
                assert_eq!(member(&ev, Slot::SpanId), Some(want_span.as_str()));
                // The event set its trace id: only the span id is filled, and the other way.
                for own in [Slot::TraceId, Slot::SpanId] {
                    let mut ev = EventFields::default();
                    let v = ev.push_arena("own");
                    ev.put_slot(own, v, Origin::Raw);
                    fill_ids(&mut ev, &cx);
                    assert_eq!(ev.slots[own.index()], Some((v, Origin::Raw)));
                    let (other, want) = if own == Slot::TraceId {
                        (Slot::SpanId, &want_span)
                    } else {
                        (Slot::TraceId, &want_trace)
                    };
                    assert_eq!(member(&ev, other), Some(want.as_str()));
                }
            }
        }
    }

    #[test]
    fn rendered_id_members_fill_the_slots_as_the_trace_context_does() {
        for n in 0..20u8 {
            let cx = context(n);
            let mut ids = String::new();
            super::push_ids_json(
                &mut ids,
                &cx.trace_id().to_bytes(),
                &cx.span_id().to_bytes(),
                None,
            );
            assert_eq!(
                ids,
                format!(
                    ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                    cx.trace_id(),
                    cx.span_id()
                )
            );
            // Both empty, or either set by the event: the same members as from the context.
            for own in [None, Some(Slot::TraceId), Some(Slot::SpanId)] {
                let fill = |from_text: bool| {
                    let mut ev = EventFields::default();
                    ev.push_arena("x");
                    if let Some(own) = own {
                        let v = ev.push_arena("own");
                        ev.put_slot(own, v, Origin::Raw);
                    }
                    if from_text {
                        super::fill_ids_json(&mut ev, &ids);
                    } else {
                        fill_ids(&mut ev, &cx);
                    }
                    [Slot::TraceId, Slot::SpanId].map(|s| match ev.slots[s.index()] {
                        Some((Val::Str(a, b), o)) => Some((ev.str_at(a, b).to_owned(), o)),
                        _ => None,
                    })
                };
                assert_eq!(fill(true), fill(false), "{n} {own:?}");
            }
        }
    }

    #[test]
    fn the_parent_goes_with_the_span_id_it_belongs_to() {
        let (trace, span, parent) = ([0xab; 16], [0x12; 8], [0x34; 8]);
        let parent_of = |ev: &EventFields| match ev.slots[Slot::ParentSpanId.index()] {
            Some((Val::Str(a, b), Origin::Json)) => Some(ev.str_at(a, b).to_owned()),
            _ => None,
        };
        let mut child = String::new();
        super::push_ids_json(&mut child, &trace, &span, Some(&parent));
        assert!(child.ends_with(
            ",\"span_id\":\"1212121212121212\",\"parent_span_id\":\"3434343434343434\""
        ));
        // The span's ids taken: its parent with them, not an outer span's.
        let mut ev = EventFields::default();
        super::fill_ids_json(&mut ev, &child);
        assert_eq!(
            parent_of(&ev).as_deref(),
            Some(",\"parent_span_id\":\"3434343434343434\"")
        );
        // The event names its own span id: the parent is left to the sources after.
        let mut ev = EventFields::default();
        ev.push_arena("x");
        let own = ev.push_arena("own");
        ev.put_slot(Slot::SpanId, own, Origin::Raw);
        super::fill_ids_json(&mut ev, &child);
        assert_eq!(parent_of(&ev), None);
        // A root span: the slot is taken by an empty member, so no outer span fills it.
        let mut root = String::new();
        super::push_ids_json(&mut root, &trace, &span, None);
        let mut ev = EventFields::default();
        super::fill_ids_json(&mut ev, &root);
        assert_eq!(parent_of(&ev).as_deref(), Some(""));
        assert!(!ev.is_empty_slot(Slot::ParentSpanId));
    }

    #[test]
    fn id_members_are_quoted_lowercase_hex() {
        let mut buf = [0u8; 48];
        let id = [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ];
        let n = id_member(&mut buf, "trace_id", &id);
        assert_eq!(
            &buf[..n],
            br#","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#
        );
        let n = id_member(
            &mut buf,
            "span_id",
            &[0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        );
        assert_eq!(&buf[..n], br#","span_id":"00f067aa0ba902b7""#);
        // Too long for the buffer: nothing written.
        assert_eq!(
            id_member(&mut buf, "a_key_much_longer_than_any_slot_name", &id),
            0
        );
    }
}
