//! The `timeline_event` wire type, its builder and its digest.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stella_scrub::Scrubber;
use uuid::Uuid;

use crate::canonical::{self, CanonicalError};
use crate::digest::{Digest, DigestError};
use crate::kind::{EventKind, KindError};

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest accepted identifier field (`tenant_id` excepted), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest accepted `tenant_id`, in bytes.
pub const MAX_TENANT_LEN: usize = 64;
/// Upper bound on the size of `details`, in bytes of (approximate) JSON.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
/// Deepest accepted nesting inside `details`.
pub const MAX_DETAILS_DEPTH: usize = 32;

/// Tenant reserved for public, tenant-free subjects (`stella.global.kb.*`).
const RESERVED_TENANT: &str = "global";

// === errors ===

/// A field of an event is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// `tenant_id` is not 1-64 bytes of `[A-Za-z0-9_-]` starting with a letter or digit, or is
    /// the reserved `global`.
    #[error(
        "tenant_id {0:?} must be 1-64 characters of [A-Za-z0-9_-], start with a letter or digit, and not be \"global\""
    )]
    TenantId(String),
    /// The kind is malformed.
    #[error(transparent)]
    Kind(#[from] KindError),
    /// `trace_id` is not 32 lowercase hex digits, or is all zeros.
    #[error("trace_id {0:?} must be 32 lowercase hex digits, not all zero")]
    TraceId(String),
    /// `event_id` is not a lowercase hyphenated UUIDv7.
    #[error("event_id {0:?} must be a lowercase hyphenated UUIDv7")]
    EventId(String),
    /// `ts` is not RFC 3339 UTC with nine fractional digits and `Z`.
    #[error("ts {0:?} must look like 2026-01-02T03:04:05.123456789Z")]
    Timestamp(String),
    /// A text field is empty, too long or holds control characters.
    #[error("{field} must be 1-{MAX_ID_LEN} bytes without control characters")]
    Text {
        /// The field's name.
        field: &'static str,
    },
    /// `details` is not a JSON object, or is too large or too deep.
    #[error("details: {0}")]
    Details(String),
    /// A catalogued kind lacks one of its required detail fields.
    #[error("kind {kind} requires details.{field}")]
    MissingDetail {
        /// The event kind.
        kind: String,
        /// The missing field.
        field: &'static str,
    },
    /// An entry of `details.inputs` or `details.outputs` is malformed.
    #[error("details.{list}[{index}]: {reason}")]
    Artifact {
        /// `inputs` or `outputs`.
        list: &'static str,
        /// Position in the list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Building an event failed; nothing was emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No `tenant_id` was given and none was found in the current request context.
    #[error("tenant_id is required (set it or run inside a stella-context RequestContext)")]
    MissingTenant,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The default scrubber could not be built.
    #[error("the default scrubber could not be built: {0}")]
    Scrubber(String),
    /// `details` holds a value with no canonical JSON form.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// Reading an event from JSON failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not a JSON object with the event's fields.
    #[error("not a timeline_event: {0}")]
    Json(String),
    /// The event declares a schema version this crate does not read.
    #[error("unsupported schema_version {0} (this crate reads {SCHEMA_VERSION})")]
    SchemaVersion(u64),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The `digest` field is malformed or does not match the content.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// An event's digest does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The `digest` field is not `sha256:<hex>`.
    #[error("digest field: {0}")]
    Malformed(#[from] DigestError),
    /// The content hashes to something else: the event was altered.
    #[error("digest mismatch: recorded {recorded}, computed {computed}")]
    Mismatch {
        /// The digest the event carries.
        recorded: String,
        /// The digest of its canonical JSON.
        computed: String,
    },
    /// The content has no canonical form.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// Proof that an event's digest matched its content; only [`TimelineEvent::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    digest: Digest,
}

impl Verified {
    /// The verified digest.
    #[must_use]
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

// === impl TimelineEvent ===

/// One `timeline_event`: a state transition in some service, tenant-scoped, digest-sealed.
///
/// Built with [`TimelineEvent::builder`] (or emitted through an [`Emitter`](crate::Emitter)),
/// read with [`TimelineEvent::from_json`] or serde. Every value of this type is valid: fields
/// are checked when it is built or parsed, and a parsed event's digest has been verified.
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::{EventKind, TimelineEvent};
///
/// let event = TimelineEvent::builder(EventKind::JobFailed, "job", "job-42")
///     .with_tenant("acme")
///     .with_detail("job_type", "sbom.compute")
///     .with_detail("root_cause", serde_json::json!({"code": "E_TIMEOUT", "message": "fetch timed out"}))
///     .build()?;
/// let json = event.to_json();
/// let back = TimelineEvent::from_json(&json)?; // verifies the digest
/// assert_eq!(back, event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct TimelineEvent {
    event_id: String,
    ts: String,
    tenant_id: String,
    project_id: Option<String>,
    kind: EventKind,
    actor: Option<String>,
    resource_type: String,
    resource_id: String,
    trace_id: Option<String>,
    details: Map<String, Value>,
    digest: Digest,
}

impl fmt::Debug for TimelineEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimelineEvent")
            .field("event_id", &self.event_id)
            .field("ts", &self.ts)
            .field("tenant_id", &self.tenant_id)
            .field("kind", &self.kind.as_str())
            .field("resource_type", &self.resource_type)
            .field("resource_id", &self.resource_id)
            .field("digest", &self.digest.as_str())
            .finish_non_exhaustive()
    }
}

