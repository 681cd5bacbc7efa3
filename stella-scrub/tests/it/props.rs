//! Properties: idempotence, no generated secret survives, valid JSON in gives valid JSON out,
//! no panic on arbitrary input.

use proptest::prelude::*;
use serde_json::Value;

fn scrubber() -> &'static stella_scrub::Scrubber {
    static S: std::sync::OnceLock<stella_scrub::Scrubber> = std::sync::OnceLock::new();
    S.get_or_init(super::scrubber)
}

/// The test scrubber with tenant `t` granted file-system paths for an hour.
fn path_granted() -> &'static stella_scrub::Scrubber {
    static S: std::sync::OnceLock<stella_scrub::Scrubber> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let s = super::scrubber();
        s.grants()
            .grant(
                stella_scrub::grants::GrantRequest::new(
                    "t",
                    [stella_scrub::PiiKind::Path],
                    std::time::Duration::from_secs(3600),
                )
                .with_actor("props")
                .with_reason("route keys relax paths the same way"),
            )
            .expect("granted");
        s
    })
}

const ALNUM: &str = "[A-Za-z0-9]";

fn alnum(n: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{ALNUM}{{{n}}}")).expect("regex strategy")
}

fn luhn_complete(prefix: &str, len: usize, tail: Vec<u8>) -> String {
    let mut digits: Vec<u8> = prefix.bytes().map(|c| c - b'0').collect();
    for d in tail {
        if digits.len() + 1 >= len {
            break;
        }
        digits.push(d % 10);
    }
    // Luhn check digit
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let mut v = u32::from(d);
            if i % 2 == 0 {
                v *= 2;
                if v > 9 {
                    v -= 9;
                }
            }
            v
        })
        .sum();
    digits.push(((10 - sum % 10) % 10) as u8);
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A secret of some kind and the substring that must not survive.
fn secret() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        alnum(36).prop_map(|b| {
            let s = format!("ghp_{b}");
            (s.clone(), s)
        }),
        "[A-Z2-7]{16}".prop_map(|b| {
            let s = format!("AKIA{b}");
            (s.clone(), s)
        }),
        "[A-Za-z0-9_-]{20,40}".prop_map(|b| {
            let s = format!("glpat-{b}");
            (s.clone(), s)
        }),
        "[0-9]{10,12}-[0-9]{10,13}-[A-Za-z0-9]{24}".prop_map(|b| {
            let s = format!("xoxb-{b}");
            (s.clone(), s)
        }),
        alnum(24).prop_map(|b| {
            let s = format!("sk_live_{b}");
            (s.clone(), s)
        }),
        "[A-Za-z0-9_-]{35}".prop_map(|b| {
            let s = format!("AIza{b}");
            (s.clone(), s)
        }),
        (
            "[A-Za-z0-9_-]{10,30}",
            "[A-Za-z0-9_-]{10,60}",
            "[A-Za-z0-9_-]{20,43}"
        )
            .prop_map(|(a, b, c)| {
                let s = format!("eyJ{a}.eyJ{b}.{c}");
                (s.clone(), s)
            }),
        "[A-Za-z0-9]{20,40}[0-9]".prop_map(|b| (format!("Authorization: Bearer {b}"), b)),
        ("[a-z]{3,8}", "[A-Za-z0-9]{6,16}[0-9]").prop_map(|(u, p)| (
            format!("https://{u}:{p}@db.example.com/x"),
            format!(":{p}@")
        )),
        "[A-Za-z0-9!#%^*]{6,20}[0-9]".prop_map(|p| (format!("password={p}"), format!("={p}"))),
        "[A-Za-z0-9]{6,20}[0-9]".prop_map(|p| (format!("{{\"client_secret\":\"{p}\"}}"), p)),
        "[A-Za-z0-9]{6,20}[0-9]".prop_map(|p| (format!("--api-key {p}"), p)),
        "[A-Za-z0-9]{6,20}[0-9]".prop_map(|p| (format!("<password>{p}</password>"), p)),
        alnum(36).prop_map(|b| {
            let s = format!("npm_{b}");
            (s.clone(), s)
        }),
        ("[A-Za-z0-9_-]{22}", "[A-Za-z0-9_-]{43}").prop_map(|(a, b)| {
            let s = format!("SG.{a}.{b}");
            (s.clone(), s)
        }),
        "[A-Za-z0-9]{40,48}".prop_map(|b| {
            let s = format!("sk-proj-{b}1A");
            (s.clone(), s)
        }),
        "[A-Za-z0-9_-]{80,95}".prop_map(|b| {
            let s = format!("sk-ant-api03-{b}1A");
            (s.clone(), s)
        }),
        "[A-Za-z0-9_-]{24,90}".prop_map(|b| {
            let s = format!("hvs.{b}");
            (s.clone(), s)
        }),
        "[a-zA-Z]{34}".prop_map(|b| {
            let s = format!("hf_{b}");
            (s.clone(), s)
        }),
        "[a-f0-9]{32}".prop_map(|b| {
            let s = format!("shpat_{b}");
            (s.clone(), s)
        }),
        (
            "[a-z][a-z0-9._]{1,15}[a-z0-9]",
            "[a-z]{2,10}",
            "(com|org|io|de|co\\.uk)"
        )
            .prop_map(|(l, d, t)| {
                let s = format!("{l}@{d}.{t}");
                (s.clone(), s)
            }),
        "[0-9]{4}".prop_map(|b| {
            let s = format!("+1 415 555 {b}");
            (s.clone(), s)
        }),
        proptest::collection::vec(any::<u8>(), 16).prop_map(|t| {
            let s = luhn_complete("4", 16, t);
            (s.clone(), s)
        }),
        proptest::collection::vec(any::<u8>(), 16).prop_map(|t| {
            let s = luhn_complete("51", 16, t);
            (s.clone(), s)
        }),
        (1u32..=665, 1u32..=99, 1u32..=9999).prop_map(|(a, g, s)| {
            let v = format!("{a:03}-{g:02}-{s:04}");
            (v.clone(), v)
        }),
        (1u8..=254, 0u8..=255, 1u8..=254).prop_map(|(a, b, c)| {
            let v = format!("8.{a}.{b}.{c}");
            (v.clone(), v)
        }),
        ("[a-z]{8}", "[a-z]{3,10}").prop_map(|(u, f)| {
            let v = format!("/home/{u}/{f}.txt");
            (v.clone(), format!("/home/{u}"))
        }),
        "[A-Za-z0-9+/]{64}".prop_map(|b| (
            format!("-----BEGIN RSA PRIVATE KEY-----\\n{b}\\n-----END RSA PRIVATE KEY-----"),
            b
        )),
    ]
}

