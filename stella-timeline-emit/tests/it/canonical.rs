//! RFC 8785 conformance: the RFC's own examples, plus properties.

use proptest::prelude::*;
use serde_json::Value;
use stella_timeline_emit::canonical;

use crate::support::data;

#[test]
fn rfc8785_appendix_b_numbers() {
    let rows: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(data("rfc8785/appendix-b-numbers.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), 26);
    for row in rows {
        let bits = u64::from_str_radix(row["ieee754"].as_str().unwrap(), 16).unwrap();
        let f = f64::from_bits(bits);
        match row["expected"].as_str() {
            Some(want) => {
                let v = Value::from(f);
                assert_eq!(canonical::to_string(&v).unwrap(), want, "{row}");
                // The serialisation parses back to the same double.
                assert_eq!(want.parse::<f64>().unwrap(), if f == 0.0 { 0.0 } else { f });
            }
            None => assert!(
                serde_json::Number::from_f64(f).is_none(),
                "{row}: non-finite cannot enter a JSON value"
            ),
        }
    }
}

#[test]
fn rfc8785_worked_example_bytes() {
    let input = std::fs::read_to_string(data("rfc8785/example-3.2.2-input.json")).unwrap();
    let want = std::fs::read(data("rfc8785/example-3.2.4-output.bin")).unwrap();
    assert_eq!(
        canonical::canonicalize_str(&input).unwrap().as_bytes(),
        want.as_slice()
    );
}

#[test]
fn rfc8785_utf16_sorting() {
    let input = std::fs::read_to_string(data("rfc8785/sorting-3.2.3-input.json")).unwrap();
    let order = std::fs::read_to_string(data("rfc8785/sorting-3.2.3-values-in-order.txt")).unwrap();
    let out = canonical::canonicalize_str(&input).unwrap();
    let positions: Vec<usize> = order
        .lines()
        .map(|v| out.find(&format!("\"{v}\"")).unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "{out}");
    assert!(
        out.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\""),
        "{out}"
    );
}

#[test]
fn nested_structures_and_locale_free_order() {
    let out = canonical::canonicalize_str(
        r#"{"1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty", "a": { }, "111": [ { } ], "A": { }, "péché": 1, "pêche": 2, "peach": 3, "sin": 4}"#,
    )
    .unwrap();
    assert_eq!(
        out,
        r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{},"peach":3,"péché":1,"pêche":2,"sin":4}"#
    );
}

#[test]
fn invalid_json_is_an_error() {
    assert!(canonical::canonicalize_str("{").is_err());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn doubles_round_trip(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let s = canonical::to_string(&Value::from(f)).unwrap();
        prop_assert_eq!(s.parse::<f64>().unwrap(), if f == 0.0 { 0.0 } else { f });
        prop_assert!(!s.contains('E') && !s.starts_with('+'));
    }

    #[test]
    fn canonical_form_is_a_fixed_point(v in json_value()) {
        let once = canonical::to_string(&v).unwrap();
        let twice = canonical::canonicalize_str(&once).unwrap();
        prop_assert_eq!(&once, &twice);
        // And it is JSON that means the same thing (integers beyond 2^53 become doubles).
        let back: Value = serde_json::from_str(&once).unwrap();
        prop_assert_eq!(canonical::to_string(&back).unwrap(), once);
    }
}