impl TimelineEvent {
    /// Starts an event of `kind` about the resource `resource_type`/`resource_id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_timeline_emit::{EventKind, TimelineEvent};
    /// let builder = TimelineEvent::builder(EventKind::SloResolved, "slo", "api-availability");
    /// # let _ = builder;
    /// ```
    pub fn builder(
        kind: EventKind,
        resource_type: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> EventBuilder {
        EventBuilder::new(kind, resource_type.into(), resource_id.into())
    }

    /// Parses and validates one event from JSON, verifying its digest.
    ///
    /// Absent optional fields read as `null`; unknown top-level fields are rejected (the digest
    /// would not cover them).
    ///
    /// # Errors
    ///
    /// [`ParseError`] if the text is not an event, a field is invalid, the schema version is
    /// unknown or the digest does not match.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = stella_timeline_emit::TimelineEvent::from_json("{}");
    /// assert!(err.is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<Self, ParseError> {
        let raw: RawEvent =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        TimelineEvent::try_from(raw)
    }

    /// Parses and validates one event from a JSON value, verifying its digest.
    ///
    /// # Errors
    ///
    /// As [`TimelineEvent::from_json`].
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        let raw: RawEvent =
            serde_json::from_value(value).map_err(|e| ParseError::Json(e.to_string()))?;
        TimelineEvent::try_from(raw)
    }

    /// The event as one line of compact JSON (no trailing newline), fields in schema order.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        self.write_json(&mut out);
        out
    }

    /// Appends the event's compact JSON to `out`.
    pub(crate) fn write_json(&self, out: &mut String) {
        fn opt(out: &mut String, v: Option<&str>) {
            match v {
                Some(s) => canonical::write_string(out, s),
                None => out.push_str("null"),
            }
        }
        out.push_str("{\"schema_version\":");
        out.push_str(itoa_u32(SCHEMA_VERSION));
        out.push_str(",\"event_id\":");
        canonical::write_string(out, &self.event_id);
        out.push_str(",\"ts\":");
        canonical::write_string(out, &self.ts);
        out.push_str(",\"tenant_id\":");
        canonical::write_string(out, &self.tenant_id);
        out.push_str(",\"project_id\":");
        opt(out, self.project_id.as_deref());
        out.push_str(",\"kind\":");
        canonical::write_string(out, self.kind.as_str());
        out.push_str(",\"actor\":");
        opt(out, self.actor.as_deref());
        out.push_str(",\"resource_type\":");
        canonical::write_string(out, &self.resource_type);
        out.push_str(",\"resource_id\":");
        canonical::write_string(out, &self.resource_id);
        out.push_str(",\"trace_id\":");
        opt(out, self.trace_id.as_deref());
        out.push_str(",\"details\":");
        // Details hold no non-finite numbers (checked when built or parsed), so this can't fail;
        // canonical form keeps the line reproducible.
        if canonical::write_object(out, self.details.iter()).is_err() {
            out.push_str("{}");
        }
        out.push_str(",\"digest\":");
        canonical::write_string(out, self.digest.as_str());
        out.push('}');
    }

    /// The RFC 8785 canonical JSON of the event without `digest`: the bytes the digest covers.
    ///
    /// # Examples
    ///
    /// ```
    /// # use stella_timeline_emit::{Digest, EventKind, TimelineEvent};
    /// let e = TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
    ///     .with_tenant("acme").with_detail("slo", "availability").build()?;
    /// assert_eq!(&Digest::of_bytes(e.canonical_json().as_bytes()), e.digest());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn canonical_json(&self) -> String {
        // Cannot fail: details were checked for finite numbers.
        self.canonical_unsealed().unwrap_or_default()
    }

    /// Recomputes the digest from the content and compares it with the recorded one.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Mismatch`] if the content does not hash to the recorded digest.
    ///
    /// # Examples
    ///
    /// ```
    /// # use stella_timeline_emit::{EventKind, TimelineEvent};
    /// let e = TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
    ///     .with_tenant("acme").with_detail("slo", "availability").build()?;
    /// let verified = e.verify()?;
    /// assert_eq!(verified.digest(), e.digest());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        let computed = Digest::of_bytes(self.canonical_unsealed()?.as_bytes());
        if computed != self.digest {
            return Err(VerifyError::Mismatch {
                recorded: self.digest.to_string(),
                computed: computed.to_string(),
            });
        }
        Ok(Verified { digest: computed })
    }

    /// The schema version ([`SCHEMA_VERSION`]).
    #[must_use]
    pub fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }
    /// The event id (a UUIDv7, so ids sort by creation time).
    #[must_use]
    pub fn event_id(&self) -> &str {
        &self.event_id
    }
    /// When it happened: RFC 3339 UTC with nanoseconds.
    #[must_use]
    pub fn ts(&self) -> &str {
        &self.ts
    }
    /// The tenant.
    #[must_use]
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    /// The project, if any.
    #[must_use]
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }
    /// What happened.
    #[must_use]
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }
    /// Who did it, if known.
    #[must_use]
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }
    /// The type of the resource it happened to.
    #[must_use]
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }
    /// The id of the resource it happened to.
    #[must_use]
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }
    /// The W3C trace id of the work that emitted it, if any.
    #[must_use]
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
    /// Kind-specific details (scrubbed). Numbers are held as the canonical form writes them:
    /// a float with an integer value reads as that integer (`2.0` as `2`).
    #[must_use]
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }
    /// The digest of [`TimelineEvent::canonical_json`].
    #[must_use]
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    /// The NATS subject this event is published on: `stella.<tenant>.timeline.<kind>`.
    #[must_use]
    pub fn subject(&self) -> String {
        format!("stella.{}.timeline.{}", self.tenant_id, self.kind.as_str())
    }
}

