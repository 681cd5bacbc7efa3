//! Integration tests (one binary; see STYLE.md section 6).

mod support;

mod canonical;
mod digest;
mod emitter;
mod file_sink;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod kill;
#[cfg(feature = "nats")]
mod nats;
mod scrub;
mod send_sync;
