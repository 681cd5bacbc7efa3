//! The [`Scrubber`], its builder and the per-tenant [`ScrubView`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::counts::{Counters, RedactionCounts};
use crate::detect::{self, Engine, Hit, Label, PrivateIpPolicy, RepoRoots, Settings};
use crate::error::BuildError;
use crate::grants::Grants;
use crate::keys::{self, KeyClass};
use crate::kind::{Kind, PiiKind, PiiSet};
use crate::rules::{MAX_CUSTOM_RULES, Rule};

/// The default bound on one scanned value: 64 KiB.
///
/// # Examples
///
/// ```
/// use stella_scrub::{DEFAULT_MAX_INPUT_LEN, Scrubber};
/// assert_eq!(Scrubber::builder().build()?.max_input_len(), DEFAULT_MAX_INPUT_LEN);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_MAX_INPUT_LEN: usize = 64 * 1024;

/// The deepest JSON nesting [`Scrubber::scrub_json`] walks; deeper values become `"[TRUNCATED:depth]"`.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use stella_scrub::{MAX_JSON_DEPTH, Scrubber};
/// let mut deep = json!("bottom");
/// for _ in 0..MAX_JSON_DEPTH + 1 {
///     deep = json!([deep]);
/// }
/// let out = Scrubber::builder().build()?.scrub_json(&deep);
/// assert!(out.to_string().contains("[TRUNCATED:depth]"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_JSON_DEPTH: usize = 128;

const TRUNCATION_MARKER_MAX: usize = 40;

struct Tagger(Hmac<Sha256>);

impl fmt::Debug for Tagger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tagger(HMAC-SHA256, key hidden)")
    }
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    counters: Counters,
    grants: Grants,
    tagger: Option<Tagger>,
    max_len: usize,
}

/// The redaction engine. Build it once, then scrub from any thread.
///
/// Cheap to clone (an `Arc` inside); clones share redaction counts and the grants registry.
/// Every method takes `&self` and never panics; when nothing is redacted, [`scrub`](Self::scrub)
/// returns the input borrowed, without allocating.
///
/// # Examples
///
/// ```
/// use stella_scrub::Scrubber;
///
/// let scrubber = Scrubber::builder().with_repo_root("/srv/app").build()?;
/// let line = "GET /api/v1/users?id=7 from 8.8.8.8 token=ghp_0123456789abcdefghijABCDEFGHIJ012345";
/// assert_eq!(
///     scrubber.scrub(line),
///     "GET /api/v1/users?id=7 from [REDACTED:ip] token=[REDACTED:github_token]"
/// );
/// // Nothing to redact: borrowed, byte-identical.
/// let clean = "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 took 12ms";
/// assert!(matches!(scrubber.scrub(clean), std::borrow::Cow::Borrowed(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scrubber {
    inner: Arc<Inner>,
}

/// Builds a [`Scrubber`]: the built-in catalogue plus configuration.
///
/// # Examples
///
/// ```
/// use stella_scrub::{PrivateIpPolicy, Scrubber};
/// let scrubber = Scrubber::builder()
///     .with_repo_root("/work/main")
///     .with_private_ips(PrivateIpPolicy::Keep)
///     .with_max_input_len(16 * 1024)
///     .with_hmac_key(b"per-deployment secret".to_vec())
///     .build()?;
/// assert!(scrubber.scrub("a@b.example").starts_with("[REDACTED:email#"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ScrubberBuilder {
    repo_roots: Vec<String>,
    path_roots: Option<Vec<String>>,
    extra_path_roots: Vec<String>,
    private_ips: PrivateIpPolicy,
    max_len: Option<usize>,
    hmac_key: Option<Vec<u8>>,
    rules: Vec<Rule>,
    grants: Option<Grants>,
}

