//! The emitter: validates on the caller's thread, seals and delivers on its own worker.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::{BuildError, EventBuilder, PendingEvent};
use crate::journal::{Journal, JournalConfig};
use crate::sink::{FlushError, Record, Sink};
use crate::stats::{Counters, Stats};
use stella_scrub::Scrubber;

/// Default bound of the queue between callers and the worker.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16 * 1024;

/// How often the idle worker wakes to push buffers and replay spilled events.
const IDLE_TICK: Duration = Duration::from_millis(50);
/// Most events the worker handles before telling sinks it is idle.
const DRAIN_BURST: usize = 1024;

// === errors ===

/// `emit()` did not accept the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event is invalid; nothing was emitted.
    #[error(transparent)]
    Invalid(#[from] BuildError),
    /// The queue was full and there is no spill journal (or it failed): the event was dropped
    /// and counted.
    #[error("timeline queue full; event {event_id} dropped")]
    QueueFull {
        /// The dropped event's id.
        event_id: String,
    },
    /// The emitter was shut down.
    #[error("the emitter is shut down")]
    Closed,
    /// [`emit`](crate::emit) was called before [`Emitter::install_global`].
    #[error("no global emitter is installed")]
    NoGlobalEmitter,
}

/// Building an emitter failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterBuildError {
    /// No sink was given: events would go nowhere.
    #[error("an emitter needs at least one sink")]
    NoSink,
    /// The queue capacity is zero.
    #[error("queue capacity must be at least 1")]
    ZeroCapacity,
    /// The spill journal could not be opened.
    #[error("spill journal: {0}")]
    Journal(String),
    /// The default scrubber could not be built.
    #[error("scrubber: {0}")]
    Scrubber(String),
    /// The worker thread could not be started.
    #[error("could not start the worker thread: {0}")]
    Thread(String),
}

// === impl Emitter ===

/// Emits timeline events without ever blocking the caller.
///
/// `emit()` fills `tenant_id`, `project_id`, `actor` and `trace_id` from the current
/// `stella-context` where the builder left them unset, validates (an invalid event is an
/// error, returned at once), assigns `event_id` and `ts`, and queues the event. A worker
/// thread scrubs the details, computes the digest and hands the event to every sink. When the
/// bounded queue is full the event is spilled to the emitter's journal if one is configured
/// (and replayed in order by the worker), otherwise dropped, counted and reported as
/// [`EmitError::QueueFull`].
///
/// Cloning is cheap; the last clone to drop shuts the emitter down with the configured
/// timeout. Prefer an explicit [`Emitter::shutdown`] at the end of `main`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_timeline_emit::{Emitter, EventKind, FileSink, TimelineEvent};
///
/// let emitter = Emitter::builder().with_sink(FileSink::stdout()).build()?;
/// let id = emitter.emit(
///     TimelineEvent::builder(EventKind::JobStarted, "job", "job-42")
///         .with_tenant("acme")
///         .with_detail("job_type", "sbom.compute"),
/// )?;
/// assert_eq!(id.len(), 36);
/// emitter.shutdown(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Emitter {
    inner: Arc<Inner>,
}

struct Inner {
    tx: RwLock<Option<SyncSender<PendingEvent>>>,
    shared: Arc<Shared>,
    sinks: Vec<Sink>,
    counters: Arc<Counters>,
    spill: Option<Arc<Spill>>,
    scrubber: Arc<Scrubber>,
    worker: Mutex<Option<JoinHandle<()>>>,
    drop_timeout: Duration,
}

/// State shared between the handle and the worker.
#[derive(Debug)]
struct Shared {
    closed: AtomicBool,
    enqueued: AtomicU64,
    progress: Mutex<Progress>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    processed: u64,
    exited: bool,
}

