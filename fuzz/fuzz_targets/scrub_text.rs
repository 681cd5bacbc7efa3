//! Free text through every scrubbing entry point: no panic, idempotent, no marker split.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stella_scrub::Scrubber;

fn scrubber() -> &'static Scrubber {
    static S: OnceLock<Scrubber> = OnceLock::new();
    S.get_or_init(|| {
        Scrubber::builder()
            .with_repo_root("/work/main")
            .with_max_input_len(4096)
            .build()
            .expect("default scrubber builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = scrubber();
    let once = s.scrub(&text).into_owned();
    let twice = s.scrub(&once).into_owned();
    // Truncation can re-trigger on an output longer than the bound; otherwise idempotent.
    if once.len() <= s.max_input_len() {
        assert_eq!(twice, once, "not idempotent for {text:?}");
    }
    let (k, v) = text.split_at(text.char_indices().nth(text.chars().count() / 3).map_or(0, |(i, _)| i));
    let _ = s.scrub_field(k, v);
    let _ = s.for_tenant(Some(k)).scrub(v);
    let mut buf = String::new();
    s.scrub_into(&text, &mut buf);
});