impl ScrubberBuilder {
    /// Keeps absolute paths under `root` (component-wise, after normalising `.` and `..`).
    /// May be called more than once. Without a root, every absolute path is redacted.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().with_repo_root("/work/main").build()?;
    /// assert_eq!(s.scrub("/work/main/src/lib.rs"), "/work/main/src/lib.rs");
    /// assert_eq!(s.scrub("/work/main/../other/x"), "[REDACTED:path]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_repo_root(mut self, root: impl Into<String>) -> Self {
        self.repo_roots.push(root.into());
        self
    }

    /// Replaces the list of well-known roots that mark the start of an absolute path
    /// (default: `/home/ /Users/ /root/ /etc/ /var/ /tmp/ /opt/ /srv/ /mnt/ /usr/ …`).
    /// Each must start and end with `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().with_path_roots(["/data/"]).build()?;
    /// assert_eq!(s.scrub("read /data/users.csv"), "read [REDACTED:path]");
    /// assert_eq!(s.scrub("read /home/bob/notes"), "read /home/bob/notes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_path_roots<I, S>(mut self, roots: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.path_roots = Some(roots.into_iter().map(Into::into).collect());
        self
    }

    /// Adds one well-known root (for example `/app/` for container images).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().with_path_root("/app/").build()?;
    /// assert_eq!(s.scrub("open /app/config/prod.yaml"), "open [REDACTED:path]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_path_root(mut self, root: impl Into<String>) -> Self {
        self.extra_path_roots.push(root.into());
        self
    }

    /// How private-range IP addresses are treated (default [`PrivateIpPolicy::Keep`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{PrivateIpPolicy, Scrubber};
    /// let keep = Scrubber::builder().build()?;
    /// let redact = Scrubber::builder().with_private_ips(PrivateIpPolicy::Redact).build()?;
    /// assert_eq!(keep.scrub("peer 10.0.0.7"), "peer 10.0.0.7");
    /// assert_eq!(redact.scrub("peer 10.0.0.7"), "peer [REDACTED:ip]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_private_ips(mut self, policy: PrivateIpPolicy) -> Self {
        self.private_ips = policy;
        self
    }

    /// The longest value scanned (default [`DEFAULT_MAX_INPUT_LEN`]). Longer values are cut at
    /// a token boundary, scanned, and end in `[TRUNCATED:<n> bytes]`; the rest is dropped, never
    /// passed through unscanned.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().with_max_input_len(1024).build()?;
    /// let long = "word ".repeat(400);
    /// let out = s.scrub(&long);
    /// assert!(out.len() <= 1024);
    /// assert!(out.ends_with(" bytes]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_input_len(mut self, bytes: usize) -> Self {
        self.max_len = Some(bytes);
        self
    }

    /// Tags each redaction with the first 8 hex digits of HMAC-SHA256(key, secret):
    /// `[REDACTED:password#1a2b3c4d]`, so equal secrets correlate without being recoverable.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder()
    ///     .with_hmac_key(b"a per-deployment key".to_vec())
    ///     .build()?;
    /// let a = s.scrub("password=hunter2");
    /// assert!(a.starts_with("password=[REDACTED:password#"));
    /// assert_eq!(s.scrub("pwd=hunter2").split('#').nth(1), a.split('#').nth(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.hmac_key = Some(key.into());
        self
    }

    /// Adds a custom rule (see [`rules`](crate::rules)).
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Scrubber, rules::Rule};
    /// let s = Scrubber::builder()
    ///     .with_rule(Rule::new("acme_key", r"ACME-[0-9a-f]{16}").with_anchor("ACME-"))
    ///     .build()?;
    /// assert_eq!(s.scrub("key ACME-0123456789abcdef"), "key [REDACTED:acme_key]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Uses a shared grants registry (for per-tenant deep debug) instead of a private one.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Scrubber, grants::Grants};
    /// let grants = Grants::new();
    /// let s = Scrubber::builder().with_grants(grants.clone()).build()?;
    /// assert!(s.grants().active().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = Some(grants);
        self
    }

    /// Compiles everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Scrubber, rules::Rule};
    /// let scrubber = Scrubber::builder().with_repo_root("/srv/app").build()?;
    /// # let _ = scrubber;
    /// let err = Scrubber::builder().with_rule(Rule::new("bad_rule", "(")).build().unwrap_err();
    /// assert_eq!(err.rule_name(), Some("bad_rule"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the custom rule or setting at fault: a rule whose regex does not
    /// compile, matches the empty string, has a bad name or short anchors; more than
    /// [`MAX_CUSTOM_RULES`] rules; a repository root that is not absolute; a path root that does
    /// not start and end with `/`; an HMAC key shorter than 16 bytes; a maximum input length
    /// under 256 bytes.
    pub fn build(self) -> Result<Scrubber, BuildError> {
        if self.rules.len() > MAX_CUSTOM_RULES {
            return Err(BuildError::setting(
                "rules",
                format!("at most {MAX_CUSTOM_RULES} custom rules"),
            ));
        }
        let max_len = self.max_len.unwrap_or(DEFAULT_MAX_INPUT_LEN);
        if max_len < 256 {
            return Err(BuildError::setting(
                "max_input_len",
                "must be at least 256 bytes",
            ));
        }
        let mut roots = RepoRoots::default();
        for r in &self.repo_roots {
            if !roots.add(r) {
                return Err(BuildError::setting(
                    "repo_root",
                    format!("`{r}` is not an absolute path"),
                ));
            }
        }
        let mut path_roots: Vec<String> = match self.path_roots {
            Some(v) => v,
            None => detect::default_path_roots(),
        };
        path_roots.extend(self.extra_path_roots);
        for r in &path_roots {
            if r.len() < 3 || !r.starts_with('/') || !r.ends_with('/') {
                return Err(BuildError::setting(
                    "path_roots",
                    format!("`{r}` must look like `/name/`"),
                ));
            }
        }
        path_roots.sort();
        path_roots.dedup();
        let tagger = match self.hmac_key {
            Some(k) if k.len() < 16 => {
                return Err(BuildError::setting("hmac_key", "must be at least 16 bytes"));
            }
            Some(k) => Some(Tagger(
                <Hmac<Sha256> as KeyInit>::new_from_slice(&k)
                    .map_err(|e| BuildError::setting("hmac_key", e.to_string()))?,
            )),
            None => None,
        };
        let mut names = Vec::new();
        let mut custom = Vec::new();
        for rule in self.rules {
            let (name, compiled, anchors) = rule.compile()?;
            if names.contains(&name) {
                return Err(BuildError::rule(&name, "duplicate rule name"));
            }
            names.push(name);
            custom.push((compiled, anchors));
        }
        let settings = Settings::new(self.private_ips, roots, path_roots);
        let engine = Engine::build(settings, custom)?;
        Ok(Scrubber {
            inner: Arc::new(Inner {
                engine,
                counters: Counters::new(names),
                grants: self.grants.unwrap_or_default(),
                tagger,
                max_len,
            }),
        })
    }
}

