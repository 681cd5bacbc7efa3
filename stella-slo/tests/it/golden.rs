//! Golden files for rendered rules and dashboards (insta-style: run with UPDATE_GOLDEN=1 to
//! rewrite them, then review the diff).

use crate::support::{data, read};

fn check(name: &str, got: &str) {
    let path = data(&format!("golden/{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from the golden file at line {}:\n want: {:?}\n  got: {:?}\n(UPDATE_GOLDEN=1 cargo test -p stella-slo --test it golden, then review)",
            first + 1,
            want.lines().nth(first),
            got.lines().nth(first)
        );
    }
}

#[test]
fn rules_and_dashboards_match_golden_files() {
    for spec in ["native", "openslo"] {
        let specs =
            stella_slo::spec::parse_str(spec, &read(&format!("specs/{spec}.yaml"))).unwrap();
        check(
            &format!("{spec}.rules.yaml"),
            &stella_slo::rules::render(&specs.slos),
        );
        let mut services: Vec<&str> = specs.slos.iter().map(|s| s.service()).collect();
        services.dedup();
        for service in services {
            check(
                &format!("{spec}.{service}.json"),
                &stella_slo::dashboard::render(service, &specs.slos),
            );
        }
    }
}

#[test]
fn rendering_is_deterministic() {
    let specs = stella_slo::spec::parse_str("n", &read("specs/native.yaml")).unwrap();
    assert_eq!(
        stella_slo::rules::render(&specs.slos),
        stella_slo::rules::render(&specs.slos)
    );
}

#[test]
fn generated_expressions_are_ratios_of_sums() {
    let specs = stella_slo::spec::parse_str("n", &read("specs/native.yaml")).unwrap();
    let yaml = stella_slo::rules::render(&specs.slos);
    assert!(!yaml.contains("avg("));
    assert!(yaml.contains(r#"sum(rate(stella_policy_evaluations_total{outcome="error"}[5m])) / sum(rate(stella_policy_evaluations_total[5m]))"#));
    // Good-counter form and the low-traffic guard.
    assert!(yaml.contains(
        r#"and on() sum(increase(stella_export_bundles_total{kind!="dry-run"}[1h])) >= 50"#
    ));
    // Latency: conservative bucket (threshold 3 s, bucket le=2.5).
    assert!(yaml.contains(r#"stella_notification_send_duration_seconds_bucket{le="2.5"}"#));
    // 28-day scaling: 13.44 * 0.005 = 0.0672.
    assert!(yaml.contains("> 0.0672"));
}
