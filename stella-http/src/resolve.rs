//! Name resolution without a thread per request.
//!
//! The HTTP client looks the host up before every request, pooled connection or not, and with
//! a timeout set its default resolver does so on a new thread each time: one thread created
//! and torn down per exported batch, sink batch or webhook call. Here an IP literal
//! (`http://127.0.0.1:4318`, `http://[::1]:4318`) is used as it is, and a host name's addresses
//! are looked up through the default resolver (its timeout kept) and reused for
//! [`NAME_TTL`], so that a server moved behind the same name is found again within that time.
//! Failed look-ups are not remembered.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are reused before the name is looked up again.
pub const NAME_TTL: Duration = Duration::from_secs(30);

/// A resolver for [`ureq::Agent::with_parts`]: IP literals as they are, the last host name's
/// addresses remembered for [`NAME_TTL`] (a worker's agent talks to one server).
#[derive(Debug, Default)]
pub struct CachedResolver {
    inner: DefaultResolver,
    /// The last host name looked up (`scheme://authority`), its addresses and when.
    last: Mutex<Option<(String, ResolvedSocketAddrs, Instant)>>,
}

/// `uri`'s port, written or the scheme's default.
fn port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or_else(|| match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })
}

/// `uri`'s host as an IP address, when it is an IP literal (IPv6 in brackets).
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port(uri)?))
}

impl Resolver for CachedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal(uri) {
            let mut out = self.empty();
            for a in config.ip_family().keep_wanted(std::iter::once(addr)) {
                out.push(a);
            }
            if out.is_empty() {
                return Err(ureq::Error::HostNotFound);
            }
            return Ok(out);
        }
        let key = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            // Not a full URL: the default resolver gives its own error.
            _ => return self.inner.resolve(uri, config, timeout),
        };
        {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((name, addrs, at)) = last.as_ref()
                && *name == key
                && at.elapsed() < NAME_TTL
            {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((key, addrs.clone(), Instant::now()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &CachedResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().expect("uri");
        let config = Config::default();
        r.resolve(&uri, &config, NextTimeout::default())
            .map(|a| a.iter().copied().collect())
    }

    #[test]
    fn ip_literals_are_used_as_they_are() {
        let r = CachedResolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:4318/v1/traces").expect("v4"),
            vec!["127.0.0.1:4318".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(
            resolve(&r, "http://[::1]:4318/v1/traces").expect("v6"),
            vec!["[::1]:4318".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(
            resolve(&r, "https://10.0.0.7/v1/traces").expect("default port"),
            vec!["10.0.0.7:443".parse::<SocketAddr>().expect("addr")]
        );
        // Nothing was looked up, so nothing is remembered.
        assert!(r.last.lock().expect("lock").is_none());
    }

    #[test]
    fn the_family_setting_still_applies_to_literals() {
        let r = CachedResolver::default();
        let uri: Uri = "http://[::1]:4318/".parse().expect("uri");
        let config = Config::builder()
            .ip_family(ureq::config::IpFamily::Ipv4Only)
            .build();
        assert!(matches!(
            r.resolve(&uri, &config, NextTimeout::default()),
            Err(ureq::Error::HostNotFound)
        ));
    }

    #[test]
    fn host_names_are_remembered_per_authority_until_the_ttl() {
        let r = CachedResolver::default();
        let first = resolve(&r, "http://localhost:4318/v1/traces").expect("localhost");
        assert!(!first.is_empty());
        assert!(
            first
                .iter()
                .all(|a| a.port() == 4318 && a.ip().is_loopback())
        );
        // Remembered: a second request reuses the addresses.
        let remembered = r.last.lock().expect("lock").clone().expect("remembered");
        assert_eq!(remembered.0, "http://localhost:4318");
        assert_eq!(
            resolve(&r, "http://localhost:4318/other").expect("again"),
            first
        );
        // Another port is another authority: looked up, not served the old port.
        let other = resolve(&r, "http://localhost:9999/").expect("other port");
        assert!(other.iter().all(|a| a.port() == 9999));
        // The remembered addresses are what a fresh entry serves (a planted one here), and
        // past the TTL the name is looked up again.
        let planted: SocketAddr = "192.0.2.1:9999".parse().expect("addr");
        let mut fake = r.empty();
        fake.push(planted);
        if let Some(last) = r.last.lock().expect("lock").as_mut() {
            last.1 = fake;
        }
        assert_eq!(
            resolve(&r, "http://localhost:9999/").expect("fresh"),
            vec![planted]
        );
        let past = Instant::now()
            .checked_sub(NAME_TTL + Duration::from_secs(1))
            .expect("instant");
        if let Some(last) = r.last.lock().expect("lock").as_mut() {
            last.2 = past;
        }
        let again = resolve(&r, "http://localhost:9999/").expect("looked up again");
        assert!(!again.is_empty() && !again.contains(&planted));
    }
}
