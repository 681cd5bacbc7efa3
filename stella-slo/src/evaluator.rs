//! The evaluator: per-SLO ring buffers of per-interval counts, multi-window alerting, breach
//! events, resolutions and incident-mode triggers.
//!
//! Synchronous and runtime-free: call [`Evaluator::tick`] once per interval from whatever
//! timer you have (a thread with `sleep`, a tokio interval, a test loop).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::event::{
    BreachEvent, BreachKind, BreachSink, IncidentAction, IncidentSignal, SCHEMA_VERSION,
    WindowBurn, rfc3339, unix_secs,
};
use crate::math::{self, Counts, Threshold};
use crate::objective::Factor;
use crate::slo::{Slo, is_tenant};
use crate::status::{AlertStatus, SloStatus, StatusReport, WindowStatus};
use crate::window::Window;

/// Why the evaluator or one of its SLOs could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluatorError {
    /// The tick interval must be at least one second.
    #[error("the tick interval must be a whole number of seconds, at least 1")]
    Interval,
    /// Every window must be a whole number of intervals.
    #[error("SLO {slo}: window {window} is not a multiple of the {interval}s tick interval")]
    WindowNotMultiple {
        /// SLO name.
        slo: String,
        /// Offending window.
        window: Window,
        /// Interval in seconds.
        interval: u64,
    },
    /// The default tenant is not a subject token.
    #[error("default tenant {0:?} must use only letters, digits, '_' and '-'")]
    Tenant(String),
    /// Two SLOs share a name.
    #[error("an SLO named {0:?} is already registered")]
    Duplicate(String),
    /// The evaluator thread could not be started.
    #[error("cannot start the evaluator thread: {0}")]
    Thread(String),
}

/// Why a [`CountSource`] could not read an SLO's counters this tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{slo}: {message}")]
pub struct SourceError {
    slo: String,
    message: String,
}

