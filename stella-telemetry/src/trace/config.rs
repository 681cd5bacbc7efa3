//! `TraceConfig`: where spans go, how they are sampled, the queue and buffer bounds.

use std::time::Duration;

use super::sampler::check_ratio;

/// The OTLP transport of the exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`,
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`).
///
/// Both send the same `ExportTraceServiceRequest`; only the framing differs.
///
/// # Examples
///
/// ```
/// use stella_telemetry::{OtlpProtocol, TraceConfig};
///
/// let grpc = TraceConfig::new()
///     .with_endpoint("http://otel-collector:4317")
///     .with_protocol(OtlpProtocol::Grpc);
/// // gRPC endpoints are used as they are; the method path is fixed by the protocol.
/// assert_eq!(grpc.endpoint(), Some("http://otel-collector:4317"));
/// assert_eq!(grpc.protocol(), OtlpProtocol::Grpc);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP/HTTP with a protobuf body, `POST <base>/v1/traces` (`http/protobuf`, the default).
    #[default]
    HttpProtobuf,
    /// OTLP/gRPC, the unary `opentelemetry.proto.collector.trace.v1.TraceService/Export` over
    /// HTTP/2 with prior knowledge to an `http://` endpoint (`grpc`; the `otlp-grpc` feature).
    Grpc,
}

impl OtlpProtocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` or `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }

    fn parse(s: &str) -> Option<OtlpProtocol> {
        match s {
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            "grpc" => Some(OtlpProtocol::Grpc),
            _ => None,
        }
    }
}

/// How export request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`,
/// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`: `none` or `gzip`).
///
/// # Examples
///
/// ```
/// use stella_telemetry::{OtlpCompression, TraceConfig};
///
/// let traces = TraceConfig::new().with_compression(OtlpCompression::Gzip);
/// assert_eq!(traces.compression(), OtlpCompression::Gzip);
/// assert_eq!(OtlpCompression::Gzip.as_str(), "gzip");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpCompression {
    /// Bodies sent as they are (`none`, the default of the OTLP exporter specification).
    #[default]
    None,
    /// Bodies gzip-compressed on the export thread (`gzip`): `Content-Encoding: gzip` over
    /// OTLP/HTTP, `grpc-encoding: gzip` and compressed messages over gRPC. Span batches shrink
    /// several times; the export thread pays the compression.
    Gzip,
}

impl OtlpCompression {
    /// The name used by `OTEL_EXPORTER_OTLP_COMPRESSION`: `none` or `gzip`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpCompression::None => "none",
            OtlpCompression::Gzip => "gzip",
        }
    }

    fn parse(s: &str) -> Option<OtlpCompression> {
        match s {
            "none" => Some(OtlpCompression::None),
            "gzip" => Some(OtlpCompression::Gzip),
            _ => None,
        }
    }
}

/// The trace settings of [`Config`](crate::Config): the OTLP endpoint and protocol, head and
/// tail sampling, and the bounds of the export queue and the tail buffer.
///
/// Tracing is off until an endpoint is set (by [`with_endpoint`](Self::with_endpoint) or the
/// `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables). Nothing is
/// validated until [`init`](crate::init)/[`build`](crate::build).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_telemetry::TraceConfig;
///
/// let traces = TraceConfig::new()
///     .with_endpoint("http://otel-collector:4318")
///     .with_sample_ratio(0.1)
///     .with_tail_latency(Duration::from_secs(2));
/// assert_eq!(traces.endpoint(), Some("http://otel-collector:4318/v1/traces"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TraceConfig {
    pub(crate) endpoint: Option<String>,
    /// The base given to `with_endpoint`, re-resolved when the protocol changes.
    base: Option<String>,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) compression: OtlpCompression,
    pub(crate) ratio: f64,
    pub(crate) parent_based: bool,
    pub(crate) tail: bool,
    pub(crate) tail_latency: Duration,
    pub(crate) tail_max_traces: usize,
    pub(crate) tail_max_spans: usize,
    pub(crate) tail_max_age: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) export_interval: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) max_attributes: usize,
    pub(crate) max_events: usize,
    pub(crate) span_event_level: tracing::Level,
    pub(crate) headers: ExportHeaders,
    pub(crate) tls: TlsFiles,
}

