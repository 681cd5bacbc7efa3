//! Counters of the trace pipeline.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans_started: AtomicU64,
    pub(crate) spans_head_sampled: AtomicU64,
    pub(crate) spans_queued: AtomicU64,
    pub(crate) spans_exported: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_export: AtomicU64,
    pub(crate) export_failures: AtomicU64,
    pub(crate) exports: AtomicU64,
    pub(crate) tail_kept_traces: AtomicU64,
    pub(crate) tail_discarded_spans: AtomicU64,
    pub(crate) tail_overflow_spans: AtomicU64,
    pub(crate) dropped_attributes: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) export_retries: AtomicU64,
    pub(crate) rejected_spans: AtomicU64,
    /// Why the last failed export request failed.
    last_error: std::sync::Mutex<Option<String>>,
}

pub(crate) fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

impl Counters {
    /// Keeps why an export request failed (the export thread's, once per failed request).
    pub(crate) fn set_last_error(&self, reason: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(reason);
        }
    }

    /// Why the last failed export request failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    pub(crate) fn snapshot(&self) -> TraceStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TraceStats {
            spans_started: g(&self.spans_started),
            spans_head_sampled: g(&self.spans_head_sampled),
            spans_queued: g(&self.spans_queued),
            spans_exported: g(&self.spans_exported),
            dropped_queue_full: g(&self.dropped_queue_full),
            dropped_export: g(&self.dropped_export),
            export_failures: g(&self.export_failures),
            exports: g(&self.exports),
            tail_kept_traces: g(&self.tail_kept_traces),
            tail_discarded_spans: g(&self.tail_discarded_spans),
            tail_overflow_spans: g(&self.tail_overflow_spans),
            dropped_attributes: g(&self.dropped_attributes),
            dropped_events: g(&self.dropped_events),
            export_retries: g(&self.export_retries),
            rejected_spans: g(&self.rejected_spans),
        }
    }
}

/// A snapshot of the trace pipeline's counters. Every count only grows.
///
/// # Examples
///
/// ```
/// let stats = stella_telemetry::TraceStats::default();
/// assert_eq!(stats.dropped(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceStats {
    /// Spans opened while tracing was on.
    pub spans_started: u64,
    /// Spans the head sampler kept (they go to the exporter when they end).
    pub spans_head_sampled: u64,
    /// Spans handed to the export queue (head-sampled, or kept by the tail sampler).
    pub spans_queued: u64,
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Spans dropped because the export queue was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because their export failed (collector down, slow or answering an error).
    pub dropped_export: u64,
    /// Export requests that failed (after their retries).
    pub export_failures: u64,
    /// Export requests sent again after the collector answered "try again later" (HTTP 429,
    /// 502, 503, 504 or a retryable gRPC status) or could not be reached (connection refused
    /// or broken before the answer): at most two per request.
    pub export_retries: u64,
    /// Spans the collector refused in a request it otherwise accepted (OTLP's partial success:
    /// never retried); counted in [`dropped`](Self::dropped).
    pub rejected_spans: u64,
    /// Export requests sent.
    pub exports: u64,
    /// Traces the head sampler had not kept that the tail sampler kept (error or slow).
    pub tail_kept_traces: u64,
    /// Unsampled spans the tail sampler discarded (fast traces without errors).
    pub tail_discarded_spans: u64,
    /// Unsampled spans dropped because the tail buffer was full or too old.
    pub tail_overflow_spans: u64,
    /// Attributes dropped over the per-span limit.
    pub dropped_attributes: u64,
    /// Events dropped over the per-span limit.
    pub dropped_events: u64,
}

impl TraceStats {
    /// Spans lost to backpressure or failed exports (not counting sampling decisions).
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_export
            + self.tail_overflow_spans
            + self.rejected_spans
    }
}
