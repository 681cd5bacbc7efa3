//! Grafana dashboards generated from SLOs: one per service, with error budget remaining and
//! burn rates per SLO (from the generated recording rules) and the service's golden signals.
//!
//! Golden signals read the OpenTelemetry HTTP server histogram as Prometheus exposes it,
//! `http_server_request_duration_seconds{_bucket,_count}` with the labels `service` and
//! `http_response_status_code`, plus `process_cpu_seconds_total` and the gauge
//! `stella_queue_depth` for saturation.

use serde_json::{Value, json};

use crate::rules::{error_ratio_record, slo_matcher};
use crate::sli::Sli;
use crate::slo::Slo;

/// `0.95` as `95`, `0.999` as `99.9`.
fn percent_label(o: f64) -> String {
    let p = (o * 100_000.0).round() / 1000.0;
    format!("{p}")
}

/// The dashboard `uid` for a service (`stella-slo-<service>`, at most 40 characters).
pub fn uid(service: &str) -> String {
    let mut u = format!("stella-slo-{service}");
    u.truncate(40);
    u
}

fn target(expr: String, legend: &str, ref_id: usize) -> Value {
    let ref_id = char::from(b'A' + (ref_id % 26) as u8).to_string();
    json!({
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref_id,
    })
}

fn panel(
    id: &mut u64,
    kind: &str,
    title: &str,
    grid: (u64, u64, u64, u64),
    unit: &str,
    targets: Vec<Value>,
) -> Value {
    *id += 1;
    let (x, y, w, h) = grid;
    json!({
        "id": *id,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": targets,
    })
}

/// Renders the dashboard JSON for `service` from the SLOs that belong to it (others are
/// skipped). Deterministic: same input, byte-identical output.
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
/// let json = stella_slo::dashboard::render("runner", &specs.slos);
/// let v: serde_json::Value = serde_json::from_str(&json)?;
/// assert_eq!(v["uid"], "stella-slo-runner");
/// assert!(json.contains("slo:error_budget:remaining_ratio{slo=\\\"jobs\\\"}"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(service: &str, slos: &[Slo]) -> String {
    let mut id = 0u64;
    let mut panels = Vec::new();
    let mut y = 0u64;
    id += 1;
    panels.push(json!({"id": id, "type": "row", "title": "SLOs", "collapsed": false, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}));
    y += 1;
    for slo in slos.iter().filter(|s| s.service() == service) {
        let sel = slo_matcher(slo);
        let budget = slo.objective().budget_ratio().to_decimal_string();
        let mut stat = panel(
            &mut id,
            "stat",
            &format!("{}: error budget remaining ({})", slo.name(), slo.period()),
            (0, y, 6, 8),
            "percentunit",
            vec![target(
                format!("slo:error_budget:remaining_ratio{sel}"),
                "remaining",
                0,
            )],
        );
        stat["description"] = json!(format!(
            "1 - (error ratio over {}) / (1 - {}); negative when overspent. {}",
            slo.period(),
            slo.objective(),
            slo.description().unwrap_or("")
        ));
        stat["fieldConfig"]["defaults"]["thresholds"] = json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null}, {"color": "orange", "value": 0.25}, {"color": "green", "value": 0.5}
        ]});
        panels.push(stat);
        let windows = slo.policy().windows();
        let targets = windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                target(
                    format!("{}{sel} / {budget}", error_ratio_record(*w)),
                    &w.to_string(),
                    i,
                )
            })
            .collect();
        let mut burn = panel(
            &mut id,
            "timeseries",
            &format!("{}: burn rate", slo.name()),
            (6, y, 18, 8),
            "none",
            targets,
        );
        let mut steps = vec![json!({"color": "green", "value": null})];
        let mut factors: Vec<f64> = slo
            .policy()
            .rules()
            .iter()
            .map(|r| r.factor().as_f64())
            .collect();
        factors.sort_by(f64::total_cmp);
        for (i, f) in factors.iter().enumerate() {
            steps.push(
                json!({"color": if i + 1 == factors.len() { "red" } else { "orange" }, "value": f}),
            );
        }
        burn["fieldConfig"]["defaults"]["thresholds"] = json!({"mode": "absolute", "steps": steps});
        burn["fieldConfig"]["defaults"]["custom"] = json!({"thresholdsStyle": {"mode": "line"}});
        panels.push(burn);
        y += 8;
        if let Sli::Latency(l) = slo.sli() {
            let h = l.histogram();
            let bucket = h.with_metric(format!("{}_bucket", h.metric()));
            let q = slo.objective().to_string();
            let mut lat = panel(
                &mut id,
                "timeseries",
                &format!(
                    "{}: P{} latency vs the {}s threshold",
                    slo.name(),
                    percent_label(slo.objective().as_f64()),
                    l.threshold_seconds()
                ),
                (0, y, 24, 6),
                "s",
                vec![target(
                    format!("histogram_quantile({q}, sum by (le) (rate({bucket}[5m])))"),
                    &format!("p{}", percent_label(slo.objective().as_f64())),
                    0,
                )],
            );
            lat["fieldConfig"]["defaults"]["thresholds"] = json!({"mode": "absolute", "steps": [
                {"color": "green", "value": null}, {"color": "red", "value": l.threshold_seconds()}
            ]});
            lat["fieldConfig"]["defaults"]["custom"] = json!({"thresholdsStyle": {"mode": "line"}});
            panels.push(lat);
            y += 6;
        }
    }
    id += 1;
    panels.push(json!({"id": id, "type": "row", "title": "Golden signals", "collapsed": false, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}));
    y += 1;
    let s = format!("service=\"{service}\"");
    let h = "http_server_request_duration_seconds";
    let latency = [0.5f64, 0.95, 0.99]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            target(
                format!("histogram_quantile({p}, sum by (le) (rate({h}_bucket{{{s}}}[5m])))"),
                &format!("p{}", (p * 100.0).round()),
                i,
            )
        })
        .collect();
    panels.push(panel(
        &mut id,
        "timeseries",
        "Latency (P50, P95, P99)",
        (0, y, 12, 8),
        "s",
        latency,
    ));
    panels.push(panel(
        &mut id,
        "timeseries",
        "Error rate (5xx / all)",
        (12, y, 12, 8),
        "percentunit",
        vec![target(
            format!(
                "sum(rate({h}_count{{{s},http_response_status_code=~\"5..\"}}[5m])) / sum(rate({h}_count{{{s}}}[5m]))"
            ),
            "errors",
            0,
        )],
    ));
    y += 8;
    panels.push(panel(
        &mut id,
        "timeseries",
        "Throughput",
        (0, y, 12, 8),
        "reqps",
        vec![target(
            format!("sum(rate({h}_count{{{s}}}[5m]))"),
            "requests/s",
            0,
        )],
    ));
    panels.push(panel(
        &mut id,
        "timeseries",
        "Saturation (CPU, queue depth)",
        (12, y, 12, 8),
        "none",
        vec![
            target(
                format!("sum(rate(process_cpu_seconds_total{{{s}}}[5m]))"),
                "CPU cores",
                0,
            ),
            target(format!("sum(stella_queue_depth{{{s}}})"), "queued jobs", 1),
        ],
    ));
    let dash = json!({
        "uid": uid(service),
        "title": format!("Stella SLOs: {service}"),
        "tags": ["stella", "slo", service],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0
        }]},
        "annotations": {"list": []},
        "panels": panels,
    });
    let mut text = serde_json::to_string_pretty(&dash).unwrap_or_default();
    text.push('\n');
    text
}
