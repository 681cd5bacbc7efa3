//! Spec parsing: both forms, and errors that say what and where.

use stella_slo::Sli;
use stella_slo::spec::parse_str;

use crate::support::{data, read};

#[test]
fn native_form() {
    let specs = stella_slo::spec::parse_file(&data("specs/native.yaml")).unwrap();
    let names: Vec<&str> = specs.slos.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "policy-evaluation-availability",
            "export-success",
            "notification-latency"
        ]
    );
    let export = &specs.slos[1];
    assert_eq!(export.tenant(), Some("acme"));
    assert_eq!(export.period().to_string(), "28d");
    assert_eq!(export.policy().min_events(), 50);
    // Factors scaled to 28 days: 0.02 * 672 = 13.44.
    assert_eq!(export.policy().rules()[0].factor().to_string(), "13.44");
    let lat = &specs.slos[2];
    let Sli::Latency(l) = lat.sli() else {
        panic!("latency")
    };
    assert_eq!(
        l.histogram().metric(),
        "stella_notification_send_duration_seconds"
    );
    assert_eq!(l.good_bucket().unwrap().as_str(), "2.5");
    assert_eq!(lat.policy().rules()[0].factor().to_string(), "3.36");
    assert_eq!(specs.warnings.len(), 1);
    assert!(
        specs.warnings[0]
            .to_string()
            .contains("slos[2].sli.latency.threshold"),
        "{}",
        specs.warnings[0]
    );
}

#[test]
fn openslo_form() {
    let specs = parse_str("openslo.yaml", &read("specs/openslo.yaml")).unwrap();
    assert_eq!(specs.slos.len(), 2);
    assert_eq!(specs.slos[0].objective().to_string(), "0.995");
    assert_eq!(specs.slos[0].tenant(), Some("acme"));
    assert_eq!(specs.slos[1].policy().min_events(), 20);
    assert!(specs.warnings.iter().any(|w| w.message.contains("Service")));
}

#[test]
fn shipped_example_slos_parse_without_warnings() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector-config/slo/specs");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let specs = stella_slo::spec::parse_file(&e.unwrap().path()).unwrap();
        assert!(specs.warnings.is_empty(), "{:?}", specs.warnings);
        for s in &specs.slos {
            assert_eq!(s.objective().to_string(), "0.95");
            let Sli::Latency(l) = s.sli() else {
                panic!("latency")
            };
            assert!(l.threshold_is_bound());
        }
        n += specs.slos.len();
    }
    assert_eq!(n, 4);
}

const BASE: &str = r#"
slos:
  - name: a
    service: s
    objective: 0.99
    sli:
      ratio: {total: t_total, bad: b_total}
"#;

