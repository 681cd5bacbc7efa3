//! Head sampling: a trace-id ratio for new traces; for continued ones the remote parent's
//! decision (parent-based, the default) or the same ratio.

use std::sync::atomic::{AtomicU64, Ordering};

/// The ratio is not a number in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("the trace sample ratio must be a number in [0, 1], got {0}")]
pub struct RatioError(pub f64);

/// Checks a ratio.
pub(crate) fn check_ratio(ratio: f64) -> Result<f64, RatioError> {
    if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(RatioError(ratio))
    }
}

/// The ratio sampler of new traces, changeable at runtime.
#[derive(Debug)]
pub(crate) struct HeadSampler {
    ratio_bits: AtomicU64,
    threshold: AtomicU64,
    /// Whether a remote parent's decision is kept ([`Self::continued`]).
    parent_based: bool,
}

/// `ratio * 2^63`, the bound on the trace id's lower 63 random bits (the OpenTelemetry
/// `TraceIdRatioBased` rule, so every service of a trace decides alike).
fn threshold(ratio: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "ratio is checked to be in [0, 1]"
    )]
    let t = (ratio * TWO_63) as u64;
    t
}

impl HeadSampler {
    pub(crate) fn new(ratio: f64, parent_based: bool) -> Self {
        HeadSampler {
            ratio_bits: AtomicU64::new(ratio.to_bits()),
            threshold: AtomicU64::new(threshold(ratio)),
            parent_based,
        }
    }

    /// The decision for a trace continued from another process whose `sampled` flag was
    /// `parent`: that flag when parent-based, else the ratio's decision on the trace id.
    pub(crate) fn continued(&self, trace_id: &[u8; 16], parent: bool) -> bool {
        if self.parent_based {
            parent
        } else {
            self.sample_root(trace_id)
        }
    }

    pub(crate) fn set_ratio(&self, ratio: f64) -> Result<(), RatioError> {
        let ratio = check_ratio(ratio)?;
        self.threshold.store(threshold(ratio), Ordering::Relaxed);
        self.ratio_bits.store(ratio.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn ratio(&self) -> f64 {
        f64::from_bits(self.ratio_bits.load(Ordering::Relaxed))
    }

    /// The decision for a new trace.
    pub(crate) fn sample_root(&self, trace_id: &[u8; 16]) -> bool {
        let mut low = [0u8; 8];
        low.copy_from_slice(trace_id.get(8..16).unwrap_or(&[0; 8]));
        let t = self.threshold.load(Ordering::Relaxed);
        // ratio 1 gives 2^63, above every 63-bit value.
        (u64::from_be_bytes(low) >> 1) < t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        let s = HeadSampler::new(1.0, true);
        assert!(s.sample_root(&[0xff; 16]));
        s.set_ratio(0.0).unwrap();
        assert!(!s.sample_root(&[0; 16]));
        assert!(!s.sample_root(&[0xff; 16]));
        s.set_ratio(0.5).unwrap();
        assert!(s.sample_root(&[0; 16]));
        assert!(!s.sample_root(&[0xff; 16]));
        assert_eq!(s.ratio(), 0.5);
        assert!(s.set_ratio(1.5).is_err());
        assert!(s.set_ratio(f64::NAN).is_err());
        assert_eq!(s.ratio(), 0.5);
    }

    #[test]
    fn continued_traces_keep_the_parent_flag_only_when_parent_based() {
        let (low, high) = ([0u8; 16], [0xff; 16]);
        let based = HeadSampler::new(0.5, true);
        assert!(based.continued(&high, true));
        assert!(!based.continued(&low, false));
        let plain = HeadSampler::new(0.5, false);
        assert!(!plain.continued(&high, true));
        assert!(plain.continued(&low, false));
        let off = HeadSampler::new(0.0, false);
        assert!(!off.continued(&low, true));
        let on = HeadSampler::new(1.0, false);
        assert!(on.continued(&high, false));
    }
}
