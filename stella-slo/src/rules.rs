//! Prometheus recording and alerting rules generated from SLOs.
//!
//! For each SLO, one rule group:
//!
//! * `slo:sli_error:ratio_rate<W>` for every alert window and the period: the error ratio over
//!   `W` as a ratio of sums, `sum(rate(bad[W])) / sum(rate(total[W]))` (for a good counter
//!   `(sum(rate(total[W])) - sum(rate(good[W]))) / sum(rate(total[W]))`; for a latency SLI
//!   `(sum(rate(h_count[W])) - sum(rate(h_bucket{le="T"}[W]))) / sum(rate(h_count[W]))`);
//! * `slo:error_budget:remaining_ratio`: `1 - ratio_rate<period> / (1 - objective)`;
//! * `slo:objective:ratio`: the objective, for dashboards;
//! * one `SloErrorBudgetBurn` alert per policy rule: both windows' error ratios strictly above
//!   `factor × (1 - objective)` (written out as an exact decimal), labelled `severity`,
//!   `burn_rule`, `slo`, `service` (and `tenant` plus the SLO's extra labels).
//!
//! Every series carries the labels `slo` and `service`. Windows without events give `NaN`
//! (0/0), which is never above a threshold: no data never alerts, as in the math.

use std::fmt::Write as _;

use crate::ratio::Ratio;
use crate::sli::{RatioEvents, Sli};
use crate::slo::Slo;
use crate::window::Window;

/// Where generated alerts point for what to do.
pub const RUNBOOK_URL: &str = "docs/runbooks/incidents.md#slo-breaches";

/// The name of the recording rule holding the error ratio over `window`
/// (`slo:sli_error:ratio_rate5m`).
///
/// # Examples
///
/// ```
/// use stella_slo::rules;
/// assert_eq!(rules::error_ratio_record("1h".parse()?), "slo:sli_error:ratio_rate1h");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn error_ratio_record(window: Window) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// The windows a generated group records: the policy's windows and the period.
pub fn recorded_windows(slo: &Slo) -> Vec<Window> {
    let mut w = slo.policy().windows();
    w.push(slo.period());
    w.sort();
    w.dedup();
    w
}

/// The PromQL error ratio of `slo` over `window`, as a ratio of sums.
///
/// # Examples
///
/// ```
/// let specs = stella_slo::spec::parse_str("x", r#"
/// slos:
///   - name: jobs
///     service: runner
///     objective: 0.99
///     sli: {ratio: {total: jobs_total, bad: 'jobs_failed_total{reason!="cancelled"}'}}
/// "#)?;
/// assert_eq!(
///     stella_slo::rules::error_ratio_expr(&specs.slos[0], "5m".parse()?),
///     r#"sum(rate(jobs_failed_total{reason!="cancelled"}[5m])) / sum(rate(jobs_total[5m]))"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn error_ratio_expr(slo: &Slo, window: Window) -> String {
    let rate = |sel: String| format!("sum(rate({sel}[{window}]))");
    match slo.sli() {
        Sli::Ratio(r) => {
            let total = rate(r.total().to_string());
            match r.events() {
                RatioEvents::Bad(b) => format!("{} / {total}", rate(b.to_string())),
                RatioEvents::Good(g) => format!("({total} - {}) / {total}", rate(g.to_string())),
            }
        }
        Sli::Latency(l) => {
            let h = l.histogram();
            let total = rate(h.with_metric(format!("{}_count", h.metric())).to_string());
            match l.good_bucket() {
                Some(b) => {
                    let good = rate(
                        h.with_metric(format!("{}_bucket", h.metric()))
                            .render_with(Some(("le", b.as_str()))),
                    );
                    format!("({total} - {good}) / {total}")
                }
                // Below the smallest bound nothing is good: every event is bad.
                None => format!("{total} / {total}"),
            }
        }
    }
}

