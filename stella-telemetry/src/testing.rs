//! Test doubles: a writer that captures lines in memory.

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// A `MakeWriter` that keeps everything written, for assertions on log lines. Clones share the
/// buffer.
///
/// # Examples
///
/// ```
/// use stella_telemetry::JsonLayer;
/// use stella_telemetry::testing::CaptureWriter;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let capture = CaptureWriter::new();
/// let layer = JsonLayer::builder("svc", "1.0").with_writer(capture.clone()).build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!(user = "bob@example.com", "signed in");
/// });
/// let lines = capture.lines();
/// assert_eq!(lines.len(), 1);
/// assert!(lines[0].contains(r#""user":"[REDACTED:email]""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CaptureWriter {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl CaptureWriter {
    /// An empty capture.
    pub fn new() -> Self {
        CaptureWriter::default()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn contents(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The complete lines written so far, without their newlines.
    pub fn lines(&self) -> Vec<String> {
        self.contents().lines().map(str::to_owned).collect()
    }

    /// Forgets everything written so far.
    pub fn clear(&self) {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CaptureWriter {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