fn itoa_u32(v: u32) -> &'static str {
    // Only version 1 exists; keep the writer allocation-free.
    match v {
        1 => "1",
        _ => "0",
    }
}

impl Serialize for TimelineEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawEventRef::of(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TimelineEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(deserializer)?;
        TimelineEvent::try_from(raw).map_err(serde::de::Error::custom)
    }
}

/// The wire form as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    schema_version: u64,
    event_id: String,
    ts: String,
    tenant_id: String,
    #[serde(default)]
    project_id: Option<String>,
    kind: String,
    #[serde(default)]
    actor: Option<String>,
    resource_type: String,
    resource_id: String,
    #[serde(default)]
    trace_id: Option<String>,
    details: Value,
    digest: String,
}

/// The wire form as written (schema field order).
#[derive(Serialize)]
struct RawEventRef<'a> {
    schema_version: u32,
    event_id: &'a str,
    ts: &'a str,
    tenant_id: &'a str,
    project_id: Option<&'a str>,
    kind: &'a str,
    actor: Option<&'a str>,
    resource_type: &'a str,
    resource_id: &'a str,
    trace_id: Option<&'a str>,
    details: &'a Map<String, Value>,
    digest: &'a str,
}

impl<'a> RawEventRef<'a> {
    fn of(e: &'a TimelineEvent) -> Self {
        RawEventRef {
            schema_version: SCHEMA_VERSION,
            event_id: &e.event_id,
            ts: &e.ts,
            tenant_id: &e.tenant_id,
            project_id: e.project_id.as_deref(),
            kind: e.kind.as_str(),
            actor: e.actor.as_deref(),
            resource_type: &e.resource_type,
            resource_id: &e.resource_id,
            trace_id: e.trace_id.as_deref(),
            details: &e.details,
            digest: e.digest.as_str(),
        }
    }
}

impl TryFrom<RawEvent> for TimelineEvent {
    type Error = ParseError;

