//! Key-name rules: which field names say their value is a secret.
//!
//! The decision looks at the *last* words of the key (split on punctuation and camelCase), so
//! `db.password`, `X-Api-Key`, `AWS_SECRET_ACCESS_KEY` and `clientSecret` are secrets while
//! look-alikes (`token_type`, `max_tokens`, `password_changed_at`, `secret_name`, a bare `key`)
//! are not.

use crate::kind::Kind;

/// What a key name says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    /// The whole value is a credential of this kind.
    Secret(Kind),
    /// The value is PII of this kind when it has the right shape (digits for a phone, …).
    Pii(Kind),
    /// A credential of this kind unless the value is a count or a flag ([`is_count_or_flag`]):
    /// the bare key `pass` names a password (`pass=hunter2`) as often as a pass count
    /// (`{"pass": 3, "fail": 0}`).
    SecretUnlessCount(Kind),
}

impl KeyClass {
    /// The class this key gives `value`: `None` when the value is left to the free-text rules.
    pub(crate) fn for_value(self, value: &str) -> Option<KeyClass> {
        match self {
            KeyClass::SecretUnlessCount(_) if is_count_or_flag(value) => None,
            KeyClass::SecretUnlessCount(k) => Some(KeyClass::Secret(k)),
            c => Some(c),
        }
    }
}

/// A number (`3`, `-1`, `0.5`) or a boolean (`true`, `false`), ignoring surrounding spaces and
/// quotes: what a count or a flag under an ambiguous key looks like.
pub(crate) fn is_count_or_flag(value: &str) -> bool {
    let t = value.trim_matches(|c: char| c == '"' || c == '\'' || c.is_ascii_whitespace());
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        return true;
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !int.is_empty()
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit())
}

/// Single last words that name a password, in the languages we see in logs.
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "pw",
    "passphrase",
    "passcode",
    "passwort",
    "kennwort",
    "wachtwoord",
    "contraseña",
    "contrasena",
    "senha",
    "mdp",
    "motdepasse",
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
];

const SECRET_WORDS: &[&str] = &[
    "secret",
    "secrets",
    "secreto",
    "segreto",
    "geheim",
    "geheimnis",
    "секрет",
    "秘密",
    "密钥",
];

const TOKEN_WORDS: &[&str] = &[
    "token",
    "jeton",
    "токен",
    "jwt",
    "bearertoken",
    "トークン",
    "令牌",
];

/// Previous words that make `… token` not a credential (pagination and similar).
const BENIGN_TOKEN_PREFIX: &[&str] = &[
    "page",
    "next",
    "continuation",
    "cancellation",
    "sync",
    "resume",
    "pagination",
    "cursor",
    "lexer",
    "parser",
    "max",
    "num",
    "input",
    "output",
    "prompt",
    "completion",
    "total",
];

/// Previous words that make `… key` a credential.
const SECRET_KEY_PREFIX: &[&str] = &[
    "api",
    "private",
    "signing",
    "secret",
    "access",
    "encryption",
    "master",
    "account",
    "app",
    "application",
    "client",
    "ssh",
    "gpg",
    "pgp",
    "deploy",
    "webhook",
    "shared",
    "auth",
    "storage",
    "consumer",
    "sas",
    "subscription",
    "license",
    "licence",
    "hmac",
    "crypto",
    "decryption",
    "session",
    "service",
    "admin",
    "root",
    "write",
    "read",
    "ingest",
    "ingestion",
    "sdk",
    "dd",
    "datadog",
    "sentry",
    "server",
    "user",
    "personal",
    "integration",
    "clave",
    "cle",
    "clé",
    "schlüssel",
    "chave",
    "function",
    "functions",
    "host",
    "bot",
    "registration",
    "runner",
    "upload",
    "bearer",
    "oauth",
    "cloud",
    "project",
    "org",
    "organization",
    "workspace",
    "partner",
];

/// Glued single words (no separator) ending like a secret: `clientsecret`, `accesstoken`.
const GLUED_SUFFIXES: &[(&str, Kind)] = &[
    ("password", Kind::Password),
    ("passwd", Kind::Password),
    ("passphrase", Kind::Password),
    ("secret", Kind::Secret),
    ("apikey", Kind::ApiKey),
    ("privatekey", Kind::PrivateKey),
    ("secretkey", Kind::ApiKey),
    ("accesskey", Kind::ApiKey),
    ("accountkey", Kind::AzureKey),
    ("sessionid", Kind::Session),
    ("sessid", Kind::Session),
    ("sessiontoken", Kind::Token),
    ("accesstoken", Kind::Token),
    ("refreshtoken", Kind::Token),
    ("idtoken", Kind::Token),
    ("authtoken", Kind::Token),
    ("csrftoken", Kind::Session),
    ("xsrftoken", Kind::Session),
    ("apitoken", Kind::Token),
    ("oauthtoken", Kind::Token),
    ("cookie", Kind::Cookie),
];

