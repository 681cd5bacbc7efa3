//! Emptied span data, kept by the threads that end spans (once a span is encoded for export,
//! or not exported) for the spans they start next, so a span's buffers (attributes, texts,
//! events, links) are allocated once and reused. The export thread never touches them: it
//! reads encoded bytes.

use std::sync::{Mutex, MutexGuard, TryLockError};

use super::layer::SpanData;

/// The most spans kept (threads keep a span's data when it ends and take it for the next;
/// several threads share the pool).
pub(crate) const MAX_POOL_SPANS: usize = 1024;
/// The most bytes of buffers kept (a recycled span keeps at most about 6 KiB, see
/// `SpanData::recycle`; a usual one a few hundred bytes).
pub(crate) const MAX_POOL_BYTES: usize = 2 << 20;

/// A bounded pool of emptied span data. Callers never wait for it: when it is busy or empty
/// they allocate, and what does not fit is freed.
#[derive(Debug)]
pub(crate) struct SpanPool {
    state: Mutex<State>,
    max_spans: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    #[expect(
        clippy::vec_box,
        reason = "span data is boxed so that it moves whole (a pointer) between the pool and the spans"
    )]
    spans: Vec<Box<SpanData>>,
    /// The bytes of the buffers of `spans` (as `SpanData::retained_bytes` counted them).
    bytes: usize,
}

impl Default for SpanPool {
    fn default() -> Self {
        SpanPool::new(MAX_POOL_SPANS, MAX_POOL_BYTES)
    }
}

impl SpanPool {
    pub(crate) fn new(max_spans: usize, max_bytes: usize) -> Self {
        SpanPool {
            state: Mutex::new(State::default()),
            max_spans,
            max_bytes,
        }
    }

    /// The lock, waited for when `wait` (tests), else only when free.
    fn lock(&self, wait: bool) -> Option<MutexGuard<'_, State>> {
        if wait {
            return Some(self.state.lock().unwrap_or_else(|e| e.into_inner()));
        }
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Emptied span data (as `SpanData::new("")` leaves it, with buffers), when there is one
    /// and the pool is not busy. Never waits.
    pub(crate) fn take(&self) -> Option<Box<SpanData>> {
        let mut st = self.lock(false)?;
        let data = st.spans.pop()?;
        st.bytes = st.bytes.saturating_sub(data.retained_bytes());
        Some(data)
    }

    /// Empties `data` and keeps it when the pool has room (else frees it). Never waits: a
    /// busy pool frees it too.
    pub(crate) fn keep_one(&self, mut data: Box<SpanData>) {
        let bytes = data.recycle();
        let Some(mut st) = self.lock(false) else {
            return;
        };
        if st.spans.len() < self.max_spans && st.bytes + bytes <= self.max_bytes {
            st.bytes += bytes;
            st.spans.push(data);
        } else {
            // Freed after the lock is released.
            drop(st);
            drop(data);
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let st = self.lock(true).unwrap();
        (st.spans.len(), st.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::layer::{Kind, Plain, Status};

    /// A span with something in every field.
    fn full(i: u8) -> Box<SpanData> {
        let mut s = SpanData::new("static");
        s.trace_id = [i; 16];
        s.span_id = [i; 8];
        s.parent_span_id = Some([i; 8]);
        s.sampled = true;
        s.local_root = false;
        s.set_name(&format!("span {i}"));
        s.kind = Kind::Server;
        s.start = 10;
        s.end = 20;
        s.push_plain("tenant_id", Plain::Str(format!("tenant-{i}")));
        s.push_plain("n", Plain::I64(i.into()));
        s.dropped_attributes = 3;
        s.events
            .push_plain(5, "event", &[("k", Plain::Str("secret".into()))]);
        s.dropped_events = 4;
        s.links.push(([i; 16], [i; 8]));
        s.status = Status::Error("failed".into());
        s.tenant = Some(format!("tenant-{i}"));
        Box::new(s)
    }

    /// What the encoder and the tail sampler see of a span, all of it.
    fn seen(s: &SpanData) -> String {
        let events: Vec<_> = s
            .events
            .iter()
            .map(|e| (e.time, s.events.name(e), s.events.plain_attributes(e)))
            .collect();
        format!(
            "{:?} {:?} {:?} {} {} {} {:?} {} {} {:?} {} {:?} {} {:?} {:?} {:?}",
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.sampled,
            s.local_root,
            s.name(),
            s.kind,
            s.start,
            s.end,
            s.plain_attributes(),
            s.dropped_attributes,
            events,
            s.dropped_events,
            s.links,
            s.status,
            s.tenant,
        )
    }

    #[test]
    fn a_recycled_span_keeps_its_buffers_and_nothing_of_the_span() {
        let pool = SpanPool::default();
        for s in (1..=3).map(full) {
            pool.keep_one(s);
        }
        let (n, bytes) = pool.len();
        assert_eq!(n, 3);
        assert!(bytes > 0);
        let fresh = SpanData::new("");
        for _ in 0..3 {
            let s = pool.take().unwrap();
            assert_eq!(
                seen(&s),
                seen(&fresh),
                "nothing of the previous span is left"
            );
            assert!(s.retained_bytes() > 0, "the buffers are kept");
            assert_eq!(s.texts().get_all(), "");
            assert_eq!(s.events.texts().get_all(), "");
        }
        assert!(pool.take().is_none());
        assert_eq!(pool.len(), (0, 0));
        // Filled again, it is the same as a new span filled the same way.
        pool.keep_one(full(1));
        let mut reused = pool.take().unwrap();
        let mut new = SpanData::new("");
        for s in [&mut reused, &mut new] {
            s.set_static_name("step");
            s.set_attribute_str("k", "v", 8);
            s.events.push_plain(1, "e", &[]);
        }
        assert_eq!(seen(&reused), seen(&new));
        assert_eq!(reused.texts().get_all(), "v");
    }

    #[test]
    fn the_pool_is_bounded_in_spans_and_bytes() {
        let pool = SpanPool::new(4, usize::MAX);
        for s in (0..10).map(full) {
            pool.keep_one(s);
        }
        assert_eq!(pool.len().0, 4, "full: the rest is freed");
        // Bytes: as many spans as fit in the budget.
        let one = full(1).recycle();
        let pool = SpanPool::new(100, 2 * one + one / 2);
        for _ in 0..5 {
            pool.keep_one(full(1));
        }
        assert_eq!(pool.len(), (2, 2 * one));
        // Taking one makes room for one.
        let _ = pool.take().unwrap();
        assert_eq!(pool.len(), (1, one));
        pool.keep_one(full(1));
        assert_eq!(pool.len(), (2, 2 * one));
    }

    #[test]
    fn grown_buffers_are_freed_not_kept() {
        let mut s = full(1);
        for i in 0..100 {
            s.set_attribute_str(["a", "b", "c", "d"][i % 4], &"x".repeat(600), 128);
        }
        for i in 0..40 {
            s.events.push_plain(i, "event", &[]);
        }
        let big = s.retained_bytes();
        let kept = s.recycle();
        assert!(kept < big, "{kept} {big}");
        assert!(kept <= 6 * 1024, "{kept}");
    }

    #[test]
    fn a_busy_pool_is_not_waited_for() {
        let pool = SpanPool::default();
        pool.keep_one(full(1));
        let held = pool.lock(true).unwrap();
        assert!(pool.take().is_none(), "busy: the caller allocates");
        pool.keep_one(full(2));
        drop(held);
        assert_eq!(pool.len().0, 1);
        assert!(pool.take().is_some());
    }
}
