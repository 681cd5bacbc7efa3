//! The evaluator: events on transitions, resolutions, incident mode, agreement with the math.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stella_slo::{
    BreachEvent, BreachKind, CountSource, CounterSource, Counts, Evaluator, Factor, IncidentAction,
    IncidentSignal, Objective, RatioEvents, RatioSli, Severity, Sli, Slo, SourceError,
};

fn slo(name: &str, objective: f64) -> Slo {
    let sli = Sli::Ratio(RatioSli::new(
        "t_total".parse().unwrap(),
        RatioEvents::Bad("b_total".parse().unwrap()),
    ));
    Slo::builder(name, "svc", sli)
        .with_objective(Objective::new(objective).unwrap())
        .build()
        .unwrap()
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

type Seen = Arc<Mutex<Vec<BreachEvent>>>;

fn evaluator(exact: bool) -> (Evaluator, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let mut b =
        Evaluator::builder().with_sink(move |e: &BreachEvent| s.lock().unwrap().push(e.clone()));
    if exact {
        b = b.with_max_slots(u64::MAX);
    }
    (b.build().unwrap(), seen)
}

#[test]
fn breach_then_matching_resolution() {
    let (mut ev, seen) = evaluator(false);
    let id = ev.add(slo("jobs", 0.999)).unwrap();
    let mut now = t0();
    for minute in 0..120 {
        let c = if minute < 10 {
            Counts::from_bad(100, 1000)
        } else {
            Counts::new(1000, 1000)
        };
        ev.record(id, c.unwrap());
        ev.tick(now);
        now += Duration::from_secs(60);
    }
    let events = seen.lock().unwrap().clone();
    let fast: Vec<&BreachEvent> = events.iter().filter(|e| e.rule == "page_fast").collect();
    assert_eq!(fast.len(), 2, "{events:#?}");
    assert_eq!(fast[0].kind, BreachKind::Breach);
    assert_eq!(fast[1].kind, BreachKind::Resolved);
    assert_eq!(fast[0].breach_id, fast[1].breach_id);
    assert_eq!(fast[0].severity, Severity::Page);
    assert_eq!(fast[0].tenant, "global");
    assert_eq!(fast[0].subject().unwrap(), "stella.global.slo.breach");
    assert_eq!(fast[0].windows[0].window.to_string(), "1h");
    assert_eq!(fast[0].windows[1].window.to_string(), "5m");
    assert!((fast[0].windows[1].burn_rate - 100.0).abs() < 1e-9);
    // Burn 100 over the 1h window of a 30-day period: 100 * 1h / 30d of the budget.
    assert!((fast[0].windows[0].budget_consumed - 100.0 / 720.0).abs() < 1e-12);
    assert_eq!(fast[0].started_at, "2027-01-15T08:00:00Z");
    // Every breach is eventually resolved or still firing; no rule fires twice in a row.
    for rule in ["page_fast", "page_slow", "ticket"] {
        let kinds: Vec<BreachKind> = events
            .iter()
            .filter(|e| e.rule == rule)
            .map(|e| e.kind)
            .collect();
        for w in kinds.windows(2) {
            assert_ne!(w[0], w[1], "{rule}: {kinds:?}");
        }
    }
    let status = ev.status();
    let json = serde_json::to_string(&status).unwrap();
    let back: stella_slo::StatusReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, status);
    assert_eq!(status.slos[0].windows.len(), 6);
}

#[test]
fn zero_traffic_never_alerts() {
    let (mut ev, seen) = evaluator(false);
    ev.add(slo("idle", 0.999)).unwrap();
    let mut now = t0();
    for _ in 0..500 {
        let r = ev.tick(now);
        assert!(r.events.is_empty());
        now += Duration::from_secs(60);
    }
    assert!(seen.lock().unwrap().is_empty());
    let st = ev.status();
    assert!(
        st.slos[0]
            .windows
            .iter()
            .all(|w| w.no_data && w.burn_rate == 0.0)
    );
    assert_eq!(st.slos[0].budget.remaining, 1.0);
}

