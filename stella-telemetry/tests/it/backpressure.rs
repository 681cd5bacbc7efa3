//! A saturated queue drops and counts info lines while error lines survive.

use std::io::{self, Write};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{JsonLayer, NonBlocking, Output, Sampling};
use tracing_subscriber::layer::SubscriberExt;

use crate::support::check_lines;

/// A writer that blocks until the gate opens, then writes to a capture. The first write says
/// so on `entered`, so a test knows the writer thread holds a batch and is stuck.
struct Gated {
    open: Arc<(Mutex<bool>, Condvar)>,
    entered: Option<Sender<()>>,
    out: CaptureWriter,
}

impl Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A JSON layer that samples nothing away, over `writer`.
fn unsampled(writer: NonBlocking) -> JsonLayer<NonBlocking> {
    JsonLayer::builder("svc", "1")
        .with_sampling(Sampling::unlimited())
        .with_non_blocking(writer)
        .build()
        .unwrap()
}

#[test]
fn errors_survive_a_saturated_queue_while_info_is_dropped_and_counted() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let capture = CaptureWriter::new();
    let (entered, writer_stuck) = mpsc::channel();
    let (writer, guard) = NonBlocking::builder()
        .with_capacity(32)
        .with_priority_wait(Duration::from_millis(5))
        .build(Output::Writer(Box::new(Gated {
            open: Arc::clone(&gate),
            entered: Some(entered),
            out: capture.clone(),
        })))
        .unwrap();
    let layer = unsampled(writer);
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // The writer thread takes the first line and sticks in the closed output; only then
        // can the queue be full when the errors come, whatever the scheduler does.
        tracing::info!(i = 0, "info");
        writer_stuck
            .recv_timeout(Duration::from_secs(30))
            .expect("the writer thread takes the first line");
        for i in 1..200 {
            tracing::info!(i, "info");
        }
        for i in 0..20 {
            tracing::error!(i, "error");
        }
        {
            let (lock, cv) = &*gate;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
        guard.flush(Duration::from_secs(30)).unwrap();
    });
    let lines = check_lines(&capture.contents());
    let errors = lines.iter().filter(|l| l["message"] == "error").count();
    let infos = lines.iter().filter(|l| l["message"] == "info").count() as u64;
    let stats = handle.stats();
    assert_eq!(errors, 20, "every error line is written");
    assert!(stats.dropped_queue_full > 0, "the queue saturated");
    assert_eq!(
        infos + stats.dropped_queue_full,
        200,
        "every info line is written or counted"
    );
    assert_eq!(stats.dropped_priority, 0);
    assert!(stats.priority_waits > 0);
    guard.shutdown(Duration::from_secs(30)).unwrap();
}

#[test]
fn shutdown_drains_the_queue_into_a_rotating_file() {
    let dir = std::env::temp_dir().join(format!("stella-telemetry-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("logs/app.log");
    let config = stella_telemetry::Config::new("svc", "1")
        .with_file(
            stella_telemetry::FileOutput::new(&path)
                .with_max_bytes(400)
                .with_max_files(3),
        )
        .with_sampling(Sampling::unlimited());
    let (dispatch, guard) = stella_telemetry::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..20 {
            tracing::info!(i, "to file");
        }
    });
    assert_eq!(guard.stats().lines, 20);
    guard.shutdown().unwrap();
    let mut text = String::new();
    for name in ["app.log.3", "app.log.2", "app.log.1", "app.log"] {
        if let Ok(t) = std::fs::read_to_string(dir.join("logs").join(name)) {
            assert!(t.len() <= 400, "{name} is bounded");
            text.push_str(&t);
        }
    }
    let lines = check_lines(&text);
    assert!(!lines.is_empty());
    assert_eq!(
        lines.last().unwrap()["details"]["i"],
        19,
        "the newest lines are kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer that takes 5 ms per write and counts its writes.
struct Slow {
    writes: Arc<Mutex<usize>>,
    out: CaptureWriter,
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        *self.writes.lock().unwrap() += 1;
        std::thread::sleep(Duration::from_millis(5));
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_trickle_of_info_lines_is_written_once_per_tick_not_once_per_write() {
    let writes = Arc::new(Mutex::new(0));
    let capture = CaptureWriter::new();
    let (writer, guard) = NonBlocking::builder()
        .build(Output::Writer(Box::new(Slow {
            writes: Arc::clone(&writes),
            out: capture.clone(),
        })))
        .unwrap();
    let layer = unsampled(writer);
    let subscriber = tracing_subscriber::registry().with(layer);
    let start = std::time::Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        // A line a millisecond for about 150 ms: a writer that took the queue again as soon as
        // each 5 ms write returned wrote every few lines (about 30 writes).
        for i in 0..150 {
            tracing::info!(i, "trickle");
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let ticks = start.elapsed().as_millis() as usize / 50;
    guard.flush(Duration::from_secs(5)).unwrap();
    let writes = *writes.lock().unwrap();
    assert!(writes <= ticks + 3, "{writes} writes in {ticks} ticks");
    assert_eq!(check_lines(&capture.contents()).len(), 150);
}
