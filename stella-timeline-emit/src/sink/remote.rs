//! The delivery engine shared by the HTTP and NATS sinks.
//!
//! One thread per sink sends batches through a [`Transport`]. Events wait in a bounded memory
//! queue whose front is the batch in flight (removed only once acknowledged). On the first
//! failed send, or when the memory queue is full, the queue moves to the journal in order and
//! the sink switches to journal mode: new events are appended behind it and the thread
//! replays the journal, batch by batch, with exponential backoff and jitter between failed
//! attempts. Batches form naturally: the thread sends whatever has queued up (at most
//! `batch_size`) as soon as the previous send returns. When the journal is drained the sink returns to memory mode. Without a journal
//! the thread retries the same batch and a full queue drops (and counts) new events.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{FlushError, Record, SinkError, SinkImpl};
use crate::journal::{Journal, JournalConfig};
use crate::stats::Counters;

/// What the endpoint said about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accepted,
    Duplicate,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Rejected(String),
}

/// A failed send.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Try again later (transport error, 5xx, 408, 429, timeout, no stream).
    Retryable(String),
    /// The whole batch is refused as invalid; do not retry.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Rejected(String),
}

/// Moves a batch to the endpoint; runs on the sink's own thread.
pub(crate) trait Transport: Send + 'static {
    /// Sends `batch` in order and returns one outcome per event, in the same order.
    fn send(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Outcome>, SendError>;
}

/// Retry and queue settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: &'static str,
    pub(crate) batch_size: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) journal: Option<JournalConfig>,
}

#[derive(Debug)]
struct State {
    mem: VecDeque<Arc<Record>>,
    /// Events at the front of `mem` being sent right now.
    inflight: usize,
    /// The in-flight events were moved to the journal head while being sent.
    inflight_moved: usize,
    journal: Option<Journal>,
    journaling: bool,
    closing: bool,
    stop: bool,
    exited: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    counters: Arc<Counters>,
    settings: Settings,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSink")
            .field("name", &self.settings.name)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the memory queue to the journal (in order) and switches to journal mode.
    fn to_journal(&self, st: &mut State) {
        let Some(journal) = st.journal.as_mut() else {
            return;
        };
        let n = st.mem.len();
        match journal.append(st.mem.iter().map(|r| r.json.as_str())) {
            Ok(_) => {
                self.counters.journaled(n as u64);
                st.inflight_moved = st.inflight;
            }
            Err(e) => {
                self.counters.dropped(n as u64);
                st.inflight_moved = 0;
                tracing::error!(sink = self.settings.name, events = n, error = %e, "timeline journal append failed: events dropped");
            }
        }
        st.mem.clear();
        st.journaling = true;
    }
}

/// A sink driven by a [`Transport`] on its own thread.
pub(crate) struct RemoteSink {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for RemoteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl RemoteSink {
    /// Opens the journal (if any) and starts the delivery thread.
    pub(crate) fn start<T: Transport>(
        settings: Settings,
        transport: T,
    ) -> Result<RemoteSink, SinkError> {
        let journal = match settings.journal.clone() {
            None => None,
            Some(cfg) => {
                let what = cfg.dir().display().to_string();
                Some(Journal::open(cfg).map_err(|e| SinkError::Io {
                    what,
                    reason: e.to_string(),
                })?)
            }
        };
        let journaling = journal.as_ref().is_some_and(Journal::pending);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                mem: VecDeque::new(),
                inflight: 0,
                inflight_moved: 0,
                journal,
                journaling,
                closing: false,
                stop: false,
                exited: false,
            }),
            cv: Condvar::new(),
            counters: Arc::new(Counters::new(settings.name)),
            settings,
        });
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(format!("stella-timeline-{}", shared.settings.name))
            .spawn(move || deliver(&thread_shared, transport))
            .map_err(|e| SinkError::Start(e.to_string()))?;
        Ok(RemoteSink {
            shared,
            thread: Mutex::new(Some(handle)),
        })
    }
}

impl Drop for RemoteSink {
    /// A sink dropped without an emitter shutdown stops its thread (without waiting); events
    /// still in memory are journaled when a journal is configured, else counted as dropped.
    fn drop(&mut self) {
        let sh = &*self.shared;
        let mut st = sh.lock();
        if st.stop {
            return;
        }
        if !st.mem.is_empty() {
            if st.journal.is_some() {
                sh.to_journal(&mut st);
            } else {
                sh.counters.dropped(st.mem.len() as u64);
                st.mem.clear();
            }
        }
        if let Some(j) = st.journal.as_mut() {
            let _ = j.sync();
        }
        st.stop = true;
        sh.cv.notify_all();
    }
}

