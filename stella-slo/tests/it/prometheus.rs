//! The Prometheus query source against a canned HTTP API.

use std::time::{Duration, UNIX_EPOCH};

use stella_slo::CountSource;
use stella_slo::prometheus::PrometheusSource;

use crate::support::serve;

fn vector(v: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1800000000.0,"{v}"]}}]}}}}"#
    )
}

/// The ratio SLO `jobs` of service `runner` at 0.99, with `total` as its total selector (YAML).
fn jobs_slo(total: &str) -> stella_slo::Slo {
    let yaml = format!(
        "slos:\n  - name: jobs\n    service: runner\n    objective: 0.99\n    sli: {{ratio: {{total: {total}, bad: jobs_failed_total}}}}\n"
    );
    let mut specs = stella_slo::spec::parse_str("x", &yaml).unwrap();
    specs.slos.remove(0)
}

#[test]
fn reads_cumulative_counts() {
    let (url, requests) = serve(vec![
        (200, vector("1000")),
        (200, vector("25")),
        (
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.into(),
        ),
        (503, "{}".into()),
    ]);
    let slo = &jobs_slo(r#"'jobs_total{env="prod"}'"#);
    let mut src = PrometheusSource::builder(&url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let c = src.cumulative(slo).unwrap().unwrap();
    assert_eq!((c.total(), c.bad()), (1000, 25));
    assert_eq!(src.cumulative(slo).unwrap(), None);
    assert!(src.cumulative(slo).is_err());
    let first = requests.recv().unwrap().0;
    assert!(
        first.starts_with("GET /api/v1/query?query=sum(jobs_total%7Benv%3D%22prod%22%7D)"),
        "{first}"
    );

    // Through the evaluator: errors are reported, not fatal.
    let mut ev = stella_slo::Evaluator::builder().build().unwrap();
    ev.add(slo.clone()).unwrap();
    let r = ev.poll(&mut src, UNIX_EPOCH);
    assert_eq!(r.source_errors.len(), 1);
    assert!(PrometheusSource::builder("localhost:9090").build().is_err());
}

/// An `https://` Prometheus behind a private CA that asks for client certificates
/// (`stella_http::testing::TlsPeer`, which answers `ok`, not a query result): the query
/// reaches it over mutual TLS, and its answer is reported as a source error, not a panic.
#[cfg(feature = "tls")]
#[test]
fn queries_an_https_prometheus_behind_a_private_ca_with_our_client_certificate() {
    let Some(peer) = stella_http::testing::TlsPeer::start(true) else {
        return;
    };
    let tls = peer.tls(true);
    let slo = jobs_slo("jobs_total");
    let mut src = PrometheusSource::builder(&peer.url())
        .with_tls(tls)
        .build()
        .unwrap();
    assert!(src.cumulative(&slo).is_err(), "not a query result");
    let seen = peer.requests_until(|got| !got.is_empty());
    assert!(
        seen[0].contains("\"path\": \"/api/v1/query?query=")
            && seen[0].contains("\"client\": \"stella-client\""),
        "{seen:?}"
    );
}