/// PEM files for HTTPS export (`otlp-tls`): CA certificates trusted instead of the webpki
/// roots, and a client certificate with its key for mutual TLS. Read when the exporter is
/// built; their content never shows in `Debug` output or errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) ca: Option<std::path::PathBuf>,
    pub(crate) client_cert: Option<std::path::PathBuf>,
    pub(crate) client_key: Option<std::path::PathBuf>,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Why the files cannot apply to an export to `endpoint` over `protocol` (completing "CA
    /// and client certificates …"); `None` when they can, or when there is no endpoint.
    fn unusable(&self, endpoint: Option<&str>, protocol: OtlpProtocol) -> Option<&'static str> {
        if !cfg!(feature = "otlp-tls") {
            Some("need the `otlp-tls` feature")
        } else if protocol == OtlpProtocol::Grpc {
            Some("are for http/protobuf export (OTLP/gRPC is http:// only)")
        } else if endpoint.is_some_and(|u| !u.starts_with("https://")) {
            Some("need an https:// endpoint (the endpoint is not https://)")
        } else {
            None
        }
    }

    /// The HTTPS settings of the files (the webpki roots and no client certificate when none
    /// is set).
    #[cfg(feature = "otlp-tls")]
    fn load(&self) -> Result<stella_http::Tls, stella_http::TlsError> {
        stella_http::Tls::from_files(
            self.ca.as_deref(),
            self.client_cert.as_deref(),
            self.client_key.as_deref(),
        )
    }
}

/// What [`TraceConfig::validate`] read on the way: the HTTPS settings of the TLS files, loaded
/// once for the exporter.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    #[cfg(feature = "otlp-tls")]
    tls: Option<stella_http::Tls>,
}

impl Validated {
    /// The exporter's HTTP client: the shared one, with the TLS files' settings when given.
    pub(crate) fn agent(&self, timeout: Duration) -> ureq::Agent {
        #[cfg(feature = "otlp-tls")]
        if let Some(tls) = &self.tls {
            return stella_http::agent_with_tls(timeout, tls);
        }
        stella_http::agent(timeout)
    }
}

/// Headers sent with every export request: credentials, as a rule (an API key, a bearer
/// token). Their values never show in `Debug` output or in error messages.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct ExportHeaders(pub(crate) Vec<(String, String)>);

impl std::fmt::Debug for ExportHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "[REDACTED]")))
            .finish()
    }
}

impl ExportHeaders {
    /// Sets `name` (lowercased) to `value`, replacing an earlier value of the same name.
    fn set(&mut self, name: &str, value: &str) {
        let name = name.trim().to_ascii_lowercase();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => value.clone_into(&mut entry.1),
            None => self.0.push((name, value.to_owned())),
        }
    }
}

/// Header names the exporter sets itself, or that HTTP/2 and gRPC reserve.
const RESERVED_HEADERS: [&str; 7] = [
    "content-type",
    "content-length",
    "content-encoding",
    "host",
    "te",
    "connection",
    "transfer-encoding",
];

/// Why `name: value` cannot be an export header (naming the header, never showing the value).
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!(
            "the export header name `{}` is not an HTTP token",
            crate::json::prefix(name, 64)
        ));
    }
    if RESERVED_HEADERS.contains(&name) || name.starts_with("grpc-") {
        return Err(format!(
            "the export header `{name}` is set by the exporter itself"
        ));
    }
    if !value
        .bytes()
        .all(|c| c == b'\t' || (b' '..=b'~').contains(&c))
    {
        return Err(format!(
            "the value of the export header `{name}` has a character outside visible ASCII, space and tab"
        ));
    }
    Ok(())
}

/// The `name=value` list of `OTEL_EXPORTER_OTLP_HEADERS` (values percent-encoded); the error
/// names the entry, never its value.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in crate::resource::key_value_members(text) {
        let (name, value) =
            entry.map_err(|(place, _)| format!("entry {place} is not name=value"))?;
        let value = crate::resource::percent_decode(value).ok_or_else(|| {
            format!(
                "the value of `{}` is not valid percent-encoding",
                crate::json::prefix(name, 64)
            )
        })?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig::new()
    }
}

/// The trace settings are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TraceConfigError(pub(crate) String);