impl SinkImpl for RemoteSink {
    fn counters(&self) -> &Arc<Counters> {
        &self.shared.counters
    }

    fn submit(&self, record: &Arc<Record>) {
        let sh = &*self.shared;
        let mut st = sh.lock();
        if st.journaling {
            let Some(journal) = st.journal.as_mut() else {
                return;
            };
            match journal.append([record.json.as_str()]) {
                Ok(_) => sh.counters.journaled(1),
                Err(e) => {
                    sh.counters.dropped(1);
                    tracing::error!(sink = sh.settings.name, event_id = %record.event.event_id(), error = %e, "timeline journal append failed: event dropped");
                }
            }
        } else if st.mem.len() < sh.settings.queue_capacity {
            st.mem.push_back(Arc::clone(record));
            sh.cv.notify_all();
        } else if st.journal.is_some() {
            st.mem.push_back(Arc::clone(record));
            sh.to_journal(&mut st);
            sh.cv.notify_all();
        } else {
            sh.counters.dropped(1);
            tracing::warn!(sink = sh.settings.name, event_id = %record.event.event_id(), "timeline sink queue full and no journal: event dropped");
        }
    }

    fn idle(&self) {
        let sh = &*self.shared;
        let mut st = sh.lock();
        if let Some(j) = st.journal.as_mut()
            && let Err(e) = j.maybe_sync()
        {
            tracing::error!(sink = sh.settings.name, error = %e, "timeline journal sync failed");
        }
        sh.cv.notify_all();
    }

