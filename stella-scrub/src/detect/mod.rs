//! The detection engine: one literal-anchor pass, one byte-class pass, validators in code.
//!
//! See `DESIGN.md` in the crate root for the shape of the pipeline and why it is fast.

mod email;
mod kv;
mod numeric;
mod path;
mod tokens;

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

use crate::error::BuildError;
use crate::keys;
use crate::kind::{Kind, PiiSet};
pub(crate) use kv::pii_shape;
pub(crate) use path::RepoRoots;

pub(crate) fn default_path_roots() -> Vec<String> {
    path::DEFAULT_PATH_ROOTS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// What a redaction is labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Kind(Kind),
    Custom(u16),
}

impl Label {
    fn priority(self) -> u8 {
        match self {
            Label::Kind(k) => k.priority(),
            Label::Custom(_) => 5,
        }
    }
}

/// One byte range to redact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) label: Label,
}

/// How private-range IP addresses are treated.
///
/// # Examples
///
/// ```
/// use stella_scrub::{PrivateIpPolicy, Scrubber};
/// let s = Scrubber::builder().with_private_ips(PrivateIpPolicy::Redact).build()?;
/// assert_eq!(s.scrub("from 10.1.2.3"), "from [REDACTED:ip]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PrivateIpPolicy {
    /// Keep RFC 1918, CGNAT, link-local and IPv6 unique-local addresses (the default): they
    /// name infrastructure, not people.
    #[default]
    Keep,
    /// Redact them like public addresses.
    Redact,
}

/// A compiled custom rule.
#[derive(Debug)]
pub(crate) struct CustomRule {
    pub(crate) regex: Regex,
    pub(crate) window: usize,
    pub(crate) anchored: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Token(u16),
    Special(Special),
    CustomAnchor(u16),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Special {
    Aws,
    AwsSession(u8),
    Pem,
    Putty,
    BareKey,
    Jwt,
    Bearer,
    Basic,
    Url,
    SlackWebhook,
    DiscordWebhook,
    TeamsWebhook,
    Flag,
    EncodedEq,
    EncodedAt,
    FileUrl,
    OpenAi,
    Sendgrid,
    DigitalOcean,
    AzureSecret,
    CurlUser,
    DashP,
    TerraformCloud,
    Mailchimp,
}

/// One packed (SIMD) searcher, or an automaton where packed search is not available.
#[derive(Debug)]
enum Searcher {
    Packed(packed::Searcher),
    Ac(AhoCorasick),
}

#[derive(Debug)]
struct AnchorSet {
    searcher: Searcher,
    actions: Vec<Action>,
    /// For a searcher of [`LongAnchors::Merged`]: per pattern, the report chunk it belongs to
    /// and its index in the catalogue (empty otherwise).
    origin: Vec<(u16, u16)>,
    /// How many bytes Teddy fingerprints: the shortest pattern's length, at most
    /// [`SLIM_FINGERPRINT`].
    fingerprint: usize,
}

impl AnchorSet {
    fn build(patterns: &[(String, Action)], slim: bool) -> Result<AnchorSet, BuildError> {
        let mut cfg = packed::Config::new();
        cfg.match_kind(packed::MatchKind::LeftmostFirst)
            .heuristic_pattern_limits(false);
        if slim {
            cfg.only_teddy_fat(Some(false));
        }
        let mut pb = cfg.builder();
        for (p, _) in patterns {
            pb.add(p.as_bytes());
        }
        let searcher = match pb.build() {
            Some(s) => Searcher::Packed(s),
            None => Searcher::Ac(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(patterns.iter().map(|(p, _)| p.as_bytes()))
                    .map_err(|e| BuildError::anchors(e.to_string()))?,
            ),
        };
        Ok(AnchorSet {
            searcher,
            actions: patterns.iter().map(|(_, a)| *a).collect(),
            origin: Vec::new(),
            fingerprint: patterns
                .iter()
                .map(|(p, _)| p.len())
                .min()
                .unwrap_or(1)
                .clamp(1, SLIM_FINGERPRINT),
        })
    }

    fn for_each(&self, hay: &[u8], mut f: impl FnMut(Action, usize, usize)) {
        match &self.searcher {
            Searcher::Packed(s) => {
                for m in s.find_iter(hay) {
                    if let Some(a) = self.actions.get(m.pattern().as_usize()) {
                        f(*a, m.start(), m.end());
                    }
                }
            }
            Searcher::Ac(ac) => {
                for m in ac.find_iter(hay) {
                    if let Some(a) = self.actions.get(m.pattern().as_usize()) {
                        f(*a, m.start(), m.end());
                    }
                }
            }
        }
    }

    /// Every byte where some pattern of the set starts a match, left to right, with the
    /// pattern that leftmost-first reports there (the search restarts one byte after each
    /// match's start, so matches may overlap): `f(pattern, start, end)`.
    fn for_each_start(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let mut at = 0;
        while at < hay.len() {
            let m = match &self.searcher {
                Searcher::Packed(s) => s
                    .find_in(hay, aho_corasick::Span::from(at..hay.len()))
                    .map(|m| (m.pattern().as_usize(), m.start(), m.end())),
                Searcher::Ac(ac) => ac
                    .try_find(aho_corasick::Input::new(hay).span(at..hay.len()))
                    .ok()
                    .flatten()
                    .map(|m| (m.pattern().as_usize(), m.start(), m.end())),
            };
            let Some((p, s, e)) = m else {
                return;
            };
            f(p, s, e);
            at = s + 1;
        }
    }

    fn memory_usage(&self) -> usize {
        match &self.searcher {
            Searcher::Packed(s) => s.memory_usage(),
            Searcher::Ac(a) => a.memory_usage(),
        }
    }
}

/// Engine settings decided at build time.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) private_ips: PrivateIpPolicy,
    pub(crate) roots: RepoRoots,
    pub(crate) path_roots: Vec<String>,
    /// The second bytes of `path_roots` and of the roots' first components (`/etc/`: `e`), one
    /// bit each: a `/` before any other byte starts no known root.
    root_seconds: [u64; 4],
}

impl Settings {
    pub(crate) fn new(
        private_ips: PrivateIpPolicy,
        roots: RepoRoots,
        path_roots: Vec<String>,
    ) -> Settings {
        let mut root_seconds = [0u64; 4];
        for r in path_roots.iter().chain(roots.first_components()) {
            if let Some(&c) = r.as_bytes().get(1)
                && let Some(w) = root_seconds.get_mut(usize::from(c >> 6))
            {
                *w |= 1 << (c & 63);
            }
        }
        Settings {
            private_ips,
            roots,
            path_roots,
            root_seconds,
        }
    }

    /// Can a known root start with `/` followed by `c`?
    #[inline]
    pub(crate) fn may_start_root(&self, c: u8) -> bool {
        self.root_seconds
            .get(usize::from(c >> 6))
            .is_some_and(|w| w >> (c & 63) & 1 != 0)
    }
}

/// The packed searchers of the anchors of four bytes or more.
///
/// The matches they report are defined by cutting these anchors, in catalogue order, into
/// runs of at most [`REPORT_CHUNK`] (the fewest runs, of even size) and searching each run
/// leftmost-first without overlaps: within a run, an anchor that starts inside another's match
/// is not reported; across runs it is. That is what one searcher per run reports
/// ([`LongAnchors::Plain`]). Fewer, larger searchers ([`CHUNK`] patterns; one Teddy scan less
/// over every line) report the same matches as [`LongAnchors::Merged`]: each searcher yields
/// every byte where one of its anchors starts (restarting one byte after each match), and the
/// matches of each run are then chosen from those as the run's own searcher would, and
/// dispatched run by run, in the same order as before. That holds where two anchors of which
/// one is a prefix of the other (the only anchors that can match at the same byte) never sit
/// in one searcher while belonging to different runs; `Engine::build` checks it and otherwise
/// builds one searcher per run.
#[derive(Debug)]
enum LongAnchors {
    /// One searcher per run.
    Plain(Vec<AnchorSet>),
    /// Larger searchers whose patterns carry their run and catalogue index.
    Merged(Vec<AnchorSet>),
}

impl LongAnchors {
    /// The matches in `hay`, in the order the runs' own searchers report them.
    fn for_each(&self, hay: &[u8], mut f: impl FnMut(Action, usize, usize)) {
        match self {
            LongAnchors::Plain(sets) => {
                for set in sets {
                    set.for_each(hay, &mut f);
                }
            }
            LongAnchors::Merged(sets) => {
                // (run, start, catalogue index, end, action) of every match start
                let mut found: Vec<(u16, usize, u16, usize, Action)> = Vec::new();
                for set in sets {
                    set.for_each_start(hay, |p, s, e| {
                        if let (Some(&(run, idx)), Some(&a)) =
                            (set.origin.get(p), set.actions.get(p))
                        {
                            found.push((run, s, idx, e, a));
                        }
                    });
                }
                // Each run as its own searcher: leftmost first (at one byte, the anchor that
                // comes first in the catalogue), no overlaps, the runs in catalogue order.
                found.sort_unstable_by_key(|&(run, s, idx, _, _)| (run, s, idx));
                let (mut run_now, mut resume) = (u16::MAX, 0);
                for (run, s, _, e, action) in found {
                    if run != run_now {
                        (run_now, resume) = (run, 0);
                    }
                    if s >= resume {
                        resume = e;
                        f(action, s, e);
                    }
                }
            }
        }
    }
}

/// The compiled engine.
#[derive(Debug)]
pub(crate) struct Engine {
    /// The anchors of four bytes or more.
    long: LongAnchors,
    /// The three-byte and two-byte anchors, one searcher per group.
    anchors: Vec<AnchorSet>,
    /// The first two bytes of every built-in anchor, as a 65 536-bit table: a short value (a
    /// JSON string, an attribute, a key) in which no two adjacent bytes start an anchor holds
    /// no anchor, and skips the set-up of every packed searcher (Rabin-Karp below Teddy's
    /// minimum length).
    anchor_pairs: PairTable,
    custom_anchors: Option<AnchorSet>,
    custom: Vec<CustomRule>,
    settings: Settings,
}

