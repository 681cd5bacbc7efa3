//! Per-tenant deep-debug grants: time-boxed relaxation of PII kinds for one tenant.
//!
//! A [`Grant`] names a tenant, the [`PiiKind`]s to relax (email, phone, ip, path), a TTL (capped
//! by the registry's maximum), the actor who granted it and why. While it is active, a scrubber
//! view for that tenant ([`Scrubber::for_tenant`](crate::Scrubber::for_tenant)) leaves those PII
//! kinds in place. Credentials, cards and SSNs are never relaxed: there is no way to ask for it.
//!
//! Granting, revoking and expiring each return an [`AuditRecord`] for the caller to log. A grant
//! stops applying the instant its TTL passes, whether or not [`Grants::expire`] has run yet;
//! `expire` only removes it and produces the audit record. Time comes from an injectable
//! [`Clock`], so tests use [`ManualClock`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use stella_scrub::{PiiKind, Scrubber};
//! use stella_scrub::grants::{GrantRequest, Grants, ManualClock};
//!
//! let clock = ManualClock::at_unix_secs(1_700_000_000);
//! let grants = Grants::builder().with_clock(clock.clone()).build()?;
//! let scrubber = Scrubber::builder().with_grants(grants.clone()).build()?;
//!
//! let (grant, audit) = grants.grant(
//!     GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(900))
//!         .with_actor("oncall@acme")
//!         .with_reason("INC-42 login loop"),
//! )?;
//! println!("{}", audit.to_json()); // log it
//!
//! let line = "login failed for bob@example.com with password=hunter2";
//! assert_eq!(
//!     scrubber.for_tenant(Some("acme")).scrub(line),
//!     "login failed for bob@example.com with password=[REDACTED:password]"
//! );
//! assert_eq!(
//!     scrubber.for_tenant(Some("globex")).scrub(line),
//!     "login failed for [REDACTED:email] with password=[REDACTED:password]"
//! );
//!
//! clock.advance(Duration::from_secs(901));
//! assert!(scrubber.for_tenant(Some("acme")).scrub(line).contains("[REDACTED:email]"));
//! let expired = grants.expire();
//! assert_eq!(expired.len(), 1);
//! assert_eq!(expired[0].grant_id, grant.id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::BuildError;
use crate::kind::{PiiKind, PiiSet};

/// The default and upper bound for [`GrantsBuilder::with_max_ttl`]: 24 hours.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::grants::{DEFAULT_MAX_TTL, Grants};
/// assert_eq!(DEFAULT_MAX_TTL, Duration::from_secs(24 * 3600));
/// assert!(Grants::builder().with_max_ttl(DEFAULT_MAX_TTL * 2).build().is_err());
/// ```
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 3600);

// === impl Clock ===

