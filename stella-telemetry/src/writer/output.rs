//! Where lines go: stdout, stderr, a rotating file, or any `io::Write`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The destination of the log lines.
///
/// # Examples
///
/// ```
/// use stella_telemetry::{FileOutput, Output};
///
/// let out = Output::File(FileOutput::new("/var/log/stella/api.log").with_max_bytes(100 << 20).with_daily(true));
/// # let _ = out;
/// let out = Output::parse("file:/tmp/app.log")?;
/// assert!(matches!(out, Output::File(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Default)]
pub enum Output {
    /// Standard output (the default; what container log collectors read).
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, optionally rotated by size and/or daily.
    File(FileOutput),
    /// Any writer (a socket, a pipe, a test buffer). Written from the writer thread.
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Stdout => f.write_str("Stdout"),
            Output::Stderr => f.write_str("Stderr"),
            Output::File(file) => f.debug_tuple("File").field(file).finish(),
            Output::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

impl Output {
    /// Parses the `STELLA_LOG_OUTPUT` syntax: `stdout`, `stderr` or `file:PATH`.
    ///
    /// # Errors
    ///
    /// [`OutputError::Syntax`] for anything else or an empty path.
    pub fn parse(s: &str) -> Result<Output, OutputError> {
        match s.trim() {
            "" | "stdout" | "-" => Ok(Output::Stdout),
            "stderr" => Ok(Output::Stderr),
            other => match other.strip_prefix("file:") {
                Some(path) if !path.trim().is_empty() => {
                    Ok(Output::File(FileOutput::new(path.trim())))
                }
                _ => Err(OutputError::Syntax(format!(
                    "`{}`: expected stdout, stderr or file:PATH",
                    crate::json::prefix(other, 64)
                ))),
            },
        }
    }

    pub(crate) fn open(self) -> Result<Sink, OutputError> {
        Ok(match self {
            Output::Stdout => Sink::Stdout(io::stdout()),
            Output::Stderr => Sink::Stderr(io::stderr()),
            Output::File(f) => Sink::File(Box::new(RotatingFile::open(f)?)),
            Output::Writer(w) => Sink::Writer(w),
        })
    }
}

/// A log file and its rotation policy.
///
/// Rotation renames `app.log` to `app.log.1` (shifting older files up to `max_files`, deleting
/// the oldest) and starts a new `app.log`, when the next line would take the file past
/// `max_bytes`, or at the first write of a new UTC day. The writer writes the lines of each
/// tick (50 ms) in one system call per file, so the lines of the tick that spans midnight go to
/// the new day's file.
///
/// # Examples
///
/// ```
/// use stella_telemetry::FileOutput;
/// let f = FileOutput::new("app.log").with_max_bytes(10 << 20).with_daily(true).with_max_files(7);
/// assert_eq!(f.path(), std::path::Path::new("app.log"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutput {
    path: PathBuf,
    max_bytes: Option<u64>,
    daily: bool,
    max_files: usize,
}

impl FileOutput {
    /// A file at `path`, not rotated, keeping 5 rotated files once rotation is on.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileOutput {
            path: path.into(),
            max_bytes: None,
            daily: false,
            max_files: 5,
        }
    }

    /// Rotates before the file would exceed `bytes`.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self
    }

    /// Rotates at the first write of each UTC day (see the type's documentation).
    #[must_use]
    pub fn with_daily(mut self, daily: bool) -> Self {
        self.daily = daily;
        self
    }

    /// How many rotated files to keep (default 5, at least 1).
    #[must_use]
    pub fn with_max_files(mut self, n: usize) -> Self {
        self.max_files = n.max(1);
        self
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses the `STELLA_LOG_ROTATION` syntax: `never`, `daily`, `size:BYTES` (with an optional
    /// `k`, `m` or `g` suffix, powers of 1024), or both separated by a comma.
    pub(crate) fn with_rotation_spec(mut self, spec: &str) -> Result<Self, OutputError> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "never" => {
                    self.max_bytes = None;
                    self.daily = false;
                }
                "daily" => self.daily = true,
                p => {
                    let bytes = p
                        .strip_prefix("size:")
                        .and_then(parse_bytes)
                        .ok_or_else(|| {
                            OutputError::Syntax(format!(
                                "rotation `{}`: expected never, daily or size:BYTES",
                                crate::json::prefix(p, 64)
                            ))
                        })?;
                    self = self.with_max_bytes(bytes);
                }
            }
        }
        Ok(self)
    }
}

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.strip_suffix(['k', 'm', 'g']) {
        Some(n) if s.ends_with('k') => (n, 1u64 << 10),
        Some(n) if s.ends_with('m') => (n, 1 << 20),
        Some(n) => (n, 1 << 30),
        None => (s.as_str(), 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul).filter(|b| *b > 0)
}

