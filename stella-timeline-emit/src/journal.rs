//! The on-disk journal: append-only NDJSON segments plus a committed read cursor.
//!
//! Layout of a journal directory:
//!
//! ```text
//! LOCK                        held (flock) by the one process using the journal
//! 00000000000000000001.ndjson segments, one event per line, oldest first
//! 00000000000000000002.ndjson
//! cursor                      "<segment> <byte offset>": everything before it was delivered
//! ```
//!
//! Appends go to the last segment, which rolls over at the configured size. A torn final line
//! (the process died mid-write) is cut off when the journal is opened. Delivered segments are
//! deleted as the cursor passes them. The cursor is written (write, fsync, rename) after each
//! delivered batch, so a crash re-sends at most one batch, which the receiver recognises by
//! `event_id`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::event::TimelineEvent;

/// When journal appends are forced to disk with `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// After every append (safest, slowest).
    Always,
    /// At most once per interval, and on flush and shutdown (the default, one second).
    Interval(Duration),
    /// Only on flush and shutdown; the OS writes back in its own time. Survives a process
    /// crash, not a power cut.
    Never,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// Where and how a journal is kept; give one to a sink or to the emitter.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::{FsyncPolicy, JournalConfig};
///
/// let dir = std::env::temp_dir().join("stella-doc-journal");
/// let cfg = JournalConfig::new(&dir)
///     .with_fsync(FsyncPolicy::Always)
///     .with_segment_bytes(8 << 20)
///     .with_max_bytes(1 << 30);
/// assert_eq!(cfg.dir(), dir.as_path());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalConfig {
    dir: PathBuf,
    fsync: FsyncPolicy,
    segment_bytes: u64,
    max_bytes: u64,
}

impl JournalConfig {
    /// A journal in `dir` (created if missing) with the default policy: fsync once a second,
    /// 16 MiB segments, at most 1 GiB on disk.
    #[must_use]
    pub fn new(dir: impl AsRef<Path>) -> Self {
        JournalConfig {
            dir: dir.as_ref().to_path_buf(),
            fsync: FsyncPolicy::default(),
            segment_bytes: 16 << 20,
            max_bytes: 1 << 30,
        }
    }
    /// Sets the fsync policy.
    #[must_use]
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Self {
        self.fsync = fsync;
        self
    }
    /// Sets the size at which a new segment is started.
    #[must_use]
    pub fn with_segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }
    /// Sets the most bytes kept on disk; appends past it fail and are counted as dropped.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }
    /// The journal directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A position in the journal: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    seg: u64,
    offset: u64,
}

/// Events read from the journal and the position after them.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    pub(crate) events: Vec<TimelineEvent>,
    pub(crate) end: Position,
    /// Complete lines that failed to parse or verify (skipped, counted as dropped).
    pub(crate) corrupt: usize,
}

/// An open journal (one per directory per process; the directory is locked).
#[derive(Debug)]
pub(crate) struct Journal {
    cfg: JournalConfig,
    _lock: File,
    /// Segment numbers on disk, ascending.
    segments: Vec<u64>,
    writer: Option<File>,
    /// Size of the last segment.
    tail_len: u64,
    /// Bytes on disk across segments.
    total_bytes: u64,
    cursor: Position,
    last_sync: Instant,
    dirty: bool,
}

fn seg_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:020}.ndjson"))
}

