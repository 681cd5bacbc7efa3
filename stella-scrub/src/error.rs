//! Errors from building a [`Scrubber`](crate::Scrubber) or a grants registry.

use std::fmt;

/// Building a [`Scrubber`](crate::Scrubber) (or a [`Grants`](crate::grants::Grants) registry)
/// failed: a custom rule did not compile or a setting is out of range.
///
/// The message names the offending rule or setting. Callers only display it, so the type is
/// opaque.
///
/// # Examples
///
/// ```
/// use stella_scrub::{Scrubber, rules::Rule};
///
/// let err = Scrubber::builder()
///     .with_rule(Rule::new("ticket", r"TCK-[0-9+"))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("ticket"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildErrorKind {
    Rule { name: String, reason: String },
    Setting { name: &'static str, reason: String },
    Anchors(String),
}

impl fmt::Display for BuildErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildErrorKind::Rule { name, reason } => write!(f, "custom rule `{name}`: {reason}"),
            BuildErrorKind::Setting { name, reason } => write!(f, "setting `{name}`: {reason}"),
            BuildErrorKind::Anchors(reason) => write!(f, "anchor automaton: {reason}"),
        }
    }
}

impl BuildError {
    pub(crate) fn rule(name: &str, reason: impl Into<String>) -> Self {
        BuildError {
            kind: BuildErrorKind::Rule {
                name: name.to_owned(),
                reason: reason.into(),
            },
        }
    }

    pub(crate) fn setting(name: &'static str, reason: impl Into<String>) -> Self {
        BuildError {
            kind: BuildErrorKind::Setting {
                name,
                reason: reason.into(),
            },
        }
    }

    pub(crate) fn anchors(reason: impl Into<String>) -> Self {
        BuildError {
            kind: BuildErrorKind::Anchors(reason.into()),
        }
    }

    /// The name of the custom rule that failed, if a rule failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::{Scrubber, rules::Rule};
    /// let err = Scrubber::builder().with_rule(Rule::new("bad", "(")).build().unwrap_err();
    /// assert_eq!(err.rule_name(), Some("bad"));
    /// ```
    pub fn rule_name(&self) -> Option<&str> {
        match &self.kind {
            BuildErrorKind::Rule { name, .. } => Some(name),
            _ => None,
        }
    }
}
