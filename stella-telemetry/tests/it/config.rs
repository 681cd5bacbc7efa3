//! Configuration from the environment, errors, and the global `init()`.

use stella_telemetry::{Config, InitError, Output};

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn reads_stella_and_otel_variables() {
    let c = Config::from_lookup(
        "svc",
        "1.0",
        env(&[
            ("STELLA_ENV", "prod"),
            ("STELLA_INSTANCE_ID", "pod-7"),
            ("OTEL_SERVICE_NAME", "policy-engine"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,cloud.region=eu%2Dwest%2D1,team=sec%20ops",
            ),
        ]),
    );
    let r = c.resource();
    assert_eq!(r.service(), "policy-engine");
    assert_eq!(
        r.env(),
        Some("prod"),
        "STELLA_ENV wins over the OTel attribute"
    );
    assert_eq!(r.region(), Some("eu-west-1"));
    assert_eq!(r.instance_id(), Some("pod-7"));
    assert_eq!(r.attributes().collect::<Vec<_>>(), [("team", "sec ops")]);
}

#[test]
fn malformed_settings_fail_init_with_a_clear_error() {
    let c = Config::from_lookup("svc", "1", env(&[("STELLA_LOG_OUTPUT", "syslog")]));
    let err = stella_telemetry::build(c).unwrap_err();
    assert!(
        matches!(
            err,
            InitError::Env {
                var: "STELLA_LOG_OUTPUT",
                ..
            }
        ),
        "{err}"
    );

    let c = Config::from_lookup(
        "svc",
        "1",
        env(&[
            ("STELLA_LOG_OUTPUT", "file:/tmp/x.log"),
            ("STELLA_LOG_ROTATION", "hourly"),
        ]),
    );
    assert!(matches!(
        stella_telemetry::build(c).unwrap_err(),
        InitError::Env {
            var: "STELLA_LOG_ROTATION",
            ..
        }
    ));

    let c = Config::new("svc", "1")
        .with_filter("info,[[[")
        .with_output(Output::Stderr);
    assert!(matches!(
        stella_telemetry::build(c).unwrap_err(),
        InitError::Filter(_)
    ));

    let c = Config::new("", "1").with_output(Output::Stderr);
    assert!(matches!(
        stella_telemetry::build(c).unwrap_err(),
        InitError::Layer(_)
    ));
}

#[cfg(feature = "otlp")]
#[test]
fn otel_sdk_disabled_turns_tracing_off_and_an_unknown_value_is_false_with_a_warning() {
    const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let on = Config::from_lookup("svc", "1", env(&[ENDPOINT]));
    assert!(on.traces().endpoint().is_some());
    for disabled in [
        &[ENDPOINT, ("OTEL_SDK_DISABLED", "true")][..],
        &[ENDPOINT, ("OTEL_SDK_DISABLED", "TRUE")][..],
    ] {
        let c = Config::from_lookup("svc", "1", env(disabled));
        assert_eq!(c.traces().endpoint(), None, "{disabled:?}");
    }
    let c = Config::from_lookup("svc", "1", env(&[ENDPOINT, ("OTEL_SDK_DISABLED", "false")]));
    assert!(c.traces().endpoint().is_some());
    // Not a boolean: false, as the specification says, and a warning line at start-up.
    let c = Config::from_lookup("svc", "1", env(&[ENDPOINT, ("OTEL_SDK_DISABLED", "yes")]));
    assert!(c.traces().endpoint().is_some());
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (_dispatch, guard) =
        stella_telemetry::build(c.with_output(Output::Writer(Box::new(capture.clone())))).unwrap();
    guard.shutdown().unwrap();
    let lines = crate::support::check_lines(&capture.contents());
    assert!(
        lines.iter().any(|l| l["level"] == "warn"
            && l["details"]["warning"]
                .as_str()
                .is_some_and(|w| w.contains("OTEL_SDK_DISABLED"))),
        "{lines:?}"
    );
}

