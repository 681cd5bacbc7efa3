//! The floor of a JSON log layer on the `tracing-subscriber` registry, the "floor" mode of the
//! overhead bench: the least any layer writing the bench's lines as JSON to a file must do, and
//! nothing the product requires besides. Each span's fields are rendered once, when it starts,
//! into its extensions; each event is rendered with the rendered fields of its span and the
//! span's parents into one line, appended to a shared buffer that a background thread writes
//! to a file every 10 ms (no wake-up per line).
//!
//! Left out on purpose (what `stella-telemetry` does on top): scrubbing, JSON escaping, the
//! common fields' schema and order, trace and span ids, validation, rate limits, trace export
//! and metrics. Its cost against "off" is a lower bound for every conforming implementation
//! that keeps `tracing-subscriber`'s registry and layers.
//!
//! [`OwnFloor`] ("floor-own") writes the same lines from a `tracing` subscriber of its own
//! instead of the registry and a layer: spans in one locked table (fields, parent, reference
//! count, metadata), the entered spans in a per-thread stack. What it saves against [`Floor`]
//! is what a stack of our own, without the registry, could save at most.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A span's fields, rendered as `,"key":value` members.
struct Rendered(String);

/// Renders visited fields as `,"key":value` members (strings quoted, not escaped).
struct Members<'a>(&'a mut String);

impl Members<'_> {
    fn key(&mut self, field: &Field) {
        self.0.push_str(",\"");
        self.0.push_str(field.name());
        self.0.push_str("\":");
    }
}

impl Visit for Members<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.key(field);
        self.0.push('"');
        let _ = write!(self.0, "{value:?}");
        self.0.push('"');
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.0.push('"');
        self.0.push_str(value);
        self.0.push('"');
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_u64(self.0, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.0.push('-');
        }
        push_u64(self.0, value.unsigned_abs());
    }
}

/// Appends the decimal digits of `v`.
fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || at == 0 {
            break;
        }
    }
    if let Some(text) = digits.get(at..).and_then(|d| std::str::from_utf8(d).ok()) {
        out.push_str(text);
    }
}

thread_local! {
    /// The line being rendered (one per thread, reused).
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The lines waiting for the writer thread.
type Queued = Arc<Mutex<Vec<u8>>>;

/// The layer (see the module docs).
pub(crate) struct Floor {
    queued: Queued,
}

impl Floor {
    /// A layer writing to `path`, and the closure that writes what is queued at once.
    pub(crate) fn new(path: &std::path::Path) -> (Floor, Box<dyn Fn()>) {
        let (queued, flush) = writer(path);
        (Floor { queued }, flush)
    }
}

/// The buffer lines are appended to, written to `path` by a thread every 10 ms, and the
/// closure that writes what is queued at once.
fn writer(path: &std::path::Path) -> (Queued, Box<dyn Fn()>) {
    let queued = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
    let file = Arc::new(Mutex::new(
        std::fs::File::create(path).expect("the floor's log file"),
    ));
    let write = {
        let queued = Arc::clone(&queued);
        move |file: &Mutex<std::fs::File>| {
            let lines = std::mem::take(&mut *queued.lock().unwrap_or_else(PoisonError::into_inner));
            let _ = file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(&lines);
        }
    };
    let (background, file_bg) = (write.clone(), Arc::clone(&file));
    std::thread::Builder::new()
        .name("floor-writer".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(10));
                background(&file_bg);
            }
        })
        .expect("the floor's writer thread");
    (queued, Box::new(move || write(&file)))
}

/// Starts a line: `ts`, `level` and the static members.
fn line_head(line: &mut String, event: &Event<'_>) {
    line.clear();
    line.push_str("{\"ts\":");
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    push_u64(line, micros);
    line.push_str(",\"level\":\"");
    line.push_str(event.metadata().level().as_str());
    line.push_str("\",\"service\":\"bench-service\",\"version\":\"1.0.0\"");
}

