//! The non-blocking writer: a bounded queue in front of a dedicated writer thread.
//!
//! ```
//! use stella_telemetry::{JsonLayer, NonBlocking, Output};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (writer, guard) = NonBlocking::builder().with_capacity(8_192).build(Output::Stdout)?;
//! let layer = JsonLayer::builder("my-service", "1.0.0").with_writer(writer).build()?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
//! guard.flush(std::time::Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod output;

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tracing_core::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use self::output::Sink;
pub use self::output::{FileOutput, Output, OutputError};
use crate::stats::{Stats, bump};

/// How often the writer thread takes what is queued when nothing wakes it earlier: info
/// lines reach the output at most this late. Each wake-up of an idle thread costs a context
/// switch (about 10-15 µs of CPU measured on a 2-vCPU virtual machine); at 10 ms the two
/// writers of the overhead bench cost about 1 % of a request of 1 ms.
const WRITER_TICK: Duration = Duration::from_millis(50);
/// Queued lines that wake the writer at once (or a quarter of the capacity, if smaller): the
/// rest of the queue is room for the lines that come in while it writes. Waking at 512 lines
/// cost the overhead bench about 1 µs of the writer's CPU per request more (about 100
/// wake-ups a second at 10 lines per 200 µs request, against the tick's 20).
const WAKE_LINES: usize = 2_048;

/// The default queue bound, in lines.
pub const DEFAULT_CAPACITY: usize = 8_192;
/// The default bound on how long an error or warn line waits for room in a full queue.
pub const DEFAULT_PRIORITY_WAIT: Duration = Duration::from_millis(100);

/// The target of decision logs; lines with it are treated like warnings by the writer (they
/// wait rather than drop) and are never rate-limited.
pub const DECISION_TARGET: &str = "stella_telemetry::decision";

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    lines: usize,
    closed: bool,
    /// Bumped by each flush request.
    flush_requested: u64,
    /// The last flush request the worker has completed.
    flush_done: u64,
    worker_exited: bool,
    /// A priority line or a filling queue asked the worker to take the queue now (the worker
    /// was signalled once; further lines do not signal it again until it has taken).
    urgent: bool,
}

#[derive(Debug)]
struct Queue {
    state: Mutex<State>,
    /// Signals the worker: data, flush request, or close.
    wake: Condvar,
    /// Signals writers and flushers: room, flush done, worker exit.
    done: Condvar,
    capacity: usize,
    priority_wait: Duration,
    stats: Arc<Stats>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: &[u8], priority: bool) {
        let mut st = self.lock();
        if st.closed {
            // After shutdown nothing is written any more; count it rather than block.
            bump(if priority {
                &self.stats.dropped_priority
            } else {
                &self.stats.dropped_queue_full
            });
            return;
        }
        if st.lines >= self.capacity {
            if !priority {
                bump(&self.stats.dropped_queue_full);
                return;
            }
            bump(&self.stats.priority_waits);
            let deadline = Instant::now() + self.priority_wait;
            while st.lines >= self.capacity && !st.closed {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = self
                    .done
                    .wait_timeout(st, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            // Error and warn lines never vanish for a merely slow output: they may take the
            // queue up to twice its bound. Only a stuck output drops them, and counts it.
            if st.lines >= self.capacity.saturating_mul(2) {
                bump(&self.stats.dropped_priority);
                return;
            }
        }
        // No wake-up (a futex system call, and a context switch) per line: the writer wakes by
        // itself every WRITER_TICK and takes whatever is queued; error, warn and decision lines
        // and a filling queue wake it at once.
        st.pending.extend_from_slice(line);
        st.lines += 1;
        self.stats
            .queued_lines
            .store(st.lines as u64, std::sync::atomic::Ordering::Relaxed);
        let wake =
            (priority || st.lines >= self.capacity.div_ceil(4).min(WAKE_LINES)) && !st.urgent;
        st.urgent |= wake;
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }

    fn request_flush(&self, timeout: Duration) -> bool {
        let mut st = self.lock();
        if st.worker_exited {
            return st.lines == 0;
        }
        st.flush_requested += 1;
        let target = st.flush_requested;
        self.wake.notify_one();
        let deadline = Instant::now() + timeout;
        while st.flush_done < target && !st.worker_exited {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .done
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        st.flush_done >= target
    }

    fn close(&self, timeout: Duration) -> bool {
        let mut st = self.lock();
        st.closed = true;
        self.wake.notify_one();
        let deadline = Instant::now() + timeout;
        while !st.worker_exited {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .done
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }

    fn run(&self, mut sink: Sink) {
        let mut local: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut last_take = Instant::now();
        loop {
            let (flush_target, closed) = {
                let mut st = self.lock();
                // The queue is taken once per tick, not whenever a line is waiting: a writer
                // that took it again as soon as a write returned wrote a few lines per system
                // call whenever its output was slower than the lines came in.
                loop {
                    let since = last_take.elapsed();
                    if st.closed
                        || st.urgent
                        || st.flush_done < st.flush_requested
                        || (!st.pending.is_empty() && since >= WRITER_TICK)
                    {
                        break;
                    }
                    let wait = if st.pending.is_empty() {
                        WRITER_TICK
                    } else {
                        WRITER_TICK.saturating_sub(since)
                    };
                    st = self
                        .wake
                        .wait_timeout(st, wait)
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                }
                std::mem::swap(&mut st.pending, &mut local);
                st.lines = 0;
                st.urgent = false;
                self.stats
                    .queued_lines
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                (st.flush_requested, st.closed)
            };
            last_take = Instant::now();
            self.done.notify_all();
            if !local.is_empty() {
                if sink.write_batch(&local).is_err() {
                    bump(&self.stats.write_errors);
                }
                local.clear();
                if local.capacity() > 4 << 20 {
                    local.shrink_to(64 * 1024);
                }
            }
            // Every line queued before the flush requests seen at the take is written now.
            if sink.flush().is_err() {
                bump(&self.stats.write_errors);
            }
            let mut st = self.lock();
            st.flush_done = st.flush_done.max(flush_target);
            if closed && st.pending.is_empty() {
                st.worker_exited = true;
                drop(st);
                self.done.notify_all();
                return;
            }
            drop(st);
            self.done.notify_all();
        }
    }
}

/// Builds a [`NonBlocking`] writer and its thread.
#[derive(Debug, Clone)]
#[must_use]
pub struct NonBlockingBuilder {
    capacity: usize,
    priority_wait: Duration,
}

impl NonBlockingBuilder {
    /// The queue bound in lines (default [`DEFAULT_CAPACITY`], at least 1).
    pub fn with_capacity(mut self, lines: usize) -> Self {
        self.capacity = lines.max(1);
        self
    }

    /// How long an error, warn or decision line waits for room (default
    /// [`DEFAULT_PRIORITY_WAIT`]).
    pub fn with_priority_wait(mut self, wait: Duration) -> Self {
        self.priority_wait = wait;
        self
    }

    /// Opens `output` and starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`OutputError`] when the file cannot be opened or the thread cannot start.
    pub fn build(self, output: Output) -> Result<(NonBlocking, WriterGuard), OutputError> {
        let sink = output.open()?;
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            capacity: self.capacity,
            priority_wait: self.priority_wait,
            stats: Arc::new(Stats::default()),
        });
        let worker = Arc::clone(&queue);
        thread::Builder::new()
            .name("stella-log-writer".to_owned())
            .spawn(move || worker.run(sink))
            .map_err(OutputError::Thread)?;
        Ok((
            NonBlocking {
                queue: Arc::clone(&queue),
            },
            WriterGuard {
                queue,
                closed: false,
            },
        ))
    }
}

/// A `MakeWriter` that hands whole lines to the writer thread through a bounded queue; it never
/// blocks the caller for info, debug and trace lines (they are dropped and counted when the
/// queue is full), while error, warn and decision lines wait a bounded time for room.
///
/// Cheap to clone. Usable with any `tracing-subscriber` formatter, not only [`JsonLayer`](crate::JsonLayer).
#[derive(Debug, Clone)]
pub struct NonBlocking {
    queue: Arc<Queue>,
}

impl NonBlocking {
    /// A builder with the default bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_telemetry::{NonBlocking, Output};
    ///
    /// let (writer, guard) = NonBlocking::builder()
    ///     .with_capacity(1_024)
    ///     .with_priority_wait(Duration::from_millis(50))
    ///     .build(Output::Stderr)?;
    /// assert_eq!(writer.stats().dropped_queue_full, 0);
    /// guard.shutdown(Duration::from_secs(1))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> NonBlockingBuilder {
        NonBlockingBuilder {
            capacity: DEFAULT_CAPACITY,
            priority_wait: DEFAULT_PRIORITY_WAIT,
        }
    }

    /// The counters this writer updates (queue drops, waits, write errors).
    pub fn stats(&self) -> crate::LogStats {
        self.queue.stats.snapshot()
    }

    pub(crate) fn shared_stats(&self) -> Arc<Stats> {
        Arc::clone(&self.queue.stats)
    }
}

