//! Scrubbing throughput on realistic 1 KiB JSON log lines, clean and with one secret, beside two
//! references measured in the same run:
//!
//! - `aho_corasick_ci`: one ASCII-case-insensitive Aho-Corasick pass over the same bytes with
//!   every keyword of the catalogue (the floor a keyword prefilter costs);
//! - `naive_regexset`: a `regex::RegexSet` of the same patterns, then `replace_all` with each
//!   pattern that matched (what a user would write).
//!
//! Machine of record: 2 shared cores (x86_64, AVX2), release profile. Baseline numbers are in
//! the crate README. Run: `cargo bench -p stella-scrub --bench scrub -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use regex::{Regex, RegexSet};
use stella_scrub::Scrubber;

const FIELDS: &[(&str, &str)] = &[
    ("service", "policy-engine"),
    ("version", "1.14.2"),
    ("env", "prod"),
    ("region", "eu-west-1"),
    ("instance_id", "policy-engine-7d9f8b6c5d-x2k4p"),
    ("tenant_id", "tenant-3f9a"),
    ("project_id", "proj-1832"),
    ("actor", "svc:scheduler"),
    ("route", "/api/v1/projects/{project_id}/evaluations"),
    ("method", "POST"),
    ("resource", "evaluation"),
    ("action", "evaluate"),
    ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("span_id", "00f067aa0ba902b7"),
    ("parent_span_id", "b7ad6b7169203331"),
    ("request_id", "7f1c8a5e-3b2d-4c6e-9f0a-1b2c3d4e5f60"),
    ("job_id", "01HF3Z8K9W2X4Y6Z8A0B2C4D6E"),
    (
        "sbom_id",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    ("policy_version", "2026.11.3"),
    ("decision_effect", "deny"),
    (
        "decision_reason",
        "CVE-2021-44228 reachable in pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    ),
];

fn line(i: usize, msg: &str) -> String {
    let mut s = format!(
        "{{\"ts\":\"2026-11-28T10:{:02}:18.{:03}Z\",\"level\":\"info\"",
        i % 60,
        i * 7 % 1000
    );
    for (k, v) in FIELDS {
        s.push_str(&format!(",\"{k}\":\"{v}\""));
    }
    s.push_str(&format!(
        ",\"duration_ms\":{},\"components\":{},\"msg\":\"{msg}\"",
        12 + i,
        4000 + i * 13
    ));
    while s.len() < 1020 {
        s.push_str(",\"pad\":\"ok\"");
    }
    s.push('}');
    s
}

/// A realistic 1 KiB JSON object (a timeline event's details or a span's attributes): the same
/// common fields, a nested object, an array, numbers, and distinct keys.
fn json_doc(i: usize, msg: &str) -> serde_json::Value {
    let mut s = format!(
        "{{\"ts\":\"2026-11-28T10:{:02}:18.{:03}Z\",\"level\":\"info\"",
        i % 60,
        i * 7 % 1000
    );
    for (k, v) in FIELDS {
        s.push_str(&format!(",\"{k}\":\"{v}\""));
    }
    s.push_str(&format!(
        ",\"http\":{{\"method\":\"POST\",\"status\":200,\"user_agent\":\"stella-cli/0.1.0\"}},\"tags\":[\"policy\",\"eval\",\"batch-{i}\"],\"duration_ms\":{},\"components\":{},\"msg\":\"{msg}\"",
        12 + i,
        4000 + i * 13
    ));
    let mut n = 0;
    while s.len() < 1020 {
        s.push_str(&format!(",\"attr_{n}\":\"ok\""));
        n += 1;
    }
    s.push('}');
    serde_json::from_str(&s).expect("valid JSON")
}

const MESSAGES: &[&str] = &[
    "policy evaluation completed for project; token bucket refilled",
    "evaluated 5000 components in 1.42s; cache hit ratio 0.93",
    "password reset requested via console; link sent",
    "linked 12 advisories to exposure delta for src/lib.rs",
    "export bundle ready; 3 files, 2 recipients",
    "GET /api/v1/users/42 returned 200 in 12ms",
    "retrying upstream call attempt=2 backoff_ms=250",
    "scheduler tick: queue depth 17, workers 8 of 8 busy",
];

const SECRETS: &[&str] = &[
    "login failed password=hunter2 for user",
    "using token ghp_16C7e42F292c6912E7710c838347Ae178B4a for clone",
    "notify jane.doe@example.com about export",
    "upstream said Authorization: Bearer abcdef0123456789abcdef0123456789",
    "client 203.0.113.7 rate limited",
    "card 4111 1111 1111 1111 declined",
    "key AKIAIOSFODNN7EXAMPLE rotated",
    "read /home/alice/.aws/credentials",
];

/// Every keyword of the catalogue, for the case-insensitive Aho-Corasick floor.
const KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "session",
    "csrf",
    "otp",
    "cvv",
    "signature",
    "cookie",
    "authorization",
    "bearer",
    "basic ",
    "private key",
    "putty",
    "akia",
    "asia",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "hooks.slack.com",
    "sk_live_",
    "rk_live_",
    "whsec_",
    "aiza",
    "ya29.",
    "eyj",
    "npm_",
    "sg.",
    "sk-",
    "hvs.",
    "pypi-",
    "hf_",
    "shpat_",
    "dop_v1_",
    "dapi",
    "dp.pt.",
    "lin_api_",
    "key-",
    "pmak-",
    "accountkey",
    "://",
    "@",
    "%40",
    "/home/",
    "/users/",
    "/etc/",
    "/var/",
    "/tmp/",
    "/root/",
    "/opt/",
    "c:\\",
    "--",
    "%3d",
];

/// The same catalogue as plain regexes, as a user would write it.
const PATTERNS: &[&str] = &[
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
    r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
    r"\bxox[baprse]-[A-Za-z0-9-]{10,}\b",
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+",
    r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}\b",
    r"\bwhsec_[A-Za-z0-9+/=]{20,}",
    r"\bAIza[A-Za-z0-9_\-]{35}\b",
    r"\bya29\.[A-Za-z0-9_\-]{20,}",
    r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s]*:([^@/\s]+)@",
    r#"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|credentials|session|sid|csrf|otp|pin|cvv|signature|cookie|authorization)["']?\s*[:=]\s*["']?[^\s"'&,;]+"#,
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
    r"\bsk-(?:proj-|ant-api03-)?[A-Za-z0-9_-]{20,}\b",
    r"\bhvs\.[A-Za-z0-9_-]{24,}\b",
    r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    r"\bSK[0-9a-fA-F]{32}\b",
    r"\bhf_[A-Za-z]{34}\b",
    r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
    r"\bdo[opr]_v1_[a-f0-9]{64}\b",
    r"\bdapi[a-f0-9]{32}\b",
    r"\bdp\.pt\.[A-Za-z0-9]{43}\b",
    r"\blin_api_[A-Za-z0-9]{40}\b",
    r"\bkey-[0-9a-f]{32}\b",
    r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b",
    r"AccountKey=[A-Za-z0-9+/=]{40,}",
    r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    r"\+[1-9][0-9 ()-]{7,18}[0-9]",
    r"\b(?:\d[ -]?){13,19}\b",
    r"\b\d{3}-\d{2}-\d{4}\b",
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b",
    r"(?:/home/|/Users/|/root/|/etc/|/var/|/tmp/|/opt/|[A-Za-z]:\\)[^\s:]+",
];

