//! The integration test binary: corpus files, API behaviour, properties, regressions and (with
//! the `tracing` feature) the tracing-subscriber drop-ins.

mod api;
mod corpus;
mod props;
mod regression;
#[cfg(feature = "tracing")]
mod tracing_fields;

use stella_scrub::Scrubber;

pub(crate) fn scrubber() -> Scrubber {
    Scrubber::builder()
        .with_repo_root("/work/main")
        .build()
        .expect("default scrubber builds")
}
