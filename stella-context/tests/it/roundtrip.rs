//! Property tests: `parse(format(x)) == x` for every parser, and no input makes one panic.

use proptest::prelude::*;
use stella_context::{Baggage, SpanId, TraceFlags, TraceId, TraceParent, TraceState};

fn trace_id() -> impl Strategy<Value = TraceId> {
    any::<[u8; 16]>().prop_filter_map("non-zero", TraceId::from_bytes)
}

fn span_id() -> impl Strategy<Value = SpanId> {
    any::<[u8; 8]>().prop_filter_map("non-zero", SpanId::from_bytes)
}

fn traceparent() -> impl Strategy<Value = TraceParent> {
    (0u8..=254, trace_id(), span_id(), any::<u8>()).prop_map(|(version, t, s, f)| {
        let tp = TraceParent::new(t, s, TraceFlags::from_byte(f));
        if version == 0 {
            tp
        } else {
            // Only parsing makes other versions.
            let text = format!("{version:02x}{}", &tp.to_string()[2..]);
            text.parse().unwrap()
        }
    })
}

fn tracestate_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_\\-*/]{0,20}",
        "[a-z0-9][a-z0-9_\\-*/]{0,20}@[a-z][a-z0-9_\\-*/]{0,13}",
    ]
}

fn tracestate_value() -> impl Strategy<Value = String> {
    "[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,30}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]"
}

fn tracestate() -> impl Strategy<Value = TraceState> {
    proptest::collection::vec((tracestate_key(), tracestate_value()), 0..40).prop_map(|pairs| {
        let mut ts = TraceState::new();
        for (k, v) in pairs {
            ts = ts.with_entry(&k, &v).unwrap();
        }
        ts
    })
}

fn baggage() -> impl Strategy<Value = Baggage> {
    let key = "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}";
    let props = prop_oneof![
        Just(String::new()),
        Just("ttl=60".to_owned()),
        Just("flag;a=b".to_owned())
    ];
    proptest::collection::vec((key, any::<String>(), props), 0..12).prop_map(|entries| {
        let mut bag = Baggage::new();
        for (k, v, p) in entries {
            bag = bag.with_entry_and_properties(&k, &v, &p).unwrap();
        }
        bag
    })
}

proptest! {
    #[test]
    fn ids_round_trip(t in trace_id(), s in span_id()) {
        prop_assert_eq!(t.to_string().parse::<TraceId>().unwrap(), t);
        prop_assert_eq!(s.to_string().parse::<SpanId>().unwrap(), s);
    }

    #[test]
    fn traceparent_round_trips(tp in traceparent()) {
        prop_assert_eq!(tp.to_string().parse::<TraceParent>().unwrap(), tp);
        let propagated = tp.to_propagated();
        prop_assert_eq!(propagated.version(), 0);
        prop_assert_eq!(propagated.to_string().parse::<TraceParent>().unwrap(), propagated);
    }

    #[test]
    fn tracestate_round_trips(ts in tracestate()) {
        prop_assert!(ts.len() <= 32);
        prop_assert_eq!(ts.to_string().parse::<TraceState>().unwrap(), ts);
    }

    #[test]
    fn baggage_round_trips(bag in baggage()) {
        prop_assert_eq!(Baggage::parse_lossy(bag.to_string().as_bytes()), bag);
    }

    #[test]
    fn parsers_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = TraceParent::parse_bytes(&input);
        let _ = TraceState::parse_bytes(&input);
        let bag = Baggage::parse_lossy(&input);
        prop_assert_eq!(Baggage::parse_lossy(bag.as_str().as_bytes()), bag);
    }

    #[test]
    fn near_valid_traceparents_never_panic(s in "[0-9a-f -]{50,60}") {
        if let Ok(tp) = s.parse::<TraceParent>() {
            prop_assert_eq!(tp.to_string().parse::<TraceParent>().unwrap(), tp);
        }
    }
}
