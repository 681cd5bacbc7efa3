//! RFC 8785 canonicalisation of arbitrary JSON text: never panics, the canonical form is a fixed
//! point and is itself JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_timeline_emit::canonical;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(out) = canonical::canonicalize_str(text) {
        let again = canonical::canonicalize_str(&out).expect("canonical JSON parses");
        assert_eq!(again, out);
    }
});
