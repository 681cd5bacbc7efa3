//! Per-kind redaction counters: how many values of each kind were redacted, never which.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::kind::Kind;

/// Live counters shared by every clone of a scrubber.
pub(crate) struct Counters {
    builtin: Vec<AtomicU64>,
    custom: Vec<(String, AtomicU64)>,
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("kinds", &self.builtin.len())
            .field("custom", &self.custom.len())
            .finish()
    }
}

impl Counters {
    pub(crate) fn new(custom_names: impl IntoIterator<Item = String>) -> Self {
        Counters {
            builtin: Kind::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            custom: custom_names
                .into_iter()
                .map(|n| (n, AtomicU64::new(0)))
                .collect(),
        }
    }

    pub(crate) fn add_builtin(&self, kind: Kind, n: u64) {
        if let Some(c) = self.builtin.get(kind.index()) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_custom(&self, idx: usize, n: u64) {
        if let Some((_, c)) = self.custom.get(idx) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn custom_name(&self, idx: usize) -> &str {
        self.custom.get(idx).map_or("custom", |(n, _)| n.as_str())
    }

    pub(crate) fn snapshot(&self) -> RedactionCounts {
        let mut counts = Vec::new();
        for (k, c) in Kind::ALL.iter().zip(&self.builtin) {
            counts.push((k.as_str().to_owned(), c.load(Ordering::Relaxed)));
        }
        for (name, c) in &self.custom {
            counts.push((name.clone(), c.load(Ordering::Relaxed)));
        }
        RedactionCounts { counts }
    }
}

/// A snapshot of how many redactions of each kind a scrubber (and all its clones) has made.
///
/// Holds kind names and numbers only: never a value, never a key name. Meant for a
/// `scrub.redactions{kind}` counter metric; counts only grow, so export them as monotonic counters.
///
/// # Examples
///
/// ```
/// use stella_scrub::Scrubber;
///
/// let scrubber = Scrubber::builder().build()?;
/// let _ = scrubber.scrub("contact bob@example.com");
/// let counts = scrubber.redaction_counts();
/// assert_eq!(counts.get("email"), 1);
/// for (kind, n) in counts.iter().filter(|(_, n)| *n > 0) {
///     println!("scrub.redactions{{kind={kind}}} {n}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedactionCounts {
    counts: Vec<(String, u64)>,
}

impl RedactionCounts {
    /// Every kind (built-in and custom) with its count, zeros included, in a stable order.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert!(s.redaction_counts().iter().any(|(kind, _)| kind == "jwt"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.counts.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// The count for one kind name (0 for an unknown name).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert_eq!(s.redaction_counts().get("password"), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, kind: &str) -> u64 {
        self.counts
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// The sum over all kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = stella_scrub::Scrubber::builder().build()?;
    /// assert_eq!(s.redaction_counts().total(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}
