//! Properties of the math.

use proptest::prelude::*;
use stella_slo::{AlertPolicy, Counts, Factor, Objective, Window, math};

fn objective() -> impl Strategy<Value = Objective> {
    (1u32..99_999).prop_map(|n| format!("0.{n:05}").parse::<Objective>().unwrap())
}

fn factor() -> impl Strategy<Value = Factor> {
    (1u64..100_000, 1u64..1000).prop_map(|(n, d)| Factor::from_fraction(n, d).unwrap())
}

proptest! {
    #[test]
    fn burn_rate_is_monotone_in_errors(o in objective(), f in factor(), total in 1u64..1_000_000, a in 0u64..1_000_000, b in 0u64..1_000_000) {
        let (lo, hi) = (a.min(b).min(total), a.max(b).min(total));
        let (cl, ch) = (Counts::from_bad(lo, total).unwrap(), Counts::from_bad(hi, total).unwrap());
        prop_assert!(math::burn_rate(cl, &o) <= math::burn_rate(ch, &o));
        prop_assert!(!math::exceeds(cl, &o, &f) || math::exceeds(ch, &o, &f));
    }

    #[test]
    fn exact_decision_agrees_with_rationals(o in objective(), f in factor(), total in 1u64..1_000_000, bad in 0u64..1_000_000) {
        let bad = bad.min(total);
        let c = Counts::from_bad(bad, total).unwrap();
        // bad/total/(1-o) > f  <=>  bad * 100000 * f_den > total * (100000 - o_num) * f_num, checked in u128.
        let o_num: u128 = o.to_string().trim_start_matches("0.").parse::<u128>().unwrap()
            * 10u128.pow(5 - o.to_string().trim_start_matches("0.").len() as u32);
        let (fnum, fden) = {
            let s = f.to_string();
            let r: Vec<&str> = s.split('.').collect();
            let frac = r.get(1).copied().unwrap_or("");
            (format!("{}{}", r[0], frac).parse::<u128>().unwrap(), 10u128.pow(frac.len() as u32))
        };
        prop_assume!(f.to_string().len() < 30);
        let lhs = u128::from(bad) * 100_000 * fden;
        let rhs = u128::from(total) * (100_000 - o_num) * fnum;
        prop_assert_eq!(math::exceeds(c, &o, &f), lhs > rhs);
    }

    #[test]
    fn no_alert_when_a_window_of_the_pair_is_empty(o in objective(), bad in 0u64..1000, extra in 0u64..1000, empty_long in any::<bool>()) {
        let p = AlertPolicy::workbook();
        let full = Counts::from_bad(bad, bad + extra).unwrap_or(Counts::ZERO);
        for (i, r) in p.rules().iter().enumerate() {
            let fired = p.evaluate(&o, |w: Window| {
                let is_long = w == r.long();
                if is_long == empty_long { Counts::ZERO } else { full }
            });
            prop_assert!(!fired[i]);
        }
    }

    #[test]
    fn window_names_round_trip(secs in 1u64..100_000_000) {
        let w = Window::from_secs(secs).unwrap();
        prop_assert_eq!(w.to_string().parse::<Window>().unwrap(), w);
    }

    #[test]
    fn objective_decimal_round_trips(n in 1u64..999_999_999) {
        let text = format!("0.{n:09}").trim_end_matches('0').to_owned();
        let o: Objective = text.parse().unwrap();
        prop_assert_eq!(o.to_string(), text);
    }

    #[test]
    fn spec_parser_never_panics(s in "\\PC{0,200}") {
        let _ = stella_slo::spec::parse_str("fuzz", &s);
        let _ = stella_slo::replay::run(&s);
        let _ = s.parse::<stella_slo::Selector>();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The evaluator with exact rings decides exactly what the replay (the reference math)
    /// decides, minute by minute.
    #[test]
    fn exact_evaluator_matches_replay(
        minutes in proptest::collection::vec((0u64..50, 0u64..50), 1..150),
        objective in prop_oneof![Just(0.9), Just(0.99), Just(0.999)],
    ) {
        use std::time::{Duration, UNIX_EPOCH};
        use stella_slo::{Evaluator, RatioEvents, RatioSli, Sli, Slo};
        let minutes: Vec<[u64; 2]> = minutes.into_iter().map(|(bad, good)| [good, good + bad]).collect();
        let at: Vec<usize> = (1..=minutes.len()).collect();
        let s = serde_json::json!({"objective": objective, "period_minutes": 43200, "sli": {"kind": "ratio"},
            "minutes": minutes, "evaluate_at": at});
        let out = stella_slo::replay::run(&s.to_string()).unwrap();
        let mut ev = Evaluator::builder().with_max_slots(u64::MAX).build().unwrap();
        let sli = Sli::Ratio(RatioSli::new("t".parse().unwrap(), RatioEvents::Bad("b".parse().unwrap())));
        let id = ev.add(Slo::builder("p", "s", sli).with_objective(Objective::new(objective).unwrap()).build().unwrap()).unwrap();
        let mut now = UNIX_EPOCH;
        for (m, line) in minutes.iter().zip(&out.lines) {
            ev.record(id, Counts::new(m[0], m[1]).unwrap());
            ev.tick(now);
            now += Duration::from_secs(60);
            let want: serde_json::Value = serde_json::from_str(line).unwrap();
            for a in ev.slo_status(id).unwrap().alerts {
                prop_assert_eq!(serde_json::Value::Bool(a.firing), want["alerts"][&a.rule].clone());
            }
        }
    }
}
