//! A real Prometheus server (Debian's `prometheus` package) scrapes the built-in `/metrics`
//! listener with exemplar storage on, and its query API gives back the series and the exemplar
//! with the trace id of the exported span: content negotiation, the OpenMetrics parser of the
//! server itself and the exemplar path, end to end.
//!
//! Without the `prometheus` binary the test prints a notice and passes, unless
//! `STELLA_REQUIRE_SERVICES=1` (CI, whose `.ci/run` installs the package).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stella_telemetry::{Config, Output, TraceConfig};

use crate::collector::{Mode, Receiver, hex};

/// A Prometheus server of its own, on a free loopback port, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts one scraping `target` (`host:port`) every second, or `None` (with a notice) when
    /// the binary is missing and the environment does not require it.
    fn start(target: &str) -> Option<Prometheus> {
        if !crate::support::tool_available(
            Command::new("prometheus").arg("--version"),
            "the prometheus binary",
            "apt-get install prometheus",
        ) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("stella-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: stella\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Some(Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        })
    }

    /// The `data` of an API answer (the query parameters encoded by the client), or `None`
    /// while the server is not up yet.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let mut answer = ureq::get(format!("{}{path}", self.url))
            .query_pairs(query.iter().copied())
            .call()
            .ok()?;
        let body: Value = serde_json::from_str(&answer.body_mut().read_to_string().ok()?).ok()?;
        (body["status"] == "success").then(|| body["data"].clone())
    }

    /// The value of the first series an instant query gives, as text.
    fn instant(&self, query: &str) -> Option<String> {
        let data = self.api("/api/v1/query", &[("query", query)])?;
        data["result"].get(0)?["value"]
            .get(1)?
            .as_str()
            .map(str::to_owned)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Polls `probe` until it gives a value, for at most 30 s; fails with the server's view of
    /// the target and its log.
    fn wait_for<T>(&self, what: &str, mut probe: impl FnMut(&Prometheus) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "Prometheus never showed {what}; targets: {:?}\nlog:\n{}",
                    self.api("/api/v1/targets", &[]),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_real_prometheus_scrapes_the_series_and_stores_the_exemplar_of_the_sampled_span() {
    let rx = Receiver::start(Mode::Accept);
    let (dispatch, guard) = stella_telemetry::build(
        Config::new("policy-engine", "1.4.0")
            .with_output(Output::Writer(Box::new(std::io::sink())))
            .with_metrics_listener("127.0.0.1:0")
            .with_traces(
                TraceConfig::new()
                    .with_endpoint(rx.url())
                    .with_export_interval(Duration::from_millis(20)),
            ),
    )
    .unwrap();
    let addr = guard.metrics_addr().expect("listening");
    let Some(prometheus) = Prometheus::start(&addr.to_string()) else {
        return;
    };
    let span = crate::exposition::request_in_a_sampled_span(&dispatch, &guard, &rx, "POST");
    let trace_id = hex(&span.trace_id);

    // The target is up: Prometheus parsed what it negotiated (OpenMetrics) without an error.
    let up = prometheus.wait_for("the target up", |p| p.instant("up{job=\"stella\"}"));
    assert_eq!(
        up,
        "1",
        "the scrape failed: {:?}",
        prometheus.api("/api/v1/targets", &[])
    );

    // The histogram's count, under its semantic-convention name and the service label.
    let query = "http_server_request_duration_seconds_count{service=\"policy-engine\",http_request_method=\"POST\"}";
    let count = prometheus.wait_for("the request histogram", |p| p.instant(query));
    assert_eq!(count, "1");

    // The exemplar, stored from the OpenMetrics exposition, names the exported span's trace.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 600).to_string());
    let exemplars = prometheus.wait_for("the exemplar", |p| {
        let data = p.api(
            "/api/v1/query_exemplars",
            &[
                ("query", "http_server_request_duration_seconds_bucket"),
                ("start", &start),
                ("end", &end),
            ],
        )?;
        let all: Vec<(String, f64)> = data
            .as_array()?
            .iter()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| {
                Some((
                    e["labels"]["trace_id"].as_str()?.to_owned(),
                    e["value"].as_str()?.parse().ok()?,
                ))
            })
            .collect();
        (!all.is_empty()).then_some(all)
    });
    assert!(
        exemplars
            .iter()
            .any(|(id, v)| *id == trace_id && (*v - 0.004).abs() < 1e-9),
        "Prometheus stored {exemplars:?}, not trace {trace_id}; log:\n{}",
        prometheus.log()
    );
    guard.shutdown().unwrap();
}
