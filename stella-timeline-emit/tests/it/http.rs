//! The HTTP sink against a loopback endpoint that is stopped, restarted, slowed and made to
//! fail: every event arrives exactly once by `event_id`, in order.

use std::time::Duration;

use stella_timeline_emit::testing::{Behavior, IngestServer};
use stella_timeline_emit::{Emitter, HttpSink, JournalConfig};

use crate::support::{GUARD, assert_schema_valid, job_started, tmpdir, wait_until};

fn sink(server: &IngestServer, journal: Option<&std::path::Path>) -> HttpSink {
    let mut b = HttpSink::builder(server.url())
        .with_batch_size(50)
        .with_timeout(Duration::from_secs(5))
        .with_backoff(Duration::from_millis(5), Duration::from_millis(100));
    if let Some(dir) = journal {
        b = b.with_journal(JournalConfig::new(dir));
    }
    b.build().unwrap()
}

#[test]
fn exactly_once_in_order_through_outages_errors_and_slowness() {
    let server = IngestServer::start().unwrap();
    let dir = tmpdir("http-chaos");
    let emitter = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    const N: usize = 3000;
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        match i {
            300 => server.fail_next(3, 500),
            600 => server.fail_next(2, 503),
            900 => server.stop(),
            1300 => server.restart().unwrap(),
            1500 => server.set_behavior(Behavior::Slow(Duration::from_millis(30))),
            1800 => server.set_behavior(Behavior::Normal),
            2000 => server.set_behavior(Behavior::Fail(503)),
            2200 => server.set_behavior(Behavior::Normal),
            2400 => server.stop(),
            2700 => server.restart().unwrap(),
            _ => {}
        }
        ids.push(emitter.emit(job_started(i)).unwrap());
        if i % 50 == 0 {
            // Let deliveries interleave with the outages.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(server.wait_for(N, GUARD), N, "stats {:?}", emitter.stats());
    emitter.shutdown(GUARD).unwrap();
    let accepted = server.accepted();
    let got: Vec<&str> = accepted.iter().map(|e| e.event_id()).collect();
    assert_eq!(got.len(), N);
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "exactly once, in emit order"
    );
    for e in &accepted {
        assert_schema_valid(e);
    }
    let stats = emitter.stats();
    assert_eq!(stats.emitted, N as u64);
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.rejected, 0, "{stats:?}");
    assert!(
        stats.journaled > 0 && stats.replayed > 0 && stats.retried > 0,
        "{stats:?}"
    );
    // Each event counted delivered once; re-sent ones the endpoint already had were answered
    // "duplicate" and never stored twice.
    assert_eq!(stats.delivered, N as u64, "{stats:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn queue_depth_and_journal_bytes_are_gauges() {
    let capture = crate::emitter::recorder::capture();
    let server = IngestServer::start().unwrap();
    server.stop();
    let dir = tmpdir("http-gauges");
    let emitter = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    for i in 0..200 {
        emitter.emit(job_started(i)).unwrap();
    }
    // The endpoint is away: the events go to the journal, whose size the gauge reports.
    let journal_bytes = "stella_timeline_journal_bytes{sink=http}";
    assert!(
        wait_until(GUARD, || capture
            .gauges
            .lock()
            .unwrap()
            .get(journal_bytes)
            .is_some_and(|(max, _)| *max > 1_000.0)),
        "{:?}",
        capture.gauges.lock().unwrap()
    );
    server.restart().unwrap();
    assert_eq!(server.wait_for(200, GUARD), 200);
    emitter.flush(GUARD).unwrap();
    // Other tests of this binary share the names: only this test's values are known.
    assert!(
        capture
            .gauges
            .lock()
            .unwrap()
            .contains_key("stella.queue.depth{queue=timeline_http}"),
        "{:?}",
        capture.gauges.lock().unwrap()
    );
    emitter.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_journal_the_batch_is_retried_in_memory() {
    let server = IngestServer::start().unwrap();
    server.stop();
    let emitter = Emitter::builder()
        .with_sink(sink(&server, None))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..100)
        .map(|i| emitter.emit(job_started(i)).unwrap())
        .collect();
    assert!(wait_until(GUARD, || emitter.stats().retried > 0));
    server.restart().unwrap();
    assert_eq!(server.wait_for(100, GUARD), 100);
    let got: Vec<String> = server
        .accepted()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    assert_eq!(got, ids);
    emitter.shutdown(GUARD).unwrap();
}