/// Opening or parsing an output failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The output or rotation setting is malformed.
    #[error("log output: {0}")]
    Syntax(String),
    /// The log file (or its directory) could not be created or opened.
    #[error("log file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The writer thread could not be started.
    #[error("log writer thread: {0}")]
    Thread(#[source] io::Error),
}

/// An opened output, owned by the writer thread.
pub(crate) enum Sink {
    Stdout(io::Stdout),
    Stderr(io::Stderr),
    File(Box<RotatingFile>),
    Writer(Box<dyn Write + Send>),
}

impl Sink {
    /// Writes a batch of whole lines.
    pub(crate) fn write_batch(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => {
                let mut l = s.lock();
                l.write_all(bytes)?;
                l.flush()
            }
            Sink::Stderr(s) => s.lock().write_all(bytes),
            Sink::File(f) => f.write_lines(bytes),
            Sink::Writer(w) => {
                w.write_all(bytes)?;
                w.flush()
            }
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::Stderr(s) => s.flush(),
            Sink::File(f) => f.file.flush(),
            Sink::Writer(w) => w.flush(),
        }
    }
}

/// A file that rotates by size and day.
pub(crate) struct RotatingFile {
    cfg: FileOutput,
    file: File,
    size: u64,
    day: u64,
}

/// The UTC day (days since the Unix epoch) of `t`.
fn day_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

fn today() -> u64 {
    day_of(SystemTime::now())
}