#[test]
fn errors_say_what_and_where() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "objective: 0.99",
            "objective: 1.5",
            "x.yaml: document 1, line 5: slos[0].objective: objective must be strictly between 0 and 1, got 1.5",
        ),
        ("objective: 0.99", "objective: 0", "slos[0].objective"),
        ("objective: 0.99", "objective: .nan", "slos[0].objective"),
        (
            "objective: 0.99",
            "objective: high",
            "slos[0].objective: not a plain decimal number",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    period: 5x",
            "slos[0].period: unknown window \"5x\"",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    period: 1d",
            "longer than the period",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    alerting: {rules: [{name: p, severity: page, long: 1h, short: 5q, factor: 2}]}",
            "slos[0].alerting.rules[0].short: unknown window",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    alerting: {rules: [{name: p, severity: loud, long: 1h, short: 5m, factor: 2}]}",
            "slos[0].alerting.rules[0].severity",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    alerting: {rules: [{name: p, severity: page, long: 5m, short: 1h, factor: 2}]}",
            "must be shorter",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    alerting: {rules: [{name: p, severity: page, long: 1h, short: 5m, factor: 0}]}",
            "slos[0].alerting.rules[0].factor",
        ),
        (
            "objective: 0.99",
            "objective: 0.99\n    colour: red",
            "slos[0].colour: unknown field",
        ),
        ("name: a", "name: A", "must be a DNS label"),
        (
            "- name: a\n    service: s",
            "- service: s",
            "slos[0].name: required field is missing",
        ),
        (
            "bad: b_total",
            "bad: 'rate(b[5m])'",
            "slos[0].sli.ratio.bad: invalid metric selector",
        ),
        (
            "bad: b_total",
            "good: g_total, bad: b_total",
            "exactly one of `good` or `bad`",
        ),
        (
            "ratio: {total: t_total, bad: b_total}",
            "latency: {histogram: h, threshold: 1, buckets: [2, 1, \"+Inf\"]}",
            "slos[0].sli.latency.buckets: bucket bounds must increase strictly: 2 is followed by 1",
        ),
        (
            "ratio: {total: t_total, bad: b_total}",
            "latency: {histogram: h, threshold: 1, buckets: [1, x]}",
            "slos[0].sli.latency.buckets: bucket bound \"x\"",
        ),
        (
            "ratio: {total: t_total, bad: b_total}",
            "latency: {histogram: h, threshold: soon, buckets: [1]}",
            "slos[0].sli.latency.threshold",
        ),
        ("slos:", "slo:", "expected an OpenSLO v1 document"),
        (
            "    service: s",
            "    service: s\n    tenant: 'a.b'",
            "tenant",
        ),
    ];
    for (from, to, want) in cases {
        assert!(BASE.contains(from), "{from}");
        let yaml = BASE.replacen(from, to, 1);
        let err = parse_str("x.yaml", &yaml).unwrap_err().to_string();
        assert!(err.starts_with("x.yaml: "), "{err}");
        assert!(err.contains(want), "{to:?}: {err}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let err = parse_str("x.yaml", "slos:\n  - name: a\n    service: [unclosed\n").unwrap_err();
    assert!(err.line().is_some(), "{err}");
    assert!(err.to_string().contains("line "), "{err}");
}

#[test]
fn duplicate_names_are_rejected() {
    let two = format!("{BASE}{}", BASE.replace("slos:\n", ""));
    assert!(
        parse_str("x", &two)
            .unwrap_err()
            .to_string()
            .contains("duplicate SLO name")
    );
}

#[test]
fn openslo_errors() {
    let doc = read("specs/openslo.yaml");
    for (from, to, want) in [
        (
            "targetPercent: 99.5",
            "targetPercent: 100",
            "spec.objectives[0].targetPercent",
        ),
        (
            "targetPercent: 99.5",
            "target: 2",
            "spec.objectives[0].target",
        ),
        ("isRolling: true", "isRolling: false", "calendar windows"),
        (
            "budgetingMethod: Occurrences",
            "budgetingMethod: Timeslices",
            "budgetingMethod",
        ),
        (
            "type: Prometheus\n            spec:\n              query: stella_vex_reconciles_total{outcome",
            "type: Datadog\n            spec:\n              query: stella_vex_reconciles_total{outcome",
            "unsupported metric source type",
        ),
        ("op: lt", "op: gt", "op lt or lte"),
        (
            "0.05,0.1,0.25,0.5,1,+Inf",
            "0.05,0.1,0.1,+Inf",
            "must increase strictly",
        ),
        (
            "    stella.dev/histogram-buckets: \"0.05,0.1,0.25,0.5,1,+Inf\"\n",
            "",
            "stella.dev/histogram-buckets",
        ),
        (
            "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: api-latency",
            "apiVersion: openslo/v2\nkind: SLO\nmetadata:\n  name: api-latency",
            "apiVersion: unsupported apiVersion",
        ),
    ] {
        assert!(doc.contains(from), "{from}");
        let err = parse_str("o.yaml", &doc.replacen(from, to, 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{to:?}: {err}");
    }
}

#[test]
fn semantic_errors_name_the_line_of_the_field() {
    let native = read("specs/native.yaml");
    let bad = native.replace(
        "buckets: [0.5, 1, 2.5, 5, 10, \"+Inf\"]",
        "buckets: [0.5, 1, 0.7, \"+Inf\"]",
    );
    let err = parse_str("native.yaml", &bad).unwrap_err();
    let want = native.lines().position(|l| l.contains("buckets:")).unwrap() + 1;
    assert_eq!(err.line(), Some(want), "{err}");
    assert_eq!(err.path(), "slos[2].sli.latency.buckets");

    let bad = native.replace("objective: \"0.995\"", "objective: \"1.995\"");
    let err = parse_str("native.yaml", &bad).unwrap_err();
    let want = native
        .lines()
        .position(|l| l.contains("objective: \"0.995\""))
        .unwrap()
        + 1;
    assert_eq!(err.line(), Some(want), "{err}");

    let openslo = read("specs/openslo.yaml");
    let bad = openslo.replace("      value: 0.25", "      value: -1");
    let err = parse_str("openslo.yaml", &bad).unwrap_err();
    let want = openslo
        .lines()
        .position(|l| l.contains("value: 0.25"))
        .unwrap()
        + 1;
    assert_eq!(err.line(), Some(want), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "openslo.yaml: document 3, line {want}: spec.objectives[0].value"
        )),
        "{err}"
    );
}
