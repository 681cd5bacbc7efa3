//! The blocking HTTP client set-up shared by Stella's exporters, sinks and webhooks.
//!
//! Each of them (the OTLP/HTTP span exporter of `stella-telemetry`, the HTTP sink of
//! `stella-timeline-emit`, the webhooks and the Prometheus source of `stella-slo`) sends from a
//! worker thread of its own with a bound on every request. [`agent`] builds that client once:
//!
//! - every request is bounded by `timeout`, from resolving the name to the last byte of the
//!   answer;
//! - an HTTP error status is an answer, not an error: the caller reads it (a collector's 503
//!   is retried or counted by the caller, not turned into a transport failure);
//! - names are resolved by [`CachedResolver`]: an IP literal is used as it is and a host name's
//!   addresses are reused for [`NAME_TTL`], where the client's own resolver, with a timeout
//!   set, starts a thread to look the name up before every request.
//!
//! ```
//! let agent = stella_http::agent(std::time::Duration::from_secs(10));
//! # let _ = agent;
//! ```
//!
//! HTTPS needs the `tls` feature (rustls with the webpki roots); [`agent_with_tls`] trusts CA
//! certificates of your own instead and presents a client certificate ([`Tls`]).

#![forbid(unsafe_code)]

mod resolve;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tls")]
mod tls;

use std::time::Duration;

pub use resolve::{CachedResolver, NAME_TTL};
#[cfg(feature = "tls")]
pub use tls::{Tls, TlsError};

/// The client of a worker thread: requests bounded by `timeout` as a whole, HTTP error statuses
/// returned as answers, names resolved by [`CachedResolver`]. Connections are kept and reused.
#[must_use]
pub fn agent(timeout: Duration) -> ureq::Agent {
    with_parts(settings(timeout).build())
}

/// [`agent`] with HTTPS settings of its own: CA certificates trusted instead of the webpki
/// roots, a client certificate for mutual TLS (the `tls` feature).
#[cfg(feature = "tls")]
#[must_use]
pub fn agent_with_tls(timeout: Duration, tls: &Tls) -> ureq::Agent {
    with_parts(settings(timeout).tls_config(tls.config()).build())
}

/// The settings every agent of this crate has: the whole-request timeout, error statuses as
/// answers.
fn settings(timeout: Duration) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
}

/// An agent with `config`, the default connector and the [`CachedResolver`].
fn with_parts(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        CachedResolver::default(),
    )
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
