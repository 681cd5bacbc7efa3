//! `traceparent` parsing: never panics; what parses formats back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_context::TraceParent;

fuzz_target!(|data: &[u8]| {
    if let Ok(tp) = TraceParent::parse_bytes(data) {
        let text = tp.to_string();
        assert_eq!(text.len(), 55);
        assert_eq!(text.parse::<TraceParent>().ok(), Some(tp));
        let propagated = tp.to_propagated();
        assert_eq!(propagated.version(), 0);
        assert_eq!(
            propagated.to_string().parse::<TraceParent>().ok(),
            Some(propagated)
        );
    }
});
