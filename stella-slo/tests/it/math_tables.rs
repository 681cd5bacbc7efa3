//! Burn-rate decisions from tests/data/burn-rate-table.csv.

use stella_slo::{Counts, Factor, Objective, math};

use crate::support::read;

#[test]
fn burn_rate_table() {
    let table = read("burn-rate-table.csv");
    let mut rows = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split(',').collect();
        let o: Objective = f[0].parse().unwrap();
        let factor: Factor = f[1].parse().unwrap();
        let c = Counts::from_bad(f[2].parse().unwrap(), f[3].parse().unwrap()).unwrap();
        let want: bool = f[4].parse().unwrap();
        assert_eq!(math::exceeds(c, &o, &factor), want, "row {line}");
        rows += 1;
    }
    assert!(rows >= 20);
}

#[test]
fn error_ratio_is_a_ratio_of_sums() {
    // 1 bad of 1 and 0 bad of 99: average of ratios would say 0.5, the ratio of sums 0.01.
    let a = Counts::from_bad(1, 1).unwrap();
    let b = Counts::from_bad(0, 99).unwrap();
    assert_eq!(math::error_ratio(a.saturating_add(b)), Some(0.01));
}

#[test]
fn budget_remaining_and_consumed() {
    let o = Objective::new(0.999).unwrap();
    assert_eq!(math::budget(Counts::ZERO, &o).remaining, 1.0);
    let b = math::budget(Counts::from_bad(1, 1000).unwrap(), &o);
    assert!(b.remaining.abs() < 1e-12 && b.remaining_clamped.abs() < 1e-12);
    let b = math::budget(Counts::from_bad(3, 1000).unwrap(), &o);
    assert!((b.remaining + 2.0).abs() < 1e-12);
    assert_eq!(b.remaining_clamped, 0.0);
    assert!((b.consumed - 3.0).abs() < 1e-12);
    // Burning at 6 for 6 hours of 30 days: 5 % of the budget.
    let c = Counts::from_bad(6, 1000).unwrap();
    let spent = math::budget_consumed(
        c,
        "6h".parse().unwrap(),
        stella_slo::Window::THIRTY_DAYS,
        &o,
    );
    assert!((spent - 0.05).abs() < 1e-12);
    assert_eq!(math::burn_rate(Counts::ZERO, &o), 0.0);
}
