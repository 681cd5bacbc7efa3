//! Prometheus text (0.0.4) and OpenMetrics 1.0 exposition.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use metrics::Unit;

use super::registry::{Cell, Description, Family, Kind, OVERFLOW_LABEL, Registry};

/// The content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header prefers (RFC 9110 §12.5.1): OpenMetrics when a range that
    /// covers it (`application/openmetrics-text`, `application/*`) has a weight above zero and
    /// at least that of the Prometheus text (`text/plain`, `text/*`, `*/*`); Prometheus text
    /// otherwise, also when the header is absent, asks for neither or cannot be read.
    /// `application/openmetrics-text;q=0` refuses OpenMetrics even if listed first.
    pub(crate) fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        // The highest weight given to each format, 0 when no range covers it.
        let (mut openmetrics, mut text) = (0u16, 0u16);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let Some(q) = weight(parts) else {
                continue;
            };
            let (kind, sub) = media.split_once('/').unwrap_or((media, ""));
            let (kind, sub) = (kind.trim(), sub.trim());
            let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
            if is(kind, "application") && (is(sub, "openmetrics-text") || sub == "*") {
                openmetrics = openmetrics.max(q);
            } else if (is(kind, "text") && (is(sub, "plain") || sub == "*"))
                || (kind == "*" && sub == "*")
            {
                text = text.max(q);
            }
        }
        if openmetrics > 0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// The weight (`q`, in thousandths) among a media range's parameters: 1 000 when absent,
/// `None` when it is not a weight (`0` to `1` with at most three decimals), which drops the
/// range.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (int, frac) = value.split_once('.').unwrap_or((value, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let thousandths = frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
        return match int {
            "0" => Some(thousandths),
            "1" if thousandths == 0 => Some(1_000),
            _ => None,
        };
    }
    Some(1_000)
}

/// A metric name in exposition form: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        if ok {
            out.push(c);
        } else if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

fn label_name(name: &str) -> String {
    sanitize(name).replace(':', "_")
}

fn unit_suffix(unit: Option<Unit>) -> Option<&'static str> {
    match unit? {
        Unit::Seconds => Some("seconds"),
        Unit::Bytes => Some("bytes"),
        _ => None,
    }
}

/// The base name (without `_total`) and the unit suffix.
pub(crate) fn base_name(
    name: &str,
    kind: Kind,
    unit: Option<Unit>,
) -> (String, Option<&'static str>) {
    let mut n = sanitize(name);
    let suffix = unit_suffix(unit);
    if kind == Kind::Counter
        && let Some(stripped) = n.strip_suffix("_total")
    {
        n = stripped.to_owned();
    }
    if let Some(s) = suffix
        && !n.ends_with(&format!("_{s}"))
    {
        n.push('_');
        n.push_str(s);
    }
    (n, suffix)
}

pub(crate) fn push_escaped(out: &mut String, v: &str, help: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if !help => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

pub(crate) fn fmt_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

pub(crate) fn push_labels(
    out: &mut String,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&label_name(k));
        out.push_str("=\"");
        push_escaped(out, v, false);
        out.push('"');
    }
    out.push('}');
}

/// Writes the `# HELP`, `# TYPE` (and OpenMetrics `# UNIT`) lines.
pub(crate) fn header(
    out: &mut String,
    format: Format,
    base: &str,
    kind: Kind,
    unit: Option<&str>,
    help: &str,
) {
    let type_name = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let family = match (format, kind) {
        (Format::Prometheus, Kind::Counter) => format!("{base}_total"),
        _ => base.to_owned(),
    };
    if !help.is_empty() {
        let _ = write!(out, "# HELP {family} ");
        push_escaped(out, help, true);
        out.push('\n');
    }
    let _ = writeln!(out, "# TYPE {family} {type_name}");
    if format == Format::OpenMetrics
        && let Some(u) = unit
    {
        let _ = writeln!(out, "# UNIT {family} {u}");
    }
}

fn with_service(service: &str, labels: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(labels.len() + 1);
    all.push(("service".to_owned(), service.to_owned()));
    let mut rest: Vec<(String, String)> = labels
        .iter()
        .filter(|(k, _)| k != "service")
        .cloned()
        .collect();
    rest.sort();
    all.extend(rest);
    all
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    push_labels(out, labels, extra);
    out.push(' ');
    fmt_f64(out, value);
    out.push('\n');
}

fn cell(out: &mut String, format: Format, base: &str, labels: &[(String, String)], c: &Cell) {
    match c {
        Cell::Counter(v) => {
            #[expect(clippy::cast_precision_loss, reason = "exposition is float")]
            let v = v.load(Ordering::Relaxed) as f64;
            sample(out, &format!("{base}_total"), labels, None, v);
        }
        Cell::Gauge(v) => {
            sample(
                out,
                base,
                labels,
                None,
                f64::from_bits(v.load(Ordering::Relaxed)),
            );
        }
        Cell::Histogram(h) => {
            let mut cumulative = 0u64;
            let bucket = format!("{base}_bucket");
            let n = h.counts.len();
            for (i, count) in h.counts.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = match h.bounds.get(i) {
                    Some(b) if i + 1 < n => {
                        let mut s = String::new();
                        fmt_f64(&mut s, *b);
                        s
                    }
                    _ => "+Inf".to_owned(),
                };
                out.push_str(&bucket);
                push_labels(out, labels, Some(("le", &le)));
                out.push(' ');
                let _ = write!(out, "{cumulative}");
                if format == Format::OpenMetrics
                    && let Some(slot) = h.exemplars.get(i)
                    && let Some(e) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                {
                    out.push_str(" # {trace_id=\"");
                    push_escaped(out, &e.trace_id.to_string(), false);
                    out.push_str("\"} ");
                    fmt_f64(out, e.value);
                    out.push(' ');
                    let _ = write!(out, "{:.3}", e.timestamp);
                }
                out.push('\n');
            }
            sample(
                out,
                &format!("{base}_sum"),
                labels,
                None,
                f64::from_bits(h.sum.load(Ordering::Relaxed)),
            );
            #[expect(clippy::cast_precision_loss, reason = "exposition is float")]
            let count = h.count.load(Ordering::Relaxed) as f64;
            sample(out, &format!("{base}_count"), labels, None, count);
        }
    }
}

