//! FNV-1a, the hasher of the crate's small per-thread caches (key classes, texts seen clean,
//! metric keys): short keys hash in a few instructions per byte, and the caches only hold
//! verdicts, so a collision costs a comparison, never a wrong answer.

use std::hash::{BuildHasherDefault, Hasher};

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// Continues an FNV-1a hash (`0` = nothing hashed yet) over `bytes`.
pub(crate) fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    let mut h = if state == 0 { OFFSET_BASIS } else { state };
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(PRIME);
    }
    h
}

/// FNV-1a as a `Hasher`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Maps and sets keyed by short texts.
pub(crate) type BuildFnv1a = BuildHasherDefault<Fnv1a>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_values() {
        // FNV-1a 64 test vectors: "" and "a" and "foobar".
        assert_eq!(fnv1a(0, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(0, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(0, b"foobar"), 0x8594_4171_f739_67e8);
        // Hashing in pieces is hashing the whole.
        assert_eq!(fnv1a(fnv1a(0, b"foo"), b"bar"), fnv1a(0, b"foobar"));
    }
}