impl TraceConfig {
    /// The defaults, with no endpoint (tracing off): head ratio 1.0, tail sampling on with a
    /// 1 s latency threshold and at most 1 024 traces / 16 384 spans / 30 s buffered, a queue of
    /// 8 192 spans, batches of up to 2 048 spans (and 3 MiB) every second, a 10 s export
    /// timeout, at most 128 attributes and 32 events per span, and the warning and error events
    /// inside a recorded span copied into it as span events
    /// ([`with_span_event_level`](Self::with_span_event_level)), uncompressed requests.
    pub fn new() -> Self {
        TraceConfig {
            endpoint: None,
            base: None,
            protocol: OtlpProtocol::HttpProtobuf,
            compression: OtlpCompression::None,
            ratio: 1.0,
            parent_based: true,
            tail: true,
            tail_latency: Duration::from_secs(1),
            tail_max_traces: 1_024,
            tail_max_spans: 16_384,
            tail_max_age: Duration::from_secs(30),
            queue_capacity: 8_192,
            batch_size: 2_048,
            export_interval: Duration::from_secs(1),
            export_timeout: Duration::from_secs(10),
            max_attributes: 128,
            max_events: 32,
            span_event_level: tracing::Level::WARN,
            headers: ExportHeaders::default(),
            tls: TlsFiles::default(),
        }
    }

