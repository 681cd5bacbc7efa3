//! A real HTTPS peer for tests (the `testing` feature): Python's `ssl` serving with a private
//! CA made fresh for the run (`tests/peers/tls_peer.py`, certificates by the `cryptography`
//! package), optionally asking for client certificates. Shared by the TLS tests of this crate,
//! of the OTLP exporter, of the timeline's HTTP sink and of the SLO webhooks and Prometheus
//! source.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The running peer: its port, the directory with `ca.pem`, `client.pem` and `client-key.pem`,
/// and the JSON lines it prints per request (`method`, `path`, `bytes`, `client`: the client
/// certificate's CN or null, `spans`: the OTLP spans of a `POST /v1/traces` when Python has
/// `opentelemetry-proto`). Killed, and its files removed, when dropped.
#[derive(Debug)]
pub struct TlsPeer {
    child: Child,
    lines: Receiver<String>,
    port: u16,
    dir: PathBuf,
}

impl TlsPeer {
    /// Starts the peer (asking for client certificates signed by its CA when `client_certs`),
    /// or returns `None` with a notice when Python's `cryptography` package is missing and
    /// `STELLA_REQUIRE_SERVICES` is not `1`.
    ///
    /// # Panics
    ///
    /// When the package is missing and `STELLA_REQUIRE_SERVICES=1`, or the peer does not
    /// start.
    pub fn start(client_certs: bool) -> Option<TlsPeer> {
        let found = Command::new("python3")
            .args(["-c", "import cryptography"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var("STELLA_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "python3 with the cryptography package is required (STELLA_REQUIRE_SERVICES=1): pip install cryptography"
            );
            eprintln!(
                "SKIPPED: python3 with the cryptography package is missing (pip install cryptography); set STELLA_REQUIRE_SERVICES=1 to make this fail"
            );
            return None;
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("stella-tls-peer-{}-{n}", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tls_peer.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(&dir);
        if client_certs {
            cmd.arg("--client-certs");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the TLS peer starts");
        let stdout = child.stdout.take().expect("its output");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the peer prints its port");
        let port = first
            .trim()
            .strip_prefix("{\"port\": ")
            .and_then(|p| p.strip_suffix('}'))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("a port line, got {first:?}"));
        Some(TlsPeer {
            child,
            lines,
            port,
            dir,
        })
    }

    /// `https://127.0.0.1:<port>` (the server certificate names 127.0.0.1 and localhost).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A file the peer wrote: `ca.pem`, `client.pem` or `client-key.pem`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// HTTPS settings that trust the peer's CA and, with `client`, present its client
    /// certificate.
    ///
    /// # Panics
    ///
    /// When the peer's files cannot be loaded.
    pub fn tls(&self, client: bool) -> crate::Tls {
        let (cert, key) = (self.file("client.pem"), self.file("client-key.pem"));
        crate::Tls::from_files(
            Some(&self.file("ca.pem")),
            client.then_some(cert.as_path()),
            client.then_some(key.as_path()),
        )
        .expect("the peer's CA and client certificate load")
    }

    /// The next request's JSON line, waiting at most `wait`; `None` when none came.
    pub fn next_request(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// The requests' JSON lines until `done` says they are enough, waiting at most 20 s in
    /// all.
    ///
    /// # Panics
    ///
    /// When `done` is still false after 20 s.
    pub fn requests_until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(_) => panic!("the peer's requests so far: {got:?}"),
            }
        }
        got
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