/// Which anchors can start at a byte pair: the first two bytes of every anchor (65 536 bits
/// each), split by whether the anchor is two bytes long, and the second and third bytes of the
/// longer ones.
#[derive(Debug)]
struct PairTable {
    /// Two-byte anchors.
    whole: Box<[u64; 1024]>,
    /// First two bytes of three-byte anchors.
    first3: Box<[u64; 1024]>,
    /// Second and third bytes of three-byte anchors.
    second3: Box<[u64; 1024]>,
    /// First two bytes of anchors of four bytes or more.
    first: Box<[u64; 1024]>,
    /// Second and third bytes of anchors of four bytes or more.
    second: Box<[u64; 1024]>,
    /// The first four bytes of anchors of four bytes or more, sorted: with many anchors the
    /// first three bytes alone pass too many ordinary words (`pat…`, `sec…`, `shi…`). Looked
    /// up only where the two pair tables pass.
    four: Vec<u32>,
    /// An anchor shorter than two bytes makes the table useless: `any` always says yes.
    always: bool,
}

#[inline(always)]
fn pair_bit(t: &[u64; 1024], a: u8, b: u8) -> bool {
    let x = usize::from(a) << 8 | usize::from(b);
    t.get(x >> 6).is_some_and(|w| w & (1 << (x & 63)) != 0)
}

fn set_pair(t: &mut [u64; 1024], a: u8, b: u8) {
    let x = usize::from(a) << 8 | usize::from(b);
    if let Some(w) = t.get_mut(x >> 6) {
        *w |= 1 << (x & 63);
    }
}

impl PairTable {
    fn new<'p>(patterns: impl Iterator<Item = &'p [u8]>) -> PairTable {
        let table = || Box::new([0u64; 1024]);
        let mut t = PairTable {
            whole: table(),
            first3: table(),
            second3: table(),
            first: table(),
            second: table(),
            four: Vec::new(),
            always: false,
        };
        for p in patterns {
            match p {
                [a, b] => set_pair(&mut t.whole, *a, *b),
                [a, b, c] => {
                    set_pair(&mut t.first3, *a, *b);
                    set_pair(&mut t.second3, *b, *c);
                }
                [a, b, c, d, ..] => {
                    set_pair(&mut t.first, *a, *b);
                    set_pair(&mut t.second, *b, *c);
                    t.four.push(u32::from_le_bytes([*a, *b, *c, *d]));
                }
                _ => t.always = true,
            }
        }
        t.four.sort_unstable();
        t.four.dedup();
        t
    }

    /// Could any pattern occur in `hay`? (No false negatives.)
    #[inline]
    fn any(&self, hay: &[u8]) -> bool {
        if self.always {
            return true;
        }
        hay.windows(2).enumerate().any(|(i, w)| {
            let &[a, b] = w else { return false };
            if pair_bit(&self.whole, a, b) {
                return true;
            }
            let c = || hay.get(i + 2).copied();
            (pair_bit(&self.first3, a, b) && c().is_some_and(|c| pair_bit(&self.second3, b, c)))
                || (pair_bit(&self.first, a, b)
                    && c().is_some_and(|c| {
                        pair_bit(&self.second, b, c)
                            && hay.get(i + 3).is_some_and(|d| {
                                self.four
                                    .binary_search(&u32::from_le_bytes([a, b, c, *d]))
                                    .is_ok()
                            })
                    }))
        })
    }

    fn memory_usage(&self) -> usize {
        5 * std::mem::size_of::<[u64; 1024]>() + self.four.capacity() * 4
    }
}

/// Values up to this length are checked for any anchor in one automaton pass first.
const SHORT_VALUE: usize = 256;

/// Buckets of a slim Teddy searcher.
const SLIM_BUCKETS: usize = 8;

/// The most bytes Teddy fingerprints (the first four of each pattern).
const SLIM_FINGERPRINT: usize = 4;

/// Zero bytes before the text in the padded copy the packed searchers read (see [`pad_into`]).
const PAD_BEFORE: usize = 2 + SLIM_FINGERPRINT;

/// Teddy's steps: 32 bytes with AVX2 (16 with SSSE3, which divides it).
const TEDDY_STEP: usize = 32;

/// The largest padded copy a thread keeps between calls: a value of the default input bound
/// with its padding.
const MAX_KEPT_PADDED: usize = crate::DEFAULT_MAX_INPUT_LEN + PAD_BEFORE + TEDDY_STEP + 3;

