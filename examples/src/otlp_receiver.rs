//! An embedded OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest` (gzip-compressed or not), decoded with the official
//! OpenTelemetry definitions (`opentelemetry-proto`) and kept in memory as [`ReceivedSpan`]s.
//! A collector stand-in for the demo; not a production collector (one connection at a time,
//! no TLS).
//!
//! ```
//! let receiver = stella_examples::otlp_receiver::Receiver::start()?;
//! assert!(receiver.url().starts_with("http://127.0.0.1:"));
//! assert!(receiver.spans().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;

/// The largest request body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One span as the receiver decoded it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceivedSpan {
    /// The `service.name` of the resource that sent it.
    pub service: String,
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Lowercase hex; empty for a root.
    pub parent_span_id: String,
    /// The span name (`api.<route>`, `runner.execute`, ...).
    pub name: String,
    /// The OTLP `SpanKind` number (2 is server).
    pub kind: i32,
    /// String, number and boolean attributes as text.
    pub attributes: Vec<(String, String)>,
    /// The OTLP status code (0 unset, 1 ok, 2 error).
    pub status: i32,
    /// End minus start, in nanoseconds.
    pub duration_ns: u64,
}

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The running receiver; its thread ends with the process.
#[derive(Debug)]
pub struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let spans = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (Arc::clone(&spans), Arc::clone(&rejected));
        thread::Builder::new()
            .name("otlp-receiver".to_owned())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if let Err(e) = serve(stream, &s) {
                        r.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                    }
                }
            })?;
        Ok(Receiver {
            url,
            spans,
            rejected,
        })
    }

    /// The base URL to give `TraceConfig::with_endpoint` (`/v1/traces` is appended).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Why requests were refused (malformed HTTP or protobuf), if any were.
    pub fn rejected(&self) -> Vec<String> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Serves the requests of one keep-alive connection.
fn serve(stream: TcpStream, spans: &Mutex<Vec<ReceivedSpan>>) -> Result<(), String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader
            .read_line(&mut request_line)
            .map_err(|e| e.to_string())?
            == 0
        {
            return Ok(());
        }
        let (mut length, mut gzip) = (0usize, false);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().map_err(|_| format!("bad content-length {v}"))?;
                } else if k.eq_ignore_ascii_case("content-encoding") {
                    gzip = v.eq_ignore_ascii_case("gzip");
                }
            }
        }
        if length > MAX_BODY {
            return Err(format!("a body of {length} bytes"));
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        if !request_line.starts_with("POST /v1/traces ") {
            writer
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .map_err(|e| e.to_string())?;
            continue;
        }
        if gzip {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(body.as_slice())
                .take(MAX_BODY as u64)
                .read_to_end(&mut plain)
                .map_err(|e| format!("gzip: {e}"))?;
            body = plain;
        }
        let request = ExportTraceServiceRequest::decode(body.as_slice())
            .map_err(|e| format!("protobuf: {e}"))?;
        spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(received(request));
        writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            )
            .map_err(|e| e.to_string())?;
    }
}

fn received(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, "service.name"))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    attributes: s
                        .attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?)))
                        .collect(),
                    status: s.status.map_or(0, |st| st.code),
                    duration_ns: s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
                });
            }
        }
    }
    out
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()?))
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(n) => Some(n.to_string()),
        any_value::Value::DoubleValue(n) => Some(n.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
