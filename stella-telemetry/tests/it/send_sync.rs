//! Every public type is `Send + Sync` (aho-corasick `testoibits`).

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send::<stella_telemetry::Config>();
    assert_send_sync::<stella_telemetry::InitError>();
    assert_send_sync::<stella_telemetry::TelemetryGuard>();
    assert_send_sync::<stella_telemetry::TelemetryHandle>();
    assert_send_sync::<stella_telemetry::ShutdownError>();
    assert_send_sync::<stella_telemetry::Resource>();
    assert_send_sync::<stella_telemetry::Sampling>();
    assert_send_sync::<stella_telemetry::LogStats>();
    assert_send_sync::<stella_telemetry::JsonLayer>();
    assert_send_sync::<stella_telemetry::JsonLayer<stella_telemetry::testing::CaptureWriter>>();
    assert_send_sync::<stella_telemetry::JsonLayerBuilder<stella_telemetry::NonBlocking>>();
    assert_send_sync::<stella_telemetry::BuildError>();
    assert_send_sync::<stella_telemetry::NonBlocking>();
    assert_send_sync::<stella_telemetry::NonBlockingBuilder>();
    assert_send_sync::<stella_telemetry::NonBlockingWriter<'static>>();
    assert_send_sync::<stella_telemetry::WriterGuard>();
    assert_send_sync::<stella_telemetry::FlushTimeout>();
    assert_send::<stella_telemetry::Output>();
    assert_send_sync::<stella_telemetry::FileOutput>();
    assert_send_sync::<stella_telemetry::OutputError>();
    assert_send_sync::<stella_telemetry::LogBridge>();
    assert_send_sync::<stella_telemetry::decision::Decision>();
    assert_send_sync::<stella_telemetry::decision::Effect>();
    assert_send_sync::<stella_telemetry::decision::DecisionKind>();
    assert_send_sync::<stella_telemetry::testing::CaptureWriter>();
}

#[cfg(feature = "otlp")]
#[test]
fn trace_types_are_send_and_sync() {
    assert_send_sync::<stella_telemetry::TraceConfig>();
    assert_send_sync::<stella_telemetry::TraceConfigError>();
    assert_send_sync::<stella_telemetry::TraceStats>();
    assert_send_sync::<stella_telemetry::RatioError>();
    assert_send_sync::<stella_telemetry::JobSpan>();
    assert_send_sync::<stella_telemetry::OtlpProtocol>();
}

#[cfg(feature = "prometheus")]
#[test]
fn metric_types_are_send_and_sync() {
    assert_send_sync::<stella_telemetry::metrics::MetricsConfig>();
    assert_send_sync::<stella_telemetry::metrics::Exposition>();
    assert_send_sync::<stella_telemetry::metrics::InFlight>();
    assert_send_sync::<stella_telemetry::metrics::Journey>();
}
