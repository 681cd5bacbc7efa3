//! Service level indicators: good/total counters, or a latency threshold over a histogram.

use std::fmt;

use crate::math::{Counts, CountsError};

/// Why an SLI (selector, buckets, threshold) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliError {
    /// Not a plain Prometheus selector such as `metric{label="value"}`.
    #[error("invalid metric selector {selector:?}: {reason}")]
    Selector {
        /// The text.
        selector: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bucket bound is not a number (or `+Inf`).
    #[error("bucket bound {0:?} is not a number or +Inf")]
    BadBound(String),
    /// Bucket bounds must increase strictly.
    #[error("bucket bounds must increase strictly: {prev} is followed by {next} (bucket {index})")]
    NotIncreasing {
        /// Index of the offending bound.
        index: usize,
        /// The previous bound.
        prev: String,
        /// The offending bound.
        next: String,
    },
    /// A histogram needs at least one bucket.
    #[error("a histogram needs at least one bucket bound")]
    NoBuckets,
    /// The latency threshold must be a finite number greater than 0.
    #[error("latency threshold must be a finite number of seconds greater than 0, got {0}")]
    BadThreshold(String),
}

/// Why one sample of cumulative bucket counts was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// One count per bucket is required.
    #[error("expected {expected} bucket counts, got {got}")]
    Length {
        /// Number of buckets.
        expected: usize,
        /// Number of counts.
        got: usize,
    },
    /// Cumulative counts must not decrease from one bucket to the next.
    #[error("cumulative bucket counts decrease at bucket {0}")]
    NotCumulative(usize),
    /// The last bucket must be `+Inf` to know the total.
    #[error("the last bucket bound must be +Inf to give the total")]
    NoInfBucket,
    /// Inconsistent counts.
    #[error(transparent)]
    Counts(#[from] CountsError),
}

// === impl Selector ===

/// A label matcher operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// A Prometheus series selector: a metric name and label matchers, nothing else.
///
/// # Examples
///
/// ```
/// use stella_slo::Selector;
///
/// let s: Selector = r#"http_server_request_duration_seconds{service="policy-engine",route!="/health"}"#.parse()?;
/// assert_eq!(s.metric(), "http_server_request_duration_seconds");
/// assert_eq!(s.to_string(), r#"http_server_request_duration_seconds{service="policy-engine",route!="/health"}"#);
/// assert!("rate(x[5m])".parse::<Selector>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    metric: String,
    matchers: Vec<(String, MatchOp, String)>,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Selector {
    /// A selector for `metric` with no matchers.
    ///
    /// # Errors
    ///
    /// [`SliError::Selector`] when `metric` is not a valid metric name.
    pub fn new(metric: &str) -> Result<Selector, SliError> {
        if !is_metric_name(metric) {
            return Err(SliError::Selector {
                selector: metric.to_owned(),
                reason: "metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*",
            });
        }
        Ok(Selector {
            metric: metric.to_owned(),
            matchers: Vec::new(),
        })
    }

    /// Adds an equality matcher `name="value"`.
    ///
    /// # Errors
    ///
    /// [`SliError::Selector`] when `name` is not a valid label name.
    pub fn with_label(mut self, name: &str, value: &str) -> Result<Selector, SliError> {
        if !is_label_name(name) {
            return Err(SliError::Selector {
                selector: name.to_owned(),
                reason: "label name must match [a-zA-Z_][a-zA-Z0-9_]*",
            });
        }
        self.matchers
            .push((name.to_owned(), MatchOp::Eq, value.to_owned()));
        Ok(self)
    }

    /// The metric name.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The same matchers on another metric (`_bucket`, `_count` series of a histogram).
    pub(crate) fn with_metric(&self, metric: String) -> Selector {
        Selector {
            metric,
            matchers: self.matchers.clone(),
        }
    }

    /// Renders with one extra equality matcher (the `le` of a bucket).
    pub(crate) fn render_with(&self, extra: Option<(&str, &str)>) -> String {
        let mut out = self.metric.clone();
        let mut parts: Vec<String> = self
            .matchers
            .iter()
            .map(|(n, op, v)| format!("{n}{}\"{}\"", op.as_str(), escape(v)))
            .collect();
        if let Some((n, v)) = extra {
            parts.push(format!("{n}=\"{}\"", escape(v)));
        }
        if !parts.is_empty() {
            out.push('{');
            out.push_str(&parts.join(","));
            out.push('}');
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_with(None))
    }
}

