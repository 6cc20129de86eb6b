//! The webhook's serving certificate: `tls.crt` and `tls.key` read from a directory (a mounted Secret) and read
//! again when either file changes, so a certificate rotated by cert-manager is served without a restart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// File name of the certificate chain (PEM), as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the private key (PEM), as in a `kubernetes.io/tls` Secret.
pub const KEY_FILE: &str = "tls.key";

/// Why the certificate could not be loaded. Messages name the file; key material is never included.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file is missing or unreadable.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM `CERTIFICATE`, or a broken one.
    #[error("{file}: no usable PEM certificate: {reason}")]
    Certificate {
        /// The file.
        file: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The key file holds no PEM private key rustls can use, or the key does not belong to the certificate.
    #[error("{file}: no usable private key: {reason}")]
    Key {
        /// The file.
        file: PathBuf,
        /// What the parser or rustls said.
        reason: String,
    },
}

/// When each file last changed, as far as `stat` can tell; a different stamp means "read again".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    cert: (Option<SystemTime>, u64),
    key: (Option<SystemTime>, u64),
}

impl Stamp {
    fn of(dir: &Path) -> Option<Stamp> {
        let one = |name: &str| std::fs::metadata(dir.join(name)).ok().map(|m| (m.modified().ok(), m.len()));
        Some(Stamp { cert: one(CERT_FILE)?, key: one(KEY_FILE)? })
    }
}

struct Loaded {
    stamp: Option<Stamp>,
    key: Arc<CertifiedKey>,
}

/// A [`ResolvesServerCert`] that serves the certificate in a directory and re-reads it when the files change.
///
/// Each handshake `stat`s the two files (cheap, and admission traffic is light); the files are read and parsed
/// only when their modification time or size changed. A rotation caught half-written (new certificate, old key)
/// fails the key check and keeps the previous pair until the next handshake sees both files complete.
pub struct ReloadingCert {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    loaded: RwLock<Loaded>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // NB: never the key.
        f.debug_struct("ReloadingCert").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads `tls.crt` and `tls.key` from `dir`.
    ///
    /// # Errors
    /// A missing or unreadable file, no certificate, no key, or a key that does not match the certificate.
    pub fn load(dir: impl Into<PathBuf>, provider: Arc<CryptoProvider>) -> Result<Self, CertError> {
        let dir = dir.into();
        let stamp = Stamp::of(&dir);
        let key = read_pair(&dir, &provider)?;
        Ok(ReloadingCert { dir, provider, loaded: RwLock::new(Loaded { stamp, key }) })
    }

    /// The certificate to serve now, reading the files again if they changed since the last look.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let stamp = Stamp::of(&self.dir);
        {
            let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
            if stamp.is_none() || loaded.stamp == stamp {
                return loaded.key.clone();
            }
        }
        let mut loaded = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        if loaded.stamp != stamp {
            match read_pair(&self.dir, &self.provider) {
                Ok(key) => {
                    tracing::info!(dir = %self.dir.display(), "webhook certificate reloaded");
                    loaded.key = key;
                    loaded.stamp = stamp;
                }
                Err(error) => {
                    tracing::warn!(%error, "webhook certificate changed but cannot be loaded; serving the previous one")
                }
            }
        }
        loaded.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_pair(dir: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, CertError> {
    let cert_file = dir.join(CERT_FILE);
    let key_file = dir.join(KEY_FILE);
    let read = |file: &PathBuf| std::fs::read(file).map_err(|source| CertError::Read { file: file.clone(), source });
    let cert_pem = read(&cert_file)?;
    let key_pem = read(&key_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| CertError::Certificate { file: cert_file.clone(), reason: error.to_string() })?;
    if chain.is_empty() {
        return Err(CertError::Certificate { file: cert_file, reason: "the file has no CERTIFICATE block".into() });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| CertError::Key { file: key_file.clone(), reason: error.to_string() })?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|error| CertError::Key {
        file: key_file,
        reason: format!("{error} (does it belong to {CERT_FILE}?)"),
    })?;
    Ok(Arc::new(certified))
}