#[cfg(feature = "otlp")]
#[test]
fn tls_variables_that_cannot_apply_are_left_unused_with_a_warning() {
    // An environment that sets a CA for every service, and a service exporting over plain
    // HTTP: it starts, and says the files are unused.
    let c = Config::from_lookup(
        "svc",
        "1",
        env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/otel/ca.pem"),
        ]),
    );
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (_dispatch, guard) =
        stella_telemetry::build(c.with_output(Output::Writer(Box::new(capture.clone()))))
            .expect("a plain-HTTP exporter starts");
    guard.shutdown().unwrap();
    let warnings: Vec<String> = crate::support::check_lines(&capture.contents())
        .iter()
        .filter_map(|l| l["details"]["warning"].as_str().map(str::to_owned))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && w.contains("not https://")),
        "{warnings:?}"
    );
}

#[cfg(feature = "otlp")]
#[test]
fn propagators_this_crate_does_not_implement_are_named_in_a_warning() {
    let c = Config::from_lookup("svc", "1", env(&[("OTEL_PROPAGATORS", "tracecontext,b3")]));
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (_dispatch, guard) =
        stella_telemetry::build(c.with_output(Output::Writer(Box::new(capture.clone())))).unwrap();
    guard.shutdown().unwrap();
    let warnings: Vec<String> = crate::support::check_lines(&capture.contents())
        .iter()
        .filter_map(|l| l["details"]["warning"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("OTEL_PROPAGATORS") && warnings[0].contains("`b3`"),
        "{warnings:?}"
    );
}

/// Builds the stack from `config` (output captured), runs `f` under it, and returns the
/// messages of the lines written.
fn messages_logged(config: Config, f: impl FnOnce()) -> Vec<String> {
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let (dispatch, guard) =
        stella_telemetry::build(config.with_output(Output::Writer(Box::new(capture.clone()))))
            .unwrap();
    tracing::dispatcher::with_default(&dispatch, f);
    guard.shutdown().unwrap();
    crate::support::check_lines(&capture.contents())
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn filter_comes_from_stella_log_then_rust_log() {
    let c = Config::from_lookup(
        "svc",
        "1",
        env(&[("RUST_LOG", "info"), ("STELLA_LOG", "warn,chatty=debug")]),
    );
    let msgs = messages_logged(c, || {
        tracing::info!("dropped by filter");
        tracing::warn!("kept");
        tracing::debug!(target: "chatty", "kept debug");
    });
    assert_eq!(msgs, ["kept", "kept debug"]);
}

#[test]
fn span_field_directives_raise_the_level_inside_matching_spans_only() {
    let c = Config::new("svc", "1").with_filter("info,[audit{tenant_id=acme}]=debug");
    let msgs = messages_logged(c, || {
        tracing::debug!("outside any span");
        {
            let span = tracing::info_span!("audit", tenant_id = "acme");
            let _e = span.enter();
            tracing::debug!("inside the acme audit span");
        }
        {
            let span = tracing::info_span!("audit", tenant_id = "globex");
            let _e = span.enter();
            tracing::debug!("inside another tenant's audit span");
        }
        tracing::debug!("after the spans");
        tracing::info!("info everywhere");
    });
    assert_eq!(msgs, ["inside the acme audit span", "info everywhere"]);
}

#[test]
fn span_field_directives_follow_recorded_fields_and_debug_spans() {
    let c = Config::new("svc", "1")
        .with_filter("info,[audit{tenant_id=acme}]=debug,[detail{job_id=j-1}]=trace");
    let msgs = messages_logged(c, || {
        let span = tracing::info_span!("audit", tenant_id = tracing::field::Empty);
        span.in_scope(|| tracing::debug!("before the tenant is recorded"));
        span.record("tenant_id", "acme");
        span.in_scope(|| tracing::debug!("after the tenant is recorded"));
        let detail = tracing::debug_span!("detail", job_id = "j-1");
        detail.in_scope(|| tracing::trace!("inside the matching debug span"));
        let other = tracing::debug_span!("detail", job_id = "j-2");
        other.in_scope(|| tracing::trace!("inside another debug span"));
        drop((span, detail, other));
        tracing::debug!("after the spans closed");
    });
    assert_eq!(
        msgs,
        [
            "after the tenant is recorded",
            "inside the matching debug span"
        ]
    );
}

#[test]
fn a_warn_filter_still_sees_the_request_span() {
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let c = Config::new("svc", "1")
        .with_filter("warn")
        .with_output(Output::Writer(Box::new(capture.clone())));
    let (dispatch, guard) = stella_telemetry::build(c).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!(
            "api",
            tenant_id = "acme",
            http.route = "/x",
            actor = "user-1"
        );
        let _e = span.enter();
        tracing::info!("filtered out");
        tracing::warn!("kept with the span's fields");
        let debug_span = tracing::debug_span!("detail", job_id = "j-1");
        let _d = debug_span.enter();
        tracing::error!("inside a filtered debug span");
    });
    guard.shutdown().unwrap();
    let lines = crate::support::check_lines(&capture.contents());
    assert_eq!(lines.len(), 2, "{}", capture.contents());
    for l in &lines {
        assert_eq!(l["tenant_id"], "acme");
        assert_eq!(l["route"], "/x");
        assert_eq!(l["actor"], "user-1");
    }
}

