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
/// see the record's own target and level; the line carries the message and, as
/// `details."log.target"`, the record's target.
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
        let (Some(message), Some(target)) = (fields.field("message"), fields.field("log.target"))
        else {
            return;
        };
        let args = record.args();
        let tgt = record.target();
        dispatcher::get_default(|d| {
            if !d.enabled(&meta) {
                return;
            }
            let values = [
                (&message, Some(args as &dyn Value)),
                (&target, Some(&tgt as &dyn Value)),
            ];
            let vs = fields.value_set(&values);
            d.event(&Event::new(static_meta, &vs));
        });
    }

    fn flush(&self) {}
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