/// A source of wall-clock time, injectable for tests.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use stella_scrub::grants::{Clock, Grants};
///
/// /// A clock fixed at one instant.
/// #[derive(Debug)]
/// struct Fixed(SystemTime);
/// impl Clock for Fixed {
///     fn now(&self) -> SystemTime {
///         self.0
///     }
/// }
///
/// let grants = Grants::builder()
///     .with_clock(Fixed(UNIX_EPOCH + Duration::from_secs(1_700_000_000)))
///     .build()?;
/// assert!(grants.active().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock (the default of [`Grants::new`] and [`Grants::builder`]).
///
/// # Examples
///
/// ```
/// use stella_scrub::grants::{Clock, SystemClock};
/// assert!(SystemClock::default().now() > std::time::UNIX_EPOCH);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::grants::{Clock, ManualClock};
/// let c = ManualClock::at_unix_secs(10);
/// c.advance(Duration::from_secs(5));
/// assert_eq!(c.now().duration_since(std::time::UNIX_EPOCH)?.as_secs(), 15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `secs` seconds after the Unix epoch.
    pub fn at_unix_secs(secs: u64) -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(secs.saturating_mul(1_000_000_000))),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(add))
            });
    }

    /// Sets the clock to `secs` seconds after the Unix epoch.
    pub fn set_unix_secs(&self, secs: u64) {
        self.nanos
            .store(secs.saturating_mul(1_000_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

// === impl GrantRequest ===

/// A request for a deep-debug grant, validated by [`Grants::grant`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::PiiKind;
/// use stella_scrub::grants::GrantRequest;
/// let req = GrantRequest::new("acme", [PiiKind::Email, PiiKind::Ip], Duration::from_secs(600))
///     .with_actor("alice")
///     .with_reason("support case 1234");
/// # let _ = req;
/// ```
#[derive(Debug, Clone)]
pub struct GrantRequest {
    tenant: String,
    kinds: Vec<PiiKind>,
    ttl: Duration,
    actor: String,
    reason: String,
}

impl GrantRequest {
    /// A request to relax `kinds` for `tenant` for `ttl`. Actor and reason are required too.
    pub fn new(
        tenant: impl Into<String>,
        kinds: impl IntoIterator<Item = PiiKind>,
        ttl: Duration,
    ) -> Self {
        GrantRequest {
            tenant: tenant.into(),
            kinds: kinds.into_iter().collect(),
            ttl,
            actor: String::new(),
            reason: String::new(),
        }
    }

    /// Who grants it (recorded in every audit record).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Why (recorded in every audit record).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// An active deep-debug grant, returned by [`Grants::grant`] and [`Grants::active`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::{PiiKind, grants::{GrantRequest, Grants, ManualClock}};
/// let grants = Grants::builder().with_clock(ManualClock::at_unix_secs(1_000)).build()?;
/// let (grant, _audit) = grants.grant(
///     GrantRequest::new("acme", [PiiKind::Ip], Duration::from_secs(60))
///         .with_actor("alice")
///         .with_reason("INC-7"),
/// )?;
/// assert_eq!((grant.tenant(), grant.kinds(), grant.actor()), ("acme", &[PiiKind::Ip][..], "alice"));
/// assert_eq!(grant.expires_at().duration_since(grant.granted_at())?, Duration::from_secs(60));
/// assert_eq!(grants.active(), vec![grant]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    id: u64,
    tenant: String,
    kinds: Vec<PiiKind>,
    actor: String,
    reason: String,
    granted_at: SystemTime,
    expires_at: SystemTime,
}

impl Grant {
    /// The registry-unique id, used to revoke.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The tenant the grant applies to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
    /// The relaxed PII kinds.
    pub fn kinds(&self) -> &[PiiKind] {
        &self.kinds
    }
    /// Who granted it.
    pub fn actor(&self) -> &str {
        &self.actor
    }
    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// When it was granted.
    pub fn granted_at(&self) -> SystemTime {
        self.granted_at
    }
    /// When it stops applying.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// What happened to a grant.
///
/// # Examples
///
/// ```
/// use stella_scrub::grants::AuditAction;
/// assert_eq!(AuditAction::Revoked.as_str(), "revoked");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditAction {
    /// A grant was created.
    Granted,
    /// A grant was revoked before its expiry.
    Revoked,
    /// A grant reached its expiry.
    Expired,
}

impl AuditAction {
    /// `"granted"`, `"revoked"` or `"expired"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::Granted => "granted",
            AuditAction::Revoked => "revoked",
            AuditAction::Expired => "expired",
        }
    }
}

/// An audit record for the caller to log (for example as a `timeline_event`), returned by
/// [`Grants::grant`], [`Grants::revoke`] and [`Grants::expire`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::{PiiKind, grants::{AuditAction, GrantRequest, Grants}};
/// let grants = Grants::new();
/// let (grant, _) = grants.grant(
///     GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(60))
///         .with_actor("alice")
///         .with_reason("INC-7"),
/// )?;
/// let audit = grants.revoke(grant.id(), "bob")?;
/// assert_eq!(audit.action, AuditAction::Revoked);
/// assert_eq!((audit.tenant.as_str(), audit.actor.as_str()), ("acme", "bob"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// What happened.
    pub action: AuditAction,
    /// The grant it happened to.
    pub grant_id: u64,
    /// The tenant of the grant.
    pub tenant: String,
    /// The relaxed kinds.
    pub kinds: Vec<PiiKind>,
    /// Who granted it (for `Granted` and `Expired`) or who revoked it (for `Revoked`).
    pub actor: String,
    /// The grant's reason.
    pub reason: String,
    /// When this happened (the expiry time for `Expired`).
    pub at: SystemTime,
    /// When the grant expires or expired.
    pub expires_at: SystemTime,
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl AuditRecord {
    /// The record as a JSON object (times as Unix milliseconds).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::{PiiKind, grants::{GrantRequest, Grants}};
    /// let grants = Grants::new();
    /// let (_, audit) = grants.grant(GrantRequest::new("t1", [PiiKind::Ip], Duration::from_secs(60))
    ///     .with_actor("a").with_reason("r"))?;
    /// assert_eq!(audit.to_json()["action"], "granted");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "action": self.action.as_str(),
            "grant_id": self.grant_id,
            "tenant": self.tenant,
            "kinds": self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "actor": self.actor,
            "reason": self.reason,
            "at_unix_ms": unix_millis(self.at),
            "expires_at_unix_ms": unix_millis(self.expires_at),
        })
    }

    fn of(action: AuditAction, g: &Grant, actor: &str, at: SystemTime) -> Self {
        AuditRecord {
            action,
            grant_id: g.id,
            tenant: g.tenant.clone(),
            kinds: g.kinds.clone(),
            actor: actor.to_owned(),
            reason: g.reason.clone(),
            at,
            expires_at: g.expires_at,
        }
    }
}