std::thread_local! {
    /// The padded copy of the text the packed searchers read, kept per thread (at most
    /// [`MAX_KEPT_PADDED`] bytes).
    static PADDED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Copies `text` into `buf` between zero bytes, so that Teddy checks every position of the text
/// on all the bytes it fingerprints. Teddy (fingerprint `n` bytes) starts by taking the `n - 1`
/// bytes before its first step as passing, and unless the haystack's length less those bytes is
/// a multiple of its step, it ends with an overlapping step that takes the `n - 1` bytes before
/// it as passing again: positions at the start of a line and before its last 32 bytes then
/// pass a bucket on one to three bytes and cost a verification of every pattern there. With
/// [`PAD_BEFORE`] zero bytes in front (a searcher of fingerprint `n` reads the copy from byte
/// `4 - n`), the weak positions at the start check zero bytes, which no bucket passes (no anchor
/// holds a byte below 0x20), and with zeros after the text up to a length of `3 + 32 k`, the
/// last step ends at the end. No anchor holds a zero byte, so no match touches the padding, and
/// the matches are those in the text, moved by the padding.
fn pad_into(buf: &mut Vec<u8>, text: &[u8]) {
    let end = PAD_BEFORE + text.len();
    let total =
        (end - (SLIM_FINGERPRINT - 1)).div_ceil(TEDDY_STEP) * TEDDY_STEP + (SLIM_FINGERPRINT - 1);
    // The bytes before `PAD_BEFORE` are never written but with zeros; the rest is the text
    // and zeros after it.
    buf.truncate(total);
    buf.resize(total, 0);
    if let Some(body) = buf.get_mut(PAD_BEFORE..end) {
        body.copy_from_slice(text);
    }
    if let Some(tail) = buf.get_mut(end..) {
        tail.fill(0);
    }
}

/// Packed searchers stay fast up to about this many patterns each (measured: 40-48 beat 64
/// before the patterns took a searched order; with it, three searchers of 55 four-byte-plus
/// anchors cost fewer instructions than four of 41).
const CHUNK: usize = 55;

/// The runs of the anchors of four bytes or more whose matches the engine reports (see
/// [`LongAnchors`]): at most this many anchors each.
const REPORT_CHUNK: usize = 48;

fn chunk_size() -> usize {
    std::env::var("STELLA_SCRUB_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CHUNK)
}

/// The patterns of one packed searcher in an order that puts similar fingerprints in the same
/// Teddy bucket, so that fewer positions of ordinary text pass a bucket's fingerprint: sorted,
/// cut into `buckets` runs of neighbours, and interleaved (Teddy gives the pattern with id `k`
/// bucket `buckets - 1 - k % buckets`). Only two patterns of which one is a prefix of the
/// other can match at the same byte, and leftmost-first then takes the earlier one: if the new
/// order turned such a pair round, the chunk keeps its own order. The matches reported are the
/// same in any order that keeps those pairs.
fn bucket_order(chunk: &[(String, Action)], buckets: usize) -> Vec<(String, Action)> {
    let mut sorted: Vec<&(String, Action)> = chunk.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let buckets = buckets.max(1);
    let per = chunk.len().div_ceil(buckets).max(1);
    let mut slots: Vec<(usize, &(String, Action))> = sorted
        .iter()
        .enumerate()
        .map(|(k, p)| ((k % per) * buckets + k / per, *p))
        .collect();
    slots.sort_by_key(|(id, _)| *id);
    let out: Vec<(String, Action)> = slots.into_iter().map(|(_, p)| p.clone()).collect();
    if keeps_prefix_pairs(chunk, &out) {
        out
    } else {
        chunk.to_vec()
    }
}

/// Does `out` keep every pair of `chunk` of which one is a prefix of the other in `chunk`'s
/// order? Only such a pair can match at the same byte, where leftmost-first takes the earlier.
fn keeps_prefix_pairs(chunk: &[(String, Action)], out: &[(String, Action)]) -> bool {
    let pos = |s: &str, v: &[(String, Action)]| v.iter().position(|(p, _)| p == s);
    chunk.iter().all(|(a, _)| {
        chunk.iter().all(|(b, _)| {
            a == b
                || !b.starts_with(a.as_str())
                || (pos(a, chunk) < pos(b, chunk)) == (pos(a, out) < pos(b, out))
        })
    })
}

/// The packed searchers of the anchors of four bytes or more: which anchors each takes, in
/// which order. Teddy puts the pattern with id `k` in bucket `7 - k % 8` (and a pattern whose
/// first four low nibbles repeat an earlier one's in that one's bucket), and a position of the
/// text costs a verification only where its four bytes pass some bucket's nibble masks: the
/// members and the order were chosen offline, by a local search over swaps within and across
/// searchers, to let as few positions of log lines through as it can (the bench lines and every
/// line of `tests/data`, counting the first three positions of a haystack and the three before
/// Teddy's overlapping last chunk, which it checks on fewer than four bytes). Neither changes a
/// match: the matches reported are those of the report runs ([`LongAnchors`]), and
/// [`fixed_order`] keeps every prefix pair in order.
///
/// A new anchor that no list names goes after the listed ones of the last searcher (and a test
/// fails until it is placed). After a catalogue change, `tools/teddy_order.py` searches the
/// members and order again (28 anchors added unsearched cost about 9 500 instructions per
/// clean line; searched, 310).
static FOUR_BYTE_SEARCHERS: &[&[&str]] = &[
    &[
        "-us8",
        "rk_test_",
        "secret_",
        "whsec_",
        "fm1a_",
        "api-",
        "ANPA",
        "hcxmk_",
        "_v1_",
        "sk_test_",
        "IQoJb3JpZ2lu",
        "secret-test-",
        "AKCp",
        "xai-",
        "APKA",
        "ico-",
        "-us5",
        "AQVN",
        "sntryu_",
        "access_token$production$",
        "shippo_live_",
        "key-",
        "fm1r_",
        "rk_live_",
        "ATCTT3",
        "EAAC",
        "xapp-",
        "duffel_live_",
        "pscale_pw_",
        "pscale_tkn_",
        "IBAAKCAQEA",
        "webhook.office.com/",
        "-us9",
        "sb_secret_",
        "access-production-",
        "shippo_test_",
        "CCIPAT_",
        "xkeysib-",
        "AKIA",
        "sdk-",
        "PuTTY-User-Key-File-",
        "APA91b",
        ".atlasv1.",
        "PRIVATE KEY",
        "AIza",
        "rubygems_",
        "ATBB",
        "cmVmdGtuOjAxOj",
        "-us6",
        "ya29.",
        "NRAK-",
        "access_token$sandbox$",
        "duffel_test_",
        "tvly-",
        "Bearer",
        "mob-",
        "API-",
        "EAAM",
        "access-development-",
        "bearer",
        "sntrys_",
        "ZXIvYXdz",
        "ABIA",
        "sk_live_",
        "ATATT3",
        "GR1348941",
        "pscale_oauth_",
        "access-sandbox-",
        "secret-live-",
        "fio-u-",
        "CFPAT-",
        "p8e-",
        "-us4",
        "AKID",
        "CLOJARS_",
        "sk.eyJ",
        "glsa_",
        "pul-",
        "PMAK-",
        "b3BlbnNzaC1rZXktdjE",
        "fo1_",
        "NRII-",
    ],
    &[
        "/api/webhooks/",
        "glc_",
        "phx_",
        "squ_",
        "tskey-",
        "1//0",
        "ANVA",
        "FLWSECK_TEST-",
        "pypi-Ag",
        "sha256~",
        "pat.",
        "sq0atp-",
        "tk-us-",
        "ASIA",
        "AIPA",
        " -p ",
        "dapi",
        "lin_oauth_",
        "npm_",
        "rnd_",
        "live_",
        "GOCSPX-",
        "EAAA",
        "HRKU-",
        "FLWSECK-",
        "sqa_",
        "LTAI",
        "bkua_",
        "dckr_pat_",
        "AROA",
        "EAACEdEose0cBA",
        " -u ",
        "dckr_oat_",
        "lsv2_",
        "sbp_",
        "sq0csp-",
        "lin_api_",
        "-us1",
        "EZTK",
        "vcp_",
        "Basic ",
        "aio_",
        "pat-na1-",
        "dt0c01.",
        "dnkey-",
        "NRJS-",
        "AIDA",
        "FLWPUBK_TEST-",
        "hcaik_",
        "api_org_",
        "nfp_",
        "hooks.slack.com/",
        "hcamk_",
        "-us3",
        "EZAK",
        "fm2_",
        "hcxik_",
        "ntn_",
        "pplx-",
        "github_pat_",
        "file:/",
        "-us2",
        "BADANBgkqhkiG9w0BAQEFAAS",
        "pnu_",
        "figd_",
        "ops_eyJ",
        "pdl_sdbx_apikey_",
        "pat-eu1-",
        "rdme_",
        "-us7",
        "AGPA",
        "tfp_",
        "napi_",
        "v1.0-",
        "sgp_",
        "sqp_",
        "nvapi-",
        "ACCA",
        "AAAAAAAAAAAAAAAAAAAAA",
        "AGE-SECRET-KEY-1",
        "pdl_live_apikey_",
        "gsk_",
    ],
];

/// The three-byte anchors in the order of their packed searcher, chosen like
/// [`FOUR_BYTE_SEARCHERS`] (Teddy checks three bytes here, and the first two and the last
/// positions of a haystack on fewer).
static THREE_BYTE_ORDER: &[&str] = &[
    "hf_", "'--", "SG.", "%40", "eyJ", "://", "sk-", "shp", "r8_", "\"--", "sl.", "%3d", "dp.",
    "oy2", " --", "%3D", "xox",
];

/// The patterns of one packed searcher in the order of `order` (a list of
/// [`FOUR_BYTE_SEARCHERS`] or
/// [`THREE_BYTE_ORDER`]); anchors it does not list (a catalogue change not yet placed) come
/// after the listed ones, in [`bucket_order`]'s order. Falls back to [`bucket_order`] if the
/// order would turn a prefix pair round.
fn fixed_order(chunk: &[(String, Action)], order: &[&str]) -> Vec<(String, Action)> {
    let base = bucket_order(chunk, SLIM_BUCKETS);
    let rank = |p: &str| order.iter().position(|q| *q == p).unwrap_or(usize::MAX);
    let mut out = base.clone();
    out.sort_by_key(|(p, _)| rank(p));
    if keeps_prefix_pairs(chunk, &out) {
        out
    } else {
        base
    }
}

/// The report runs of the anchors of four bytes or more (see [`LongAnchors`]): the fewest runs
/// of at most [`REPORT_CHUNK`] in catalogue order, of even size (80 anchors: 40 + 40, not
/// 48 + 32), as the run of each catalogue index.
fn report_run_size(four: &[(String, Action)]) -> usize {
    four.len()
        .div_ceil(four.len().div_ceil(REPORT_CHUNK).max(1))
        .max(1)
}

/// One packed searcher per report run: what [`long_anchors`] falls back to.
fn plain_long_anchors(four: &[(String, Action)]) -> Result<LongAnchors, BuildError> {
    let order: Vec<&str> = FOUR_BYTE_SEARCHERS.concat();
    let sets = four
        .chunks(report_run_size(four))
        .map(|chunk| AnchorSet::build(&fixed_order(chunk, &order), true))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LongAnchors::Plain(sets))
}

/// The searchers of the anchors of four bytes or more (`four` in catalogue order): one per
/// list of `searchers`, taking the anchors it lists in its order; an anchor no list names (a
/// catalogue change not yet placed) goes to the last. They report the matches of the report
/// runs ([`LongAnchors`]), or, where [`merge_keeps_runs`] says they cannot, one searcher per run
/// does.
fn long_anchors(
    four: &[(String, Action)],
    searchers: &[&[&str]],
) -> Result<LongAnchors, BuildError> {
    let report = report_run_size(four);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); searchers.len().max(1)];
    let last = groups.len() - 1;
    for (i, (p, _)) in four.iter().enumerate() {
        let g = searchers
            .iter()
            .position(|s| s.contains(&p.as_str()))
            .unwrap_or(last);
        if let Some(members) = groups.get_mut(g) {
            members.push(i);
        }
    }
    if !merge_keeps_runs(four, report, &groups) {
        return plain_long_anchors(four);
    }
    let mut sets = Vec::new();
    for (g, members) in groups.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let chunk: Vec<(String, Action)> = members
            .iter()
            .filter_map(|&i| four.get(i).cloned())
            .collect();
        let ordered = fixed_order(&chunk, searchers.get(g).copied().unwrap_or(&[]));
        let mut used = vec![false; chunk.len()];
        let mut origin = Vec::with_capacity(ordered.len());
        for (p, _) in &ordered {
            let Some(j) = (0..chunk.len()).find(|&j| {
                !used.get(j).copied().unwrap_or(true) && chunk.get(j).is_some_and(|(q, _)| q == p)
            }) else {
                return plain_long_anchors(four);
            };
            if let Some(u) = used.get_mut(j) {
                *u = true;
            }
            let idx = members.get(j).copied().unwrap_or(0);
            let (Ok(run), Ok(idx)) = (u16::try_from(idx / report), u16::try_from(idx)) else {
                return plain_long_anchors(four);
            };
            origin.push((run, idx));
        }
        let mut set = AnchorSet::build(&ordered, true)?;
        set.origin = origin;
        sets.push(set);
    }
    Ok(LongAnchors::Merged(sets))
}

/// Can searchers of the anchors `groups` (catalogue indices of `four`) report the matches of
/// runs of `report` (see [`LongAnchors`])? Only if no searcher holds two anchors of different
/// runs of which one is a prefix of the other: those are the only anchors that can match at the
/// same byte, where a searcher reports one of them.
fn merge_keeps_runs(four: &[(String, Action)], report: usize, groups: &[Vec<usize>]) -> bool {
    groups.iter().all(|members| {
        members.iter().all(|&i| {
            members.iter().all(|&j| {
                let (Some((a, _)), Some((b, _))) = (four.get(i), four.get(j)) else {
                    return false;
                };
                i == j || !b.starts_with(a.as_str()) || i / report == j / report
            })
        })
    })
}

/// Every built-in anchor literal and what to do at a hit.
fn builtin_anchors() -> Result<Vec<(String, Action)>, BuildError> {
    let mut pats: Vec<(String, Action)> = Vec::new();
    for (i, spec) in tokens::TOKEN_SPECS.iter().enumerate() {
        let idx = u16::try_from(i).map_err(|_| BuildError::anchors("too many token specs"))?;
        for a in spec.anchors {
            pats.push(((*a).to_owned(), Action::Token(idx)));
        }
    }
    for (lit, sp) in tokens::SPECIAL_ANCHORS {
        pats.push(((*lit).to_owned(), Action::Special(*sp)));
    }
    Ok(pats)
}