#[test]
fn init_installs_once_and_bridges_log() {
    let capture = stella_telemetry::testing::CaptureWriter::new();
    let config = Config::new("global-svc", "1")
        .with_output(Output::Writer(Box::new(capture.clone())))
        .with_filter("info");
    // With traces on, init() also installs the global OpenTelemetry tracer provider and the
    // stella-context head sampler (at ratio 1 it decides as the default does, so the other
    // tests of this binary see no difference).
    #[cfg(feature = "otlp")]
    let rx = crate::collector::Receiver::start(crate::collector::Mode::Accept);
    #[cfg(feature = "otlp")]
    let config = config.with_traces(
        stella_telemetry::TraceConfig::new()
            .with_endpoint(rx.url())
            .with_export_interval(std::time::Duration::from_millis(20)),
    );
    let guard = stella_telemetry::init(config).unwrap();
    let again = stella_telemetry::init(Config::new("svc", "1").with_output(Output::Stderr));
    assert!(matches!(again, Err(InitError::AlreadyInitialized)));
    // Other tests use scoped dispatchers on their own threads; this thread uses the global one.
    std::thread::spawn(|| {
        tracing::info!("global line");
        log::warn!(target: "some_dependency", "from log with api_key=abc123def");
        #[cfg(feature = "otlp")]
        {
            use opentelemetry::trace::{Span as _, Tracer as _};
            let tracer = opentelemetry::global::tracer("some-library");
            tracing::info_span!("global.request").in_scope(|| {
                let mut span = tracer.start("library.call");
                span.set_attribute(opentelemetry::KeyValue::new(
                    "token",
                    "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
                ));
                span.end();
            });
        }
    })
    .join()
    .unwrap();
    #[cfg(feature = "otlp")]
    {
        assert!(stella_context::sampling::global_head_sampler().is_some());
        guard.flush().unwrap();
        let spans = rx.spans();
        let request = spans.iter().find(|s| s.name == "global.request").unwrap();
        let call = spans.iter().find(|s| s.name == "library.call").unwrap();
        assert_eq!(call.trace_id, request.trace_id);
        assert_eq!(call.parent_span_id, request.span_id);
        let token = crate::collector::attr_str(&call.attributes, "token").unwrap();
        assert!(token.starts_with("[REDACTED"), "{token}");
    }
    guard.shutdown().unwrap();
    let lines = crate::support::check_lines(&capture.contents());
    let global: Vec<_> = lines
        .iter()
        .filter(|l| l["service"] == "global-svc")
        .collect();
    assert!(global.iter().any(|l| l["message"] == "global line"));
    let bridged = global
        .iter()
        .find(|l| l["details"]["log.target"] == "some_dependency")
        .expect("bridged log record");
    assert_eq!(
        bridged["message"],
        "from log with api_key=[REDACTED:api_key]"
    );
}
