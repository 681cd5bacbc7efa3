//! Runs every vector in `tests/data/`.

use std::borrow::Cow;
use std::path::PathBuf;

use serde_json::Value;

fn data(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("missing {k} in {v}"))
}

#[test]
fn positives_come_out_as_expected_and_idempotent() {
    let scrubber = super::scrubber();
    let mut failures = Vec::new();
    let mut kinds_seen = std::collections::BTreeSet::new();
    for case in data("positives.jsonl") {
        let input = s(&case, "input");
        let expected = s(&case, "expected");
        let got = scrubber.scrub(input);
        if got != expected {
            failures.push(format!(
                "input:    {input}\nexpected: {expected}\ngot:      {got}"
            ));
        }
        let again = scrubber.scrub(&got);
        assert_eq!(again, got, "not idempotent for {input}");
        for k in case["kinds"].as_array().expect("kinds") {
            kinds_seen.insert(k.as_str().expect("kind").to_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} positive cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // every built-in kind has at least one positive vector
    for kind in stella_scrub::Kind::ALL {
        assert!(
            kinds_seen.contains(kind.as_str()),
            "no positive vector for {kind}"
        );
    }
}

#[test]
fn negatives_are_byte_identical_and_borrowed() {
    let scrubber = super::scrubber();
    let mut failures = Vec::new();
    for case in data("negatives.jsonl") {
        let input = s(&case, "input");
        match scrubber.scrub(input) {
            Cow::Borrowed(b) => assert_eq!(b, input),
            Cow::Owned(o) => failures.push(format!("input: {input}\ngot:   {o}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} negative cases changed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn fields() {
    let scrubber = super::scrubber();
    for case in data("fields.jsonl") {
        let (k, v, e) = (s(&case, "key"), s(&case, "value"), s(&case, "expected"));
        assert_eq!(scrubber.scrub_field(k, v), e, "scrub_field({k:?}, {v:?})");
    }
}

#[test]
fn json_documents() {
    let scrubber = super::scrubber();
    for case in data("json.jsonl") {
        assert_eq!(
            scrubber.scrub_json(&case["input"]),
            case["expected"],
            "for {}",
            case["input"]
        );
        assert_eq!(
            scrubber.scrub_json(&case["expected"]),
            case["expected"],
            "idempotent for {}",
            case["expected"]
        );
        let mut in_place = case["input"].clone();
        scrubber.scrub_json_in_place(&mut in_place);
        assert_eq!(in_place, case["expected"], "in place for {}", case["input"]);
    }
}
