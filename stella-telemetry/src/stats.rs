//! Counters of what the logger wrote, suppressed and dropped.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters shared by a layer and its writer.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) lines: AtomicU64,
    pub(crate) suppressed_callsite: AtomicU64,
    pub(crate) suppressed_tenant: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) priority_waits: AtomicU64,
    pub(crate) dropped_priority: AtomicU64,
    pub(crate) invalid_fields: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) summaries: AtomicU64,
    /// Lines waiting in the writer's queue (a gauge: set on each push and each drain).
    pub(crate) queued_lines: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn snapshot(&self) -> LogStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LogStats {
            lines: g(&self.lines),
            suppressed_callsite: g(&self.suppressed_callsite),
            suppressed_tenant: g(&self.suppressed_tenant),
            dropped_queue_full: g(&self.dropped_queue_full),
            priority_waits: g(&self.priority_waits),
            dropped_priority: g(&self.dropped_priority),
            invalid_fields: g(&self.invalid_fields),
            write_errors: g(&self.write_errors),
            summaries: g(&self.summaries),
        }
    }
}

/// A snapshot of the logger's counters. Every count only grows; export them as monotonic
/// counters (issue II wires them to metrics).
///
/// # Examples
///
/// ```
/// let stats = stella_telemetry::LogStats::default();
/// assert_eq!(stats.suppressed(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Lines formatted and handed to the writer.
    pub lines: u64,
    /// Info/debug/trace records suppressed by the per-call-site rate limit.
    pub suppressed_callsite: u64,
    /// Info/debug/trace records suppressed by the per-tenant rate limit.
    pub suppressed_tenant: u64,
    /// Info/debug/trace lines dropped because the writer queue was full.
    pub dropped_queue_full: u64,
    /// Error/warn/decision lines that had to wait for room in the queue.
    pub priority_waits: u64,
    /// Error/warn/decision lines dropped after waiting, with the queue twice over capacity
    /// (only when the output is stuck).
    pub dropped_priority: u64,
    /// Known-format values (trace ids, span ids, methods) dropped as invalid.
    pub invalid_fields: u64,
    /// Failed writes to the output.
    pub write_errors: u64,
    /// Suppression summary lines written.
    pub summaries: u64,
}

impl LogStats {
    /// Everything suppressed or dropped, of any level.
    pub fn suppressed(&self) -> u64 {
        self.suppressed_callsite
            + self.suppressed_tenant
            + self.dropped_queue_full
            + self.dropped_priority
    }
}
