//! Which field names are plain (their values are scanned as free text) and which name a
//! secret or PII (the scrubber's key-aware path), learned from the scrubber once per key.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use stella_scrub::{ScrubView, Scrubber};

use crate::hash::BuildFnv1a;

/// The most keys remembered per thread before the cache starts over.
const MAX_KEYS: usize = 4096;

/// A per-thread cache of key classifications, keyed by scrubber and by the `&'static str`
/// field name's address.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    map: HashMap<KeyId, bool, BuildHasherDefault<AddressHasher>>,
    /// The last verdicts, by the key's address (a line asks about the same few keys several
    /// times): looked at before the map.
    recent: [Option<(KeyId, bool)>; RECENT],
    /// The verdict on `stack` (asked on every line), by the scrubber's grants address.
    stack: Option<(usize, bool)>,
    /// Detail keys known to need no JSON escape, by address and length (the lines of a
    /// service write the same few keys): such a key is copied between quotes as is.
    escape_free: [(usize, usize); ESCAPE_FREE],
    /// Where the next escape-free key goes in [`Self::escape_free`].
    escape_free_next: usize,
}

/// Entries of [`KeyCache::escape_free`].
const ESCAPE_FREE: usize = 16;

/// A key of the cache: the scrubber's grants address, the key's address and length.
type KeyId = (usize, usize, usize);

/// Entries of [`KeyCache::recent`] (a power of two).
const RECENT: usize = 16;

/// A multiply-rotate hasher for the cache's keys (addresses and lengths, never attacker
/// chosen): a few instructions where SipHash takes a hundred.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl KeyCache {
    /// Writes `key` as a JSON string, escaping it only if it is not known to be escape-free.
    pub(crate) fn push_key(&mut self, out: &mut String, key: &'static str) {
        let id = (key.as_ptr() as usize, key.len());
        if self.escape_free.contains(&id) {
            out.push('"');
            out.push_str(key);
            out.push('"');
            return;
        }
        let start = out.len();
        crate::json::push_str(out, key);
        if out.len() == start + key.len() + 2
            && let Some(e) = self
                .escape_free
                .get_mut(self.escape_free_next % ESCAPE_FREE)
        {
            *e = id;
            self.escape_free_next = self.escape_free_next.wrapping_add(1);
        }
    }

    /// [`Self::plain`] for the `stack` key, asked once per line: one comparison.
    pub(crate) fn plain_stack(&mut self, scrubber: &Scrubber) -> bool {
        let id = std::ptr::from_ref(scrubber.grants()) as usize;
        match self.stack {
            Some((k, p)) if k == id => p,
            _ => {
                let p = self.plain(scrubber, "stack");
                self.stack = Some((id, p));
                p
            }
        }
    }

    /// True when the key's values are plain free text (`Scrubber::scrubs_as_text`: not a
    /// secret key, not a route key): then `scrub_field(key, v)` equals `scrub(v)` for every
    /// `v`, so free-text scanning is the whole job.
    pub(crate) fn plain(&mut self, scrubber: &Scrubber, key: &'static str) -> bool {
        let id: KeyId = (
            std::ptr::from_ref(scrubber.grants()) as usize,
            key.as_ptr() as usize,
            key.len(),
        );
        // Keys are string literals, 1-aligned: mix the low bits of the address and the length.
        let slot = (id.1 ^ (id.1 >> 4) ^ id.2) & (RECENT - 1);
        if let Some(Some((k, p))) = self.recent.get(slot)
            && *k == id
        {
            return *p;
        }
        if let Some(p) = self.map.get(&id).copied() {
            if let Some(r) = self.recent.get_mut(slot) {
                *r = Some((id, p));
            }
            return p;
        }
        let plain = scrubber.scrubs_as_text(key);
        if self.map.len() >= MAX_KEYS {
            self.map.clear();
        }
        self.map.insert(id, plain);
        if let Some(r) = self.recent.get_mut(slot) {
            *r = Some((id, plain));
        }
        plain
    }
}

/// The most messages remembered as clean per thread before the memory starts over.
const MAX_MESSAGES: usize = 1_024;
/// Longer messages are scanned every time.
const MAX_MESSAGE_LEN: usize = 256;

/// Log messages the strict scrubber left unchanged, per thread: most messages are constant
/// text (the variables go in fields), and scrubbing is a pure function of the text for a given
/// scrubber, so a message seen clean once is clean every time.
#[derive(Debug, Default)]
pub(crate) struct CleanMessages {
    /// The scrubber the verdicts are for; holding it keeps its identity from being reused.
    scrubber: Option<Scrubber>,
    set: HashSet<String, BuildFnv1a>,
    /// Verdicts on the integers below [`SMALL_NUMBERS`] (span fields such as a step, a count,
    /// a port), two bits each: `[known, clean]` per 64 numbers. Allocated on first use.
    numbers: Vec<[u64; 2]>,
    /// The last clean message of each call site (by the address of its metadata, in
    /// [`SITES`] places, each replaced by the next call site that lands on it): looked at
    /// before the set, a hit costs one comparison of the text and no hashing. Allocated on
    /// first use.
    sites: Vec<(usize, String)>,
}