thread_local! {
    static HITS: RefCell<Vec<Hit>> = const { RefCell::new(Vec::new()) };
}

impl Scrubber {
    /// A builder with the full built-in catalogue and default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let scrubber = stella_scrub::Scrubber::builder().build()?;
    /// assert_eq!(scrubber.scrub("token=ghp_0123456789abcdefghijABCDEFGHIJ012345"), "token=[REDACTED:github_token]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ScrubberBuilder {
        ScrubberBuilder::default()
    }

    /// Scrubs free text. Returns the input borrowed when nothing is redacted.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert_eq!(s.scrub("password reset requested"), "password reset requested");
    /// assert_eq!(s.scrub("password=hunter2"), "password=[REDACTED:password]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.scrub_with(text, PiiSet::EMPTY)
    }

    /// Appends the scrubbed `text` to `out` (the caller's reusable buffer).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// let mut buf = String::new();
    /// s.scrub_into("mail bob@example.com", &mut buf);
    /// assert_eq!(buf, "mail [REDACTED:email]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrub_into(&self, text: &str, out: &mut String) {
        self.scrub_into_with(text, out, PiiSet::EMPTY);
    }

    /// Scrubs a value knowing its field name: when the key names a secret (`password`,
    /// `X-Api-Key`, `client_secret`, …; not look-alikes such as `token_type`), the whole value
    /// is redacted; when it names an HTTP route or a URL path (`http.route`, `url.path`,
    /// `url.template`, `http.target`, `route`), the value is scrubbed as free text except that
    /// it is not taken for a file-system path (`/home/{user}/feed` is a route); otherwise it is
    /// scrubbed as free text.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert_eq!(s.scrub_field("db.password", "hunter2"), "[REDACTED:password]");
    /// assert_eq!(s.scrub_field("token_type", "Bearer"), "Bearer");
    /// assert_eq!(s.scrub_field("message", "hi bob@example.com"), "hi [REDACTED:email]");
    /// assert_eq!(s.scrub_field("http.route", "/home/{user}/feed"), "/home/{user}/feed");
    /// assert_eq!(s.scrub_field("message", "read /home/bob/notes"), "read [REDACTED:path]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrub_field<'a>(&self, key: &str, value: &'a str) -> Cow<'a, str> {
        self.scrub_field_with(key, value, PiiSet::EMPTY)
    }

    /// Does `key` name a secret or a PII field, so that [`scrub_field`](Self::scrub_field)
    /// decides by the key and not only by the value?
    ///
    /// True for credential names (`password`, `X-Api-Key`, `client_secret`; the ambiguous
    /// `pass`, whose counts and flags are kept) and for PII names whose values are redacted
    /// whole when they have the right shape (`phone`, `ssn`, `card_number`). Look-alikes
    /// (`token_type`, `max_tokens`, `password_changed_at`, `secret_name`, a bare `key`) are
    /// not secret keys. A route key (`http.route`) is not a secret key either, but its values
    /// are scrubbed as URL paths: [`scrubs_as_text`](Self::scrubs_as_text) says when a key's
    /// values are plain free text.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.is_secret_key("db.password"));
    /// assert!(s.is_secret_key("X-Api-Key"));
    /// assert!(s.is_secret_key("phone"));
    /// assert!(!s.is_secret_key("token_type"));
    /// assert!(!s.is_secret_key("trace_id"));
    /// // false: the key says nothing, the value is scrubbed as free text
    /// assert_eq!(s.scrub_field("trace_id", "a@b.example"), s.scrub("a@b.example"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_secret_key(&self, key: &str) -> bool {
        keys::classify(key).is_some()
    }

    /// Are the values of `key` scrubbed as plain free text, so that `scrub_field(key, v)`
    /// equals `scrub(v)` for every `v`? False for secret and PII keys
    /// ([`is_secret_key`](Self::is_secret_key)) and for route keys (`http.route`, `url.path`,
    /// `url.template`, `http.target`, `route`), whose values are not taken for file-system
    /// paths. A caller may classify a field name once with it and scrub the values of the keys
    /// it accepts as free text (in one batch, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.scrubs_as_text("trace_id"));
    /// assert!(!s.scrubs_as_text("password"));
    /// assert!(!s.scrubs_as_text("http.route"));
    /// assert_eq!(s.scrub_field("trace_id", "a@b.example"), s.scrub("a@b.example"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrubs_as_text(&self, key: &str) -> bool {
        keys::classify(key).is_none() && !keys::is_route_key(key)
    }

    /// Scrubs a JSON value: every string is scrubbed with its object key as the field name;
    /// values under a secret key are redacted whole (numbers become the marker string). Object
    /// keys are scrubbed as free text too (a map keyed by email addresses leaks otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// let v = json!({"user": "bob@example.com", "login": {"password": "x1", "pin": 1234}, "n": 3});
    /// assert_eq!(
    ///     s.scrub_json(&v),
    ///     json!({"user": "[REDACTED:email]", "login": {"password": "[REDACTED:password]", "pin": "[REDACTED:otp]"}, "n": 3})
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrub_json(&self, value: &Value) -> Value {
        self.scrub_json_with(value, PiiSet::EMPTY)
    }

    /// [`scrub_json`](Self::scrub_json) on a value the caller owns: only the strings and keys
    /// that change are replaced, so a clean value is neither copied nor allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// let mut v = json!({"user": "bob", "password": "x1", "from": "8.8.8.8"});
    /// s.scrub_json_in_place(&mut v);
    /// assert_eq!(v, json!({"user": "bob", "password": "[REDACTED:password]", "from": "[REDACTED:ip]"}));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scrub_json_in_place(&self, value: &mut Value) {
        self.walk(value, None, PiiSet::EMPTY, 0);
    }

    /// A view that scrubs on behalf of `tenant`: PII kinds relaxed by the tenant's active
    /// deep-debug grants are left in place. Credentials are always redacted. `None` (no tenant
    /// known) relaxes nothing. The grants are looked up once, when the view is made.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// // no grant: same as the scrubber itself
    /// assert_eq!(s.for_tenant(Some("acme")).scrub("8.8.8.8"), "[REDACTED:ip]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_tenant(&self, tenant: Option<&str>) -> ScrubView<'_> {
        let relaxed = match tenant {
            Some(t) => self.inner.grants.relaxed_set(t),
            None => PiiSet::EMPTY,
        };
        ScrubView {
            scrubber: self,
            relaxed,
        }
    }

    /// The grants registry this scrubber consults.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.grants().active().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grants(&self) -> &Grants {
        &self.inner.grants
    }

    /// How many redactions of each kind this scrubber and its clones have made.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// s.scrub("mail a@b.example and c@d.example");
    /// s.clone().scrub("password=hunter2");
    /// let counts = s.redaction_counts();
    /// assert_eq!((counts.get("email"), counts.get("password")), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn redaction_counts(&self) -> RedactionCounts {
        self.inner.counters.snapshot()
    }

    /// Heap bytes held by the compiled automata.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.memory_usage() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_usage(&self) -> usize {
        self.inner.engine.memory_usage()
    }

    /// The bound on one scanned value.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().with_max_input_len(4096).build()?;
    /// assert_eq!(s.max_input_len(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_input_len(&self) -> usize {
        self.inner.max_len
    }

    // === internals ===

    fn scrub_with<'a>(&self, text: &'a str, relaxed: PiiSet) -> Cow<'a, str> {
        if text.len() > self.inner.max_len {
            let mut out = String::new();
            self.scrub_into_with(text, &mut out, relaxed);
            return Cow::Owned(out);
        }
        let scrub = |hits: &mut Vec<Hit>| {
            hits.clear();
            self.inner.engine.detect(text, relaxed, hits);
            if hits.is_empty() {
                Cow::Borrowed(text)
            } else {
                let mut out = String::with_capacity(text.len() + 16);
                self.render(text, hits, &mut out);
                Cow::Owned(out)
            }
        };
        // The thread's buffer, or a fresh one while it is in use or the thread's locals are
        // being destroyed (never a panic).
        HITS.try_with(|cell| cell.try_borrow_mut().ok().map(|mut hits| scrub(&mut hits)))
            .ok()
            .flatten()
            .unwrap_or_else(|| scrub(&mut Vec::new()))
    }

    fn scrub_into_with(&self, text: &str, out: &mut String, relaxed: PiiSet) {
        let (scan, dropped) = if text.len() > self.inner.max_len {
            let cut = cut_point(text, self.inner.max_len - TRUNCATION_MARKER_MAX);
            (text.get(..cut).unwrap_or(""), text.len() - cut)
        } else {
            (text, 0)
        };
        let mut hits = Vec::new();
        self.inner.engine.detect(scan, relaxed, &mut hits);
        if hits.is_empty() {
            out.push_str(scan);
        } else {
            self.render(scan, &hits, out);
        }
        if dropped > 0 {
            out.push_str(&format!("[TRUNCATED:{dropped} bytes]"));
        }
    }

    fn render(&self, text: &str, hits: &[Hit], out: &mut String) {
        let mut last = 0;
        for h in hits {
            out.push_str(text.get(last..h.start).unwrap_or(""));
            let secret = text.get(h.start..h.end).unwrap_or("");
            // A bare JSON number (`"card": 4111111111111111`) becomes a string, so a JSON line
            // stays valid JSON.
            let quote = bare_json_number(text, h.start, h.end, secret);
            if quote {
                out.push('"');
            }
            self.marker(h.label, secret, out);
            if quote {
                out.push('"');
            }
            last = h.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
    }

    fn marker(&self, label: Label, secret: &str, out: &mut String) {
        out.push_str("[REDACTED:");
        match label {
            Label::Kind(k) => {
                out.push_str(k.as_str());
                self.inner.counters.add_builtin(k, 1);
            }
            Label::Custom(i) => {
                let counts = &self.inner.counters;
                counts.add_custom(usize::from(i), 1);
                out.push_str(counts.custom_name(usize::from(i)));
            }
        }
        if let Some(t) = &self.inner.tagger {
            let mut mac = t.0.clone();
            mac.update(secret.as_bytes());
            let tag = mac.finalize().into_bytes();
            out.push('#');
            for b in tag.iter().take(4) {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out.push(']');
    }

    fn whole(&self, kind: Kind, value: &str) -> String {
        let mut out = String::with_capacity(24);
        self.marker(Label::Kind(kind), value, &mut out);
        out
    }

    fn scrub_field_with<'a>(&self, key: &str, value: &'a str, relaxed: PiiSet) -> Cow<'a, str> {
        let class = keys::classify(key);
        self.scrub_classified(class, value, relaxed_for(key, class, relaxed))
    }

    /// [`scrub_field`](Self::scrub_field) with the key already classified.
    fn scrub_classified<'a>(
        &self,
        class: Option<KeyClass>,
        value: &'a str,
        relaxed: PiiSet,
    ) -> Cow<'a, str> {
        match class.and_then(|c| c.for_value(value)) {
            Some(KeyClass::Secret(kind)) if !detect::is_placeholder(value) => {
                Cow::Owned(self.whole(kind, value))
            }
            Some(KeyClass::Pii(kind))
                if !relaxed.relaxes(kind)
                    && crate::detect::pii_shape(kind, value.trim())
                    && !detect::is_placeholder(value) =>
            {
                Cow::Owned(self.whole(kind, value))
            }
            _ => self.scrub_with(value, relaxed),
        }
    }

    fn scrub_json_with(&self, value: &Value, relaxed: PiiSet) -> Value {
        let mut out = value.clone();
        self.walk(&mut out, None, relaxed, 0);
        out
    }

    /// Scrubs `value` where it is: only the strings (and keys) that change are replaced, so a
    /// clean value costs no allocation.
    fn walk(&self, value: &mut Value, under_secret: Option<Kind>, relaxed: PiiSet, depth: usize) {
        if depth >= MAX_JSON_DEPTH {
            *value = Value::String("[TRUNCATED:depth]".to_owned());
            return;
        }
        match value {
            Value::String(s) => match under_secret {
                Some(kind) if !detect::is_placeholder(s) => *s = self.whole(kind, s),
                _ => {
                    if let Cow::Owned(o) = self.scrub_with(s, relaxed) {
                        *s = o;
                    }
                }
            },
            Value::Number(n) => {
                if let Some(kind) = under_secret {
                    let marker = self.whole(kind, &n.to_string());
                    *value = Value::String(marker);
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.walk(v, under_secret, relaxed, depth + 1);
                }
            }
            Value::Object(map) => self.walk_object(map, under_secret, relaxed, depth),
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn walk_object(
        &self,
        map: &mut serde_json::Map<String, Value>,
        under_secret: Option<Kind>,
        relaxed: PiiSet,
        depth: usize,
    ) {
        // {"name": "DB_PASSWORD", "value": "…"} (Kubernetes env, .NET settings)
        let sibling = ["name", "Name", "key", "Key"]
            .iter()
            .find_map(|n| match map.get(*n) {
                Some(Value::String(s)) => match keys::classify(s) {
                    Some(KeyClass::Secret(kind) | KeyClass::SecretUnlessCount(kind)) => Some(kind),
                    _ => None,
                },
                _ => None,
            });
        let mut renamed: Vec<(String, String)> = Vec::new();
        for (k, v) in map.iter_mut() {
            // each key is classified once
            let class = keys::classify(k);
            let sibling_secret = if k.eq_ignore_ascii_case("value") {
                sibling
            } else {
                None
            };
            let child_secret = under_secret.or(sibling_secret).or(match class {
                // `auth` and `session` often name sections ({"auth": {"method": …}}): their
                // objects are walked key by key, their strings redacted whole.
                Some(KeyClass::Secret(Kind::Authorization | Kind::Session)) if v.is_object() => {
                    None
                }
                Some(KeyClass::Secret(kind)) => Some(kind),
                // `pass`: a count or flag stays; a string is decided by its value below.
                Some(KeyClass::SecretUnlessCount(kind))
                    if !matches!(v, Value::Number(_) | Value::String(_)) =>
                {
                    Some(kind)
                }
                _ => None,
            });
            match (&mut *v, child_secret) {
                (Value::String(s), None) => {
                    let relaxed = relaxed_for(k, class, relaxed);
                    if let Cow::Owned(o) = self.scrub_classified(class, s, relaxed) {
                        *s = o;
                    }
                }
                (Value::Number(n), None) => {
                    if let Some(KeyClass::Pii(kind)) = class
                        && !relaxed.relaxes(kind)
                    {
                        let text = n.to_string();
                        if detect::pii_shape(kind, &text) {
                            *v = Value::String(self.whole(kind, &text));
                        }
                    }
                }
                _ => self.walk(v, child_secret, relaxed, depth + 1),
            }
            // Object keys are scrubbed as free text too (a map keyed by email addresses).
            if let Cow::Owned(new_k) = self.scrub_with(k, relaxed) {
                renamed.push((k.clone(), new_k));
            }
        }
        if !renamed.is_empty() {
            for (k, v) in std::mem::take(map) {
                let new_k = match renamed.iter_mut().find(|(old, _)| *old == k) {
                    Some((_, new_k)) => std::mem::take(new_k),
                    None => k,
                };
                map.insert(new_k, v);
            }
        }
    }
}

/// `relaxed`, and file-system paths too when `key` (classified as `class`) names an HTTP route
/// or a URL path: its value is the path of a URL.
fn relaxed_for(key: &str, class: Option<KeyClass>, relaxed: PiiSet) -> PiiSet {
    if class.is_none() && keys::is_route_key(key) {
        relaxed.with(crate::PiiKind::Path)
    } else {
        relaxed
    }
}

fn bare_json_number(text: &str, start: usize, end: usize, secret: &str) -> bool {
    if secret.is_empty()
        || !secret
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'+' | b'-' | b'e' | b'E'))
    {
        return false;
    }
    let before = text
        .get(..start)
        .unwrap_or("")
        .trim_end_matches([' ', '\t', '\n', '\r']);
    let after = text
        .get(end..)
        .unwrap_or("")
        .trim_start_matches([' ', '\t', '\n', '\r']);
    matches!(before.bytes().last(), Some(b':' | b'[' | b','))
        && (after.is_empty() || matches!(after.bytes().next(), Some(b',' | b']' | b'}')))
        && !inside_json_string(text, start)
}

