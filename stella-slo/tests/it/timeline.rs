//! Breach events reach the timeline through stella-timeline-emit.

use std::time::{Duration, UNIX_EPOCH};

use stella_slo::timeline::TimelineSink;
use stella_slo::{
    Counts, Evaluator, Factor, IncidentSignal, Objective, RatioEvents, RatioSli, Sli, Slo,
};
use stella_timeline_emit::{Emitter, EventKind, FileSink, TimelineEvent};

#[test]
fn breach_resolution_and_incident_mode_become_timeline_events() {
    let path =
        std::env::temp_dir().join(format!("stella-slo-timeline-{}.ndjson", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = FileSink::builder().with_path(&path).build().unwrap();
    let emitter = Emitter::builder().with_sink(file).build().unwrap();
    let sink = TimelineSink::new(emitter.clone());
    let mut ev = Evaluator::builder()
        .with_sink(sink)
        .with_incident_trigger(Factor::new(100.0).unwrap(), |_: &IncidentSignal| {})
        .build()
        .unwrap();
    let sli = Sli::Ratio(RatioSli::new(
        "t_total".parse().unwrap(),
        RatioEvents::Bad("b_total".parse().unwrap()),
    ));
    let slo = Slo::builder("jobs", "runner", sli)
        .with_tenant("acme")
        .with_objective(Objective::new(0.999).unwrap())
        .build()
        .unwrap();
    let id = ev.add(slo).unwrap();
    let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for minute in 0..30 {
        let bad = if minute < 3 { 500 } else { 0 };
        ev.record(id, Counts::from_bad(bad, 1000).unwrap());
        ev.tick(now);
        now += Duration::from_secs(60);
    }
    emitter.flush(Duration::from_secs(10)).unwrap();
    let events: Vec<TimelineEvent> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| TimelineEvent::from_json(l).unwrap())
        .collect();
    let kinds: Vec<&EventKind> = events.iter().map(|e| e.kind()).collect();
    assert!(kinds.contains(&&EventKind::SloBreach), "{kinds:?}");
    assert!(kinds.contains(&&EventKind::SloResolved), "{kinds:?}");
    assert!(
        kinds.contains(&&EventKind::IncidentModeStarted),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&&EventKind::IncidentModeStopped),
        "{kinds:?}"
    );
    let breach = events
        .iter()
        .find(|e| e.kind() == &EventKind::SloBreach)
        .unwrap();
    assert_eq!(breach.tenant_id(), "acme");
    assert_eq!(breach.resource_id(), "jobs");
    assert_eq!(breach.details()["window"], "1h");
    assert!(breach.details()["burn_rate"].as_f64().unwrap() > 14.4);
    assert!(breach.verify().is_ok());
    emitter.shutdown(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_file(&path);
}
