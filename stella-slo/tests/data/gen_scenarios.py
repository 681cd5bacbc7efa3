#!/usr/bin/env python3
"""Writes the replay scenarios in scenarios/ (run from this folder). Each scenario is the
`slo-replay` input plus an `expect` list (ignored by slo-replay) with the alerts that must
fire at each evaluated minute, worked out by hand from the rules in the issue (see README)."""
import json

def ratio(objective, minutes, evaluate, expect, period=43200, **extra):
    return dict(objective=objective, period_minutes=period, sli={"kind": "ratio"},
                minutes=minutes, evaluate_at=evaluate, expect=expect, **extra)

def e(minute, pf, ps, t):
    return {"minute": minute, "page_fast": bool(pf), "page_slow": bool(ps), "ticket": bool(t)}

S = {}
S["zero-traffic"] = ratio(0.999, [[0, 0]] * 120, [0, 1, 60, 120],
                          [e(0, 0, 0, 0), e(1, 0, 0, 0), e(60, 0, 0, 0), e(120, 0, 0, 0)])
S["all-errors"] = ratio(0.999, [[0, 100]] * 60, [0, 1, 5, 60],
                        [e(0, 0, 0, 0), e(1, 1, 1, 1), e(5, 1, 1, 1), e(60, 1, 1, 1)])
# 5 % errors for 5 minutes after 6 good hours: 5m burn 50 and 30m burn 8.3 trip, the long
# windows (1h 4.2, 6h 0.69) do not: nothing fires.
S["short-spike-no-alert"] = ratio(0.999, [[1000, 1000]] * 360 + [[950, 1000]] * 5, [365],
                                  [e(365, 0, 0, 0)])
# Burn rate 2 everywhere: above 1 (ticket), below 6 and 14.4.
S["slow-burn-ticket-only"] = ratio(0.999, [[998, 1000]] * 400, [1, 60, 400],
                                   [e(1, 0, 0, 1), e(60, 0, 0, 1), e(400, 0, 0, 1)])
# One hour of total failure, then good traffic: page_fast clears once the 5m window is clean,
# page_slow once the 30m window is, the ticket stays (6h/3d burn 333).
S["recovery"] = ratio(0.999, [[0, 1000]] * 60 + [[1000, 1000]] * 120, [60, 64, 65, 89, 90, 180],
                      [e(60, 1, 1, 1), e(64, 1, 1, 1), e(65, 0, 1, 1), e(89, 0, 1, 1), e(90, 0, 0, 1), e(180, 0, 0, 1)])
# Exactly at the thresholds nothing fires (strict >); one more bad event fires.
S["exact-boundary-14.4"] = ratio(0.999, [[9856, 10000]] * 60, [60], [e(60, 0, 1, 1)])
S["exact-boundary-14.4-plus-one"] = ratio(0.999, [[9856, 10000]] * 59 + [[9855, 10000]], [60], [e(60, 1, 1, 1)])
# Float traps: naive (bad/total)/(1-o) gives 14.400000000001585 and 6.000000000000001.
S["float-trap-0.9995"] = ratio(0.9995, [[9928, 10000]] * 60, [60], [e(60, 0, 1, 1)])
S["float-trap-0.9-six"] = ratio(0.9, [[400, 1000]] * 360, [360], [e(360, 0, 0, 1)])
# The period only changes budget_remaining; with scale_alerts a 7-day period scales factors
# (page_fast 3.36, page_slow 1.4, ticket 0.2333...).
S["period-7d-unscaled"] = ratio(0.999, [[996, 1000]] * 60, [60], [e(60, 0, 0, 1)], period=10080)
S["period-7d-scaled"] = ratio(0.999, [[996, 1000]] * 60, [60], [e(60, 1, 1, 1)], period=10080, scale_alerts=True)
# Low-traffic guard: one failed event a minute fires everything without a guard, nothing
# with min_events 100 (the 5m window holds 5 events).
S["low-traffic-guard"] = ratio(0.999, [[0, 1]] * 60, [60], [e(60, 0, 0, 0)], min_events=100)
S["low-traffic-no-guard"] = ratio(0.999, [[0, 1]] * 60, [60], [e(60, 1, 1, 1)])

def latency(threshold, buckets, minutes, evaluate, expect, objective=0.95):
    return dict(objective=objective, period_minutes=43200,
                sli={"kind": "latency", "threshold_seconds": threshold, "buckets_le": buckets},
                minutes=minutes, evaluate_at=evaluate, expect=expect)

B = ["0.5", "1", "2.5", "10", "+Inf"]
# Cumulative per minute: 10 <= 0.5 s, 50 <= 1 s, 80 <= 2.5 s, 95 <= 10 s, 100 in all.
M = [[10, 50, 80, 95, 100]] * 60
# On a bound (2.5): 20 % bad, burn 4 (objective 0.95): ticket only.
S["latency-on-bucket"] = latency(2.5, B, M, [60], [e(60, 0, 0, 1)])
# Between bounds (5): conservative, le=2.5 counts, same as above, plus a warning.
S["latency-between-buckets"] = latency(5, B, M, [60], [e(60, 0, 0, 1)])
# On the 10 s bound: 5 % bad, burn exactly 1: nothing fires.
S["latency-on-bucket-exact-budget"] = latency(10, B, M, [60], [e(60, 0, 0, 0)])
# Below the smallest bound: nothing is good, burn 20: all three fire.
S["latency-below-smallest-bound"] = latency(0.1, B, M, [60], [e(60, 1, 1, 1)])

for name, s in S.items():
    with open(f"scenarios/{name}.json", "w") as f:
        json.dump(s, f, separators=(",", ":"))
        f.write("\n")
