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

#[test]
fn log_key_values_are_kept_as_logfmt_and_scrubbed_by_key() {
    let h = Harness::new();
    let bridge = LogBridge::new();
    let kvs: [(&str, &str); 4] = [
        ("user_id", "42"),
        ("password", "hunter2"),
        ("note", "two \"words\""),
        ("bad key", ""),
    ];
    h.run(|| {
        bridge.log(
            &log::Record::builder()
                .level(log::Level::Info)
                .target("some_dependency")
                .args(format_args!("login"))
                .key_values(&kvs)
                .build(),
        );
        bridge.log(
            &log::Record::builder()
                .level(log::Level::Info)
                .target("some_dependency")
                .args(format_args!("no pairs"))
                .build(),
        );
    });
    let l = h.line("login");
    assert_eq!(
        l["details"]["log.kv"],
        r#"user_id=42 password=[REDACTED:password] note="two \"words\"" bad_key="""#
    );
    let plain = h.line("no pairs");
    assert!(plain["details"].get("log.kv").is_none(), "{plain}");
}