/// The writer [`NonBlocking`] makes: each `write` call queues its bytes as one unit, so write
/// one whole line per call (as [`JsonLayer`](crate::JsonLayer) does).
#[derive(Debug)]
pub struct NonBlockingWriter<'a> {
    queue: &'a Queue,
    priority: bool,
}

impl io::Write for NonBlockingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.queue.push(buf, self.priority);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = NonBlockingWriter<'a>;

    /// A writer for a line whose level is unknown: treated as important.
    fn make_writer(&'a self) -> Self::Writer {
        NonBlockingWriter {
            queue: &self.queue,
            priority: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        NonBlockingWriter {
            queue: &self.queue,
            priority: is_priority(meta),
        }
    }
}

/// Error and warn records, and decision logs, must not be sampled or dropped.
pub(crate) fn is_priority(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN || meta.target() == DECISION_TARGET
}

/// Owns the writer thread of a [`NonBlocking`]: flushes and stops it.
///
/// Dropping it closes the queue and waits up to one second for the thread to write what is
/// queued; the thread is never joined without a bound.
#[derive(Debug)]
#[must_use = "dropping the guard stops the writer thread"]
pub struct WriterGuard {
    queue: Arc<Queue>,
    closed: bool,
}

/// Flushing or stopping the writer did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the log writer did not finish within {0:?}")]
pub struct FlushTimeout(pub Duration);

impl WriterGuard {
    /// Waits until every line queued before this call is written and the output flushed.
    ///
    /// # Errors
    ///
    /// [`FlushTimeout`] when that takes longer than `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushTimeout> {
        if self.queue.request_flush(timeout) {
            Ok(())
        } else {
            Err(FlushTimeout(timeout))
        }
    }

    /// Stops accepting lines, writes what is queued, and stops the thread.
    ///
    /// # Errors
    ///
    /// [`FlushTimeout`] when the thread has not finished within `timeout` (it is left to finish
    /// on its own).
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), FlushTimeout> {
        self.closed = true;
        if self.queue.close(timeout) {
            Ok(())
        } else {
            Err(FlushTimeout(timeout))
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.queue.close(Duration::from_secs(1));
        }
    }
}
