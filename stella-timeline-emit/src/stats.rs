//! Delivery counters: atomics for the snapshot, mirrored to the `metrics` facade.

use std::sync::atomic::{AtomicU64, Ordering};

/// Metric names, all counters of events.
pub(crate) mod names {
    pub(crate) const EMITTED: &str = "stella_timeline_events_emitted_total";
    pub(crate) const DELIVERED: &str = "stella_timeline_events_delivered_total";
    #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
    pub(crate) const RETRIED: &str = "stella_timeline_events_retried_total";
    pub(crate) const JOURNALED: &str = "stella_timeline_events_journaled_total";
    pub(crate) const REPLAYED: &str = "stella_timeline_events_replayed_total";
    pub(crate) const DROPPED: &str = "stella_timeline_events_dropped_total";
    #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
    pub(crate) const REJECTED: &str = "stella_timeline_events_rejected_total";
    /// Gauge: events waiting in a remote sink's memory queue, under the workspace-wide
    /// queue-depth name (`stella_queue_depth{queue="timeline_<sink>"}` on `/metrics`).
    #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
    pub(crate) const QUEUE_DEPTH: &str = "stella.queue.depth";
    /// Gauge: bytes of a remote sink's journal on disk.
    #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
    pub(crate) const JOURNAL_BYTES: &str = "stella_timeline_journal_bytes";
}

/// A snapshot of an emitter's counters (see [`Emitter::stats`](crate::Emitter::stats)).
///
/// The same numbers go to the `metrics` facade as `stella_timeline_events_<name>_total`
/// counters (`delivered`, `retried`, `journaled`, `replayed` and `rejected` carry a `sink`
/// label).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events accepted by `emit()`.
    pub emitted: u64,
    /// Events a sink delivered (written to file, accepted or recognised as duplicate by the
    /// endpoint, acknowledged by JetStream).
    pub delivered: u64,
    /// Event sends that were repeated after a failure.
    pub retried: u64,
    /// Events written to a journal (while an endpoint was away or a queue was full).
    pub journaled: u64,
    /// Events delivered from a journal.
    pub replayed: u64,
    /// Events lost: queue full without a journal, journal full or unwritable, or left over at
    /// shutdown without a journal. Each one is also logged.
    pub dropped: u64,
    /// Events the endpoint refused as invalid (logged, not retried).
    pub rejected: u64,
}

/// Live counters for one emitter or sink.
#[derive(Debug)]
pub(crate) struct Counters {
    sink: &'static str,
    emitted: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    journaled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

macro_rules! counter_fns {
    ($($fn:ident => $field:ident, $name:expr, $labelled:expr;)*) => {
        $(
            #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
            pub(crate) fn $fn(&self, n: u64) {
                if n == 0 {
                    return;
                }
                self.$field.fetch_add(n, Ordering::Relaxed);
                if $labelled {
                    metrics::counter!($name, "sink" => self.sink).increment(n);
                } else {
                    metrics::counter!($name).increment(n);
                }
            }
        )*
    };
}

impl Counters {
    pub(crate) fn new(sink: &'static str) -> Self {
        Counters {
            sink,
            emitted: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            journaled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    counter_fns! {
        delivered => delivered, names::DELIVERED, true;
        retried => retried, names::RETRIED, true;
        journaled => journaled, names::JOURNALED, true;
        replayed => replayed, names::REPLAYED, true;
        dropped => dropped, names::DROPPED, false;
        rejected => rejected, names::REJECTED, true;
    }

    /// Sets the sink's saturation gauges: events in its memory queue, bytes in its journal.
    #[cfg_attr(not(any(feature = "http", feature = "nats")), allow(dead_code))]
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn depth(&self, queued: usize, journal_bytes: u64) {
        let queue = match self.sink {
            "http" => "timeline_http",
            "nats" => "timeline_nats",
            _ => "timeline",
        };
        metrics::gauge!(names::QUEUE_DEPTH, "queue" => queue).set(queued as f64);
        metrics::gauge!(names::JOURNAL_BYTES, "sink" => self.sink).set(journal_bytes as f64);
    }

    /// Counts an emitted event in the snapshot only (the caller's thread stays cheap).
    pub(crate) fn emitted_local(&self) {
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Mirrors emitted events to the `metrics` facade (from the worker).
    pub(crate) fn emitted_metric(&self, n: u64) {
        metrics::counter!(names::EMITTED).increment(n);
    }

    /// Adds this set of counters into `into`.
    pub(crate) fn add_to(&self, into: &mut Stats) {
        into.emitted += self.emitted.load(Ordering::Relaxed);
        into.delivered += self.delivered.load(Ordering::Relaxed);
        into.retried += self.retried.load(Ordering::Relaxed);
        into.journaled += self.journaled.load(Ordering::Relaxed);
        into.replayed += self.replayed.load(Ordering::Relaxed);
        into.dropped += self.dropped.load(Ordering::Relaxed);
        into.rejected += self.rejected.load(Ordering::Relaxed);
    }
}