/// Latin script (ASCII, Latin-1, Latin Extended): a change to or from it splits words.
pub(crate) fn latin(c: char) -> bool {
    c.is_ascii() || ('\u{c0}'..='\u{24f}').contains(&c) || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// Splits a key into lowercase words (punctuation and camelCase boundaries), keeping the last four.
fn words(key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        // a change of script (ASCII to CJK, Cyrillic, …) is a word boundary: `9密钥`
        if !cur.is_empty() && i > 0 && chars.get(i - 1).is_some_and(|p| latin(*p) != latin(c)) {
            out.push(std::mem::take(&mut cur));
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars.get(i.wrapping_sub(1)).copied().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if prev.is_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_uppercase() && next.is_lowercase())
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    if out.len() > 4 {
        out.drain(..out.len() - 4);
    }
    out
}

/// Does `key` name an HTTP route or a URL path (`http.route`, `url.path`, `url.template`,
/// `http.target`, `route`; `_` or `.` between the words, any case)? Its value is a path of a
/// URL, not of a file system: a route such as `/home/{user}/feed` or `/etc/{name}` is not
/// redacted as a file-system path, as the path of a full URL (`https://x.example/home/a`) is
/// not. Every other rule still applies (a token or an email inside the path is redacted).
pub(crate) fn is_route_key(key: &str) -> bool {
    const ROUTE_KEYS: &[&str] = &[
        "http.route",
        "url.path",
        "url.template",
        "http.target",
        "route",
    ];
    key.len() <= 12
        && ROUTE_KEYS.iter().any(|r| {
            r.len() == key.len()
                && r.bytes()
                    .zip(key.bytes())
                    .all(|(r, k)| r == k.to_ascii_lowercase() || (r == b'.' && k == b'_'))
        })
}

/// Classifies a key name.
///
/// Most keys (`trace_id`, `level`, `route`, …) are rejected by [`key_may_be_secret`] without
/// splitting the key into words or allocating.
pub(crate) fn classify(key: &str) -> Option<KeyClass> {
    if !key_may_be_secret(key) {
        return None;
    }
    classify_words(key)
}

/// Could any key with these bytes be a secret or PII name? Never false when
/// [`classify_words`] would classify the key (a property test holds the two together); false
/// for almost every other key, without allocating.
pub(crate) fn key_may_be_secret(key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 128 {
        return false;
    }
    // Trailing punctuation and spaces are not part of any word.
    let end = b
        .iter()
        .rposition(|c| c.is_ascii_alphanumeric() || *c >= 0x80)
        .map_or(0, |i| i + 1);
    let b = b.get(..end).unwrap_or(&[]);
    // `password 2`, `signature-256`: a trailing number word is dropped by the classifier.
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits < b.len() {
        let head = b.get(..b.len() - digits).unwrap_or(&[]);
        let head_end = head
            .iter()
            .rposition(|c| c.is_ascii_alphanumeric() || *c >= 0x80)
            .map_or(0, |i| i + 1);
        if let Some(h) = head.get(..head_end)
            && !h.is_empty()
            && tail_may_be_secret(h.get(h.len().saturating_sub(16)..).unwrap_or(&[]))
        {
            return true;
        }
    }
    tail_may_be_secret(b.get(b.len().saturating_sub(16)..).unwrap_or(&[]))
}

/// Classifies a key name by its words (the full decision, without the cheap gate).
fn classify_words(key: &str) -> Option<KeyClass> {
    if key.is_empty() || key.len() > 128 {
        return None;
    }
    let mut w = words(key);
    // X-Hub-Signature-256, password2: a trailing number does not change what the key names
    if w.len() >= 2
        && w.last()
            .is_some_and(|l| l.bytes().all(|c| c.is_ascii_digit()))
    {
        w.pop();
    }
    // secret_key_base, password_value, token_b64: an encoding/holder suffix keeps the meaning
    if w.len() >= 2
        && w.last().is_some_and(|l| {
            matches!(
                l.as_str(),
                "base"
                    | "value"
                    | "str"
                    | "string"
                    | "b64"
                    | "base64"
                    | "hex"
                    | "raw"
                    | "plain"
                    | "plaintext"
                    | "enc"
                    | "encrypted"
            )
        })
    {
        let head: Vec<String> = w.iter().take(w.len() - 1).cloned().collect();
        if let Some(Secret(k) | KeyClass::SecretUnlessCount(k)) = classify(&head.join("_")) {
            return Some(Secret(k));
        }
    }
    let last = w.last()?.as_str();
    let prev = if w.len() >= 2 {
        w.get(w.len() - 2).map(String::as_str)
    } else {
        None
    };
    let prev2 = if w.len() >= 3 {
        w.get(w.len() - 3).map(String::as_str)
    } else {
        None
    };
    let has = |s: &str| w.iter().any(|x| x == s);
    use KeyClass::{Pii, Secret};

    // AWS specifics first, so their kinds are precise.
    if has("aws") || has("amz") {
        if has("secret") && matches!(last, "key" | "secret") {
            return Some(Secret(Kind::AwsSecretKey));
        }
        if matches!(last, "token") && (has("session") || has("security")) {
            return Some(Secret(Kind::AwsSessionToken));
        }
    }
    if last == "key" && has("secret") && has("access") {
        return Some(Secret(Kind::AwsSecretKey));
    }
    if last == "token" && prev == Some("security") {
        return Some(Secret(Kind::AwsSessionToken));
    }

    if PASSWORD_WORDS.contains(&last) {
        // `pass` alone is ambiguous in prose keys such as `test_pass`/`first_pass`.
        if last == "pass"
            && matches!(
                prev,
                Some("test" | "first" | "second" | "last" | "bypass" | "boarding")
            )
        {
            return None;
        }
        // The bare key `pass` is a password or a pass count: its value decides.
        if last == "pass" && w.len() == 1 {
            return Some(KeyClass::SecretUnlessCount(Kind::Password));
        }
        return Some(Secret(Kind::Password));
    }
    if let (Some(p), "hash" | "digest" | "salt") = (prev, last)
        && PASSWORD_WORDS.contains(&p)
    {
        return Some(Secret(Kind::Password));
    }
    // Multi-word password names: "mot de passe", "mật khẩu", "kata sandi", "كلمة المرور".
    if matches!(
        (prev, last),
        (Some("mật"), "khẩu")
            | (Some("kata"), "sandi")
            | (Some("كلمة"), "المرور")
            | (Some("كلمة"), "السر")
    ) {
        return Some(Secret(Kind::Password));
    }
    if SECRET_WORDS.contains(&last) {
        return Some(Secret(Kind::Secret));
    }
    if TOKEN_WORDS.contains(&last) {
        if let Some(p) = prev
            && BENIGN_TOKEN_PREFIX.contains(&p)
        {
            return None;
        }
        if matches!(prev, Some("csrf" | "xsrf")) {
            return Some(Secret(Kind::Session));
        }
        return Some(Secret(Kind::Token));
    }
    if last == "key" || last == "keys" {
        let p = prev?;
        if p == "x" || BENIGN_TOKEN_PREFIX.contains(&p) {
            return None;
        }
        if matches!(p, "private" | "ssh" | "gpg" | "pgp" | "signing") {
            return Some(Secret(Kind::PrivateKey));
        }
        if p == "account" || (p == "access" && prev2 == Some("shared")) {
            return Some(Secret(Kind::AzureKey));
        }
        if SECRET_KEY_PREFIX.contains(&p) {
            return Some(Secret(Kind::ApiKey));
        }
        return None;
    }
    if matches!(last, "apikey" | "apikeys" | "xapikey") {
        return Some(Secret(Kind::ApiKey));
    }
    // A personal access token by its usual short name (`GITHUB_PAT`, `AZURE_DEVOPS_PAT`);
    // only after a service or `access` word, since a bare `pat` may be a pattern.
    if last == "pat"
        && matches!(
            prev,
            Some(
                "github"
                    | "gh"
                    | "gitlab"
                    | "gl"
                    | "git"
                    | "devops"
                    | "ado"
                    | "azure"
                    | "access"
                    | "personal"
                    | "hf"
                    | "npm"
                    | "docker"
                    | "dockerhub"
                    | "bitbucket"
                    | "atlassian"
                    | "jira"
                    | "confluence"
            )
        )
    {
        return Some(Secret(Kind::Token));
    }
    if matches!(
        last,
        "session"
            | "sessionid"
            | "sessid"
            | "phpsessid"
            | "jsessionid"
            | "sid"
            | "csrf"
            | "xsrf"
            | "csrftoken"
            | "xsrftoken"
    ) {
        if last == "sid"
            && matches!(
                prev,
                Some("account" | "service" | "messaging" | "call" | "message")
            )
        {
            return None;
        }
        return Some(Secret(Kind::Session));
    }
    if last == "id" && prev == Some("session") {
        return Some(Secret(Kind::Session));
    }
    if matches!(
        last,
        "otp" | "totp" | "hotp" | "pin" | "cvv" | "cvc" | "cvv2" | "cvc2" | "cid" | "pincode"
    ) {
        if last == "cid" && prev != Some("card") {
            return None;
        }
        return Some(Secret(Kind::Otp));
    }
    if last == "code"
        && matches!(
            prev,
            Some(
                "security"
                    | "mfa"
                    | "otp"
                    | "verification"
                    | "pin"
                    | "auth"
                    | "authorization"
                    | "2fa"
                    | "totp"
                    | "recovery"
                    | "backup"
                    | "card"
            )
        )
    {
        return Some(Secret(Kind::Otp));
    }
    if matches!(last, "signature" | "sig") {
        return Some(Secret(Kind::Signature));
    }
    if matches!(last, "cookie" | "cookies") {
        return Some(Secret(Kind::Cookie));
    }
    if matches!(last, "authorization" | "auth" | "bearer" | "authentication") {
        if last == "authentication" {
            return None;
        }
        return Some(Secret(Kind::Authorization));
    }
    if matches!(last, "credentials" | "credential" | "creds" | "cred") {
        return Some(Secret(Kind::Credentials));
    }
    for (suffix, kind) in GLUED_SUFFIXES {
        if last.len() > suffix.len() && last.ends_with(suffix) {
            return Some(Secret(*kind));
        }
    }
    if last.len() > 5 && last.ends_with("token") {
        let head = last.get(..last.len() - 5).unwrap_or("");
        if !BENIGN_TOKEN_PREFIX.contains(&head) {
            return Some(Secret(Kind::Token));
        }
    }
    // PII-named fields: the value is checked for shape by the caller.
    if matches!(last, "ssn")
        || (last == "number" && prev == Some("security") && prev2 == Some("social"))
    {
        return Some(Pii(Kind::Ssn));
    }
    if matches!(last, "pan" | "ccnum" | "cardnumber" | "ccnumber")
        || (last == "number" && matches!(prev, Some("card" | "cc")))
        || (last == "card" && prev == Some("credit"))
    {
        return Some(Pii(Kind::Card));
    }
    if matches!(
        last,
        "phone" | "mobile" | "msisdn" | "telephone" | "tel" | "phonenumber" | "cellphone"
    ) || (last == "number" && matches!(prev, Some("phone" | "mobile" | "telephone")))
    {
        return Some(Pii(Kind::Phone));
    }
    None
}

/// Three-byte key endings that may name a secret; looked up through a 32768-bit table indexed
/// by the low five bits of each byte (case-insensitive for letters; collisions only cost a
/// refinement).
const GATE_ENDINGS: &[&[u8; 3]] = &[
    b"sid", b"nid", b"cid", b"_id", b"-id", b".id", b"ion", b"ord", b"ass", b"ode", b"ort", b"one",
    b"ile", b"red", b"eds", b"ies", b"als", b"ial", b"ure", b"ton", b"ash", b"alt", b"ard", b"num",
    b"ave", b"ana", b"sse", b"ena", b"ase", b"swd", b"pwd", b"nha", b"mdp", b"ola", b"slo", b"szo",
    b"fre", b"ndi", b"ret", b"ets", b"eto", b"eim", b"nis", b"ken", b"key", b"eys", b"srf", b"otp",
    b"pin", b"cvv", b"cvc", b"vv2", b"vc2", b"sig", b"kie", b"uth", b"jwt", b"rer", b"ssn", b"pan",
    b"sdn", b"tel", b"nka", b"lue", b"est", b"ber", b"_pw", b"-pw", b".pw", b"str", b"b64", b"e64",
    b"hex", b"raw", b"enc", b"ing", b"ain", b"ext", b"ted", b"gno", b"pat",
];

/// The word of [`GATE`] for the first two bytes of an ending (five bits each, so case folds).
const fn gate_index(a: u8, b: u8) -> usize {
    (((a & 31) as usize) << 5) | ((b & 31) as usize)
}

/// One 32-bit word per first two bytes of an ending, one bit per third byte (five bits).
static GATE: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut i = 0;
    while i < GATE_ENDINGS.len() {
        let e = GATE_ENDINGS[i];
        t[gate_index(e[0], e[1])] |= 1 << (e[2] & 31);
        i += 1;
    }
    t
};

