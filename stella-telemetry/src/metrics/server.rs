//! The built-in `/metrics` listener: a small HTTP/1.1 server on its own thread.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::TelemetryHandle;

/// The most request-head bytes read.
const MAX_HEAD: usize = 8 * 1024;
/// The bound on reading a whole request head, and on each write of the response.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once, each on a thread of its own: a client that connects and sends
/// nothing holds one of them for [`IO_TIMEOUT`], not the scrapes that come after it. Past the
/// bound a connection is answered `503` at once.
const MAX_CONNECTIONS: usize = 4;
/// How long a connection answered early is drained before it is closed (see [`linger`]).
const LINGER: Duration = Duration::from_millis(500);

/// The running listener; stops when dropped.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl MetricsServer {
    /// Binds `addr` and serves `GET /metrics` (and `HEAD`) from a dedicated thread.
    pub(crate) fn start(addr: &str, handle: TelemetryHandle) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        thread::Builder::new()
            .name("stella-metrics".to_owned())
            .spawn(move || {
                let busy = Arc::new(AtomicUsize::new(0));
                for stream in listener.incoming() {
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(s) = stream {
                        serve_apart(s, &handle, &busy);
                    }
                }
            })?;
        Ok(MetricsServer { addr, stop })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting (the thread exits on its next wake-up; nothing waits for it).
    pub(crate) fn stop(&self) {
        if !self.stop.swap(true, Ordering::Relaxed) {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves one connection on a thread of its own, or answers `503` when [`MAX_CONNECTIONS`]
/// are being served (a connection whose thread cannot be started is closed).
fn serve_apart(mut stream: TcpStream, handle: &TelemetryHandle, busy: &Arc<AtomicUsize>) {
    if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
        busy.fetch_sub(1, Ordering::AcqRel);
        // What the client already sent is read first (without waiting for more), so that
        // closing does not reset the connection before the client reads the answer.
        let mut buf = [0u8; 1024];
        if stream.set_nonblocking(true).is_ok() {
            for _ in 0..MAX_HEAD / buf.len() {
                if !matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                    break;
                }
            }
            let _ = stream.set_nonblocking(false);
        }
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let _ = respond(
            &mut stream,
            "503 Service Unavailable",
            "text/plain",
            "busy\n",
        );
        let _ = stream.shutdown(Shutdown::Write);
        return;
    }
    let (handle, count) = (handle.clone(), Arc::clone(busy));
    let spawned = thread::Builder::new()
        .name("stella-metrics-conn".to_owned())
        .spawn(move || {
            let _ = serve(stream, &handle);
            count.fetch_sub(1, Ordering::AcqRel);
        });
    if spawned.is_err() {
        busy.fetch_sub(1, Ordering::AcqRel);
    }
}

fn serve(mut stream: TcpStream, handle: &TelemetryHandle) -> io::Result<()> {
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        // The bound is on the whole head: a client sending a byte now and then is cut off too.
        let left = deadline.saturating_duration_since(Instant::now());
        let read = if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            stream.set_read_timeout(Some(left))?;
            stream.read(&mut buf)
        };
        let n = match read {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                respond(&mut stream, "408 Request Timeout", "text/plain", "")?;
                linger(&mut stream);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if head.len() > MAX_HEAD {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )?;
            linger(&mut stream);
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let accept = lines.find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
            .map(|(_, v)| v.trim().to_owned())
    });
    // HEAD answers what GET would, without the body (RFC 9110 §9.3.2).
    let get = Extra {
        allow: None,
        no_body: method == "HEAD",
    };
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let m = handle.render_metrics(accept.as_deref());
            answer(&mut stream, "200 OK", m.content_type(), m.body(), get)
        }
        ("GET" | "HEAD", _) => answer(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "not found\n",
            get,
        ),
        // A 405 names the methods the resource has (RFC 9110 §15.5.6).
        _ => answer(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "use GET /metrics\n",
            Extra {
                allow: Some("GET, HEAD"),
                no_body: false,
            },
        ),
    }
}

/// After an answer sent before the whole request was read: closes the sending side and reads
/// what the client still sends for a moment, so that closing with unread input (which resets
/// the connection) does not throw the answer away before the client reads it.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut buf = [0u8; 1024];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    answer(stream, status, content_type, body, Extra::default())
}

/// What an answer adds to [`respond`]'s: an `Allow` header, or no body (a `HEAD` request's).
#[derive(Default)]
struct Extra<'a> {
    allow: Option<&'a str>,
    no_body: bool,
}

/// Writes one answer; the connection closes after it. `content-length` is the body's, sent
/// or not.
fn answer(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    extra: Extra<'_>,
) -> io::Result<()> {
    let allow = extra
        .allow
        .map(|m| format!("allow: {m}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{allow}connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !extra.no_body {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}
