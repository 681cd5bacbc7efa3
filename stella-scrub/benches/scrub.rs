//! Scrubbing throughput on realistic 1 KiB JSON log lines, clean and with one secret, beside two
//! references measured in the same run:
//!
//! - `aho_corasick_ci`: one ASCII-case-insensitive Aho-Corasick pass over the same bytes with
//!   every keyword of the catalogue, 454 of them: each literal anchor of `TOKEN_SPECS` and
//!   `SPECIAL_ANCHORS`, each secret key name of `keys.rs`, the default path roots (the floor a
//!   keyword prefilter costs);
//! - `naive_regexset`: a `regex::RegexSet` of the same catalogue as 146 plain regexes, one per
//!   rule or per vendor, then `replace_all` with each pattern that matched (what a user would
//!   write). The setup checks that it finds every secret of the bench lines.
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

/// Every keyword of the catalogue, for the case-insensitive Aho-Corasick floor: lowercased and
/// without repeats, the literal anchors of `detect/tokens.rs` (a `spec_subs` prefix written
/// with its continuations, as `ghp_`, except `xox`), the secret key names of `keys.rs`, the
/// default path roots of `detect/path.rs` and the other bytes that start a rule (`@`, `--`).
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
    // GitLab, Slack, Stripe, Google, PyPI, Vault, Hugging Face, Shopify, Doppler, Linear, Twilio
    "gldt-",
    "glrt-",
    "glptt-",
    "glsoat-",
    "glcbt-",
    "glft-",
    "glimt-",
    "glagent-",
    "gloas-",
    "glffct-",
    "gr1348941",
    "xapp-",
    "sk_test_",
    "rk_test_",
    "1//0",
    "gocspx-",
    "pypi-ag",
    "hvb.",
    "hvr.",
    "api_org_",
    "shpca_",
    "shppa_",
    "shpss_",
    "dp.st.",
    "dp.sa.",
    "dp.ct.",
    "dp.scim.",
    "dp.audit.",
    "lin_oauth_",
    "sk",
    // Other vendors (`TOKEN_SPECS` after Postman)
    "glc_",
    "glsa_",
    "sntrys_",
    "sntryu_",
    "dckr_pat_",
    "ops_eyj",
    "tskey-",
    "atatt3",
    "nrak-",
    "ntn_",
    "pscale_tkn_",
    "pscale_pw_",
    "pscale_oauth_",
    "sq0atp-",
    "sq0csp-",
    "age-secret-key-1",
    "rubygems_",
    "xkeysib-",
    "figd_",
    "phx_",
    "nvapi-",
    "gsk_",
    "r8_",
    "xai-",
    "pplx-",
    "dt0c01.",
    "oy2",
    "lsv2_",
    "bkua_",
    "fo1_",
    "ltai",
    "sl.",
    "eaacedeose0cba",
    "access_token$production$",
    "access_token$sandbox$",
    "sk.eyj",
    "pat-na1-",
    "pat-eu1-",
    "aaaaaaaaaaaaaaaaaaaaa",
    "secret_",
    "cfpat-",
    "sbp_",
    "rnd_",
    "pnu_",
    "ico-",
    "api-",
    "flwseck_test-",
    "flwseck-",
    "flwpubk_test-",
    "access-production-",
    "access-sandbox-",
    "access-development-",
    "shippo_live_",
    "shippo_test_",
    "ezak",
    "eztk",
    "tfp_",
    "tk-us-",
    "rdme_",
    "fio-u-",
    "duffel_live_",
    "duffel_test_",
    "clojars_",
    "fm2_",
    "fm1r_",
    "fm1a_",
    "pat.",
    "aqvn",
    "aio_",
    "pul-",
    "squ_",
    "sqp_",
    "sqa_",
    "ccipat_",
    "hrku-",
    "vcp_",
    "nfp_",
    "nrii-",
    "akcp",
    "cmvmdgtuojaxoj",
    "apa91b",
    "akid",
    "eaaa",
    "sdk-",
    "mob-",
    "sgp_",
    "sha256~",
    "atbb",
    "v1.0-",
    "nrjs-",
    "atctt3",
    "dnkey-",
    "dckr_oat_",
    "p8e-",
    "eaam",
    "eaac",
    "live_",
    "sb_secret_",
    "hcaik_",
    "hcxik_",
    "hcamk_",
    "hcxmk_",
    "tvly-",
    "pdl_live_apikey_",
    "pdl_sdbx_apikey_",
    "napi_",
    "secret-live-",
    "secret-test-",
    // The special anchors (`SPECIAL_ANCHORS`) not listed above
    ".atlasv1.",
    "agpa",
    "aida",
    "aroa",
    "aipa",
    "anpa",
    "anva",
    "apka",
    "abia",
    "acca",
    "zxivyxdz",
    "iqojb3jpz2lu",
    "putty-user-key-file-",
    "b3blbnnzac1rzxktdje",
    "badanbgkqhkig9w0baqefaas",
    "ibaakcaqea",
    "hooks.slack.com/",
    "/api/webhooks/",
    "webhook.office.com/",
    " --",
    " -u ",
    " -p ",
    "\"--",
    "'--",
    "file:/",
    "_v1_",
    "q~",
    "-us1",
    "-us2",
    "-us3",
    "-us4",
    "-us5",
    "-us6",
    "-us7",
    "-us8",
    "-us9",
    // Secret key names (`keys.rs`): English, glued and compound forms
    "passphrase",
    "passcode",
    "pass",
    "pw",
    "client_secret",
    "secrets",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "bearertoken",
    "jwt",
    "signing_key",
    "privatekey",
    "secretkey",
    "accesskey",
    "sharedaccesskey",
    "apikeys",
    "xapikey",
    "x-api-key",
    "credentials",
    "creds",
    "cred",
    "sid",
    "session_id",
    "sessionid",
    "sessid",
    "phpsessid",
    "jsessionid",
    "sessiontoken",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "csrftoken",
    "xsrftoken",
    "xsrf",
    "apitoken",
    "oauthtoken",
    "totp",
    "hotp",
    "pin",
    "pincode",
    "cvc",
    "cvv2",
    "cvc2",
    "sig",
    "cookies",
    "set-cookie",
    "auth",
    // Secret key names (`keys.rs`) made of a word and `key`, `pat` or `code`
    "secret_key",
    "access_key",
    "encryption_key",
    "master_key",
    "account_key",
    "app_key",
    "application_key",
    "client_key",
    "ssh_key",
    "gpg_key",
    "pgp_key",
    "deploy_key",
    "webhook_key",
    "shared_key",
    "auth_key",
    "storage_key",
    "consumer_key",
    "sas_key",
    "subscription_key",
    "license_key",
    "licence_key",
    "hmac_key",
    "crypto_key",
    "decryption_key",
    "session_key",
    "service_key",
    "admin_key",
    "root_key",
    "write_key",
    "read_key",
    "ingest_key",
    "ingestion_key",
    "sdk_key",
    "dd_key",
    "datadog_key",
    "sentry_key",
    "server_key",
    "user_key",
    "personal_key",
    "integration_key",
    "clave_key",
    "cle_key",
    "clé_key",
    "schlüssel_key",
    "chave_key",
    "function_key",
    "functions_key",
    "host_key",
    "bot_key",
    "registration_key",
    "runner_key",
    "upload_key",
    "bearer_key",
    "oauth_key",
    "cloud_key",
    "project_key",
    "org_key",
    "organization_key",
    "workspace_key",
    "partner_key",
    "github_pat",
    "gh_pat",
    "gitlab_pat",
    "gl_pat",
    "git_pat",
    "devops_pat",
    "ado_pat",
    "azure_pat",
    "access_pat",
    "personal_pat",
    "hf_pat",
    "npm_pat",
    "docker_pat",
    "dockerhub_pat",
    "bitbucket_pat",
    "atlassian_pat",
    "jira_pat",
    "confluence_pat",
    "security_code",
    "mfa_code",
    "otp_code",
    "verification_code",
    "pin_code",
    "auth_code",
    "authorization_code",
    "2fa_code",
    "totp_code",
    "recovery_code",
    "backup_code",
    "card_code",
    // Secret key names in other languages
    "passwort",
    "kennwort",
    "wachtwoord",
    "contraseña",
    "contrasena",
    "senha",
    "mdp",
    "motdepasse",
    "mot_de_passe",
    "passe",
    "parola",
    "haslo",
    "hasło",
    "heslo",
    "jelszo",
    "jelszó",
    "sifre",
    "şifre",
    "lösenord",
    "losenord",
    "passord",
    "adgangskode",
    "salasana",
    "clave",
    "пароль",
    "密码",
    "密碼",
    "口令",
    "パスワード",
    "비밀번호",
    "암호",
    "סיסמה",
    "पासवर्ड",
    "รหัสผ่าน",
    "contrassegno",
    "geslo",
    "lozinka",
    "лозинка",
    "парола",
    "κωδικός",
    "mật_khẩu",
    "kata_sandi",
    "كلمة_المرور",
    "كلمة_السر",
    "secreto",
    "segreto",
    "geheim",
    "geheimnis",
    "секрет",
    "秘密",
    "密钥",
    "jeton",
    "токен",
    "トークン",
    "令牌",
    // The other default path roots (`path.rs`) and UNC paths
    "/srv/",
    "/mnt/",
    "/usr/",
    "/private/",
    "/volumes/",
    "/media/",
    "/proc/",
    "/run/",
    "/snap/",
    "/nix/",
    "/workspace/",
    "/builds/",
    "/library/",
    "/system/",
    "/applications/",
    "/boot/",
    "/lib/",
    "/bin/",
    "/sbin/",
    "/dev/",
    "\\\\",
];