/// Why a grant or revocation was refused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::{PiiKind, grants::{GrantError, GrantRequest, Grants}};
/// let grants = Grants::new();
/// let too_long = GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(48 * 3600))
///     .with_actor("alice")
///     .with_reason("INC-7");
/// assert!(matches!(grants.grant(too_long), Err(GrantError::Ttl { .. })));
/// assert_eq!(grants.revoke(99, "alice"), Err(GrantError::NotFound(99)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The tenant id was empty.
    #[error("tenant must not be empty")]
    EmptyTenant,
    /// No PII kind was named.
    #[error("a grant must relax at least one PII kind")]
    NoKinds,
    /// The actor was empty.
    #[error("actor must not be empty")]
    EmptyActor,
    /// The reason was empty.
    #[error("reason must not be empty")]
    EmptyReason,
    /// The TTL was zero or above the registry's maximum.
    #[error("ttl {ttl:?} must be above zero and at most {max:?}")]
    Ttl {
        /// The requested TTL.
        ttl: Duration,
        /// The registry's maximum.
        max: Duration,
    },
    /// No active grant has this id.
    #[error("no active grant with id {0}")]
    NotFound(u64),
}

// === impl Grants ===

#[derive(Debug)]
struct Inner {
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
    next_id: AtomicU64,
    count: AtomicUsize,
    by_tenant: RwLock<HashMap<String, Vec<Grant>>>,
    // Serialises writers so ids and audit records come out in order.
    write: Mutex<()>,
}

/// The registry of deep-debug grants that scrubbers consult. Cheap to clone; clones share state.
///
/// Looking up a tenant costs one atomic load when no grant exists anywhere, and a read lock plus
/// a hash lookup otherwise.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::{PiiKind, Scrubber, grants::{GrantRequest, Grants}};
/// let grants = Grants::new();
/// let scrubber = Scrubber::builder().with_grants(grants.clone()).build()?;
/// grants.grant(
///     GrantRequest::new("acme", [PiiKind::Ip], Duration::from_secs(600))
///         .with_actor("alice")
///         .with_reason("INC-7"),
/// )?;
/// assert_eq!(grants.relaxed_for("acme"), vec![PiiKind::Ip]);
/// assert_eq!(scrubber.for_tenant(Some("acme")).scrub("from 8.8.8.8"), "from 8.8.8.8");
/// assert_eq!(scrubber.for_tenant(Some("other")).scrub("from 8.8.8.8"), "from [REDACTED:ip]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Grants {
    inner: Arc<Inner>,
}

impl Default for Grants {
    fn default() -> Self {
        Grants::new()
    }
}

