//! Incident mode: a per-tenant switch with a TTL that raises trace sampling to 100 % for the
//! tenant, keeps a ring of its recent debug records (flushed with its next error), signals a
//! retention bump, and calls start/stop hooks.

use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use stella_context::CurrentContext;
use stella_scrub::Scrubber;
use stella_scrub::grants::Clock;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing_core::{Event, Level, Metadata};
use tracing_subscriber::filter::LevelFilter;

/// The longest incident mode, per switch (extend by starting again).
pub const MAX_INCIDENT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Debug records kept per tenant in incident mode.
pub const BREADCRUMBS_PER_TENANT: usize = 64;
/// The default evidence-retention bump signalled for an incident.
pub const DEFAULT_RETENTION_BUMP: Duration = Duration::from_secs(30 * 24 * 3600);
/// The target of the start/stop lines.
const INCIDENT_TARGET: &str = "stella_telemetry::incident";
/// The longest breadcrumb kept, in bytes.
const MAX_CRUMB_LEN: usize = 1024;

/// What switched incident mode on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IncidentTrigger {
    /// An operator, through the API.
    Manual,
    /// An SLO burning its error budget above a threshold.
    BurnRate {
        /// The SLO.
        slo: String,
        /// The long-window burn rate that fired.
        burn_rate: f64,
    },
}

/// A request to switch incident mode on for one tenant.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_telemetry::IncidentRequest;
///
/// let r = IncidentRequest::new("acme", Duration::from_secs(4 * 3600)).with_actor("oncall-7").with_reason("INC-42");
/// # let _ = r;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct IncidentRequest {
    tenant: String,
    ttl: Duration,
    actor: Option<String>,
    reason: Option<String>,
    trigger: IncidentTrigger,
    retention_bump: Duration,
}

impl IncidentRequest {
    /// Incident mode for `tenant` for the next `ttl`.
    pub fn new(tenant: impl Into<String>, ttl: Duration) -> Self {
        IncidentRequest {
            tenant: tenant.into(),
            ttl,
            actor: None,
            reason: None,
            trigger: IncidentTrigger::Manual,
            retention_bump: DEFAULT_RETENTION_BUMP,
        }
    }

    /// Who asked.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Why (an incident ticket).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// What switched it on (default [`IncidentTrigger::Manual`]).
    pub fn with_trigger(mut self, trigger: IncidentTrigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// How much longer the evidence locker should keep this tenant's evidence created during
    /// the incident (default 30 days).
    pub fn with_retention_bump(mut self, bump: Duration) -> Self {
        self.retention_bump = bump;
        self
    }
}

/// An active (or just ended) incident mode.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Incident {
    /// The tenant.
    pub tenant: String,
    /// When it started.
    pub started_at: SystemTime,
    /// When it expires.
    pub expires_at: SystemTime,
    /// What switched it on.
    pub trigger: IncidentTrigger,
    /// Who asked.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The retention bump the evidence locker should honour for evidence of this tenant
    /// created while the incident lasts.
    pub retention_bump: Duration,
}

/// Start or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncidentAction {
    /// Switched on (or extended).
    Started,
    /// Switched off through the API or by a burn-rate recovery.
    Stopped,
    /// The TTL passed.
    Expired,
}

/// What a start/stop hook receives.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IncidentEvent {
    /// Start, stop or expiry.
    pub action: IncidentAction,
    /// The incident.
    pub incident: Incident,
}

/// Incident mode could not be switched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentError {
    /// The tenant is empty.
    #[error("the tenant must not be empty")]
    EmptyTenant,
    /// The TTL is zero or above [`MAX_INCIDENT_TTL`].
    #[error("the incident TTL must be above zero and at most 7 days, got {0:?}")]
    Ttl(Duration),
    /// No incident mode is active for the tenant.
    #[error("no incident mode is active for this tenant")]
    NotActive,
}

type Hook = Arc<dyn Fn(&IncidentEvent) + Send + Sync>;

/// The incident registry shared by the handle, the trace bridge and the breadcrumb layer.
pub(crate) struct Incidents {
    active: RwLock<HashMap<String, Incident>>,
    any: AtomicBool,
    clock: Arc<dyn Clock>,
    hooks: RwLock<Vec<Hook>>,
    crumbs: Mutex<HashMap<String, VecDeque<(u64, String)>>>,
    scrubber: Scrubber,
}

impl fmt::Debug for Incidents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incidents")
            .field("any", &self.any)
            .finish_non_exhaustive()
    }
}