    fn flush(&self, deadline: Instant) -> Result<(), FlushError> {
        let sh = &*self.shared;
        let mut st = sh.lock();
        sh.cv.notify_all();
        while !st.mem.is_empty() && !st.exited {
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout {
                    pending: st.mem.len(),
                });
            }
            st = sh
                .cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if let Some(j) = st.journal.as_mut() {
            j.sync().map_err(|e| FlushError::Io(e.to_string()))?;
        }
        Ok(())
    }

    fn shutdown(&self, deadline: Instant) -> Result<(), FlushError> {
        let sh = &*self.shared;
        let mut result = Ok(());
        {
            let mut st = sh.lock();
            st.closing = true;
            sh.cv.notify_all();
            // Deliver what is in memory while the endpoint answers, up to the deadline.
            while !st.mem.is_empty() && !st.journaling && !st.exited {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = sh
                    .cv
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if !st.mem.is_empty() {
                if st.journal.is_some() {
                    sh.to_journal(&mut st);
                } else {
                    let n = st.mem.len();
                    sh.counters.dropped(n as u64);
                    tracing::error!(
                        sink = sh.settings.name,
                        events = n,
                        "timeline sink shut down with undelivered events and no journal: dropped"
                    );
                    result = Err(FlushError::Timeout { pending: n });
                    st.mem.clear();
                }
            }
            if let Some(j) = st.journal.as_mut()
                && let Err(e) = j.sync()
            {
                result = Err(FlushError::Io(e.to_string()));
            }
            st.stop = true;
            sh.cv.notify_all();
            // Give the thread a moment to leave a send in progress; never wait past the deadline.
            let grace = deadline.max(Instant::now() + Duration::from_millis(200));
            while !st.exited {
                let now = Instant::now();
                if now >= grace {
                    break;
                }
                st = sh
                    .cv
                    .wait_timeout(st, grace - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if !st.exited {
                return result;
            }
        }
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        result
    }
}

/// Exponential backoff with equal jitter.
struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

enum Work {
    Memory(Vec<Arc<Record>>),
    Journal(Vec<Arc<Record>>, crate::journal::Position),
}

/// The delivery loop.
fn deliver<T: Transport>(sh: &Shared, mut transport: T) {
    let mut backoff = Backoff {
        base: sh.settings.backoff_base,
        max: sh.settings.backoff_max,
        attempt: 0,
    };
    let mut retry_at: Option<Instant> = None;
    let mut attempts_on_batch = 0u32;
    let mut st = sh.lock();
    loop {
        if st.stop {
            break;
        }
        // Saturation, refreshed at least every 250 ms (the idle wait): events waiting in
        // memory and bytes in the journal.
        sh.counters.depth(
            st.mem.len(),
            st.journal.as_ref().map_or(0, Journal::bytes_on_disk),
        );
        // Wait for work, a retry time, or a linger timeout for partial batches.
        let now = Instant::now();
        if let Some(t) = retry_at {
            if now < t {
                st = sh
                    .cv
                    .wait_timeout(st, t - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            retry_at = None;
        }
        let journal_pending = st.journaling && st.journal.as_ref().is_some_and(Journal::pending);
        if st.journaling && !journal_pending {
            st.journaling = false; // drained: back to memory mode
            sh.cv.notify_all();
        }
        let work = if st.journaling {
            if st.closing {
                // Leave the journal for the next process; stop replaying.
                st = sh
                    .cv
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            let Some(journal) = st.journal.as_mut() else {
                break;
            };
            match journal.read(sh.settings.batch_size) {
                Ok(b) => {
                    sh.counters.dropped(b.corrupt as u64);
                    if b.events.is_empty() {
                        if let Err(e) = journal.commit(b.end) {
                            tracing::error!(sink = sh.settings.name, error = %e, "timeline journal commit failed");
                        }
                        continue;
                    }
                    Work::Journal(b.events.into_iter().map(Record::new).collect(), b.end)
                }
                Err(e) => {
                    tracing::error!(sink = sh.settings.name, error = %e, "timeline journal read failed");
                    retry_at = Some(Instant::now() + backoff.next());
                    continue;
                }
            }
        } else {
            if st.mem.is_empty() {
                st = sh
                    .cv
                    .wait_timeout(st, Duration::from_millis(250))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            let n = st.mem.len().min(sh.settings.batch_size);
            st.inflight = n;
            st.inflight_moved = 0;
            Work::Memory(st.mem.iter().take(n).cloned().collect())
        };
        drop(st);

        let batch = match &work {
            Work::Memory(b) | Work::Journal(b, _) => b,
        };
        if attempts_on_batch > 0 {
            sh.counters.retried(batch.len() as u64);
        }
        let result = transport.send(batch);

        st = sh.lock();
        let n = batch.len();
        let ok = match result {
            Ok(outcomes) => {
                account(sh, batch, &outcomes);
                true
            }
            Err(SendError::Rejected(reason)) => {
                sh.counters.rejected(n as u64);
                tracing::error!(sink = sh.settings.name, events = n, reason = %reason, "timeline endpoint rejected a batch; not retried");
                true
            }
            Err(SendError::Retryable(reason)) => {
                tracing::warn!(sink = sh.settings.name, events = n, reason = %reason, "timeline delivery failed; will retry");
                false
            }
        };
        match work {
            Work::Memory(_) => {
                if ok {
                    if st.inflight_moved > 0 {
                        // Moved to the journal head while in flight: skip them there.
                        let moved = st.inflight_moved;
                        if let Some(j) = st.journal.as_mut() {
                            skip(j, moved, sh.settings.name);
                        }
                    } else {
                        let take = n.min(st.mem.len());
                        st.mem.drain(..take);
                    }
                } else if st.inflight_moved == 0 && st.journal.is_some() && !st.journaling {
                    // The endpoint is away: the journal takes over, in order.
                    sh.to_journal(&mut st);
                    st.inflight_moved = 0;
                }
                st.inflight = 0;
                st.inflight_moved = 0;
            }
            Work::Journal(_, end) => {
                if ok {
                    sh.counters.replayed(n as u64);
                    if let Some(j) = st.journal.as_mut()
                        && let Err(e) = j.commit(end)
                    {
                        tracing::error!(sink = sh.settings.name, error = %e, "timeline journal commit failed");
                    }
                }
            }
        }
        if ok {
            backoff.reset();
            attempts_on_batch = 0;
        } else {
            attempts_on_batch += 1;
            if !st.stop {
                retry_at = Some(Instant::now() + backoff.next());
            }
        }
        sh.cv.notify_all();
    }
    st.exited = true;
    sh.cv.notify_all();
}

/// Records per-event outcomes.
fn account(sh: &Shared, batch: &[Arc<Record>], outcomes: &[Outcome]) {
    let mut delivered = 0u64;
    for (rec, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Outcome::Accepted | Outcome::Duplicate => delivered += 1,
            Outcome::Rejected(reason) => {
                sh.counters.rejected(1);
                tracing::error!(sink = sh.settings.name, event_id = %rec.event.event_id(), reason = %reason, "timeline endpoint rejected an event; not retried");
            }
        }
    }
    sh.counters.delivered(delivered);
}

/// Advances the journal past `n` entries that were already delivered.
fn skip(j: &mut Journal, n: usize, name: &'static str) {
    match j.read(n) {
        Ok(b) => {
            if let Err(e) = j.commit(b.end) {
                tracing::error!(sink = name, error = %e, "timeline journal commit failed");
            }
        }
        Err(e) => tracing::error!(sink = name, error = %e, "timeline journal read failed"),
    }
}
