//! NDJSON to a file or stdout.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{FlushError, Record, Sink, SinkError, SinkImpl};
use crate::journal::FsyncPolicy;
use crate::stats::Counters;

/// Writes each event as one line of JSON (NDJSON) to a file (append mode) or to stdout.
///
/// Writes are buffered and pushed out whenever the emitter's queue runs empty; with a file,
/// the [`FsyncPolicy`] decides when they are forced to disk.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::{Emitter, EventKind, FileSink, TimelineEvent};
///
/// let path = std::env::temp_dir().join(format!("stella-doc-{}.ndjson", std::process::id()));
/// let emitter = Emitter::builder().with_sink(FileSink::builder().with_path(&path).build()?).build()?;
/// emitter.emit(
///     TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
///         .with_tenant("acme")
///         .with_detail("slo", "availability"),
/// )?;
/// emitter.shutdown(std::time::Duration::from_secs(5))?;
/// let line = std::fs::read_to_string(&path)?;
/// assert!(TimelineEvent::from_json(line.trim_end()).is_ok());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileSink {
    sink: Sink,
}

impl FileSink {
    /// Starts a file sink builder (stdout unless a path is given).
    pub fn builder() -> FileSinkBuilder {
        FileSinkBuilder {
            path: None,
            fsync: FsyncPolicy::default(),
        }
    }

    /// A sink that writes NDJSON to stdout.
    #[must_use]
    pub fn stdout() -> FileSink {
        file_sink(Target::Stdout(io::stdout()), FsyncPolicy::Never)
    }
}

impl From<FileSink> for Sink {
    fn from(f: FileSink) -> Sink {
        f.sink
    }
}

/// Builds a [`FileSink`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileSinkBuilder {
    path: Option<PathBuf>,
    fsync: FsyncPolicy,
}

impl FileSinkBuilder {
    /// Appends to the file at `path` (created if missing) instead of stdout.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }
    /// Sets when writes are forced to disk (files only).
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Self {
        self.fsync = fsync;
        self
    }
    /// Opens the file.
    ///
    /// # Errors
    ///
    /// [`SinkError::Io`] if the file cannot be opened for appending.
    pub fn build(self) -> Result<FileSink, SinkError> {
        match self.path {
            None => Ok(FileSink::stdout()),
            Some(p) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|e| SinkError::Io {
                        what: p.display().to_string(),
                        reason: e.to_string(),
                    })?;
                // Pipes, character devices and the like cannot be fsynced.
                let regular = f.metadata().is_ok_and(|m| m.is_file());
                Ok(file_sink(
                    Target::File(BufWriter::with_capacity(64 * 1024, f), regular),
                    self.fsync,
                ))
            }
        }
    }
}

fn file_sink(target: Target, fsync: FsyncPolicy) -> FileSink {
    let inner = FileSinkImpl {
        state: Mutex::new(State {
            target,
            fsync,
            last_sync: Instant::now(),
            dirty: false,
        }),
        counters: Arc::new(Counters::new("file")),
    };
    FileSink {
        sink: Sink::new(Arc::new(inner)),
    }
}

#[derive(Debug)]
enum Target {
    Stdout(io::Stdout),
    /// The writer, and whether it is a regular file (pipes and devices cannot be fsynced).
    File(BufWriter<File>, bool),
}

#[derive(Debug)]
struct State {
    target: Target,
    fsync: FsyncPolicy,
    last_sync: Instant,
    dirty: bool,
}

impl State {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        match &mut self.target {
            Target::Stdout(s) => {
                let mut lock = s.lock();
                lock.write_all(line.as_bytes())?;
                lock.write_all(b"\n")
            }
            Target::File(w, _) => {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
                self.dirty = true;
                if self.fsync == FsyncPolicy::Always {
                    self.sync()?;
                }
                Ok(())
            }
        }
    }

    fn push(&mut self, force_sync: bool) -> io::Result<()> {
        match &mut self.target {
            Target::Stdout(s) => s.flush(),
            Target::File(w, _) => {
                w.flush()?;
                let due = match self.fsync {
                    FsyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
                    _ => false,
                };
                if self.dirty && (force_sync || due) {
                    self.sync()?;
                }
                Ok(())
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        if let Target::File(w, regular) = &mut self.target {
            w.flush()?;
            if *regular {
                w.get_ref().sync_data()?;
            }
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }
}

#[derive(Debug)]
struct FileSinkImpl {
    state: Mutex<State>,
    counters: Arc<Counters>,
}

impl FileSinkImpl {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SinkImpl for FileSinkImpl {
    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
    fn submit(&self, record: &Arc<Record>) {
        match self.lock().write_line(&record.json) {
            Ok(()) => self.counters.delivered(1),
            Err(e) => {
                self.counters.dropped(1);
                tracing::error!(event_id = %record.event.event_id(), error = %e, "timeline file sink: write failed, event dropped");
            }
        }
    }
    fn idle(&self) {
        if let Err(e) = self.lock().push(false) {
            tracing::error!(error = %e, "timeline file sink: flush failed");
        }
    }
    fn flush(&self, _deadline: Instant) -> Result<(), FlushError> {
        self.lock()
            .push(true)
            .map_err(|e| FlushError::Io(e.to_string()))
    }
    fn shutdown(&self, deadline: Instant) -> Result<(), FlushError> {
        self.flush(deadline)
    }
}