/// The emitter's overflow journal.
#[derive(Debug)]
struct Spill {
    journal: Mutex<Journal>,
    active: AtomicBool,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("sinks", &self.inner.sinks)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emitter {
    /// Starts an emitter builder.
    pub fn builder() -> EmitterBuilder {
        EmitterBuilder {
            sinks: Vec::new(),
            capacity: DEFAULT_QUEUE_CAPACITY,
            spill: None,
            scrubber: None,
            drop_timeout: Duration::from_secs(5),
        }
    }

    /// Emits an event; returns its `event_id`. Never blocks on I/O: the event is queued for
    /// the worker (or, when the queue is full, spilled to the journal).
    ///
    /// # Errors
    ///
    /// [`EmitError::Invalid`] for an invalid event, [`EmitError::QueueFull`] if it had to be
    /// dropped, [`EmitError::Closed`] after shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// # use stella_timeline_emit::{Emitter, EmitError, EventKind, FileSink, TimelineEvent};
    /// let emitter = Emitter::builder().with_sink(FileSink::stdout()).build()?;
    /// // No tenant set and no request context: an error, not a panic and not a silent drop.
    /// let err = emitter.emit(TimelineEvent::builder(EventKind::SloResolved, "slo", "x").with_detail("slo", "x"));
    /// assert!(matches!(err, Err(EmitError::Invalid(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn emit(&self, event: EventBuilder) -> Result<String, EmitError> {
        let pending = event.with_current_context().validate()?;
        let inner = &*self.inner;
        if inner.shared.closed.load(Ordering::Acquire) {
            return Err(EmitError::Closed);
        }
        if let Some(spill) = inner
            .spill
            .as_ref()
            .filter(|s| s.active.load(Ordering::Acquire))
        {
            return self.spill(spill, pending);
        }
        let guard = inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            return Err(EmitError::Closed);
        };
        let id = pending.event_id.clone();
        // Count before sending so `flush` never waits for less than what the worker sees.
        inner.shared.enqueued.fetch_add(1, Ordering::AcqRel);
        match tx.try_send(pending) {
            Ok(()) => {
                inner.counters.emitted_local();
                Ok(id)
            }
            Err(TrySendError::Full(pending)) => {
                inner.shared.enqueued.fetch_sub(1, Ordering::AcqRel);
                drop(guard);
                match inner.spill.as_ref() {
                    Some(spill) => self.spill(spill, pending),
                    None => {
                        inner.counters.dropped(1);
                        tracing::warn!(event_id = %id, "timeline queue full and no spill journal: event dropped");
                        Err(EmitError::QueueFull { event_id: id })
                    }
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                inner.shared.enqueued.fetch_sub(1, Ordering::AcqRel);
                Err(EmitError::Closed)
            }
        }
    }

    /// The overflow path: seal on the caller's thread and append to the spill journal.
    fn spill(&self, spill: &Spill, pending: PendingEvent) -> Result<String, EmitError> {
        let inner = &*self.inner;
        let id = pending.event_id.clone();
        let event = pending.seal(&inner.scrubber)?;
        let json = event.to_json();
        let mut journal = lock(&spill.journal);
        match journal.append([json.as_str()]) {
            Ok(_) => {
                inner.shared.enqueued.fetch_add(1, Ordering::AcqRel);
                spill.active.store(true, Ordering::Release);
                inner.counters.emitted_local();
                inner.counters.journaled(1);
                Ok(id)
            }
            Err(e) => {
                inner.counters.dropped(1);
                tracing::error!(event_id = %id, error = %e, "timeline spill journal append failed: event dropped");
                Err(EmitError::QueueFull { event_id: id })
            }
        }
    }

    /// A snapshot of the counters, summed over the emitter and all its sinks.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        self.inner.counters.add_to(&mut s);
        for sink in &self.inner.sinks {
            sink.inner.counters().add_to(&mut s);
        }
        s
    }

    /// Waits until every event emitted before the call has been handed to the sinks and each
    /// sink has delivered it or written it durably to its journal.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] if that did not happen within `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        self.inner.wait_processed(deadline)?;
        if let Some(spill) = &self.inner.spill {
            lock(&spill.journal)
                .sync()
                .map_err(|e| FlushError::Io(e.to_string()))?;
        }
        for sink in &self.inner.sinks {
            sink.inner.flush(deadline)?;
        }
        Ok(())
    }

    /// Stops accepting events, drains the queue, flushes every sink (journaling what an
    /// unreachable endpoint did not take) and stops the threads, all within `timeout`.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] if events were still undelivered and unjournaled at the
    /// deadline (they are counted as dropped).
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.inner.shutdown(Instant::now() + timeout)
    }

    /// Makes this emitter the process-wide one used by [`emit`](crate::emit).
    ///
    /// # Errors
    ///
    /// Gives the emitter back if one is already installed.
    pub fn install_global(self) -> Result<(), Emitter> {
        GLOBAL.set(self)
    }

    /// The process-wide emitter, if one is installed.
    #[must_use]
    pub fn global() -> Option<&'static Emitter> {
        GLOBAL.get()
    }
}

