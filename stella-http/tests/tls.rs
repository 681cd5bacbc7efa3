//! HTTPS against a real TLS peer (`tests/peers/tls_peer.py`, Python's `ssl` with certificates
//! made fresh by the `cryptography` package): CA certificates of our own trusted instead of
//! the webpki roots, and a client certificate for mutual TLS.
#![cfg(feature = "tls")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use stella_http::{Tls, agent_with_tls};

/// The peer, its port and the directory with `ca.pem`, `client.pem`, `client-key.pem`; `None`
/// (with a notice) when Python's `cryptography` package is missing and services are not
/// required.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
    port: u16,
    dir: PathBuf,
}

impl Peer {
    fn start(client_certs: bool) -> Option<Peer> {
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
                "SKIPPED: python3 with the cryptography package is missing (pip install cryptography)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "stella-http-tls-peer-{}-{client_certs}",
            std::process::id()
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/tls_peer.py");
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
        let mut out = BufReader::new(child.stdout.take().expect("its output"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the peer's port");
        let port = first
            .trim()
            .trim_start_matches("{\"port\": ")
            .trim_end_matches('}')
            .parse()
            .unwrap_or_else(|_| panic!("a port line, got {first:?}"));
        Some(Peer {
            child,
            out,
            port,
            dir,
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// The next request the peer reports (one JSON line).
    fn next_report(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("a report");
        line
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn our_own_ca_is_trusted_and_the_webpki_roots_alone_do_not_trust_it() {
    let Some(mut peer) = Peer::start(false) else {
        return;
    };
    let tls = Tls::from_files(Some(&peer.file("ca.pem")), None, None).expect("the CA loads");
    assert!(tls.has_own_roots() && !tls.has_client_certificate());
    let mut answer = agent_with_tls(TIMEOUT, &tls)
        .get(peer.url())
        .call()
        .expect("trusted through our CA");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
    assert!(peer.next_report().contains("\"client\": null"));
    // The default agent trusts the webpki roots only: the private CA is unknown to it.
    let refused = stella_http::agent(TIMEOUT).get(peer.url()).call();
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_client_certificate_is_presented_when_the_peer_asks_for_one() {
    let Some(mut peer) = Peer::start(true) else {
        return;
    };
    let ca = peer.file("ca.pem");
    let tls = Tls::from_files(
        Some(&ca),
        Some(&peer.file("client.pem")),
        Some(&peer.file("client-key.pem")),
    )
    .expect("the CA and the client certificate load");
    assert!(tls.has_client_certificate());
    let answer = agent_with_tls(TIMEOUT, &tls)
        .get(peer.url())
        .call()
        .expect("mutual TLS");
    assert_eq!(answer.status().as_u16(), 200);
    assert!(
        peer.next_report().contains("\"client\": \"stella-client\""),
        "the peer saw our certificate"
    );
    // Without the client certificate the peer refuses the handshake.
    let without = Tls::from_files(Some(&ca), None, None).unwrap();
    let refused = agent_with_tls(TIMEOUT, &without).get(peer.url()).call();
    assert!(refused.is_err(), "{refused:?}");
}