/// The three-byte ending table alone: false when no key ending in `a b c` (ASCII, `c` not a
/// digit, not a `pw` ending) can be a secret, so that [`tail_may_be_secret`] is false for it.
#[inline(always)]
pub(crate) fn ending_in_table(a: u8, b: u8, c: u8) -> bool {
    GATE.get(gate_index(a, b))
        .is_some_and(|bits| bits >> (c & 31) & 1 != 0)
}

/// The two bytes before a three-byte ending in the table, for the two endings that most
/// ordinary keys share (`trace_id`, `version`): false when no key ending in `e d a b c` can be
/// a secret, so that [`tail_may_be_secret`] is false for it. `a b c` must be ASCII key bytes
/// in the table, `c` not a digit; `e` and `d` are 0 before the start of the text.
#[inline(always)]
pub(crate) fn fourth_may_be_secret(e: u8, d: u8, a: u8, b: u8, c: u8) -> bool {
    let (b, c, d, e) = (b | 0x20, c | 0x20, d | 0x20, e | 0x20);
    if b == b'i' && c == b'd' && matches!(a, b'_' | b'-' | b'.') {
        // `session_id` and its `-` and `.` forms only (and a longer run of separators,
        // `session__id`, which the full check decides)
        return (d == b'n' && e == b'o') || !d.is_ascii_alphanumeric();
    }
    if a | 0x20 == b'i' && b == b'o' && c == b'n' {
        // `…ssion` and `…zation` only
        return (d == b's' && e == b's') || (d == b't' && e == b'a');
    }
    true
}