    /// Sends `name: value` with every export request (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`): an API key or a bearer token for a collector that
    /// asks for one. Names are case-insensitive; the same name again replaces the value.
    /// Values never show in `Debug` output or in errors; a name the exporter sets itself
    /// (`content-type`, `te`, `grpc-*`, ...) or a value with a control character fails
    /// [`init`](crate::init).
    ///
    /// ```
    /// use stella_telemetry::TraceConfig;
    ///
    /// let traces = TraceConfig::new()
    ///     .with_endpoint("https://collector.example:4318")
    ///     .with_header("Authorization", "Bearer s3cr3t-t0ken");
    /// assert!(!format!("{traces:?}").contains("s3cr3t"));
    /// ```
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.set(name.as_ref(), value.as_ref());
        self
    }

    /// Exports to the OTLP collector at `base` (`OTEL_EXPORTER_OTLP_ENDPOINT`). Over
    /// OTLP/HTTP (`http://host:4318`) spans are posted to `<base>/v1/traces`; over gRPC
    /// (`http://host:4317`) `base` is the target as it is.
    pub fn with_endpoint(mut self, base: impl AsRef<str>) -> Self {
        let base = base.as_ref().trim().trim_end_matches('/').to_owned();
        self.endpoint = Some(resolve(&base, self.protocol));
        self.base = Some(base);
        self
    }

    /// Exports to exactly this URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), whatever the
    /// protocol.
    pub fn with_traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self.base = None;
        self
    }

    /// The OTLP transport (default [`OtlpProtocol::HttpProtobuf`]). An endpoint set with
    /// [`with_endpoint`](Self::with_endpoint) follows the protocol, before or after this call.
    /// [`OtlpProtocol::Grpc`] needs the `otlp-grpc` feature ([`init`](crate::init) reports it
    /// otherwise).
    pub fn with_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = protocol;
        if let Some(base) = &self.base {
            self.endpoint = Some(resolve(base, protocol));
        }
        self
    }

    /// The OTLP transport.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }

    /// How export request bodies are compressed (default [`OtlpCompression::None`]).
    pub fn with_compression(mut self, compression: OtlpCompression) -> Self {
        self.compression = compression;
        self
    }

    /// How export request bodies are compressed.
    pub fn compression(&self) -> OtlpCompression {
        self.compression
    }

    /// No export: tracing off (`OTEL_TRACES_EXPORTER=none`).
    pub fn without_export(mut self) -> Self {
        self.endpoint = None;
        self.base = None;
        self
    }

    /// The URL spans are sent to (the gRPC target for [`OtlpProtocol::Grpc`]), if tracing is
    /// on.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The head-sampling ratio of new traces, in `[0, 1]` (`OTEL_TRACES_SAMPLER_ARG`; default
    /// 1.0). Spans with a parent follow the parent's decision (unless
    /// [`with_parent_based_sampling`](Self::with_parent_based_sampling) is off). Changeable at
    /// runtime with
    /// [`TelemetryHandle::set_trace_sample_ratio`](crate::TelemetryHandle::set_trace_sample_ratio).
    pub fn with_sample_ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Whether a trace continued from another process (a `traceparent`, a job envelope, a
    /// remote OpenTelemetry context) keeps the caller's `sampled` flag (default on:
    /// OpenTelemetry's `parentbased_` samplers). Off, the ratio decides for continued traces
    /// too, on their trace id, as OpenTelemetry's plain `always_on`, `always_off` and
    /// `traceidratio` samplers do (`OTEL_TRACES_SAMPLER` without `parentbased_`). Spans whose
    /// parent is in this process follow it either way; incident mode keeps every trace of its
    /// tenant either way.
    pub fn with_parent_based_sampling(mut self, on: bool) -> Self {
        self.parent_based = on;
        self
    }

    /// Whether continued traces keep the caller's `sampled` flag.
    pub fn parent_based_sampling(&self) -> bool {
        self.parent_based
    }

    /// Turns in-process tail sampling on or off (default on). When on, spans of traces the head
    /// sampler did not keep are recorded and buffered until their local root ends; the trace is
    /// exported when the root took at least the latency threshold or any of its spans failed.
    pub fn with_tail_sampling(mut self, on: bool) -> Self {
        self.tail = on;
        self
    }

    /// The tail sampler keeps traces whose local root took at least this long (default 1 s).
    pub fn with_tail_latency(mut self, threshold: Duration) -> Self {
        self.tail_latency = threshold;
        self
    }

    /// Bounds of the tail buffer: traces, spans, and how long a trace waits for its root
    /// (defaults 1 024, 16 384, 30 s). What goes over is dropped (kept when it had an error) and
    /// counted.
    pub fn with_tail_limits(mut self, traces: usize, spans: usize, max_age: Duration) -> Self {
        self.tail_max_traces = traces;
        self.tail_max_spans = spans;
        self.tail_max_age = max_age;
        self
    }

    /// The export queue bound, in spans (default 8 192). A full queue drops and counts.
    pub fn with_queue_capacity(mut self, spans: usize) -> Self {
        self.queue_capacity = spans;
        self
    }

    /// The most spans in one export request (default 2 048; whatever this is, a request holds
    /// at most 3 MiB of spans, under a gRPC receiver's default 4 MiB message bound). The
    /// export thread wakes when this many spans wait, else every export interval: fewer,
    /// larger requests cost less CPU per span (one request, and one wake-up of the thread,
    /// per batch).
    pub fn with_batch_size(mut self, spans: usize) -> Self {
        self.batch_size = spans;
        self
    }

    /// How often a partial batch is sent (default 1 s).
    pub fn with_export_interval(mut self, every: Duration) -> Self {
        self.export_interval = every;
        self
    }

    /// Trusts the CA certificates of this PEM file instead of the webpki roots, for an
    /// `https://` collector behind a private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`; the `otlp-tls` feature, http/protobuf). The
    /// file is read, and checked, by [`init`](crate::init)/[`build`](crate::build).
    pub fn with_ca_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca = Some(pem_file.into());
        self
    }

    /// Presents this client certificate (PEM: the certificate, then any intermediates) with
    /// its private key (PEM: PKCS#8, PKCS#1 or SEC1) to an `https://` collector that asks for
    /// one: mutual TLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY`, or their `TRACES_` forms; the `otlp-tls` feature,
    /// http/protobuf).
    pub fn with_client_certificate(
        mut self,
        cert_pem_file: impl Into<std::path::PathBuf>,
        key_pem_file: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_cert = Some(cert_pem_file.into());
        self.tls.client_key = Some(key_pem_file.into());
        self
    }

    /// The bound on one export request (`OTEL_EXPORTER_OTLP_TIMEOUT`; default 10 s).
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Per-span limits on attributes and events (defaults 128 and 32); the rest are counted.
    pub fn with_span_limits(mut self, attributes: usize, events: usize) -> Self {
        self.max_attributes = attributes;
        self.max_events = events;
        self
    }

    /// The least severe log event copied into its span as a span event
    /// (`STELLA_TRACE_SPAN_EVENTS`: `trace`, `debug`, `info`, `warn` or `error`; default
    /// `warn`). Every log line carries its trace and span ids, so a log store joins lines to
    /// spans without the copy, as OpenTelemetry recommends now that span events are being
    /// deprecated (`docs/adr/002-span-events-default.md`); `trace` copies every event the log
    /// filter lets through, as `tracing-opentelemetry` does, which costs the overhead bench
    /// about 11 % more instructions per request (`benches/README.md`). Error events are always
    /// copied: they set the span's status. A span started while its tenant is in incident mode
    /// takes every event.
    pub fn with_span_event_level(mut self, level: tracing::Level) -> Self {
        self.span_event_level = level;
        self
    }

    pub(crate) fn validate(&self) -> Result<Validated, TraceConfigError> {
        let err = |s: String| Err(TraceConfigError(s));
        for (name, value) in &self.headers.0 {
            check_header(name, value).map_err(TraceConfigError)?;
        }
        if self.protocol == OtlpProtocol::Grpc {
            if !cfg!(feature = "otlp-grpc") {
                return err("the grpc OTLP protocol needs the `otlp-grpc` feature".to_owned());
            }
            if let Some(url) = &self.endpoint {
                let host_ok = url
                    .strip_prefix("http://")
                    .is_some_and(|r| !r.split('/').next().unwrap_or_default().is_empty());
                if !host_ok {
                    return err(format!(
                        "the OTLP/gRPC endpoint must be an http:// URL with a host (HTTP/2 with prior knowledge; https:// is supported by http/protobuf with `otlp-tls`), got `{}`",
                        crate::json::prefix(url, 128)
                    ));
                }
            }
        }
        if let Some(url) = &self.endpoint {
            let rest = url.strip_prefix("http://").or_else(|| {
                if cfg!(feature = "otlp-tls") {
                    url.strip_prefix("https://")
                } else {
                    None
                }
            });
            let host_ok = rest.is_some_and(|r| {
                let host = r.split('/').next().unwrap_or_default();
                !host.is_empty()
            });
            if !host_ok {
                let schemes = if cfg!(feature = "otlp-tls") {
                    "an http:// or https://"
                } else {
                    "an http:// (https:// needs the `otlp-tls` feature)"
                };
                return err(format!(
                    "the OTLP endpoint must be {schemes} URL with a host, got `{}`",
                    crate::json::prefix(url, 128)
                ));
            }
        }
        if self.tls.any()
            && let Some(why) = self.tls.unusable(self.endpoint.as_deref(), self.protocol)
        {
            let got = self
                .endpoint
                .as_deref()
                .map(|u| format!(", got `{}`", crate::json::prefix(u, 128)))
                .unwrap_or_default();
            return err(format!("CA and client certificates {why}{got}"));
        }
        #[cfg(feature = "otlp-tls")]
        let tls = if self.tls.any() {
            Some(
                self.tls
                    .load()
                    .map_err(|e| TraceConfigError(format!("the export's TLS files: {e}")))?,
            )
        } else {
            None
        };
        check_ratio(self.ratio).map_err(|e| TraceConfigError(e.to_string()))?;
        for (name, v) in [
            ("queue capacity", self.queue_capacity),
            ("batch size", self.batch_size),
            ("tail trace limit", self.tail_max_traces),
            ("tail span limit", self.tail_max_spans),
        ] {
            if v == 0 {
                return err(format!("the {name} must be above zero"));
            }
        }
        for (name, v) in [
            ("export interval", self.export_interval),
            ("export timeout", self.export_timeout),
            ("tail max age", self.tail_max_age),
        ] {
            if v.is_zero() {
                return err(format!("the {name} must be above zero"));
            }
        }
        Ok(Validated {
            #[cfg(feature = "otlp-tls")]
            tls,
        })
    }

    /// Applies the OpenTelemetry environment variables read through `get`; returns the first
    /// malformed one, or the warnings about variables it leaves unused.
    pub(crate) fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, (&'static str, String)> {
        let mut warnings = Vec::new();
        if let Some(base) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            *self = std::mem::take(self).with_endpoint(base);
        }
        if let Some(url) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            *self = std::mem::take(self).with_traces_endpoint(url);
        }
        // The OpenTelemetry SDK switched off for every signal: here, tracing (the JSON logs
        // and `/metrics` are not OpenTelemetry SDK signals). A boolean as the specification
        // reads them: `true` in any case is true; anything else is false, with a warning when
        // it is not `false`.
        let mut off = match get("OTEL_SDK_DISABLED") {
            Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
            Some(v) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("false") => false,
            Some(v) => {
                warnings.push(format!(
                    "OTEL_SDK_DISABLED=`{}` read as false (true or false)",
                    crate::json::prefix(&v, 32)
                ));
                false
            }
            None => false,
        };
        if let Some(e) = get("OTEL_TRACES_EXPORTER") {
            match e.as_str() {
                "none" => off = true,
                "otlp" => {}
                other => return Err(unsupported("OTEL_TRACES_EXPORTER", other, "otlp or none")),
            }
        }
        for var in [
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        ] {
            let Some(c) = get(var) else { continue };
            match OtlpCompression::parse(&c) {
                Some(compression) => self.compression = compression,
                None => return Err(unsupported(var, &c, "none or gzip")),
            }
        }
        for var in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let Some(p) = get(var) else { continue };
            match OtlpProtocol::parse(&p) {
                Some(OtlpProtocol::Grpc) if !cfg!(feature = "otlp-grpc") => {
                    return Err((var, "`grpc` needs the `otlp-grpc` feature".to_owned()));
                }
                Some(protocol) => *self = std::mem::take(self).with_protocol(protocol),
                None => {
                    let supported = if cfg!(feature = "otlp-grpc") {
                        "http/protobuf or grpc"
                    } else {
                        "http/protobuf; grpc with the `otlp-grpc` feature"
                    };
                    return Err(unsupported(var, &p, supported));
                }
            }
        }
        if off {
            *self = std::mem::take(self).without_export();
        }
        // The generic list first, then the traces' own (the same name there wins).
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            let Some(text) = get(var) else { continue };
            for (name, value) in parse_headers(&text).map_err(|e| (var, e))? {
                check_header(&name.to_ascii_lowercase(), &value).map_err(|e| (var, e))?;
                self.headers.set(&name, &value);
            }
        }
        if let Some(l) = get("STELLA_TRACE_SPAN_EVENTS") {
            match l.trim().parse::<tracing::Level>() {
                Ok(level) => self.span_event_level = level,
                Err(_) => {
                    return Err((
                        "STELLA_TRACE_SPAN_EVENTS",
                        format!(
                            "`{}` is not a level (trace, debug, info, warn or error)",
                            crate::json::prefix(&l, 32)
                        ),
                    ));
                }
            }
        }
        // OpenTelemetry's samplers: the `parentbased_` ones keep a remote parent's decision,
        // the plain ones decide on the trace id for continued traces too; the ratio applies to
        // new traces. `OTEL_TRACES_SAMPLER_ARG` is read for the trace-id-ratio samplers, and
        // alone.
        let sampler = get("OTEL_TRACES_SAMPLER");
        let name = sampler.as_deref().map(str::trim);
        let fixed = match name.map(|n| n.strip_prefix("parentbased_").unwrap_or(n)) {
            None | Some("traceidratio") => None,
            Some("always_on") => Some(1.0),
            Some("always_off") => Some(0.0),
            Some(_) => {
                return Err(unsupported(
                    "OTEL_TRACES_SAMPLER",
                    name.unwrap_or_default(),
                    "parentbased_always_on, parentbased_always_off, parentbased_traceidratio, always_on, always_off or traceidratio",
                ));
            }
        };
        if let Some(name) = name {
            self.parent_based = name.starts_with("parentbased_");
        }
        match (fixed, get("OTEL_TRACES_SAMPLER_ARG")) {
            (Some(ratio), _) => self.ratio = ratio,
            (None, Some(r)) => match r
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|r| check_ratio(r).ok())
            {
                Some(r) => self.ratio = r,
                None => {
                    return Err((
                        "OTEL_TRACES_SAMPLER_ARG",
                        format!("`{}` is not a ratio in [0, 1]", crate::json::prefix(&r, 32)),
                    ));
                }
            },
            // A trace-id-ratio sampler without its argument: the specification's 1.0.
            (None, None) if sampler.is_some() => self.ratio = 1.0,
            (None, None) => {}
        }
        for var in [
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        ] {
            if let Some(ms) = get(var) {
                match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => self.export_timeout = Duration::from_millis(ms),
                    _ => {
                        return Err((
                            var,
                            format!(
                                "`{}` is not a number of milliseconds",
                                crate::json::prefix(&ms, 32)
                            ),
                        ));
                    }
                }
            }
        }
        // The batch span processor's variables, read as the OpenTelemetry SDKs read them.
        let positive = |var: &'static str| -> Result<Option<u64>, (&'static str, String)> {
            let Some(text) = get(var) else {
                return Ok(None);
            };
            match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err((
                    var,
                    format!(
                        "`{}` is not a whole number above zero",
                        crate::json::prefix(&text, 32)
                    ),
                )),
            }
        };
        if let Some(ms) = positive("OTEL_BSP_SCHEDULE_DELAY")? {
            self.export_interval = Duration::from_millis(ms);
        }
        if let Some(n) = positive("OTEL_BSP_MAX_QUEUE_SIZE")? {
            self.queue_capacity = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")? {
            self.batch_size = usize::try_from(n).unwrap_or(usize::MAX);
        }
        // TLS files: the traces' own variable wins over the general one. Set where they cannot
        // apply (an http:// endpoint, OTLP/gRPC, a build without `otlp-tls`), they are left
        // unused with a warning: an environment that sets them for every service does not
        // stop one that exports over plain HTTP from starting.
        let mut files = TlsFiles::default();
        for (general, traces, slot) in [
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                &mut files.ca,
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                &mut files.client_cert,
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                &mut files.client_key,
            ),
        ] {
            if let Some(path) = get(traces).or_else(|| get(general)) {
                *slot = Some(std::path::PathBuf::from(path));
            }
        }
        if files.any() {
            match files.unusable(self.endpoint.as_deref(), self.protocol) {
                Some(why) => warnings.push(format!(
                    "OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY left unused: CA and client certificates {why}"
                )),
                None => self.tls = files,
            }
        }
        // The span limits: the span's own variable wins over the general one.
        for var in [
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        ] {
            if let Some(n) = positive(var)? {
                self.max_attributes = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        if let Some(n) = positive("OTEL_SPAN_EVENT_COUNT_LIMIT")? {
            self.max_events = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(warnings)
    }
}

/// The error of a variable whose value is not one of `supported` (the value cut short).
fn unsupported(var: &'static str, value: &str, supported: &str) -> (&'static str, String) {
    (
        var,
        format!(
            "`{}` is not supported ({supported})",
            crate::json::prefix(value, 32)
        ),
    )
}

/// The URL of `base` for `protocol`: `<base>/v1/traces` over HTTP, `base` itself over gRPC.
fn resolve(base: &str, protocol: OtlpProtocol) -> String {
    match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf if base.ends_with("/v1/traces") => base.to_owned(),
        OtlpProtocol::HttpProtobuf => format!("{base}/v1/traces"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ];
        let mut t = TraceConfig::new();
        t.apply_env(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(t.endpoint(), Some("http://c:4318/v1/traces"));
        assert_eq!(t.ratio, 0.25);
        assert!(t.validate().is_ok());
        let bad = [("OTEL_TRACES_SAMPLER_ARG", "2")];
        let mut t = TraceConfig::new();
        assert!(
            t.apply_env(|k| bad
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned()))
                .is_err()
        );
        assert_eq!(
            TraceConfig::new()
                .with_endpoint("https://x")
                .validate()
                .is_ok(),
            cfg!(feature = "otlp-tls")
        );
        assert!(
            TraceConfig::new()
                .with_endpoint("ftp://x")
                .validate()
                .is_err()
        );
        assert!(
            TraceConfig::new()
                .with_queue_capacity(0)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn the_span_limits_are_read_as_the_specification_says() {
        let t = from(&[("OTEL_ATTRIBUTE_COUNT_LIMIT", "64")]).unwrap();
        assert_eq!((t.max_attributes, t.max_events), (64, 32));
        let t = from(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "64"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "16"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "8"),
        ])
        .unwrap();
        assert_eq!((t.max_attributes, t.max_events), (16, 8));
        for bad in ["0", "-1", "many"] {
            let (var, _) = from(&[("OTEL_SPAN_EVENT_COUNT_LIMIT", bad)]).unwrap_err();
            assert_eq!(var, "OTEL_SPAN_EVENT_COUNT_LIMIT");
        }
    }

    #[test]
    fn export_headers_from_the_environment_never_show_their_values() {
        let t = from(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Bearer%20s3cr3t , x-scope=a, ,tenant=one",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-scope=traces%2Conly"),
        ])
        .unwrap();
        assert_eq!(
            t.headers.0,
            [
                ("authorization".to_owned(), "Bearer s3cr3t".to_owned()),
                ("x-scope".to_owned(), "traces,only".to_owned()),
                ("tenant".to_owned(), "one".to_owned()),
            ]
        );
        assert!(t.validate().is_ok());
        let shown = format!("{t:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        // Malformed: the error names the variable and the entry, never a value.
        for (text, why) in [
            ("api-key", "entry 1 is not name=value"),
            (
                "a=1,b=%zz-s3cr3t",
                "the value of `b` is not valid percent-encoding",
            ),
            ("content-type=s3cr3t", "set by the exporter itself"),
            ("x-key=s3cr3t%0D%0Ainjected: 1", "outside visible ASCII"),
            ("bad name=s3cr3t", "not an HTTP token"),
        ] {
            let (var, e) = from(&[("OTEL_EXPORTER_OTLP_HEADERS", text)]).unwrap_err();
            assert_eq!(var, "OTEL_EXPORTER_OTLP_HEADERS");
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        // Set in code: checked when the pipeline is built, the value never in the error.
        let e = TraceConfig::new()
            .with_header("grpc-timeout", "s3cr3t")
            .validate()
            .unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        let t = TraceConfig::new()
            .with_header("X-Key", "1")
            .with_header("x-key", "2");
        assert_eq!(t.headers.0, [("x-key".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn the_sampler_variables() {
        let ratio = |vars: &[(&str, &str)]| from(vars).map(|t| t.ratio);
        assert_eq!(ratio(&[]), Ok(1.0));
        assert_eq!(ratio(&[("OTEL_TRACES_SAMPLER_ARG", "0.25")]), Ok(0.25));
        assert_eq!(from(&[]).map(|t| t.parent_based), Ok(true));
        for (sampler, want, parent_based) in [
            ("parentbased_always_on", 1.0, true),
            ("always_on", 1.0, false),
            ("parentbased_always_off", 0.0, true),
            ("always_off", 0.0, false),
            ("parentbased_traceidratio", 0.1, true),
            ("traceidratio", 0.1, false),
        ] {
            let vars = [
                ("OTEL_TRACES_SAMPLER", sampler),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            ];
            assert_eq!(ratio(&vars), Ok(want), "{sampler}");
            assert_eq!(
                from(&vars).map(|t| t.parent_based),
                Ok(parent_based),
                "{sampler}"
            );
        }
        assert!(from(&[("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote")]).is_err());
        assert_eq!(
            ratio(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")]),
            Ok(1.0)
        );
        let (var, e) = from(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).unwrap_err();
        assert_eq!(var, "OTEL_TRACES_SAMPLER");
        assert!(e.contains("jaeger_remote"), "{e}");
        let (var, _) = from(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ])
        .unwrap_err();
        assert_eq!(var, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn batch_span_processor_variables() {
        let t = from(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ])
        .unwrap();
        assert_eq!(t.export_interval, Duration::from_millis(250));
        assert_eq!((t.queue_capacity, t.batch_size), (4096, 256));
        for var in [
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        ] {
            for bad in ["0", "-5", "lots"] {
                assert_eq!(from(&[(var, bad)]).unwrap_err().0, var);
            }
        }
    }

    fn from(vars: &[(&str, &str)]) -> Result<TraceConfig, (&'static str, String)> {
        let mut t = TraceConfig::new();
        t.apply_env(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })?;
        Ok(t)
    }

    #[test]
    fn compression() {
        assert_eq!(TraceConfig::new().compression(), OtlpCompression::None);
        let t = from(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).unwrap();
        assert_eq!(t.compression(), OtlpCompression::Gzip);
        // The traces variable wins.
        let t = from(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ])
        .unwrap();
        assert_eq!(t.compression(), OtlpCompression::None);
        let (var, why) = from(&[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd")]).unwrap_err();
        assert_eq!(var, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
        assert!(
            why.contains("`zstd` is not supported (none or gzip)"),
            "{why}"
        );
    }

    #[test]
    fn span_event_level() {
        assert_eq!(TraceConfig::new().span_event_level, tracing::Level::WARN);
        let t = from(&[("STELLA_TRACE_SPAN_EVENTS", " WARN ")]).unwrap();
        assert_eq!(t.span_event_level, tracing::Level::WARN);
        let (var, why) = from(&[("STELLA_TRACE_SPAN_EVENTS", "loud")]).unwrap_err();
        assert_eq!(var, "STELLA_TRACE_SPAN_EVENTS");
        assert!(why.contains("`loud` is not a level"), "{why}");
    }

    #[test]
    fn protocol() {
        let t = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]).unwrap();
        assert_eq!(t.protocol(), OtlpProtocol::HttpProtobuf);
        let grpc = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        let per_signal = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ]);
        if cfg!(feature = "otlp-grpc") {
            for t in [grpc.unwrap(), per_signal.unwrap()] {
                assert_eq!(t.protocol(), OtlpProtocol::Grpc);
                assert_eq!(t.endpoint(), Some("http://c:4317"));
                assert!(t.validate().is_ok());
            }
            // the base follows the protocol either way round
            let t = TraceConfig::new()
                .with_protocol(OtlpProtocol::Grpc)
                .with_endpoint("http://c:4317")
                .with_protocol(OtlpProtocol::HttpProtobuf);
            assert_eq!(t.endpoint(), Some("http://c:4317/v1/traces"));
            assert!(
                TraceConfig::new()
                    .with_protocol(OtlpProtocol::Grpc)
                    .with_endpoint("https://c:4317")
                    .validate()
                    .is_err()
            );
        } else {
            assert!(grpc.unwrap_err().1.contains("otlp-grpc"));
            assert!(per_signal.is_err());
            assert!(
                TraceConfig::new()
                    .with_protocol(OtlpProtocol::Grpc)
                    .validate()
                    .is_err()
            );
        }
        let json = from(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert_eq!(json.unwrap_err().0, "OTEL_EXPORTER_OTLP_PROTOCOL");
    }
}
