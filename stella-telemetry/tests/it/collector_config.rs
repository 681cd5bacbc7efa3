//! The shipped collector and scrape configurations (`collector-config/`): every pipeline
//! references defined components, and the parts the brief asks for are there.

use std::collections::BTreeSet;

use serde_yaml::Value;

fn load(path: &str) -> Value {
    let full = format!("{}/../collector-config/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{full} is not YAML: {e}"))
}

/// The component ids defined in a top-level section (`receivers`, `processors`, ...).
fn defined(doc: &Value, section: &str) -> BTreeSet<String> {
    doc.get(section)
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A component id is `type` or `type/name`, the type in lowercase letters, digits and `_`.
fn valid_id(id: &str) -> bool {
    let ty = id.split('/').next().unwrap_or_default();
    !ty.is_empty()
        && ty
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && id.split('/').count() <= 2
}

/// Checks every reference of `service` and returns the pipelines by name.
fn check_references(file: &str) -> (Value, Vec<(String, Value)>) {
    let doc = load(file);
    let receivers = defined(&doc, "receivers");
    let processors = defined(&doc, "processors");
    let exporters = defined(&doc, "exporters");
    let extensions = defined(&doc, "extensions");
    let connectors = defined(&doc, "connectors");
    for id in receivers
        .iter()
        .chain(&processors)
        .chain(&exporters)
        .chain(&extensions)
        .chain(&connectors)
    {
        assert!(valid_id(id), "{file}: bad component id `{id}`");
    }
    let service = doc
        .get("service")
        .unwrap_or_else(|| panic!("{file}: no service"));
    for ext in list(service.get("extensions")) {
        assert!(
            extensions.contains(&ext),
            "{file}: service extension `{ext}` is not defined"
        );
    }
    let pipelines = service
        .get("pipelines")
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("{file}: no pipelines"));
    assert!(!pipelines.is_empty(), "{file}: no pipelines");
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (name, p) in pipelines {
        let name = name.as_str().unwrap_or_default().to_owned();
        let signal = name.split('/').next().unwrap_or_default();
        assert!(
            ["traces", "metrics", "logs"].contains(&signal),
            "{file}: pipeline `{name}` is not traces, metrics or logs"
        );
        let r = list(p.get("receivers"));
        let pr = list(p.get("processors"));
        let e = list(p.get("exporters"));
        assert!(!r.is_empty(), "{file}: pipeline `{name}` has no receiver");
        assert!(!e.is_empty(), "{file}: pipeline `{name}` has no exporter");
        for id in &r {
            assert!(
                receivers.contains(id) || connectors.contains(id),
                "{file}: pipeline `{name}` uses undefined receiver `{id}`"
            );
        }
        for id in &pr {
            assert!(
                processors.contains(id),
                "{file}: pipeline `{name}` uses undefined processor `{id}`"
            );
        }
        for id in &e {
            assert!(
                exporters.contains(id) || connectors.contains(id),
                "{file}: pipeline `{name}` uses undefined exporter `{id}`"
            );
        }
        if !pr.is_empty() {
            assert_eq!(
                pr.first().map(String::as_str),
                Some("memory_limiter"),
                "{file}: pipeline `{name}` must start with the memory limiter"
            );
        }
        used.extend(r.into_iter().chain(pr).chain(e));
        out.push((name, p.clone()));
    }
    for id in receivers.iter().chain(&processors).chain(&exporters) {
        assert!(
            used.contains(id),
            "{file}: `{id}` is defined but no pipeline uses it"
        );
    }
    (doc, out)
}

#[test]
fn collector_pipelines_reference_defined_components() {
    let (doc, pipelines) = check_references("otelcol/collector.yaml");
    let names: Vec<&str> = pipelines.iter().map(|(n, _)| n.as_str()).collect();
    for signal in ["traces", "metrics", "logs"] {
        assert!(names.contains(&signal), "no {signal} pipeline");
    }
    let traces = &pipelines.iter().find(|(n, _)| n == "traces").unwrap().1;
    let processors = list(traces.get("processors"));
    for p in ["redaction", "tail_sampling", "batch"] {
        assert!(
            processors.iter().any(|x| x == p),
            "traces pipeline without {p}"
        );
    }
    assert_eq!(processors.last().map(String::as_str), Some("batch"));
    // tail sampling: errors, latency, probabilistic, and the incident-mode attribute the
    // stella-telemetry bridge stamps on spans of tenants in incident mode
    let policies = doc["processors"]["tail_sampling"]["policies"]
        .as_sequence()
        .expect("tail sampling policies");
    let types: BTreeSet<&str> = policies.iter().filter_map(|p| p["type"].as_str()).collect();
    for t in [
        "status_code",
        "latency",
        "probabilistic",
        "boolean_attribute",
    ] {
        assert!(types.contains(t), "no {t} tail-sampling policy");
    }
    let incident = policies
        .iter()
        .find(|p| p["type"].as_str() == Some("boolean_attribute"))
        .unwrap();
    assert_eq!(
        incident["boolean_attribute"]["key"].as_str(),
        Some("stella.incident_mode")
    );
    // OTLP over HTTP on 4318, what stella-telemetry exports to
    let http = &doc["receivers"]["otlp"]["protocols"]["http"];
    assert!(http.is_mapping(), "the OTLP receiver has no http protocol");
}

#[test]
fn load_balancer_pipelines_reference_defined_components() {
    let (doc, pipelines) = check_references("otelcol/loadbalancer.yaml");
    let traces = &pipelines.iter().find(|(n, _)| n == "traces").unwrap().1;
    let exporters = list(traces.get("exporters"));
    let lb = exporters
        .iter()
        .find(|e| e.starts_with("loadbalancing"))
        .expect("traces go through the load-balancing exporter");
    // every span of a trace must reach the same gateway replica for tail sampling
    assert_eq!(
        doc["exporters"][lb.as_str()]["routing_key"].as_str(),
        Some("traceID")
    );
}

#[test]
fn prometheus_scrapes_stella_metrics() {
    let doc = load("prometheus/prometheus.yml");
    let jobs = doc["scrape_configs"].as_sequence().expect("scrape configs");
    let stella = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some("stella-services"))
        .expect("a stella-services job");
    assert_eq!(stella["metrics_path"].as_str(), Some("/metrics"));
    for j in jobs {
        let name = j["job_name"].as_str().expect("job_name");
        assert!(
            j["static_configs"].is_sequence() || j.get("kubernetes_sd_configs").is_some(),
            "{name}: no targets"
        );
    }
}