impl std::str::FromStr for Selector {
    type Err = SliError;

    fn from_str(text: &str) -> Result<Selector, SliError> {
        let err = |reason| SliError::Selector {
            selector: text.to_owned(),
            reason,
        };
        let t = text.trim();
        let (name, rest) = match t.find('{') {
            Some(i) => (t.get(..i).unwrap_or("").trim(), t.get(i..).unwrap_or("")),
            None => (t, ""),
        };
        let mut sel = Selector::new(name)
            .map_err(|_| err("expected a plain selector: metric_name{label=\"value\",...}"))?;
        if rest.is_empty() {
            return Ok(sel);
        }
        let body = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| err("unbalanced braces"))?;
        let mut chars = body.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut label = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    label.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if !is_label_name(&label) {
                return Err(err("bad label name"));
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let op = match (chars.next(), chars.peek().copied()) {
                (Some('='), Some('~')) => {
                    chars.next();
                    MatchOp::Re
                }
                (Some('='), _) => MatchOp::Eq,
                (Some('!'), Some('=')) => {
                    chars.next();
                    MatchOp::Ne
                }
                (Some('!'), Some('~')) => {
                    chars.next();
                    MatchOp::NotRe
                }
                _ => return Err(err("expected =, !=, =~ or !~")),
            };
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.next() != Some('"') {
                return Err(err("label values must be double-quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => return Err(err("unterminated label value")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(err("unterminated label value")),
                }
            }
            sel.matchers.push((label, op, value));
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.next() {
                Some(',') | None => {}
                Some(_) => return Err(err("expected , between matchers")),
            }
        }
        Ok(sel)
    }
}

// === impl Buckets ===

/// One histogram bucket upper bound (`le`), keeping the text it was written as, which is the
/// `le` label value the generated rules match.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    value: f64,
    text: String,
}

impl Bound {
    /// Parses `"0.5"`, `"10"`, `"+Inf"` (or `"Inf"`).
    ///
    /// # Errors
    ///
    /// [`SliError::BadBound`].
    pub fn parse(text: &str) -> Result<Bound, SliError> {
        let t = text.trim();
        let value = match t {
            "+Inf" | "Inf" | "inf" | "+inf" => f64::INFINITY,
            _ => t
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| SliError::BadBound(text.to_owned()))?,
        };
        let text = if value.is_infinite() {
            "+Inf".to_owned()
        } else {
            t.to_owned()
        };
        Ok(Bound { value, text })
    }

    /// The bound in seconds (`f64::INFINITY` for `+Inf`).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The bound as written (the `le` label value).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Histogram bucket bounds, strictly increasing.
///
/// # Examples
///
/// ```
/// use stella_slo::Buckets;
/// let b = Buckets::parse(&["0.5", "1", "2.5", "10", "+Inf"])?;
/// assert_eq!(b.len(), 5);
/// assert!(Buckets::parse(&["1", "0.5"]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    bounds: Vec<Bound>,
}