/// Cheap first gate for the free-text key scanner: could a key ending in these bytes be a
/// secret? `tail` holds up to the last sixteen bytes of the key and nothing before the key
/// (a short key such as `pw` is decided on its own bytes), any case. False positives are fine
/// (the full [`classify`] decides); false negatives are not.
#[inline]
pub(crate) fn tail_may_be_secret(tail: &[u8]) -> bool {
    // signature-256, password2: look past a trailing number
    if tail.last().is_some_and(u8::is_ascii_digit) && digit_tail_may_be_secret(tail) {
        return true;
    }
    ending_may_be_secret(tail)
}

#[cold]
fn digit_tail_may_be_secret(tail: &[u8]) -> bool {
    let digits = tail.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits < tail.len() {
        let mut t = tail.get(..tail.len() - digits).unwrap_or(&[]);
        if let Some((last, rest)) = t.split_last()
            && matches!(last, b'-' | b'_' | b'.')
        {
            t = rest;
        }
        if tail_may_be_secret(t) {
            return true;
        }
    }
    false
}

/// Does `tail` end with `s`, ASCII case-insensitively?
#[inline(always)]
fn ends_with_ci(tail: &[u8], s: &[u8]) -> bool {
    tail.len() >= s.len()
        && tail
            .get(tail.len() - s.len()..)
            .is_some_and(|t| t.eq_ignore_ascii_case(s))
}

