//! The metric registry behind the `metrics` facade: counters, gauges, histograms with
//! exemplars, cardinality caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::MetricsConfig;

/// How many facade keys are remembered in the lookup cache at most (overflowing keys beyond
/// this are folded again on each registration instead of being remembered).
const MAX_CACHED_KEYS: usize = 100_000;

/// The label of the series that overflowing label sets fold into.
pub(crate) const OVERFLOW_LABEL: (&str, &str) = ("otel_metric_overflow", "true");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exemplar: the trace of a sampled span an observation was made in.
#[derive(Debug, Clone)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: stella_context::TraceId,
    pub(crate) value: f64,
    pub(crate) timestamp: f64,
}

#[derive(Debug)]
pub(crate) struct Hist {
    pub(crate) bounds: Arc<[f64]>,
    pub(crate) counts: Box<[AtomicU64]>,
    pub(crate) sum: AtomicU64,
    pub(crate) count: AtomicU64,
    pub(crate) exemplars: Box<[Mutex<Option<Exemplar>>]>,
}

/// The value cell of one series.
#[derive(Debug)]
pub(crate) enum Cell {
    Counter(AtomicU64),
    Gauge(AtomicU64),
    Histogram(Hist),
}

fn add_f64(a: &AtomicU64, d: f64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + d).to_bits())
    });
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        if let Cell::Counter(c) = self {
            c.fetch_add(value, Ordering::Relaxed);
        }
    }

    fn absolute(&self, value: u64) {
        if let Cell::Counter(c) = self {
            c.fetch_max(value, Ordering::Relaxed);
        }
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        if let Cell::Gauge(g) = self {
            add_f64(g, value);
        }
    }

    fn decrement(&self, value: f64) {
        if let Cell::Gauge(g) = self {
            add_f64(g, -value);
        }
    }

    fn set(&self, value: f64) {
        if let Cell::Gauge(g) = self {
            g.store(value.to_bits(), Ordering::Relaxed);
        }
    }
}

impl HistogramFn for Cell {
    fn record(&self, value: f64) {
        let Cell::Histogram(h) = self else { return };
        if value.is_nan() {
            return;
        }
        let idx = h.bounds.partition_point(|b| *b < value);
        if let Some(c) = h.counts.get(idx) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&h.sum, value);
        h.count.fetch_add(1, Ordering::Relaxed);
        if let Some(trace_id) = super::exemplar::sampled_trace_id()
            && let Some(slot) = h.exemplars.get(idx)
        {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(Exemplar {
                trace_id,
                value,
                timestamp: super::exemplar::now_secs(),
            });
        }
    }
}

/// All series of one metric name.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) kind: Kind,
    pub(crate) series: HashMap<Vec<(String, String)>, Arc<Cell>>,
    pub(crate) overflow: Option<Arc<Cell>>,
    pub(crate) overflowed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Description {
    pub(crate) unit: Option<Unit>,
    pub(crate) help: String,
}

/// Hashes a `metrics::Key` by the hash it carries (`Key`'s `Hash` writes only that `u64`), so
/// a lookup does not hash its name and labels again; anything else goes through FNV-1a.
#[derive(Debug, Default, Clone, Copy)]
struct KeyIdHasher(u64);

impl std::hash::Hasher for KeyIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = crate::hash::fnv1a(self.0, bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash a `metrics::Key` carries (its `Hash` writes only that `u64`).
fn key_hash(key: &Key) -> u64 {
    use std::hash::BuildHasher as _;
    std::hash::BuildHasherDefault::<KeyIdHasher>::default().hash_one(key)
}

/// Whether two keys of one hash are the same key: their name and labels in the same order
/// compared pairwise first (a call site builds them in one order, mostly from static texts,
/// recognised at the same address without reading them), else `Key`'s own comparison, which
/// ignores the labels' order (sorting both sides' labels for three or more).
fn same_key(a: &Key, b: &Key) -> bool {
    let (la, lb) = (a.labels(), b.labels());
    (la.len() == lb.len()
        && same_str(a.name(), b.name())
        && la
            .zip(lb)
            .all(|(x, y)| same_str(x.key(), y.key()) && same_str(x.value(), y.value())))
        || a == b
}

/// Whether two texts are equal, without reading them when they are at one address.
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

/// A facade key and its cell.
type CachedKey = (Key, Arc<Cell>);

#[derive(Debug, Default)]
struct Inner {
    /// The cells of the facade keys seen, by the keys' hash.
    cache: HashMap<u64, Vec<CachedKey>, std::hash::BuildHasherDefault<KeyIdHasher>>,
    /// How many keys `cache` holds.
    cached: usize,
    families: HashMap<String, Family>,
    descriptions: HashMap<String, Description>,
}

impl Inner {
    /// The cell remembered for `key` (of hash `hash`).
    fn cached(&self, hash: u64, key: &Key) -> Option<&Arc<Cell>> {
        self.cache
            .get(&hash)?
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, c)| c)
    }
}

