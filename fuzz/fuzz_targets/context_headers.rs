//! Extraction from a whole carrier (`name: value` lines, names in any case, repeated names
//! allowed): never panics; a continued context injects exactly one valid version-00
//! `traceparent`.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use stella_context::{TraceContext, TraceParent};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut carrier: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(':') {
            carrier.entry(name.to_owned()).or_default().push_str(value);
        }
    }
    let cx = TraceContext::continue_from(&carrier);
    let mut out: HashMap<String, String> = HashMap::new();
    cx.child().inject(&mut out);
    let tp = out
        .get("traceparent")
        .and_then(|v| v.parse::<TraceParent>().ok());
    assert_eq!(tp.map(|t| t.version()), Some(0));
    assert!(out.get("tracestate").is_none_or(|v| !v.is_empty()));
});