#[test]
fn rejected_events_are_counted_and_not_retried() {
    let server = IngestServer::start().unwrap();
    server.reject_tenant(Some("blocked"));
    let dir = tmpdir("http-reject");
    let emitter = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    for i in 0..20 {
        emitter
            .emit(job_started(i).with_tenant(if i % 2 == 0 { "acme" } else { "blocked" }))
            .unwrap();
    }
    assert_eq!(server.wait_for(10, GUARD), 10);
    emitter.flush(GUARD).unwrap();
    assert!(wait_until(GUARD, || emitter.stats().rejected == 10));
    let requests = server.requests();
    std::thread::sleep(Duration::from_millis(200)); // nothing more should arrive (not a timing assertion on speed)
    assert_eq!(
        server.requests(),
        requests,
        "rejected events must not be retried"
    );
    assert_eq!(server.rejected(), 10);
    assert!(server.accepted().iter().all(|e| e.tenant_id() == "acme"));
    emitter.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_batch_refused_for_one_event_loses_only_that_event() {
    let server = IngestServer::start().unwrap();
    // An endpoint (or a proxy before it) with a body limit: one event is over it on its own.
    server.limit_body(Some(8 * 1024));
    let dir = tmpdir("http-413");
    let emitter = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..41 {
        let event = if i == 20 {
            job_started(i).with_detail("report", "x".repeat(16 * 1024))
        } else {
            job_started(i)
        };
        let id = emitter.emit(event).unwrap();
        if i != 20 {
            ids.push(id);
        }
    }
    assert_eq!(
        server.wait_for(40, GUARD),
        40,
        "stats {:?}",
        emitter.stats()
    );
    emitter.flush(GUARD).unwrap();
    assert!(
        wait_until(GUARD, || emitter.stats().rejected == 1),
        "{:?}",
        emitter.stats()
    );
    let got: Vec<String> = server
        .accepted()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    assert_eq!(got, ids, "every other event delivered once, in order");
    let stats = emitter.stats();
    assert_eq!(
        (stats.delivered, stats.rejected, stats.dropped),
        (40, 1, 0),
        "{stats:?}"
    );
    emitter.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn journal_outlives_the_emitter_and_is_replayed_by_the_next() {
    let server = IngestServer::start().unwrap();
    server.stop();
    let dir = tmpdir("http-restart");
    let first = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..250)
        .map(|i| first.emit(job_started(i)).unwrap())
        .collect();
    first.shutdown(GUARD).unwrap();
    assert_eq!(first.stats().dropped, 0);
    assert_eq!(first.stats().journaled, 250);
    drop(first);

    server.restart().unwrap();
    let second = Emitter::builder()
        .with_sink(sink(&server, Some(&dir)))
        .build()
        .unwrap();
    let more: Vec<String> = (250..300)
        .map(|i| second.emit(job_started(i)).unwrap())
        .collect();
    assert_eq!(server.wait_for(300, GUARD), 300);
    let got: Vec<String> = server
        .accepted()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    assert_eq!(got, ids.into_iter().chain(more).collect::<Vec<_>>());
    assert!(second.stats().replayed >= 250);
    second.shutdown(GUARD).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_journal_is_used_by_one_process_at_a_time() {
    let server = IngestServer::start().unwrap();
    let dir = tmpdir("http-lock");
    let _a = sink(&server, Some(&dir));
    assert!(
        HttpSink::builder(server.url())
            .with_journal(JournalConfig::new(&dir))
            .build()
            .is_err()
    );
    assert!(HttpSink::builder("ftp://x").build().is_err());
}

/// An `https://` index server behind a private CA that asks for client certificates
/// (`stella_http::testing::TlsPeer`): the sink trusts the CA it is given and presents its
/// certificate, and the events arrive.
#[cfg(feature = "http-tls")]
#[test]
fn events_reach_an_https_server_behind_a_private_ca_with_our_client_certificate() {
    let Some(peer) = stella_http::testing::TlsPeer::start(true) else {
        return;
    };
    let tls = peer.tls(true);
    let sink = HttpSink::builder(peer.url())
        .with_timeout(Duration::from_secs(5))
        .with_tls(tls)
        .build()
        .unwrap();
    let emitter = Emitter::builder().with_sink(sink).build().unwrap();
    emitter.emit(job_started(1)).unwrap();
    emitter.flush(GUARD).unwrap();
    let seen = peer.requests_until(|got| !got.is_empty());
    assert!(
        seen[0].contains("\"path\": \"/timeline/events\"")
            && seen[0].contains("\"client\": \"stella-client\""),
        "{seen:?}"
    );
    emitter.shutdown(GUARD).unwrap();
}
