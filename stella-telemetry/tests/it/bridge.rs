//! `log` records come out in the same schema, scrubbed.

use log::Log as _;
use stella_telemetry::LogBridge;

use crate::support::Harness;

#[test]
fn log_records_are_bridged_and_scrubbed() {
    let h = Harness::new();
    let bridge = LogBridge::new();
    h.run(|| {
        let span = tracing::info_span!("api", tenant_id = "acme");
        let _e = span.enter();
        bridge.log(
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("hyper::proto")
                .args(format_args!(
                    "connection to bob@example.com reset, password=hunter2"
                ))
                .build(),
        );
        assert!(
            bridge.enabled(
                &log::Metadata::builder()
                    .level(log::Level::Info)
                    .target("x")
                    .build()
            )
        );
    });
    let l = h.line("connection to [REDACTED:email] reset, password=[REDACTED:password]");
    assert_eq!(l["level"], "warn");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["details"]["log.target"], "hyper::proto");
}