/// The registry: a `metrics::Recorder`.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: RwLock<Inner>,
    pub(crate) config: MetricsConfig,
    /// Scrubs label values when a series is created (once per label set, not per update).
    scrubber: Option<stella_scrub::Scrubber>,
}

impl Registry {
    pub(crate) fn new(config: MetricsConfig) -> Self {
        let registry = Registry {
            inner: RwLock::new(Inner::default()),
            config,
            scrubber: None,
        };
        for (name, unit, help) in super::golden::DESCRIPTIONS {
            registry.describe(name, Some(*unit), help);
        }
        registry
    }

    /// The same registry scrubbing the label values of the series it creates with `scrubber`
    /// (key-aware: a `password` label's value is redacted whole, an e-mail address in any
    /// label is redacted). Label sets that scrub to the same text share one series.
    pub(crate) fn with_scrubber(mut self, scrubber: stella_scrub::Scrubber) -> Self {
        self.scrubber = Some(scrubber);
        self
    }

    fn describe(&self, name: &str, unit: Option<Unit>, help: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.descriptions.insert(
            name.to_owned(),
            Description {
                unit,
                help: help.to_owned(),
            },
        );
    }

    fn new_cell(&self, name: &str, kind: Kind) -> Cell {
        match kind {
            Kind::Counter => Cell::Counter(AtomicU64::new(0)),
            Kind::Gauge => Cell::Gauge(AtomicU64::new(0f64.to_bits())),
            Kind::Histogram => {
                let bounds = self.config.buckets_for(name);
                let n = bounds.len() + 1;
                Cell::Histogram(Hist {
                    bounds,
                    counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                    sum: AtomicU64::new(0f64.to_bits()),
                    count: AtomicU64::new(0),
                    exemplars: (0..n).map(|_| Mutex::new(None)).collect(),
                })
            }
        }
    }