    fn try_from(raw: RawEvent) -> Result<Self, ParseError> {
        if raw.schema_version != u64::from(SCHEMA_VERSION) {
            return Err(ParseError::SchemaVersion(raw.schema_version));
        }
        validate_event_id(&raw.event_id)?;
        validate_ts(&raw.ts)?;
        validate_tenant(&raw.tenant_id)?;
        validate_opt_text("project_id", raw.project_id.as_deref())?;
        let kind = EventKind::parse(&raw.kind).map_err(FieldError::from)?;
        validate_opt_text("actor", raw.actor.as_deref())?;
        validate_text("resource_type", &raw.resource_type)?;
        validate_text("resource_id", &raw.resource_id)?;
        if let Some(t) = raw.trace_id.as_deref() {
            validate_trace_id(t)?;
        }
        let Value::Object(details) = raw.details else {
            return Err(FieldError::Details("must be a JSON object".into()).into());
        };
        validate_details(&kind, &details)?;
        let recorded = Digest::parse(&raw.digest).map_err(VerifyError::from)?;
        let event = TimelineEvent {
            event_id: raw.event_id,
            ts: raw.ts,
            tenant_id: raw.tenant_id,
            project_id: raw.project_id,
            kind,
            actor: raw.actor,
            resource_type: raw.resource_type,
            resource_id: raw.resource_id,
            trace_id: raw.trace_id,
            details,
            digest: recorded,
        };
        event.verify()?;
        Ok(event)
    }
}

impl TimelineEvent {
    /// RFC 8785 form of the object without `digest`. All top-level names are ASCII, so their
    /// canonical order is plain byte order, written out here directly.
    fn canonical_unsealed(&self) -> Result<String, CanonicalError> {
        fn opt(out: &mut String, v: Option<&str>) {
            match v {
                Some(s) => canonical::write_string(out, s),
                None => out.push_str("null"),
            }
        }
        let mut out = String::with_capacity(512);
        out.push_str("{\"actor\":");
        opt(&mut out, self.actor.as_deref());
        out.push_str(",\"details\":");
        canonical::write_object(&mut out, self.details.iter())?;
        out.push_str(",\"event_id\":");
        canonical::write_string(&mut out, &self.event_id);
        out.push_str(",\"kind\":");
        canonical::write_string(&mut out, self.kind.as_str());
        out.push_str(",\"project_id\":");
        opt(&mut out, self.project_id.as_deref());
        out.push_str(",\"resource_id\":");
        canonical::write_string(&mut out, &self.resource_id);
        out.push_str(",\"resource_type\":");
        canonical::write_string(&mut out, &self.resource_type);
        out.push_str(",\"schema_version\":");
        out.push_str(itoa_u32(SCHEMA_VERSION));
        out.push_str(",\"tenant_id\":");
        canonical::write_string(&mut out, &self.tenant_id);
        out.push_str(",\"trace_id\":");
        opt(&mut out, self.trace_id.as_deref());
        out.push_str(",\"ts\":");
        canonical::write_string(&mut out, &self.ts);
        out.push('}');
        Ok(out)
    }
}

// === impl EventBuilder ===

/// Builds a [`TimelineEvent`]; see [`TimelineEvent::builder`].
///
/// `event_id` and `ts` default to a fresh UUIDv7 and the current time. `tenant_id`,
/// `project_id`, `actor` and `trace_id` can be filled from the current `stella-context`
/// ([`EventBuilder::with_current_context`]; an [`Emitter`](crate::Emitter) always does this).
///
/// # Examples
///
/// ```
/// use stella_timeline_emit::{Digest, EventKind, TimelineEvent};
///
/// let sbom = Digest::of_bytes(b"{\"bomFormat\":\"CycloneDX\"}");
/// let event = TimelineEvent::builder(EventKind::PolicyEvaluated, "sbom", "sbom-7")
///     .with_tenant("acme")
///     .with_project("web")
///     .with_actor("svc:policy-engine")
///     .with_detail("policy_version", "2026.11.3")
///     .with_detail("rule_ids", serde_json::json!(["R-001", "R-017"]))
///     .with_detail("decision", "deny")
///     .with_input("sbom", sbom.clone())
///     .build()?;
/// assert_eq!(event.details()["inputs"][0]["digest"], sbom.as_str());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct EventBuilder {
    kind: EventKind,
    resource_type: String,
    resource_id: String,
    tenant_id: Option<String>,
    project_id: Option<String>,
    actor: Option<String>,
    trace_id: Option<String>,
    details: Map<String, Value>,
    details_error: Option<FieldError>,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    event_id: Option<String>,
    ts: Option<String>,
}

impl EventBuilder {
    fn new(kind: EventKind, resource_type: String, resource_id: String) -> Self {
        EventBuilder {
            kind,
            resource_type,
            resource_id,
            tenant_id: None,
            project_id: None,
            actor: None,
            trace_id: None,
            details: Map::new(),
            details_error: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            event_id: None,
            ts: None,
        }
    }

