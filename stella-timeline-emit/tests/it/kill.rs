//! A process writes events to its journal while the endpoint is down and is killed (SIGKILL,
//! possibly mid-append); a new process replays them, in order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use stella_timeline_emit::testing::IngestServer;
use stella_timeline_emit::{Emitter, FsyncPolicy, HttpSink, JournalConfig};

use crate::support::{GUARD, assert_schema_valid, job_started, tmpdir};

const CHILD_ENV: &str = "STELLA_TIMELINE_KILL_CHILD_DIR";
const N: usize = 500;

/// Runs only as the child of `killed_process_events_are_replayed_by_a_new_process`.
#[test]
fn child_writer_for_kill_test() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = HttpSink::builder(format!("http://127.0.0.1:{port}"))
        .with_backoff(Duration::from_millis(50), Duration::from_millis(500))
        .with_journal(JournalConfig::new(dir.join("journal")).with_fsync(FsyncPolicy::Never))
        .build()
        .unwrap();
    let emitter = Emitter::builder().with_sink(sink).build().unwrap();
    let ids: Vec<String> = (0..N)
        .map(|i| emitter.emit(job_started(i)).unwrap())
        .collect();
    emitter.flush(GUARD).unwrap();
    std::fs::write(dir.join("ids.txt"), ids.join("\n")).unwrap();
    println!("READY");
    // Keep appending until killed, so the kill can land in the middle of a write.
    for i in N.. {
        let _ = emitter.emit(job_started(i));
        if i % 64 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn killed_process_events_are_replayed_by_a_new_process() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tmpdir("kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill::child_writer_for_kill_test",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_end().ends_with("READY") {
                let _ = tx.send(());
            }
        }
    });
    let ready = rx.recv_timeout(GUARD);
    std::thread::sleep(Duration::from_millis(50)); // let it append a little more
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(ready.is_ok(), "child never became ready (status {status})");
    assert!(!status.success(), "the child was killed, not finished");

    let ids: Vec<String> = std::fs::read_to_string(dir.join("ids.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), N);
    let server = IngestServer::start().unwrap();
    let sink = HttpSink::builder(server.url())
        .with_backoff(Duration::from_millis(5), Duration::from_millis(100))
        .with_journal(JournalConfig::new(dir.join("journal")))
        .build()
        .unwrap();
    let emitter = Emitter::builder().with_sink(sink).build().unwrap();
    assert!(server.wait_for(N, GUARD) >= N);
    let accepted = server.accepted();
    let got: Vec<&str> = accepted.iter().take(N).map(|e| e.event_id()).collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "the journaled events, in order"
    );
    for e in &accepted {
        assert_schema_valid(e);
    }
    assert_eq!(server.rejected(), 0);
    emitter.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
