//! Webhook delivery: signature, retries, drops.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stella_slo::webhook::{EVENT_HEADER, SIGNATURE_HEADER, WebhookSink, verify};
use stella_slo::{BreachSink, Counts, Evaluator, Objective, RatioEvents, RatioSli, Sli, Slo};

use crate::support::serve;

fn breach_event() -> stella_slo::BreachEvent {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut ev = Evaluator::builder()
        .with_sink(move |e: &stella_slo::BreachEvent| s.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let sli = Sli::Ratio(RatioSli::new(
        "t_total".parse().unwrap(),
        RatioEvents::Bad("b_total".parse().unwrap()),
    ));
    let id = ev
        .add(
            Slo::builder("jobs", "svc", sli)
                .with_tenant("acme")
                .with_objective(Objective::new(0.999).unwrap())
                .build()
                .unwrap(),
        )
        .unwrap();
    ev.record(id, Counts::from_bad(500, 1000).unwrap());
    ev.tick(UNIX_EPOCH + Duration::from_secs(1_800_000_000));

    seen.lock().unwrap()[0].clone()
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("")
}

#[test]
fn delivers_signed_events_and_retries_server_errors() {
    let (url, requests) = serve(vec![
        (503, "{}".into()),
        (500, "{}".into()),
        (200, "{}".into()),
    ]);
    let sink = WebhookSink::builder(&url)
        .with_secret(b"s3cret".to_vec())
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
        .build()
        .unwrap();
    let stats = sink.stats();
    let event = breach_event();
    sink.breach(&event);
    assert!(sink.shutdown(Duration::from_secs(30)));
    assert_eq!(
        (
            stats.delivered(),
            stats.retries(),
            stats.failed(),
            stats.dropped()
        ),
        (1, 2, 0, 0)
    );
    let all: Vec<(String, Vec<u8>)> = requests.try_iter().collect();
    assert_eq!(all.len(), 3);
    let (head, body) = &all[2];
    assert_eq!(header(head, EVENT_HEADER), "slo.breach");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    verify(
        b"s3cret",
        header(head, SIGNATURE_HEADER),
        body,
        now,
        Duration::from_secs(600),
    )
    .unwrap();
    assert!(
        verify(
            b"wrong",
            header(head, SIGNATURE_HEADER),
            body,
            now,
            Duration::from_secs(600)
        )
        .is_err()
    );
    let sent: stella_slo::BreachEvent = serde_json::from_slice(body).unwrap();
    assert_eq!(sent, event);
}

#[test]
fn client_errors_are_not_retried() {
    let (url, _requests) = serve(vec![(400, "{}".into())]);
    let sink = WebhookSink::builder(&url)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap();
    let stats = sink.stats();
    sink.breach(&breach_event());
    assert!(sink.shutdown(Duration::from_secs(30)));
    assert_eq!(
        (stats.delivered(), stats.failed(), stats.retries()),
        (0, 1, 0)
    );
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    // A listener that never answers: the worker is stuck on the first event.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sink = WebhookSink::builder(&url)
        .with_queue_capacity(1)
        .with_max_attempts(1)
        .with_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let stats = sink.stats();
    let e = breach_event();
    for _ in 0..10 {
        sink.breach(&e);
    }
    assert!(stats.dropped() >= 8, "dropped {}", stats.dropped());
    drop(listener);
}

#[test]
fn bad_urls_and_signatures() {
    assert!(WebhookSink::builder("ftp://x").build().is_err());
    assert!(verify(b"k", "nonsense", b"", 0, Duration::from_secs(1)).is_err());
    let sig = stella_slo::webhook::sign(b"k", 100, b"body");
    assert!(matches!(
        verify(b"k", &sig, b"body", 10_000, Duration::from_secs(300)),
        Err(stella_slo::webhook::VerifyError::Stale)
    ));
    // Long keys are hashed first (RFC 2104), matching other HMAC implementations.
    let long = vec![7u8; 100];
    assert_ne!(
        stella_slo::webhook::sign(&long, 1, b"x"),
        stella_slo::webhook::sign(&long[..64], 1, b"x")
    );
}

/// An `https://` receiver behind a private CA that asks for client certificates
/// (`stella_http::testing::TlsPeer`): the sink trusts the CA it is given, presents its
/// certificate, and the event is delivered.
#[cfg(feature = "tls")]
#[test]
fn delivers_to_an_https_receiver_behind_a_private_ca_with_our_client_certificate() {
    let Some(peer) = stella_http::testing::TlsPeer::start(true) else {
        return;
    };
    let tls = peer.tls(true);
    let sink = WebhookSink::builder(&format!("{}/hooks/slo", peer.url()))
        .with_secret(b"s3cret".to_vec())
        .with_tls(tls)
        .build()
        .unwrap();
    let stats = sink.stats();
    sink.breach(&breach_event());
    assert!(sink.shutdown(Duration::from_secs(30)));
    assert_eq!((stats.delivered(), stats.failed()), (1, 0));
    let seen = peer.requests_until(|got| !got.is_empty());
    assert!(
        seen[0].contains("\"path\": \"/hooks/slo\"")
            && seen[0].contains("\"client\": \"stella-client\""),
        "{seen:?}"
    );
}