    /// Sets the tenant (required, here or from the request context).
    pub fn with_tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// Sets the project.
    pub fn with_project(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }
    /// Sets the actor (user or service identity).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }
    /// Sets the W3C trace id (32 lowercase hex digits).
    pub fn with_trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }
    /// Adds one detail field (replacing an earlier one of the same name).
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
    /// Merges a JSON object into the details; anything but an object fails at `build()`.
    pub fn with_details(mut self, details: Value) -> Self {
        match details {
            Value::Object(map) => self.details.extend(map),
            _ => self.details_error = Some(FieldError::Details("must be a JSON object".into())),
        }
        self
    }
    /// Records the digest of an input artifact (`details.inputs[]`), linking this step to the
    /// step that produced it.
    pub fn with_input(mut self, name: impl Into<String>, digest: Digest) -> Self {
        self.inputs.push(artifact(name.into(), digest));
        self
    }
    /// Records the digest of an output artifact (`details.outputs[]`).
    pub fn with_output(mut self, name: impl Into<String>, digest: Digest) -> Self {
        self.outputs.push(artifact(name.into(), digest));
        self
    }
    /// Overrides the event id (must be a UUIDv7); for replays and reproducible vectors.
    pub fn with_event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }
    /// Overrides the timestamp (`2026-01-02T03:04:05.123456789Z`); for imports and vectors.
    pub fn with_ts(mut self, ts: impl Into<String>) -> Self {
        self.ts = Some(ts.into());
        self
    }

    /// Fills `tenant_id`, `project_id`, `actor` and `trace_id` from the current
    /// `stella-context` request and trace context, where they are not already set.
    pub fn with_current_context(mut self) -> Self {
        crate::context::fill(
            &mut self.tenant_id,
            &mut self.project_id,
            &mut self.actor,
            &mut self.trace_id,
        );
        self
    }

    /// Validates, scrubs the details with the default scrubber (the full `stella-scrub`
    /// catalogue), and seals the event with its digest.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the tenant is missing or a field is invalid.
    pub fn build(self) -> Result<TimelineEvent, BuildError> {
        let scrubber = default_scrubber()?;
        self.build_with(scrubber)
    }

    /// As [`EventBuilder::build`], scrubbing with `scrubber`.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the tenant is missing or a field is invalid.
    pub fn build_with(self, scrubber: &Scrubber) -> Result<TimelineEvent, BuildError> {
        self.validate()?.seal(scrubber)
    }

    /// The cheap half of `build()`: checks everything, assigns id and time. Runs on the
    /// caller's thread in [`Emitter::emit`](crate::Emitter::emit).
    pub(crate) fn validate(mut self) -> Result<PendingEvent, BuildError> {
        if let Some(e) = self.details_error.take() {
            return Err(e.into());
        }
        let tenant_id = self.tenant_id.ok_or(BuildError::MissingTenant)?;
        validate_tenant(&tenant_id)?;
        validate_opt_text("project_id", self.project_id.as_deref())?;
        validate_opt_text("actor", self.actor.as_deref())?;
        validate_text("resource_type", &self.resource_type)?;
        validate_text("resource_id", &self.resource_id)?;
        if let Some(t) = self.trace_id.as_deref() {
            validate_trace_id(t)?;
        }
        if !self.inputs.is_empty() {
            self.details
                .insert("inputs".into(), Value::Array(self.inputs));
        }
        if !self.outputs.is_empty() {
            self.details
                .insert("outputs".into(), Value::Array(self.outputs));
        }
        validate_details(&self.kind, &self.details)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let event_id = match self.event_id {
            Some(id) => {
                validate_event_id(&id)?;
                id
            }
            None => new_event_id(now),
        };
        let ts = match self.ts {
            Some(ts) => {
                validate_ts(&ts)?;
                ts
            }
            None => ts_from(now),
        };
        Ok(PendingEvent {
            event_id,
            ts,
            tenant_id,
            project_id: self.project_id,
            kind: self.kind,
            actor: self.actor,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            trace_id: self.trace_id,
            details: self.details,
        })
    }
}

fn artifact(name: String, digest: Digest) -> Value {
    let mut m = Map::new();
    m.insert("digest".into(), Value::String(digest.as_str().to_owned()));
    m.insert("name".into(), Value::String(name));
    Value::Object(m)
}

/// A validated event waiting for scrubbing and its digest (done on the emitter's worker).
#[derive(Debug)]
pub(crate) struct PendingEvent {
    pub(crate) event_id: String,
    ts: String,
    tenant_id: String,
    project_id: Option<String>,
    kind: EventKind,
    actor: Option<String>,
    resource_type: String,
    resource_id: String,
    trace_id: Option<String>,
    details: Map<String, Value>,
}

