//! Arbitrary input never breaks a line: always one valid, schema-conformant JSON object.

use proptest::prelude::*;

use crate::support::Harness;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_text_makes_one_valid_line(msg in any::<String>(), field in any::<String>(), tenant in "[a-z]{0,8}", trace in any::<String>()) {
        let h = Harness::new();
        h.run(|| {
            let span = tracing::info_span!("api", tenant_id = tenant.as_str(), note = field.as_str());
            let _e = span.enter();
            tracing::warn!(trace_id = trace.as_str(), other = field.as_str(), "{msg}");
        });
        let lines = h.lines();
        prop_assert_eq!(lines.len(), 1);
        prop_assert!(lines[0]["message"].is_string());
    }

    #[test]
    fn otel_resource_attributes_never_fail_config(raw in any::<String>()) {
        let c = stella_telemetry::Config::from_lookup("svc", "1", |k| (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| raw.clone()));
        prop_assert_eq!(c.resource().service(), "svc");
    }
}