impl RotatingFile {
    fn open(cfg: FileOutput) -> Result<RotatingFile, OutputError> {
        let err = |source| OutputError::Open {
            path: cfg.path.clone(),
            source,
        };
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.path)
            .map_err(err)?;
        let meta = file.metadata().ok();
        let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
        // A file kept from an earlier run belongs to the day it was last written: a process
        // restarted after midnight starts a new file at its first line, as one that ran on.
        let day = meta
            .filter(|m| m.len() > 0)
            .and_then(|m| m.modified().ok())
            .map_or_else(today, day_of);
        Ok(RotatingFile {
            cfg,
            file,
            size,
            day,
        })
    }

    /// Writes whole lines, rotating between lines when needed.
    /// Writes a batch of whole lines: one write per stretch of lines that goes to the same file
    /// (usually the whole batch), rotating between stretches.
    fn write_lines(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            // The day is checked once per stretch: a batch holds at most a writer tick's lines.
            if self.cfg.daily && today() != self.day {
                self.rotate()?;
            }
            let take = match self.cfg.max_bytes {
                None => rest.len(),
                Some(max) => {
                    let room = usize::try_from(max.saturating_sub(self.size)).unwrap_or(usize::MAX);
                    if rest.len() <= room {
                        rest.len()
                    } else {
                        // The whole lines that fit; a line alone over the limit goes into a file
                        // of its own.
                        match rest
                            .get(..room)
                            .and_then(|fit| fit.iter().rposition(|b| *b == b'\n'))
                        {
                            Some(last) => last + 1,
                            None if self.size > 0 => {
                                self.rotate()?;
                                continue;
                            }
                            None => rest
                                .iter()
                                .position(|b| *b == b'\n')
                                .map_or(rest.len(), |i| i + 1),
                        }
                    }
                }
            };
            let (stretch, after) = rest.split_at(take);
            self.file.write_all(stretch)?;
            self.size += stretch.len() as u64;
            rest = after;
        }
        Ok(())
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.cfg.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = fs::remove_file(self.rotated(self.cfg.max_files));
        for n in (1..self.cfg.max_files).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.cfg.path, self.rotated(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.path)?;
        self.size = 0;
        self.day = today();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert!(matches!(Output::parse("stdout"), Ok(Output::Stdout)));
        assert!(matches!(Output::parse("stderr"), Ok(Output::Stderr)));
        assert!(Output::parse("file:").is_err());
        assert!(Output::parse("syslog").is_err());
        let f = FileOutput::new("x")
            .with_rotation_spec("daily, size:10m")
            .unwrap();
        assert_eq!(f.max_bytes, Some(10 << 20));
        assert!(f.daily);
        assert!(
            FileOutput::new("x")
                .with_rotation_spec("size:lots")
                .is_err()
        );
    }

    /// A rotating `app.log` in a fresh directory named after `tag`, rotated by size.
    fn size_rotated(tag: &str, max_bytes: u64, max_files: usize) -> (PathBuf, RotatingFile) {
        let dir =
            std::env::temp_dir().join(format!("stella-telemetry-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cfg = FileOutput::new(dir.join("app.log"))
            .with_max_bytes(max_bytes)
            .with_max_files(max_files);
        (dir, RotatingFile::open(cfg).unwrap())
    }

    #[test]
    fn rotates_by_size() {
        let (dir, mut f) = size_rotated("rot", 10, 2);
        let path = dir.join("app.log");
        f.write_lines(b"aaaaaaaa\nbbbbbbbb\ncccccccc\ndddddddd\n")
            .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "dddddddd\n");
        assert_eq!(
            fs::read_to_string(dir.join("app.log.1")).unwrap(),
            "cccccccc\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("app.log.2")).unwrap(),
            "bbbbbbbb\n"
        );
        assert!(!dir.join("app.log.3").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_batch_fills_each_file_with_the_whole_lines_that_fit() {
        let (dir, mut f) = size_rotated("fit", 12, 5);
        f.write_lines(b"aaaa\nbbbb\ncccc\nddddddddddddddd\neeee\n")
            .unwrap();
        let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(read("app.log.3"), "aaaa\nbbbb\n");
        assert_eq!(read("app.log.2"), "cccc\n");
        assert_eq!(
            read("app.log.1"),
            "ddddddddddddddd\n",
            "over the limit: alone"
        );
        assert_eq!(read("app.log"), "eeee\n");
        let _ = fs::remove_dir_all(&dir);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// However the lines are cut into batches, the files hold what writing them one line at
        /// a time gives.
        #[test]
        fn batches_rotate_as_single_lines_do(
            lines in proptest::collection::vec(1usize..40, 1..30),
            cuts in proptest::collection::vec(proptest::prelude::any::<bool>(), 30),
            max in 1u64..100,
        ) {
            let base = std::env::temp_dir().join(format!(
                "stella-telemetry-batches-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let write = |name: &str, batches: &[Vec<u8>]| {
                let dir = base.join(name);
                let _ = fs::remove_dir_all(&dir);
                let path = dir.join("app.log");
                let mut f =
                    RotatingFile::open(FileOutput::new(&path).with_max_bytes(max).with_max_files(64))
                        .unwrap();
                for b in batches {
                    f.write_lines(b).unwrap();
                }
                (0..64)
                    .map(|n| {
                        let p = if n == 0 { path.clone() } else { f.rotated(n) };
                        fs::read_to_string(p).unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
            };
            let text: Vec<Vec<u8>> = lines
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut l = vec![b'a' + (i % 26) as u8; *n - 1];
                    l.push(b'\n');
                    l
                })
                .collect();
            let mut batches = vec![Vec::new()];
            for (line, cut) in text.iter().zip(&cuts) {
                batches.last_mut().unwrap().extend_from_slice(line);
                if *cut {
                    batches.push(Vec::new());
                }
            }
            let one_by_one = write("single", &text);
            let batched = write("batched", &batches);
            let _ = fs::remove_dir_all(&base);
            proptest::prop_assert_eq!(batched, one_by_one);
        }
    }

    #[test]
    fn rotates_daily_and_after_a_restart_past_midnight() {
        let dir =
            std::env::temp_dir().join(format!("stella-telemetry-daily-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("app.log");
        let cfg = FileOutput::new(&path).with_daily(true).with_max_files(3);
        let mut f = RotatingFile::open(cfg.clone()).unwrap();
        f.write_lines(b"monday 1\nmonday 2\n").unwrap();
        // The day turns: the next line starts a new file.
        f.day -= 1;
        f.write_lines(b"tuesday 1\n").unwrap();
        f.write_lines(b"tuesday 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "tuesday 1\ntuesday 2\n");
        assert_eq!(
            fs::read_to_string(dir.join("app.log.1")).unwrap(),
            "monday 1\nmonday 2\n"
        );
        drop(f);

        // A restart: the file on disk was last written yesterday.
        let yesterday = SystemTime::now() - std::time::Duration::from_secs(86_400);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .set_modified(yesterday)
            .unwrap();
        let mut f = RotatingFile::open(cfg.clone()).unwrap();
        f.write_lines(b"wednesday 1\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "wednesday 1\n");
        assert_eq!(
            fs::read_to_string(dir.join("app.log.1")).unwrap(),
            "tuesday 1\ntuesday 2\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("app.log.2")).unwrap(),
            "monday 1\nmonday 2\n"
        );
        drop(f);

        // A restart on the same day appends.
        let mut f = RotatingFile::open(cfg).unwrap();
        f.write_lines(b"wednesday 2\n").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "wednesday 1\nwednesday 2\n"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
