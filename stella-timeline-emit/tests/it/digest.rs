//! The published digest vectors, field-order independence, tamper evidence and the schema.

use serde_json::{Map, Value};
use stella_timeline_emit::{Digest, EventKind, ParseError, TimelineEvent, VerifyError};

use crate::support::{assert_schema_valid, assert_schema_valid_value, data, schema_is_valid};

fn vectors() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data("digest")).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push((path.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 4);
    out
}

#[test]
fn published_vectors_reproduce() {
    for (name, v) in vectors() {
        let event =
            TimelineEvent::from_value(v["event"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            event.canonical_json(),
            v["canonical"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            event.digest().as_str(),
            v["digest"].as_str().unwrap(),
            "{name}"
        );
        // The digest is sha256 of exactly the canonical bytes.
        assert_eq!(
            Digest::of_bytes(v["canonical"].as_str().unwrap().as_bytes()).as_str(),
            v["digest"].as_str().unwrap()
        );
        assert_schema_valid_value(&v["event"]);
        assert_schema_valid(&event);
        // Rebuilding the same content through the builder gives the same digest.
        let mut b = TimelineEvent::builder(
            event.kind().clone(),
            event.resource_type(),
            event.resource_id(),
        )
        .with_tenant(event.tenant_id())
        .with_event_id(event.event_id())
        .with_ts(event.ts())
        .with_details(Value::Object(event.details().clone()));
        if let Some(p) = event.project_id() {
            b = b.with_project(p);
        }
        if let Some(a) = event.actor() {
            b = b.with_actor(a);
        }
        if let Some(t) = event.trace_id() {
            b = b.with_trace_id(t);
        }
        let rebuilt = b.build().unwrap();
        assert_eq!(rebuilt.digest(), event.digest(), "{name}");
    }
}

#[test]
fn digest_is_stable_across_field_order() {
    for (name, v) in vectors() {
        let Value::Object(m) = v["event"].clone() else {
            panic!()
        };
        // Reverse the top-level order and the order inside details.
        let mut reversed: Vec<(String, Value)> = m.into_iter().collect();
        reversed.reverse();
        let text = format!(
            "{{{}}}",
            reversed
                .iter()
                .map(|(k, v)| {
                    let v = if k == "details" {
                        let Value::Object(d) = v else { panic!() };
                        let mut items: Vec<_> = d.iter().collect();
                        items.reverse();
                        format!(
                            "{{{}}}",
                            items
                                .iter()
                                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
                                .collect::<Vec<_>>()
                                .join(" , ")
                        )
                    } else {
                        v.to_string()
                    };
                    format!("\n  {} : {}", Value::from(k.as_str()), v)
                })
                .collect::<Vec<_>>()
                .join(",")
        );
        let event = TimelineEvent::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            event.digest().as_str(),
            v["digest"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn tampering_is_detected() {
    for (name, v) in vectors() {
        let mut ev = v["event"].clone();
        ev["resource_id"] = Value::from("someone-else");
        assert!(
            matches!(
                TimelineEvent::from_value(ev),
                Err(ParseError::Verify(VerifyError::Mismatch { .. }))
            ),
            "{name}"
        );
        let mut ev = v["event"].clone();
        ev["details"]["injected"] = Value::from(true);
        assert!(TimelineEvent::from_value(ev).is_err(), "{name}");
        let mut ev = v["event"].clone();
        ev["extra"] = Value::from(1);
        assert!(
            matches!(TimelineEvent::from_value(ev), Err(ParseError::Json(_))),
            "{name}"
        );
    }
}

#[test]
fn absent_optional_fields_read_as_null() {
    let (_, v) = vectors()
        .into_iter()
        .find(|(n, _)| n.starts_with("minimal"))
        .unwrap();
    let Value::Object(mut m) = v["event"].clone() else {
        panic!()
    };
    for k in ["project_id", "actor", "trace_id"] {
        m.remove(k);
    }
    let event = TimelineEvent::from_value(Value::Object(m)).unwrap();
    assert_eq!(event.digest().as_str(), v["digest"].as_str().unwrap());
}

#[test]
fn invalid_events_fail_the_schema_too() {
    let (_, v) = vectors()
        .into_iter()
        .find(|(n, _)| n.starts_with("policy"))
        .unwrap();
    let good = v["event"].clone();
    let cases: Vec<(&str, Value)> = vec![
        ("tenant_id", Value::from("a.b")),
        ("tenant_id", Value::from("global")),
        ("trace_id", Value::from("0".repeat(32))),
        (
            "trace_id",
            Value::from("ABCDEF".repeat(6).get(..32).unwrap().to_owned()),
        ),
        ("kind", Value::from("Policy.Evaluated")),
        ("event_id", Value::from(uuid::Uuid::new_v4().to_string())),
        ("ts", Value::from("2026-01-02T03:04:05Z")),
        ("schema_version", Value::from(2)),
        ("details", Value::from(vec![1])),
    ];
    for (field, bad) in cases {
        let mut ev = good.clone();
        ev[field] = bad.clone();
        assert!(!schema_is_valid(&ev), "schema accepted {field} = {bad}");
        assert!(
            TimelineEvent::from_value(ev).is_err(),
            "crate accepted {field} = {bad}"
        );
    }
    let mut ev = good.clone();
    ev["details"].as_object_mut().unwrap().remove("rule_ids");
    assert!(
        !schema_is_valid(&ev),
        "schema accepted policy.evaluated without rule_ids"
    );
    let mut ev = good;
    ev["details"]["inputs"][0]["digest"] = Value::from("sha256:1234");
    assert!(!schema_is_valid(&ev));
}

#[test]
fn every_catalogued_kind_builds_and_validates() {
    for kind in EventKind::catalogue() {
        let mut b = TimelineEvent::builder(kind.clone(), "thing", "t-1").with_tenant("acme");
        for f in kind.required_details() {
            b = b.with_detail(*f, "x");
        }
        let e = b.build().unwrap_or_else(|err| panic!("{kind}: {err}"));
        assert_schema_valid(&e);
        assert_eq!(e.subject(), format!("stella.acme.timeline.{kind}"));
        if let Some(first) = kind.required_details().first() {
            let mut details = Map::new();
            for f in kind.required_details().iter().filter(|f| f != &first) {
                details.insert((*f).to_owned(), Value::from("x"));
            }
            let missing = TimelineEvent::builder(kind.clone(), "thing", "t-1")
                .with_tenant("acme")
                .with_details(Value::Object(details))
                .build();
            assert!(missing.is_err(), "{kind} without {first}");
        }
    }
}

/// A float with an integer value is written as an integer (RFC 8785), so the built event holds
/// the integer: reading the wire form back gives an equal event.
#[test]
fn integral_floats_in_details_round_trip() {
    let e = TimelineEvent::builder(EventKind::parse("a.a").unwrap(), "thing", "0")
        .with_tenant("A")
        .with_details(serde_json::json!({"_": [0.0, -0.0, 2.0, 0.25], "n": {"big": 1e21}}))
        .build()
        .unwrap();
    assert_eq!(e.details()["_"], serde_json::json!([0, 0, 2, 0.25]));
    let back = TimelineEvent::from_json(&e.to_json()).unwrap();
    assert_eq!(back, e);
    assert!(back.verify().is_ok());
}

mod props {
    use proptest::prelude::*;
    use serde_json::Value;
    use stella_timeline_emit::{EventKind, TimelineEvent};

    use crate::support::schema_is_valid;

    fn details() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-zA-Z0-9 _.:/-]{0,24}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        let tree = leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z_]{1,10}", tree, 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// parse(format(x)) == x for every event the builder accepts, the digest verifies, and
        /// the wire form satisfies the JSON Schema.
        #[test]
        fn built_events_round_trip_and_validate(
            tenant in "[A-Za-z0-9][A-Za-z0-9_-]{0,20}",
            kind in "[a-z][a-z0-9_]{0,6}(\\.[a-z][a-z0-9_]{0,6}){1,3}",
            resource in any::<String>(),
            project in proptest::option::of("[a-z0-9-]{1,12}"),
            trace in proptest::option::of("[0-9a-f]{32}"),
            details in details(),
        ) {
            let kind = EventKind::parse(&kind).unwrap();
            let mut b = TimelineEvent::builder(kind, "thing", resource).with_tenant(tenant).with_details(details);
            if let Some(p) = project {
                b = b.with_project(p);
            }
            if let Some(t) = trace {
                b = b.with_trace_id(t);
            }
            let Ok(event) = b.build() else { return Ok(()) };
            let json = event.to_json();
            let back = TimelineEvent::from_json(&json).unwrap();
            prop_assert_eq!(&back, &event);
            prop_assert!(back.verify().is_ok());
            let v: Value = serde_json::from_str(&json).unwrap();
            prop_assert!(schema_is_valid(&v), "{}", json);
        }
    }
}
