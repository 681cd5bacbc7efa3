//! SLO specs in YAML: OpenSLO v1 (`kind: SLO`) and the compact native form.
//!
//! A file holds one or more YAML documents (separated by `---`). Each is either an OpenSLO v1
//! document (`apiVersion: openslo/v1`; only `kind: SLO` is read, other kinds are skipped with a
//! warning) or a native document with a `slos:` list. See the crate README for both forms.
//!
//! Errors name the source, the document and the path of the offending field
//! (`slos.yaml: document 1, line 5: slos[0].objective: objective must be strictly between 0 and 1,
//! got 1.5`); the line of a field is a best-effort lookup in block-style YAML;
//! YAML syntax errors name the line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::objective::{Factor, Objective};
use crate::policy::{AlertPolicy, AlertRule, Severity};
use crate::sli::{Buckets, LatencySli, RatioEvents, RatioSli, Selector, Sli};
use crate::slo::Slo;
use crate::window::Window;

/// Annotation (OpenSLO `metadata.annotations`) giving the histogram bucket bounds of a
/// latency SLI, comma-separated: `"0.5,1,2.5,5,10,+Inf"`.
pub const ANNOTATION_BUCKETS: &str = "stella.dev/histogram-buckets";
/// Annotation giving the SLO's tenant.
pub const ANNOTATION_TENANT: &str = "stella.dev/tenant";
/// Annotation giving the low-traffic guard (minimum events per alert window).
pub const ANNOTATION_MIN_EVENTS: &str = "stella.dev/min-events";

/// Why a spec was rejected: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {location}{message}")]
pub struct SpecError {
    source_name: String,
    location: String,
    message: String,
    line: Option<usize>,
    path: String,
}

impl SpecError {
    /// The 1-based line: exact for YAML syntax errors, a best-effort lookup of the field for
    /// the others (block-style YAML).
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The path of the offending field (`slos[0].objective`), empty for syntax errors.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Something accepted but worth knowing (conservative latency buckets, skipped documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning {
    /// Where: `source: document N: path`.
    pub location: String,
    /// What.
    pub message: String,
}

impl fmt::Display for SpecWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The SLOs of one or more spec files, plus warnings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Specs {
    /// The SLOs, in file order.
    pub slos: Vec<Slo>,
    /// Warnings, in file order.
    pub warnings: Vec<SpecWarning>,
}

/// Parses SLO specs from YAML text; `source_name` names the text in messages.
///
/// # Errors
///
/// [`SpecError`] for malformed YAML (with line and column), a document that is neither form,
/// a missing or invalid field (objective outside (0, 1), unknown window, bucket bounds not
/// increasing, bad selector, ...), or duplicate SLO names.
///
/// # Examples
///
/// ```
/// let yaml = r#"
/// slos:
///   - name: policy-evaluation-latency
///     service: policy-engine
///     objective: 0.95
///     sli:
///       latency:
///         histogram: policy_evaluation_duration_seconds
///         threshold: 2
///         buckets: ["0.5", "1", "2", "5", "+Inf"]
/// "#;
/// let specs = stella_slo::spec::parse_str("inline", yaml)?;
/// assert_eq!(specs.slos[0].name(), "policy-evaluation-latency");
///
/// let err = stella_slo::spec::parse_str("inline", &yaml.replace("0.95", "1.5")).unwrap_err();
/// assert!(err.to_string().contains("slos[0].objective"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_str(source_name: &str, text: &str) -> Result<Specs, SpecError> {
    let mut out = Specs::default();
    // Line lookup assumes documents are separated by `---` lines (best effort). Never collect
    // the deserializer's documents: after a syntax error it keeps yielding.
    let mut split = documents(text).into_iter();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let cx = Cx {
            source: source_name,
            doc: i + 1,
            lines: split.next(),
        };
        let value = Value::deserialize(doc).map_err(|e| cx.syntax(&e))?;
        if value.is_null() {
            continue;
        }
        cx.document(&value, &mut out)?;
    }
    for (i, s) in out.slos.iter().enumerate() {
        if out.slos.iter().take(i).any(|o| o.name() == s.name()) {
            return Err(SpecError {
                source_name: source_name.to_owned(),
                location: String::new(),
                message: format!("duplicate SLO name {:?}", s.name()),
                line: None,
                path: String::new(),
            });
        }
    }
    Ok(out)
}

