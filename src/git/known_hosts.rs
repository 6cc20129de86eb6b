//! SSH host-key verification against an OpenSSH `known_hosts` file, on by default for every ssh remote. Supports
//! plain and `[host]:port` patterns, comma-separated lists, `*`/`?` wildcards and `!` negation; hashed entries
//! (`|1|…`, written by `HashKnownHosts yes`) are skipped, so write the file with `ssh-keyscan` (unhashed). Pure.

/// Why a host key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    /// No entry for this host and key type.
    #[error("{host} is not in known_hosts (add it with `ssh-keyscan {host}`)")]
    Unknown {
        /// The host pattern looked up.
        host: String,
    },
    /// An entry exists but the key differs: possibly a man-in-the-middle.
    #[error("the {key_type} key of {host} does not match known_hosts")]
    Mismatch {
        /// The host pattern looked up.
        host: String,
        /// Key type.
        key_type: String,
    },
}

/// Checks `key` (raw SSH wire-format public key) of type `key_type` (`ssh-ed25519`, `ssh-rsa`,
/// `ecdsa-sha2-nistp256`…) presented by `host` on `port` against the contents of a known_hosts file.
///
/// # Errors
/// [`HostKeyError::Unknown`] or [`HostKeyError::Mismatch`].
pub fn verify(
    known_hosts: &str,
    host: &str,
    port: Option<u16>,
    key_type: &str,
    key: &[u8],
) -> Result<(), HostKeyError> {
    let name = match port {
        Some(port) if port != 22 => format!("[{host}]:{port}"),
        _ => host.to_owned(),
    };
    let mut seen_type = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut patterns = fields.next().unwrap_or_default();
        if patterns == "@revoked" || patterns == "@cert-authority" {
            // Markers are not supported: a revoked key must not verify, and CA entries need certificate parsing.
            if patterns == "@revoked"
                && let (Some(p), Some(t), Some(k)) = (fields.next(), fields.next(), fields.next())
                && host_matches(p, &name)
                && t == key_type
                && decode_base64(k).as_deref() == Some(key)
            {
                return Err(HostKeyError::Mismatch { host: name, key_type: key_type.to_owned() });
            }
            continue;
        }
        if patterns.starts_with('|') {
            continue;
        }
        let (Some(entry_type), Some(entry_key)) = (fields.next(), fields.next()) else { continue };
        if !host_matches(std::mem::take(&mut patterns), &name) || entry_type != key_type {
            continue;
        }
        seen_type = true;
        if decode_base64(entry_key).as_deref() == Some(key) {
            return Ok(());
        }
    }
    if seen_type {
        Err(HostKeyError::Mismatch { host: name, key_type: key_type.to_owned() })
    } else {
        Err(HostKeyError::Unknown { host: name })
    }
}

fn host_matches(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard(negated, name) {
                return false;
            }
        } else if wildcard(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.to_ascii_lowercase().chars().collect());
    let p: Vec<char> = p.into_iter().map(|c| c.to_ascii_lowercase()).collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(&p, &t)
}

/// Standard base64 (with or without padding).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn known_hosts_rows() {
        let key = decode_base64(KEY_B64).unwrap();
        let file = format!(
            "# comment\ngithub.com,140.82.121.4 ssh-ed25519 {KEY_B64}\n[git.example.com]:2222 ssh-ed25519 {KEY_B64}\n\
             *.corp.example ssh-ed25519 {KEY_B64}\n|1|hashed|entry ssh-ed25519 {KEY_B64}\nother.example ssh-rsa AAAA\n"
        );
        type Case<'a> = (&'a str, &'a str, Option<u16>, &'a str, &'a [u8], bool);
        let cases: &[Case<'_>] = &[
            ("plain_host_matches", "github.com", None, "ssh-ed25519", &key, true),
            ("second_pattern_matches", "140.82.121.4", Some(22), "ssh-ed25519", &key, true),
            ("bracketed_port_matches", "git.example.com", Some(2222), "ssh-ed25519", &key, true),
            ("port_must_match", "git.example.com", None, "ssh-ed25519", &key, false),
            ("wildcard_matches", "git.corp.example", None, "ssh-ed25519", &key, true),
            ("unknown_host_fails", "evil.example", None, "ssh-ed25519", &key, false),
            ("wrong_key_fails", "github.com", None, "ssh-ed25519", b"other", false),
            ("other_key_type_is_unknown", "github.com", None, "ssh-rsa", &key, false),
        ];
        for (name, host, port, key_type, key, ok) in cases {
            assert_eq!(verify(&file, host, *port, key_type, key).is_ok(), *ok, "{name}");
        }
        assert!(matches!(verify(&file, "github.com", None, "ssh-ed25519", b"x"), Err(HostKeyError::Mismatch { .. })));
        assert!(matches!(verify(&file, "nope", None, "ssh-ed25519", &key), Err(HostKeyError::Unknown { .. })));
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("a!"), None);
    }
}
