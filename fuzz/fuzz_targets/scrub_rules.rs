//! Custom rule compilation and application: a bad rule is a `BuildError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_scrub::Scrubber;
use stella_scrub::rules::Rule;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{0}');
    let pattern = parts.next().unwrap_or_default();
    let anchor = parts.next().unwrap_or_default();
    let input = parts.next().unwrap_or_default();
    let mut rule = Rule::new("fuzz_rule", pattern).with_window(64);
    if anchor.len() >= 2 {
        rule = rule.with_anchor(anchor);
    }
    if let Ok(s) = Scrubber::builder().with_rule(rule).build() {
        let once = s.scrub(input).into_owned();
        let _ = s.scrub(&once);
    }
});
