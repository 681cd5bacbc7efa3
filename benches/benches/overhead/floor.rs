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

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
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

fn level(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

thread_local! {
    /// The line being rendered (one per thread, reused).
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The layer (see the module docs).
pub(crate) struct Floor {
    queued: Arc<Mutex<Vec<u8>>>,
}

impl Floor {
    /// A layer writing to `path`, and the closure that writes what is queued at once.
    pub(crate) fn new(path: &std::path::Path) -> (Floor, Box<dyn Fn()>) {
        let queued = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
        let file = Arc::new(Mutex::new(
            std::fs::File::create(path).expect("the floor's log file"),
        ));
        let write = {
            let queued = Arc::clone(&queued);
            move |file: &Mutex<std::fs::File>| {
                let lines =
                    std::mem::take(&mut *queued.lock().unwrap_or_else(PoisonError::into_inner));
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
        (Floor { queued }, Box::new(move || write(&file)))
    }
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
            line.clear();
            line.push_str("{\"ts\":");
            let micros = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            push_u64(line, micros);
            line.push_str(",\"level\":\"");
            line.push_str(level(event.metadata().level()));
            line.push_str("\",\"service\":\"bench-service\",\"version\":\"1.0.0\"");
            let mut next = ctx.event_span(event);
            while let Some(span) = next {
                if let Some(fields) = span.extensions().get::<Rendered>() {
                    line.push_str(&fields.0);
                }
                next = span.parent();
            }
            event.record(&mut Members(line));
            line.push_str("}\n");
            self.queued
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(line.as_bytes());
        });
    }
}