/// The secret key names of `keys.rs` as one alternation (the English, glued and compound forms;
/// a secret-key word before `key`, a service before `pat`, an OTP word before `code`; the other
/// languages), shared by the key/value, XML, CLI-flag and URL-encoded rules.
macro_rules! key_names {
    () => {
        "password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token|\
         client[_-]?secret|private[_-]?key|credentials|session|sid|csrf|otp|pin|cvv|signature|\
         cookie|authorization|passphrase|passcode|pass|pw|secrets|id[_-]?token|auth[_-]?token|\
         bearertoken|jwt|signing[_-]?key|privatekey|secretkey|accesskey|accountkey|\
         sharedaccesskey|apikeys|xapikey|x-api-key|credential|creds?|session[_-]?id|sessid|\
         phpsessid|jsessionid|sessiontoken|accesstoken|refreshtoken|idtoken|authtoken|csrftoken|\
         xsrftoken|xsrf|apitoken|oauthtoken|totp|hotp|pincode|cvc|cvv2|cvc2|sig|cookies|\
         set-cookie|auth|bearer|\
         (?:api|private|signing|secret|access|encryption|master|account|app|application|\
         client|ssh|gpg|pgp|deploy|webhook|shared|auth|storage|consumer|sas|subscription|\
         license|licence|hmac|crypto|decryption|session|service|admin|root|write|read|\
         ingest|ingestion|sdk|dd|datadog|sentry|server|user|personal|integration|clave|cle|\
         clé|schlüssel|chave|function|functions|host|bot|registration|runner|upload|bearer|\
         oauth|cloud|project|org|organization|workspace|partner)[_ .-]?keys?|\
         (?:github|gh|gitlab|gl|git|devops|ado|azure|access|personal|hf|npm|docker|\
         dockerhub|bitbucket|atlassian|jira|confluence)[_ .-]?pat|\
         (?:security|mfa|otp|verification|pin|auth|authorization|2fa|totp|recovery|backup|\
         card)[_ .-]?code|\
         passwort|kennwort|wachtwoord|contraseña|contrasena|senha|mdp|motdepasse|\
         mot[_ .-]?de[_ .-]?passe|passe|parola|haslo|hasło|heslo|jelszo|jelszó|sifre|şifre|\
         lösenord|losenord|passord|adgangskode|salasana|clave|пароль|密码|密碼|口令|パスワード|\
         비밀번호|암호|סיסמה|पासवर्ड|รหัสผ่าน|contrassegno|geslo|lozinka|лозинка|парола|κωδικός|\
         mật[_ .-]?khẩu|kata[_ .-]?sandi|كلمة[_ .-]?(?:المرور|السر)|secreto|segreto|geheim|\
         geheimnis|секрет|秘密|密钥|jeton|токен|トークン|令牌"
    };
}

