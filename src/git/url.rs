//! Remote URLs: `https://` (and `http://` for test servers), `ssh://` and scp-style `user@host:path`, `file://`
//! and plain local paths. Credentials embedded in an https URL are taken out of it at once, so the URL handed to
//! libgit2, and therefore every message it produces, never contains them. Pure.

use std::fmt;

use super::credentials::{Secret, redact_url};
use super::error::GitError;

/// How a remote is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `https://`.
    Https,
    /// `http://` (tests, internal mirrors).
    Http,
    /// `ssh://` or scp-style.
    Ssh,
    /// `file://` or a local path.
    Local,
    /// `git://` (a `git daemon`): unauthenticated and unencrypted, for read-only mirrors and loopback tests.
    Git,
}

/// A parsed remote URL without credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    /// The transport.
    pub transport: Transport,
    /// The URL as handed to libgit2 (no password inside).
    pub url: String,
    /// Host, for ssh host-key checks.
    pub host: Option<String>,
    /// Port, when not the default.
    pub port: Option<u16>,
    /// User name from the URL.
    pub user: Option<String>,
    /// Password or token that was embedded in the URL, moved out of it.
    pub embedded_password: Option<Secret>,
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteUrl")
            .field("transport", &self.transport)
            .field("url", &self.url)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user.as_ref().map(|_| "***"))
            .field("embedded_password", &self.embedded_password)
            .finish()
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

impl RemoteUrl {
    /// Parses a remote URL.
    ///
    /// # Errors
    /// [`GitError::InvalidUrl`] (with the URL redacted) for unsupported schemes and malformed URLs.
    pub fn parse(raw: &str) -> Result<Self, GitError> {
        let invalid = |reason: &str| GitError::InvalidUrl { url: redact_url(raw), reason: reason.to_owned() };
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("empty"));
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            let transport = match scheme.to_ascii_lowercase().as_str() {
                "https" => Transport::Https,
                "http" => Transport::Http,
                "ssh" | "git+ssh" => Transport::Ssh,
                "git" => Transport::Git,
                "file" => {
                    return Ok(RemoteUrl {
                        transport: Transport::Local,
                        url: raw.to_owned(),
                        host: None,
                        port: None,
                        user: None,
                        embedded_password: None,
                    });
                }
                _ => return Err(invalid("unsupported scheme (use https, ssh, git, file or a local path)")),
            };
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let (userinfo, host_port) = match authority.rfind('@') {
                Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
                None => (None, authority),
            };
            let (host, port) = split_host_port(host_port).ok_or_else(|| invalid("bad host or port"))?;
            if host.is_empty() {
                return Err(invalid("no host"));
            }
            let (user, password) = match userinfo {
                Some(info) => match info.split_once(':') {
                    Some((user, password)) => (Some(user.to_owned()), Some(Secret::new(password))),
                    None => (Some(info.to_owned()), None),
                },
                None => (None, None),
            };
            let keep_user = transport == Transport::Ssh;
            let authority = match (&user, keep_user) {
                (Some(user), true) => format!("{user}@{host_port}"),
                _ => host_port.to_owned(),
            };
            let url = format!("{scheme}://{authority}{path}");
            return Ok(RemoteUrl { transport, url, host: Some(host), port, user, embedded_password: password });
        }
        // scp-style `user@host:path` (a colon before the first slash, and not a Windows drive letter).
        if let Some(colon) = raw.find(':')
            && raw[..colon].find('/').is_none()
            && colon > 1
        {
            let (user_host, _) = raw.split_at(colon);
            let (user, host) = match user_host.split_once('@') {
                Some((user, host)) => (Some(user.to_owned()), host.to_owned()),
                None => (None, user_host.to_owned()),
            };
            return Ok(RemoteUrl {
                transport: Transport::Ssh,
                url: raw.to_owned(),
                host: Some(host),
                port: None,
                user,
                embedded_password: None,
            });
        }
        Ok(RemoteUrl {
            transport: Transport::Local,
            url: raw.to_owned(),
            host: None,
            port: None,
            user: None,
            embedded_password: None,
        })
    }
}

fn split_host_port(host_port: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok()?))),
        None => Some((host_port.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_transport() {
        let https = RemoteUrl::parse("https://bot:s3cret@git.example.com:8443/team/flink.git").unwrap();
        assert_eq!(https.transport, Transport::Https);
        assert_eq!(https.url, "https://git.example.com:8443/team/flink.git");
        assert_eq!(https.user.as_deref(), Some("bot"));
        assert_eq!(https.embedded_password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!format!("{https:?} {https}").contains("s3cret"));

        let ssh = RemoteUrl::parse("ssh://git@git.example.com:2222/team/flink.git").unwrap();
        assert_eq!(
            (ssh.transport, ssh.host.as_deref(), ssh.port),
            (Transport::Ssh, Some("git.example.com"), Some(2222))
        );
        let scp = RemoteUrl::parse("git@github.com:team/flink.git").unwrap();
        assert_eq!(
            (scp.transport, scp.host.as_deref(), scp.user.as_deref()),
            (Transport::Ssh, Some("github.com"), Some("git"))
        );
        assert_eq!(RemoteUrl::parse("file:///srv/git/flink.git").unwrap().transport, Transport::Local);
        assert_eq!(RemoteUrl::parse("git://127.0.0.1:9418/flink.git").unwrap().transport, Transport::Git);
        assert_eq!(RemoteUrl::parse("/srv/git/flink.git").unwrap().transport, Transport::Local);
        assert_eq!(RemoteUrl::parse("./relative/repo").unwrap().transport, Transport::Local);
        let bad = RemoteUrl::parse("ftp://u:hunter2@h/x").unwrap_err().to_string();
        assert!(!bad.contains("hunter2"), "{bad}");
    }
}
