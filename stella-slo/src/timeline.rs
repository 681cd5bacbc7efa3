//! Breach events into the tenant timeline through `stella-timeline-emit`.
//!
//! A breach becomes a `slo.breach` timeline event and its resolution a `slo.resolved` one
//! (resource `slo/<name>`, the tenant of the SLO), with the whole [`BreachEvent`] as details
//! plus the catalogue's required `burn_rate` and `window` (those of the rule's long window).
//! Incident-mode signals become `incident.mode.started` / `incident.mode.stopped`. Where the
//! events go (index server, NATS, a file) is the emitter's configuration; the emitter never
//! blocks, so neither does this sink.

use std::sync::atomic::{AtomicU64, Ordering};

use stella_timeline_emit::{Emitter, EventKind, TimelineEvent};

use crate::event::{BreachEvent, BreachKind, BreachSink, IncidentAction, IncidentSignal};

/// A [`BreachSink`] that emits timeline events.
///
/// # Examples
///
/// ```
/// use stella_slo::{Evaluator, timeline::TimelineSink};
/// use stella_timeline_emit::{Emitter, FileSink};
///
/// let emitter = Emitter::builder().with_sink(FileSink::stdout()).build()?;
/// let sink = TimelineSink::new(emitter);
/// let ev = Evaluator::builder().with_sink(sink).build()?;
/// # let _ = ev;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TimelineSink {
    emitter: Emitter,
    rejected: AtomicU64,
}

impl TimelineSink {
    /// A sink emitting through `emitter`.
    pub fn new(emitter: Emitter) -> TimelineSink {
        TimelineSink {
            emitter,
            rejected: AtomicU64::new(0),
        }
    }

    /// Events the emitter refused (invalid, queue full, closed); the emitter's own stats say
    /// more.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn count(&self, r: Result<String, stella_timeline_emit::EmitError>) {
        if r.is_err() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The timeline event for a breach or resolution.
pub fn breach_event(e: &BreachEvent) -> stella_timeline_emit::EventBuilder {
    let kind = match e.kind {
        BreachKind::Breach => EventKind::SloBreach,
        BreachKind::Resolved => EventKind::SloResolved,
    };
    let long = e.windows.first();
    let mut b = TimelineEvent::builder(kind, "slo", e.slo.as_str()).with_tenant(e.tenant.as_str());
    if let Ok(details) = serde_json::to_value(e) {
        b = b.with_details(details);
    }
    b.with_detail("burn_rate", long.map(|w| w.burn_rate).unwrap_or(0.0))
        .with_detail(
            "window",
            long.map(|w| w.window.to_string()).unwrap_or_default(),
        )
}

/// The timeline event for an incident-mode signal.
pub fn incident_event(s: &IncidentSignal) -> stella_timeline_emit::EventBuilder {
    let kind = match s.action {
        IncidentAction::Start => EventKind::IncidentModeStarted,
        IncidentAction::Stop => EventKind::IncidentModeStopped,
    };
    let reason = match s.action {
        IncidentAction::Start => format!(
            "SLO {} burn rate {:.2} above the incident threshold {}",
            s.slo, s.burn_rate, s.threshold
        ),
        IncidentAction::Stop => format!(
            "SLO {} no longer burns above the incident threshold {}",
            s.slo, s.threshold
        ),
    };
    let mut b = TimelineEvent::builder(kind, "slo", s.slo.as_str()).with_tenant(s.tenant.as_str());
    if let Ok(details) = serde_json::to_value(s) {
        b = b.with_details(details);
    }
    b.with_detail("reason", reason)
}

impl BreachSink for TimelineSink {
    fn breach(&self, event: &BreachEvent) {
        self.count(self.emitter.emit(breach_event(event)));
    }

    fn incident(&self, signal: &IncidentSignal) {
        self.count(self.emitter.emit(incident_event(signal)));
    }
}