impl Engine {
    pub(crate) fn build(
        settings: Settings,
        custom: Vec<(CustomRule, Vec<String>)>,
    ) -> Result<Engine, BuildError> {
        let pats = builtin_anchors()?;

        // Shorter anchors first inside a chunk so that leftmost-first never hides a shorter
        // anchor that starts at the same byte; longer continuations are checked in code.
        // Teddy fingerprints the first min(4, shortest) bytes: anchors of four bytes or more,
        // three-byte and two-byte anchors get separate sets so that the short ones do not weaken
        // the fingerprints of the long ones.
        let anchor_pairs = PairTable::new(pats.iter().map(|(p, _)| p.as_bytes()));
        let (short, long): (Vec<_>, Vec<_>) = pats.into_iter().partition(|(p, _)| p.len() < 3);
        let (three, four): (Vec<_>, Vec<_>) = long.into_iter().partition(|(p, _)| p.len() < 4);
        let long = long_anchors(&four, FOUR_BYTE_SEARCHERS)?;
        let mut anchors = Vec::new();
        let limit = chunk_size().max(1);
        // The four-byte-plus anchors use slim Teddy (8 buckets, 32 bytes a step with AVX2) even
        // above 32 patterns, where the library would pick fat Teddy (16 buckets, 16 bytes a
        // step): with the patterns in a fixed order chosen for few candidates
        // ([`FOUR_BYTE_SEARCHERS`]), the slim searchers cost fewer instructions per line. The
        // shorter groups get slim Teddy anyway.
        let groups = [
            (&three, false, Some(THREE_BYTE_ORDER)),
            (&short, false, None),
        ];
        for (group, slim, order) in groups {
            // the fewest searchers of at most `limit` patterns, of even size (80 anchors: 40 + 40,
            // not 48 + 32)
            let n = group.len().div_ceil(limit).max(1);
            for chunk in group.chunks(group.len().div_ceil(n).max(1)) {
                let ordered = match order {
                    Some(order) => fixed_order(chunk, order),
                    None => bucket_order(chunk, SLIM_BUCKETS),
                };
                anchors.push(AnchorSet::build(&ordered, slim)?);
            }
        }
        let mut custom_pats = Vec::new();
        let mut rules = Vec::new();
        for (i, (rule, lits)) in custom.into_iter().enumerate() {
            let idx = u16::try_from(i).map_err(|_| BuildError::anchors("too many custom rules"))?;
            for l in lits {
                custom_pats.push((l, Action::CustomAnchor(idx)));
            }
            rules.push(rule);
        }
        let custom_anchors = if custom_pats.is_empty() {
            None
        } else {
            Some(AnchorSet::build(&custom_pats, false)?)
        };
        Ok(Engine {
            long,
            anchors,
            anchor_pairs,
            custom_anchors,
            custom: rules,
            settings,
        })
    }

    pub(crate) fn memory_usage(&self) -> usize {
        let (LongAnchors::Plain(long) | LongAnchors::Merged(long)) = &self.long;
        self.anchors
            .iter()
            .chain(long)
            .map(AnchorSet::memory_usage)
            .sum::<usize>()
            + self
                .custom_anchors
                .as_ref()
                .map_or(0, AnchorSet::memory_usage)
            + self.anchor_pairs.memory_usage()
    }

    /// The built-in anchors' searchers over `hay`, which holds the text from byte `off` on:
    /// `f(action, start, end)` for every match, at its place in the text, in the searchers'
    /// order. With a padded copy (`off == PAD_BEFORE`), each searcher reads it from where its
    /// first Teddy step ends on the copy's end (see [`pad_into`]).
    fn run_anchors(&self, hay: &[u8], off: usize, mut f: impl FnMut(Action, usize, usize)) {
        let skip = |n: usize| {
            if off == 0 {
                0
            } else {
                (SLIM_FINGERPRINT - n).min(off)
            }
        };
        let from = skip(SLIM_FINGERPRINT);
        let shift = off - from;
        // (no match starts in the padding: no anchor holds a zero byte)
        self.long
            .for_each(hay.get(from..).unwrap_or(hay), |action, s, e| {
                if let (Some(s), Some(e)) = (s.checked_sub(shift), e.checked_sub(shift)) {
                    f(action, s, e);
                }
            });
        for set in &self.anchors {
            let from = skip(set.fingerprint);
            let shift = off - from;
            set.for_each(hay.get(from..).unwrap_or(hay), |action, s, e| {
                if let (Some(s), Some(e)) = (s.checked_sub(shift), e.checked_sub(shift)) {
                    f(action, s, e);
                }
            });
        }
    }

    /// Finds every redaction in `text`, merged and sorted.
    pub(crate) fn detect(&self, text: &str, relaxed: PiiSet, hits: &mut Vec<Hit>) {
        let mut scan = Scan {
            text,
            b: text.as_bytes(),
            hits,
            settings: &self.settings,
            deferred_phones: Vec::new(),
            deferred_emails: Vec::new(),
        };
        if text.starts_with("--") {
            kv::at_flag(&mut scan, 0, 2);
        }
        // Short values: one table pass says whether any anchor can occur at all; only then do
        // the packed searchers run (same matches as without the check).
        if text.len() > SHORT_VALUE {
            // Long text: the packed searchers run over a padded copy (see `PADDED`), or over
            // the text itself where the copy is in use.
            // (`try_with`: a value scrubbed while the thread's locals are being destroyed is
            // searched in place, never a panic)
            let padded = PADDED
                .try_with(|cell| match cell.try_borrow_mut() {
                    Ok(mut buf) => {
                        pad_into(&mut buf, scan.b);
                        self.run_anchors(&buf, PAD_BEFORE, |a, s, e| scan.dispatch(a, s, e));
                        // A thread keeps the copy of a value up to the default input bound; the
                        // copy of a longer one (a raised bound) is given back at once.
                        if buf.capacity() > MAX_KEPT_PADDED {
                            *buf = Vec::new();
                        }
                        true
                    }
                    Err(_) => false,
                })
                .unwrap_or(false);
            if !padded {
                self.run_anchors(scan.b, 0, |a, s, e| scan.dispatch(a, s, e));
            }
        } else if self.anchor_pairs.any(scan.b) {
            self.run_anchors(scan.b, 0, |a, s, e| scan.dispatch(a, s, e));
        }
        if let Some(set) = &self.custom_anchors {
            set.for_each(scan.b, |action, s, e| {
                if let Action::CustomAnchor(i) = action {
                    scan.custom_window(&self.custom, i, s, e);
                }
            });
        }
        for (i, rule) in self.custom.iter().enumerate() {
            if !rule.anchored {
                for m in rule.regex.find_iter(text) {
                    if m.end() > m.start() {
                        scan.push(
                            m.start(),
                            m.end(),
                            Label::Custom(u16::try_from(i).unwrap_or(u16::MAX)),
                        );
                    }
                }
            }
        }
        scan.byte_classes();
        if !relaxed.is_empty() {
            scan.hits
                .retain(|h| !matches!(h.label, Label::Kind(k) if relaxed.relaxes(k)));
        }
        if !scan.deferred_emails.is_empty() && !relaxed.relaxes(Kind::Email) {
            scan.settle_deferred_emails();
        }
        if !scan.deferred_phones.is_empty() && !relaxed.relaxes(Kind::Phone) {
            scan.settle_deferred();
        }
        merge(scan.hits);
    }
}

/// Sorts and merges overlapping hits; the merged hit takes the higher-priority label.
fn merge(hits: &mut Vec<Hit>) {
    if hits.len() < 2 {
        return;
    }
    hits.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits.drain(..) {
        match out.last_mut() {
            Some(last) if h.start < last.end => {
                if h.end > last.end {
                    last.end = h.end;
                }
                if h.label.priority() > last.label.priority() {
                    last.label = h.label;
                }
            }
            _ => out.push(h),
        }
    }
    *hits = out;
}

/// Per-call scanning state.
pub(crate) struct Scan<'t, 'h> {
    pub(crate) text: &'t str,
    pub(crate) b: &'t [u8],
    pub(crate) hits: &'h mut Vec<Hit>,
    pub(crate) settings: &'h Settings,
    /// Candidates whose decision depends on redactions found after them (see
    /// [`numeric::DeferredPhone`]), settled once every hit of the pass is known.
    pub(crate) deferred_phones: Vec<numeric::DeferredPhone>,
    /// Addresses rejected on their domain at `@` (position, length of the `@` or `%40`, end
    /// of the domain walk), decided again once every hit of the pass is known.
    pub(crate) deferred_emails: Vec<(usize, usize, usize)>,
}

impl Scan<'_, '_> {
    /// Decides the deferred addresses as the next pass will see them: where a later redaction
    /// starts inside the walked domain, the next pass sees a marker there, which ends the
    /// domain; the `@` is looked at again with every hit known.
    fn settle_deferred_emails(&mut self) {
        let deferred = std::mem::take(&mut self.deferred_emails);
        for (a, at_len, walked) in deferred {
            if self
                .hits
                .iter()
                .any(|h| h.start > a + at_len && h.start <= walked)
            {
                email::at_sign(self, a, at_len);
            }
        }
        self.deferred_emails.clear();
    }

