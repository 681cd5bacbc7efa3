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

/// The peer stack's trace export, for the benches that compare against `tracing-opentelemetry`:
/// the OpenTelemetry SDK's batch span processor with an exporter that encodes with
/// `opentelemetry-proto`'s transform and posts OTLP/HTTP protobuf with the same HTTP client as
/// ours.
pub mod peer {
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use prost::Message as _;

    /// OTLP/HTTP protobuf to `<url>/v1/traces`.
    #[derive(Debug)]
    struct OtlpHttp {
        agent: ureq::Agent,
        url: String,
        resource: ResourceAttributesWithSchema,
    }

    impl SpanExporter for OtlpHttp {
        fn export(
            &self,
            batch: Vec<SpanData>,
        ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
            let request = ExportTraceServiceRequest {
                resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
            };
            let body = request.encode_to_vec();
            let result = self
                .agent
                .post(&self.url)
                .header("content-type", "application/x-protobuf")
                .send(&body[..])
                .map(|_| ())
                .map_err(|e| OTelSdkError::InternalFailure(e.to_string()));
            std::future::ready(result)
        }

        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            self.resource = resource.into();
        }
    }

    /// A tracer provider that samples every span and exports it, batched, to the OTLP/HTTP
    /// endpoint at `url` (`http://host:port`) as service `service`.
    #[must_use]
    pub fn tracer_provider(url: &str, service: &'static str) -> SdkTracerProvider {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let exporter = OtlpHttp {
            agent,
            url: format!("{url}/v1/traces"),
            resource: (&opentelemetry_sdk::Resource::builder_empty().build()).into(),
        };
        SdkTracerProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build()
    }
}