impl Incidents {
    pub(crate) fn new(clock: Arc<dyn Clock>, scrubber: Scrubber) -> Self {
        Incidents {
            active: RwLock::new(HashMap::new()),
            any: AtomicBool::new(false),
            clock,
            hooks: RwLock::new(Vec::new()),
            crumbs: Mutex::new(HashMap::new()),
            scrubber,
        }
    }

    /// Whether any tenant is in incident mode (the cheap check of the hot paths).
    pub(crate) fn any_active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Whether `tenant` is in incident mode now.
    pub(crate) fn is_active(&self, tenant: &str) -> bool {
        if !self.any_active() {
            return false;
        }
        let now = self.clock.now();
        let active = self.active.read().unwrap_or_else(|e| e.into_inner());
        active.get(tenant).is_some_and(|i| i.expires_at > now)
    }

    fn set_any(&self, any: bool) {
        if self.any.swap(any, Ordering::Relaxed) != any {
            // The breadcrumb layer's level hint changed: debug callsites come alive or go quiet.
            tracing_core::callsite::rebuild_interest_cache();
        }
    }

    pub(crate) fn add_hook(&self, hook: Hook) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    fn announce(&self, action: IncidentAction, incident: &Incident) {
        let verb = match action {
            IncidentAction::Started => "started",
            IncidentAction::Stopped => "stopped",
            IncidentAction::Expired => "expired",
        };
        let ttl = incident
            .expires_at
            .duration_since(incident.started_at)
            .map_or(0, |d| d.as_secs());
        let trigger = match &incident.trigger {
            IncidentTrigger::Manual => "manual".to_owned(),
            IncidentTrigger::BurnRate { slo, .. } => format!("burn_rate:{slo}"),
        };
        tracing::warn!(
            target: INCIDENT_TARGET,
            tenant_id = %incident.tenant,
            actor = incident.actor.as_deref(),
            incident.action = verb,
            incident.trigger = %trigger,
            incident.ttl_seconds = ttl,
            incident.reason = incident.reason.as_deref(),
            retention.bump_seconds = incident.retention_bump.as_secs(),
            "incident mode {verb}"
        );
        let event = IncidentEvent {
            action,
            incident: incident.clone(),
        };
        let hooks: Vec<Hook> = self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone();
        for h in hooks {
            h(&event);
        }
    }

    pub(crate) fn start(&self, request: IncidentRequest) -> Result<Incident, IncidentError> {
        let tenant = request.tenant.trim().to_owned();
        if tenant.is_empty() {
            return Err(IncidentError::EmptyTenant);
        }
        if request.ttl.is_zero() || request.ttl > MAX_INCIDENT_TTL {
            return Err(IncidentError::Ttl(request.ttl));
        }
        let now = self.clock.now();
        let incident = Incident {
            tenant: tenant.clone(),
            started_at: now,
            expires_at: now + request.ttl,
            trigger: request.trigger,
            actor: request.actor,
            reason: request.reason,
            retention_bump: request.retention_bump,
        };
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant, incident.clone());
        self.set_any(true);
        self.announce(IncidentAction::Started, &incident);
        Ok(incident)
    }

    fn end(&self, tenant: &str, action: IncidentAction) -> Option<Incident> {
        let (removed, empty) = {
            let mut active = self.active.write().unwrap_or_else(|e| e.into_inner());
            let removed = active.remove(tenant);
            (removed, active.is_empty())
        };
        let incident = removed?;
        self.crumbs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
        if empty {
            self.set_any(false);
        }
        self.announce(action, &incident);
        Some(incident)
    }

    pub(crate) fn stop(&self, tenant: &str) -> Result<Incident, IncidentError> {
        self.end(tenant, IncidentAction::Stopped)
            .ok_or(IncidentError::NotActive)
    }

    /// Ends every incident whose TTL passed; returns how many.
    pub(crate) fn expire(&self) -> usize {
        if !self.any_active() {
            return 0;
        }
        let now = self.clock.now();
        let due: Vec<String> = self
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|i| i.expires_at <= now)
            .map(|i| i.tenant.clone())
            .collect();
        due.iter()
            .filter(|t| self.end(t, IncidentAction::Expired).is_some())
            .count()
    }

    pub(crate) fn list(&self) -> Vec<Incident> {
        let now = self.clock.now();
        let mut v: Vec<Incident> = self
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|i| i.expires_at > now)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        v
    }

    pub(crate) fn get(&self, tenant: &str) -> Option<Incident> {
        let now = self.clock.now();
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .filter(|i| i.expires_at > now)
            .cloned()
    }

    fn now_nanos(&self) -> u64 {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn push_crumb(&self, tenant: &str, crumb: String) {
        let at = self.now_nanos();
        let mut crumbs = self.crumbs.lock().unwrap_or_else(|e| e.into_inner());
        let ring = crumbs.entry(tenant.to_owned()).or_default();
        if ring.len() >= BREADCRUMBS_PER_TENANT {
            ring.pop_front();
        }
        ring.push_back((at, crumb));
    }

    fn take_crumbs(&self, tenant: &str) -> Vec<(u64, String)> {
        let mut crumbs = self.crumbs.lock().unwrap_or_else(|e| e.into_inner());
        crumbs
            .get_mut(tenant)
            .map(|r| r.drain(..).collect())
            .unwrap_or_default()
    }
}