/// Places in [`CleanMessages::sites`] (a power of two).
const SITES: usize = 64;

/// Integers below this get a verdict slot of their own (`SMALL_NUMBERS / 64 * 16` bytes per
/// thread) instead of a place in the set of messages.
const SMALL_NUMBERS: u64 = 1 << 14;

/// Whether `n` has a verdict slot of its own in [`CleanMessages::number_is_clean`].
pub(crate) fn small_number(n: u64) -> bool {
    n < SMALL_NUMBERS
}

impl CleanMessages {
    fn same(&self, scrubber: &Scrubber) -> bool {
        self.scrubber
            .as_ref()
            .is_some_and(|s| std::ptr::eq(s.grants(), scrubber.grants()))
    }

    /// True when `text` was seen clean with this scrubber.
    pub(crate) fn is_clean(&self, scrubber: &Scrubber, text: &str) -> bool {
        text.len() <= MAX_MESSAGE_LEN && self.same(scrubber) && self.set.contains(text)
    }

    /// Remembers that `text` came out of this scrubber unchanged.
    pub(crate) fn remember(&mut self, scrubber: &Scrubber, text: &str) {
        if text.len() > MAX_MESSAGE_LEN {
            return;
        }
        if !self.same(scrubber) {
            self.start_over(scrubber);
        } else if self.set.len() >= MAX_MESSAGES {
            self.set.clear();
        }
        self.set.insert(text.to_owned());
    }

    /// [`Self::is_clean`] for the message of the call site whose metadata is at `site`,
    /// remembering it for that call site when the set knows it.
    pub(crate) fn is_clean_at(&mut self, scrubber: &Scrubber, site: usize, text: &str) -> bool {
        if text.len() > MAX_MESSAGE_LEN || !self.same(scrubber) {
            return false;
        }
        let place = site_place(site);
        if self
            .sites
            .get(place)
            .is_some_and(|(at, kept)| *at == site && kept == text)
        {
            return true;
        }
        if !self.set.contains(text) {
            return false;
        }
        self.keep_site(place, site, text);
        true
    }

    /// [`Self::remember`], and for the call site whose metadata is at `site`.
    pub(crate) fn remember_at(&mut self, scrubber: &Scrubber, site: usize, text: &str) {
        if text.len() > MAX_MESSAGE_LEN {
            return;
        }
        self.remember(scrubber, text);
        self.keep_site(site_place(site), site, text);
    }

    fn keep_site(&mut self, place: usize, site: usize, text: &str) {
        if self.sites.is_empty() {
            self.sites = vec![(0, String::new()); SITES];
        }
        if let Some((at, kept)) = self.sites.get_mut(place) {
            *at = site;
            kept.clear();
            kept.push_str(text);
        }
    }

    fn start_over(&mut self, scrubber: &Scrubber) {
        self.set.clear();
        self.sites.clear();
        self.numbers.clear();
        self.scrubber = Some(scrubber.clone());
    }

    /// The verdict on the small integer `n` when this thread has one for this scrubber: whether
    /// the scrubber leaves its decimal digits unchanged.
    pub(crate) fn number_verdict(&self, scrubber: &Scrubber, n: u64) -> Option<bool> {
        if n >= SMALL_NUMBERS || !self.same(scrubber) {
            return None;
        }
        let i = usize::try_from(n).ok()?;
        let [known, clean] = self.numbers.get(i / 64)?;
        let bit = 1u64 << (i % 64);
        (known & bit != 0).then_some(clean & bit != 0)
    }

    /// Whether the scrubber leaves the integer `n`, written as `text` (its decimal digits),
    /// unchanged. Small integers recur (steps, counts, ports): their verdict is looked up in a
    /// table after the first scan; larger ones are scanned every time (card numbers and phone
    /// numbers given as integers are redacted).
    pub(crate) fn number_is_clean(&mut self, scrubber: &Scrubber, n: u64, text: &str) -> bool {
        let Ok(i) = usize::try_from(n) else {
            return scrubber.scrub(text) == text;
        };
        if n >= SMALL_NUMBERS {
            return scrubber.scrub(text) == text;
        }
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if let Some(clean) = self.number_verdict(scrubber, n) {
            return clean;
        }
        let clean = scrubber.scrub(text) == text;
        if !self.same(scrubber) {
            self.start_over(scrubber);
        }
        if self.numbers.is_empty() {
            self.numbers = vec![[0, 0]; usize::try_from(SMALL_NUMBERS / 64).unwrap_or(0)];
        }
        if let Some([known, verdict]) = self.numbers.get_mut(word) {
            *known |= bit;
            if clean {
                *verdict |= bit;
            }
        }
        clean
    }
}

