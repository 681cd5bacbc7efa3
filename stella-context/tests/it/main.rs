//! The integration tests of `stella-context`, in one binary.

mod current;
mod job;
mod regressions;
mod roundtrip;
mod send_sync;
mod vectors;

#[cfg(feature = "tower")]
mod http_loopback;
#[cfg(feature = "otel")]
mod otel;
#[cfg(feature = "tower")]
mod sampling;
#[cfg(feature = "tower")]
mod support;
#[cfg(feature = "tower")]
mod w3c_suite;
