//! `timeline_event` deserialisation: arbitrary bytes never panic; whatever parses is a valid,
//! verified event that round-trips unchanged through its own JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_timeline_emit::TimelineEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let via_str = TimelineEvent::from_json(text);
    let via_serde = serde_json::from_str::<TimelineEvent>(text);
    assert_eq!(via_str.is_ok(), via_serde.is_ok());
    if let Ok(event) = via_str {
        assert!(event.verify().is_ok());
        let again = TimelineEvent::from_json(&event.to_json()).expect("an event's own JSON parses");
        assert_eq!(again, event);
        assert_eq!(again.digest(), event.digest());
    }
});
