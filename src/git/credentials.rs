//! Credentials for Git remotes and the redaction that keeps them out of every log line, error, status and plan:
//! a [`Secret`] type whose `Debug` and `Display` print `***`, credentials read from a file or an environment
//! variable, and [`redact_url`] for `https://user:pass@host` spellings. Nothing here does network IO.

use std::fmt;
use std::path::PathBuf;

use super::error::GitError;

/// A secret string. Only [`Secret::expose`] reveals it; formatting never does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for handing to libgit2 or comparing a webhook token.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (e.g. a mounted Kubernetes Secret); trailing newlines are trimmed.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A value already in memory.
    Value(Secret),
}

impl SecretSource {
    /// Reads the secret.
    ///
    /// # Errors
    /// [`GitError::Credentials`] when the file or variable cannot be read or is empty; the message names the
    /// file or variable, never the content.
    pub fn read(&self) -> Result<Secret, GitError> {
        let (value, origin) = match self {
            SecretSource::File(path) => (
                std::fs::read_to_string(path).map_err(|e| GitError::Credentials {
                    origin: format!("file {}", path.display()),
                    reason: e.kind().to_string(),
                })?,
                format!("file {}", path.display()),
            ),
            SecretSource::Env(name) => (
                std::env::var(name).map_err(|_| GitError::Credentials {
                    origin: format!("environment variable {name}"),
                    reason: "not set or not UTF-8".into(),
                })?,
                format!("environment variable {name}"),
            ),
            SecretSource::Value(secret) => (secret.expose().to_owned(), "value".to_owned()),
        };
        let trimmed = value.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(GitError::Credentials { origin, reason: "empty".into() });
        }
        Ok(Secret::new(trimmed))
    }
}

/// How to authenticate to a remote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Anonymous (public https, local paths).
    #[default]
    None,
    /// HTTPS with a user name and a password or token (GitHub: any user name with a token, e.g. `x-access-token`).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: Secret,
    },
    /// SSH with a private key file.
    SshKey {
        /// User name (`git` for most hosts; the URL's user wins when it has one).
        username: String,
        /// Private key file.
        private_key: PathBuf,
        /// Passphrase of the key, if any.
        passphrase: Option<Secret>,
    },
}

impl Credentials {
    /// The secrets these credentials hold, for redacting text that might echo them.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::None => Vec::new(),
            Credentials::Basic { password, .. } => vec![password.expose().to_owned()],
            Credentials::SshKey { passphrase, .. } => passphrase.iter().map(|p| p.expose().to_owned()).collect(),
        }
    }
}

/// A URL with any `user:password@` part replaced by `***@` (user names can be tokens too).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Text with every URL's credentials and every known secret replaced by `***`.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text
        .split(' ')
        .map(|word| if word.contains("://") { redact_url(word) } else { word.to_owned() })
        .collect::<Vec<_>>()
        .join(" ");
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** Secret(***)");
        let credentials = Credentials::Basic { username: "u".into(), password: secret };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(redact_url("https://user:pass@github.com/a/b.git"), "https://***@github.com/a/b.git");
        assert_eq!(redact_url("https://token@github.com/a/b.git"), "https://***@github.com/a/b.git");
        assert_eq!(redact_url("https://github.com/a/b@c.git"), "https://github.com/a/b@c.git");
        assert_eq!(redact_url("git@github.com:a/b.git"), "git@github.com:a/b.git");
        assert_eq!(
            redact_text("failed to fetch https://u:p@h/x: auth hunter2", &["hunter2".into()]),
            "failed to fetch https://***@h/x: auth ***"
        );
    }

    #[test]
    fn secret_sources_read_files_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc123\n").unwrap();
        assert_eq!(SecretSource::File(file).read().unwrap().expose(), "abc123");
        let missing = SecretSource::Env("FLINKOPS_TEST_SURELY_UNSET_VARIABLE".into()).read().unwrap_err();
        assert!(missing.to_string().contains("FLINKOPS_TEST_SURELY_UNSET_VARIABLE"));
    }
}
