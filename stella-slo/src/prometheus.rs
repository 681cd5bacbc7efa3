//! A [`CountSource`] that reads SLI counters from a Prometheus HTTP query API
//! (`GET /api/v1/query`), with a blocking client: run the evaluator on its own thread.
//!
//! Per SLO and poll it makes two instant queries for cumulative counts, e.g.
//! `sum(jobs_total)` and `sum(jobs_failed_total)`, or for a latency SLI
//! `sum(h_count{...})` and `sum(h_bucket{...,le="T"})`. The evaluator differences successive
//! polls (counter resets count as new increases).

use std::fmt;
use std::time::Duration;

use crate::evaluator::{CountSource, SourceError};
use crate::math::Counts;
use crate::sli::{RatioEvents, Sli};
use crate::slo::Slo;

/// Why a Prometheus source could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// The base URL must start with `http://` or `https://`.
    #[error("Prometheus URL {0:?} must start with http:// or https://")]
    Url(String),
}

/// The two instant queries read for `slo`: `(total, part)`, where `part` counts good events
/// (or bad ones, per the second element). `None` for the part means "nothing is good"
/// (a latency threshold below the smallest bucket).
///
/// # Examples
///
/// ```
/// let specs = stella_slo::spec::parse_str("x", r#"
/// slos:
///   - name: jobs
///     service: runner
///     objective: 0.99
///     sli: {ratio: {total: jobs_total, bad: jobs_failed_total}}
/// "#)?;
/// let (total, part) = stella_slo::prometheus::queries(&specs.slos[0]);
/// assert_eq!(total, "sum(jobs_total)");
/// assert_eq!(part, Some(("sum(jobs_failed_total)".to_owned(), false)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn queries(slo: &Slo) -> (String, Option<(String, bool)>) {
    match slo.sli() {
        Sli::Ratio(r) => {
            let total = format!("sum({})", r.total());
            let part = match r.events() {
                RatioEvents::Good(g) => (format!("sum({g})"), true),
                RatioEvents::Bad(b) => (format!("sum({b})"), false),
            };
            (total, Some(part))
        }
        Sli::Latency(l) => {
            let h = l.histogram();
            let total = format!("sum({})", h.with_metric(format!("{}_count", h.metric())));
            let part = l.good_bucket().map(|b| {
                (
                    format!(
                        "sum({})",
                        h.with_metric(format!("{}_bucket", h.metric()))
                            .render_with(Some(("le", b.as_str())))
                    ),
                    true,
                )
            });
            (total, part)
        }
    }
}

/// Reads cumulative SLI counts from Prometheus.
///
/// # Examples
///
/// ```no_run
/// use std::time::{Duration, SystemTime};
/// use stella_slo::{Evaluator, prometheus::PrometheusSource};
///
/// let mut source = PrometheusSource::builder("http://prometheus:9090").with_timeout(Duration::from_secs(5)).build()?;
/// let mut ev = Evaluator::builder().build()?;
/// // ev.add(...) for each SLO, then once a minute on this thread:
/// let report = ev.poll(&mut source, SystemTime::now());
/// # let _ = report;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PrometheusSource {
    agent: ureq::Agent,
    base: String,
}

impl fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Builds a [`PrometheusSource`].
#[derive(Debug, Clone)]
pub struct PrometheusBuilder {
    base: String,
    timeout: Duration,
    https: crate::Https,
}

impl PrometheusBuilder {
    /// Timeout of one query (default 10 s).
    #[must_use]
    pub fn with_timeout(mut self, t: Duration) -> PrometheusBuilder {
        self.timeout = t;
        self
    }

    /// HTTPS settings of its own for an `https://` Prometheus (the `tls` feature): CA
    /// certificates trusted instead of the webpki roots, a client certificate for mutual TLS
    /// ([`Tls`](crate::Tls)).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: stella_http::Tls) -> PrometheusBuilder {
        self.https = crate::Https(Some(tls));
        self
    }

    /// Builds the source.
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Url`] for a URL that is not http(s).
    pub fn build(self) -> Result<PrometheusSource, PrometheusError> {
        if !(self.base.starts_with("http://") || self.base.starts_with("https://")) {
            return Err(PrometheusError::Url(self.base));
        }
        let agent = self.https.agent(self.timeout);
        Ok(PrometheusSource {
            agent,
            base: self.base.trim_end_matches('/').to_owned(),
        })
    }
}

impl PrometheusSource {
    /// Starts building a source for the Prometheus at `base_url` (`http://prometheus:9090`).
    pub fn builder(base_url: &str) -> PrometheusBuilder {
        PrometheusBuilder {
            base: base_url.to_owned(),
            timeout: Duration::from_secs(10),
            https: crate::Https::default(),
        }
    }

    /// Runs one instant query that returns a single sample; `Ok(None)` for an empty result.
    fn scalar(&self, slo: &str, query: &str) -> Result<Option<f64>, SourceError> {
        let url = format!("{}/api/v1/query", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .query("query", query)
            .call()
            .map_err(|e| SourceError::new(slo, format!("query failed: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| SourceError::new(slo, format!("reading the response: {e}")))?;
        if status != 200 {
            return Err(SourceError::new(
                slo,
                format!("Prometheus answered {status}"),
            ));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| SourceError::new(slo, format!("malformed response: {e}")))?;
        if v.get("status").and_then(|s| s.as_str()) != Some("success") {
            return Err(SourceError::new(slo, "query did not succeed"));
        }
        let result = v
            .pointer("/data/result")
            .and_then(|r| r.as_array())
            .ok_or_else(|| SourceError::new(slo, "response has no data.result"))?;
        let Some(first) = result.first() else {
            return Ok(None);
        };
        let value = first
            .pointer("/value/1")
            .and_then(|x| x.as_str())
            .and_then(|x| x.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| SourceError::new(slo, "sample is not a non-negative number"))?;
        Ok(Some(value))
    }
}

fn to_count(x: f64) -> u64 {
    // Saturating float-to-int conversion; counters are whole numbers.
    x.round() as u64
}

impl CountSource for PrometheusSource {
    fn cumulative(&mut self, slo: &Slo) -> Result<Option<Counts>, SourceError> {
        let (total_q, part) = queries(slo);
        let Some(total) = self.scalar(slo.name(), &total_q)?.map(to_count) else {
            return Ok(None);
        };
        let good = match part {
            None => 0,
            Some((q, is_good)) => {
                let p = self
                    .scalar(slo.name(), &q)?
                    .map(to_count)
                    .unwrap_or(0)
                    .min(total);
                if is_good { p } else { total - p }
            }
        };
        Ok(Some(Counts::new(good, total).unwrap_or(Counts::ZERO)))
    }
}