static GLOBAL: OnceLock<Emitter> = OnceLock::new();

/// Emits through the global emitter (see [`Emitter::install_global`]).
///
/// # Errors
///
/// As [`Emitter::emit`], plus [`EmitError::NoGlobalEmitter`].
pub fn emit(event: EventBuilder) -> Result<String, EmitError> {
    GLOBAL.get().ok_or(EmitError::NoGlobalEmitter)?.emit(event)
}

impl Inner {
    fn wait_processed(&self, deadline: Instant) -> Result<(), FlushError> {
        let target = self.shared.enqueued.load(Ordering::Acquire);
        let mut p = lock(&self.shared.progress);
        while p.processed < target && !p.exited {
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout {
                    pending: usize::try_from(target - p.processed).unwrap_or(usize::MAX),
                });
            }
            p = self
                .shared
                .cv
                .wait_timeout(p, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    fn shutdown(&self, deadline: Instant) -> Result<(), FlushError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Dropping the sender lets the worker drain the queue and exit.
        drop(
            self.tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let mut result = Ok(());
        {
            let mut p = lock(&self.shared.progress);
            while !p.exited {
                let now = Instant::now();
                if now >= deadline {
                    let left = self
                        .shared
                        .enqueued
                        .load(Ordering::Acquire)
                        .saturating_sub(p.processed);
                    result = Err(FlushError::Timeout {
                        pending: usize::try_from(left).unwrap_or(usize::MAX),
                    });
                    break;
                }
                p = self
                    .shared
                    .cv
                    .wait_timeout(p, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        if result.is_ok()
            && let Some(h) = lock(&self.worker).take()
        {
            let _ = h.join();
        }
        if let Some(spill) = &self.spill
            && let Err(e) = lock(&spill.journal).sync()
        {
            tracing::error!(error = %e, "timeline spill journal sync failed");
        }
        for sink in &self.sinks {
            let r = sink.inner.shutdown(deadline);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown(Instant::now() + self.drop_timeout);
    }
}

// === impl EmitterBuilder ===

/// Builds an [`Emitter`].
#[must_use]
pub struct EmitterBuilder {
    sinks: Vec<Sink>,
    capacity: usize,
    spill: Option<JournalConfig>,
    scrubber: Option<Scrubber>,
    drop_timeout: Duration,
}

impl fmt::Debug for EmitterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmitterBuilder")
            .field("sinks", &self.sinks)
            .field("capacity", &self.capacity)
            .field("spill", &self.spill)
            .finish_non_exhaustive()
    }
}

impl EmitterBuilder {
    /// Adds a sink; every event goes to every sink.
    pub fn with_sink(mut self, sink: impl Into<Sink>) -> Self {
        self.sinks.push(sink.into());
        self
    }
    /// Bounds the queue between callers and the worker (default
    /// [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
    /// Spills events to this journal when the queue is full instead of dropping them; the
    /// worker replays them in order.
    pub fn with_spill_journal(mut self, journal: JournalConfig) -> Self {
        self.spill = Some(journal);
        self
    }
    /// Scrubs details with `scrubber` instead of the full default catalogue.
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = Some(scrubber);
        self
    }
    /// How long dropping the last handle may take to flush (default 5 s).
    pub fn with_drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// Opens the spill journal (if any) and starts the worker thread.
    ///
    /// # Errors
    ///
    /// [`EmitterBuildError`] if there is no sink, the capacity is zero, the journal cannot be
    /// opened or the thread cannot start.
    pub fn build(self) -> Result<Emitter, EmitterBuildError> {
        if self.sinks.is_empty() {
            return Err(EmitterBuildError::NoSink);
        }
        if self.capacity == 0 {
            return Err(EmitterBuildError::ZeroCapacity);
        }
        let scrubber = match self.scrubber {
            Some(s) => s,
            None => Scrubber::builder()
                .build()
                .map_err(|e| EmitterBuildError::Scrubber(e.to_string()))?,
        };
        let scrubber = Arc::new(scrubber);
        let spill = match self.spill {
            None => None,
            Some(cfg) => {
                let journal =
                    Journal::open(cfg).map_err(|e| EmitterBuildError::Journal(e.to_string()))?;
                let active = journal.pending();
                Some(Arc::new(Spill {
                    journal: Mutex::new(journal),
                    active: AtomicBool::new(active),
                }))
            }
        };
        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            enqueued: AtomicU64::new(0),
            progress: Mutex::new(Progress::default()),
            cv: Condvar::new(),
        });
        let counters = Arc::new(Counters::new("emitter"));
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let worker = Worker {
            rx,
            shared: Arc::clone(&shared),
            sinks: self.sinks.clone(),
            counters: Arc::clone(&counters),
            spill: spill.clone(),
            scrubber: Arc::clone(&scrubber),
        };
        let handle = std::thread::Builder::new()
            .name("stella-timeline-emit".into())
            .spawn(move || worker.run())
            .map_err(|e| EmitterBuildError::Thread(e.to_string()))?;
        Ok(Emitter {
            inner: Arc::new(Inner {
                tx: RwLock::new(Some(tx)),
                shared,
                sinks: self.sinks,
                counters,
                spill,
                scrubber,
                worker: Mutex::new(Some(handle)),
                drop_timeout: self.drop_timeout,
            }),
        })
    }
}