impl Journal {
    /// Opens (or creates) the journal in `cfg.dir`, locking it and repairing a torn tail.
    pub(crate) fn open(cfg: JournalConfig) -> io::Result<Journal> {
        fs::create_dir_all(&cfg.dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cfg.dir.join("LOCK"))?;
        lock.try_lock().map_err(|e| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "journal {} is in use by another emitter: {e}",
                    cfg.dir.display()
                ),
            )
        })?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(&cfg.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(num) = name.strip_suffix(".ndjson")
                && let Ok(n) = num.parse::<u64>()
            {
                segments.push(n);
            }
        }
        segments.sort_unstable();
        let cursor = read_cursor(&cfg.dir).unwrap_or(Position { seg: 0, offset: 0 });
        let mut j = Journal {
            cfg,
            _lock: lock,
            segments,
            writer: None,
            tail_len: 0,
            total_bytes: 0,
            cursor,
            last_sync: Instant::now(),
            dirty: false,
        };
        j.repair_tail()?;
        j.total_bytes = j
            .segments
            .iter()
            .map(|s| fs::metadata(seg_path(&j.cfg.dir, *s)).map_or(0, |m| m.len()))
            .sum();
        // A cursor pointing before the first segment means that segment was deleted after the
        // cursor moved past it; start at the first existing one.
        if let Some(first) = j.segments.first().copied()
            && j.cursor.seg < first
        {
            j.cursor = Position {
                seg: first,
                offset: 0,
            };
        }
        Ok(j)
    }

    /// Cuts a torn final line off the last segment.
    fn repair_tail(&mut self) -> io::Result<()> {
        let Some(last) = self.segments.last().copied() else {
            return Ok(());
        };
        let path = seg_path(&self.cfg.dir, last);
        let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = f.metadata()?.len();
        if len == 0 {
            return Ok(());
        }
        // Find the last newline by scanning back in chunks.
        let mut end = len;
        let mut buf = vec![0u8; 8192];
        let keep = loop {
            if end == 0 {
                break 0;
            }
            let start = end.saturating_sub(buf.len() as u64);
            let n = usize::try_from(end - start).unwrap_or(0);
            f.seek(SeekFrom::Start(start))?;
            let chunk = buf.get_mut(..n).unwrap_or_default();
            f.read_exact(chunk)?;
            if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
                break start + i as u64 + 1;
            }
            end = start;
        };
        if keep < len {
            tracing::warn!(
                journal = %self.cfg.dir.display(),
                bytes = len - keep,
                "timeline journal: cutting a torn final line"
            );
            f.set_len(keep)?;
            f.sync_all()?;
        }
        Ok(())
    }

    /// Bytes of the journal's segments on disk (what is not delivered yet, and the delivered
    /// head of the oldest segment until that segment is removed).
    #[cfg(any(feature = "http", feature = "nats"))]
    pub(crate) fn bytes_on_disk(&self) -> u64 {
        self.total_bytes
    }

    /// True if events are waiting after the cursor.
    pub(crate) fn pending(&self) -> bool {
        match self.segments.last() {
            None => false,
            Some(&last) => {
                self.cursor.seg < last
                    || (self.cursor.seg == last && self.cursor.offset < self.tail_len_of(last))
            }
        }
    }

    fn tail_len_of(&self, seg: u64) -> u64 {
        if self.writer.is_some() && self.segments.last() == Some(&seg) {
            self.tail_len
        } else {
            fs::metadata(seg_path(&self.cfg.dir, seg)).map_or(0, |m| m.len())
        }
    }

    /// Appends events as NDJSON lines, in order.
    pub(crate) fn append<'a, I>(&mut self, lines: I) -> io::Result<usize>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut buf = Vec::with_capacity(4096);
        let mut n = 0;
        for line in lines {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let add = buf.len() as u64;
        if self.total_bytes + add > self.cfg.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "journal {} is at its {} byte limit",
                    self.cfg.dir.display(),
                    self.cfg.max_bytes
                ),
            ));
        }
        if self.writer.is_none() || self.tail_len >= self.cfg.segment_bytes {
            self.roll()?;
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(io::Error::other("journal writer missing"));
        };
        if let Err(e) = w.write_all(&buf) {
            // Leave no torn line behind for the reader.
            let _ = w.set_len(self.tail_len);
            let _ = w.seek(SeekFrom::Start(self.tail_len));
            return Err(e);
        }
        self.tail_len += add;
        self.total_bytes += add;
        self.dirty = true;
        match self.cfg.fsync {
            FsyncPolicy::Always => self.sync()?,
            FsyncPolicy::Interval(d) if self.last_sync.elapsed() >= d => self.sync()?,
            _ => {}
        }
        Ok(n)
    }

    /// Opens the last segment for appending, or starts a new one if it is full.
    fn roll(&mut self) -> io::Result<()> {
        if self.writer.is_some() {
            self.sync()?;
        }
        let reuse = self.writer.is_none()
            && self.segments.last().is_some_and(|s| {
                fs::metadata(seg_path(&self.cfg.dir, *s))
                    .is_ok_and(|m| m.len() < self.cfg.segment_bytes)
            });
        let seg = match (reuse, self.segments.last()) {
            (true, Some(s)) => *s,
            (_, Some(s)) => s + 1,
            (_, None) => self.cursor.seg.max(1),
        };
        let path = seg_path(&self.cfg.dir, seg);
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        self.tail_len = f.metadata()?.len();
        if self.segments.last() != Some(&seg) {
            self.segments.push(seg);
            sync_dir(&self.cfg.dir);
        }
        self.writer = Some(f);
        Ok(())
    }

    /// Forces appended data to disk.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(w) = self.writer.as_mut() {
                w.sync_data()?;
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Syncs if the interval policy says it is time (called when the sink is idle).
    pub(crate) fn maybe_sync(&mut self) -> io::Result<()> {
        match self.cfg.fsync {
            FsyncPolicy::Interval(d) if self.dirty && self.last_sync.elapsed() >= d => self.sync(),
            _ => Ok(()),
        }
    }

    /// Reads up to `max` events after the cursor, without moving it.
    pub(crate) fn read(&mut self, max: usize) -> io::Result<ReadBatch> {
        let mut events = Vec::new();
        let mut corrupt = 0;
        let mut pos = self.cursor;
        if let Some(first) = self.segments.first().copied()
            && pos.seg < first
        {
            pos = Position {
                seg: first,
                offset: 0,
            };
        }
        let segments: Vec<u64> = self
            .segments
            .iter()
            .copied()
            .filter(|s| *s >= pos.seg)
            .collect();
        'segments: for seg in segments {
            if seg != pos.seg {
                pos = Position { seg, offset: 0 };
            }
            let limit = self.tail_len_of(seg);
            if pos.offset >= limit {
                continue;
            }
            let mut f = File::open(seg_path(&self.cfg.dir, seg))?;
            f.seek(SeekFrom::Start(pos.offset))?;
            let mut reader = BufReader::new(f.take(limit - pos.offset));
            let mut line = String::new();
            while events.len() < max {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 || !line.ends_with('\n') {
                    // End of data (an unterminated line is an append in progress).
                    continue 'segments;
                }
                pos.offset += n as u64;
                match TimelineEvent::from_json(line.trim_end()) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        corrupt += 1;
                        tracing::error!(journal = %self.cfg.dir.display(), error = %e, "timeline journal: skipping a corrupt entry");
                    }
                }
            }
            break;
        }
        Ok(ReadBatch {
            events,
            end: pos,
            corrupt,
        })
    }

    /// Marks everything before `end` as delivered: persists the cursor, deletes passed
    /// segments, and resets the journal when it is fully drained.
    pub(crate) fn commit(&mut self, end: Position) -> io::Result<()> {
        self.cursor = end;
        let drained = !self.pending();
        if drained {
            // Everything delivered: drop all segments and start over (numbers keep rising).
            let next = self.segments.last().map_or(1, |s| s + 1);
            self.writer = None;
            for s in std::mem::take(&mut self.segments) {
                let _ = fs::remove_file(seg_path(&self.cfg.dir, s));
            }
            self.total_bytes = 0;
            self.tail_len = 0;
            self.cursor = Position {
                seg: next,
                offset: 0,
            };
        } else {
            let passed: Vec<u64> = self
                .segments
                .iter()
                .copied()
                .filter(|s| *s < end.seg)
                .collect();
            for s in passed {
                let len = fs::metadata(seg_path(&self.cfg.dir, s)).map_or(0, |m| m.len());
                if fs::remove_file(seg_path(&self.cfg.dir, s)).is_ok() {
                    self.total_bytes = self.total_bytes.saturating_sub(len);
                }
            }
            self.segments.retain(|s| *s >= end.seg);
        }
        write_cursor(&self.cfg.dir, self.cursor)
    }
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let (seg, offset) = text.trim().split_once(' ')?;
    Some(Position {
        seg: seg.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

fn write_cursor(dir: &Path, pos: Position) -> io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {}", pos.seg, pos.offset)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, dir.join("cursor"))?;
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, TimelineEvent};

    fn ev(i: usize) -> TimelineEvent {
        TimelineEvent::builder(EventKind::SloResolved, "slo", format!("s{i}"))
            .with_tenant("acme")
            .with_detail("slo", "x")
            .build()
            .unwrap()
    }

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("stella-journal-{name}-{}", uuid::Uuid::now_v7()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn append_read_commit_across_segments_and_reopen() {
        let dir = tmp("segments");
        let cfg = JournalConfig::new(&dir)
            .with_segment_bytes(4096)
            .with_fsync(FsyncPolicy::Never);
        let events: Vec<_> = (0..40).map(ev).collect();
        let lines: Vec<String> = events.iter().map(TimelineEvent::to_json).collect();
        {
            let mut j = Journal::open(cfg.clone()).unwrap();
            for l in &lines {
                j.append([l.as_str()]).unwrap();
            }
            assert!(j.segments.len() > 1);
            let b = j.read(15).unwrap();
            assert_eq!(b.events, events[..15]);
            j.commit(b.end).unwrap();
        }
        // A second opener is refused while the lock is held.
        let held = Journal::open(cfg.clone()).unwrap();
        assert!(Journal::open(cfg.clone()).is_err());
        drop(held);
        let mut j = Journal::open(cfg).unwrap();
        let mut got = Vec::new();
        while j.pending() {
            let b = j.read(7).unwrap();
            got.extend(b.events);
            j.commit(b.end).unwrap();
        }
        assert_eq!(got, events[15..]);
        assert!(j.segments.is_empty());
        j.append([lines[0].as_str()]).unwrap();
        assert_eq!(j.read(10).unwrap().events, events[..1]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tmp("torn");
        let cfg = JournalConfig::new(&dir);
        let lines: Vec<String> = (0..3).map(|i| ev(i).to_json()).collect();
        {
            let mut j = Journal::open(cfg.clone()).unwrap();
            j.append(lines.iter().map(String::as_str)).unwrap();
            j.sync().unwrap();
        }
        let seg = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&lines[0].as_bytes()[..40]).unwrap();
        drop(f);
        let mut j = Journal::open(cfg).unwrap();
        let b = j.read(10).unwrap();
        assert_eq!(b.events.len(), 3);
        assert_eq!(b.corrupt, 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn max_bytes_is_enforced() {
        let dir = tmp("full");
        let mut j = Journal::open(JournalConfig::new(&dir).with_max_bytes(100)).unwrap();
        let line = ev(0).to_json();
        assert_eq!(
            j.append([line.as_str()]).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
