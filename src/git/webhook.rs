//! The push-webhook endpoint (axum): GitHub (`X-Hub-Signature-256`, HMAC-SHA256 of the body, compared in constant
//! time) and GitLab (`X-Gitlab-Token`, compared in constant time) push events for the followed branch trigger a
//! sync at once; pushes to other refs are acknowledged and ignored. Unsigned or wrongly signed requests are refused
//! before the body is parsed. Nothing from the request headers is logged.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use tokio::sync::mpsc;

use super::credentials::Secret;
use super::poll::Trigger;

/// Where the endpoint is mounted.
pub const PATH: &str = "/hooks/git";

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// GitHub webhook secret; GitHub deliveries are refused without one.
    pub github_secret: Option<Secret>,
    /// GitLab secret token; GitLab deliveries are refused without one.
    pub gitlab_token: Option<Secret>,
    /// The branch followed (`main`); pushes to other refs are ignored.
    pub branch: String,
}

struct Hook {
    config: WebhookConfig,
    triggers: mpsc::Sender<Trigger>,
}

/// The router serving [`PATH`].
pub fn router(config: WebhookConfig, triggers: mpsc::Sender<Trigger>) -> Router {
    Router::new().route(PATH, post(receive)).with_state(Arc::new(Hook { config, triggers }))
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`; constant-time.
pub fn verify_github(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(hex_signature) = header.strip_prefix("sha256=") else { return false };
    let Ok(signature) = hex::decode(hex_signature) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Whether a GitLab token equals the configured one; constant-time in the token's content.
pub fn verify_gitlab(token: &Secret, header: &str) -> bool {
    constant_time_eq(token.expose().as_bytes(), header.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The fields of a push payload we use (GitHub and GitLab agree on them).
#[derive(Debug, serde::Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: String,
    after: Option<String>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let (provider, event) = if let Some(event) = header(&headers, "x-github-event") {
        let Some(secret) = &hook.config.github_secret else {
            return (StatusCode::FORBIDDEN, "GitHub webhooks are not configured\n".into());
        };
        if !header(&headers, "x-hub-signature-256").is_some_and(|h| verify_github(secret, &body, h)) {
            tracing::warn!(provider = "github", "webhook refused: bad signature");
            return (StatusCode::UNAUTHORIZED, "invalid signature\n".into());
        }
        if event == "ping" {
            return (StatusCode::OK, "pong\n".into());
        }
        ("github", (event == "push").then_some(event))
    } else if let Some(event) = header(&headers, "x-gitlab-event") {
        let Some(token) = &hook.config.gitlab_token else {
            return (StatusCode::FORBIDDEN, "GitLab webhooks are not configured\n".into());
        };
        if !header(&headers, "x-gitlab-token").is_some_and(|h| verify_gitlab(token, h)) {
            tracing::warn!(provider = "gitlab", "webhook refused: bad token");
            return (StatusCode::UNAUTHORIZED, "invalid token\n".into());
        }
        ("gitlab", (event == "Push Hook").then_some(event))
    } else {
        return (StatusCode::BAD_REQUEST, "not a GitHub or GitLab webhook\n".into());
    };
    if event.is_none() {
        return (StatusCode::ACCEPTED, "ignored: not a push event\n".into());
    }
    let push: Push = match serde_json::from_slice(&body) {
        Ok(push) => push,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("unreadable push payload: {error}\n")),
    };
    let wanted = format!("refs/heads/{}", hook.config.branch);
    if push.reference != wanted {
        tracing::debug!(provider, pushed = %push.reference, "webhook push to another ref ignored");
        return (StatusCode::ACCEPTED, format!("ignored: push to {}\n", push.reference));
    }
    tracing::info!(provider, branch = %hook.config.branch, after = ?push.after, "webhook push: syncing now");
    // A full queue means a sync is already pending, which covers this push too.
    let _ = hook.triggers.try_send(Trigger::Push { after: push.after });
    (StatusCode::OK, "sync triggered\n".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures() {
        let secret = Secret::new("It's a Secret to Everybody");
        // GitHub's documented example.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github(&secret, b"Hello, World!", header));
        assert!(!verify_github(&secret, b"Hello, World?", header));
        assert!(!verify_github(&secret, b"Hello, World!", "sha1=757107ea"));
        assert!(!verify_github(&secret, b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn gitlab_tokens() {
        let token = Secret::new("abc");
        assert!(verify_gitlab(&token, "abc"));
        assert!(!verify_gitlab(&token, "abd"));
        assert!(!verify_gitlab(&token, "ab"));
    }
}