    /// Decides the deferred candidates as the next pass will see them: a `+` phone number
    /// whose last group is glued to a word is redacted up to a later redaction that starts
    /// between its groups (`+5552 47552 [REDACTED:email]` on the next pass). Hits that touch
    /// the number itself leave it rejected.
    fn settle_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred_phones);
        for d in deferred {
            let prev_end = d.prev_end();
            if self
                .hits
                .iter()
                .any(|h| h.start <= prev_end && h.end >= d.start())
            {
                continue;
            }
            let Some(r) = self
                .hits
                .iter()
                .filter(|h| h.start > prev_end)
                .map(|h| h.start)
                .min()
            else {
                continue;
            };
            if let Some(end) = d.end_before(r) {
                self.push_kind(d.start(), end, Kind::Phone);
            }
        }
    }

    #[inline]
    pub(crate) fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// Byte before `i` (0 at the start).
    #[inline]
    pub(crate) fn before(&self, i: usize) -> u8 {
        if i == 0 { 0 } else { self.at(i - 1) }
    }

    /// The end of a redaction found so far in this pass that covers `p`: those bytes become a
    /// marker, so a scan that steps over markers steps over them too.
    #[inline]
    pub(crate) fn redaction_end_at(&self, p: usize) -> Option<usize> {
        self.hits
            .iter()
            .filter(|h| h.start <= p && p < h.end)
            .map(|h| h.end)
            .max()
    }

    /// The furthest end, at most `to`, of the redactions found so far that reach into
    /// `from..to` (`from` when none does): the next pass sees a marker up to there. A
    /// redaction that runs past `to` gives `to`.
    #[inline]
    pub(crate) fn redactions_reaching(&self, from: usize, to: usize) -> usize {
        self.hits
            .iter()
            .filter(|h| h.start < to && h.end > from)
            .map(|h| h.end.min(to))
            .max()
            .unwrap_or(from)
    }

    /// Is `pos` inside a JSON string (an odd number of unescaped quotes before it), counting
    /// only quotes that the next pass will still see: bytes a redaction found so far covers
    /// become a marker, which holds no quote and escapes nothing.
    pub(crate) fn inside_json_string(&self, pos: usize) -> bool {
        let mut covered: Vec<(usize, usize)> = self
            .hits
            .iter()
            .filter(|h| h.start < pos)
            .map(|h| (h.start, h.end))
            .collect();
        if covered.is_empty() {
            return crate::scrubber::inside_json_string(self.text, pos);
        }
        covered.sort_unstable();
        let mut state = (false, false);
        let (mut i, mut r) = (0, 0);
        let end = pos.min(self.b.len());
        while i < end {
            while covered.get(r).is_some_and(|&(_, e)| e <= i) {
                r += 1;
            }
            if let Some(&(s, e)) = covered.get(r)
                && s <= i
            {
                i = e;
                state.1 = false;
                continue;
            }
            state = crate::scrubber::quote_step(state, self.at(i));
            i += 1;
        }
        state.0
    }

    /// Byte before `i` as the next pass will see it: `]` (the end of a marker) where a
    /// redaction found so far ends at `i`, else the byte itself. A boundary decided from the
    /// byte a redaction replaces would be decided the other way on a second pass.
    #[inline]
    pub(crate) fn before_redacted(&self, i: usize) -> u8 {
        if i > 0 && self.hits.iter().any(|h| h.end == i) {
            b']'
        } else {
            self.before(i)
        }
    }

    /// The end (after the `]`) of a complete `[REDACTED…]` or `[TRUNCATED…]` marker that opens
    /// at `p`. An unclosed `[REDACTED` is text, not a marker: no pass replaces it, so treating
    /// it as one would make decisions that a later redaction nearby changes.
    #[inline]
    pub(crate) fn marker_end(&self, p: usize) -> Option<usize> {
        if self.at(p) != b'[' {
            return None;
        }
        let rest = self.b.get(p..)?;
        if !(rest.starts_with(b"[REDACTED") || rest.starts_with(b"[TRUNCATED")) {
            return None;
        }
        let close = rest
            .iter()
            .take(64)
            .skip(1)
            .position(|c| matches!(c, b']' | b'[' | b'\n' | b'\r'))?;
        (rest.get(close + 1) == Some(&b']')).then_some(p + close + 2)
    }

    /// Is `i` strictly inside a complete `[REDACTED…]` or `[TRUNCATED…]` marker?
    fn inside_marker(&self, i: usize) -> bool {
        let lo = i.saturating_sub(64);
        let Some(window) = self.b.get(lo..i) else {
            return false;
        };
        let Some(open) = window.iter().rposition(|c| *c == b'[') else {
            return false;
        };
        self.marker_end(lo + open).is_some_and(|e| i < e)
    }

    /// Does a `[REDACTED…]` or `[TRUNCATED…]` marker end right before `i`?
    pub(crate) fn ends_marker(&self, i: usize) -> bool {
        i > 0 && self.before(i) == b']' && self.inside_marker(i - 1)
    }

    /// Is `i` the `u` of a `\uXXXX` escape (four hex digits after it)?
    fn unicode_escape_at(&self, i: usize) -> bool {
        self.at(i) == b'u'
            && self
                .b
                .get(i + 1..i + 5)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    }

    /// Number of backslashes right before `i`.
    fn backslashes_before(&self, i: usize) -> usize {
        let mut n = 0;
        while n < i && self.at(i - 1 - n) == b'\\' {
            n += 1;
        }
        n
    }

    pub(crate) fn push(&mut self, mut start: usize, mut end: usize, label: Label) {
        // Never split an escape sequence (`\n`, `\"`, `\u00e9`): JSON lines stay valid. A `\u`
        // is one only with its four hex digits (`\uPw=` in a path is text, and cutting the path
        // before it would leave a key for the next pass to find: idempotency).
        if !self.backslashes_before(start).is_multiple_of(2) {
            start += if self.unicode_escape_at(start) { 5 } else { 1 };
        }
        if end > start && !self.backslashes_before(end).is_multiple_of(2) {
            end -= 1;
        }
        let lo = end.saturating_sub(5).max(start);
        if let Some(u) = (lo..end).rev().find(|&j| {
            self.at(j) == b'\\'
                && self.unicode_escape_at(j + 1)
                && self.backslashes_before(j).is_multiple_of(2)
        }) && u + 6 > end
        {
            end = u;
        }
        // Never start inside an existing marker (`[REDACTED:kind]`), and never cut one in two.
        if self.inside_marker(start) {
            return;
        }
        if end > start && self.inside_marker(end) {
            // stop in front of the marker
            let lo = end.saturating_sub(64);
            if let Some(open) = self
                .b
                .get(lo..end)
                .and_then(|w| w.iter().rposition(|c| *c == b'['))
            {
                end = lo + open;
            }
        }
        // A token glued to an existing marker (`…=[REDACTED:email]`): the marker replaced text
        // that belonged to the token on the first pass, where the whole was not a match; the
        // rest alone must not become one on a second pass (idempotency).
        if end > start
            && self
                .b
                .get(end..)
                .is_some_and(|t| t.starts_with(b"[REDACTED"))
            && self.marker_end(end).is_some()
            && (self.before(end).is_ascii_alphanumeric()
                || matches!(
                    self.before(end),
                    b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b'~'
                ))
        {
            return;
        }
        if start < end
            && end <= self.b.len()
            && self.text.is_char_boundary(start)
            && self.text.is_char_boundary(end)
        {
            // Idempotency: never redact a span that is only an existing marker.
            if let Some(s) = self.text.get(start..end)
                && is_placeholder(s)
            {
                return;
            }
            self.hits.push(Hit { start, end, label });
        }
    }

    pub(crate) fn push_kind(&mut self, start: usize, end: usize, kind: Kind) {
        self.push(start, end, Label::Kind(kind));
    }

    fn dispatch(&mut self, action: Action, s: usize, e: usize) {
        match action {
            Action::Token(i) => tokens::token(self, usize::from(i), s, e),
            Action::Special(sp) => tokens::special(self, sp, s, e),
            Action::CustomAnchor(_) => {}
        }
    }

    fn custom_window(&mut self, rules: &[CustomRule], i: u16, s: usize, e: usize) {
        let Some(rule) = rules.get(usize::from(i)) else {
            return;
        };
        let mut ws = s.saturating_sub(rule.window);
        while ws > 0 && !self.text.is_char_boundary(ws) {
            ws -= 1;
        }
        let mut we = e.saturating_add(rule.window).min(self.b.len());
        while we < self.b.len() && !self.text.is_char_boundary(we) {
            we += 1;
        }
        let Some(window) = self.text.get(ws..we) else {
            return;
        };
        let found: Vec<(usize, usize)> = rule
            .regex
            .find_iter(window)
            .filter(|m| m.end() > m.start())
            .map(|m| (ws + m.start(), ws + m.end()))
            .collect();
        for (a, b) in found {
            self.push(a, b, Label::Custom(i));
        }
    }

    /// The byte-class pass: digits that start a word, `@`, `\\`, `/`, `=`, `:` and `>`, found
    /// a block of 64 bytes at a time (a loop the compiler turns into vector code), then handled
    /// in order.
    fn byte_classes(&mut self) {
        let b = self.b;
        let mut pos = 0usize; // bytes before `pos` were consumed by a numeric word
        let mut copy = [0u8; BLOCK + 1];
        let mut base = 0usize;
        while base < b.len() {
            let end = (base + BLOCK).min(b.len());
            let Some(block) = b.get(base..end) else {
                break;
            };
            // A full block after the first is read in place, with the byte before it.
            let in_place = base
                .checked_sub(1)
                .and_then(|lo| b.get(lo..end))
                .and_then(|w| <&[u8; BLOCK + 1]>::try_from(w).ok());
            let before = || if base == 0 { 0 } else { self.at(base - 1) };
            let mut mask = if in_place.is_none() && block.len() <= SHORT_BLOCK {
                // a short value (most JSON strings) or a short tail: byte by byte
                short_mask(before(), block)
            } else {
                // The window: the byte before the block, then the block. The first and a short
                // last block are copied (with a zero before the text and zeros after it, as
                // `at` reads them).
                let win: &[u8; BLOCK + 1] = match in_place {
                    Some(w) => w,
                    None => {
                        let before = before();
                        let (prev, cur) = copy.split_at_mut(1);
                        if let Some(p) = prev.first_mut() {
                            *p = before;
                        }
                        cur.fill(0);
                        if let Some(head) = cur.get_mut(..block.len()) {
                            head.copy_from_slice(block);
                        }
                        &copy
                    }
                };
                let masks = block_mask(win);
                // Digit runs whose surroundings already rule every numeric pattern out are
                // dropped here, from the window, before the per-byte dispatch.
                let mut runs = masks.flagged & masks.digits;
                let mut mask = masks.flagged;
                while runs != 0 {
                    let s = runs.trailing_zeros();
                    runs &= runs - 1;
                    let n = (!(masks.digits >> s)).trailing_zeros() as usize;
                    if numeric::digit_run_skipped(win, &masks, s as usize + 1, n) {
                        mask &= !(1 << s);
                    }
                }
                mask
            };
            while mask != 0 {
                let i = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if i >= pos {
                    pos = self.on_byte(i, pos);
                }
            }
            base = end;
        }
    }

    #[inline]
    fn on_byte(&mut self, i: usize, pos: usize) -> usize {
        match self.at(i) {
            b'0'..=b'9' => numeric::at_digit(self, i, pos),
            b'@' => {
                email::at_sign(self, i, 1);
                pos
            }
            b'\\' => path::at_backslash(self, i),
            b'/' => {
                // the first checks of `at_slash`, inline: most slashes start no known root,
                // and inside a path a `/` follows a letter or digit, which is no boundary
                if self.settings.may_start_root(self.at(i + 1))
                    && !self.before(i).is_ascii_alphanumeric()
                {
                    path::at_slash(self, i);
                }
                pos
            }
            b'=' | b':' => {
                if self.separator_may_match(i) {
                    kv::at_separator(self, i, 1);
                }
                pos
            }
            b'>' => {
                kv::at_separator(self, i, 1);
                pos
            }
            _ => pos,
        }
    }

    /// The first checks of [`kv::at_separator`] for `=` and `:`, inline: most separators in a
    /// log line (every JSON key) end a key whose last bytes cannot name a secret. True when
    /// `at_separator` may find something; false only where it would return without a hit
    /// (a test holds the two together).
    #[inline(always)]
    fn separator_may_match(&self, p: usize) -> bool {
        // The JSON shape `"abc":` with an ASCII ending of three key bytes (no digit last, no
        // `pw`): the steps below reduce to the ending table and the key check, so run them at
        // once. The value is not looked at: where it opens an array or object the steps below
        // say no as well, and a yes only costs a call. A key of two ASCII key bytes (`"ts":`)
        // is walked back by `at_separator`, whose tail check lets only `pw` (any case) through.
        if let Some(&[a, b, c, b'"']) = self.b.get(p.wrapping_sub(4)..p)
            && ascii_key_char(b)
            && ascii_key_char(c)
            && (ascii_key_char(a) || !kv_key_char(a))
        {
            let pw = b | 0x20 == b'p' && c | 0x20 == b'w';
            if !ascii_key_char(a) {
                return pw;
            }
            if c.is_ascii_digit() || pw {
                return self.separator_walk(p);
            }
            // The walk below would stop at the `"` with the same three bytes: a miss in the
            // table (or, for `_id` and `ion`, in the two bytes before) is the answer, and a hit
            // goes to the key check at once.
            if !keys::ending_in_table(a, b, c)
                || !keys::fourth_may_be_secret(
                    self.before(p.saturating_sub(5)),
                    self.before(p - 4),
                    a,
                    b,
                    c,
                )
            {
                return false;
            }
            let k_end = p - 1;
            return keys::tail_may_be_secret(
                self.b.get(k_end.saturating_sub(16)..k_end).unwrap_or(&[]),
            );
        }
        self.separator_walk(p)
    }

    /// The rest of [`Self::separator_may_match`]: the walk back over spaces and quotes to the
    /// key, then the same checks on its last bytes.
    #[inline(always)]
    fn separator_walk(&self, p: usize) -> bool {
        let mut k_end = p;
        let mut n = 0;
        while n < 4 && k_end > 0 && matches!(self.before(k_end), b' ' | b'\t') {
            k_end -= 1;
            n += 1;
        }
        let mut q = 0;
        while q < 8 && k_end > 0 && matches!(self.before(k_end), b'"' | b'\'' | b'\\' | b'`') {
            k_end -= 1;
            q += 1;
        }
        if q > 0 {
            let mut v = p + 1;
            while matches!(self.at(v), b' ' | b'\t') && v - p < 8 {
                v += 1;
            }
            if matches!(self.at(v), b'[' | b'{') {
                return false;
            }
        }
        if k_end < 3 {
            return k_end > 0;
        }
        let (a, b, c) = (self.at(k_end - 3), self.at(k_end - 2), self.at(k_end - 1));
        if !kv_key_char(c) {
            return false;
        }
        if c.is_ascii_digit() && (!kv_key_char(b) || (b.is_ascii_digit() && !kv_key_char(a))) {
            // a key of one or two digits (`10:01:18`): `at_separator` looks up only digits
            return false;
        }
        if !kv_key_char(a) || !kv_key_char(b) || (b | 0x20 == b'p' && c | 0x20 == b'w') {
            return true; // a short key or a `pw` ending: `at_separator` walks the key back
        }
        // The ending table first, in place: for an ASCII ending without a trailing digit a
        // miss is the gate's answer.
        if (a | b | c) < 0x80
            && !c.is_ascii_digit()
            && (!keys::ending_in_table(a, b, c)
                || !keys::fourth_may_be_secret(
                    self.before(k_end.saturating_sub(4)),
                    self.before(k_end - 3),
                    a,
                    b,
                    c,
                ))
        {
            return false;
        }
        if c.is_ascii_digit() && (a | b) < 0x80 && !keys::ending_in_table(a, b, c) {
            // A digit ending (`T10`, `sha256`) whose three bytes miss the table: the tail check
            // looks past the digits and one `-`, `_` or `.` before them; decide that here
            // when the three bytes there are ASCII, the last no digit and no `pw` ending.
            let lo = k_end.saturating_sub(16);
            let mut e = k_end;
            while e > lo && self.at(e - 1).is_ascii_digit() {
                e -= 1;
            }
            if e == lo {
                return false; // only digits: nothing to look past
            }
            if matches!(self.at(e - 1), b'-' | b'_' | b'.') {
                e -= 1;
            }
            if e >= lo + 3 {
                let (x, y, z) = (self.at(e - 3), self.at(e - 2), self.at(e - 1));
                let pw = y | 0x20 == b'p' && z | 0x20 == b'w';
                if (x | y | z) < 0x80
                    && !z.is_ascii_digit()
                    && !pw
                    && !keys::ending_in_table(x, y, z)
                {
                    return false;
                }
            }
        }
        keys::tail_may_be_secret(self.b.get(k_end.saturating_sub(16)..k_end).unwrap_or(&[]))
    }
}

