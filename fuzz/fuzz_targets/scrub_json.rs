//! JSON documents: valid JSON in gives valid JSON out, both through `scrub_json` and when the
//! document is scrubbed as one free-text log line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stella_scrub::Scrubber;

fn scrubber() -> &'static Scrubber {
    static S: OnceLock<Scrubber> = OnceLock::new();
    S.get_or_init(|| Scrubber::builder().with_repo_root("/work/main").build().expect("default scrubber builds"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return };
    let s = scrubber();
    let out = s.scrub_json(&value);
    let printed = serde_json::to_string(&out).expect("serialises");
    let _: serde_json::Value = serde_json::from_str(&printed).expect("scrub_json output is valid JSON");
    let line = serde_json::to_string(&serde_json::json!({ "doc": value })).expect("serialises");
    let scrubbed = s.scrub(&line);
    assert!(
        serde_json::from_str::<serde_json::Value>(&scrubbed).is_ok(),
        "line scrub broke JSON\nin:  {line}\nout: {scrubbed}"
    );
});
