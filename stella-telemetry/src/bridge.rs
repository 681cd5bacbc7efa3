//! The `log` crate bridge: records from dependencies become `tracing` events, so they come out
//! in the same schema, scrubbed.

use std::sync::Once;

use tracing_core::field::{FieldSet, Value};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Level, Metadata, callsite, dispatcher, identify_callsite};
use tracing_subscriber::filter::LevelFilter;

static FIELD_NAMES: &[&str] = &[
    "message",
    "log.target",
    "log.module_path",
    "log.file",
    "log.line",
    "log.kv",
];

macro_rules! log_callsite {
    ($level:expr, $cs:ident, $meta:ident, $ty:ident) => {
        struct $ty;
        static $cs: $ty = $ty;
        static $meta: Metadata<'static> = Metadata::new(
            "log record",
            "log",
            $level,
            None,
            None,
            None,
            FieldSet::new(FIELD_NAMES, identify_callsite!(&$cs)),
            Kind::EVENT,
        );
        impl callsite::Callsite for $ty {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &'static Metadata<'static> {
                &$meta
            }
        }
    };
}

log_callsite!(Level::TRACE, TRACE_CS, TRACE_META, TraceCallsite);
log_callsite!(Level::DEBUG, DEBUG_CS, DEBUG_META, DebugCallsite);
log_callsite!(Level::INFO, INFO_CS, INFO_META, InfoCallsite);
log_callsite!(Level::WARN, WARN_CS, WARN_META, WarnCallsite);
log_callsite!(Level::ERROR, ERROR_CS, ERROR_META, ErrorCallsite);

static REGISTER: Once = Once::new();

fn register() {
    REGISTER.call_once(|| {
        callsite::register(&TRACE_CS);
        callsite::register(&DEBUG_CS);
        callsite::register(&INFO_CS);
        callsite::register(&WARN_CS);
        callsite::register(&ERROR_CS);
    });
}

fn callsite_for(
    level: log::Level,
) -> (
    &'static dyn callsite::Callsite,
    &'static Metadata<'static>,
    Level,
) {
    match level {
        log::Level::Error => (&ERROR_CS, &ERROR_META, Level::ERROR),
        log::Level::Warn => (&WARN_CS, &WARN_META, Level::WARN),
        log::Level::Info => (&INFO_CS, &INFO_META, Level::INFO),
        log::Level::Debug => (&DEBUG_CS, &DEBUG_META, Level::DEBUG),
        log::Level::Trace => (&TRACE_CS, &TRACE_META, Level::TRACE),
    }
}

/// A [`log::Log`] that turns records into `tracing` events of the current dispatcher: filters
/// see the record's own target and level; the line carries the message, as
/// `details."log.target"` the record's target and, when the record has structured key-values
/// (`log::info!(user_id = 42; "login")`), as `details."log.kv"` those pairs in logfmt
/// (`user_id=42`), scrubbed like any free text, so `password=…` is redacted by its key.
///
/// [`init`](crate::init) installs it; install it yourself with [`log::set_boxed_logger`] when
/// you compose your own subscriber.
///
/// # Examples
///
/// ```
/// use log::Log as _;
///
/// let bridge = stella_telemetry::LogBridge::new();
/// bridge.log(&log::Record::builder().level(log::Level::Warn).target("hyper").args(format_args!("connection reset")).build());
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct LogBridge;

impl LogBridge {
    /// A bridge.
    pub fn new() -> Self {
        register();
        LogBridge
    }
}

fn meta_for<'a>(level: log::Level, target: &'a str) -> Metadata<'a> {
    let (cs, _, lvl) = callsite_for(level);
    Metadata::new(
        "log record",
        target,
        lvl,
        None,
        None,
        None,
        FieldSet::new(FIELD_NAMES, identify_callsite!(cs)),
        Kind::EVENT,
    )
}

impl log::Log for LogBridge {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        let meta = meta_for(m.level(), m.target());
        dispatcher::get_default(|d| d.enabled(&meta))
    }

    fn log(&self, record: &log::Record<'_>) {
        register();
        let (_, static_meta, _) = callsite_for(record.level());
        let meta = meta_for(record.level(), record.target());
        let fields = static_meta.fields();
        let (Some(message), Some(target), Some(kv_field)) = (
            fields.field("message"),
            fields.field("log.target"),
            fields.field("log.kv"),
        ) else {
            return;
        };
        let args = record.args();
        let tgt = record.target();
        dispatcher::get_default(|d| {
            if !d.enabled(&meta) {
                return;
            }
            let kv = logfmt(record.key_values());
            let kv = kv.as_deref();
            let values = [
                (&message, Some(args as &dyn Value)),
                (&target, Some(&tgt as &dyn Value)),
                (&kv_field, kv.as_ref().map(|s| s as &dyn Value)),
            ];
            let vs = fields.value_set(&values);
            d.event(&Event::new(static_meta, &vs));
        });
    }

    fn flush(&self) {}
}

/// A record's key-values as one logfmt text (`user_id=42 note="two words"`), `None` when it
/// has none. Keys keep `[A-Za-z0-9_.-]` (anything else becomes `_`); a value that is empty or
/// holds a space, quote, `=`, backslash or control character is quoted, with `"`, `\` and
/// control characters escaped, so the scrubber reads each pair as one key and one value.
fn logfmt(source: &dyn log::kv::Source) -> Option<String> {
    struct Logfmt(String);
    impl<'kvs> log::kv::VisitSource<'kvs> for Logfmt {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            use std::fmt::Write as _;
            let out = &mut self.0;
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(key.as_str().chars().map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            }));
            out.push('=');
            let start = out.len();
            let _ = write!(out, "{value}");
            let needs_quotes = out.len() == start
                || out[start..]
                    .chars()
                    .any(|c| matches!(c, ' ' | '"' | '=' | '\\') || c.is_control());
            if needs_quotes {
                let raw = out.split_off(start);
                out.push('"');
                for c in raw.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if c.is_control() => {
                            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Ok(())
        }
    }
    if source.count() == 0 {
        return None;
    }
    let mut v = Logfmt(String::new());
    let _ = source.visit(&mut v);
    Some(v.0)
}

/// Installs the bridge as the `log` logger, with `log`'s max level from the filter.
pub(crate) fn install(max: Option<LevelFilter>) -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(LogBridge::new()))?;
    let level = match max {
        Some(LevelFilter::OFF) => log::LevelFilter::Off,
        Some(LevelFilter::ERROR) => log::LevelFilter::Error,
        Some(LevelFilter::WARN) => log::LevelFilter::Warn,
        Some(LevelFilter::INFO) => log::LevelFilter::Info,
        Some(LevelFilter::DEBUG) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    log::set_max_level(level);
    Ok(())
}
