//! Rate limits for info, debug and trace records: per call site and per tenant.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use tracing_core::callsite::Identifier;

/// How many shards each limiter table has.
const SHARDS: usize = 16;
/// How many keys one shard tracks before new keys share one overflow window.
const KEYS_PER_SHARD: usize = 1024;

/// Rate limits for info, debug and trace records. Error and warn records and decision logs are
/// never limited.
///
/// Each limit is a cap per fixed window: at most `n` records per call site (one `info!` line in
/// the source) and at most `m` records per tenant in each window. What goes over is counted
/// (see [`LogStats`](crate::LogStats)) and reported in a summary line once per summary interval.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stella_telemetry::Sampling;
///
/// let s = Sampling::new()
///     .with_callsite_limit(100, Duration::from_secs(1))
///     .with_tenant_limit(1_000, Duration::from_secs(1))
///     .with_summary_interval(Duration::from_secs(60));
/// # let _ = s;
/// let off = Sampling::unlimited();
/// # let _ = off;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    callsite: Option<(u32, Duration)>,
    tenant: Option<(u32, Duration)>,
    summary_interval: Duration,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::new()
    }
}

impl Sampling {
    /// The defaults: 1 000 records per call site per second, 5 000 per tenant per second, a
    /// summary every 60 seconds.
    pub const fn new() -> Self {
        Sampling {
            callsite: Some((1_000, Duration::from_secs(1))),
            tenant: Some((5_000, Duration::from_secs(1))),
            summary_interval: Duration::from_secs(60),
        }
    }

    /// No rate limit at all (summaries still report queue drops).
    pub const fn unlimited() -> Self {
        Sampling {
            callsite: None,
            tenant: None,
            summary_interval: Duration::from_secs(60),
        }
    }

    /// At most `cap` records per call site per `window`.
    #[must_use]
    pub const fn with_callsite_limit(mut self, cap: u32, window: Duration) -> Self {
        self.callsite = Some((cap, window));
        self
    }

    /// No per-call-site limit.
    #[must_use]
    pub const fn without_callsite_limit(mut self) -> Self {
        self.callsite = None;
        self
    }

    /// At most `cap` records per tenant per `window`.
    #[must_use]
    pub const fn with_tenant_limit(mut self, cap: u32, window: Duration) -> Self {
        self.tenant = Some((cap, window));
        self
    }

    /// No per-tenant limit.
    #[must_use]
    pub const fn without_tenant_limit(mut self) -> Self {
        self.tenant = None;
        self
    }

    /// How often, at most, a summary line reports what was suppressed (default 60 s).
    #[must_use]
    pub const fn with_summary_interval(mut self, every: Duration) -> Self {
        self.summary_interval = every;
        self
    }

    /// The summary interval.
    pub const fn summary_interval(&self) -> Duration {
        self.summary_interval
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, l) in [("callsite", self.callsite), ("tenant", self.tenant)] {
            if let Some((_, w)) = l
                && w.is_zero()
            {
                return Err(format!("the {name} rate-limit window must be above zero"));
            }
        }
        if self.summary_interval.is_zero() {
            return Err("the summary interval must be above zero".to_owned());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    idx: u64,
    count: u32,
}

/// A fixed-window counter table keyed by `K`.
#[derive(Debug)]
struct Table<K> {
    cap: u32,
    window_nanos: u64,
    hasher: RandomState,
    shards: Vec<Mutex<Shard<K>>>,
}

#[derive(Debug)]
struct Shard<K> {
    map: HashMap<K, Window>,
    overflow: Window,
}

impl<K: Hash + Eq> Table<K> {
    fn new(cap: u32, window: Duration) -> Self {
        Table {
            cap,
            window_nanos: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        overflow: Window { idx: 0, count: 0 },
                    })
                })
                .collect(),
        }
    }

    /// Counts one record for `key` at `now_nanos`; false when over the cap.
    fn allow<Q>(&self, key: &Q, now_nanos: u64, to_owned: impl FnOnce(&Q) -> K) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = now_nanos / self.window_nanos;
        let h = usize::try_from(self.hasher.hash_one(key)).unwrap_or(0);
        let Some(shard) = self.shards.get(h % SHARDS) else {
            return true;
        };
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let Shard { map, overflow } = &mut *shard;
        let w = match map.get_mut(key) {
            Some(w) => w,
            None => {
                if map.len() >= KEYS_PER_SHARD {
                    map.retain(|_, w| w.idx == idx);
                }
                if map.len() >= KEYS_PER_SHARD {
                    overflow
                } else {
                    map.entry(to_owned(key)).or_insert(Window { idx, count: 0 })
                }
            }
        };
        if w.idx != idx {
            *w = Window { idx, count: 0 };
        }
        if w.count >= self.cap {
            return false;
        }
        w.count += 1;
        true
    }
}

/// The live limiters of one layer.
#[derive(Debug)]
pub(crate) struct Limiters {
    callsite: Option<Table<Identifier>>,
    tenant: Option<Table<Box<str>>>,
}

impl Limiters {
    pub(crate) fn new(s: &Sampling) -> Self {
        Limiters {
            callsite: s.callsite.map(|(c, w)| Table::new(c, w)),
            tenant: s.tenant.map(|(c, w)| Table::new(c, w)),
        }
    }

    pub(crate) fn allow_callsite(&self, id: &Identifier, now_nanos: u64) -> bool {
        match &self.callsite {
            Some(t) => t.allow(id, now_nanos, Identifier::clone),
            None => true,
        }
    }

    pub(crate) fn allow_tenant(&self, tenant: &str, now_nanos: u64) -> bool {
        match &self.tenant {
            Some(t) => t.allow(tenant, now_nanos, |s: &str| Box::<str>::from(s)),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_windows() {
        let t: Table<Box<str>> = Table::new(2, Duration::from_secs(1));
        assert!(t.allow("a", 0, |s: &str| Box::<str>::from(s)));
        assert!(t.allow("a", 1, |s: &str| Box::<str>::from(s)));
        assert!(!t.allow("a", 2, |s: &str| Box::<str>::from(s)));
        assert!(t.allow("b", 2, |s: &str| Box::<str>::from(s)));
        assert!(t.allow("a", 1_000_000_000, |s: &str| Box::<str>::from(s)));
    }

    #[test]
    fn validation() {
        assert!(Sampling::new().validate().is_ok());
        assert!(
            Sampling::new()
                .with_tenant_limit(1, Duration::ZERO)
                .validate()
                .is_err()
        );
    }
}
