//! In-process tail sampling: buffer the spans of unsampled traces until the local root ends,
//! then keep the trace when it was slow or had an error.

#![expect(
    clippy::vec_box,
    reason = "span data is boxed so that it moves whole (a pointer) between the pool, the spans, the queue and the tail buffer"
)]

use std::collections::{HashMap, HashSet, VecDeque};

use super::TraceConfig;
use super::layer::SpanData;
use super::stats::{Counters, add};

/// How many kept trace ids are remembered, so that spans ending after their root follow it.
const KEPT_MEMORY: usize = 4_096;

#[derive(Debug)]
struct Pending {
    spans: Vec<Box<SpanData>>,
    error: bool,
    since: u64,
}

/// The tail buffer, bounded in traces, spans and age.
#[derive(Debug)]
pub(crate) struct Tail {
    pending: HashMap<[u8; 16], Pending>,
    order: VecDeque<([u8; 16], u64)>,
    spans: usize,
    kept: VecDeque<[u8; 16]>,
    kept_set: HashSet<[u8; 16]>,
    latency_nanos: u64,
    max_traces: usize,
    max_spans: usize,
    max_age_nanos: u64,
}

impl Tail {
    pub(crate) fn new(config: &TraceConfig) -> Self {
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Tail {
            pending: HashMap::new(),
            order: VecDeque::new(),
            spans: 0,
            kept: VecDeque::new(),
            kept_set: HashSet::new(),
            latency_nanos: nanos(config.tail_latency),
            max_traces: config.tail_max_traces,
            max_spans: config.tail_max_spans,
            max_age_nanos: nanos(config.tail_max_age),
        }
    }

    fn remember(&mut self, trace_id: [u8; 16], stats: &Counters) {
        add(&stats.tail_kept_traces, 1);
        if self.kept_set.insert(trace_id) {
            self.kept.push_back(trace_id);
            if self.kept.len() > KEPT_MEMORY
                && let Some(old) = self.kept.pop_front()
            {
                self.kept_set.remove(&old);
            }
        }
    }

    /// Evicts the oldest pending trace: kept when it had an error, dropped otherwise.
    fn evict_oldest(&mut self, out: &mut Vec<Box<SpanData>>, stats: &Counters) -> bool {
        while let Some((id, since)) = self.order.pop_front() {
            let stale = self.pending.get(&id).is_none_or(|p| p.since != since);
            if stale {
                continue;
            }
            if let Some(p) = self.pending.remove(&id) {
                self.spans = self.spans.saturating_sub(p.spans.len());
                if p.error {
                    out.extend(p.spans);
                    self.remember(id, stats);
                } else {
                    add(&stats.tail_overflow_spans, p.spans.len());
                }
            }
            return true;
        }
        false
    }

    fn expire(&mut self, now: u64, out: &mut Vec<Box<SpanData>>, stats: &Counters) {
        while let Some(&(id, since)) = self.order.front() {
            if now.saturating_sub(since) < self.max_age_nanos {
                let live = self.pending.get(&id).is_some_and(|p| p.since == since);
                if live {
                    break;
                }
                self.order.pop_front();
                continue;
            }
            self.evict_oldest(out, stats);
        }
    }

    /// Applies the age bound without a new span (the housekeeping tick): traces waiting longer
    /// than the maximum age are dropped, or exported when they had an error.
    pub(crate) fn sweep(&mut self, now: u64, out: &mut Vec<Box<SpanData>>, stats: &Counters) {
        self.expire(now, out, stats);
    }