#[test]
fn incident_mode_switches_on_and_off() {
    let signals: Arc<Mutex<Vec<IncidentSignal>>> = Arc::default();
    let s = signals.clone();
    let mut ev = Evaluator::builder()
        .with_incident_trigger(Factor::new(50.0).unwrap(), move |sig: &IncidentSignal| {
            s.lock().unwrap().push(sig.clone())
        })
        .build()
        .unwrap();
    let id = ev.add(slo("jobs", 0.999)).unwrap();
    let mut now = t0();
    let mut breach_flags = Vec::new();
    for minute in 0..200 {
        // burn 100 for 20 minutes (above 50), then burn 20 (pages, but under the incident
        // threshold), then clean.
        let bad = match minute {
            0..20 => 100,
            20..80 => 20,
            _ => 0,
        };
        ev.record(id, Counts::from_bad(bad, 1000).unwrap());
        let r = ev.tick(now);
        breach_flags.extend(
            r.events
                .iter()
                .filter(|e| e.kind == BreachKind::Breach)
                .map(|e| e.incident_mode),
        );
        now += Duration::from_secs(60);
    }
    let sig = signals.lock().unwrap();
    let actions: Vec<IncidentAction> = sig.iter().map(|s| s.action).collect();
    assert_eq!(
        actions,
        [IncidentAction::Start, IncidentAction::Stop],
        "{sig:#?}"
    );
    assert!(sig[0].burn_rate > 50.0);
    assert_eq!(sig[0].subject().unwrap(), "stella.global.incident.mode");
    assert!(breach_flags.first().copied().unwrap_or(false));
}

#[test]
fn exact_evaluator_agrees_with_replay() {
    // A deterministic pseudo-random series of bursts, checked minute by minute.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut minutes = Vec::new();
    for _ in 0..900 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let total = x % 200;
        let bad = if x.is_multiple_of(7) {
            total
        } else if x.is_multiple_of(3) {
            total / 20
        } else {
            0
        };
        minutes.push([total - bad, total]);
    }
    let evaluate_at: Vec<usize> = (1..=minutes.len()).collect();
    let scenario = serde_json::json!({"objective": 0.99, "period_minutes": 43200, "sli": {"kind": "ratio"},
        "minutes": minutes, "evaluate_at": evaluate_at});
    let out = stella_slo::replay::run(&scenario.to_string()).unwrap();
    let (mut ev, _) = evaluator(true);
    let id = ev.add(slo("rand", 0.99)).unwrap();
    let mut now = t0();
    let mut fired = 0;
    for (m, line) in minutes.iter().zip(&out.lines) {
        ev.record(id, Counts::new(m[0], m[1]).unwrap());
        ev.tick(now);
        now += Duration::from_secs(60);
        let want: serde_json::Value = serde_json::from_str(line).unwrap();
        let st = ev.slo_status(id).unwrap();
        for a in &st.alerts {
            assert_eq!(
                serde_json::Value::Bool(a.firing),
                want["alerts"][&a.rule],
                "minute {}: {}",
                want["minute"],
                a.rule
            );
            fired += usize::from(a.firing);
        }
        for w in &st.windows {
            let r = &want["windows"][w.window.to_string()];
            assert_eq!(serde_json::Value::Bool(w.no_data), r["no_data"]);
            assert!((w.burn_rate - r["burn_rate"].as_f64().unwrap()).abs() < 1e-9);
        }
        assert!((st.budget.remaining - want["budget_remaining"].as_f64().unwrap()).abs() < 1e-9);
    }
    assert!(fired > 0, "the series should fire something");
}

#[test]
fn low_traffic_guard_suppresses_alerts() {
    let (mut ev, seen) = evaluator(false);
    let sli = Sli::Ratio(RatioSli::new(
        "t_total".parse().unwrap(),
        RatioEvents::Bad("b_total".parse().unwrap()),
    ));
    let guarded = Slo::builder("rare", "svc", sli)
        .with_objective(Objective::new(0.99).unwrap())
        .with_min_events(100)
        .build()
        .unwrap();
    let id = ev.add(guarded).unwrap();
    let mut now = t0();
    for _ in 0..120 {
        ev.record(id, Counts::from_bad(1, 1).unwrap());
        ev.tick(now);
        now += Duration::from_secs(60);
    }
    // 5m holds 5 events: page_fast never fires; the 6h/30m pair has 120 and 30 events: no.
    // The 3d/6h pair has 120 events each: the ticket fires.
    let rules: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.rule.clone())
        .collect();
    assert_eq!(rules, ["ticket"]);
}