impl Buckets {
    /// Parses and validates bucket bounds.
    ///
    /// # Errors
    ///
    /// [`SliError::NoBuckets`], [`SliError::BadBound`] or [`SliError::NotIncreasing`].
    pub fn parse<S: AsRef<str>>(bounds: &[S]) -> Result<Buckets, SliError> {
        let bounds = bounds
            .iter()
            .map(|b| Bound::parse(b.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Buckets::new(bounds)
    }

    /// Validates parsed bounds.
    ///
    /// # Errors
    ///
    /// [`SliError::NoBuckets`] or [`SliError::NotIncreasing`].
    pub fn new(bounds: Vec<Bound>) -> Result<Buckets, SliError> {
        if bounds.is_empty() {
            return Err(SliError::NoBuckets);
        }
        for (i, w) in bounds.windows(2).enumerate() {
            if let [a, b] = w
                && b.value <= a.value
            {
                return Err(SliError::NotIncreasing {
                    index: i + 1,
                    prev: a.text.clone(),
                    next: b.text.clone(),
                });
            }
        }
        Ok(Buckets { bounds })
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Always false (a histogram has at least one bucket).
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The bounds, in order.
    pub fn bounds(&self) -> &[Bound] {
        &self.bounds
    }

    /// Whether the last bound is `+Inf`.
    pub fn has_inf(&self) -> bool {
        self.bounds.last().is_some_and(|b| b.value.is_infinite())
    }
}

// === impl LatencySli ===

/// "At least `objective` of events faster than `threshold`" over a histogram.
///
/// Good events are the cumulative count of the largest bucket with `le <= threshold`. When the
/// threshold is not itself a bucket bound this is conservative (slower events up to the next
/// bound count as bad) and [`LatencySli::warning`] says so; below the smallest bound nothing is
/// good.
///
/// # Examples
///
/// ```
/// use stella_slo::{Buckets, LatencySli};
///
/// let b = Buckets::parse(&["0.5", "1", "2.5", "10", "+Inf"])?;
/// let on = LatencySli::new("ingest_duration_seconds".parse()?, b.clone(), 2.5)?;
/// assert!(on.warning().is_none());
/// let between = LatencySli::new("ingest_duration_seconds".parse()?, b, 5.0)?;
/// assert!(between.warning().is_some());
/// let c = between.counts(&[3, 5, 8, 9, 10])?; // le=2.5 holds the good ones
/// assert_eq!((c.good(), c.total()), (8, 10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySli {
    histogram: Selector,
    buckets: Buckets,
    threshold: f64,
    good_bucket: Option<usize>,
    exact: bool,
}

impl LatencySli {
    /// A latency SLI over the histogram `histogram` (its base name, without `_bucket`).
    ///
    /// # Errors
    ///
    /// [`SliError::BadThreshold`] when the threshold is not a finite number above 0.
    pub fn new(
        histogram: Selector,
        buckets: Buckets,
        threshold_seconds: f64,
    ) -> Result<LatencySli, SliError> {
        if !(threshold_seconds.is_finite() && threshold_seconds > 0.0) {
            return Err(SliError::BadThreshold(format!("{threshold_seconds}")));
        }
        let histogram = match histogram.metric.strip_suffix("_bucket") {
            Some(base) if !base.is_empty() => histogram.with_metric(base.to_owned()),
            _ => histogram,
        };
        let good_bucket = buckets
            .bounds
            .iter()
            .rposition(|b| b.value <= threshold_seconds);
        let exact = good_bucket
            .and_then(|i| buckets.bounds.get(i))
            .is_some_and(|b| b.value == threshold_seconds);
        Ok(LatencySli {
            histogram,
            buckets,
            threshold: threshold_seconds,
            good_bucket,
            exact,
        })
    }

    /// The histogram's base selector.
    pub fn histogram(&self) -> &Selector {
        &self.histogram
    }

    /// The bucket bounds.
    pub fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// The threshold, in seconds.
    pub fn threshold_seconds(&self) -> f64 {
        self.threshold
    }

    /// The bucket whose cumulative count is "good", or `None` when the threshold is below the
    /// smallest bound (nothing is good).
    pub fn good_bucket(&self) -> Option<&Bound> {
        self.good_bucket.and_then(|i| self.buckets.bounds.get(i))
    }

    /// Whether the threshold is exactly a bucket bound.
    pub fn threshold_is_bound(&self) -> bool {
        self.exact
    }

    /// A warning when the conservative rule applies (threshold not a bucket bound).
    pub fn warning(&self) -> Option<String> {
        if self.exact {
            return None;
        }
        Some(match self.good_bucket() {
            Some(b) => format!(
                "latency threshold {}s is not a bucket bound; only events in buckets with le <= {} count as good (conservative)",
                self.threshold,
                b.as_str()
            ),
            None => format!(
                "latency threshold {}s is below the smallest bucket bound; no event counts as good",
                self.threshold
            ),
        })
    }

    /// Good and total events from one sample of cumulative bucket counts (Prometheus `le`
    /// style, one per bucket, the last being `+Inf`).
    ///
    /// # Errors
    ///
    /// [`SampleError`] when the sample has the wrong length, decreases, or the buckets have no
    /// `+Inf` bound.
    pub fn counts(&self, cumulative: &[u64]) -> Result<Counts, SampleError> {
        if cumulative.len() != self.buckets.len() {
            return Err(SampleError::Length {
                expected: self.buckets.len(),
                got: cumulative.len(),
            });
        }
        if !self.buckets.has_inf() {
            return Err(SampleError::NoInfBucket);
        }
        for (i, w) in cumulative.windows(2).enumerate() {
            if let [a, b] = w
                && b < a
            {
                return Err(SampleError::NotCumulative(i + 1));
            }
        }
        let total = cumulative.last().copied().unwrap_or(0);
        let good = self
            .good_bucket
            .and_then(|i| cumulative.get(i))
            .copied()
            .unwrap_or(0);
        Ok(Counts::new(good, total)?)
    }
}

// === impl RatioSli ===

/// Which events a ratio SLI's numerator counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RatioEvents {
    /// A counter of good events.
    Good(Selector),
    /// A counter of bad events.
    Bad(Selector),
}

/// A ratio SLI: a counter of all events and a counter of good (or bad) ones.
///
/// # Examples
///
/// ```
/// use stella_slo::{RatioEvents, RatioSli};
/// let sli = RatioSli::new("policy_evaluations_total".parse()?, RatioEvents::Bad("policy_evaluation_errors_total".parse()?));
/// assert_eq!(sli.total().metric(), "policy_evaluations_total");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RatioSli {
    total: Selector,
    events: RatioEvents,
}