    /// The cell of `key`, created on first use; `None` when the name is taken by another kind.
    fn cell(&self, key: &Key, kind: Kind) -> Option<Arc<Cell>> {
        let hash = key_hash(key);
        {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = inner.cached(hash, key) {
                return Some(Arc::clone(c));
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = inner.cached(hash, key) {
            return Some(Arc::clone(c));
        }
        let name = key.name().to_owned();
        // The series' identity is its label set as exposed: tenants mapped to the configured
        // ones, other values scrubbed (so two raw values that scrub alike are one series).
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| {
                let v = if self.config.is_tenant_label(l.key()) {
                    self.config.tenant_value(l.value()).to_owned()
                } else if let Some(s) = &self.scrubber {
                    s.scrub_field(l.key(), l.value()).into_owned()
                } else {
                    l.value().to_owned()
                };
                (l.key().to_owned(), v)
            })
            .collect();
        let max = self.config.max_series;
        let cell = {
            let family = inner
                .families
                .entry(name.clone())
                .or_insert_with(|| Family {
                    kind,
                    series: HashMap::new(),
                    overflow: None,
                    overflowed: 0,
                });
            if family.kind != kind {
                return None;
            }
            if let Some(existing) = family.series.get(&labels) {
                Arc::clone(existing)
            } else if family.series.len() < max {
                let cell = Arc::new(self.new_cell(&name, kind));
                family.series.insert(labels, Arc::clone(&cell));
                cell
            } else {
                family.overflowed += 1;
                match &family.overflow {
                    Some(c) => Arc::clone(c),
                    None => {
                        let c = Arc::new(self.new_cell(&name, kind));
                        family.overflow = Some(Arc::clone(&c));
                        c
                    }
                }
            }
        };
        if inner.cached < MAX_CACHED_KEYS {
            inner
                .cache
                .entry(hash)
                .or_default()
                .push((key.clone(), Arc::clone(&cell)));
            inner.cached += 1;
        }
        Some(cell)
    }

    /// Sets a gauge directly (the library's own gauges).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn set_gauge(
        &self,
        name: &'static str,
        labels: &[(&'static str, &'static str)],
        value: f64,
    ) {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::from_static_parts(k, v))
            .collect();
        let key = Key::from_parts(name, labels);
        if let Some(c) = self.cell(&key, Kind::Gauge) {
            GaugeFn::set(&*c, value);
        }
    }

    /// Runs `f` over every family with its description, sorted by name.
    pub(crate) fn visit(&self, mut f: impl FnMut(&str, &Family, Option<&Description>)) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = inner.families.keys().collect();
        names.sort_unstable();
        for name in names {
            if let Some(family) = inner.families.get(name) {
                f(name, family, inner.descriptions.get(name));
            }
        }
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.cell(key, Kind::Counter)
            .map_or_else(Counter::noop, Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.cell(key, Kind::Gauge)
            .map_or_else(Gauge::noop, Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.cell(key, Kind::Histogram)
            .map_or_else(Histogram::noop, Histogram::from_arc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts("stella.test.duration", labels)
    }

    #[test]
    fn cached_keys_ignore_label_order() {
        let r = Registry::new(MetricsConfig::new());
        let a = key(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let b = key(&[("c", "3"), ("a", "1"), ("b", "2")]);
        let other = key(&[("a", "1"), ("b", "2"), ("c", "4")]);
        let ca = r.cell(&a, Kind::Histogram);
        let ca2 = r.cell(&key(&[("a", "1"), ("b", "2"), ("c", "3")]), Kind::Histogram);
        let cb = r.cell(&b, Kind::Histogram);
        let co = r.cell(&other, Kind::Histogram);
        let (Some(ca), Some(ca2), Some(cb), Some(co)) = (ca, ca2, cb, co) else {
            panic!("histogram cells");
        };
        assert!(Arc::ptr_eq(&ca, &ca2));
        assert!(Arc::ptr_eq(&ca, &cb));
        assert!(!Arc::ptr_eq(&ca, &co));
        assert!(same_key(&a, &b) && !same_key(&a, &other));
        let mut series = 0;
        r.visit(|_, f, _| series += f.series.len());
        assert_eq!(series, 2);
    }

    #[test]
    fn label_values_are_scrubbed_once_per_series_and_alike_values_share_one() {
        let r = Registry::new(MetricsConfig::new())
            .with_scrubber(stella_scrub::Scrubber::builder().build().unwrap());
        let alice = r.cell(&key(&[("user", "alice@example.com")]), Kind::Counter);
        let bob = r.cell(&key(&[("user", "bob@example.com")]), Kind::Counter);
        let secret = r.cell(&key(&[("password", "hunter2")]), Kind::Counter);
        let plain = r.cell(&key(&[("route", "/tenants/{tenant}")]), Kind::Counter);
        // A route under a file-system root is a route, not a path.
        let home = r.cell(&key(&[("http.route", "/home/{user}")]), Kind::Counter);
        let (Some(alice), Some(bob), Some(_), Some(_), Some(_)) = (alice, bob, secret, plain, home)
        else {
            panic!("counter cells");
        };
        assert!(
            Arc::ptr_eq(&alice, &bob),
            "one series for both redacted values"
        );
        let mut labels = Vec::new();
        r.visit(|_, f, _| labels.extend(f.series.keys().cloned()));
        labels.sort();
        let text = format!("{labels:?}");
        assert!(
            !text.contains("example.com") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(labels.len(), 4, "{text}");
        assert!(text.contains("/tenants/{tenant}"), "{text}");
        assert!(text.contains("/home/{user}"), "{text}");
    }
}
