//! Trust and identity for HTTPS: the certificate authorities to trust instead of the webpki
//! roots (a collector or a receiver behind a private CA), and a client certificate for mutual
//! TLS.

use std::fmt;
use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// HTTPS settings for [`agent_with_tls`](crate::agent_with_tls): by default the webpki roots
/// and no client certificate, as [`agent`](crate::agent) has.
///
/// ```
/// let tls = stella_http::Tls::new();
/// let agent = stella_http::agent_with_tls(std::time::Duration::from_secs(10), &tls);
/// # let _ = agent;
/// ```
#[derive(Clone, Default)]
pub struct Tls {
    roots: Option<Vec<Certificate<'static>>>,
    client: Option<ClientCert>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No certificate bytes, and never the key.
        f.debug_struct("Tls")
            .field("trusted_cas", &self.roots.as_ref().map(Vec::len))
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

/// Why TLS settings could not be loaded. Names the file; never shows its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {reason}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// A file holds no usable PEM item of the kind needed.
    #[error("{}: {reason}", .what)]
    Pem {
        /// The file (or "the CA certificates" when given as bytes).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A client certificate was given without its key, or the other way round.
    #[error("a client certificate needs its private key, and a key its certificate")]
    Incomplete,
}

impl Tls {
    /// The defaults: the webpki roots, no client certificate.
    pub fn new() -> Self {
        Tls::default()
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE` blocks) instead of the
    /// webpki roots.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] when `pem` holds no certificate or a malformed block.
    pub fn with_ca_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        self.trusting(pem, "the CA certificates")
    }

    /// [`Self::with_ca_pem`], errors naming the PEM `what`.
    fn trusting(mut self, pem: &[u8], what: &str) -> Result<Self, TlsError> {
        self.roots = Some(certificates(pem, what)?);
        Ok(self)
    }

    /// Presents the client certificate `chain_pem` (the certificate first, then any
    /// intermediates) with its private key `key_pem` (PKCS#8, PKCS#1 or SEC1), for mutual TLS.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] when either holds nothing usable.
    pub fn with_client_pem(self, chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        self.presenting(
            (chain_pem, "the client certificate"),
            (key_pem, "the client key"),
        )
    }

    /// [`Self::with_client_pem`], errors naming each PEM as given beside it.
    fn presenting(mut self, chain: (&[u8], &str), key: (&[u8], &str)) -> Result<Self, TlsError> {
        let certs = certificates(chain.0, chain.1)?;
        let key = private_key(key.0, key.1)?;
        self.client = Some(ClientCert::new_with_certs(&certs, key));
        Ok(self)
    }

    /// Loads the settings from PEM files: `ca` trusted instead of the webpki roots, and
    /// `client_cert` with `client_key` presented for mutual TLS (both or neither).
    ///
    /// # Errors
    ///
    /// [`TlsError::Read`] for a file that cannot be read, [`TlsError::Pem`] for one without a
    /// usable item, [`TlsError::Incomplete`] for a certificate without its key or a key
    /// without its certificate.
    pub fn from_files(
        ca: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let mut tls = Tls::new();
        if let Some(path) = ca {
            tls = tls.trusting(&read(path)?, &path.display().to_string())?;
        }
        match (client_cert, client_key) {
            (Some(cert), Some(key)) => tls.presenting(
                (&read(cert)?, &cert.display().to_string()),
                (&read(key)?, &key.display().to_string()),
            ),
            (None, None) => Ok(tls),
            _ => Err(TlsError::Incomplete),
        }
    }

    /// Whether CA certificates replace the webpki roots.
    pub fn has_own_roots(&self) -> bool {
        self.roots.is_some()
    }

    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.client.is_some()
    }

    pub(crate) fn config(&self) -> TlsConfig {
        let mut b = TlsConfig::builder();
        if let Some(roots) = &self.roots {
            b = b.root_certs(RootCerts::new_with_certs(roots));
        }
        b.client_cert(self.client.clone()).build()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn pem_error(what: &str, reason: impl Into<String>) -> TlsError {
    TlsError::Pem {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Every certificate of `pem`; at least one.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<Certificate<'static>>, TlsError> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(pem_error(what, format!("malformed PEM ({e})"))),
        }
    }
    if certs.is_empty() {
        return Err(pem_error(what, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The first private key of `pem`.
fn private_key(pem: &[u8], what: &str) -> Result<PrivateKey<'static>, TlsError> {
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::PrivateKey(k)) => return Ok(k),
            Ok(_) => {}
            Err(e) => return Err(pem_error(what, format!("malformed PEM ({e})"))),
        }
    }
    Err(pem_error(what, "no PRIVATE KEY block"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_named_and_never_shown() {
        let e = Tls::new().with_ca_pem(b"not a certificate").unwrap_err();
        assert!(e.to_string().contains("no CERTIFICATE block"), "{e}");
        let e = Tls::from_files(Some(Path::new("/nonexistent/ca.pem")), None, None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let e = Tls::from_files(None, Some(Path::new("/x.pem")), None).unwrap_err();
        assert!(matches!(e, TlsError::Incomplete));
        let dir = std::env::temp_dir().join(format!("stella-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        // A key where a certificate is expected: named, its bytes not shown.
        let e = Tls::from_files(Some(&key), None, None).unwrap_err();
        assert!(e.to_string().contains("key.pem") && !e.to_string().contains("c2VjcmV0"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            format!("{:?}", Tls::new()),
            "Tls { trusted_cas: None, client_certificate: false }"
        );
    }
}
