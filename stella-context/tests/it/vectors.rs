//! The W3C vectors in `tests/data/`.

use serde::Deserialize;
use stella_context::{Baggage, TraceParent, TraceState};

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap()
}

#[derive(Deserialize)]
struct TraceParentFile {
    valid: Vec<ValidTraceParent>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct ValidTraceParent {
    name: String,
    input: String,
    version: u8,
    trace_id: String,
    parent_id: String,
    flags: u8,
    canonical: String,
}

#[derive(Deserialize)]
struct Invalid {
    name: String,
    #[serde(default)]
    input: String,
    #[serde(default)]
    values: Vec<String>,
}

#[test]
fn traceparent_vectors() {
    let file: TraceParentFile = load("traceparent.toml");
    assert!(file.valid.len() >= 10 && file.invalid.len() >= 25);
    for case in &file.valid {
        let tp: TraceParent = case
            .input
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(tp.version(), case.version, "{}", case.name);
        assert_eq!(tp.trace_id().to_string(), case.trace_id, "{}", case.name);
        assert_eq!(tp.parent_id().to_string(), case.parent_id, "{}", case.name);
        assert_eq!(tp.flags().to_byte(), case.flags, "{}", case.name);
        assert_eq!(tp.to_string(), case.canonical, "{}", case.name);
        assert_eq!(
            case.canonical.parse::<TraceParent>().unwrap(),
            tp,
            "{}",
            case.name
        );
    }
    for case in &file.invalid {
        assert!(
            case.input.parse::<TraceParent>().is_err(),
            "{} parsed",
            case.name
        );
    }
}

#[derive(Deserialize)]
struct TraceStateFile {
    valid: Vec<ValidTraceState>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct ValidTraceState {
    name: String,
    values: Vec<String>,
    canonical: String,
}

#[test]
fn tracestate_vectors() {
    let file: TraceStateFile = load("tracestate.toml");
    for case in &file.valid {
        let ts = TraceState::parse_values(case.values.iter().map(|v| v.as_bytes()))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(ts.as_str(), case.canonical, "{}", case.name);
        assert_eq!(
            case.canonical.parse::<TraceState>().unwrap(),
            ts,
            "{}",
            case.name
        );
    }
    for case in &file.invalid {
        assert!(
            TraceState::parse_values(case.values.iter().map(|v| v.as_bytes())).is_err(),
            "{} parsed",
            case.name
        );
    }
}

#[derive(Deserialize)]
struct BaggageFile {
    case: Vec<BaggageCase>,
}

#[derive(Deserialize)]
struct BaggageCase {
    name: String,
    values: Vec<String>,
    canonical: String,
    entries: Vec<(String, String)>,
}

#[test]
fn baggage_vectors() {
    let file: BaggageFile = load("baggage.toml");
    for case in &file.case {
        let bag = Baggage::parse_values_lossy(case.values.iter().map(|v| v.as_bytes()));
        assert_eq!(bag.as_str(), case.canonical, "{}", case.name);
        let entries: Vec<(String, String)> = bag
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(entries, case.entries, "{}", case.name);
        assert_eq!(
            Baggage::parse_lossy(case.canonical.as_bytes()),
            bag,
            "{}",
            case.name
        );
    }
}

#[test]
fn baggage_limits() {
    let many: Vec<String> = (0..181).map(|i| format!("k{i}=v")).collect();
    let bag = Baggage::parse_lossy(many.join(",").as_bytes());
    assert_eq!(bag.len(), 180);
    assert_eq!(bag.get("k180"), None);
    let big = format!("a={},b=1", "x".repeat(8190));
    let bag = Baggage::parse_lossy(big.as_bytes());
    assert!(bag.as_str().len() <= 8192);
    assert!(Baggage::new().with_entry("a", &"x".repeat(8191)).is_err());
}

/// Header maps (shared, zero-copy path) and string maps (copying path) extract the same list.
#[test]
fn tracestate_vectors_through_carriers() {
    use std::collections::HashMap;
    use stella_context::TraceContext;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let file: TraceStateFile = load("tracestate.toml");
    let cases = file
        .valid
        .iter()
        .map(|c| (&c.name, &c.values, Some(c.canonical.as_str())))
        .chain(file.invalid.iter().map(|c| (&c.name, &c.values, None)));
    for (name, values, canonical) in cases {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", TP.parse().unwrap());
        for v in values {
            headers.append("tracestate", http::HeaderValue::from_str(v).unwrap());
        }
        let mut map = HashMap::new();
        map.insert("traceparent".to_owned(), TP.to_owned());
        map.insert("TraceState".to_owned(), values.join(","));
        let from_headers = TraceContext::extract(&headers).unwrap();
        let from_map = TraceContext::extract(&map).unwrap();
        assert_eq!(
            from_headers.tracestate().as_str(),
            canonical.unwrap_or(""),
            "{name}"
        );
        assert_eq!(from_headers.tracestate(), from_map.tracestate(), "{name}");
        let mut out = http::HeaderMap::new();
        from_headers.child().inject(&mut out);
        assert_eq!(
            out.get("tracestate").map(|v| v.to_str().unwrap()),
            canonical.filter(|c| !c.is_empty()),
            "{name}"
        );
    }
}