// === worker ===

struct Worker {
    rx: Receiver<PendingEvent>,
    shared: Arc<Shared>,
    sinks: Vec<Sink>,
    counters: Arc<Counters>,
    spill: Option<Arc<Spill>>,
    scrubber: Arc<Scrubber>,
}

impl Worker {
    fn run(self) {
        loop {
            match self.rx.recv_timeout(IDLE_TICK) {
                Ok(first) => {
                    let mut n = 1;
                    self.handle(first);
                    while n < DRAIN_BURST {
                        match self.rx.try_recv() {
                            Ok(p) => {
                                self.handle(p);
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    self.counters.emitted_metric(n as u64);
                    self.progress(n as u64);
                    if n < DRAIN_BURST {
                        self.replay_spill();
                        self.idle();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.replay_spill();
                    self.idle();
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.replay_spill();
                    self.idle();
                    break;
                }
            }
        }
        let mut p = lock(&self.shared.progress);
        p.exited = true;
        self.shared.cv.notify_all();
    }

    fn handle(&self, pending: PendingEvent) {
        let id = pending.event_id.clone();
        match pending.seal(&self.scrubber) {
            Ok(event) => self.dispatch(&Record::new(event)),
            Err(e) => {
                self.counters.dropped(1);
                tracing::error!(event_id = %id, error = %e, "timeline event could not be sealed: dropped");
            }
        }
    }

    fn dispatch(&self, record: &Arc<Record>) {
        for sink in &self.sinks {
            sink.inner.submit(record);
        }
    }

    fn idle(&self) {
        for sink in &self.sinks {
            sink.inner.idle();
        }
        if let Some(spill) = &self.spill
            && let Err(e) = lock(&spill.journal).maybe_sync()
        {
            tracing::error!(error = %e, "timeline spill journal sync failed");
        }
    }

    fn progress(&self, n: u64) {
        let mut p = lock(&self.shared.progress);
        p.processed += n;
        self.shared.cv.notify_all();
    }

    /// Hands spilled events to the sinks, oldest first, once the queue is empty.
    fn replay_spill(&self) {
        let Some(spill) = &self.spill else { return };
        while spill.active.load(Ordering::Acquire) {
            let batch = {
                let mut j = lock(&spill.journal);
                if !j.pending() {
                    spill.active.store(false, Ordering::Release);
                    return;
                }
                match j.read(256) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, "timeline spill journal read failed");
                        return;
                    }
                }
            };
            let n = batch.events.len() as u64;
            for event in batch.events {
                self.dispatch(&Record::new(event));
            }
            self.counters.dropped(batch.corrupt as u64);
            self.counters.emitted_metric(n);
            self.counters.replayed(n);
            let mut j = lock(&spill.journal);
            if let Err(e) = j.commit(batch.end) {
                tracing::error!(error = %e, "timeline spill journal commit failed");
            }
            if !j.pending() {
                spill.active.store(false, Ordering::Release);
            }
            drop(j);
            self.progress(n + batch.corrupt as u64);
            if n == 0 && batch.corrupt == 0 {
                return;
            }
        }
    }
}