/// The ASCII bytes of [`kv_key_char`]: letters, digits, `_`, `-` and `.`.
static ASCII_KEY_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
        c += 1;
    }
    t
};

#[inline(always)]
fn ascii_key_char(c: u8) -> bool {
    ASCII_KEY_CHAR[usize::from(c)]
}

/// A byte that can be part of a key for [`kv::at_separator`].
#[inline(always)]
fn kv_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') || c >= 0x80
}

/// Bytes per block of the byte-class pass.
const BLOCK: usize = 64;

/// Blocks up to this length are classified byte by byte ([`short_mask`]).
const SHORT_BLOCK: usize = 16;

/// Does the byte-class pass handle byte `c`, after byte `p`? Digits after a byte that is not an
/// ASCII letter or digit, `/ \\`, and the run `: ; < = > ? @` right after the digits (one range
/// test instead of five compares; `;`, `<` and `?` start nothing, and the dispatch passes them
/// over). Branch-free, so [`block_mask`] vectorises.
#[inline(always)]
fn flagged(p: u8, c: u8) -> bool {
    let x = c.wrapping_sub(b'0');
    let digit = x < 10;
    let prev_word = (p.wrapping_sub(b'0') < 10) | ((p | 0x20).wrapping_sub(b'a') < 26);
    ((x < 17) & !(digit & prev_word)) | (c == b'/') | (c == b'\\')
}

/// Masks over a block of the byte-class pass, one bit per byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockMasks {
    /// The [`flagged`] bytes.
    pub(crate) flagged: u64,
    /// The ASCII digits.
    pub(crate) digits: u64,
    /// The dots.
    pub(crate) dots: u64,
}

/// The [`flagged`] bytes, the digits and the dots of a block: `win[0]` is the byte before the block,
/// `win[1..]` the block. On x86-64, SSE2 (part of the baseline, so no runtime detection):
/// [`vector::block_mask`] computes [`flagged`] sixteen lanes at a time and gathers the lanes'
/// top bits with `pmovmskb`; elsewhere, [`block_mask_portable`].
#[inline(always)]
fn block_mask(win: &[u8; BLOCK + 1]) -> BlockMasks {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        vector::block_mask(win)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        block_mask_portable(win)
    }
}

/// [`block_mask`] without intrinsics: the first loop compiles to vector code; the second
/// gathers one flag byte per bit, eight at a time (bit 0 the flag, bit 1 the digit, bit 2 the
/// dot).
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2"),
    allow(
        dead_code,
        reason = "the reference the vector version is tested against"
    )
)]
#[inline(always)]
fn block_mask_portable(win: &[u8; BLOCK + 1]) -> BlockMasks {
    let mut flags = [0u8; BLOCK];
    let (_, cur) = win.split_at(1);
    let (prev, _) = win.split_at(BLOCK);
    for ((f, &c), &p) in flags.iter_mut().zip(cur).zip(prev) {
        *f = u8::from(flagged(p, c)) | u8::from(c.is_ascii_digit()) << 1 | u8::from(c == b'.') << 2;
    }
    let mut masks = BlockMasks {
        flagged: 0,
        digits: 0,
        dots: 0,
    };
    for (k, w) in flags.chunks_exact(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(w);
        let bytes = u64::from_le_bytes(bytes);
        // one 0/1 byte per flag: the multiply moves byte i's low bit to bit 56 + i, with no
        // carries between the partial products
        let gather = |x: u64| (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        masks.flagged |= gather(bytes & 0x0101_0101_0101_0101);
        masks.digits |= gather(bytes >> 1 & 0x0101_0101_0101_0101);
        masks.dots |= gather(bytes >> 2 & 0x0101_0101_0101_0101);
    }
    masks
}

/// The byte-class predicate in SSE2 through `safe_arch`'s safe wrappers (the crate itself
/// stays free of `unsafe`). SSE2 has no unsigned byte compare: `c - lo < n` (unsigned) is
/// `c + (0x80 - lo) < 0x80 + n` as signed bytes, one add and one `pcmpgtb`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod vector {
    use safe_arch::{
        add_i8_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i,
        load_unaligned_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };

    use super::{BLOCK, BlockMasks};

    /// A vector of sixteen copies of `c`.
    #[inline(always)]
    fn splat(c: u8) -> m128i {
        set_splat_i8_m128i(i8::from_ne_bytes([c]))
    }

    /// `x` moved so that signed compares order it as `x - lo` unsigned.
    #[inline(always)]
    fn biased(x: m128i, lo: u8) -> m128i {
        add_i8_m128i(x, splat(0x80u8.wrapping_sub(lo)))
    }

    /// All ones in the lanes where `x - lo < n` (unsigned), given `biased(x, lo)`; `n < 128`.
    #[inline(always)]
    fn below(b: m128i, n: u8) -> m128i {
        cmp_gt_mask_i8_m128i(splat(0x80 | n), b)
    }

    /// Sixteen bytes of `win` from `at` (zeros past its end, which no caller reaches).
    #[inline(always)]
    fn load(win: &[u8; BLOCK + 1], at: usize) -> m128i {
        let mut lanes = [0u8; 16];
        if let Some(s) = win.get(at..at + 16) {
            lanes.copy_from_slice(s);
        }
        load_unaligned_m128i(&lanes)
    }

    /// The sixteen lanes' top bits.
    #[inline(always)]
    fn bits(lanes: m128i) -> u64 {
        u64::from(move_mask_i8_m128i(lanes).cast_unsigned() & 0xffff)
    }

    /// [`super::block_mask`]: four vectors of sixteen lanes, one `pmovmskb` per class each.
    /// The classes are taken of each byte alone; "after a letter or digit" is then the word
    /// mask shifted by one bit, so the bytes before are never loaded.
    #[inline(always)]
    pub(super) fn block_mask(win: &[u8; BLOCK + 1]) -> BlockMasks {
        let (mut digits, mut words, mut classes, mut dots) = (0u64, 0u64, 0u64, 0u64);
        for k in 0..BLOCK / 16 {
            let c = load(win, 16 * k + 1);
            let x = biased(c, b'0');
            let digit = below(x, 10);
            let letter = below(biased(bitor_m128i(c, splat(0x20)), b'a'), 26);
            // `0`…`@`, `/` and `\`
            let class = bitor_m128i(
                below(x, 17),
                bitor_m128i(
                    cmp_eq_mask_i8_m128i(c, splat(b'/')),
                    cmp_eq_mask_i8_m128i(c, splat(b'\\')),
                ),
            );
            digits |= bits(digit) << (16 * k);
            words |= bits(bitor_m128i(digit, letter)) << (16 * k);
            classes |= bits(class) << (16 * k);
            dots |= bits(cmp_eq_mask_i8_m128i(c, splat(b'.'))) << (16 * k);
        }
        let before = win.first().copied().unwrap_or(0);
        let before_word = before.is_ascii_digit() || (before | 0x20).wrapping_sub(b'a') < 26;
        let after_word = words << 1 | u64::from(before_word);
        BlockMasks {
            flagged: classes & !(digits & after_word),
            digits,
            dots,
        }
    }
}