/// Reads and parses one spec file.
///
/// # Errors
///
/// As [`parse_str`], plus a [`SpecError`] when the file cannot be read.
pub fn parse_file(path: &Path) -> Result<Specs, SpecError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        source_name: name.clone(),
        location: String::new(),
        message: format!("cannot read: {e}"),
        line: None,
        path: String::new(),
    })?;
    parse_str(&name, &text)
}

struct Cx<'a> {
    source: &'a str,
    doc: usize,
    /// The document's lines (with their 1-based line number in the file), when the document
    /// boundaries could be found; used to give semantic errors a line.
    lines: Option<Vec<(usize, &'a str)>>,
}

/// Splits `text` into documents at `---` lines, each with its lines and their numbers.
fn documents(text: &str) -> Vec<Vec<(usize, &str)>> {
    let mut docs: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            if seen_content || docs.len() > 1 {
                docs.push(Vec::new());
            }
            seen_content = true;
            continue;
        }
        if !t.trim_start().is_empty() && !t.trim_start().starts_with('#') {
            seen_content = true;
        }
        if let Some(d) = docs.last_mut() {
            d.push((i + 1, line));
        }
    }
    docs
}

/// Finds the line of a field path (`slos[0].sli.latency.buckets`) in block-style YAML: a
/// best-effort lookup that falls back to the deepest ancestor found.
fn locate(lines: &[(usize, &str)], path: &str) -> Option<usize> {
    enum Seg<'p> {
        Key(&'p str),
        Index(usize),
    }
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (part.get(..i).unwrap_or(""), part.get(i..).unwrap_or("")),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            segs.push(Seg::Index(r.get(..end)?.parse().ok()?));
            rest = r.get(end + 1..).unwrap_or("");
        }
    }
    let parsed: Vec<(usize, usize, &str)> = lines
        .iter()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(n, l)| (*n, l.len() - l.trim_start().len(), l.trim_start()))
        .collect();
    let mut pos = 0usize;
    let mut parent: isize = -1;
    let mut found = None;
    for seg in segs {
        let mut hit = None;
        let mut seen_items = 0usize;
        for (i, (n, indent, content)) in parsed.iter().enumerate().skip(pos) {
            let indent = *indent as isize;
            if indent <= parent && i != pos {
                break;
            }
            match seg {
                Seg::Key(k) => {
                    let (eff, body) = match content.strip_prefix("- ") {
                        Some(b) => (indent + 2, b.trim_start()),
                        None => (indent, *content),
                    };
                    if eff > parent && body.strip_prefix(k).is_some_and(|r| r.starts_with(':')) {
                        hit = Some((i, eff, *n));
                        break;
                    }
                }
                Seg::Index(want) => {
                    if content.starts_with('-') && indent > parent {
                        if seen_items == want {
                            hit = Some((i, indent, *n));
                            break;
                        }
                        seen_items += 1;
                    }
                }
            }
        }
        let Some((i, eff, n)) = hit else { break };
        found = Some(n);
        pos = match seg {
            Seg::Key(_) => i + 1,
            Seg::Index(_) => i,
        };
        parent = eff;
    }
    found
}

