//! `tracestate` parsing (repeated headers split on newlines): never panics; what parses formats
//! back to itself and keeps at most 32 members.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_context::TraceState;

fuzz_target!(|data: &[u8]| {
    let values = data.split(|&b| b == b'\n');
    if let Ok(ts) = TraceState::parse_values(values) {
        assert!(ts.len() <= 32);
        assert_eq!(ts.as_str().parse::<TraceState>().ok(), Some(ts.clone()));
        if let Ok(more) = ts.with_entry("stella", "1") {
            assert!(more.len() <= 32);
            assert_eq!(more.get("stella"), Some("1"));
        }
    }
});
