//! Baggage parsing (repeated headers split on newlines): never panics; the result respects the
//! limits and formats to a header that parses back to the same baggage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_context::Baggage;

fuzz_target!(|data: &[u8]| {
    let bag = Baggage::parse_values_lossy(data.split(|&b| b == b'\n'));
    assert!(bag.len() <= 180);
    assert!(bag.as_str().len() <= 8192);
    assert_eq!(Baggage::parse_lossy(bag.as_str().as_bytes()), bag);
});