    /// Takes one ended span the head sampler did not keep; appends what is now to be exported
    /// to `out`.
    pub(crate) fn offer(
        &mut self,
        span: Box<SpanData>,
        now: u64,
        out: &mut Vec<Box<SpanData>>,
        stats: &Counters,
    ) {
        self.expire(now, out, stats);
        let id = span.trace_id;
        if self.kept_set.contains(&id) {
            out.push(span);
            return;
        }
        if span.local_root {
            let pending = self.pending.remove(&id);
            let n = pending.as_ref().map_or(0, |p| p.spans.len());
            self.spans = self.spans.saturating_sub(n);
            let keep = span.is_error()
                || span.duration_nanos() >= self.latency_nanos
                || pending.as_ref().is_some_and(|p| p.error);
            if keep {
                if let Some(p) = pending {
                    out.extend(p.spans);
                }
                out.push(span);
                self.remember(id, stats);
            } else {
                add(&stats.tail_discarded_spans, n + 1);
            }
            return;
        }
        if !self.pending.contains_key(&id) {
            while self.pending.len() >= self.max_traces {
                if !self.evict_oldest(out, stats) {
                    break;
                }
            }
            self.pending.insert(
                id,
                Pending {
                    spans: Vec::new(),
                    error: false,
                    since: now,
                },
            );
            self.order.push_back((id, now));
        }
        while self.spans >= self.max_spans {
            let oldest_is_this = self
                .order
                .iter()
                .find(|(i, s)| self.pending.get(i).is_some_and(|p| p.since == *s))
                .is_none_or(|(i, _)| *i == id);
            if oldest_is_this || !self.evict_oldest(out, stats) {
                break;
            }
        }
        let error = span.is_error();
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        p.error |= error;
        if self.spans >= self.max_spans {
            // The buffer is full of this very trace: keep the error flag, drop the span.
            add(&stats.tail_overflow_spans, 1);
            return;
        }
        p.spans.push(span);
        self.spans += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::trace::layer::Status;

    fn span(trace: u8, root: bool, dur: u64, error: bool) -> Box<SpanData> {
        let mut s = SpanData::new("s");
        s.trace_id = [trace; 16];
        s.span_id = [1; 8];
        s.local_root = root;
        s.start = 100;
        s.end = 100 + dur;
        if error {
            s.status = Status::Error(String::new());
        }
        Box::new(s)
    }

    #[test]
    fn keeps_errors_and_slow_roots() {
        let cfg = TraceConfig::new().with_tail_latency(Duration::from_nanos(1_000));
        let mut t = Tail::new(&cfg);
        let stats = Counters::default();
        let mut out = Vec::new();
        // fast, no error: discarded
        t.offer(span(1, false, 10, false), 0, &mut out, &stats);
        t.offer(span(1, true, 10, false), 0, &mut out, &stats);
        assert!(out.is_empty());
        // an error in a child keeps the whole trace
        t.offer(span(2, false, 10, true), 0, &mut out, &stats);
        t.offer(span(2, true, 10, false), 0, &mut out, &stats);
        assert_eq!(out.len(), 2);
        // a late child of a kept trace follows it
        t.offer(span(2, false, 10, false), 0, &mut out, &stats);
        assert_eq!(out.len(), 3);
        // slow root
        out.clear();
        t.offer(span(3, true, 5_000, false), 0, &mut out, &stats);
        assert_eq!(out.len(), 1);
        assert_eq!(stats.snapshot().tail_kept_traces, 2);
        assert_eq!(stats.snapshot().tail_discarded_spans, 2);
    }

    #[test]
    fn bounded() {
        let cfg = TraceConfig::new().with_tail_limits(2, 3, Duration::from_nanos(50));
        let mut t = Tail::new(&cfg);
        let stats = Counters::default();
        let mut out = Vec::new();
        for trace in 1..=5u8 {
            t.offer(span(trace, false, 1, false), 0, &mut out, &stats);
        }
        assert!(t.pending.len() <= 2);
        assert!(t.spans <= 3);
        for _ in 0..5 {
            t.offer(span(9, false, 1, false), 0, &mut out, &stats);
        }
        assert!(t.spans <= 3);
        // age: everything older than 50 ns goes
        t.offer(span(7, false, 1, true), 1_000, &mut out, &stats);
        assert_eq!(t.pending.len(), 1);
        assert!(stats.snapshot().tail_overflow_spans > 0);
        // an error trace evicted by age is kept
        t.offer(span(8, false, 1, false), 2_000, &mut out, &stats);
        assert_eq!(out.len(), 1);
        // the housekeeping sweep applies the age bound without a new span
        out.clear();
        t.offer(span(10, false, 1, true), 3_000, &mut out, &stats);
        t.sweep(3_010, &mut out, &stats);
        assert!(out.is_empty(), "not old yet");
        t.sweep(10_000, &mut out, &stats);
        assert_eq!(out.len(), 1, "the old error trace is exported");
        assert!(t.pending.is_empty());
    }
}