/// The same catalogue as plain regexes, as a user would write it: one per rule or per vendor.
/// A vendor's rule is its prefixes, then its body's character class and length bounds as in
/// `TOKEN_SPECS` (`{min,}` where the engine's maximum is 1 024 or more), with a trailing `\b`
/// only where the body has a fixed length (the engine stops a longer body at its maximum); the
/// first 37 rules keep the bounds they were written with. What a plain regex cannot say (a body
/// that must hold a digit, a base64 value that must decode to `user:pass`, a Luhn check, a
/// secret name in a sibling `name` field) is left out.
const PATTERNS: &[&str] = &[
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
    r"\bgl(?:pat|dt|rt|ptt|soat|cbt|ft|imt|agent|oas|ffct)-[A-Za-z0-9_\-]{20,}\b",
    r"\bxox(?:[baprsec]|e\.xoxp)-[A-Za-z0-9-]{10,}\b",
    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/]+",
    r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}\b",
    r"\bwhsec_[A-Za-z0-9+/=]{20,}",
    r"\bAIza[A-Za-z0-9_\-]{35}\b",
    r"\bya29\.[A-Za-z0-9_\-]{20,}",
    r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s]*:([^@/\s]+)@",
    concat!(
        r#"(?i)(?:"#,
        key_names!(),
        r#")["']?\s*[:=]\s*["']?[^\s"'&,;]+"#
    ),
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
    r"\bsk-(?:proj-|ant-api03-)?[A-Za-z0-9_-]{20,}\b",
    r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}\b",
    r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    r"\bSK[0-9a-fA-F]{32}\b",
    r"\b(?:hf|api_org)_[A-Za-z]{34}\b",
    r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
    r"\bdo[opr]_v1_[a-f0-9]{64}\b",
    r"\bdapi[a-f0-9]{32}\b",
    r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{43}\b",
    r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b",
    r"\bkey-[0-9a-f]{32}\b",
    r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b",
    r"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{40,}",
    r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    r"\+[1-9][0-9 ()-]{7,18}[0-9]",
    r"\b(?:\d[ -]?){13,19}\b",
    r"\b\d{3}-\d{2}-\d{4}\b",
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b",
    r"(?:/home/|/Users/|/root/|/etc/|/var/|/tmp/|/opt/|/srv/|/mnt/|/usr/|/private/|/Volumes/|/media/|/proc/|/run/|/snap/|/nix/|/workspace/|/builds/|/Library/|/System/|/Applications/|/boot/|/lib/|/bin/|/sbin/|/dev/|[A-Za-z]:\\)[^\s:]+",
    // Private keys: PuTTY files, key bodies without their BEGIN line (OpenSSH, PKCS #8,
    // PKCS #1), PGP and SSH2 blocks
    r"PuTTY-User-Key-File-[\s\S]*?Private-(?:MAC|Hash): *[0-9a-fA-F]+",
    r"\b[A-Za-z0-9+/]{0,16}(?:b3BlbnNzaC1rZXktdjE|BADANBgkqhkiG9w0BAQEFAAS|IBAAKCAQEA)[A-Za-z0-9+/=]{40,}",
    r"-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----",
    r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----[\s\S]*?---- END SSH2 ENCRYPTED PRIVATE KEY ----",
    // AWS session tokens
    r"\b(?:IQoJb3JpZ2lu|[A-Za-z0-9+/]{4}ZXIvYXdz)[A-Za-z0-9+/=]{88,}",
    // GitLab runner registration, Slack app-level, Google OAuth refresh tokens and client secrets
    r"\bGR1348941[A-Za-z0-9_-]{20,64}",
    r"\bxapp-[A-Za-z0-9_-]{20,255}",
    r"\b1//0[A-Za-z0-9_-]{30,512}",
    r"\bGOCSPX-[A-Za-z0-9_-]{20,64}",
    // Grafana (cloud and service-account tokens, API keys)
    r"\bgl(?:c|sa)_[A-Za-z0-9+/=_-]{30,255}",
    r"\beyJrIjoi[A-Za-z0-9+/=]{32,504}",
    // Sentry, Docker Hub, 1Password, Tailscale, Atlassian
    r"\bsntry[su]_[A-Za-z0-9+/=_-]{40,512}",
    r"\bdckr_pat_[A-Za-z0-9_-]{24,64}",
    r"\bops_eyJ[A-Za-z0-9+/=_-]{60,}",
    r"\btskey-[A-Za-z0-9_-]{20,128}",
    r"\bATATT3[A-Za-z0-9+/=_-]{60,512}",
    // New Relic (user and insert keys)
    r"\bNRAK-[A-Z0-9]{27}\b",
    r"\bNRII-[A-Za-z0-9_-]{32}\b",
    // Notion (current and older)
    r"\bntn_[A-Za-z0-9]{40,64}",
    r"\bsecret_[A-Za-z0-9]{43}\b",
    // PlanetScale
    r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_-]{30,64}",
    // Square
    r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,64}",
    r"\bEAAA[A-Za-z0-9_-]{40,64}",
    // age
    r"\bAGE-SECRET-KEY-1[A-Z0-9]{50,64}",
    // RubyGems, Brevo, Figma, PostHog
    r"\brubygems_[0-9a-fA-F]{48}",
    r"\bxkeysib-[A-Za-z0-9_-]{64,128}",
    r"\bfigd_[A-Za-z0-9_-]{30,64}",
    r"\bphx_[A-Za-z0-9]{30,64}",
    // NVIDIA, Groq, Replicate, xAI, Perplexity
    r"\bnvapi-[A-Za-z0-9_-]{40,128}",
    r"\bgsk_[A-Za-z0-9]{40,64}",
    r"\br8_[A-Za-z0-9]{30,64}",
    r"\bxai-[A-Za-z0-9]{60,128}",
    r"\bpplx-[A-Za-z0-9]{40,64}",
    // Dynatrace, NuGet, LangSmith, Buildkite
    r"\bdt0c01\.[A-Za-z0-9_.-]{80,128}",
    r"\boy2[a-z0-9]{43}",
    r"\blsv2_[A-Za-z0-9_]{40,96}",
    r"\bbkua_[0-9a-fA-F]{40}",
    // Fly.io
    r"\bfo1_[A-Za-z0-9_-]{40,64}",
    r"\bfm(?:2|1r|1a)_[A-Za-z0-9+/=_-]{50,}",
    // Alibaba Cloud, Dropbox, Facebook, PayPal Braintree
    r"\bLTAI[A-Za-z0-9]{12,28}\b",
    r"\bsl\.[A-Za-z0-9_-]{120,256}",
    r"\bEAACEdEose0cBA[A-Za-z0-9]{20,512}",
    r"\baccess_token\$(?:production|sandbox)\$[A-Za-z0-9$]{40,80}",
    // Mapbox, HubSpot, X
    r"\bsk\.eyJ[A-Za-z0-9_.-]{40,512}",
    r"\bpat-(?:na1|eu1)-[0-9a-fA-F-]{36}\b",
    r"\bA{21}[A-Za-z0-9%]{50,200}",
    // Contentful, Supabase, Render, Prefect, Infracost, Octopus Deploy
    r"\bCFPAT-[A-Za-z0-9_-]{43,64}",
    r"\bsbp_[A-Za-z0-9_]{40,48}",
    r"\brnd_[A-Za-z0-9]{32}\b",
    r"\bpnu_[A-Za-z0-9]{36}\b",
    r"\bico-[A-Za-z0-9]{32}\b",
    r"\bAPI-[A-Z0-9]{26,32}\b",
    // Flutterwave, Plaid, Shippo, EasyPost
    r"\bFLW(?:SECK_TEST|SECK|PUBK_TEST)-[A-Za-z0-9_.-]{32,40}",
    r"\baccess-(?:production|sandbox|development)-[0-9a-fA-F-]{36}\b",
    r"\bshippo_(?:live|test)_[0-9a-fA-F]{40}\b",
    r"\bEZ[AT]K[A-Za-z0-9]{50,60}",
    // Typeform, Scalingo, ReadMe, Frame.io, Duffel, Clojars
    r"\btfp_[A-Za-z0-9_-]{40,72}",
    r"\btk-us-[A-Za-z0-9_-]{40,64}",
    r"\brdme_[a-z0-9]{70}\b",
    r"\bfio-u-[A-Za-z0-9_-]{60,72}",
    r"\bduffel_(?:live|test)_[A-Za-z0-9_-]{40,50}",
    r"\bCLOJARS_[a-z0-9]{60}\b",
    // Harness, Yandex Cloud, Adafruit IO, Pulumi
    r"\bpat\.[A-Za-z0-9_.-]{60,100}",
    r"\bAQVN[A-Za-z0-9_-]{35,40}",
    r"\baio_[A-Za-z0-9]{28}\b",
    r"\bpul-[0-9a-fA-F]{40}\b",
    // SonarQube, CircleCI, Heroku, Vercel, Netlify
    r"\bsq[upa]_[0-9a-fA-F]{40}\b",
    r"\bCCIPAT_[A-Za-z0-9_]{60,72}",
    r"\bHRKU-[A-Za-z0-9_-]{58,64}",
    r"\bvcp_[A-Za-z0-9]{40,64}",
    r"\bnfp_[A-Za-z0-9]{36,40}",
    // JFrog (API keys, reference tokens), Firebase server keys, Tencent Cloud
    r"\bAKCp[A-Za-z0-9]{69}\b",
    r"\bcmVmdGtuOjAxOj[A-Za-z0-9+/=]{40,96}",
    r"\bAPA91b[A-Za-z0-9_-]{130,180}",
    r"\bAKID[A-Za-z0-9]{32}\b",
    // LaunchDarkly, Sourcegraph, OpenShift, Bitbucket app passwords
    r"\b(?:sdk|mob|api)-[0-9a-fA-F-]{36}\b",
    r"\bsgp_[A-Za-z0-9_]{40,64}",
    r"\bsha256~[A-Za-z0-9_-]{43}\b",
    r"\bATBB[A-Za-z0-9]{32,40}",
    // Cloudflare origin CA, New Relic browser, Atlassian admin, Defined Networking, Docker
    // organisation, Adobe, Facebook page, GoCardless and Lob, Supabase, Honeycomb, Tavily,
    // Paddle, Neon, Stytch
    r"\bv1\.0-[0-9a-fA-F-]{171}\b",
    r"\bNRJS-[0-9a-fA-F]{19}\b",
    r"\bATCTT3[A-Za-z0-9+/=_-]{60,512}",
    r"\bdnkey-[A-Za-z0-9+/=_-]{79}",
    r"\bdckr_oat_[A-Za-z0-9_-]{24,64}",
    r"\bp8e-[A-Za-z0-9]{32}\b",
    r"\bEAA[MC][A-Za-z0-9]{100,512}",
    r"\blive_[A-Za-z0-9+/=_-]{35,40}\b",
    r"\bsb_secret_[A-Za-z0-9_-]{24,64}",
    r"\bhc[ax][im]k_[A-Za-z0-9]{26,80}",
    r"\btvly-[A-Za-z0-9_-]{30,64}",
    r"\bpdl_(?:live|sdbx)_apikey_[A-Za-z0-9_]{50,60}",
    r"\bnapi_[A-Za-z0-9]{64}\b",
    r"\bsecret-(?:live|test)-[A-Za-z0-9+/=_-]{36}\b",
    // Terraform Cloud, Mailchimp, Entra ID (Azure AD) client secrets
    r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,70}",
    r"\b[0-9a-fA-F]{32}-us[1-9][0-9]?\b",
    r"\b[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
    // Telegram bot tokens
    r"\b[0-9]{8,10}:A[A-Za-z0-9_-]{34}\b",
    // Discord and Teams webhooks
    r"https://(?:[a-z]+\.)?discord(?:app)?\.com/api/webhooks/[A-Za-z0-9/_.%@=-]{8,}",
    r"https://(?:[A-Za-z0-9-]+\.)?webhook\.office\.com/(?:webhookb2|IncomingWebhook)/[A-Za-z0-9/_.%@=-]{8,}",
    // A token as the URL's user name (https://<token>@github.com/…)
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[A-Za-z0-9_-]{20,}@",
    // Key/value forms the rule above misses: XML elements, cookie headers (the value runs to
    // the end of the line), CLI flags with a space, URL-encoded `key%3Dvalue`
    concat!(r"(?i)<[A-Za-z0-9_.:-]*(?:", key_names!(), r")>[^<\r\n]+</"),
    r#"(?i)\b(?:set-)?cookies?:[ \t]*[^\r\n"']+"#,
    concat!(
        r"(?i)--[a-z0-9_-]*(?:",
        key_names!(),
        r#")[ \t]+["']?[^\s"'-][^\s"']*"#
    ),
    concat!(r"(?i)(?:", key_names!(), r#")%3D[^\s"'&%]+"#),
    // curl -u user:password; -p after a command that takes a password there
    r#" -u ["']?[^\s:"']*:[^\s"'\\;|&]+"#,
    r#"\b(?:login|mysql|mysqldump|mariadb|sshpass|mongo|mongosh|htpasswd)\b[^;|&\r\n]* -p ["']?[^\s"'\\;|&-][^\s"'\\;|&]*"#,
    // North American phone numbers, file: URLs, UNC paths
    r"(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[-.])[2-9][0-9]{2}[-. ][0-9]{4}\b",
    r#"\bfile:/{1,3}[^\s"'<>]+"#,
    r#"\\\\[A-Za-z0-9._-]+\\[^\s"'<>|]+"#,
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
    // The naive reference is not blind: it finds every secret on its own (the message alone,
    // since a pattern that matched the common fields would match every whole line).
    for s in SECRETS {
        assert!(naive.set.is_match(s), "the naive set misses: {s}");
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
