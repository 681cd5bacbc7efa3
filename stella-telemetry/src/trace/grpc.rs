//! The OTLP/gRPC transport: the unary `TraceService/Export` call over HTTP/2 with prior
//! knowledge, driven by a current-thread runtime that lives on the export thread only.
//!
//! A gRPC message is a 5-byte prefix (compressed flag, big-endian length) and the protobuf
//! bytes. The call succeeds when the response has `grpc-status: 0`, in the trailers or, for a
//! trailers-only response, in the headers. Any other status, a non-200 HTTP status, a broken
//! connection or the export timeout fails the batch, which the worker drops and counts as it
//! does for OTLP/HTTP; the connection is opened again for the next batch.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue, TE};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::export::{
    Accepted, MAX_RESPONSE_BYTES, SendError, Transport, http_retry, partial_success,
};

/// The method of the trace service.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where the calls go.
#[derive(Debug)]
struct Target {
    /// `host:port` to connect to.
    authority: String,
    /// `http://authority/<method>`.
    uri: Uri,
}

impl Target {
    fn parse(endpoint: &str) -> Result<Target, String> {
        let uri: Uri = endpoint
            .parse()
            .map_err(|e| format!("the OTLP/gRPC endpoint is not a URI: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("the OTLP/gRPC endpoint must be an http:// URI".to_owned());
        }
        let host = uri
            .host()
            .ok_or_else(|| "the OTLP/gRPC endpoint has no host".to_owned())?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let uri = Uri::builder()
            .scheme("http")
            .authority(authority.as_str())
            .path_and_query(EXPORT_PATH)
            .build()
            .map_err(|e| format!("the OTLP/gRPC endpoint is not a URI: {e}"))?;
        Ok(Target { authority, uri })
    }
}

/// The gRPC status codes that mean "try again later" (the OTLP retryable set): the request is
/// sent again, a bounded number of times, before the batch fails.
fn retryable(code: u32) -> bool {
    // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, UNAVAILABLE,
    // DATA_LOSS
    matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15)
}

fn code_name(code: u32) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "unknown code",
    }
}