/// Reads an event's `tenant_id` and renders its message and fields, scrubbed.
struct CrumbVisitor<'a> {
    tenant: Option<String>,
    text: String,
    scrubber: &'a Scrubber,
}

impl CrumbVisitor<'_> {
    fn put(&mut self, key: &str, value: &str) {
        if key == "tenant_id" {
            self.tenant = Some(value.to_owned());
            return;
        }
        if self.text.len() >= MAX_CRUMB_LEN {
            return;
        }
        if key == "message" {
            let clean = self.scrubber.scrub(value);
            if !self.text.is_empty() {
                self.text.insert(0, ' ');
            }
            self.text.insert_str(0, &clean);
        } else {
            let clean = self.scrubber.scrub_field(key, value);
            let _ = write!(self.text, " {key}={clean}");
        }
        if self.text.len() > MAX_CRUMB_LEN {
            let cut = crate::json::prefix(&self.text, MAX_CRUMB_LEN).len();
            self.text.truncate(cut);
        }
    }
}

impl Visit for CrumbVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), &format!("{value:?}"));
    }
}

/// Keeps recent debug records of tenants in incident mode and writes them, as
/// `stella_telemetry::breadcrumb` lines, right after the tenant's next error.
///
/// It takes events only, no spans: [`Telemetry`](crate::config) hands it the debug and error
/// events that pass [`wants`](Self::wants). The tenant comes from the event's `tenant_id` or
/// the thread's current context (the spans' fields are not looked at).
#[derive(Debug, Clone)]
pub(crate) struct BreadcrumbLayer {
    incidents: Arc<Incidents>,
    writer: crate::JsonLayer<crate::NonBlocking>,
}

impl BreadcrumbLayer {
    pub(crate) fn new(
        incidents: Arc<Incidents>,
        writer: crate::JsonLayer<crate::NonBlocking>,
    ) -> Self {
        BreadcrumbLayer { incidents, writer }
    }

    /// Whether events of this level can be breadcrumbs (debug records) or flush them (errors).
    pub(crate) fn takes_level(meta: &Metadata<'_>) -> bool {
        *meta.level() == Level::DEBUG || *meta.level() == Level::ERROR
    }

    /// The breadcrumbs' gate: debug and error events, while an incident is active.
    pub(crate) fn wants(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && Self::takes_level(meta) && self.incidents.any_active()
    }

    /// The interest of the breadcrumbs in a callsite: debug and error events sometimes
    /// (while an incident is active), nothing else.
    pub(crate) fn callsite_interest(meta: &Metadata<'_>) -> Interest {
        if meta.is_event() && Self::takes_level(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    /// The most verbose level the breadcrumbs take now: debug while an incident is active
    /// (switching rebuilds the callsite interest cache and the level hint), else error.
    pub(crate) fn max_level_hint(&self) -> LevelFilter {
        if self.incidents.any_active() {
            LevelFilter::DEBUG
        } else {
            LevelFilter::ERROR
        }
    }

    /// Keeps a debug event of a tenant in incident mode, or writes the tenant's breadcrumbs
    /// after its error event.
    pub(crate) fn on_event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if meta.target() == INCIDENT_TARGET {
            return;
        }
        let mut v = CrumbVisitor {
            tenant: None,
            text: String::new(),
            scrubber: &self.incidents.scrubber,
        };
        event.record(&mut v);
        let Some(tenant) = v.tenant.take().or_else(|| {
            CurrentContext::get_local().and_then(|c| c.request().and_then(|r| r.tenant_id.clone()))
        }) else {
            return;
        };
        if !self.incidents.is_active(&tenant) {
            return;
        }
        if *meta.level() == Level::ERROR {
            let crumbs = self.incidents.take_crumbs(&tenant);
            self.writer.write_breadcrumbs(&tenant, &crumbs);
        } else {
            self.incidents
                .push_crumb(&tenant, format!("breadcrumb: {} {}", meta.target(), v.text));
        }
    }
}