struct Naive {
    set: RegexSet,
    each: Vec<Regex>,
}

impl Naive {
    fn new() -> Naive {
        Naive {
            set: RegexSet::new(PATTERNS).expect("patterns compile"),
            each: PATTERNS
                .iter()
                .map(|p| Regex::new(p).expect("pattern compiles"))
                .collect(),
        }
    }

    fn scrub(&self, text: &str, out: &mut String) {
        let matched = self.set.matches(text);
        if !matched.matched_any() {
            out.push_str(text);
            return;
        }
        let mut cur = std::borrow::Cow::Borrowed(text);
        for i in matched.iter() {
            let r = &self.each[i];
            if let std::borrow::Cow::Owned(s) = r.replace_all(&cur, "[REDACTED]") {
                cur = std::borrow::Cow::Owned(s);
            }
        }
        out.push_str(&cur);
    }
}

fn bench(c: &mut Criterion) {
    let scrubber = Scrubber::builder()
        .with_repo_root("/work/main")
        .build()
        .expect("scrubber builds");
    let ac: AhoCorasick = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(KEYWORDS)
        .expect("automaton builds");
    let naive = Naive::new();

    let clean: Vec<String> = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| line(i, m))
        .collect();
    let dirty: Vec<String> = SECRETS
        .iter()
        .enumerate()
        .map(|(i, m)| line(i, m))
        .collect();
    for l in &clean {
        assert!(
            matches!(scrubber.scrub(l), std::borrow::Cow::Borrowed(_)),
            "clean line changed: {l}"
        );
    }
    for l in &dirty {
        assert!(
            matches!(scrubber.scrub(l), std::borrow::Cow::Owned(_)),
            "secret line unchanged: {l}"
        );
    }

    for (name, lines) in [("clean_1KiB", &clean), ("one_secret_1KiB", &dirty)] {
        let bytes: usize = lines.iter().map(String::len).sum();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes as u64));
        let mut out = String::with_capacity(4096);
        g.bench_function("stella_scrub", |b| {
            b.iter(|| {
                for l in lines.iter() {
                    out.clear();
                    scrubber.scrub_into(black_box(l), &mut out);
                    black_box(&out);
                }
            })
        });
        g.bench_function("aho_corasick_ci", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for l in lines.iter() {
                    n += ac.find_iter(black_box(l.as_bytes())).count();
                }
                black_box(n)
            })
        });
        g.bench_function("naive_regexset", |b| {
            b.iter(|| {
                for l in lines.iter() {
                    out.clear();
                    naive.scrub(black_box(l), &mut out);
                    black_box(&out);
                }
            })
        });
        g.finish();
    }

    // scrub_json on 1 KiB objects (throughput in bytes of the serialised object).
    let clean_docs: Vec<serde_json::Value> = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| json_doc(i, m))
        .collect();
    let dirty_docs: Vec<serde_json::Value> = SECRETS
        .iter()
        .enumerate()
        .map(|(i, m)| json_doc(i, m))
        .collect();
    for d in &clean_docs {
        assert_eq!(&scrubber.scrub_json(d), d, "clean object changed: {d}");
    }
    for d in &dirty_docs {
        assert_ne!(&scrubber.scrub_json(d), d, "secret object unchanged: {d}");
    }
    for (name, docs) in [
        ("json_clean_1KiB", &clean_docs),
        ("json_one_secret_1KiB", &dirty_docs),
    ] {
        let bytes: usize = docs.iter().map(|d| d.to_string().len()).sum();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("scrub_json", |b| {
            b.iter(|| {
                for d in docs.iter() {
                    black_box(scrubber.scrub_json(black_box(d)));
                }
            })
        });
        g.bench_function("scrub_json_in_place", |b| {
            b.iter_batched_ref(
                || docs.clone(),
                |docs| {
                    for d in docs.iter_mut() {
                        scrubber.scrub_json_in_place(black_box(d));
                    }
                },
                criterion::BatchSize::SmallInput,
            )
        });
        g.bench_function("clone_only", |b| {
            b.iter(|| {
                for d in docs.iter() {
                    black_box(black_box(d).clone());
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
