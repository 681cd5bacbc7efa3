//! The shared agent against a loopback server: error statuses are answers, connections are
//! reused, every request is bounded.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// A one-shot server answering `status` to every request on one connection.
fn serve(status: u16, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        for _ in 0..requests {
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
            if stream.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    format!("http://{addr}/")
}

#[test]
fn an_error_status_is_an_answer_and_the_connection_is_reused() {
    // One connection serves both requests: the second one reused it.
    let url = serve(503, 2);
    let agent = stella_http::agent(Duration::from_secs(5));
    for _ in 0..2 {
        let mut resp = agent.get(&url).call().expect("an answer");
        assert_eq!(resp.status().as_u16(), 503);
        assert_eq!(resp.body_mut().read_to_string().expect("body"), "ok");
    }
}

#[test]
fn a_request_is_bounded_by_the_timeout() {
    // A listener that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let started = std::time::Instant::now();
    let result = stella_http::agent(Duration::from_millis(300))
        .get(&url)
        .call();
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}