impl RatioSli {
    /// A ratio SLI.
    pub fn new(total: Selector, events: RatioEvents) -> RatioSli {
        RatioSli { total, events }
    }

    /// The counter of all events.
    pub fn total(&self) -> &Selector {
        &self.total
    }

    /// The counter of good or bad events.
    pub fn events(&self) -> &RatioEvents {
        &self.events
    }
}

/// A service level indicator.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Sli {
    /// Good (or bad) events over all events.
    Ratio(RatioSli),
    /// Events faster than a threshold over all events.
    Latency(LatencySli),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_round_trip() {
        for s in [
            "a",
            "a_b:c{x=\"1\"}",
            "m{a=\"x\",b!=\"y\",c=~\"z.*\",d!~\"q\\\"\"}",
        ] {
            let sel: Selector = s.parse().unwrap();
            assert_eq!(sel.to_string(), s);
        }
        for bad in [
            "",
            "1abc",
            "a{",
            "a{b}",
            "a{b=c}",
            "sum(a)",
            "a{b=\"c\" d=\"e\"}",
        ] {
            assert!(bad.parse::<Selector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn threshold_resolution() {
        let b = Buckets::parse(&["0.5", "1", "2.5", "10", "+Inf"]).unwrap();
        let h: Selector = "h_bucket".parse().unwrap();
        let sli = |t| LatencySli::new(h.clone(), b.clone(), t).unwrap();
        assert_eq!(sli(1.0).histogram().metric(), "h");
        assert_eq!(sli(1.0).good_bucket().unwrap().as_str(), "1");
        assert!(sli(1.0).threshold_is_bound());
        assert_eq!(sli(5.0).good_bucket().unwrap().as_str(), "2.5");
        assert!(sli(0.1).good_bucket().is_none());
        assert!(sli(0.1).warning().unwrap().contains("below"));
        assert_eq!(sli(100.0).good_bucket().unwrap().as_str(), "10");
        assert_eq!(
            sli(0.1).counts(&[1, 2, 3, 4, 5]).unwrap(),
            Counts::new(0, 5).unwrap()
        );
        assert!(sli(1.0).counts(&[1, 2]).is_err());
        assert!(sli(1.0).counts(&[2, 1, 3, 4, 5]).is_err());
        assert!(LatencySli::new(h.clone(), b.clone(), 0.0).is_err());
        assert!(LatencySli::new(h, b, f64::NAN).is_err());
        assert!(Buckets::parse(&["1", "1"]).is_err());
        assert!(Buckets::parse(&["x"]).is_err());
        assert!(Buckets::parse::<&str>(&[]).is_err());
    }
}