/// The label matcher that selects one SLO's recorded series: `{slo="name"}`.
pub fn slo_matcher(slo: &Slo) -> String {
    format!("{{slo=\"{}\"}}", slo.name())
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The error-ratio threshold of a rule, `factor × (1 - objective)`, as an exact decimal when
/// it terminates.
pub(crate) fn ratio_threshold(slo: &Slo, factor: Ratio) -> String {
    factor
        .checked_mul(slo.objective().budget_ratio())
        .map(|r| r.to_decimal_string())
        .unwrap_or_else(|| format!("{}", factor.to_f64() * slo.objective().error_budget()))
}

fn percent(r: Ratio) -> String {
    r.checked_mul(Ratio::new(100, 1).unwrap_or(Ratio::ONE))
        .map(|p| p.to_decimal_string())
        .unwrap_or_else(|| format!("{}", r.to_f64() * 100.0))
}

/// Renders the rules file (YAML, the format `promtool check rules` reads) for `slos`.
///
/// The output is deterministic: the same SLOs give byte-identical files.
///
/// # Examples
///
/// ```
/// let specs = stella_slo::spec::parse_str("x", r#"
/// slos:
///   - name: jobs
///     service: runner
///     objective: 0.999
///     sli: {ratio: {total: jobs_total, bad: jobs_failed_total}}
/// "#)?;
/// let yaml = stella_slo::rules::render(&specs.slos);
/// assert!(yaml.contains("record: slo:sli_error:ratio_rate5m"));
/// assert!(yaml.contains(r#"slo:sli_error:ratio_rate1h{slo="jobs"} > 0.0144 and slo:sli_error:ratio_rate5m{slo="jobs"} > 0.0144"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(slos: &[Slo]) -> String {
    let mut out = String::new();
    out.push_str("# Generated by stella-slo from the SLO specs; do not edit by hand.\n");
    out.push_str("# Regenerate: cargo run -p stella-slo --example slo-gen -- collector-config/slo/specs collector-config/slo/generated\n");
    out.push_str("groups:\n");
    for slo in slos {
        let _ = render_group(&mut out, slo);
    }
    out
}

fn base_labels(out: &mut String, slo: &Slo, indent: &str) -> std::fmt::Result {
    writeln!(out, "{indent}slo: {}", q(slo.name()))?;
    writeln!(out, "{indent}service: {}", q(slo.service()))?;
    if let Some(t) = slo.tenant() {
        writeln!(out, "{indent}tenant: {}", q(t))?;
    }
    Ok(())
}

fn render_group(out: &mut String, slo: &Slo) -> std::fmt::Result {
    let sel = slo_matcher(slo);
    writeln!(out, "  - name: {}", q(&format!("slo-{}", slo.name())))?;
    writeln!(out, "    rules:")?;
    for w in recorded_windows(slo) {
        writeln!(out, "      - record: {}", error_ratio_record(w))?;
        writeln!(out, "        expr: {}", q(&error_ratio_expr(slo, w)))?;
        writeln!(out, "        labels:")?;
        base_labels(out, slo, "          ")?;
    }
    writeln!(out, "      - record: slo:objective:ratio")?;
    writeln!(
        out,
        "        expr: {}",
        q(&format!("vector({})", slo.objective()))
    )?;
    writeln!(out, "        labels:")?;
    base_labels(out, slo, "          ")?;
    writeln!(out, "      - record: slo:error_budget:remaining_ratio")?;
    writeln!(
        out,
        "        expr: {}",
        q(&format!(
            "1 - {}{sel} / {}",
            error_ratio_record(slo.period()),
            slo.objective().budget_ratio().to_decimal_string()
        ))
    )?;
    writeln!(out, "        labels:")?;
    base_labels(out, slo, "          ")?;
    let min = slo.policy().min_events();
    let total_sel = match slo.sli() {
        Sli::Ratio(r) => r.total().to_string(),
        Sli::Latency(l) => l
            .histogram()
            .with_metric(format!("{}_count", l.histogram().metric()))
            .to_string(),
    };
    for rule in slo.policy().rules() {
        let t = ratio_threshold(slo, rule.factor().ratio());
        let cond = |w: Window| {
            let c = format!("{}{sel} > {t}", error_ratio_record(w));
            if min > 0 {
                format!("({c} and on() sum(increase({total_sel}[{w}])) >= {min})")
            } else {
                c
            }
        };
        let consumed = rule
            .factor()
            .ratio()
            .checked_mul(
                Ratio::new(
                    u128::from(rule.long().as_secs()),
                    u128::from(slo.period().as_secs()),
                )
                .unwrap_or(Ratio::ONE),
            )
            .map(percent)
            .unwrap_or_default();
        writeln!(out, "      - alert: SloErrorBudgetBurn")?;
        writeln!(
            out,
            "        expr: {}",
            q(&format!("{} and {}", cond(rule.long()), cond(rule.short())))
        )?;
        writeln!(out, "        labels:")?;
        writeln!(out, "          severity: {}", q(rule.severity().as_str()))?;
        writeln!(out, "          burn_rule: {}", q(rule.name()))?;
        base_labels(out, slo, "          ")?;
        for (k, v) in slo.labels() {
            writeln!(out, "          {k}: {}", q(v))?;
        }
        writeln!(out, "        annotations:")?;
        writeln!(
            out,
            "          summary: {}",
            q(&format!(
                "SLO {} is burning its error budget ({})",
                slo.name(),
                rule.name()
            ))
        )?;
        writeln!(
            out,
            "          description: {}",
            q(&format!(
                "Burn rate above {} over both {} and {} (objective {}): at this rate {}% of the {} error budget is spent in {}.",
                rule.factor(),
                rule.long(),
                rule.short(),
                slo.objective(),
                consumed,
                slo.period(),
                rule.long()
            ))
        )?;
        writeln!(out, "          runbook_url: {}", q(RUNBOOK_URL))?;
    }
    Ok(())
}
