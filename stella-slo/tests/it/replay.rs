//! The slo-replay contract, driven by the scenarios in tests/data/scenarios.

use serde_json::Value;

use crate::support::{data, read};

fn scenarios() -> Vec<(String, String)> {
    let mut v: Vec<_> = std::fs::read_dir(data("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_fires_what_it_expects() {
    let all = scenarios();
    assert!(all.len() >= 15);
    for (name, text) in all {
        let s: Value = serde_json::from_str(&text).unwrap();
        let out = stella_slo::replay::run(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect = s["expect"].as_array().unwrap();
        assert_eq!(out.lines.len(), expect.len(), "{name}");
        for (line, want) in out.lines.iter().zip(expect) {
            let got: Value = serde_json::from_str(line).unwrap();
            assert_eq!(got["minute"], want["minute"], "{name}");
            for k in ["page_fast", "page_slow", "ticket"] {
                assert_eq!(
                    got["alerts"][k], want[k],
                    "{name} minute {} {k}: {line}",
                    want["minute"]
                );
            }
            for w in ["5m", "30m", "1h", "6h", "1d", "3d"] {
                let win = &got["windows"][w];
                assert!(
                    win["error_ratio"].is_number()
                        && win["burn_rate"].is_number()
                        && win["no_data"].is_boolean()
                );
                if win["no_data"] == true {
                    assert_eq!(win["burn_rate"], 0.0, "{name} {w}");
                }
            }
        }
        let warns = name.starts_with("latency-between") || name.starts_with("latency-below");
        assert_eq!(
            !out.warnings.is_empty(),
            warns,
            "{name}: {:?}",
            out.warnings
        );
    }
}

#[test]
fn output_shape_and_window_semantics() {
    // Minute i holds [i, i+1); at t the 5m window is minutes t-5..t-1.
    let mut minutes = vec![[100u64, 100u64]; 10];
    minutes[2] = [0, 100];
    let s = serde_json::json!({"objective": 0.99, "period_minutes": 43200, "sli": {"kind": "ratio"},
        "minutes": minutes, "evaluate_at": [2, 3, 7, 8, 10]});
    let out = stella_slo::replay::run(&s.to_string()).unwrap();
    let v: Vec<Value> = out
        .lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(v[0]["windows"]["5m"]["error_ratio"], 0.0); // minutes 0,1
    assert_eq!(v[1]["windows"]["5m"]["error_ratio"], 100.0 / 300.0); // minutes 0..2
    assert_eq!(v[2]["windows"]["5m"]["error_ratio"], 0.2); // minutes 2..6
    assert_eq!(v[3]["windows"]["5m"]["error_ratio"], 0.0); // minutes 3..7
    assert_eq!(v[4]["windows"]["1h"]["error_ratio"], 0.1); // all ten minutes
    // Budget over all minutes before t: 100 bad of 1000 with a 1 % budget is -9.
    assert!((v[4]["budget_remaining"].as_f64().unwrap() + 9.0).abs() < 1e-9);
    assert_eq!(v[0]["budget_remaining"], 1.0);
}

#[test]
fn budget_is_limited_to_the_period() {
    // A 10-minute period: at t=20 only minutes 10..19 (all good) count.
    let mut minutes = vec![[0u64, 10u64]; 10];
    minutes.extend(vec![[10u64, 10u64]; 10]);
    let s = serde_json::json!({"objective": 0.9, "period_minutes": 10, "sli": {"kind": "ratio"},
        "minutes": minutes, "evaluate_at": [10, 20]});
    let out = stella_slo::replay::run(&s.to_string()).unwrap();
    let a: Value = serde_json::from_str(&out.lines[0]).unwrap();
    let b: Value = serde_json::from_str(&out.lines[1]).unwrap();
    assert!((a["budget_remaining"].as_f64().unwrap() + 9.0).abs() < 1e-9);
    assert_eq!(b["budget_remaining"], 1.0);
}

#[test]
fn malformed_scenarios_are_one_line_errors() {
    for (bad, what) in [
        ("", "EOF"),
        ("{", "EOF"),
        (
            r#"{"objective": 1, "sli": {"kind": "ratio"}, "minutes": [], "evaluate_at": []}"#,
            "objective",
        ),
        (
            r#"{"objective": 0, "sli": {"kind": "ratio"}, "minutes": [], "evaluate_at": []}"#,
            "objective",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "ratio"}, "minutes": [[2, 1]], "evaluate_at": []}"#,
            "minutes[0]",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "ratio"}, "minutes": [[1]], "evaluate_at": []}"#,
            "minutes[0]",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "ratio"}, "minutes": [[-1, 1]], "evaluate_at": []}"#,
            "invalid value",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "ratio"}, "minutes": [], "evaluate_at": [-1]}"#,
            "invalid value",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "nope"}, "minutes": [], "evaluate_at": []}"#,
            "unknown variant",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "ratio"}, "minutes": []}"#,
            "evaluate_at",
        ),
        (
            r#"{"objective": 0.9, "period_minutes": 0, "sli": {"kind": "ratio"}, "minutes": [], "evaluate_at": []}"#,
            "period_minutes",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "latency", "threshold_seconds": 1, "buckets_le": ["2", "1", "+Inf"]}, "minutes": [], "evaluate_at": []}"#,
            "increase",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "latency", "threshold_seconds": 1, "buckets_le": ["1", "2"]}, "minutes": [], "evaluate_at": []}"#,
            "+Inf",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "latency", "threshold_seconds": 1, "buckets_le": ["1", "+Inf"]}, "minutes": [[2, 1]], "evaluate_at": []}"#,
            "decrease",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "latency", "threshold_seconds": 1, "buckets_le": ["1", "+Inf"]}, "minutes": [[1]], "evaluate_at": []}"#,
            "expected 2",
        ),
        (
            r#"{"objective": 0.9, "sli": {"kind": "latency", "threshold_seconds": -1, "buckets_le": ["1", "+Inf"]}, "minutes": [], "evaluate_at": []}"#,
            "threshold",
        ),
    ] {
        let e = stella_slo::replay::run(bad).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains(what), "{bad}: {e}");
    }
}

#[test]
fn the_example_binary_keeps_the_contract() {
    // Runs the compiled example when cargo has built it (cargo test builds examples into
    // <target>/<profile>/examples, beside this test's deps/ folder).
    let exe = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| {
            profile
                .join("examples")
                .join(format!("slo-replay{}", std::env::consts::EXE_SUFFIX))
        })
        .unwrap();
    if !exe.exists() {
        eprintln!("skipped: {} not built", exe.display());
        return;
    }
    use std::io::Write;
    use std::process::{Command, Stdio};
    let run = |input: &str| {
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(&read("scenarios/recovery.json"));
    assert!(ok.status.success());
    assert_eq!(String::from_utf8(ok.stdout).unwrap().lines().count(), 6);
    let bad = run("{\"objective\": 2}");
    assert!(!bad.status.success());
    let err = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
}