impl PendingEvent {
    /// Scrubs the details (key-aware) and seals the event with its digest.
    pub(crate) fn seal(self, scrubber: &Scrubber) -> Result<TimelineEvent, BuildError> {
        let mut details = scrub_details(scrubber, self.details);
        // The event holds what its wire form says, so parsing the wire form gives it back.
        for value in details.values_mut() {
            canonical::normalize_numbers(value)?;
        }
        let mut event = TimelineEvent {
            event_id: self.event_id,
            ts: self.ts,
            tenant_id: self.tenant_id,
            project_id: self.project_id,
            kind: self.kind,
            actor: self.actor,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            trace_id: self.trace_id,
            details,
            digest: Digest::of_bytes(b""),
        };
        let canonical = event.canonical_unsealed()?;
        event.digest = Digest::of_bytes(canonical.as_bytes());
        Ok(event)
    }
}

/// Scrubs everything in `details`, keeping the artifact digests of `inputs`/`outputs` exactly as
/// given (they are validated hashes, never secrets).
fn scrub_details(scrubber: &Scrubber, details: Map<String, Value>) -> Map<String, Value> {
    const LISTS: [&str; 2] = ["inputs", "outputs"];
    let digests = |v: &Value, list: &str| -> Vec<Option<Value>> {
        v.get(list)
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| i.get("digest").cloned()).collect())
            .unwrap_or_default()
    };
    let mut value = Value::Object(details);
    let kept = LISTS.map(|list| digests(&value, list));
    // In place: only what is redacted allocates.
    scrubber.scrub_json_in_place(&mut value);
    let Value::Object(mut out) = value else {
        return Map::new();
    };
    for (list, kept) in LISTS.iter().zip(kept) {
        if let Some(Value::Array(items)) = out.get_mut(*list) {
            for (item, digest) in items.iter_mut().zip(kept) {
                if let (Value::Object(item), Some(digest)) = (item, digest) {
                    item.insert("digest".into(), digest);
                }
            }
        }
    }
    out
}

fn default_scrubber() -> Result<&'static Scrubber, BuildError> {
    static DEFAULT: OnceLock<Result<Scrubber, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Scrubber::builder().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| BuildError::Scrubber(e.clone()))
}

// === validation ===

#[cfg(test)]
pub(crate) fn now_ts() -> String {
    let now = time::OffsetDateTime::now_utc();
    format_ts(now)
}

/// `ts` for a time since the Unix epoch.
fn ts_from(since_epoch: std::time::Duration) -> String {
    let nanos = i128::try_from(since_epoch.as_nanos()).unwrap_or(0);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format_ts(t)
}

/// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 12 bits of sub-millisecond time kept
/// strictly increasing within the process (so ids from one emitter sort in emit order), then
/// 62 random bits. Cheaper than a system RNG call on the caller's thread.
fn new_event_id(since_epoch: std::time::Duration) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let ms = u64::try_from(since_epoch.as_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let sub = u64::from(since_epoch.subsec_nanos() % 1_000_000) * 4096 / 1_000_000;
    let wanted = (ms << 12) | sub;
    let mut last = LAST.load(Ordering::Relaxed);
    let stamp = loop {
        let next = wanted.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let rand = fastrand::u64(..);
    let mut b = [0u8; 16];
    let ts = (stamp >> 12).to_be_bytes();
    b[..6].copy_from_slice(&ts[2..]);
    b[6] = 0x70 | ((stamp >> 8) & 0x0f) as u8;
    b[7] = (stamp & 0xff) as u8;
    b[8..].copy_from_slice(&rand.to_be_bytes());
    b[8] = 0x80 | (b[8] & 0x3f);
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Uuid::from_bytes(b)
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

fn format_ts(t: time::OffsetDateTime) -> String {
    // Hand-rolled: `write!` costs more than the rest of `emit()` together.
    fn put(buf: &mut [u8], mut v: u32) {
        for b in buf.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    let year = u32::try_from(t.year()).unwrap_or(0).min(9999);
    put(&mut b[0..4], year);
    put(&mut b[5..7], u32::from(u8::from(t.month())));
    put(&mut b[8..10], u32::from(t.day()));
    put(&mut b[11..13], u32::from(t.hour()));
    put(&mut b[14..16], u32::from(t.minute()));
    put(&mut b[17..19], u32::from(t.second()));
    put(&mut b[20..29], t.nanosecond());
    String::from_utf8(b.to_vec()).unwrap_or_default()
}

fn validate_ts(ts: &str) -> Result<(), FieldError> {
    let bad = || FieldError::Timestamp(ts.chars().take(40).collect());
    let b = ts.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
    if b.len() != shape.len() {
        return Err(bad());
    }
    for (c, s) in b.iter().zip(shape) {
        let ok = if *s == b'd' {
            c.is_ascii_digit()
        } else {
            c == s
        };
        if !ok {
            return Err(bad());
        }
    }
    let format = time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(ts, &format).map_err(|_| bad())?;
    // Round-trip to reject things like a leap second the formatter would spell differently.
    if format_ts(parsed) != ts {
        return Err(bad());
    }
    Ok(())
}

fn validate_event_id(id: &str) -> Result<(), FieldError> {
    let bad = || FieldError::EventId(id.chars().take(40).collect());
    let uuid = Uuid::try_parse(id).map_err(|_| bad())?;
    if uuid.get_version_num() != 7 || uuid.hyphenated().to_string() != id {
        return Err(bad());
    }
    Ok(())
}

/// Checks a tenant id: it becomes a NATS subject token and a path component.
pub(crate) fn validate_tenant(t: &str) -> Result<(), FieldError> {
    let ok = !t.is_empty()
        && t.len() <= MAX_TENANT_LEN
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !t.eq_ignore_ascii_case(RESERVED_TENANT);
    if ok {
        Ok(())
    } else {
        Err(FieldError::TenantId(
            t.chars().take(MAX_TENANT_LEN + 1).collect(),
        ))
    }
}

fn validate_trace_id(t: &str) -> Result<(), FieldError> {
    let ok = t.len() == 32
        && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && t.bytes().any(|b| b != b'0');
    if ok {
        Ok(())
    } else {
        Err(FieldError::TraceId(t.chars().take(40).collect()))
    }
}

fn validate_text(field: &'static str, v: &str) -> Result<(), FieldError> {
    if v.is_empty() || v.len() > MAX_ID_LEN || v.chars().any(char::is_control) {
        return Err(FieldError::Text { field });
    }
    Ok(())
}

fn validate_opt_text(field: &'static str, v: Option<&str>) -> Result<(), FieldError> {
    v.map_or(Ok(()), |v| validate_text(field, v))
}

fn validate_details(kind: &EventKind, details: &Map<String, Value>) -> Result<(), FieldError> {
    // One pass over the top level: size, required fields, artifact lists.
    let required = kind.required_details();
    let mut found = 0u32;
    let mut size = 2usize;
    for (k, v) in details {
        size = size.saturating_add(k.len() + 4).saturating_add(walk(v, 1)?);
        for (i, field) in required.iter().enumerate() {
            if k == field && !v.is_null() {
                found |= 1 << i;
            }
        }
        if k == "inputs" {
            validate_artifacts("inputs", v)?;
        } else if k == "outputs" {
            validate_artifacts("outputs", v)?;
        }
    }
    if size > MAX_DETAILS_BYTES {
        return Err(FieldError::Details(format!(
            "larger than {MAX_DETAILS_BYTES} bytes"
        )));
    }
    if let Some((_, field)) = required
        .iter()
        .enumerate()
        .find(|(i, _)| found & (1 << i) == 0)
    {
        return Err(FieldError::MissingDetail {
            kind: kind.as_str().to_owned(),
            field,
        });
    }
    Ok(())
}

fn validate_artifacts(list: &'static str, v: &Value) -> Result<(), FieldError> {
    let Value::Array(items) = v else {
        return Err(FieldError::Artifact {
            list,
            index: 0,
            reason: "must be an array".into(),
        });
    };
    for (index, item) in items.iter().enumerate() {
        let err = |reason: &str| FieldError::Artifact {
            list,
            index,
            reason: reason.into(),
        };
        let Value::Object(m) = item else {
            return Err(err("must be an object"));
        };
        match m.get("digest") {
            Some(Value::String(d)) => {
                Digest::parse(d).map_err(|e| err(&e.to_string()))?;
            }
            _ => return Err(err("digest (sha256:<hex>) is required")),
        }
        if m.get("name").is_some_and(|n| !n.is_string()) {
            return Err(err("name must be a string"));
        }
    }
    Ok(())
}

/// Approximate JSON size of `v` (an upper-bound-ish estimate, cheap to compute); fails only
/// on excessive nesting. Sizes saturate, so a huge value cannot overflow the count.
fn walk(v: &Value, depth: usize) -> Result<usize, FieldError> {
    if depth > MAX_DETAILS_DEPTH {
        return Err(FieldError::Details(format!(
            "nested deeper than {MAX_DETAILS_DEPTH}"
        )));
    }
    Ok(match v {
        Value::Null | Value::Bool(_) => 5,
        // serde_json numbers are always finite (no NaN or infinity can be built).
        Value::Number(_) => 24,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => {
            let mut n = 2usize;
            for i in items {
                n = n.saturating_add(walk(i, depth + 1)? + 1);
            }
            n
        }
        Value::Object(m) => {
            let mut n = 2usize;
            for (k, v) in m {
                n = n.saturating_add(walk(v, depth + 1)?.saturating_add(k.len() + 4));
            }
            n
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EventBuilder {
        TimelineEvent::builder(EventKind::SloResolved, "slo", "availability")
            .with_tenant("acme")
            .with_detail("slo", "availability")
    }

    #[test]
    fn event_ids_are_v7_and_increase() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let ids: Vec<String> = (0..1000).map(|_| new_event_id(now)).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        for id in &ids {
            validate_event_id(id).unwrap();
            let u = Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
            let (secs, _) = u.get_timestamp().unwrap().to_unix();
            assert!(secs.abs_diff(now.as_secs()) <= 1);
        }
        assert!(validate_ts(&ts_from(now)).is_ok());
    }

    #[test]
    fn ts_shape() {
        assert!(validate_ts(&now_ts()).is_ok());
        assert!(validate_ts("2026-11-28T10:53:18.123456789Z").is_ok());
        for bad in [
            "2026-11-28T10:53:18Z",
            "2026-11-28T10:53:18.123456789+00:00",
            "2026-13-28T10:53:18.123456789Z",
            "2026-02-30T10:53:18.123456789Z",
            "2026-11-28t10:53:18.123456789Z",
        ] {
            assert!(validate_ts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenants() {
        for ok in ["acme", "a", "Acme_1-x", &"a".repeat(64)] {
            assert!(validate_tenant(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a.b",
            "a*",
            "a>",
            "a/b",
            "..",
            "global",
            "GLOBAL",
            "a b",
            &"a".repeat(65),
            "é",
        ] {
            assert!(validate_tenant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trace_ids() {
        assert!(validate_trace_id("4bf92f3577b34da6a3ce929d0e0e4736").is_ok());
        assert!(validate_trace_id(&"0".repeat(32)).is_err());
        assert!(validate_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
        assert!(validate_trace_id("4bf92f3577b34da6a3ce929d0e0e473").is_err());
    }

    #[test]
    fn builder_errors() {
        let no_tenant =
            TimelineEvent::builder(EventKind::SloResolved, "slo", "x").with_detail("slo", "x");
        assert_eq!(no_tenant.build().unwrap_err(), BuildError::MissingTenant);
        assert!(matches!(
            TimelineEvent::builder(EventKind::JobFailed, "job", "j")
                .with_tenant("a")
                .build(),
            Err(BuildError::Invalid(FieldError::MissingDetail {
                field: "job_type",
                ..
            }))
        ));
        assert!(base().with_details(Value::Bool(true)).build().is_err());
        assert!(
            base()
                .with_detail("inputs", serde_json::json!([{"digest": "md5:x"}]))
                .build()
                .is_err()
        );
        assert!(
            base()
                .with_event_id(Uuid::new_v4().to_string())
                .build()
                .is_err()
        );
        assert!(
            base()
                .with_detail("big", "x".repeat(MAX_DETAILS_BYTES))
                .build()
                .is_err()
        );
        let mut deep = Value::Null;
        for _ in 0..40 {
            deep = Value::Array(vec![deep]);
        }
        assert!(base().with_detail("deep", deep).build().is_err());
    }

    #[test]
    fn round_trip_and_tamper() {
        let e = base()
            .with_project("p")
            .with_trace_id("4bf92f3577b34da6a3ce929d0e0e4736")
            .build()
            .unwrap();
        let json = e.to_json();
        assert_eq!(TimelineEvent::from_json(&json).unwrap(), e);
        assert_eq!(serde_json::to_string(&e).unwrap(), json);
        let tampered = json.replace("availability\"}", "availability2\"}");
        assert!(matches!(
            TimelineEvent::from_json(&tampered),
            Err(ParseError::Verify(VerifyError::Mismatch { .. }))
        ));
        let v2 = json.replace("\"schema_version\":1", "\"schema_version\":2");
        assert_eq!(
            TimelineEvent::from_json(&v2),
            Err(ParseError::SchemaVersion(2))
        );
    }
}