/// Is `pos` inside a JSON string (an odd number of unescaped quotes before it)?
pub(crate) fn inside_json_string(text: &str, pos: usize) -> bool {
    let mut state = (false, false);
    for &c in text.as_bytes().iter().take(pos) {
        state = quote_step(state, c);
    }
    state.0
}

/// One byte of the quote-parity walk: `(inside a string, the next byte is escaped)` after `c`.
#[inline]
pub(crate) fn quote_step((inside, escaped): (bool, bool), c: u8) -> (bool, bool) {
    if escaped {
        (inside, false)
    } else if c == b'\\' {
        (inside, inside)
    } else if c == b'"' {
        (!inside, false)
    } else {
        (inside, false)
    }
}

/// A cut point at or below `max`, on a char boundary, backed off to the start of the token it
/// would split (so a cut never leaves half a secret that no rule recognises any more).
fn cut_point(text: &str, max: usize) -> usize {
    let mut cut = max.min(text.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let b = text.as_bytes();
    let mut back = cut;
    while back > 0 && cut - back < 512 {
        let c = b.get(back - 1).copied().unwrap_or(b' ');
        if c.is_ascii_whitespace() || matches!(c, b'"' | b',' | b';' | b'{' | b'}' | b'[' | b']') {
            return back;
        }
        back -= 1;
    }
    // One token longer than 512 bytes: drop it whole.
    back
}

/// A scrubber acting for one tenant, with that tenant's deep-debug grants applied.
/// Made by [`Scrubber::for_tenant`]; cheap (a reference and a small set).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::{PiiKind, Scrubber, grants::GrantRequest};
/// let scrubber = Scrubber::builder().build()?;
/// scrubber.grants().grant(
///     GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(600))
///         .with_actor("alice")
///         .with_reason("INC-7"),
/// )?;
/// let view = scrubber.for_tenant(Some("acme"));
/// assert_eq!(view.relaxed(), vec![PiiKind::Email]);
/// assert!(!view.is_strict());
/// assert_eq!(view.scrub("bob@example.com password=x1"), "bob@example.com password=[REDACTED:password]");
/// assert_eq!(view.scrub_field("api_key", "k-1"), "[REDACTED:api_key]");
/// let doc = serde_json::json!({"user": "bob@example.com"});
/// assert_eq!(view.scrub_json(&doc), doc);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ScrubView<'s> {
    scrubber: &'s Scrubber,
    relaxed: PiiSet,
}

