//! Workspace benchmarks (no library code): see `README.md` for every bench of the workspace,
//! how to run it, what it compares against and the latest figures.
#![forbid(unsafe_code)]

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::thread;

/// The name of every thread of [`loopback_receiver`], so that a bench measuring the CPU time
/// of its own process can leave the receiver's out.
pub const RECEIVER_THREAD: &str = "rx";

/// An OTLP/HTTP receiver on loopback that reads each request and answers `200 OK` with an empty
/// body (the export path costs what it costs against a collector that keeps up). Returns the
/// endpoint (`http://127.0.0.1:<port>`).
///
/// # Errors
/// When no loopback port can be bound or the accepting thread cannot start.
pub fn loopback_receiver() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::Builder::new()
        .name(RECEIVER_THREAD.to_owned())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = thread::Builder::new()
                    .name(RECEIVER_THREAD.to_owned())
                    .spawn(move || serve(stream));
            }
        })?;
    Ok(format!("http://{addr}"))
}

/// Answers the HTTP/1.1 requests of one connection until it closes.
fn serve(mut stream: TcpStream) {
    let Ok(read) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        let mut len = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        body.resize(len, 0);
        if reader.read_exact(&mut body).is_err()
            || stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}