/// The place of a call site's metadata address in [`CleanMessages::sites`].
fn site_place(site: usize) -> usize {
    (site ^ (site >> 6) ^ (site >> 12)) & (SITES - 1)
}

/// Scrubs values for one line: the tenant's view plus the key cache.
pub(crate) struct Scan<'a> {
    pub(crate) scrubber: &'a Scrubber,
    pub(crate) view: ScrubView<'a>,
    pub(crate) keys: &'a mut KeyCache,
    pub(crate) messages: &'a mut CleanMessages,
    /// Set when one scan over all plain-key raw field values of the line redacted nothing: then
    /// none of them needs scanning on its own.
    pub(crate) all_clean: bool,
    /// Set when the message alone redacted nothing.
    pub(crate) message_clean: bool,
}

impl Scan<'_> {
    /// `scrub_field(key, value)` for this tenant, skipping the key analysis for plain keys.
    pub(crate) fn field<'v>(&mut self, key: &'static str, value: &'v str) -> Cow<'v, str> {
        if !self.keys.plain(self.scrubber, key) {
            self.view.scrub_field(key, value)
        } else if self.all_clean {
            Cow::Borrowed(value)
        } else {
            self.view.scrub(value)
        }
    }

    /// `scrub_field(key, value)` without deep-debug relaxation (for `error_message`).
    pub(crate) fn strict_field<'v>(&mut self, key: &'static str, value: &'v str) -> Cow<'v, str> {
        if !self.keys.plain(self.scrubber, key) {
            self.scrubber.scrub_field(key, value)
        } else if self.all_clean {
            Cow::Borrowed(value)
        } else {
            self.scrubber.scrub(value)
        }
    }

    /// Free text (the message).
    pub(crate) fn text<'v>(&self, value: &'v str) -> Cow<'v, str> {
        if self.message_clean {
            Cow::Borrowed(value)
        } else {
            self.view.scrub(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_written_as_json_strings_once_known_or_not() {
        let mut c = KeyCache::default();
        let keys: Vec<&'static str> = (0..40)
            .map(|i| &*format!("key{i}").leak())
            .chain(["k\"ey", "tab\there", "", "é\u{7f}"])
            .collect();
        for round in 0..3 {
            for key in &keys {
                let mut out = String::from("x");
                c.push_key(&mut out, key);
                let mut want = String::from("x");
                crate::json::push_str(&mut want, key);
                assert_eq!(out, want, "round {round}");
            }
        }
        assert!(c.escape_free.iter().all(|&(p, n)| {
            p == 0
                || keys
                    .iter()
                    .any(|k| k.as_ptr() as usize == p && k.len() == n && !k.contains(['"', '\t']))
        }));
    }

    #[test]
    fn classifies_by_behaviour() {
        let s = Scrubber::builder().build().unwrap();
        let mut c = KeyCache::default();
        assert!(c.plain(&s, "tenant_id"));
        assert!(c.plain(&s, "decision_reason"));
        assert!(!c.plain(&s, "password"));
        assert!(!c.plain(&s, "client_secret"));
        assert!(!c.plain(&s, "phone"));
        assert!(!c.plain(&s, "pass"));
        assert!(c.plain(&s, "tenant_id"));
    }

    #[test]
    fn the_stack_verdict_is_plain_for_each_scrubber() {
        let (a, b) = (
            Scrubber::builder().build().unwrap(),
            Scrubber::builder().build().unwrap(),
        );
        let mut c = KeyCache::default();
        for s in [&a, &b, &a, &a, &b] {
            assert_eq!(c.plain_stack(s), !s.is_secret_key("stack"));
            assert_eq!(c.plain_stack(s), c.plain(s, "stack"));
        }
    }

    #[test]
    fn recent_verdicts_agree_with_the_map_and_the_scrubber() {
        let s = Scrubber::builder().build().unwrap();
        let other = Scrubber::builder().build().unwrap();
        let keys: [&'static str; 25] = [
            "tenant_id",
            "password",
            "route",
            "client_secret",
            "step",
            "phone",
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "g",
            "h",
            "i",
            "j",
            "k",
            "l",
            "m",
            "n",
            "api_key",
            "note",
            "pass",
            "stack",
            "http.route",
        ];
        let mut c = KeyCache::default();
        // Three rounds, two scrubbers: more keys than recent entries, so entries are
        // replaced and the map answers again.
        for _ in 0..3 {
            for scrubber in [&s, &other] {
                for k in keys {
                    assert_eq!(c.plain(scrubber, k), scrubber.scrubs_as_text(k), "{k}");
                }
            }
        }
    }

    #[test]
    fn call_site_verdicts_are_the_set_verdicts() {
        let s = Scrubber::builder().build().unwrap();
        let other = Scrubber::builder().build().unwrap();
        let mut m = CleanMessages::default();
        // Sites that share a place and sites that do not, texts that change per call.
        let sites = [0x1000usize, 0x1000 + SITES * 8 * 4096, 0x2040, 0x2080];
        for round in 0..3 {
            for (i, site) in sites.iter().enumerate() {
                let text = format!("step {} finished", (i + round) % 3);
                let clean = m.is_clean_at(&s, *site, &text);
                assert_eq!(clean, round > 0 || i >= 3, "{round} {site:#x} {text}");
                if !clean {
                    m.remember_at(&s, *site, &text);
                }
                assert!(m.is_clean_at(&s, *site, &text));
                assert!(m.is_clean(&s, &text));
                // Another scrubber knows nothing yet.
                assert!(!m.is_clean_at(&other, *site, &text));
            }
        }
        // A text never remembered is never clean, whatever its site last kept.
        assert!(!m.is_clean_at(&s, sites[0], "password=hunter2"));
        // A new scrubber starts over: the sites' texts are forgotten with the set.
        m.remember_at(&other, sites[0], "x");
        assert!(!m.is_clean_at(&s, sites[0], "x"));
        assert!(!m.is_clean_at(&other, sites[1], "step 0 finished"));
        assert!(m.is_clean_at(&other, sites[0], "x"));
        // Too long to keep.
        let long = "a".repeat(MAX_MESSAGE_LEN + 1);
        m.remember_at(&other, sites[2], &long);
        assert!(!m.is_clean_at(&other, sites[2], &long));
    }

    #[test]
    fn number_verdicts_match_the_scrubber() {
        let s = Scrubber::builder().build().unwrap();
        let custom = Scrubber::builder()
            .with_rule(stella_scrub::rules::Rule::new("room", r"\b4242\b"))
            .build()
            .unwrap();
        let mut m = CleanMessages::default();
        for scrubber in [&s, &custom, &s] {
            // Twice: the second round answers from the table.
            for _ in 0..2 {
                for n in [
                    0u64,
                    7,
                    42,
                    4242,
                    16_383,
                    16_384,
                    4_111_111_111_111_111,
                    u64::MAX,
                ] {
                    let text = n.to_string();
                    assert_eq!(
                        m.number_is_clean(scrubber, n, &text),
                        scrubber.scrub(&text) == text,
                        "{n}"
                    );
                }
            }
        }
        assert!(!m.number_is_clean(&custom, 4242, "4242"));
        assert!(m.number_is_clean(&s, 4242, "4242"));
        assert!(!m.number_is_clean(&s, 4_111_111_111_111_111, "4111111111111111"));
    }
}

#[cfg(test)]
mod batch_properties {
    use proptest::prelude::*;
    use stella_scrub::Scrubber;

    /// Values that are redacted on their own, in many shapes.
    const SECRETS: &[&str] = &[
        "ghp_R3alLooking0Token1234567890abcdefABCD",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "AKIA2E0A8F3B244C9986",
        "carol.jones@example.com",
        "4111 1111 1111 1111",
        "4111111111111111",
        "203.0.113.77",
        "2001:db8:85a3::8a2e:370:7334",
        "8.8.8.8",
        "+1 415 555 0123",
        "078-05-1120",
        "/home/bob/.ssh/id_rsa",
        "password=Tr0ub4dor&3-horse",
        "Authorization: Basic dXNlcjpodW50ZXIyLXNlY3JldA==",
        "Bearer abcdef0123456789abcdef0123456789",
        "https://user:hunter2@example.com/x",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dcAb12",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    ];
    const WORDS: &[&str] = &[
        "", "ok", "token", "password", "=", ":", "key", "acme", "v1", "[", "(", "\"", "@", "/",
        "-", "user", "a b",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(SECRETS).prop_map(str::to_owned),
            proptest::sample::select(WORDS).prop_map(str::to_owned),
            (
                proptest::sample::select(WORDS),
                proptest::sample::select(SECRETS),
                proptest::sample::select(WORDS)
            )
                .prop_map(|(a, s, b)| format!("{a}{s}{b}")),
            "[ -~]{0,24}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The batch scan is sound: when the joined values come out unchanged, so does each one.
        #[test]
        fn clean_batch_means_clean_values(values in proptest::collection::vec(value(), 1..8)) {
            let s = Scrubber::builder().build().unwrap();
            let mut joined = String::new();
            for v in &values {
                joined.push_str(v);
                joined.push('\n');
            }
            if s.scrub(&joined) == joined {
                for v in &values {
                    prop_assert_eq!(s.scrub(v), v.as_str(), "{:?} is redacted alone but not in {:?}", v, joined);
                }
            }
        }
    }
}
