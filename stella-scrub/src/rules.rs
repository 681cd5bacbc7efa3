//! Expert surface: custom rules and the key-name classifier.
//!
//! The built-in catalogue covers credentials and PII (see [`Kind`]); a custom [`Rule`] adds an
//! organisation-specific pattern. Give every rule at least one literal anchor: the rule's regex
//! then runs only in a window around anchor hits, like the built-in rules. A rule without
//! anchors runs over every scrubbed value and costs a full regex pass each time.
//!
//! # Examples
//!
//! ```
//! use stella_scrub::{Scrubber, rules::Rule};
//!
//! let scrubber = Scrubber::builder()
//!     .with_rule(Rule::new("ticket_secret", r"TCK-[A-Z0-9]{12}").with_anchor("TCK-"))
//!     .build()?;
//! assert_eq!(scrubber.scrub("use TCK-ABCDEF123456 now"), "use [REDACTED:ticket_secret] now");
//! assert_eq!(scrubber.redaction_counts().get("ticket_secret"), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use regex::RegexBuilder;

use crate::detect::CustomRule;
use crate::error::BuildError;
use crate::keys::{self, KeyClass};
use crate::kind::Kind;

/// The most custom rules one scrubber accepts.
///
/// # Examples
///
/// ```
/// use stella_scrub::{Scrubber, rules::{MAX_CUSTOM_RULES, Rule}};
/// let mut b = Scrubber::builder();
/// for i in 0..=MAX_CUSTOM_RULES {
///     b = b.with_rule(Rule::new(format!("r{i}"), format!("X{i}Y")).with_anchor(format!("X{i}Y")));
/// }
/// assert!(b.build().is_err());
/// ```
pub const MAX_CUSTOM_RULES: usize = 256;

/// A custom redaction rule: a name (the `<kind>` in `[REDACTED:<kind>]`), a regex, and literal
/// anchors that must occur inside every match. Custom rules are credentials: no grant relaxes them.
///
/// # Examples
///
/// ```
/// use stella_scrub::{Scrubber, rules::Rule};
/// let rule = Rule::new("ticket_secret", r"TCK-[A-Z0-9]{12}")
///     .with_anchor("TCK-")
///     .with_window(64);
/// let s = Scrubber::builder().with_rule(rule).build()?;
/// assert_eq!(s.scrub("use TCK-ABCDEF123456"), "use [REDACTED:ticket_secret]");
/// // a bad rule is a build error that names it
/// let err = Scrubber::builder().with_rule(Rule::new("Bad Name", "x+")).build().unwrap_err();
/// assert_eq!(err.rule_name(), Some("Bad Name"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) name: String,
    pattern: String,
    anchors: Vec<String>,
    window: usize,
}

impl Rule {
    /// A rule named `name` (lowercase letters, digits and `_`, at most 40 bytes, not a built-in
    /// kind name) matching `pattern` (`regex` crate syntax, linear time).
    pub fn new(name: impl Into<String>, pattern: impl Into<String>) -> Self {
        Rule {
            name: name.into(),
            pattern: pattern.into(),
            anchors: Vec::new(),
            window: 256,
        }
    }

    /// A literal that occurs in every match; the regex runs only around its occurrences.
    pub fn with_anchor(mut self, literal: impl Into<String>) -> Self {
        self.anchors.push(literal.into());
        self
    }

    /// How many bytes either side of an anchor hit the regex may see (default 256, at most 64 KiB).
    pub fn with_window(mut self, bytes: usize) -> Self {
        self.window = bytes;
        self
    }

    pub(crate) fn compile(self) -> Result<(String, CustomRule, Vec<String>), BuildError> {
        let name = self.name;
        let name_ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        if !name_ok {
            return Err(BuildError::rule(
                &name,
                "name must be 1-40 bytes of [a-z0-9_]",
            ));
        }
        if Kind::from_name(&name).is_some() {
            return Err(BuildError::rule(&name, "name clashes with a built-in kind"));
        }
        if self.window == 0 || self.window > 64 * 1024 {
            return Err(BuildError::rule(&name, "window must be 1..=65536 bytes"));
        }
        if self.anchors.iter().any(|a| a.len() < 2) {
            return Err(BuildError::rule(&name, "anchors must be at least 2 bytes"));
        }
        let regex = RegexBuilder::new(&self.pattern)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| BuildError::rule(&name, e.to_string()))?;
        if regex.is_match("") {
            return Err(BuildError::rule(&name, "pattern matches the empty string"));
        }
        let anchored = !self.anchors.is_empty();
        Ok((
            name,
            CustomRule {
                regex,
                window: self.window,
                anchored,
            },
            self.anchors,
        ))
    }
}

/// The credential kind a field name implies, if any: what [`Scrubber::scrub_field`] uses to
/// redact a whole value.
///
/// [`Scrubber::scrub_field`]: crate::Scrubber::scrub_field
///
/// # Examples
///
/// ```
/// use stella_scrub::{Kind, rules::key_kind};
/// assert_eq!(key_kind("X-Api-Key"), Some(Kind::ApiKey));
/// assert_eq!(key_kind("client_secret"), Some(Kind::Secret));
/// assert_eq!(key_kind("token_type"), None);
/// assert_eq!(key_kind("max_tokens"), None);
/// ```
pub fn key_kind(key: &str) -> Option<Kind> {
    match keys::classify(key) {
        Some(KeyClass::Secret(k) | KeyClass::SecretUnlessCount(k)) => Some(k),
        _ => None,
    }
}