/// `grpc-status` of a response: the trailers' or, for a trailers-only response, the headers'.
fn grpc_status(headers: &HeaderMap, trailers: Option<&HeaderMap>) -> Option<u32> {
    trailers
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The gRPC framing of one message: the compressed flag, big-endian length, bytes.
fn frame(message: &[u8], compressed: bool) -> Result<Bytes, String> {
    let len =
        u32::try_from(message.len()).map_err(|_| "the export request is over 4 GiB".to_owned())?;
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(u8::from(compressed));
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    Ok(Bytes::from(framed))
}

/// The one uncompressed message of a gRPC response body (`None` when there is none, or it is
/// compressed: the exporter never accepts compressed responses).
fn unframe(body: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = body.split_first()?;
    let (len, message) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    (flag == 0).then(|| message.get(..len)).flatten()
}

/// Sends OTLP/gRPC export calls over one reused HTTP/2 connection.
pub(crate) struct GrpcTransport {
    runtime: Result<tokio::runtime::Runtime, String>,
    target: Result<Target, String>,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Sent with every call (`OTEL_EXPORTER_OTLP_HEADERS`), as gRPC metadata.
    headers: Vec<(String, String)>,
    /// The messages come gzip-compressed (`grpc-encoding: gzip`, the frame's compressed flag).
    gzip: bool,
}

impl GrpcTransport {
    /// A transport for `endpoint`. Built on the export thread: the runtime is created, used and
    /// dropped there, never on a caller's runtime. A runtime or endpoint that cannot be set up
    /// fails every batch (dropped and counted) instead of failing the service.
    pub(crate) fn new(
        endpoint: &str,
        timeout: Duration,
        headers: Vec<(String, String)>,
        gzip: bool,
    ) -> GrpcTransport {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the OTLP/gRPC runtime: {e}"));
        GrpcTransport {
            runtime,
            target: Target::parse(endpoint),
            timeout,
            sender: None,
            headers,
            gzip,
        }
    }
}

/// A connection to the collector; failing to make one is retried ([`SendError::unreachable`]).
async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, SendError> {
    let tcp = tokio::net::TcpStream::connect(target.authority.as_str())
        .await
        .map_err(|e| SendError::unreachable(format!("cannot connect to the collector: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| {
            SendError::unreachable(format!("HTTP/2 handshake with the collector failed: {e}"))
        })?;
    // Driven while the export thread is inside `block_on`; dropped with the runtime.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn call(
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    target: &Target,
    headers: &[(String, String)],
    body: Bytes,
    gzip: bool,
) -> Result<Accepted, SendError> {
    let live = match sender.take() {
        Some(s) if !s.is_closed() => s,
        _ => connect(target).await?,
    };
    let s = sender.insert(live);
    s.ready()
        .await
        .map_err(|e| SendError::unreachable(format!("the collector connection closed: {e}")))?;
    let mut request = Request::post(target.uri.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/grpc"))
        .header(TE, HeaderValue::from_static("trailers"));
    if gzip {
        request = request.header("grpc-encoding", HeaderValue::from_static("gzip"));
    }
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    // The error names no header value: they are credentials.
    let request = request
        .body(Full::new(body))
        .map_err(|_| "the export request could not be built".to_owned())?;
    let response = s
        .send_request(request)
        .await
        .map_err(|e| SendError::unreachable(format!("the export call failed: {e}")))?;
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        // A proxy or load balancer in front of the collector: the OTLP/HTTP retryable set.
        let retry = http_retry(
            parts.status.as_u16(),
            parts
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        return Err(SendError {
            reason: format!("the collector answered HTTP {}", parts.status),
            retry,
        });
    }
    let limit = usize::try_from(MAX_RESPONSE_BYTES).unwrap_or(usize::MAX);
    let collected = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| format!("reading the export response failed: {e}"))?;
    match grpc_status(&parts.headers, collected.trailers()) {
        Some(0) => {
            Ok(unframe(&collected.to_bytes()).map_or_else(Accepted::default, partial_success))
        }
        Some(code) => {
            let message = collected
                .trailers()
                .and_then(|t| t.get("grpc-message"))
                .or_else(|| parts.headers.get("grpc-message"))
                .and_then(|v| v.to_str().ok())
                .map(|m| crate::json::prefix(m, 256).to_owned())
                .unwrap_or_default();
            let kind = if retryable(code) {
                "retryable"
            } else {
                "not retryable"
            };
            Err(SendError {
                reason: format!(
                    "the collector answered grpc-status {code} {} ({kind}) {message}",
                    code_name(code)
                ),
                retry: retryable(code).then_some(None),
            })
        }
        None => Err("the collector's response has no grpc-status"
            .to_owned()
            .into()),
    }
}

impl Transport for GrpcTransport {
    fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
        let runtime = self.runtime.as_ref().map_err(Clone::clone)?;
        let target = self.target.as_ref().map_err(Clone::clone)?;
        let body = frame(body, self.gzip)?;
        let gzip = self.gzip;
        let sender = &mut self.sender;
        let headers = &self.headers;
        let timeout = self.timeout;
        // The timer is made inside `block_on`: it needs the runtime's context.
        let outcome = runtime.block_on(async move {
            tokio::time::timeout(timeout, call(sender, target, headers, body, gzip)).await
        });
        match outcome {
            Ok(Ok(accepted)) => Ok(accepted),
            Ok(Err(e)) => {
                // A failed call may have left the connection half-used: start afresh.
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("the export call took longer than {:?}", self.timeout).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_status() {
        let f = frame(&[1, 2, 3], false).unwrap();
        assert_eq!(&f[..], &[0, 0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(unframe(&f), Some(&[1u8, 2, 3][..]));
        assert_eq!(unframe(&[1, 0, 0, 0, 1, 9]), None, "compressed");
        assert_eq!(unframe(&[0, 0, 0, 0, 5, 1]), None, "cut short");
        assert_eq!(unframe(&[]), None);
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_status(&headers, None), None);
        headers.insert("grpc-status", HeaderValue::from_static("14"));
        assert_eq!(grpc_status(&headers, None), Some(14));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(grpc_status(&headers, Some(&trailers)), Some(0));
        assert!(retryable(14) && retryable(8) && !retryable(3));
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:4317").unwrap();
        assert_eq!(t.authority, "127.0.0.1:4317");
        assert_eq!(
            t.uri.to_string(),
            "http://127.0.0.1:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        );
        assert_eq!(
            Target::parse("http://collector/ignored").unwrap().authority,
            "collector:80"
        );
        assert_eq!(
            Target::parse("http://[::1]:4317").unwrap().authority,
            "[::1]:4317"
        );
        assert!(Target::parse("https://collector:4317").is_err());
        assert!(Target::parse("not a uri").is_err());
    }
}