/// [`block_mask`] for a block of at most 64 bytes, byte by byte; `before` is the byte before it.
#[inline]
fn short_mask(before: u8, block: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut p = before;
    for (k, &c) in block.iter().enumerate().take(64) {
        mask |= u64::from(flagged(p, c)) << k;
        p = c;
    }
    mask
}

/// True for text that is already a redaction marker or a template placeholder, which scrubbing
/// leaves alone (idempotency).
pub(crate) fn is_placeholder(v: &str) -> bool {
    let t = v.trim_matches(|c: char| c == '"' || c == '\'' || c == '\\' || c.is_whitespace());
    if t.is_empty() {
        return true;
    }
    if t.starts_with("[REDACTED") || t.starts_with("[TRUNCATED") || t.starts_with("REDACTED") {
        return true;
    }
    let bytes = t.as_bytes();
    if bytes.iter().all(|&c| {
        c == b'*' || c == b'x' || c == b'X' || c == b'.' || c == b'#' || c == b'-' || c == b'\xe2'
    }) && t.len() >= 3
        && !t.bytes().all(|c| c == b'.' || c == b'-')
    {
        return true; // ***, xxxx, ••• handled below
    }
    if t.chars().all(|c| c == '•' || c == '*') {
        return true;
    }
    let first = bytes.first().copied().unwrap_or(0);
    let last = bytes.last().copied().unwrap_or(0);
    // {password}, {{ .Token }}, ${TOKEN}, $TOKEN, %(password)s, <redacted>, <password>, %s
    // (`%(name)s` only whole: a value that merely starts with `%(` and ends with `s` is not one,
    // and a redaction inside it would make it one on the next pass)
    if (first == b'{' && last == b'}')
        || (first == b'<' && last == b'>' && t.len() < 64 && !t.contains(' '))
    {
        return true;
    }
    // `${…}`, `$(…)`, or a whole `$NAME`: a value that only starts like a variable (`$B:\x`)
    // is not one, and a redaction inside it must not turn it into a value (idempotency).
    if first == b'$'
        && (bytes.get(1).is_some_and(|c| *c == b'{' || *c == b'(')
            || (bytes
                .get(1)
                .is_some_and(|c| c.is_ascii_uppercase() || *c == b'_')
                && bytes
                    .get(1..)
                    .is_some_and(|r| r.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_'))))
    {
        return true;
    }
    if first == b'%'
        && (t == "%s"
            || t == "%v"
            || t == "%q"
            || t == "%d"
            || (bytes.get(1) == Some(&b'(')
                && bytes.len() > 4
                && bytes.ends_with(b")s")
                && bytes
                    .get(2..bytes.len() - 2)
                    .is_some_and(|n| n.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_'))))
    {
        return true;
    }
    matches!(
        t.to_ascii_lowercase().as_str(),
        "redacted"
            | "[redacted]"
            | "[filtered]"
            | "filtered"
            | "[hidden]"
            | "hidden"
            | "masked"
            | "[masked]"
            | "<hidden>"
            | "null"
            | "nil"
            | "none"
            | "undefined"
            | "true"
            | "false"
            | "[secure]"
            | "secret_value_hidden"
            | "[removed]"
            | "removed"
            | "omitted"
            | "[omitted]"
            | "<nil>"
            | "n/a"
            | "na"
            | "empty"
            | "<empty>"
            | "changeme_in_vault"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short-value gate never hides an anchor: every anchor, alone or inside other text,
    /// passes it; ordinary short values do not.
    #[test]
    fn pair_table_admits_every_anchor() {
        let pats = builtin_anchors().expect("anchors");
        let t = PairTable::new(pats.iter().map(|(p, _)| p.as_bytes()));
        assert!(!t.always);
        for (p, _) in &pats {
            for hay in [
                p.clone(),
                format!("x{p}"),
                format!("ab {p} cd"),
                format!("{p}\""),
            ] {
                assert!(t.any(hay.as_bytes()), "{hay:?}");
            }
        }
        for clean in [
            "trace_id",
            "level",
            "info",
            "eu-west-1",
            "2026.11.3",
            "service",
            "session",
            "path",
            "patch",
            "second",
            "shield",
            "picture",
            "fire",
        ] {
            assert!(!t.any(clean.as_bytes()), "{clean}");
        }
    }

    /// The bucket order of every built-in searcher is a permutation of its chunk that keeps
    /// each anchor before the longer anchors it is a prefix of.
    #[test]
    fn bucket_order_keeps_prefix_pairs() {
        let pats = builtin_anchors().expect("anchors");
        for chunk in pats.chunks(17).chain(pats.chunks(40)) {
            let out = bucket_order(chunk, SLIM_BUCKETS);
            let mut a: Vec<&str> = chunk.iter().map(|(p, _)| p.as_str()).collect();
            let mut b: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
            for (i, (p, _)) in out.iter().enumerate() {
                for (q, _) in out.iter().take(i) {
                    assert!(!q.starts_with(p.as_str()) || q == p, "{p} after {q}");
                }
            }
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
        let pairs = [
            ("abcd".to_owned(), Action::Special(Special::Flag)),
            ("abc".to_owned(), Action::Special(Special::Url)),
        ];
        let out = bucket_order(&pairs, SLIM_BUCKETS);
        assert_eq!(out.first().map(|(p, _)| p.as_str()), Some("abcd"));
    }

    /// The fixed orders list every built-in anchor of their length once and nothing else,
    /// and each searcher's order under them keeps its prefix pairs and its members.
    #[test]
    fn fixed_order_covers_the_long_anchors() {
        let pats = builtin_anchors().expect("anchors");
        for (order, fits) in [
            (
                &FOUR_BYTE_SEARCHERS.concat()[..],
                (|n| n >= 4) as fn(usize) -> bool,
            ),
            (THREE_BYTE_ORDER, |n| n == 3),
        ] {
            let mut anchors: Vec<&str> = pats
                .iter()
                .map(|(p, _)| p.as_str())
                .filter(|p| fits(p.len()))
                .collect();
            let mut listed = order.to_vec();
            anchors.sort_unstable();
            anchors.dedup();
            listed.sort_unstable();
            assert_eq!(anchors, listed);
        }
        let long: Vec<(String, Action)> = pats.into_iter().filter(|(p, _)| p.len() >= 3).collect();
        for size in [13, 17, 39, 40, 48, 55] {
            for chunk in long.chunks(size) {
                let out = fixed_order(chunk, &FOUR_BYTE_SEARCHERS.concat());
                assert!(keeps_prefix_pairs(chunk, &out));
                let out = fixed_order(chunk, THREE_BYTE_ORDER);
                assert!(keeps_prefix_pairs(chunk, &out));
                let mut a: Vec<&str> = chunk.iter().map(|(p, _)| p.as_str()).collect();
                let mut b: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b);
            }
        }
    }

    /// The larger searchers of the four-byte-plus anchors report exactly what one searcher
    /// per run of [`REPORT_CHUNK`] reports, in the same order, on text made of anchors cut and
    /// glued together (overlapping matches within and across runs, anchors inside anchors,
    /// both at the ends of the text and of Teddy's 32-byte steps).
    #[test]
    fn merged_long_searchers_report_the_runs() {
        let pats = builtin_anchors().expect("anchors");
        let four: Vec<(String, Action)> = pats.into_iter().filter(|(p, _)| p.len() >= 4).collect();
        let merged = long_anchors(&four, FOUR_BYTE_SEARCHERS).expect("merged");
        assert!(
            matches!(merged, LongAnchors::Merged(ref s) if s.len() < four.len().div_ceil(REPORT_CHUNK))
        );
        let plain = plain_long_anchors(&four).expect("plain");
        assert!(matches!(plain, LongAnchors::Plain(_)));
        let run = |l: &LongAnchors, hay: &[u8]| {
            let mut out = Vec::new();
            l.for_each(hay, |a, s, e| out.push(format!("{a:?} {s} {e}")));
            out
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let fillers: [&[u8]; 8] = [b"", b"x", b"_", b" ", b"\"=", b"abc", b"0", b"-us"];
        let mut total = 0;
        for round in 0..4000 {
            let mut hay = Vec::new();
            let len_goal = if round % 2 == 0 { 40 } else { 300 };
            while hay.len() < len_goal {
                let r = xorshift(&mut seed);
                let (p, _) = &four[(r % four.len() as u64) as usize];
                let p = p.as_bytes();
                // a whole anchor, or a piece of one (so anchors start inside anchors)
                let from = if r >> 20 & 3 == 0 {
                    (r >> 24) as usize % p.len()
                } else {
                    0
                };
                let to = if r >> 30 & 3 == 0 {
                    from + (r >> 34) as usize % (p.len() - from) + 1
                } else {
                    p.len()
                };
                hay.extend_from_slice(&p[from..to]);
                hay.extend_from_slice(fillers[(r >> 40) as usize % fillers.len()]);
            }
            let want = run(&plain, &hay);
            total += want.len();
            assert_eq!(
                run(&merged, &hay),
                want,
                "{:?}",
                String::from_utf8_lossy(&hay)
            );
        }
        assert!(total > 10_000, "{total}");
        // a prefix pair across runs in one searcher: the plain searchers instead
        let pair = vec![
            ("abcd".to_owned(), Action::Special(Special::Flag)),
            ("zzzz".to_owned(), Action::Special(Special::Flag)),
            ("abcdef".to_owned(), Action::Special(Special::Url)),
        ];
        assert!(!merge_keeps_runs(&pair, 1, &[vec![0, 1, 2]]));
        assert!(merge_keeps_runs(&pair, 3, &[vec![0, 1, 2]]));
        assert!(merge_keeps_runs(&pair, 1, &[vec![0, 1], vec![2]]));
        // no list names an anchor twice
        let listed = FOUR_BYTE_SEARCHERS.concat();
        let mut dedup = listed.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), listed.len());
    }

    /// A thread keeps the padded copy of a value up to the default input bound, and gives back
    /// the copy of a longer one (a raised bound) after the call.
    #[test]
    fn the_kept_padded_copy_is_bounded() {
        let scrubber = crate::Scrubber::builder()
            .with_max_input_len(1 << 20)
            .build()
            .expect("scrubber");
        let kept = || PADDED.with(|c| c.borrow().capacity());
        let line = "x".repeat(8 * 1024) + " ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
        assert!(scrubber.scrub(&line).contains("[REDACTED:"));
        assert!(kept() >= line.len() && kept() <= MAX_KEPT_PADDED);
        let long = "y".repeat(512 * 1024) + " ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
        assert!(scrubber.scrub(&long).contains("[REDACTED:"));
        assert!(kept() <= MAX_KEPT_PADDED, "kept {} bytes", kept());
    }

    /// The searchers report the same matches over the padded copy as over the text itself, at
    /// every length around Teddy's steps, with anchors at both ends of the text.
    #[test]
    fn padded_copy_finds_the_same_matches() {
        let engine = Engine::build(
            Settings::new(PrivateIpPolicy::Keep, RepoRoots::default(), Vec::new()),
            Vec::new(),
        )
        .expect("engine");
        let pats = builtin_anchors().expect("anchors");
        // the padding argument: no anchor holds a byte below 0x20 (so none a zero)
        assert!(pats.iter().all(|(p, _)| p.bytes().all(|c| c >= 0x20)));
        let mut seed = 0x1234_5678_9abc_def1_u64;
        let mut buf = Vec::new();
        let mut total = 0;
        for round in 0..3000 {
            let mut text = Vec::new();
            let goal = 200 + round % 97;
            while text.len() < goal {
                let r = xorshift(&mut seed);
                let (p, _) = &pats[(r % pats.len() as u64) as usize];
                if r >> 12 & 1 == 0 {
                    text.extend_from_slice(p.as_bytes());
                }
                let filler: &[u8] = match r >> 16 & 3 {
                    0 => b"",
                    1 => b"x",
                    2 => b"0123456789abcdefghij_",
                    _ => b"\":\"",
                };
                text.extend_from_slice(filler);
            }
            // an anchor at the very end too
            let (p, _) = &pats[(xorshift(&mut seed) % pats.len() as u64) as usize];
            text.extend_from_slice(p.as_bytes());
            let collect = |hay: &[u8], off: usize| {
                let mut out = Vec::new();
                engine.run_anchors(hay, off, |a, s, e| out.push(format!("{a:?} {s} {e}")));
                out
            };
            pad_into(&mut buf, &text);
            assert_eq!((buf.len() - (SLIM_FINGERPRINT - 1)) % TEDDY_STEP, 0);
            assert_eq!(&buf[PAD_BEFORE..PAD_BEFORE + text.len()], &text[..]);
            assert!(buf[..PAD_BEFORE].iter().all(|&c| c == 0));
            assert!(buf[PAD_BEFORE + text.len()..].iter().all(|&c| c == 0));
            let want = collect(&text, 0);
            total += want.len();
            assert_eq!(
                collect(&buf, PAD_BEFORE),
                want,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
        assert!(total > 10_000, "{total}");
    }

    /// A small deterministic generator for the exhaustive-ish tests below.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// The vector byte-class mask flags exactly the bytes the scalar definition does.
    #[test]
    fn block_mask_is_exact() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let interesting_bytes = b"09/:=>@\\aZ_ .;<?-\"`{[Az\x80\xff/";
        for round in 0..4000 {
            let mut win = [0u8; BLOCK + 1];
            for (k, w) in win.iter_mut().enumerate() {
                let r = xorshift(&mut seed);
                *w = if round % 2 == 0 {
                    (r & 0xff) as u8
                } else {
                    interesting_bytes[(r as usize + k) % interesting_bytes.len()]
                };
            }
            let masks = block_mask(&win);
            assert_eq!(masks, block_mask_portable(&win));
            let mask = masks.flagged;
            for len in [0, 1, 7, 16, 33, 64] {
                let low = if len == 64 {
                    u64::MAX
                } else {
                    (1u64 << len) - 1
                };
                assert_eq!(short_mask(win[0], &win[1..=len]), mask & low, "{len}");
            }
            for i in 0..BLOCK {
                let (p, c) = (win[i], win[i + 1]);
                let want = (c.is_ascii_digit() && !p.is_ascii_alphanumeric())
                    || matches!(c, b'/' | b':'..=b'@' | b'\\');
                assert_eq!(mask >> i & 1 == 1, want, "byte {c:#x} after {p:#x}");
                assert_eq!(
                    masks.digits >> i & 1 == 1,
                    c.is_ascii_digit(),
                    "byte {c:#x}"
                );
                assert_eq!(masks.dots >> i & 1 == 1, c == b'.', "byte {c:#x}");
            }
        }
    }

    /// Whenever the inline separator gate says no, `kv::at_separator` finds nothing there.
    #[test]
    fn separator_gate_never_hides_a_key() {
        let settings = Settings::new(
            PrivateIpPolicy::Keep,
            RepoRoots::default(),
            default_path_roots(),
        );
        let keys = [
            "password",
            "PASSWORD",
            "pwd",
            "db_pw",
            "x.pw",
            "Pw",
            "dbPw",
            "token",
            "api_key",
            "secret",
            "session_id",
            "sid",
            "trace_id",
            "level",
            "ts",
            "pad",
            "tenant_id",
            "value",
            "name",
            "key",
            "pass",
            "pin",
            "otp",
            "cookie",
            "authorization",
            "userPassword",
            "password2",
            "signature-256",
            "ab",
            "a",
            "şifre",
            "contraseña",
            "\\u0026pw",
            "%26pw",
            "client-secret",
            "X-Api-Key",
            "count",
            "sha256",
            "T10",
            "2026-11-28T10",
            "api_key_2",
            "secret.3",
            "db_pw-1",
            "dbPw12",
            "token_v2",
            "pw1",
            "a1-2",
            "şifre9",
            "12345678901234567",
        ];
        let prefixes = [
            "",
            " ",
            "\"",
            "{\"",
            "&",
            "?",
            "--",
            "x_",
            "\\\"",
            "name=TOKEN ",
        ];
        let seps = [
            ":", "=", "\":", "\" : ", "\\\":", "='", ": ", "  =", ":=", "=>",
        ];
        let values = [
            "hunter2",
            "\"s3cr3t\"",
            "[1,2]",
            "{\"a\":1}",
            "3",
            "",
            "ok x",
            "\\\"x\\\"",
        ];
        for key in keys {
            for prefix in prefixes {
                for sep in seps {
                    for value in values {
                        let text = format!("{prefix}{key}{sep}{value}");
                        let b = text.as_bytes();
                        for p in 0..b.len() {
                            if !matches!(b[p], b':' | b'=') {
                                continue;
                            }
                            let mut gate_hits = Vec::new();
                            let gate = Scan {
                                text: &text,
                                b,
                                hits: &mut gate_hits,
                                settings: &settings,
                                deferred_phones: Vec::new(),
                                deferred_emails: Vec::new(),
                            }
                            .separator_may_match(p);
                            if gate {
                                continue;
                            }
                            let mut hits = Vec::new();
                            let mut scan = Scan {
                                text: &text,
                                b,
                                hits: &mut hits,
                                settings: &settings,
                                deferred_phones: Vec::new(),
                                deferred_emails: Vec::new(),
                            };
                            kv::at_separator(&mut scan, p, 1);
                            assert!(hits.is_empty(), "{text:?} at {p}: {hits:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn merge_takes_union_and_priority() {
        let mut v = vec![
            Hit {
                start: 5,
                end: 10,
                label: Label::Kind(Kind::Email),
            },
            Hit {
                start: 0,
                end: 6,
                label: Label::Kind(Kind::Password),
            },
            Hit {
                start: 12,
                end: 14,
                label: Label::Kind(Kind::Ip),
            },
        ];
        merge(&mut v);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].start, v[0].end, v[0].label),
            (0, 10, Label::Kind(Kind::Password))
        );
    }

    #[test]
    fn placeholders() {
        for p in [
            "{password}",
            "${TOKEN}",
            "$DB_PASSWORD",
            "<redacted>",
            "***",
            "********",
            "[REDACTED:password]",
            "{{ .Token }}",
            "%s",
            "%(password)s",
            "null",
            "",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in ["hunter2", "s3cr3t", "abc", "x"] {
            assert!(!is_placeholder(p), "{p}");
        }
    }
}
