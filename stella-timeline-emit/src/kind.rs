//! The catalogue of event kinds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest accepted kind, in bytes.
pub(crate) const MAX_KIND_LEN: usize = 128;

/// What happened: a dotted lowercase name such as `job.failed`.
///
/// The catalogue below is what services emit today; any other well-formed name
/// (`segment(.segment)+`, each segment `[a-z][a-z0-9_]*`, at most 128 bytes) is accepted as
/// [`EventKind::Other`] so new kinds need no schema change. Catalogued kinds require some detail
/// fields ([`EventKind::required_details`]); `docs/forensics/timeline.md` lists them all.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::EventKind;
///
/// assert_eq!(EventKind::parse("job.failed")?, EventKind::JobFailed);
/// assert_eq!(EventKind::JobFailed.required_details(), &["job_type", "root_cause"]);
/// let custom = EventKind::parse("billing.invoice.sent")?;
/// assert_eq!(custom.as_str(), "billing.invoice.sent");
/// assert!(EventKind::parse("Job.Failed").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `job.started`: a job began running.
    JobStarted,
    /// `job.finished`: a job completed successfully.
    JobFinished,
    /// `job.failed`: a job failed; `root_cause` says why.
    JobFailed,
    /// `policy.evaluated`: a policy evaluation produced a decision.
    PolicyEvaluated,
    /// `policy.changed`: a policy set was published or changed.
    PolicyChanged,
    /// `sbom.ingested`: an SBOM was ingested.
    SbomIngested,
    /// `advisory.linked`: an advisory was linked to a component (sources unchanged).
    AdvisoryLinked,
    /// `vex.reconciled`: VEX statements were reconciled for a vulnerability.
    VexReconciled,
    /// `export.created`: an export artifact was produced.
    ExportCreated,
    /// `evidence.snapshot.created`: an evidence bundle was sealed in the locker.
    EvidenceSnapshotCreated,
    /// `slo.breach`: an SLO burn-rate alert fired.
    SloBreach,
    /// `slo.resolved`: a burn-rate alert cleared.
    SloResolved,
    /// `incident.mode.started`: incident mode was switched on for a tenant.
    IncidentModeStarted,
    /// `incident.mode.stopped`: incident mode was switched off.
    IncidentModeStopped,
    /// `authz.denied`: an authorisation decision denied access.
    AuthzDenied,
    /// `deep_debug.granted`: a time-boxed deep-debug (unredacted) grant was issued.
    DeepDebugGranted,
    /// `deep_debug.expired`: a deep-debug grant expired or was revoked.
    DeepDebugExpired,
    /// Any other well-formed kind.
    Other(OtherKind),
}

/// A well-formed kind outside the catalogue (see [`EventKind::Other`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherKind(String);

impl OtherKind {
    /// The kind's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not an event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "kind {kind:?} must be dotted lowercase segments [a-z][a-z0-9_]* (at least two, at most {MAX_KIND_LEN} bytes)"
)]
pub struct KindError {
    kind: String,
}

/// `(kind, name, required detail fields)`; the single source of the catalogue.
const CATALOGUE: &[(EventKind, &str, &[&str])] = &[
    (EventKind::JobStarted, "job.started", &["job_type"]),
    (
        EventKind::JobFinished,
        "job.finished",
        &["job_type", "duration_ms"],
    ),
    (
        EventKind::JobFailed,
        "job.failed",
        &["job_type", "root_cause"],
    ),
    (
        EventKind::PolicyEvaluated,
        "policy.evaluated",
        &["policy_version", "rule_ids", "decision"],
    ),
    (
        EventKind::PolicyChanged,
        "policy.changed",
        &["policy_version"],
    ),
    (EventKind::SbomIngested, "sbom.ingested", &["format"]),
    (
        EventKind::AdvisoryLinked,
        "advisory.linked",
        &["advisory_id", "component"],
    ),
    (
        EventKind::VexReconciled,
        "vex.reconciled",
        &["vulnerability_id", "status"],
    ),
    (EventKind::ExportCreated, "export.created", &["format"]),
    (
        EventKind::EvidenceSnapshotCreated,
        "evidence.snapshot.created",
        &["bundle_id", "root_hash"],
    ),
    (
        EventKind::SloBreach,
        "slo.breach",
        &["slo", "burn_rate", "window"],
    ),
    (EventKind::SloResolved, "slo.resolved", &["slo"]),
    (
        EventKind::IncidentModeStarted,
        "incident.mode.started",
        &["reason"],
    ),
    (
        EventKind::IncidentModeStopped,
        "incident.mode.stopped",
        &["reason"],
    ),
    (EventKind::AuthzDenied, "authz.denied", &["scope", "reason"]),
    (
        EventKind::DeepDebugGranted,
        "deep_debug.granted",
        &["ttl_seconds"],
    ),
    (EventKind::DeepDebugExpired, "deep_debug.expired", &[]),
];