/// Ends a line with the event's fields and queues it.
fn line_tail(line: &mut String, event: &Event<'_>, queued: &Mutex<Vec<u8>>) {
    event.record(&mut Members(line));
    line.push_str("}\n");
    queued
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend_from_slice(line.as_bytes());
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Floor {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::with_capacity(512);
        attrs.record(&mut Members(&mut fields));
        span.extensions_mut().insert(Rendered(fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        LINE.with_borrow_mut(|line| {
            line_head(line, event);
            let mut next = ctx.event_span(event);
            while let Some(span) = next {
                if let Some(fields) = span.extensions().get::<Rendered>() {
                    line.push_str(&fields.0);
                }
                next = span.parent();
            }
            line_tail(line, event, &self.queued);
        });
    }
}

/// One span of [`OwnFloor`]'s table.
struct OwnSpan {
    fields: String,
    parent: Option<u64>,
    refs: usize,
    meta: &'static Metadata<'static>,
}

/// The spans of [`OwnFloor`]: slot `i` is span id `i + 1`.
#[derive(Default)]
struct Table {
    spans: Vec<Option<OwnSpan>>,
    free: Vec<usize>,
}

impl Table {
    fn get_mut(&mut self, id: u64) -> Option<&mut OwnSpan> {
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        self.spans.get_mut(i).and_then(Option::as_mut)
    }

    /// Drops one reference to `id`, and the reference it held to its parent when it closes
    /// (and so on up). Whether `id` closed.
    fn release(&mut self, id: u64) -> bool {
        let mut closed = false;
        let mut next = Some(id);
        while let Some(at) = next.take() {
            let Some(span) = self.get_mut(at) else { break };
            span.refs -= 1;
            if span.refs > 0 {
                break;
            }
            next = span.parent;
            let i = usize::try_from(at - 1).unwrap_or(usize::MAX);
            if let Some(slot) = self.spans.get_mut(i) {
                *slot = None;
                self.free.push(i);
            }
            closed |= at == id;
        }
        closed
    }
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The same lines as [`Floor`], from a subscriber of its own (see the module docs).
pub(crate) struct OwnFloor {
    queued: Queued,
    table: Mutex<Table>,
}

impl OwnFloor {
    /// A subscriber writing to `path`, and the closure that writes what is queued at once.
    pub(crate) fn new(path: &std::path::Path) -> (OwnFloor, Box<dyn Fn()>) {
        let (queued, flush) = writer(path);
        let table = Mutex::new(Table::default());
        (OwnFloor { queued, table }, flush)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<u64> {
        ENTERED.with_borrow(|e| e.last().copied())
    }
}

impl Subscriber for OwnFloor {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = String::with_capacity(512);
        attrs.record(&mut Members(&mut fields));
        let parent = if attrs.is_root() {
            None
        } else {
            attrs.parent().map(Id::into_u64).or_else(|| self.current())
        };
        let mut table = self.table();
        if let Some(p) = parent.and_then(|p| table.get_mut(p)) {
            p.refs += 1;
        }
        let span = OwnSpan {
            fields,
            parent,
            refs: 1,
            meta: attrs.metadata(),
        };
        let i = match table.free.pop() {
            Some(i) => {
                if let Some(slot) = table.spans.get_mut(i) {
                    *slot = Some(span);
                }
                i
            }
            None => {
                table.spans.push(Some(span));
                table.spans.len() - 1
            }
        };
        Id::from_u64(u64::try_from(i).unwrap_or(u64::MAX - 1) + 1)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        if let Some(span) = self.table().get_mut(id.into_u64()) {
            values.record(&mut Members(&mut span.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        LINE.with_borrow_mut(|line| {
            line_head(line, event);
            let first = if event.is_root() {
                None
            } else {
                event.parent().map(Id::into_u64).or_else(|| self.current())
            };
            {
                let mut table = self.table();
                let mut next = first;
                while let Some(span) = next.and_then(|id| table.get_mut(id)) {
                    line.push_str(&span.fields);
                    next = span.parent;
                }
            }
            line_tail(line, event, &self.queued);
        });
    }

    fn enter(&self, id: &Id) {
        ENTERED.with_borrow_mut(|e| e.push(id.into_u64()));
    }

    fn exit(&self, id: &Id) {
        let id = id.into_u64();
        ENTERED.with_borrow_mut(|e| {
            if let Some(at) = e.iter().rposition(|x| *x == id) {
                e.remove(at);
            }
        });
    }

    fn clone_span(&self, id: &Id) -> Id {
        if let Some(span) = self.table().get_mut(id.into_u64()) {
            span.refs += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        self.table().release(id.into_u64())
    }

    fn current_span(&self) -> Current {
        match self.current() {
            Some(id) => match self.table().get_mut(id) {
                Some(span) => Current::new(Id::from_u64(id), span.meta),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}
