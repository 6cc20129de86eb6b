//! Access to one remote: its parsed URL, the credentials (a password embedded in the URL moved out of it), the
//! SSH host-key check, libgit2 callbacks built from them, and redaction of every error they produce. Shared by the
//! [`super::GitSource`] that follows a branch and by write-back, which pushes to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::credentials::{Credentials, redact_text};
use super::error::GitError;
use super::known_hosts;
use super::source::HostKeyPolicy;
use super::url::RemoteUrl;

/// How to reach and authenticate to one remote. `Debug` shows the redacted URL and never a secret.
#[derive(Clone)]
pub struct RemoteAccess {
    /// The parsed URL (no password inside).
    pub remote: RemoteUrl,
    credentials: Credentials,
    secrets: Vec<String>,
    host_keys: HostKeyPolicy,
}

impl std::fmt::Debug for RemoteAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAccess")
            .field("remote", &self.remote)
            .field("credentials", &self.credentials)
            .field("host_keys", &self.host_keys)
            .finish_non_exhaustive()
    }
}

impl RemoteAccess {
    /// Parses the URL; a password inside it becomes the credentials unless credentials are configured.
    ///
    /// # Errors
    /// [`GitError::InvalidUrl`] for a bad URL.
    pub fn new(url: &str, configured: &Credentials, host_keys: &HostKeyPolicy) -> Result<Self, GitError> {
        let remote = RemoteUrl::parse(url)?;
        let credentials = match (configured, &remote.embedded_password) {
            (Credentials::None, Some(password)) => Credentials::Basic {
                username: remote.user.clone().unwrap_or_else(|| "git".into()),
                password: password.clone(),
            },
            (configured, _) => configured.clone(),
        };
        let mut secrets = credentials.secrets();
        if let Some(password) = &remote.embedded_password {
            secrets.push(password.expose().to_owned());
        }
        Ok(RemoteAccess { remote, credentials, secrets, host_keys: host_keys.clone() })
    }

    /// Text with the URL's credentials and every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        redact_text(text, &self.secrets)
    }

    /// A libgit2 error of `operation` (`fetch`, `push`, `ls-remote`) as a redacted [`GitError`].
    pub fn error(&self, operation: &'static str, error: &git2::Error) -> GitError {
        let reason = self.redact(error.message());
        if let Some(host_key) = reason.strip_prefix("host key: ") {
            return GitError::HostKey {
                host: self.remote.host.clone().unwrap_or_default(),
                reason: host_key.to_owned(),
            };
        }
        GitError::Remote { operation, url: self.remote.to_string(), reason }
    }

    /// Callbacks for a fetch or push: credentials (asked at most twice), the host-key check, and cancellation
    /// through `cancel`.
    pub fn callbacks(&self, cancel: Arc<AtomicBool>) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut attempts = 0;
        let credentials = &self.credentials;
        callbacks.credentials(move |_url, username_from_url, allowed| {
            // libgit2 asks again after a refused attempt; give up instead of looping.
            attempts += 1;
            if attempts > 2 {
                return Err(git2::Error::from_str("authentication failed"));
            }
            match credentials {
                Credentials::Basic { username, password } if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    Cred::userpass_plaintext(username, password.expose())
                }
                Credentials::SshKey { username, private_key, passphrase }
                    if allowed.contains(CredentialType::SSH_KEY) =>
                {
                    let user = username_from_url.unwrap_or(username);
                    Cred::ssh_key(user, None, private_key, passphrase.as_ref().map(|p| p.expose()))
                }
                Credentials::SshKey { username, .. } if allowed.contains(CredentialType::USERNAME) => {
                    Cred::username(username_from_url.unwrap_or(username))
                }
                Credentials::None => {
                    Err(git2::Error::from_str("the remote asks for credentials and none are configured"))
                }
                _ => Err(git2::Error::from_str("the configured credentials do not fit what the remote asks for")),
            }
        });
        let policy = self.host_keys.clone();
        let port = self.remote.port;
        callbacks.certificate_check(move |cert, host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: libgit2 (OpenSSL) has already verified the certificate chain; keep its verdict.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            check_host_key(&policy, host, port, hostkey)
        });
        let transfer_cancel = Arc::clone(&cancel);
        callbacks.transfer_progress(move |_| !transfer_cancel.load(Ordering::Relaxed));
        callbacks.sideband_progress(move |_| !cancel.load(Ordering::Relaxed));
        callbacks
    }
}

fn check_host_key(
    policy: &HostKeyPolicy,
    host: &str,
    port: Option<u16>,
    hostkey: &git2::cert::CertHostkey<'_>,
) -> Result<CertificateCheckStatus, git2::Error> {
    let path = match policy {
        HostKeyPolicy::InsecureAcceptAny => {
            tracing::warn!(host, "ssh host key accepted without verification (insecure host-key policy)");
            return Ok(CertificateCheckStatus::CertificateOk);
        }
        HostKeyPolicy::KnownHosts(path) => path,
    };
    let refuse = |reason: String| Err(git2::Error::from_str(&format!("host key: {reason}")));
    let (Some(key), Some(key_type)) = (hostkey.hostkey(), hostkey.hostkey_type()) else {
        return refuse("the server did not present a raw host key".into());
    };
    let Ok(contents) = std::fs::read_to_string(path) else {
        return refuse(format!("cannot read known_hosts file {}", path.display()));
    };
    match known_hosts::verify(&contents, host, port, key_type.name(), key) {
        Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
        Err(error) => refuse(error.to_string()),
    }
}