impl EventKind {
    /// Parses a kind name: a catalogued one becomes its variant, any other well-formed one
    /// becomes [`EventKind::Other`].
    ///
    /// # Errors
    ///
    /// [`KindError`] if the name is not dotted lowercase segments.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_timeline_emit::EventKind;
    /// assert_eq!(EventKind::parse("slo.breach")?, EventKind::SloBreach);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, KindError> {
        if let Some((k, _, _)) = CATALOGUE.iter().find(|(_, name, _)| *name == s) {
            return Ok(k.clone());
        }
        if !is_well_formed(s) {
            return Err(KindError {
                kind: s.chars().take(MAX_KIND_LEN + 1).collect(),
            });
        }
        Ok(EventKind::Other(OtherKind(s.to_owned())))
    }

    /// The kind's name, e.g. `job.failed`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Other(o) => o.as_str(),
            known => CATALOGUE
                .iter()
                .find(|(k, _, _)| k == known)
                .map_or("", |(_, name, _)| name),
        }
    }

    /// Detail fields an event of this kind must carry (non-null); empty for
    /// [`EventKind::Other`].
    #[must_use]
    pub fn required_details(&self) -> &'static [&'static str] {
        match self {
            EventKind::Other(_) => &[],
            known => CATALOGUE
                .iter()
                .find(|(k, _, _)| k == known)
                .map_or(&[], |(_, _, req)| req),
        }
    }

    /// Every catalogued kind, in catalogue order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(stella_timeline_emit::EventKind::catalogue().any(|k| k.as_str() == "vex.reconciled"));
    /// ```
    pub fn catalogue() -> impl Iterator<Item = EventKind> {
        CATALOGUE.iter().map(|(k, _, _)| k.clone())
    }
}

fn is_well_formed(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_KIND_LEN {
        return false;
    }
    let mut segments = 0;
    for seg in s.split('.') {
        segments += 1;
        let mut bytes = seg.bytes();
        match bytes.next() {
            Some(b'a'..=b'z') => {}
            _ => return false,
        }
        if !bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_')) {
            return false;
        }
    }
    segments >= 2
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKind({})", self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = KindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::parse(s)
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        EventKind::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_round_trips() {
        for k in EventKind::catalogue() {
            assert_eq!(EventKind::parse(k.as_str()).unwrap(), k);
            assert!(is_well_formed(k.as_str()), "{k}");
        }
        assert_eq!(EventKind::catalogue().count(), 17);
    }

    #[test]
    fn grammar() {
        for bad in [
            "",
            "job",
            "job.",
            ".job",
            "Job.started",
            "job..x",
            "job.1x",
            "job.st-arted",
            "job.*",
            "a.>",
        ] {
            assert!(EventKind::parse(bad).is_err(), "{bad}");
        }
        assert!(EventKind::parse(&format!("a.{}", "b".repeat(200))).is_err());
        assert!(matches!(
            EventKind::parse("a.b_2.c").unwrap(),
            EventKind::Other(_)
        ));
    }
}