#[test]
fn counter_source_and_resets() {
    let (mut ev, seen) = evaluator(true);
    let id = ev.add(slo("jobs", 0.999)).unwrap();
    let counters = CounterSource::new();
    let c = counters.counter("jobs");
    let mut source = counters.clone();
    let mut now = t0();
    ev.poll(&mut source, now); // first poll: baseline
    for _ in 0..3 {
        for _ in 0..10 {
            c.record(false);
            c.record(true);
        }
        now += Duration::from_secs(60);
        ev.poll(&mut source, now);
    }
    assert_eq!(ev.slo_status(id).unwrap().windows[0].events, 60);
    assert!(!seen.lock().unwrap().is_empty());

    // A source whose counter goes down (process restart) counts the new value as increase.
    struct Resetting(Vec<Counts>);
    impl CountSource for Resetting {
        fn cumulative(&mut self, _: &Slo) -> Result<Option<Counts>, SourceError> {
            Ok(if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            })
        }
    }
    let (mut ev, _) = evaluator(true);
    let id = ev.add(slo("r", 0.999)).unwrap();
    let mut src = Resetting(vec![
        Counts::new(90, 100).unwrap(),
        Counts::new(180, 200).unwrap(),
        Counts::new(5, 10).unwrap(),
    ]);
    for _ in 0..4 {
        ev.poll(&mut src, t0());
    }
    let w = &ev.slo_status(id).unwrap().windows[0];
    assert_eq!((w.events, w.bad_events), (110, 15));

    struct Failing;
    impl CountSource for Failing {
        fn cumulative(&mut self, slo: &Slo) -> Result<Option<Counts>, SourceError> {
            Err(SourceError::new(slo.name(), "down"))
        }
    }
    let r = ev.poll(&mut Failing, t0());
    assert_eq!(r.source_errors.len(), 1);
    assert_eq!(r.source_errors[0].to_string(), "r: down");
}

#[test]
fn setup_errors() {
    let mut ev = Evaluator::builder()
        .with_interval(Duration::from_secs(7))
        .build()
        .unwrap();
    assert!(
        ev.add(slo("a", 0.9))
            .unwrap_err()
            .to_string()
            .contains("not a multiple")
    );
    assert!(
        Evaluator::builder()
            .with_interval(Duration::from_millis(1500))
            .build()
            .is_err()
    );
    assert!(
        Evaluator::builder()
            .with_default_tenant("a.b")
            .build()
            .is_err()
    );
    let mut ev = Evaluator::builder().build().unwrap();
    ev.add(slo("a", 0.9)).unwrap();
    assert!(ev.add(slo("a", 0.9)).is_err());
    assert_eq!(ev.id("a").map(|_| ()), Some(()));
    assert_eq!(ev.len(), 1);

    // A failed add (here the period is not a multiple of the interval, after every window
    // was) leaves the evaluator as it was.
    let mut ev = Evaluator::builder()
        .with_interval(Duration::from_secs(300))
        .build()
        .unwrap();
    let sli = Sli::Ratio(RatioSli::new(
        "t_total".parse().unwrap(),
        RatioEvents::Bad("b_total".parse().unwrap()),
    ));
    let odd = Slo::builder("odd", "svc", sli)
        .with_objective(Objective::new(0.99).unwrap())
        .with_period("43201m".parse().unwrap())
        .build()
        .unwrap();
    assert!(ev.add(odd).is_err());
    let id = ev.add(slo("ok", 0.99)).unwrap();
    ev.record(id, Counts::from_bad(1, 10).unwrap());
    ev.tick(t0());
    let st = ev.slo_status(id).unwrap();
    assert_eq!(ev.len(), 1);
    assert!(st.windows.iter().all(|w| w.events == 10));
    assert_eq!(st.budget.consumed, 10.0);
}

#[test]
fn runs_on_its_own_thread() {
    let counters = CounterSource::new();
    let c = counters.counter("jobs");
    let mut ev = Evaluator::builder()
        .with_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    ev.add(slo("jobs", 0.999)).unwrap();
    let handle = ev.spawn(counters.clone()).unwrap();
    // Wait (without a timed assertion) until two ticks saw the events.
    let mut seen = false;
    for _ in 0..600 {
        c.record(false);
        std::thread::sleep(Duration::from_millis(50));
        let st = handle.status();
        if st.evaluated_at.is_some() && st.slos[0].windows[0].events > 0 {
            seen = true;
            break;
        }
    }
    assert!(seen);
    assert_eq!(handle.source_errors(), 0);
    let ev = handle.stop().unwrap();
    assert!(ev.status().slos[0].alerts.iter().any(|a| a.firing));
}
