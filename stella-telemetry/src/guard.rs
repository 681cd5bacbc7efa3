//! The guard [`init`](crate::init) returns, and the handle for runtime controls.

use std::fmt;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use stella_scrub::Scrubber;
use stella_scrub::grants::{Grant, GrantError, GrantRequest};

use crate::layer::Core;
use crate::writer::{NonBlocking, WriterGuard};
use crate::{JsonLayer, LogStats, Resource, decision};

/// Keeps telemetry running; flushes and stops it when dropped (bounded by the configured flush
/// timeout, 2 s by default) or on [`shutdown`](Self::shutdown).
///
/// Hold it in `main` until the program ends. Dropping it early stops the writer: later lines are
/// counted as dropped, never written half-way.
#[must_use = "telemetry stops (and flushes) when the guard is dropped; keep it alive in main"]
pub struct TelemetryGuard {
    handle: TelemetryHandle,
    writer: Option<WriterGuard>,
    summary: JsonLayer<NonBlocking>,
    housekeeper: Housekeeper,
    flush_timeout: Duration,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("handle", &self.handle)
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}

/// Flushing or shutting down did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The log writer did not drain its queue within the timeout (the thread is left to finish
    /// on its own; the process is not held up).
    #[error("the log writer did not finish within {0:?}")]
    Timeout(Duration),
}

impl TelemetryGuard {
    pub(crate) fn new(
        handle: TelemetryHandle,
        writer: WriterGuard,
        summary: JsonLayer<NonBlocking>,
        housekeeper: Housekeeper,
        flush_timeout: Duration,
    ) -> Self {
        TelemetryGuard {
            handle,
            writer: Some(writer),
            summary,
            housekeeper,
            flush_timeout,
        }
    }

    /// A cloneable handle for runtime controls (deep-debug grants, counters).
    pub fn handle(&self) -> TelemetryHandle {
        self.handle.clone()
    }

    /// What the logger wrote, suppressed and dropped so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// tracing::dispatcher::with_default(&dispatch, || tracing::warn!("disk 91% full"));
    /// assert_eq!(guard.stats().lines, 1);
    /// assert_eq!(guard.stats().suppressed(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> LogStats {
        self.handle.stats()
    }

    /// Writes a pending suppression summary, then waits until every line logged before this call
    /// is written and the output flushed.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] after the configured flush timeout.
    pub fn flush(&self) -> Result<(), ShutdownError> {
        self.summary.write_summary(self.handle.core.now_nanos());
        match &self.writer {
            Some(w) => w
                .flush(self.flush_timeout)
                .map_err(|_| ShutdownError::Timeout(self.flush_timeout)),
            None => Ok(()),
        }
    }

    /// Writes a pending suppression summary, drains the queue and stops the writer thread,
    /// within the flush timeout.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when the writer has not finished in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use stella_telemetry::{Config, Output};
    /// let (_dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        self.housekeeper.stop();
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        self.summary.write_summary(self.handle.core.now_nanos());
        writer
            .shutdown(self.flush_timeout)
            .map_err(|_| ShutdownError::Timeout(self.flush_timeout))
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The background chores of a guard: once a second, sweep expired deep-debug grants (logging
/// each expiry) and write a suppression summary when one is due, even if the service logs
/// nothing. Issue II adds its periodic work (incident-mode expiry, metric snapshots) here.
#[derive(Debug)]
pub(crate) struct Housekeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// How often the housekeeper runs.
const HOUSEKEEPING_TICK: Duration = Duration::from_secs(1);

impl Housekeeper {
    pub(crate) fn spawn(
        dispatch: tracing::Dispatch,
        handle: TelemetryHandle,
        summary: JsonLayer<NonBlocking>,
    ) -> Result<Housekeeper, crate::OutputError> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("stella-telemetry-housekeeping".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HOUSEKEEPING_TICK)
                {
                    tracing::dispatcher::with_default(&dispatch, || {
                        handle.expire_deep_debug();
                    });
                    summary.maybe_summary(handle.core.now_nanos());
                }
            })
            .map_err(crate::OutputError::Thread)?;
        Ok(Housekeeper {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread (it wakes at once) and joins it.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runtime controls shared by every clone: counters, the scrubber, deep-debug grants. Issue II
/// adds incident mode here.
#[derive(Clone)]
pub struct TelemetryHandle {
    core: Arc<Core>,
}

impl fmt::Debug for TelemetryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryHandle")
            .field("resource", &self.core.resource)
            .finish_non_exhaustive()
    }
}

impl TelemetryHandle {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        TelemetryHandle { core }
    }

    /// What the logger wrote, suppressed and dropped so far.
    pub fn stats(&self) -> LogStats {
        self.core.stats.snapshot()
    }

    /// The scrubber every value passes through.
    pub fn scrubber(&self) -> &Scrubber {
        &self.core.scrubber
    }

    /// The static resource.
    pub fn resource(&self) -> &Resource {
        &self.core.resource
    }

    /// Grants per-tenant deep debug (relaxes the requested PII kinds on that tenant's lines
    /// until the TTL passes) and emits the decision log of the grant.
    ///
    /// # Errors
    ///
    /// [`GrantError`] when the request is incomplete or its TTL is out of range; nothing is
    /// granted or logged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stella_scrub::PiiKind;
    /// use stella_scrub::grants::GrantRequest;
    /// use stella_telemetry::{Config, Output};
    ///
    /// let (dispatch, guard) = stella_telemetry::build(Config::new("svc", "1").with_output(Output::Stderr))?;
    /// tracing::dispatcher::with_default(&dispatch, || {
    ///     guard.handle().grant_deep_debug(
    ///         GrantRequest::new("acme", [PiiKind::Email], Duration::from_secs(900))
    ///             .with_actor("oncall-7")
    ///             .with_reason("INC-42"),
    ///     )
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grant_deep_debug(&self, request: GrantRequest) -> Result<Grant, GrantError> {
        let (grant, audit) = self.core.scrubber.grants().grant(request)?;
        decision::emit_grant_audit(&audit);
        Ok(grant)
    }

    /// Revokes a grant before its expiry and emits the decision log.
    ///
    /// # Errors
    ///
    /// [`GrantError::NotFound`] when no active grant has this id.
    pub fn revoke_deep_debug(&self, id: u64, actor: &str) -> Result<(), GrantError> {
        let audit = self.core.scrubber.grants().revoke(id, actor)?;
        decision::emit_grant_audit(&audit);
        Ok(())
    }

    /// Sweeps expired grants and emits one decision log each; returns how many. Expired grants
    /// stop applying on time whether or not this runs; the [`TelemetryGuard`] of [`init`](crate::init)
    /// and [`build`](crate::build) calls it once a second. Call it yourself when you use the
    /// layer without the guard.
    pub fn expire_deep_debug(&self) -> usize {
        let expired = self.core.scrubber.grants().expire();
        for audit in &expired {
            decision::emit_grant_audit(audit);
        }
        expired.len()
    }
}
