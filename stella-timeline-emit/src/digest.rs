//! `sha256:<hex>` digests: of artifacts (chain-of-custody inputs and outputs) and of events.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest written as `sha256:<64 lowercase hex digits>`.
///
/// This is the form used for an event's own `digest` and for the `inputs`/`outputs` detail
/// fields that link chain-of-custody steps (source fetch, SBOM compute, policy evaluation,
/// advisory link, export) by the digests of what they read and wrote.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::Digest;
///
/// let d = Digest::of_bytes(b"abc");
/// assert_eq!(d.as_str(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(Digest::parse(d.as_str())?, d);
/// assert!(Digest::parse("sha256:ABC").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not a `sha256:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The algorithm prefix is not `sha256:`.
    #[error("digest must start with \"sha256:\"")]
    Algorithm,
    /// The hex part is not 64 lowercase hexadecimal digits.
    #[error("digest must have 64 lowercase hex digits after \"sha256:\"")]
    Hex,
}

/// The prefix of every digest this crate writes.
const PREFIX: &str = "sha256:";

impl Digest {
    /// Hashes `bytes` with SHA-256.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = stella_timeline_emit::Digest::of_bytes(b"");
    /// assert!(d.as_str().starts_with("sha256:e3b0c442"));
    /// ```
    #[must_use]
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        let mut s = String::with_capacity(PREFIX.len() + 64);
        s.push_str(PREFIX);
        s.push_str(&hex::encode(hash));
        Digest(s)
    }

    /// Parses `sha256:<64 lowercase hex>`.
    ///
    /// # Errors
    ///
    /// [`DigestError`] if the prefix or the hex part is wrong (uppercase hex is rejected so
    /// that one digest has one spelling).
    ///
    /// # Examples
    ///
    /// ```
    /// let hex = "0".repeat(64);
    /// assert!(stella_timeline_emit::Digest::parse(&format!("sha256:{hex}")).is_ok());
    /// ```
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let hex = s.strip_prefix(PREFIX).ok_or(DigestError::Algorithm)?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Hex);
        }
        Ok(Digest(s.to_owned()))
    }

    /// The digest as `sha256:<hex>`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits without the algorithm prefix.
    #[must_use]
    pub fn hex(&self) -> &str {
        self.0.get(PREFIX.len()..).unwrap_or_default()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(Digest::parse("md5:00"), Err(DigestError::Algorithm));
        assert_eq!(Digest::parse("sha256:00"), Err(DigestError::Hex));
        assert_eq!(
            Digest::parse(&format!("sha256:{}", "A".repeat(64))),
            Err(DigestError::Hex)
        );
        assert_eq!(Digest::of_bytes(b"abc").hex().len(), 64);
    }
}
