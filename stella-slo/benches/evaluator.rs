//! Evaluator cost per tick: 10,000 SLOs x 6 windows (the workbook windows 5m..3d at a 1-minute
//! tick, 60 slots per window) plus the 30-day budget ring. Target: < 10 ms per tick.
//!
//! Run: `cargo bench -p stella-slo --bench evaluator -- --warm-up-time 1 --measurement-time 3`
//! Machine: the shared 2-core development VM (AMD EPYC, 2 vCPUs, load average 5-7 from other
//! builds). Baseline: record + tick 3.8 ms, tick only 3.5 ms (README.md).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use stella_slo::{Counts, Evaluator, Objective, RatioEvents, RatioSli, Sli, Slo};

fn evaluator(n: usize) -> (Evaluator, Vec<stella_slo::SloId>) {
    let mut ev = Evaluator::builder().build().expect("evaluator");
    let sli = Sli::Ratio(RatioSli::new(
        "requests_total".parse().expect("selector"),
        RatioEvents::Bad("requests_failed_total".parse().expect("selector")),
    ));
    let ids = (0..n)
        .map(|i| {
            let slo = Slo::builder(&format!("slo-{i}"), "svc", sli.clone())
                .with_objective(Objective::new(0.999).expect("objective"))
                .build()
                .expect("slo");
            ev.add(slo).expect("add")
        })
        .collect();
    (ev, ids)
}

fn bench(c: &mut Criterion) {
    let (mut ev, ids) = evaluator(10_000);
    let mut now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // Warm the rings past the longest window so every slot is live.
    for _ in 0..4400 {
        for (i, id) in ids.iter().enumerate() {
            ev.record(*id, Counts::from_bad((i % 3) as u64, 1000).expect("counts"));
        }
        ev.tick(now);
        now += Duration::from_secs(60);
    }
    c.bench_function("tick: 10k SLOs x 6 windows (record + evaluate)", |b| {
        b.iter(|| {
            for (i, id) in ids.iter().enumerate() {
                ev.record(*id, Counts::from_bad((i % 3) as u64, 1000).expect("counts"));
            }
            now += Duration::from_secs(60);
            black_box(ev.tick(now));
        })
    });
    c.bench_function("tick: 10k SLOs x 6 windows (evaluate only)", |b| {
        b.iter(|| {
            now += Duration::from_secs(60);
            black_box(ev.tick(black_box(now)));
        })
    });
    let _ = SystemTime::now();
}

criterion_group!(benches, bench);
criterion_main!(benches);