/// Builds a [`Grants`] registry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_scrub::grants::{Grants, ManualClock};
/// let grants = Grants::builder()
///     .with_clock(ManualClock::at_unix_secs(1_700_000_000))
///     .with_max_ttl(Duration::from_secs(3600))
///     .build()?;
/// assert!(grants.active().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct GrantsBuilder {
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
}

impl GrantsBuilder {
    /// Uses `clock` for grant and expiry times.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The longest TTL a grant may ask for (default and ceiling: [`DEFAULT_MAX_TTL`]).
    pub fn with_max_ttl(mut self, max: Duration) -> Self {
        self.max_ttl = max;
        self
    }

    /// Builds the registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::grants::Grants;
    /// assert!(Grants::builder().with_max_ttl(Duration::from_secs(600)).build().is_ok());
    /// assert!(Grants::builder().with_max_ttl(Duration::ZERO).build().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A zero maximum TTL, or one above [`DEFAULT_MAX_TTL`].
    pub fn build(self) -> Result<Grants, BuildError> {
        if self.max_ttl.is_zero() || self.max_ttl > DEFAULT_MAX_TTL {
            return Err(BuildError::setting(
                "max_ttl",
                format!("must be above zero and at most {DEFAULT_MAX_TTL:?}"),
            ));
        }
        Ok(Grants {
            inner: Arc::new(Inner {
                clock: self.clock,
                max_ttl: self.max_ttl,
                next_id: AtomicU64::new(1),
                count: AtomicUsize::new(0),
                by_tenant: RwLock::new(HashMap::new()),
                write: Mutex::new(()),
            }),
        })
    }
}

impl Grants {
    /// A registry on the system clock with the default maximum TTL.
    ///
    /// # Examples
    ///
    /// ```
    /// let grants = stella_scrub::grants::Grants::new();
    /// assert!(grants.active().is_empty());
    /// ```
    pub fn new() -> Self {
        Grants {
            inner: Arc::new(Inner {
                clock: Arc::new(SystemClock),
                max_ttl: DEFAULT_MAX_TTL,
                next_id: AtomicU64::new(1),
                count: AtomicUsize::new(0),
                by_tenant: RwLock::new(HashMap::new()),
                write: Mutex::new(()),
            }),
        }
    }

