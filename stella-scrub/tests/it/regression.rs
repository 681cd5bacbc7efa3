//! Inputs found by fuzzing (`tests/data/issue-2-*.txt`): each must scrub without panicking,
//! idempotently, and JSON-valid when it was JSON.

use std::path::PathBuf;

#[test]
fn fuzz_regressions() {
    let scrubber = super::scrubber();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/data exists") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.starts_with("issue-2-") && name.ends_with(".txt")) {
            continue;
        }
        n += 1;
        let bytes = std::fs::read(&path).expect("readable");
        let text = String::from_utf8_lossy(&bytes);
        let once = scrubber.scrub(&text).into_owned();
        assert_eq!(scrubber.scrub(&once), once, "{name}: not idempotent");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let out = scrubber.scrub_json(&v);
            let printed = serde_json::to_string(&out).expect("serialises");
            let _: serde_json::Value = serde_json::from_str(&printed).expect("valid JSON out");
            let line = serde_json::to_string(&serde_json::json!({ "doc": v })).expect("serialises");
            let scrubbed = scrubber.scrub(&line);
            assert!(
                serde_json::from_str::<serde_json::Value>(&scrubbed).is_ok(),
                "{name}: line scrub broke JSON: {scrubbed}"
            );
        }
    }
    let _ = n;
}

/// Fuzz findings minimised by hand: each exercises one root cause of a non-idempotent scrub.
#[test]
fn minimised_fuzz_inputs_are_idempotent() {
    let scrubber = super::scrubber();
    for input in [
        // a marker's `]` ended a header-style value early on the second pass
        "bearer:bearer:n/bi-s1r:/[REDACTED",
        // a redacted `://` made the address after it look like URL userinfo on the first pass
        "sessid:://,5@\u{fffd}.DY",
        // a marker's `]` ended an unquoted value early on the second pass
        "secret:bearer:s1bearer:/[REDACTED",
        // an unclosed `[REDACTED` counted as a marker within 64 bytes only
        "AccountKey=bearer:n[REDACTED//-er:nme=acct;AccouBpcyBhIHRlc3Qga2V5IGZvciBhenVyZSBzd;",
        // a redacted JWT made the local part before `@` too long on the first pass only
        "Q.eyJpCI6IjEifQ.eyJpc3MiEifQ.eyJpc3MiOiJhY\u{fffd}%2NvdWifQ.eyJpCI6IjE@Q.ey",
        // a redaction inside a `{…}` template made its closing brace fall out of the window
        "pw={z8\u{fffd}w\u{fffd}={z8\u{fffd}+\u{fffd},\u{fffd},\u{fffd}salse}z\0---\u{1}\0\0\u{fffd}=\u{fffd}>>\u{fffd};pw:9\\;=\u{fffd}>4\u{fffd}=8\u{fffd}=/\u{1df}8\u{fffd}+\u{fffd},\u{fffd},\u{fffd}salse}",
        // `$B:\…` only starts like a `$NAME` variable; a path redaction inside it changed that
        "o:\\\u{fffd}-\u{fffd}-\u{fffd}\u{fffd}[hidden]\u{fffd}\u{fffd}pw=$B:\\\u{fffd}-\u{fffd}-\u{fffd}\u{fffd}[B\u{fffd}",
        // a `}` inside a quoted secret closed a `{…}` placeholder before it, and redacting the
        // secret opened it again on the second pass
        "\u{10}pw:{\u{fffd}\u{fffd}pw:'} '",
        "password={abc password:'s3cret'}",
        // a path was cut before `\uPw=` as if it were a `\uXXXX` escape, leaving the key
        // `uPw` for the second pass
        "h:\\xP\\uPw={abc",
        // a second ` -u ` sharing its leading space with the first was not reported
        ";cvv: -u -u vv:\u{19}E:vv:",
        "curl -u -u -u admin:hunter2 https://example.com",
        "mysql -u -p hunter2",
        // a `{…}` placeholder closed far away, past text a later redaction changed
        "P\\uPw={-5.\\uPw=>$_>x<sid>'{-<5.\\uPw={-5|<sid>'id>}B{-5}'BBB",
        // the rest of a word after a length-capped token is no key body on the second pass
        "dop_v1_bcdef0123456789abcdef0123456723456789abcdef0123456789abcdef0123456790abcdefwIBAAKCAQEA123456789abcdef0123456789abcdef012345AAKCA",
    ] {
        let once = scrubber.scrub(input).into_owned();
        assert_eq!(scrubber.scrub(&once), once, "{input:?}");
    }
}

/// JSON lines minimised from fuzz findings: scrubbed as free text, they stay valid JSON.
#[test]
fn minimised_json_lines_stay_json() {
    let scrubber = super::scrubber();
    for line in [
        // a separator inside a key string is not followed by a value
        r#"{"password:":"hunter2","a":"0"}"#,
        r#"{"pass:":"12"}"#,
        // a value quoted as `\"` inside a JSON string ends with that string at the latest
        r#"{"{\"pw\":\"ms":"{\"a\":\"b\"}"}"#,
        // ` -u "` where the quote closes the key string is no `curl -u` credential
        r#"{"pa -u ":4}"#,
        // a private key block ends inside its own string
        r#"{"k":"-----BEGIN RSA PRIVATE KEY-----\\nMIIE\\","v":"-----END RSA PRIVATE KEY-----"}"#,
    ] {
        let out = scrubber.scrub(line);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{line} -> {out}"
        );
    }
}

/// Glued `-u` / `-p` flags (each ends with the space the next starts with): the credential
/// after the last one is redacted on the first pass, and a second pass changes nothing.
#[test]
fn glued_user_and_password_flags_still_redact() {
    let scrubber = super::scrubber();
    for (line, kept) in [
        (
            "curl -u -u -u admin:hunter2 https://example.com",
            "admin:[REDACTED:password]",
        ),
        ("curl -u -u admin:hunter2", "admin:[REDACTED:password]"),
        ("mysql -u -p hunter2", "-p [REDACTED:password]"),
        ("mysql -p -p hunter2", "-p [REDACTED:password]"),
        ("mysql -p -u admin:hunter2", "admin:[REDACTED:password]"),
    ] {
        let out = scrubber.scrub(line);
        assert!(!out.contains("hunter2"), "{line}: {out}");
        assert!(out.contains(kept), "{line}: {out}");
        assert_eq!(scrubber.scrub(&out), out, "{line}");
    }
}