impl SourceError {
    /// A source error for `slo`.
    pub fn new(slo: &str, message: impl fmt::Display) -> SourceError {
        SourceError {
            slo: slo.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Supplies cumulative counts (monotonic counters, as Prometheus and in-process metrics keep
/// them) for an SLO. The evaluator takes the difference between polls; a decrease is a counter
/// reset and the new value counts as the increase, as Prometheus' `increase()` does.
pub trait CountSource {
    /// Cumulative good and total events of `slo`, or `Ok(None)` when nothing is known yet.
    ///
    /// # Errors
    ///
    /// [`SourceError`] when the source cannot be read; the evaluator records no events for the
    /// SLO this tick and reports the error in the [`TickReport`].
    fn cumulative(&mut self, slo: &Slo) -> Result<Option<Counts>, SourceError>;
}

/// An identifier returned by [`Evaluator::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SloId(usize);

/// What a tick did.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TickReport {
    /// Breach and resolution events emitted, in order.
    pub events: Vec<BreachEvent>,
    /// Incident-mode signals emitted.
    pub incidents: Vec<IncidentSignal>,
    /// Sources that could not be read (only from [`Evaluator::poll`]).
    pub source_errors: Vec<SourceError>,
}

// === impl Ring ===

/// A sliding window over per-tick counts: `len` slots of `per_slot` ticks each (stored in
/// the SLO's shared slot buffer at `offset`) and a running sum, O(1) per tick. With one tick
/// per slot the window is exact; with more it covers between `window - slot + tick` and
/// `window`. The slot buffer is touched twice per slot (evict at its start, store at its
/// end), so coarse windows cost almost nothing per tick.
#[derive(Clone, Debug)]
struct Ring {
    window: Window,
    offset: usize,
    len: usize,
    head: usize,
    per_slot: u64,
    in_slot: u64,
    current: Counts,
    sum: Counts,
}

impl Ring {
    /// A ring for `window`, its slots appended to `slots`.
    fn new(window: Window, interval: u64, max_slots: u64, slots: &mut Vec<Counts>) -> Option<Ring> {
        if !window.as_secs().is_multiple_of(interval) {
            return None;
        }
        let ticks = window.as_secs() / interval;
        let per_slot = (1..=ticks)
            .find(|k| ticks.is_multiple_of(*k) && ticks / k <= max_slots)
            .unwrap_or(ticks);
        let len = usize::try_from(ticks / per_slot).ok()?;
        let offset = slots.len();
        slots.resize(offset.checked_add(len)?, Counts::ZERO);
        Some(Ring {
            window,
            offset,
            len,
            head: 0,
            per_slot,
            in_slot: 0,
            current: Counts::ZERO,
            sum: Counts::ZERO,
        })
    }

    #[inline]
    fn push(&mut self, slots: &mut [Counts], d: Counts) {
        let at = self.offset + self.head;
        if self.in_slot == 0 {
            if let Some(old) = slots.get(at) {
                self.sum = self.sum.saturating_sub(*old);
            }
            self.current = Counts::ZERO;
        }
        self.current = self.current.saturating_add(d);
        self.sum = self.sum.saturating_add(d);
        self.in_slot += 1;
        if self.in_slot == self.per_slot {
            if let Some(slot) = slots.get_mut(at) {
                *slot = self.current;
            }
            self.in_slot = 0;
            self.head += 1;
            if self.head == self.len {
                self.head = 0;
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Firing {
    since: SystemTime,
    breach_id: String,
}

#[derive(Debug)]
struct RuleState {
    long: usize,
    short: usize,
    threshold: Threshold,
    incident: Option<Threshold>,
    firing: Option<Firing>,
}

#[derive(Debug)]
struct SloState {
    slo: Slo,
    tenant: String,
    /// This SLO's rings in `Evaluator::rings`: its windows, shortest first, then the period.
    rings: std::ops::Range<usize>,
    /// This SLO's rule states in `Evaluator::rules`, in policy order.
    rules: std::ops::Range<usize>,
    pending: Counts,
    last_cumulative: Option<Counts>,
    incident: bool,
}

// === impl Evaluator ===

type IncidentCallback = Box<dyn Fn(&IncidentSignal) + Send + Sync>;

/// Evaluates SLOs tick by tick and emits breach events.
///
/// Memory per SLO is bounded: each window keeps at most `max_slots` slots (default 60) plus
/// one ring for the period. Each tick costs O(windows) per SLO.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, UNIX_EPOCH};
/// use stella_slo::{BreachEvent, Counts, Evaluator, Objective, RatioEvents, RatioSli, Sli, Slo};
///
/// let seen: Arc<Mutex<Vec<String>>> = Arc::default();
/// let s = seen.clone();
/// let mut ev = Evaluator::builder()
///     .with_sink(move |e: &BreachEvent| s.lock().map(|mut v| v.push(format!("{} {}", e.kind, e.rule))).unwrap_or(()))
///     .build()?;
/// let sli = Sli::Ratio(RatioSli::new("jobs_total".parse()?, RatioEvents::Bad("jobs_failed_total".parse()?)));
/// let id = ev.add(Slo::builder("jobs", "runner", sli).with_objective(Objective::new(0.999)?).build()?)?;
///
/// let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// for _ in 0..5 {
///     ev.record(id, Counts::from_bad(50, 1000)?); // 5 % errors: burn rate 50
///     ev.tick(now);
///     now += Duration::from_secs(60);
/// }
/// assert_eq!(seen.lock().unwrap()[0], "slo.breach page_fast");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Evaluator {
    interval: u64,
    max_slots: u64,
    default_tenant: String,
    slos: Vec<SloState>,
    // The hot per-tick state of all SLOs, in SLO order, so a tick streams through memory.
    rings: Vec<Ring>,
    rules: Vec<RuleState>,
    slots: Vec<Counts>,
    sinks: Vec<Box<dyn BreachSink>>,
    incident_threshold: Option<Factor>,
    incident_callback: Option<IncidentCallback>,
    last_tick: Option<SystemTime>,
}

impl fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator")
            .field("interval_secs", &self.interval)
            .field("max_slots", &self.max_slots)
            .field("slos", &self.slos.len())
            .field("sinks", &self.sinks.len())
            .field("incident_threshold", &self.incident_threshold)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Evaluator`]; see [`Evaluator::builder`].
pub struct EvaluatorBuilder {
    interval: Duration,
    max_slots: u64,
    default_tenant: String,
    sinks: Vec<Box<dyn BreachSink>>,
    incident_threshold: Option<Factor>,
    incident_callback: Option<IncidentCallback>,
}

impl fmt::Debug for EvaluatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvaluatorBuilder")
            .field("interval", &self.interval)
            .field("max_slots", &self.max_slots)
            .field("default_tenant", &self.default_tenant)
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl EvaluatorBuilder {
    /// The tick interval (default 60 s); every window must be a multiple of it.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> EvaluatorBuilder {
        self.interval = interval;
        self
    }

    /// Slots per window ring (default 60). Windows up to `max_slots` ticks long are exact;
    /// longer ones advance in steps of `window / slots`. `u64::MAX` makes every window exact.
    #[must_use]
    pub fn with_max_slots(mut self, max_slots: u64) -> EvaluatorBuilder {
        self.max_slots = max_slots.max(1);
        self
    }

    /// The tenant for SLOs that name none (default `"global"`).
    #[must_use]
    pub fn with_default_tenant(mut self, tenant: &str) -> EvaluatorBuilder {
        self.default_tenant = tenant.to_owned();
        self
    }

    /// Adds a sink for breach events and incident signals.
    #[must_use]
    pub fn with_sink(mut self, sink: impl BreachSink + 'static) -> EvaluatorBuilder {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Switches incident mode on when a firing rule's burn rates (both windows) are strictly
    /// above `threshold`, and off when no firing rule is; `callback` receives each change
    /// (sinks receive it too).
    #[must_use]
    pub fn with_incident_trigger(
        mut self,
        threshold: Factor,
        callback: impl Fn(&IncidentSignal) + Send + Sync + 'static,
    ) -> EvaluatorBuilder {
        self.incident_threshold = Some(threshold);
        self.incident_callback = Some(Box::new(callback));
        self
    }

    /// Builds the evaluator.
    ///
    /// # Errors
    ///
    /// [`EvaluatorError::Interval`] for an interval under one second or with a fraction of a
    /// second; [`EvaluatorError::Tenant`] for a bad default tenant.
    pub fn build(self) -> Result<Evaluator, EvaluatorError> {
        if self.interval.as_secs() == 0 || self.interval.subsec_nanos() != 0 {
            return Err(EvaluatorError::Interval);
        }
        if !is_tenant(&self.default_tenant) {
            return Err(EvaluatorError::Tenant(self.default_tenant));
        }
        Ok(Evaluator {
            interval: self.interval.as_secs(),
            max_slots: self.max_slots,
            default_tenant: self.default_tenant,
            slos: Vec::new(),
            rings: Vec::new(),
            rules: Vec::new(),
            slots: Vec::new(),
            sinks: self.sinks,
            incident_threshold: self.incident_threshold,
            incident_callback: self.incident_callback,
            last_tick: None,
        })
    }
}

impl Evaluator {
    /// Starts building an evaluator.
    pub fn builder() -> EvaluatorBuilder {
        EvaluatorBuilder {
            interval: Duration::from_secs(60),
            max_slots: 60,
            default_tenant: "global".to_owned(),
            sinks: Vec::new(),
            incident_threshold: None,
            incident_callback: None,
        }
    }

    /// Starts tracking an SLO: the six workbook windows that fit its period, plus any other
    /// window its policy uses, plus the period itself.
    ///
    /// # Errors
    ///
    /// [`EvaluatorError::WindowNotMultiple`] when a window is not a multiple of the interval;
    /// [`EvaluatorError::Duplicate`] when the name is taken.
    pub fn add(&mut self, slo: Slo) -> Result<SloId, EvaluatorError> {
        if self.slos.iter().any(|s| s.slo.name() == slo.name()) {
            return Err(EvaluatorError::Duplicate(slo.name().to_owned()));
        }
        let mut windows: Vec<Window> = Window::STANDARD
            .iter()
            .copied()
            .filter(|w| *w <= slo.period())
            .collect();
        windows.extend(slo.policy().windows());
        windows.sort();
        windows.dedup();
        let mut slots = std::mem::take(&mut self.slots);
        let slots_before = slots.len();
        let (interval, max_slots) = (self.interval, self.max_slots);
        let ring = |w: Window| {
            Ring::new(w, interval, max_slots, &mut slots).ok_or_else(|| {
                EvaluatorError::WindowNotMultiple {
                    slo: slo.name().to_owned(),
                    window: w,
                    interval,
                }
            })
        };
        let built = windows
            .iter()
            .copied()
            .chain([slo.period()])
            .map(ring)
            .collect::<Result<Vec<_>, _>>();
        let rings = match built {
            Ok(r) => r,
            Err(e) => {
                slots.truncate(slots_before);
                self.slots = slots;
                return Err(e);
            }
        };
        self.slots = slots;
        let index = |w: Window| windows.iter().position(|x| *x == w).unwrap_or(0);
        let rules: Vec<RuleState> = slo
            .policy()
            .rules()
            .iter()
            .map(|r| RuleState {
                long: index(r.long()),
                short: index(r.short()),
                threshold: Threshold::new(slo.objective(), &r.factor()),
                incident: self
                    .incident_threshold
                    .map(|f| Threshold::new(slo.objective(), &f)),
                firing: None,
            })
            .collect();
        let tenant = slo.tenant().unwrap_or(&self.default_tenant).to_owned();
        let ring_range = self.rings.len()..self.rings.len() + rings.len();
        let rule_range = self.rules.len()..self.rules.len() + rules.len();
        self.rings.extend(rings);
        self.rules.extend(rules);
        self.slos.push(SloState {
            slo,
            tenant,
            rings: ring_range,
            rules: rule_range,
            pending: Counts::ZERO,
            last_cumulative: None,
            incident: false,
        });
        Ok(SloId(self.slos.len() - 1))
    }

    /// The id of the SLO named `name`.
    pub fn id(&self, name: &str) -> Option<SloId> {
        self.slos
            .iter()
            .position(|s| s.slo.name() == name)
            .map(SloId)
    }

    /// Number of SLOs tracked.
    pub fn len(&self) -> usize {
        self.slos.len()
    }

    /// Whether no SLO is tracked.
    pub fn is_empty(&self) -> bool {
        self.slos.is_empty()
    }

    /// The tick interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval)
    }

    /// Adds events to the current interval of an SLO (in-process feeding). Unknown ids are
    /// ignored.
    pub fn record(&mut self, id: SloId, counts: Counts) {
        if let Some(s) = self.slos.get_mut(id.0) {
            s.pending = s.pending.saturating_add(counts);
        }
    }

    /// Reads every SLO's cumulative counters from `source`, records the increase since the
    /// previous poll, then ticks.
    pub fn poll(&mut self, source: &mut dyn CountSource, now: SystemTime) -> TickReport {
        let mut errors = Vec::new();
        for s in &mut self.slos {
            match source.cumulative(&s.slo) {
                Ok(Some(c)) => {
                    let delta = match s.last_cumulative {
                        Some(prev) if c.total() >= prev.total() && c.good() >= prev.good() => {
                            c.saturating_sub(prev)
                        }
                        Some(_) => c, // counter reset
                        None => Counts::ZERO,
                    };
                    s.last_cumulative = Some(c);
                    s.pending = s.pending.saturating_add(delta);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let mut report = self.tick(now);
        report.source_errors = errors;
        report
    }

    /// Closes the current interval: pushes each SLO's recorded events into its windows,
    /// decides every alert rule, and emits breach/resolution events and incident signals for
    /// every change.
    pub fn tick(&mut self, now: SystemTime) -> TickReport {
        let mut report = TickReport::default();
        self.last_tick = Some(now);
        let slots = &mut self.slots;
        for s in &mut self.slos {
            let d = std::mem::take(&mut s.pending);
            let Some(rings) = self.rings.get_mut(s.rings.clone()) else {
                continue;
            };
            for r in rings.iter_mut() {
                r.push(slots, d);
            }
            let Some((period, windows)) = rings.split_last() else {
                continue;
            };
            let Some(rules) = self.rules.get_mut(s.rules.clone()) else {
                continue;
            };
            let min_events = s.slo.policy().min_events();
            let has_data = |c: Counts| c.total() > 0 && c.total() >= min_events;
            let mut incident_now = false;
            let mut incident_burn = 0.0f64;
            for (i, rule) in rules.iter_mut().enumerate() {
                let (Some(l), Some(sh)) = (windows.get(rule.long), windows.get(rule.short)) else {
                    continue;
                };
                let (l, sh) = (l.sum, sh.sum);
                let fires = has_data(l)
                    && has_data(sh)
                    && rule.threshold.exceeded_by(l)
                    && rule.threshold.exceeded_by(sh);
                if fires
                    && let Some(t) = &rule.incident
                    && t.exceeded_by(l)
                    && t.exceeded_by(sh)
                {
                    incident_now = true;
                    incident_burn = incident_burn.max(math::burn_rate(l, s.slo.objective()));
                }
                match (fires, rule.firing.is_some()) {
                    (true, false) => {
                        let breach_id = format!(
                            "{}:{}:{}",
                            s.slo.name(),
                            s.slo
                                .policy()
                                .rules()
                                .get(i)
                                .map(|r| r.name())
                                .unwrap_or(""),
                            unix_secs(now)
                        );
                        rule.firing = Some(Firing {
                            since: now,
                            breach_id,
                        });
                        report.events.push(Self::event(
                            s_ref(&s.slo, &s.tenant, windows, period, s.incident),
                            i,
                            rule,
                            BreachKind::Breach,
                            now,
                        ));
                    }
                    (false, true) => {
                        report.events.push(Self::event(
                            s_ref(&s.slo, &s.tenant, windows, period, s.incident),
                            i,
                            rule,
                            BreachKind::Resolved,
                            now,
                        ));
                        rule.firing = None;
                    }
                    _ => {}
                }
            }
            if self.incident_threshold.is_some() && incident_now != s.incident {
                s.incident = incident_now;
                let signal = IncidentSignal {
                    schema_version: SCHEMA_VERSION,
                    action: if incident_now {
                        IncidentAction::Start
                    } else {
                        IncidentAction::Stop
                    },
                    tenant: s.tenant.clone(),
                    slo: s.slo.name().to_owned(),
                    service: s.slo.service().to_owned(),
                    burn_rate: incident_burn,
                    threshold: self.incident_threshold.map(|f| f.as_f64()).unwrap_or(0.0),
                    at: rfc3339(now),
                };
                for e in report.events.iter_mut().filter(|e| e.slo == s.slo.name()) {
                    e.incident_mode = incident_now;
                }
                report.incidents.push(signal);
            }
        }
        for e in &report.events {
            for sink in &self.sinks {
                sink.breach(e);
            }
        }
        for sig in &report.incidents {
            if let Some(cb) = &self.incident_callback {
                cb(sig);
            }
            for sink in &self.sinks {
                sink.incident(sig);
            }
        }
        report
    }

    fn event(
        s: SloRef<'_>,
        i: usize,
        rule: &RuleState,
        kind: BreachKind,
        now: SystemTime,
    ) -> BreachEvent {
        let spec = s.slo.policy().rules().get(i);
        let o = s.slo.objective();
        let burn = |idx: usize| {
            let r = s.rings.get(idx);
            let c = r.map(|r| r.sum).unwrap_or_default();
            let w = r.map(|r| r.window).unwrap_or(s.period.window);
            WindowBurn {
                window: w,
                events: c.total(),
                bad_events: c.bad(),
                error_ratio: math::error_ratio(c).unwrap_or(0.0),
                burn_rate: math::burn_rate(c, o),
                budget_consumed: math::budget_consumed(c, w, s.slo.period(), o),
            }
        };
        let firing = rule.firing.clone();
        BreachEvent {
            schema_version: SCHEMA_VERSION,
            kind,
            breach_id: firing
                .as_ref()
                .map(|f| f.breach_id.clone())
                .unwrap_or_default(),
            tenant: s.tenant.to_owned(),
            slo: s.slo.name().to_owned(),
            service: s.slo.service().to_owned(),
            rule: spec.map(|r| r.name().to_owned()).unwrap_or_default(),
            severity: spec
                .map(|r| r.severity())
                .unwrap_or(crate::policy::Severity::Page),
            objective: o.as_f64(),
            factor: spec.map(|r| r.factor().as_f64()).unwrap_or(0.0),
            windows: vec![burn(rule.long), burn(rule.short)],
            budget_remaining: math::budget(s.period.sum, o).remaining,
            started_at: rfc3339(firing.map(|f| f.since).unwrap_or(now)),
            at: rfc3339(now),
            incident_mode: s.incident,
        }
    }

    /// The current status of every SLO (the read model for `GET /obs/slo`).
    pub fn status(&self) -> StatusReport {
        StatusReport {
            schema_version: SCHEMA_VERSION,
            evaluated_at: self.last_tick.map(rfc3339),
            slos: self.slos.iter().map(|s| self.status_of(s)).collect(),
        }
    }

    /// The status of one SLO.
    pub fn slo_status(&self, id: SloId) -> Option<SloStatus> {
        self.slos.get(id.0).map(|s| self.status_of(s))
    }

    fn status_of(&self, s: &SloState) -> SloStatus {
        let rings = self.rings.get(s.rings.clone()).unwrap_or_default();
        let (period_sum, windows) = match rings.split_last() {
            Some((p, w)) => (p.sum, w),
            None => (Counts::ZERO, rings),
        };
        let rules = self.rules.get(s.rules.clone()).unwrap_or_default();
        let o = s.slo.objective();
        let min_events = s.slo.policy().min_events();
        SloStatus {
            slo: s.slo.name().to_owned(),
            service: s.slo.service().to_owned(),
            tenant: s.tenant.clone(),
            objective: o.as_f64(),
            period: s.slo.period(),
            windows: windows
                .iter()
                .map(|r| WindowStatus {
                    window: r.window,
                    events: r.sum.total(),
                    bad_events: r.sum.bad(),
                    error_ratio: math::error_ratio(r.sum).unwrap_or(0.0),
                    burn_rate: math::burn_rate(r.sum, o),
                    no_data: r.sum.is_empty() || r.sum.total() < min_events,
                })
                .collect(),
            budget: math::budget(period_sum, o),
            alerts: s
                .slo
                .policy()
                .rules()
                .iter()
                .zip(rules)
                .map(|(spec, st)| AlertStatus {
                    rule: spec.name().to_owned(),
                    severity: spec.severity(),
                    long: spec.long(),
                    short: spec.short(),
                    factor: spec.factor().as_f64(),
                    firing: st.firing.is_some(),
                    since: st.firing.as_ref().map(|f| rfc3339(f.since)),
                })
                .collect(),
            incident_mode: s.incident,
        }
    }
}

#[derive(Clone, Copy)]
struct SloRef<'a> {
    slo: &'a Slo,
    tenant: &'a str,
    rings: &'a [Ring],
    period: &'a Ring,
    incident: bool,
}

fn s_ref<'a>(
    slo: &'a Slo,
    tenant: &'a str,
    rings: &'a [Ring],
    period: &'a Ring,
    incident: bool,
) -> SloRef<'a> {
    SloRef {
        slo,
        tenant,
        rings,
        period,
        incident,
    }
}

// === impl EvaluatorHandle ===

/// An evaluator running on its own thread, polling a [`CountSource`] once per interval; see
/// [`Evaluator::spawn`]. Dropping the handle stops the thread without waiting for it.
pub struct EvaluatorHandle {
    status: Arc<RwLock<StatusReport>>,
    source_errors: Arc<AtomicU64>,
    stop: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<Evaluator>>,
}

impl fmt::Debug for EvaluatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvaluatorHandle")
            .field("source_errors", &self.source_errors.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl EvaluatorHandle {
    /// The status after the latest tick (the read model for `GET /obs/slo`).
    pub fn status(&self) -> StatusReport {
        match self.status.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Source errors so far (each failed read of one SLO's counters).
    pub fn source_errors(&self) -> u64 {
        self.source_errors.load(Ordering::Relaxed)
    }

    /// Stops the thread after its current tick and returns the evaluator (`None` if the
    /// thread panicked).
    pub fn stop(mut self) -> Option<Evaluator> {
        drop(self.stop.take());
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for EvaluatorHandle {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which exits; never join here.
        drop(self.stop.take());
    }
}

impl Evaluator {
    /// Moves the evaluator to its own thread: every interval it polls `source` (blocking
    /// sources such as the Prometheus client belong here, off the service's threads), ticks
    /// with the wall clock, and publishes the status.
    ///
    /// # Errors
    ///
    /// [`EvaluatorError::Thread`] when the thread cannot be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_slo::{CounterSource, Evaluator};
    /// let handle = Evaluator::builder().build()?.spawn(CounterSource::new())?;
    /// let _status = handle.status();
    /// let ev = handle.stop();
    /// assert!(ev.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<S>(mut self, mut source: S) -> Result<EvaluatorHandle, EvaluatorError>
    where
        S: CountSource + Send + 'static,
    {
        let status = Arc::new(RwLock::new(self.status()));
        let source_errors = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let (st, errs) = (status.clone(), source_errors.clone());
        let interval = self.interval();
        let thread = std::thread::Builder::new()
            .name("stella-slo-evaluator".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let report = self.poll(&mut source, SystemTime::now());
                    errs.fetch_add(report.source_errors.len() as u64, Ordering::Relaxed);
                    let snapshot = self.status();
                    match st.write() {
                        Ok(mut s) => *s = snapshot,
                        Err(poisoned) => *poisoned.into_inner() = snapshot,
                    }
                }
                self
            })
            .map_err(|e| EvaluatorError::Thread(e.to_string()))?;
        Ok(EvaluatorHandle {
            status,
            source_errors,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

// === impl CounterSource ===

/// In-process SLI counters: a service counts events on its hot path (two relaxed atomic adds)
/// and the evaluator polls them. The hook `stella-telemetry`'s metrics feed.
///
/// # Examples
///
/// ```
/// use std::time::SystemTime;
/// use stella_slo::{CounterSource, Evaluator, Objective, RatioEvents, RatioSli, Sli, Slo};
///
/// let counters = CounterSource::new();
/// let sli = Sli::Ratio(RatioSli::new("jobs_total".parse()?, RatioEvents::Bad("jobs_failed_total".parse()?)));
/// let mut ev = Evaluator::builder().build()?;
/// ev.add(Slo::builder("jobs", "runner", sli).with_objective(Objective::new(0.99)?).build()?)?;
///
/// let jobs = counters.counter("jobs"); // keep this handle on the hot path
/// jobs.record(true);
/// jobs.record(false);
/// let mut source = counters.clone();
/// ev.poll(&mut source, SystemTime::now());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CounterSource {
    counters: Arc<RwLock<HashMap<String, Arc<SloCounter>>>>,
}

/// The good/total counters of one SLO; see [`CounterSource`].
#[derive(Debug, Default)]
pub struct SloCounter {
    good: AtomicU64,
    total: AtomicU64,
}

impl SloCounter {
    /// Counts one event, good or not.
    #[inline]
    pub fn record(&self, good: bool) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if good {
            self.good.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a batch of events.
    pub fn record_counts(&self, c: Counts) {
        self.total.fetch_add(c.total(), Ordering::Relaxed);
        self.good.fetch_add(c.good(), Ordering::Relaxed);
    }

    /// Cumulative counts so far.
    pub fn get(&self) -> Counts {
        // Read good first: a concurrent record can only make total larger, keeping good <= total.
        let good = self.good.load(Ordering::Acquire);
        let total = self.total.load(Ordering::Acquire);
        Counts::new(good.min(total), total).unwrap_or(Counts::ZERO)
    }
}

impl CounterSource {
    /// An empty set of counters.
    pub fn new() -> CounterSource {
        CounterSource::default()
    }

    /// The counter of the SLO named `slo`, created on first use.
    pub fn counter(&self, slo: &str) -> Arc<SloCounter> {
        if let Ok(map) = self.counters.read()
            && let Some(c) = map.get(slo)
        {
            return c.clone();
        }
        match self.counters.write() {
            Ok(mut map) => map.entry(slo.to_owned()).or_default().clone(),
            Err(poisoned) => poisoned
                .into_inner()
                .entry(slo.to_owned())
                .or_default()
                .clone(),
        }
    }
}

impl CountSource for CounterSource {
    fn cumulative(&mut self, slo: &Slo) -> Result<Option<Counts>, SourceError> {
        let map = self
            .counters
            .read()
            .map_err(|_| SourceError::new(slo.name(), "counter map poisoned"))?;
        Ok(map.get(slo.name()).map(|c| c.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_exact_with_one_tick_per_slot() {
        let mut slots = Vec::new();
        let mut r = Ring::new(Window::from_minutes(5).unwrap(), 60, 60, &mut slots).unwrap();
        for i in 1..=10u64 {
            r.push(&mut slots, Counts::new(0, i).unwrap());
            let want: u64 = (i.saturating_sub(4).max(1)..=i).sum();
            assert_eq!(r.sum.total(), want, "tick {i}");
        }
    }

    #[test]
    fn ring_with_coarse_slots_stays_within_bounds() {
        // 6h window at 1-minute ticks, 60 slots of 6 ticks.
        let mut slots = vec![Counts::ZERO; 3];
        let mut r = Ring::new(Window::from_minutes(360).unwrap(), 60, 60, &mut slots).unwrap();
        assert_eq!((r.len, r.per_slot, r.offset, slots.len()), (60, 6, 3, 63));
        for i in 1..=1000u64 {
            r.push(&mut slots, Counts::new(0, 1).unwrap());
            let covered = r.sum.total();
            assert!(
                covered <= 360 && covered >= i.min(355),
                "tick {i}: {covered}"
            );
        }
        assert!(Ring::new(Window::from_secs(90).unwrap(), 60, 60, &mut slots).is_none());
    }
}