fn filler() -> impl Strategy<Value = String> {
    "[a-zA-Z ,.;()]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn no_generated_secret_survives((text, must_not) in secret(), pre in filler(), post in filler()) {
        let line = format!("{pre} {text} {post}");
        let out = scrubber().scrub(&line);
        prop_assert!(!out.contains(&must_not), "leaked {must_not:?}\nin:  {line}\nout: {out}");
    }

    #[test]
    fn idempotent_on_mixed_text(parts in proptest::collection::vec(prop_oneof![secret().prop_map(|(s, _)| s), filler(), ".{0,20}"], 0..6)) {
        let line = parts.join(" ");
        let once = scrubber().scrub(&line).into_owned();
        let twice = scrubber().scrub(&once).into_owned();
        prop_assert_eq!(&twice, &once, "input: {}", line);
    }

    #[test]
    fn idempotent_on_arbitrary_text(s in ".{0,200}") {
        let once = scrubber().scrub(&s).into_owned();
        prop_assert_eq!(scrubber().scrub(&once).into_owned(), once);
    }

    #[test]
    fn no_panic_on_arbitrary_input(s in any::<String>(), k in ".{0,20}") {
        let _ = scrubber().scrub(&s);
        let _ = scrubber().scrub_field(&k, &s);
        let _ = scrubber().scrub_json(&Value::String(s.clone()));
        let mut buf = String::new();
        scrubber().scrub_into(&s, &mut buf);
    }

    /// A key whose values are plain text (`scrubs_as_text`) leaves `scrub_field` to the
    /// free-text rules.
    #[test]
    fn plain_keys_scrub_like_free_text(
        k in prop_oneof![".{0,20}", "[a-z_.]{1,12}", proptest::sample::select(&["pass", "phone", "token_type", "db.password", "trace_id", "http.route", "url_path", "route"][..]).prop_map(str::to_owned)],
        v in prop_oneof![".{0,40}", "[0-9]{1,12}", secret().prop_map(|(s, _)| s)],
    ) {
        if scrubber().scrubs_as_text(&k) {
            prop_assert!(!scrubber().is_secret_key(&k));
            prop_assert_eq!(scrubber().scrub_field(&k, &v), scrubber().scrub(&v));
        }
    }

    /// A route key's value is scrubbed as free text, except that nothing in it is taken for a
    /// file-system path: exactly as free text under a deep-debug grant that relaxes paths (the
    /// same mechanism), and never a path marker.
    #[test]
    fn route_keys_scrub_like_free_text_without_paths(
        k in proptest::sample::select(&["http.route", "HTTP_ROUTE", "url.path", "url.template", "http.target", "route"][..]),
        v in prop_oneof![
            "(/(home|etc|usr|var|tmp|api|v1|users|\\{id\\}|[a-z]{1,8})){1,5}",
            ".{0,40}",
            secret().prop_map(|(s, _)| format!("/home/{s}/x")),
        ],
    ) {
        let s = scrubber();
        prop_assert!(!s.scrubs_as_text(k) && !s.is_secret_key(k));
        let routed = s.scrub_field(k, &v);
        prop_assert!(!routed.contains("[REDACTED:path]"), "{} -> {}", v, routed);
        let paths_relaxed = path_granted().for_tenant(Some("t"));
        prop_assert!(!paths_relaxed.is_strict());
        prop_assert_eq!(routed, paths_relaxed.scrub(&v));
    }

    #[test]
    fn no_panic_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&b);
        let _ = scrubber().scrub(&s);
    }

    #[test]
    fn valid_json_in_valid_json_out(v in json_value()) {
        let out = scrubber().scrub_json(&v);
        let mut in_place = v.clone();
        scrubber().scrub_json_in_place(&mut in_place);
        prop_assert_eq!(&in_place, &out);
        let printed = serde_json::to_string(&out).expect("serialises");
        let _: Value = serde_json::from_str(&printed).expect("scrub_json output is valid JSON");
        // the same document scrubbed as one log line stays valid JSON too (log lines are
        // objects; a bare top-level number that is a valid card number is text to redact)
        let v = serde_json::json!({"doc": v});
        let line = serde_json::to_string(&v).expect("serialises");
        let scrubbed = scrubber().scrub(&line);
        prop_assert!(serde_json::from_str::<Value>(&scrubbed).is_ok(), "line scrub broke JSON:\nin:  {}\nout: {}", line, scrubbed);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("password".to_owned()),
        Just("token".to_owned()),
        Just("user".to_owned()),
        Just("msg".to_owned()),
        Just("Authorization".to_owned()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        secret().prop_map(|(s, _)| Value::String(s)),
        ".{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