impl ScrubView<'_> {
    /// [`Scrubber::scrub`] for this tenant.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.scrubber.scrub_with(text, self.relaxed)
    }

    /// [`Scrubber::scrub_into`] for this tenant.
    pub fn scrub_into(&self, text: &str, out: &mut String) {
        self.scrubber.scrub_into_with(text, out, self.relaxed);
    }

    /// [`Scrubber::scrub_field`] for this tenant.
    pub fn scrub_field<'a>(&self, key: &str, value: &'a str) -> Cow<'a, str> {
        self.scrubber.scrub_field_with(key, value, self.relaxed)
    }

    /// [`Scrubber::scrub_json`] for this tenant.
    pub fn scrub_json(&self, value: &Value) -> Value {
        self.scrubber.scrub_json_with(value, self.relaxed)
    }

    /// [`Scrubber::scrub_json_in_place`] for this tenant.
    pub fn scrub_json_in_place(&self, value: &mut Value) {
        self.scrubber.walk(value, None, self.relaxed, 0);
    }

    /// Does this view relax nothing, so that it scrubs exactly like the scrubber itself? The
    /// same as `relaxed().is_empty()`, without building the list.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.for_tenant(Some("acme")).is_strict()); // no grant for acme
    /// assert!(s.for_tenant(None).is_strict());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn is_strict(&self) -> bool {
        self.relaxed.is_empty()
    }

    /// The PII kinds this view leaves in place (empty for a [strict](Self::is_strict) view).
    pub fn relaxed(&self) -> Vec<PiiKind> {
        if self.relaxed.is_empty() {
            return Vec::new();
        }
        PiiKind::ALL
            .iter()
            .copied()
            .filter(|k| self.relaxed.relaxes(k.kind()))
            .collect()
    }
}
