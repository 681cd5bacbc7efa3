//! Shared pieces of the runnable examples.
//!
//! [`otlp_receiver`]: the embedded OTLP/HTTP trace receiver the end-to-end demo exports its
//! spans to, so that the demo shows traces without a collector to install.

#![forbid(unsafe_code)]

pub mod otlp_receiver;