    /// A builder for a registry with an injected clock or a lower maximum TTL.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_scrub::grants::{Grants, ManualClock};
    /// let grants = Grants::builder().with_clock(ManualClock::at_unix_secs(0)).build()?;
    /// # let _ = grants;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> GrantsBuilder {
        GrantsBuilder {
            clock: Arc::new(SystemClock),
            max_ttl: DEFAULT_MAX_TTL,
        }
    }

    /// Grants deep debug; returns the grant and its `Granted` audit record.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::{PiiKind, grants::{GrantError, GrantRequest, Grants}};
    /// let grants = Grants::new();
    /// let req = GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(900))
    ///     .with_actor("alice").with_reason("INC-42");
    /// let (grant, audit) = grants.grant(req)?;
    /// assert_eq!(grant.tenant(), "acme");
    /// assert_eq!(audit.to_json()["actor"], "alice");
    /// // no reason: refused
    /// let bad = GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(60)).with_actor("a");
    /// assert_eq!(grants.grant(bad).unwrap_err(), GrantError::EmptyReason);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GrantError`] when the tenant, actor or reason is empty, no kind is named, or the TTL is
    /// zero or above the maximum.
    pub fn grant(&self, req: GrantRequest) -> Result<(Grant, AuditRecord), GrantError> {
        if req.tenant.trim().is_empty() {
            return Err(GrantError::EmptyTenant);
        }
        if req.kinds.is_empty() {
            return Err(GrantError::NoKinds);
        }
        if req.actor.trim().is_empty() {
            return Err(GrantError::EmptyActor);
        }
        if req.reason.trim().is_empty() {
            return Err(GrantError::EmptyReason);
        }
        if req.ttl.is_zero() || req.ttl > self.inner.max_ttl {
            return Err(GrantError::Ttl {
                ttl: req.ttl,
                max: self.inner.max_ttl,
            });
        }
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.inner.clock.now();
        let mut kinds = req.kinds;
        kinds.sort();
        kinds.dedup();
        let grant = Grant {
            id: self.inner.next_id.fetch_add(1, Ordering::SeqCst),
            tenant: req.tenant,
            kinds,
            actor: req.actor,
            reason: req.reason,
            granted_at: now,
            expires_at: now + req.ttl,
        };
        let audit = AuditRecord::of(AuditAction::Granted, &grant, &grant.actor, now);
        let mut map = self
            .inner
            .by_tenant
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(grant.tenant.clone())
            .or_default()
            .push(grant.clone());
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        Ok((grant, audit))
    }

    /// Revokes an active grant; returns its `Revoked` audit record naming `actor`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::{PiiKind, grants::{AuditAction, GrantRequest, Grants}};
    /// let grants = Grants::new();
    /// let (g, _) = grants.grant(GrantRequest::new("acme", [PiiKind::Path], Duration::from_secs(60))
    ///     .with_actor("alice").with_reason("debug upload paths"))?;
    /// let audit = grants.revoke(g.id(), "bob")?;
    /// assert_eq!(audit.action, AuditAction::Revoked);
    /// assert!(grants.active().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GrantError::NotFound`] if no active grant has this id (already revoked or expired and
    /// swept).
    pub fn revoke(&self, id: u64, actor: &str) -> Result<AuditRecord, GrantError> {
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.inner.clock.now();
        let mut map = self
            .inner
            .by_tenant
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for list in map.values_mut() {
            if let Some(pos) = list.iter().position(|g| g.id == id) {
                let g = list.remove(pos);
                self.inner.count.fetch_sub(1, Ordering::SeqCst);
                map.retain(|_, l| !l.is_empty());
                return Ok(AuditRecord::of(AuditAction::Revoked, &g, actor, now));
            }
        }
        Err(GrantError::NotFound(id))
    }

    /// Removes every grant whose TTL has passed and returns one `Expired` audit record each.
    /// Call it periodically (for example once a minute) and log what it returns; expired grants
    /// stop applying on time even if this never runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::{PiiKind, grants::{AuditAction, GrantRequest, Grants, ManualClock}};
    /// let clock = ManualClock::at_unix_secs(1_000);
    /// let grants = Grants::builder().with_clock(clock.clone()).build()?;
    /// grants.grant(
    ///     GrantRequest::new("acme", [PiiKind::Path], Duration::from_secs(60))
    ///         .with_actor("alice")
    ///         .with_reason("INC-7"),
    /// )?;
    /// assert!(grants.expire().is_empty());
    /// clock.advance(Duration::from_secs(60));
    /// let expired = grants.expire();
    /// assert_eq!(expired.len(), 1);
    /// assert_eq!(expired[0].action, AuditAction::Expired);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expire(&self) -> Vec<AuditRecord> {
        if self.inner.count.load(Ordering::SeqCst) == 0 {
            return Vec::new();
        }
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        let mut map = self
            .inner
            .by_tenant
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for list in map.values_mut() {
            list.retain(|g| {
                if g.expires_at <= now {
                    out.push(AuditRecord::of(
                        AuditAction::Expired,
                        g,
                        &g.actor,
                        g.expires_at,
                    ));
                    false
                } else {
                    true
                }
            });
        }
        map.retain(|_, l| !l.is_empty());
        self.inner.count.fetch_sub(out.len(), Ordering::SeqCst);
        out.sort_by_key(|a| a.grant_id);
        out
    }

    /// The grants active now (not yet expired), ordered by id.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::{PiiKind, grants::{GrantRequest, Grants}};
    /// let grants = Grants::new();
    /// let (grant, _) = grants.grant(
    ///     GrantRequest::new("acme", [PiiKind::Phone], Duration::from_secs(60))
    ///         .with_actor("alice")
    ///         .with_reason("INC-7"),
    /// )?;
    /// assert_eq!(grants.active(), vec![grant]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn active(&self) -> Vec<Grant> {
        let now = self.inner.clock.now();
        let map = self
            .inner
            .by_tenant
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Grant> = map
            .values()
            .flatten()
            .filter(|g| g.expires_at > now)
            .cloned()
            .collect();
        v.sort_by_key(|g| g.id);
        v
    }

    /// The PII kinds relaxed for `tenant` right now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(stella_scrub::grants::Grants::new().relaxed_for("acme").is_empty());
    /// ```
    pub fn relaxed_for(&self, tenant: &str) -> Vec<PiiKind> {
        let set = self.relaxed_set(tenant);
        PiiKind::ALL
            .iter()
            .copied()
            .filter(|k| set.relaxes(k.kind()))
            .collect()
    }

    pub(crate) fn relaxed_set(&self, tenant: &str) -> PiiSet {
        if self.inner.count.load(Ordering::Relaxed) == 0 {
            return PiiSet::EMPTY;
        }
        let map = self
            .inner
            .by_tenant
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get(tenant) else {
            return PiiSet::EMPTY;
        };
        let now = self.inner.clock.now();
        let mut set = PiiSet::EMPTY;
        for g in list.iter().filter(|g| g.expires_at > now) {
            for k in &g.kinds {
                set.insert(*k);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: &str, secs: u64) -> GrantRequest {
        GrantRequest::new(t, [PiiKind::Email], Duration::from_secs(secs))
            .with_actor("alice")
            .with_reason("debug")
    }

    #[test]
    fn validation() {
        let g = Grants::builder()
            .with_max_ttl(Duration::from_secs(3600))
            .build()
            .unwrap();
        assert_eq!(g.grant(req("", 10)).unwrap_err(), GrantError::EmptyTenant);
        assert!(matches!(
            g.grant(req("t", 0)).unwrap_err(),
            GrantError::Ttl { .. }
        ));
        assert!(matches!(
            g.grant(req("t", 3601)).unwrap_err(),
            GrantError::Ttl { .. }
        ));
        assert_eq!(
            g.grant(
                GrantRequest::new("t", [], Duration::from_secs(1))
                    .with_actor("a")
                    .with_reason("r")
            )
            .unwrap_err(),
            GrantError::NoKinds
        );
        assert_eq!(
            g.grant(req("t", 10).with_actor(" ")).unwrap_err(),
            GrantError::EmptyActor
        );
        assert_eq!(
            g.grant(req("t", 10).with_reason("")).unwrap_err(),
            GrantError::EmptyReason
        );
        assert!(
            Grants::builder()
                .with_max_ttl(Duration::from_secs(25 * 3600))
                .build()
                .is_err()
        );
        assert!(
            Grants::builder()
                .with_max_ttl(Duration::ZERO)
                .build()
                .is_err()
        );
    }

    #[test]
    fn lifecycle_with_audit() {
        let clock = ManualClock::at_unix_secs(1000);
        let g = Grants::builder().with_clock(clock.clone()).build().unwrap();
        let (a, audit) = g.grant(req("t1", 60)).unwrap();
        assert_eq!(audit.action, AuditAction::Granted);
        assert_eq!(audit.actor, "alice");
        let (b, _) = g.grant(req("t1", 120)).unwrap();
        assert!(g.relaxed_set("t1").relaxes(crate::Kind::Email));
        assert!(g.relaxed_set("t2").is_empty());
        clock.advance(Duration::from_secs(60));
        // a stops applying at once, but b is still active
        assert_eq!(g.active().len(), 1);
        let exp = g.expire();
        assert_eq!(exp.len(), 1);
        assert_eq!(exp[0].grant_id, a.id());
        assert_eq!(exp[0].action, AuditAction::Expired);
        let rev = g.revoke(b.id(), "bob").unwrap();
        assert_eq!(rev.action, AuditAction::Revoked);
        assert_eq!(rev.actor, "bob");
        assert_eq!(
            g.revoke(b.id(), "bob").unwrap_err(),
            GrantError::NotFound(b.id())
        );
        assert!(g.relaxed_set("t1").is_empty());
        assert!(g.expire().is_empty());
    }
}