/// The gate on the key's last bytes as they are.
#[inline]
fn ending_may_be_secret(tail: &[u8]) -> bool {
    let n = tail.len();
    let ends = |s: &[u8]| ends_with_ci(tail, s);
    if n < 3 {
        return tail.eq_ignore_ascii_case(b"pw");
    }
    let (Some(&a), Some(&b), Some(&c)) = (tail.get(n - 3), tail.get(n - 2), tail.get(n - 1)) else {
        return true;
    };
    if (a | b | c) >= 0x80 {
        return true;
    }
    // db_pw, x.pw, and camelCase dbPw / dbPW / MDPw (a word boundary before the capital P)
    if b.eq_ignore_ascii_case(&b'p') && c.eq_ignore_ascii_case(&b'w') {
        return !a.is_ascii_alphanumeric()
            || (b == b'P'
                && (a.is_ascii_lowercase()
                    || a.is_ascii_digit()
                    || (a.is_ascii_uppercase() && c == b'w')));
    }
    // `session` and `id` apart, as the classifier splits words (`session_id`, `session-id`,
    // `session.id`, `session id`, `session__id`): any run of separators between them
    if !a.is_ascii_alphanumeric() && b | 0x20 == b'i' && c | 0x20 == b'd' {
        let head = tail.get(..n - 2).unwrap_or(&[]);
        let seps = head
            .iter()
            .rev()
            .take_while(|c| !c.is_ascii_alphanumeric())
            .count();
        return head
            .get(..head.len().saturating_sub(seps))
            .is_some_and(|h| ends_with_ci(h, b"session"));
    }
    if !ending_in_table(a, b, c) {
        return false;
    }
    let t3 = [
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ];
    match &t3 {
        // session_id, sessionId, sid, sessid, jsessionid; not trace_id/tenant_id
        [x, b'i', b'd'] => matches!(x, b's' | b'n' | b'c'),
        b"ion" => ends(b"ssion") || ends(b"zation"),
        b"ord" => ends(b"word") || ends(b"sord") || ends(b"oord") || ends(b"nord"),
        b"ass" => ends(b"pass"),
        b"ode" => ends(b"code") || ends(b"kode"),
        b"ort" => ends(b"wort"),
        b"one" => ends(b"phone"),
        b"ile" => ends(b"mobile"),
        b"red" => ends(b"cred"),
        b"eds" => ends(b"creds"),
        b"ies" => ends(b"cookies"),
        b"als" => ends(b"entials"),
        b"ial" => ends(b"credential"),
        b"ure" => ends(b"signature"),
        b"ton" => ends(b"jeton"),
        b"ash" => ends(b"hash"),
        b"alt" => ends(b"salt"),
        b"ard" => ends(b"card"),
        b"num" => ends(b"ccnum"),
        b"ave" => ends(b"clave"),
        b"ana" => ends(b"salasana"),
        b"sse" => ends(b"passe"),
        b"ena" => ends(b"contrasena"),
        b"ase" => ends(b"phrase") || ends(b"base"),
        b"swd" | b"pwd" | b"nha" | b"mdp" | b"ola" | b"slo" | b"szo" | b"fre" | b"ndi" | b"ret"
        | b"ets" | b"eto" | b"eim" | b"nis" | b"ken" | b"key" | b"eys" | b"srf" | b"otp"
        | b"pin" | b"cvv" | b"cvc" | b"vv2" | b"vc2" | b"sig" | b"kie" | b"uth" | b"jwt"
        | b"rer" | b"ssn" | b"pan" | b"sdn" | b"tel" | b"nka" | b"lue" => true,
        b"est" => ends(b"digest"),
        b"str" | b"b64" | b"e64" | b"hex" | b"raw" | b"enc" => true,
        b"ing" => ends(b"string"),
        b"ain" => ends(b"plain"),
        b"ext" => ends(b"plaintext"),
        b"ted" => ends(b"encrypted"),
        b"gno" => ends(b"contrassegno"),
        b"pat" => true,
        b"ber" => ends(b"number"),
        [x, b'p', b'w'] => !x.is_ascii_alphanumeric(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the two bytes before an `_id` or `ion` ending say no, the tail gate says no too.
    #[test]
    fn fourth_byte_gate_never_hides_a_key() {
        let alphabet = b"_-.iIdDoOnNsStTaAzZeExX0 ";
        let mut seen = 0;
        for ending in [
            &b"_id"[..],
            b"-id",
            b".id",
            b"_ID",
            b"ion",
            b"ION",
            b"iOn",
            b"sid",
        ] {
            for &e in alphabet {
                for &d in alphabet {
                    for prefix in [
                        &b""[..],
                        b"s",
                        b"ses",
                        b"sess",
                        b"xsessi",
                        b"organiza",
                        b"pa",
                    ] {
                        let mut key = prefix.to_vec();
                        key.extend_from_slice(&[e, d]);
                        key.extend_from_slice(ending);
                        let tail = &key[key.len().saturating_sub(16)..];
                        let [a, b, c] = [ending[0], ending[1], ending[2]];
                        if !fourth_may_be_secret(e, d, a, b, c) {
                            seen += 1;
                            assert!(
                                !tail_may_be_secret(tail),
                                "{:?}",
                                String::from_utf8_lossy(&key)
                            );
                        }
                    }
                    // the key starts right after `d` (or `e`): missing bytes read as 0
                    for (e, d) in [(0, d), (0, 0), (e, d)] {
                        let [a, b, c] = [ending[0], ending[1], ending[2]];
                        let mut key: Vec<u8> = [e, d].into_iter().filter(|x| *x != 0).collect();
                        key.extend_from_slice(ending);
                        if !fourth_may_be_secret(e, d, a, b, c) {
                            assert!(
                                !tail_may_be_secret(&key),
                                "{:?}",
                                String::from_utf8_lossy(&key)
                            );
                        }
                    }
                }
            }
        }
        assert!(seen > 1000);
        for key in [
            "session_id",
            "SESSION-ID",
            "jsession.id",
            "session",
            "authorization",
        ] {
            let k = key.as_bytes();
            let n = k.len();
            assert!(
                fourth_may_be_secret(k[n - 5], k[n - 4], k[n - 3], k[n - 2], k[n - 1]),
                "{key}"
            );
        }
    }

    fn secret(k: &str) -> bool {
        matches!(classify(k), Some(KeyClass::Secret(_)))
    }

    /// The gate and the full classifier agree: whatever `classify_words` accepts passes
    /// `key_may_be_secret`, so `classify` (gate first) decides exactly like `classify_words`.
    fn agrees(key: &str) -> bool {
        classify_words(key).is_none() || key_may_be_secret(key)
    }

    /// `session` and `id` with any separator run between them, as the classifier splits
    /// words (the property test below once drew `session\0id`).
    #[test]
    fn session_id_with_any_separator_passes_the_gate() {
        for key in [
            "session_id",
            "Session-ID",
            "session.id",
            "session id",
            "session__id",
            "session$id",
            "session\0id",
            "user.session: id",
        ] {
            assert!(classify_words(key).is_some(), "{key:?}");
            assert!(key_may_be_secret(key), "{key:?}");
        }
        for key in ["trace_id", "tenant id", "version_id", "id"] {
            assert!(agrees(key), "{key:?}");
        }
    }

    /// The bare `pass` is a password unless its value is a count or a flag; longer keys that
    /// end in `pass` are passwords whatever the value.
    #[test]
    fn bare_pass_depends_on_the_value() {
        let pass = classify("pass");
        assert_eq!(pass, Some(KeyClass::SecretUnlessCount(Kind::Password)));
        for count in [
            "3", "0", "-1", "+2", "0.75", " 12 ", "\"4\"", "true", "FALSE",
        ] {
            assert!(is_count_or_flag(count), "{count}");
            assert_eq!(pass.and_then(|c| c.for_value(count)), None, "{count}");
        }
        for secret in [
            "hunter2", "1e5", "12ab", "1.2.3", ".5", "-", "", "0x10", "yes",
        ] {
            assert!(!is_count_or_flag(secret), "{secret}");
        }
        assert_eq!(
            pass.and_then(|c| c.for_value("hunter2")),
            Some(KeyClass::Secret(Kind::Password))
        );
        for k in [
            "db_pass",
            "smtpPass",
            "PASS_B64",
            "pass_value",
            "mysql.pass",
        ] {
            assert!(secret(k), "{k}");
        }
    }

    #[test]
    fn secret_names() {
        for k in [
            "password",
            "PASSWORD",
            "db.password",
            "DB_PASSWORD",
            "userPassword",
            "passwd",
            "pwd",
            "passphrase",
            "secret",
            "client_secret",
            "clientSecret",
            "api_key",
            "apiKey",
            "apikey",
            "X-Api-Key",
            "x-api-key",
            "access_token",
            "accessToken",
            "refresh_token",
            "id_token",
            "auth_token",
            "_authToken",
            "token",
            "GITHUB_TOKEN",
            "private_key",
            "signing_key",
            "credentials",
            "session",
            "sid",
            "csrf",
            "otp",
            "pin",
            "cvv",
            "signature",
            "cookie",
            "set-cookie",
            "Set-Cookie",
            "authorization",
            "Authorization",
            "Proxy-Authorization",
            "AWS_SECRET_ACCESS_KEY",
            "aws_session_token",
            "X-Amz-Security-Token",
            "session_id",
            "JSESSIONID",
            "passwort",
            "Kennwort",
            "contraseña",
            "mot_de_passe",
            "senha",
            "wachtwoord",
            "пароль",
            "密码",
            "パスワード",
            "비밀번호",
            "hasło",
            "lösenord",
            "AccountKey",
            "SharedAccessKey",
            "sig",
            "x-csrf-token",
            "password_hash",
            "spring.datasource.password",
        ] {
            assert!(secret(k), "{k} should be a secret key");
        }
    }

    #[test]
    fn look_alikes_are_not_secrets() {
        for k in [
            "token_type",
            "max_tokens",
            "password_changed_at",
            "secret_name",
            "key",
            "tokens",
            "token_count",
            "next_page_token",
            "nextPageToken",
            "password_policy",
            "secret_ref",
            "cache_key",
            "public_key",
            "primary_key",
            "status_code",
            "session_duration",
            "credential_id",
            "keyboard",
            "monkey",
            "version",
            "region",
            "AccountSid",
            "input_tokens",
            "idempotency_key",
            "trace_id",
            "tenant_id",
            "passenger",
            "passport",
            "compass",
        ] {
            assert!(!secret(k), "{k} should not be a secret key");
        }
        for k in [
            "trace_id",
            "tenant_id",
            "version",
            "region",
            "action",
            "ts",
            "id",
            "level",
            "msg",
            "route",
        ] {
            let b = k.as_bytes();
            assert!(
                !tail_may_be_secret(&b[b.len().saturating_sub(10)..]),
                "{k} passes the gate"
            );
        }
    }

    #[test]
    fn tail_gate_admits_every_secret_name() {
        for k in [
            "password",
            "apiKey",
            "token",
            "session_id",
            "sid",
            "pw",
            "db_pw",
            "dbPw",
            "userPW",
            "pw_2",
            "cvv2",
            "secrets",
            "Kennwort",
            "contrasena",
            "haslo",
            "jelszo",
            "sifre",
            "salasana",
            "clave",
            "geheimnis",
            "jeton",
            "credentials",
            "creds",
            "cookie",
            "cookies",
            "authorization",
            "auth",
            "bearer",
            "signature",
            "ssn",
            "card_number",
            "phone",
            "mobile",
            "msisdn",
            "password_hash",
            "password_salt",
            "mot_de_passe",
            "kata_sandi",
            "secreto",
            "geheim",
            "otp",
            "pin",
            "cvc",
            "jwt",
            "ccnum",
            "adgangskode",
            "passord",
            "senha",
            "mdp",
            "parola",
            "lozinka",
            "credit_card",
            "sessionId",
            "JSESSIONID",
            "PHPSESSID",
            "Authorization",
            "phone_number",
            "card_cid",
            "SecretAccessKey",
        ] {
            let b = k.as_bytes();
            let tail = &b[b.len().saturating_sub(10)..];
            assert!(tail_may_be_secret(tail), "{k}");
            assert!(classify(k).is_some(), "{k} classifies");
        }
    }

    /// The ending gate never rejects a key the classifier would accept, whatever words come
    /// before the last one (short keys such as `pw` included).
    #[test]
    fn gate_agrees_with_classifier_for_every_word() {
        let lasts = PASSWORD_WORDS
            .iter()
            .chain(SECRET_WORDS)
            .chain(TOKEN_WORDS)
            .copied()
            .chain(GLUED_SUFFIXES.iter().map(|(s, _)| *s))
            .chain([
                "sid",
                "csrf",
                "otp",
                "pin",
                "cvv",
                "cvc",
                "sig",
                "signature",
                "cookie",
                "auth",
                "authorization",
                "bearer",
                "creds",
                "credentials",
                "ssn",
                "pan",
                "phone",
                "tel",
                "msisdn",
                "mobile",
                "apikey",
                "session",
                "sessionid",
                "jsessionid",
            ]);
        let mut missed = Vec::new();
        for last in lasts {
            let mut upper = last.to_uppercase();
            let mut camel = String::new();
            let mut cs = last.chars();
            if let Some(f) = cs.next() {
                camel.extend(f.to_uppercase());
                camel.extend(cs);
            }
            for key in [
                last.to_owned(),
                format!("db_{last}"),
                format!("db.{last}"),
                format!("x-{last}"),
                format!("user{camel}"),
                format!("USER_{upper}"),
                format!("{last}2"),
                format!("{last}_1"),
            ] {
                let b = key.as_bytes();
                if classify(&key).is_some() && !tail_may_be_secret(&b[b.len().saturating_sub(16)..])
                {
                    missed.push(key);
                }
            }
            upper.clear();
        }
        assert!(missed.is_empty(), "the gate rejects {missed:?}");
    }

    fn all_words() -> Vec<&'static str> {
        PASSWORD_WORDS
            .iter()
            .chain(SECRET_WORDS)
            .chain(TOKEN_WORDS)
            .chain(BENIGN_TOKEN_PREFIX)
            .chain(SECRET_KEY_PREFIX)
            .copied()
            .chain(GLUED_SUFFIXES.iter().map(|(s, _)| *s))
            .chain([
                "key",
                "keys",
                "id",
                "sid",
                "csrf",
                "xsrf",
                "otp",
                "pin",
                "cvv",
                "cvc2",
                "cid",
                "card",
                "code",
                "security",
                "social",
                "number",
                "sig",
                "signature",
                "cookie",
                "auth",
                "authorization",
                "bearer",
                "creds",
                "credentials",
                "ssn",
                "pan",
                "phone",
                "tel",
                "msisdn",
                "mobile",
                "apikey",
                "session",
                "sessionid",
                "jsessionid",
                "hash",
                "salt",
                "digest",
                "value",
                "base",
                "b64",
                "hex",
                "str",
                "aws",
                "amz",
                "x",
                "mot",
                "de",
                "kata",
                "sandi",
                "credit",
                "cc",
            ])
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Keys built from classifier words, case changes, separators, digits and arbitrary
        /// characters: the cheap gate never rejects a key the classifier accepts.
        #[test]
        fn gate_never_rejects_a_classified_key(
            parts in proptest::collection::vec(
                (0usize..400, 0u8..6, "[ _.:/\\-]{0,2}|[0-9]{1,3}|.{0,2}"),
                1..5,
            )
        ) {
            let words = all_words();
            let mut key = String::new();
            for (w, case, sep) in &parts {
                let word = words[w % words.len()];
                match case {
                    0 => key.push_str(word),
                    1 => key.push_str(&word.to_uppercase()),
                    2 => {
                        let mut cs = word.chars();
                        if let Some(f) = cs.next() {
                            key.extend(f.to_uppercase());
                            key.extend(cs);
                        }
                    }
                    _ => {}
                }
                key.push_str(sep);
            }
            proptest::prop_assert!(agrees(&key), "gate rejects {:?}", key);
        }
    }

    /// The free-text scanner gates a key of three bytes or more (not ending in `pw`) on the raw
    /// sixteen bytes before the separator, which may include bytes before the key: that never
    /// rejects a key whose own bytes pass.
    #[test]
    fn raw_bytes_before_a_long_key_never_hide_it() {
        let key_char =
            |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') || c >= 0x80;
        let mut checked = 0;
        for w in all_words() {
            for key in [
                w.to_owned(),
                format!("db_{w}"),
                format!("{w}2"),
                format!("{w}_2"),
                format!("x{w}"),
            ] {
                let k = key.as_bytes();
                let n = k.len();
                if n < 3 || k[n - 2..].eq_ignore_ascii_case(b"pw") {
                    continue;
                }
                let own = tail_may_be_secret(&k[n.saturating_sub(16)..]);
                for prefix in [" ", "\"", "{\"", "x ", ":", "=", "&", "abc def ", "\\\""] {
                    let raw = format!("{prefix}{key}");
                    let r = raw.as_bytes();
                    assert!(!key_char(r[r.len() - n - 1]));
                    if own {
                        assert!(
                            tail_may_be_secret(&r[r.len().saturating_sub(16)..]),
                            "{raw}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000);
    }
}