type R<T> = Result<T, SpecError>;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Cx<'_> {
    fn err(&self, path: &str, message: impl fmt::Display) -> SpecError {
        let line = self.lines.as_deref().and_then(|l| locate(l, path));
        SpecError {
            source_name: self.source.to_owned(),
            location: format!(
                "document {}{}: {}: ",
                self.doc,
                line.map(|n| format!(", line {n}")).unwrap_or_default(),
                if path.is_empty() { "(root)" } else { path }
            ),
            message: message.to_string(),
            line,
            path: path.to_owned(),
        }
    }

    fn syntax(&self, e: &serde_yaml::Error) -> SpecError {
        let line = e.location().map(|l| l.line());
        SpecError {
            source_name: self.source.to_owned(),
            location: match e.location() {
                Some(l) => format!("line {} column {}: ", l.line(), l.column()),
                None => format!("document {}: ", self.doc),
            },
            message: format!("malformed YAML: {e}"),
            line,
            path: String::new(),
        }
    }

    fn warn(&self, out: &mut Specs, path: &str, message: String) {
        out.warnings.push(SpecWarning {
            location: format!("{}: document {}: {}", self.source, self.doc, path),
            message,
        });
    }

    fn map<'v>(&self, v: &'v Value, path: &str) -> R<&'v Mapping> {
        v.as_mapping()
            .ok_or_else(|| self.err(path, "expected a mapping"))
    }

    fn get<'v>(&self, m: &'v Mapping, key: &str) -> Option<&'v Value> {
        m.get(key).filter(|v| !v.is_null())
    }

    fn req<'v>(&self, m: &'v Mapping, key: &str, path: &str) -> R<&'v Value> {
        self.get(m, key)
            .ok_or_else(|| self.err(&join(path, key), "required field is missing"))
    }

    fn string(&self, v: &Value, path: &str) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.err(path, "expected a string")),
        }
    }

    fn req_str(&self, m: &Mapping, key: &str, path: &str) -> R<String> {
        self.string(self.req(m, key, path)?, &join(path, key))
    }

    fn opt_str(&self, m: &Mapping, key: &str, path: &str) -> R<Option<String>> {
        self.get(m, key)
            .map(|v| self.string(v, &join(path, key)))
            .transpose()
    }

    fn number(&self, v: &Value, path: &str) -> R<f64> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.err(path, "expected a number")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| self.err(path, format!("expected a number, got {s:?}"))),
            _ => Err(self.err(path, "expected a number")),
        }
    }

    fn only_keys(&self, m: &Mapping, allowed: &[&str], path: &str) -> R<()> {
        for k in m.keys() {
            let k = k.as_str().unwrap_or("?");
            if !allowed.contains(&k) {
                return Err(self.err(
                    &join(path, k),
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn objective(&self, v: &Value, path: &str) -> R<Objective> {
        match v {
            Value::String(s) => s.parse().map_err(|e| self.err(path, e)),
            _ => Objective::new(self.number(v, path)?).map_err(|e| self.err(path, e)),
        }
    }

    fn window(&self, v: &Value, path: &str) -> R<Window> {
        self.string(v, path)?.parse().map_err(|e| self.err(path, e))
    }

    fn selector(&self, v: &Value, path: &str) -> R<Selector> {
        self.string(v, path)?.parse().map_err(|e| self.err(path, e))
    }

    fn seconds(&self, v: &Value, path: &str) -> R<f64> {
        if let Value::String(s) = v {
            let t = s.trim();
            let parsed = if let Some(ms) = t.strip_suffix("ms") {
                ms.trim().parse::<f64>().ok().map(|x| x / 1000.0)
            } else if let Some(sec) = t.strip_suffix('s') {
                sec.trim().parse::<f64>().ok()
            } else {
                t.parse::<f64>().ok()
            };
            return parsed.ok_or_else(|| {
                self.err(
                    path,
                    format!("expected seconds (2, 2.5, \"2s\", \"500ms\"), got {s:?}"),
                )
            });
        }
        self.number(v, path)
    }

    fn buckets(&self, v: &Value, path: &str) -> R<Buckets> {
        let texts: Vec<String> = match v {
            Value::Sequence(seq) => seq
                .iter()
                .enumerate()
                .map(|(i, b)| match b {
                    Value::Number(n) if n.as_f64().is_some_and(f64::is_infinite) => {
                        Ok("+Inf".to_owned())
                    }
                    _ => self.string(b, &format!("{path}[{i}]")),
                })
                .collect::<R<_>>()?,
            Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
            _ => return Err(self.err(path, "expected a list of bucket bounds")),
        };
        Buckets::parse(&texts).map_err(|e| self.err(path, e))
    }

    fn document(&self, v: &Value, out: &mut Specs) -> R<()> {
        let m = self.map(v, "")?;
        if let Some(api) = self.get(m, "apiVersion") {
            let api = self.string(api, "apiVersion")?;
            if api != "openslo/v1" {
                return Err(self.err(
                    "apiVersion",
                    format!("unsupported apiVersion {api:?}; expected openslo/v1"),
                ));
            }
            let kind = self.req_str(m, "kind", "")?;
            if kind != "SLO" {
                self.warn(
                    out,
                    "kind",
                    format!("skipped OpenSLO kind {kind:?}: only kind SLO is read"),
                );
                return Ok(());
            }
            let slo = self.openslo(m, out)?;
            out.slos.push(slo);
            return Ok(());
        }
        if let Some(list) = self.get(m, "slos") {
            self.only_keys(m, &["slos"], "")?;
            let seq = list
                .as_sequence()
                .ok_or_else(|| self.err("slos", "expected a list"))?;
            for (i, item) in seq.iter().enumerate() {
                let slo = self.native(item, &format!("slos[{i}]"), out)?;
                out.slos.push(slo);
            }
            return Ok(());
        }
        Err(self.err(
            "",
            "expected an OpenSLO v1 document (apiVersion: openslo/v1, kind: SLO) or a native document with a `slos` list",
        ))
    }

    // === native form ===

    fn native(&self, v: &Value, path: &str, out: &mut Specs) -> R<Slo> {
        let m = self.map(v, path)?;
        self.only_keys(
            m,
            &[
                "name",
                "service",
                "tenant",
                "description",
                "objective",
                "period",
                "sli",
                "alerting",
                "labels",
            ],
            path,
        )?;
        let name = self.req_str(m, "name", path)?;
        let service = self.req_str(m, "service", path)?;
        let objective =
            self.objective(self.req(m, "objective", path)?, &join(path, "objective"))?;
        let period = match self.get(m, "period") {
            Some(p) => self.window(p, &join(path, "period"))?,
            None => Window::THIRTY_DAYS,
        };
        let sli_path = join(path, "sli");
        let sli_map = self.map(self.req(m, "sli", path)?, &sli_path)?;
        self.only_keys(sli_map, &["ratio", "latency"], &sli_path)?;
        let sli = match (self.get(sli_map, "ratio"), self.get(sli_map, "latency")) {
            (Some(r), None) => {
                let p = join(&sli_path, "ratio");
                let rm = self.map(r, &p)?;
                self.only_keys(rm, &["total", "good", "bad"], &p)?;
                let total = self.selector(self.req(rm, "total", &p)?, &join(&p, "total"))?;
                let events = match (self.get(rm, "good"), self.get(rm, "bad")) {
                    (Some(g), None) => RatioEvents::Good(self.selector(g, &join(&p, "good"))?),
                    (None, Some(b)) => RatioEvents::Bad(self.selector(b, &join(&p, "bad"))?),
                    _ => return Err(self.err(&p, "give exactly one of `good` or `bad`")),
                };
                Sli::Ratio(RatioSli::new(total, events))
            }
            (None, Some(l)) => {
                let p = join(&sli_path, "latency");
                let lm = self.map(l, &p)?;
                self.only_keys(lm, &["histogram", "threshold", "buckets"], &p)?;
                let h = self.selector(self.req(lm, "histogram", &p)?, &join(&p, "histogram"))?;
                let t = self.seconds(self.req(lm, "threshold", &p)?, &join(&p, "threshold"))?;
                let b = self.buckets(self.req(lm, "buckets", &p)?, &join(&p, "buckets"))?;
                let sli =
                    LatencySli::new(h, b, t).map_err(|e| self.err(&join(&p, "threshold"), e))?;
                if let Some(w) = sli.warning() {
                    self.warn(out, &join(&p, "threshold"), w);
                }
                Sli::Latency(sli)
            }
            _ => return Err(self.err(&sli_path, "give exactly one of `ratio` or `latency`")),
        };
        let mut b = Slo::builder(&name, &service, sli)
            .with_objective(objective)
            .with_period(period);
        if let Some(t) = self.opt_str(m, "tenant", path)? {
            b = b.with_tenant(&t);
        }
        if let Some(d) = self.opt_str(m, "description", path)? {
            b = b.with_description(&d);
        }
        if let Some(labels) = self.get(m, "labels") {
            let lp = join(path, "labels");
            for (k, v) in self.map(labels, &lp)? {
                let k = self.string(k, &lp)?;
                let v = self.string(v, &join(&lp, &k))?;
                b = b.with_label(&k, &v);
            }
        }
        if let Some(a) = self.get(m, "alerting") {
            let ap = join(path, "alerting");
            let am = self.map(a, &ap)?;
            self.only_keys(am, &["min_events", "rules"], &ap)?;
            if let Some(n) = self.get(am, "min_events") {
                let np = join(&ap, "min_events");
                let n = n
                    .as_u64()
                    .ok_or_else(|| self.err(&np, "expected a non-negative integer"))?;
                b = b.with_min_events(n);
            }
            if let Some(rules) = self.get(am, "rules") {
                let rp = join(&ap, "rules");
                let seq = rules
                    .as_sequence()
                    .ok_or_else(|| self.err(&rp, "expected a list"))?;
                let rules = seq
                    .iter()
                    .enumerate()
                    .map(|(i, r)| self.rule(r, &format!("{rp}[{i}]"), period))
                    .collect::<R<Vec<_>>>()?;
                let policy = AlertPolicy::new(rules, 0).map_err(|e| self.err(&rp, e))?;
                b = b.with_policy(policy);
            }
        }
        b.build().map_err(|e| self.err(path, e))
    }

    fn rule(&self, v: &Value, path: &str, period: Window) -> R<AlertRule> {
        let m = self.map(v, path)?;
        self.only_keys(
            m,
            &[
                "name",
                "severity",
                "long",
                "short",
                "factor",
                "budget_consumed",
            ],
            path,
        )?;
        let name = self.req_str(m, "name", path)?;
        let severity = match self.req_str(m, "severity", path)?.as_str() {
            "page" => Severity::Page,
            "ticket" => Severity::Ticket,
            s => {
                return Err(self.err(
                    &join(path, "severity"),
                    format!("unknown severity {s:?}; expected page or ticket"),
                ));
            }
        };
        let long = self.window(self.req(m, "long", path)?, &join(path, "long"))?;
        let short = self.window(self.req(m, "short", path)?, &join(path, "short"))?;
        match (self.get(m, "factor"), self.get(m, "budget_consumed")) {
            (Some(f), None) => {
                let fp = join(path, "factor");
                let f: Factor = match f {
                    Value::String(s) => s.parse().map_err(|e| self.err(&fp, e))?,
                    _ => Factor::new(self.number(f, &fp)?).map_err(|e| self.err(&fp, e))?,
                };
                AlertRule::new(&name, severity, long, short, f).map_err(|e| self.err(path, e))
            }
            (None, Some(c)) => {
                let c = self.string(c, &join(path, "budget_consumed"))?;
                AlertRule::from_budget_consumed(&name, severity, long, short, &c, period)
                    .map_err(|e| self.err(path, e))
            }
            _ => Err(self.err(path, "give exactly one of `factor` or `budget_consumed`")),
        }
    }

    // === OpenSLO v1 ===

    fn metric_source(&self, v: &Value, path: &str) -> R<Selector> {
        let m = self.map(v, path)?;
        let ms_path = join(path, "metricSource");
        let ms = self.map(self.req(m, "metricSource", path)?, &ms_path)?;
        if let Some(t) = self.opt_str(ms, "type", &ms_path)?
            && !t.eq_ignore_ascii_case("prometheus")
        {
            return Err(self.err(
                &join(&ms_path, "type"),
                format!("unsupported metric source type {t:?}; expected Prometheus"),
            ));
        }
        let sp = join(&ms_path, "spec");
        let spec = self.map(self.req(ms, "spec", &ms_path)?, &sp)?;
        self.selector(self.req(spec, "query", &sp)?, &join(&sp, "query"))
    }

    fn openslo(&self, m: &Mapping, out: &mut Specs) -> R<Slo> {
        let meta = self.map(self.req(m, "metadata", "")?, "metadata")?;
        let name = self.req_str(meta, "name", "metadata")?;
        let mut annotations: BTreeMap<String, String> = BTreeMap::new();
        if let Some(a) = self.get(meta, "annotations") {
            for (k, v) in self.map(a, "metadata.annotations")? {
                let k = self.string(k, "metadata.annotations")?;
                let v = self.string(v, &format!("metadata.annotations.{k}"))?;
                annotations.insert(k, v);
            }
        }
        let spec = self.map(self.req(m, "spec", "")?, "spec")?;
        let service = self.req_str(spec, "service", "spec")?;
        if self.get(spec, "indicatorRef").is_some() {
            return Err(self.err(
                "spec.indicatorRef",
                "indicatorRef is not supported; inline the SLI under spec.indicator",
            ));
        }
        if let Some(bm) = self.opt_str(spec, "budgetingMethod", "spec")?
            && bm != "Occurrences"
        {
            return Err(self.err(
                "spec.budgetingMethod",
                format!("unsupported budgetingMethod {bm:?}; only Occurrences"),
            ));
        }
        let period = match self.get(spec, "timeWindow") {
            None => Window::THIRTY_DAYS,
            Some(tw) => {
                let seq = tw
                    .as_sequence()
                    .ok_or_else(|| self.err("spec.timeWindow", "expected a list"))?;
                let [w] = seq.as_slice() else {
                    return Err(self.err("spec.timeWindow", "expected exactly one time window"));
                };
                let wm = self.map(w, "spec.timeWindow[0]")?;
                if let Some(Value::Bool(false)) = self.get(wm, "isRolling") {
                    return Err(self.err(
                        "spec.timeWindow[0].isRolling",
                        "calendar windows are not supported; use isRolling: true",
                    ));
                }
                self.window(
                    self.req(wm, "duration", "spec.timeWindow[0]")?,
                    "spec.timeWindow[0].duration",
                )?
            }
        };
        let objs = self
            .req(spec, "objectives", "spec")?
            .as_sequence()
            .ok_or_else(|| self.err("spec.objectives", "expected a list"))?;
        let [obj] = objs.as_slice() else {
            return Err(self.err(
                "spec.objectives",
                "exactly one objective is supported per SLO",
            ));
        };
        let op_path = "spec.objectives[0]";
        let om = self.map(obj, op_path)?;
        let objective = match (self.get(om, "target"), self.get(om, "targetPercent")) {
            (Some(t), None) => self.objective(t, &join(op_path, "target"))?,
            (None, Some(p)) => {
                let pp = join(op_path, "targetPercent");
                let pct = self.number(p, &pp)?;
                let as_text = format!("{pct}");
                // Exact: shift the decimal point two places.
                let r = crate::ratio::Ratio::parse_decimal(&as_text)
                    .and_then(|r| r.checked_div(crate::ratio::Ratio::new(100, 1)?))
                    .ok_or_else(|| self.err(&pp, format!("invalid targetPercent {pct}")))?;
                r.to_decimal_string()
                    .parse()
                    .map_err(|e| self.err(&pp, e))?
            }
            _ => return Err(self.err(op_path, "give exactly one of `target` or `targetPercent`")),
        };
        let ind = self.map(self.req(spec, "indicator", "spec")?, "spec.indicator")?;
        let isp = self.map(
            self.req(ind, "spec", "spec.indicator")?,
            "spec.indicator.spec",
        )?;
        let sli = match (
            self.get(isp, "ratioMetric"),
            self.get(isp, "thresholdMetric"),
        ) {
            (Some(r), None) => {
                let p = "spec.indicator.spec.ratioMetric";
                let rm = self.map(r, p)?;
                if let Some(Value::Bool(false)) = self.get(rm, "counter") {
                    return Err(self.err(
                        &join(p, "counter"),
                        "only counter: true ratio metrics are supported",
                    ));
                }
                if self.get(rm, "raw").is_some() {
                    return Err(self.err(
                        &join(p, "raw"),
                        "raw ratio metrics are not supported; use good/bad and total",
                    ));
                }
                let total = self.metric_source(self.req(rm, "total", p)?, &join(p, "total"))?;
                let events = match (self.get(rm, "good"), self.get(rm, "bad")) {
                    (Some(g), None) => RatioEvents::Good(self.metric_source(g, &join(p, "good"))?),
                    (None, Some(b)) => RatioEvents::Bad(self.metric_source(b, &join(p, "bad"))?),
                    _ => return Err(self.err(p, "give exactly one of `good` or `bad`")),
                };
                Sli::Ratio(RatioSli::new(total, events))
            }
            (None, Some(t)) => {
                let p = "spec.indicator.spec.thresholdMetric";
                let h = self.metric_source(t, p)?;
                let op = self
                    .opt_str(om, "op", op_path)?
                    .unwrap_or_else(|| "lte".to_owned());
                if op != "lt" && op != "lte" {
                    return Err(self.err(
                        &join(op_path, "op"),
                        format!("latency SLIs need op lt or lte, got {op:?}"),
                    ));
                }
                let t = self.seconds(self.req(om, "value", op_path)?, &join(op_path, "value"))?;
                let bp = format!("metadata.annotations.{ANNOTATION_BUCKETS}");
                let bt = annotations
                    .get(ANNOTATION_BUCKETS)
                    .ok_or_else(|| self.err(&bp, "a thresholdMetric over a histogram needs its bucket bounds in this annotation"))?;
                let b = self.buckets(&Value::String(bt.clone()), &bp)?;
                let sli =
                    LatencySli::new(h, b, t).map_err(|e| self.err(&join(op_path, "value"), e))?;
                if let Some(w) = sli.warning() {
                    self.warn(out, &join(op_path, "value"), w);
                }
                Sli::Latency(sli)
            }
            _ => {
                return Err(self.err(
                    "spec.indicator.spec",
                    "give exactly one of ratioMetric or thresholdMetric",
                ));
            }
        };
        if self.get(spec, "alertPolicies").is_some() {
            self.warn(
                out,
                "spec.alertPolicies",
                "alertPolicies are ignored; the multi-window burn-rate policy scaled to the period applies".to_owned(),
            );
        }
        let mut b = Slo::builder(&name, &service, sli)
            .with_objective(objective)
            .with_period(period);
        if let Some(d) = self.opt_str(spec, "description", "spec")? {
            b = b.with_description(&d);
        }
        if let Some(t) = annotations.get(ANNOTATION_TENANT) {
            b = b.with_tenant(t);
        }
        if let Some(n) = annotations.get(ANNOTATION_MIN_EVENTS) {
            let n = n.trim().parse().map_err(|_| {
                self.err(
                    &format!("metadata.annotations.{ANNOTATION_MIN_EVENTS}"),
                    "expected a non-negative integer",
                )
            })?;
            b = b.with_min_events(n);
        }
        b.build().map_err(|e| self.err("", e))
    }
}