/// Renders every family of the registry; returns (metric name, folded registrations) of the
/// families that overflowed their cardinality cap.
pub(crate) fn registry(
    out: &mut String,
    format: Format,
    registry: &Registry,
    service: &str,
) -> Vec<(String, u64)> {
    let mut overflowed = Vec::new();
    registry.visit(|name, family: &Family, desc: Option<&Description>| {
        let unit = desc.and_then(|d| d.unit);
        let (base, suffix) = base_name(name, family.kind, unit);
        header(
            out,
            format,
            &base,
            family.kind,
            suffix,
            desc.map(|d| d.help.as_str())
                .filter(|h| !h.is_empty())
                .unwrap_or(name),
        );
        let mut series: Vec<_> = family.series.iter().collect();
        series.sort_by(|a, b| a.0.cmp(b.0));
        for (labels, c) in series {
            cell(out, format, &base, &with_service(service, labels), c);
        }
        if let Some(c) = &family.overflow {
            let labels = vec![(OVERFLOW_LABEL.0.to_owned(), OVERFLOW_LABEL.1.to_owned())];
            cell(out, format, &base, &with_service(service, &labels), c);
        }
        if family.overflowed > 0 {
            overflowed.push((name.to_owned(), family.overflowed));
        }
    });
    overflowed
}

/// A metric of the library itself, rendered from a snapshot.
pub(crate) struct Simple<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: Kind,
    pub(crate) unit: Option<Unit>,
    pub(crate) help: &'a str,
    pub(crate) samples: Vec<(Vec<(String, String)>, f64)>,
}

pub(crate) fn simple(out: &mut String, format: Format, service: &str, m: &Simple<'_>) {
    let (base, suffix) = base_name(m.name, m.kind, m.unit);
    header(out, format, &base, m.kind, suffix, m.help);
    let name = if m.kind == Kind::Counter {
        format!("{base}_total")
    } else {
        base
    };
    for (labels, v) in &m.samples {
        sample(out, &name, &with_service(service, labels), None, *v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            base_name(
                "http.server.request.duration",
                Kind::Histogram,
                Some(Unit::Seconds)
            )
            .0,
            "http_server_request_duration_seconds"
        );
        assert_eq!(base_name("jobs_total", Kind::Counter, None).0, "jobs");
        assert_eq!(sanitize("9a-b"), "_9a_b");
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
    }

    #[test]
    fn negotiation_follows_the_weights_of_the_accept_header() {
        use Format::{OpenMetrics as Om, Prometheus as Text};
        for (accept, want) in [
            // What Prometheus 2.x sends with exemplar storage on, and without it.
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                Om,
            ),
            ("text/plain;version=0.0.4;q=1,*/*;q=0.1", Text),
            // The protobuf format is not served: the text that follows it is.
            (
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                Text,
            ),
            ("Application/OpenMetrics-Text; Version=1.0.0", Om),
            ("application/*", Om),
            ("*/*", Text),
            ("", Text),
            ("application/json", Text),
            // A weight of zero refuses, wherever the range stands.
            ("application/openmetrics-text;q=0,text/plain", Text),
            ("application/openmetrics-text;q=0.000", Text),
            ("application/openmetrics-text;q=0", Text),
            // A higher weight wins either way; a tie goes to OpenMetrics.
            ("text/plain;q=1,application/openmetrics-text;q=0.9", Text),
            ("text/plain;q=0.5,application/openmetrics-text;q=0.501", Om),
            ("text/plain,application/openmetrics-text", Om),
            // A range with a malformed weight is dropped, not read as 1.
            ("application/openmetrics-text;q=2,text/plain;q=0.1", Text),
            ("application/openmetrics-text;q=0.5x,text/plain;q=0.1", Text),
            ("application/openmetrics-text;q=1.0000", Text),
            ("application/openmetrics-text;q=1.000", Om),
            (
                "application/openmetrics-text; q = 0.3 , text/plain;q=0.2",
                Om,
            ),
        ] {
            assert_eq!(Format::negotiate(Some(accept)), want, "{accept}");
        }
        assert_eq!(Format::negotiate(None), Text);
    }

    proptest::proptest! {
        /// Any header is read without a panic, and a range of weight zero changes nothing.
        #[test]
        fn a_refused_range_changes_nothing(accept in "[ -~]{0,80}") {
            let chosen = Format::negotiate(Some(&accept));
            let refused = format!("{accept},application/openmetrics-text;q=0,text/plain;q=0");
            proptest::prop_assert_eq!(Format::negotiate(Some(&refused)), chosen);
        }
    }
}
