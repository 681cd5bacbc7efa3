//! The redaction engine: secrets, tokens and PII found and replaced in strings and JSON values
//! before any telemetry leaves the process.
//!
//! Every log line, span attribute and timeline event Stella writes passes through a
//! [`Scrubber`]. It is built once from a built-in catalogue (private keys, cloud and vendor
//! tokens, JWTs, Authorization values, URL passwords, key/value secrets in every common
//! encoding, emails, phones, cards, SSNs, public IPs and paths outside the repository root)
//! plus configuration, and then scrubs from any thread without locks. Redactions read
//! `[REDACTED:<kind>]` (optionally `[REDACTED:<kind>#<8 hex>]`); they never keep a prefix,
//! a suffix or the length of the secret, and scrubbing twice changes nothing more.
//!
//! ```
//! use stella_scrub::Scrubber;
//!
//! let scrubber = Scrubber::builder().with_repo_root("/work/main").build()?;
//! let line = r#"curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl" https://u:hunter2@api.example.com/v1"#;
//! assert_eq!(
//!     scrubber.scrub(line),
//!     r#"curl -H "Authorization: [REDACTED:jwt]" https://u:[REDACTED:url_password]@api.example.com/v1"#
//! );
//! assert_eq!(scrubber.scrub_field("client_secret", "abc"), "[REDACTED:secret]");
//! assert_eq!(scrubber.scrub("read /work/main/src/lib.rs"), "read /work/main/src/lib.rs");
//! assert_eq!(scrubber.scrub("read /home/bob/.ssh/id_rsa"), "read [REDACTED:path]");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Per-tenant deep debug lives in [`grants`]: a time-boxed grant relaxes email, phone, IP or
//! path redaction for one tenant, through [`Scrubber::for_tenant`]. Per-kind counts for a
//! `scrub.redactions{kind}` metric come from [`Scrubber::redaction_counts`]. Custom rules and
//! the key-name classifier are in [`rules`].
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tracing` | off | `stella_scrub::tracing`: `ScrubFields` (a `tracing-subscriber` `FormatFields`) and `ScrubJson` (a JSON event formatter) that scrub every field of every event and span before it is written |
//!
//! # MSRV
//!
//! The minimum supported Rust version is the workspace's `rust-version` (current stable minus
//! three minor releases); raising it is a minor release.
//!
//! # The public interface
//!
//! [`Scrubber`], [`ScrubberBuilder`], [`ScrubView`], [`Kind`], [`PiiKind`],
//! [`PrivateIpPolicy`], [`RedactionCounts`], [`BuildError`], the constants
//! [`DEFAULT_MAX_INPUT_LEN`] and [`MAX_JSON_DEPTH`], and the modules [`grants`] and [`rules`]
//! (and `tracing` behind its feature).
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod counts;
mod detect;
mod error;
mod keys;
mod kind;
mod scrubber;

pub mod grants;
pub mod rules;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing;

pub use crate::counts::RedactionCounts;
pub use crate::detect::PrivateIpPolicy;
pub use crate::error::BuildError;
pub use crate::kind::{Kind, PiiKind};
pub use crate::scrubber::{
    DEFAULT_MAX_INPUT_LEN, MAX_JSON_DEPTH, ScrubView, Scrubber, ScrubberBuilder,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
