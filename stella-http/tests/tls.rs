//! HTTPS against a real TLS peer (`stella_http::testing::TlsPeer`: Python's `ssl` with a
//! private CA made fresh for the run): CA certificates of our own trusted instead of the
//! webpki roots, and a client certificate for mutual TLS.
#![cfg(feature = "testing")]

use std::time::Duration;

use stella_http::agent_with_tls;
use stella_http::testing::TlsPeer;

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn our_own_ca_is_trusted_and_the_webpki_roots_alone_do_not_trust_it() {
    let Some(peer) = TlsPeer::start(false) else {
        return;
    };
    let tls = peer.tls(false);
    assert!(tls.has_own_roots() && !tls.has_client_certificate());
    let mut answer = agent_with_tls(TIMEOUT, &tls)
        .get(peer.url())
        .call()
        .expect("trusted through our CA");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.body_mut().read_to_string().unwrap(), "ok");
    let seen = peer
        .next_request(TIMEOUT)
        .expect("the peer saw the request");
    assert!(seen.contains("\"client\": null"), "{seen}");
    // The default agent trusts the webpki roots only: the private CA is unknown to it.
    let refused = stella_http::agent(TIMEOUT).get(peer.url()).call();
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_client_certificate_is_presented_when_the_peer_asks_for_one() {
    let Some(peer) = TlsPeer::start(true) else {
        return;
    };
    let tls = peer.tls(true);
    assert!(tls.has_client_certificate());
    let answer = agent_with_tls(TIMEOUT, &tls)
        .get(peer.url())
        .call()
        .expect("mutual TLS");
    assert_eq!(answer.status().as_u16(), 200);
    let seen = peer
        .next_request(TIMEOUT)
        .expect("the peer saw the request");
    assert!(seen.contains("\"client\": \"stella-client\""), "{seen}");
    // Without the client certificate the peer refuses the handshake.
    let without = peer.tls(false);
    let refused = agent_with_tls(TIMEOUT, &without).get(peer.url()).call();
    assert!(refused.is_err(), "{refused:?}");
}
