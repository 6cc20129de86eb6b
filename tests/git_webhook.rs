//! The push-webhook endpoint over real loopback HTTP: GitHub HMAC (valid, invalid, missing), GitLab tokens, pushes
//! to other branches, and a webhook that makes the poll loop fetch at once.

mod git_support;

use std::time::Duration;

use flinkops::git::poll::{self, PollSettings, Trigger};
use flinkops::git::webhook::{self, WebhookConfig};
use flinkops::git::{Credentials, GitSource, HostKeyPolicy, PathFilter, Reference, Secret, SourceConfig};
use git_support::{deployment, github_signature, post, remote_with_orders};
use tokio::sync::mpsc;

const SECRET: &str = "webhook-secret-value";

async fn serve(config: WebhookConfig, triggers: mpsc::Sender<Trigger>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, webhook::router(config, triggers)).await });
    port
}

fn config() -> WebhookConfig {
    WebhookConfig {
        github_secret: Some(Secret::new(SECRET)),
        gitlab_token: Some(Secret::new("gitlab-token")),
        branch: "main".into(),
    }
}

fn push_body(reference: &str) -> Vec<u8> {
    format!(r#"{{"ref":"{reference}","after":"0123456789abcdef0123456789abcdef01234567","repository":{{"name":"x"}}}}"#)
        .into_bytes()
}

#[tokio::test]
async fn github_signatures_and_branches() {
    let (tx, mut rx) = mpsc::channel(8);
    let port = serve(config(), tx).await;
    let body = push_body("refs/heads/main");

    let signature = github_signature(SECRET, &body);
    let (status, _) =
        post(port, webhook::PATH, &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature)], &body).await;
    assert_eq!(status, 200);
    let trigger = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(trigger, Trigger::Push { after: Some("0123456789abcdef0123456789abcdef01234567".into()) });

    let wrong = github_signature("not-the-secret", &body);
    let (status, _) =
        post(port, webhook::PATH, &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &wrong)], &body).await;
    assert_eq!(status, 401, "invalid signature");
    let (status, _) = post(port, webhook::PATH, &[("X-GitHub-Event", "push")], &body).await;
    assert_eq!(status, 401, "missing signature");

    let other = push_body("refs/heads/feature");
    let signature = github_signature(SECRET, &other);
    let (status, text) =
        post(port, webhook::PATH, &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature)], &other).await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("refs/heads/feature"));

    let ping = b"{}";
    let signature = github_signature(SECRET, ping);
    let (status, _) =
        post(port, webhook::PATH, &[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", &signature)], ping).await;
    assert_eq!(status, 200);
    assert!(rx.try_recv().is_err(), "only the valid push to main triggered a sync");
}

#[tokio::test]
async fn gitlab_tokens_and_unknown_senders() {
    let (tx, mut rx) = mpsc::channel(8);
    let port = serve(config(), tx).await;
    let body = push_body("refs/heads/main");
    let (status, _) =
        post(port, webhook::PATH, &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "gitlab-token")], &body).await;
    assert_eq!(status, 200);
    assert!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().is_some());
    let (status, _) =
        post(port, webhook::PATH, &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "guess")], &body).await;
    assert_eq!(status, 401);
    let (status, _) = post(port, webhook::PATH, &[], &body).await;
    assert_eq!(status, 400);
    assert!(rx.try_recv().is_err());

    let (tx, _rx) = mpsc::channel(8);
    let unconfigured =
        serve(WebhookConfig { github_secret: None, gitlab_token: None, branch: "main".into() }, tx).await;
    let (status, _) = post(unconfigured, webhook::PATH, &[("X-GitHub-Event", "push")], &body).await;
    assert_eq!(status, 403, "no secret configured: refuse rather than accept unsigned pushes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_push_makes_the_source_fetch_at_once() {
    let (_remote_dir, remote, work, _) = remote_with_orders();
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::open(SourceConfig {
        url: remote.to_str().unwrap().to_owned(),
        reference: Reference::Branch("main".into()),
        credentials: Credentials::None,
        host_keys: HostKeyPolicy::default(),
        filter: PathFilter::default(),
        cache_dir: cache.path().to_owned(),
    })
    .unwrap();
    let (_shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let settings = PollSettings { interval: Duration::from_secs(3600), jitter: 0.0, timeout: Duration::from_secs(30) };
    let (mut handle, _task) = poll::spawn(source, settings, shutdown_rx);
    tokio::time::timeout(Duration::from_secs(20), handle.snapshots.wait_for(Option::is_some)).await.unwrap().unwrap();
    let port = serve(config(), handle.triggers.clone()).await;

    work.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    let second = work.commit("second").to_string();
    work.push(&remote);
    let body = push_body("refs/heads/main");
    let signature = github_signature(SECRET, &body);
    let (status, _) =
        post(port, webhook::PATH, &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature)], &body).await;
    assert_eq!(status, 200);
    tokio::time::timeout(
        Duration::from_secs(20),
        handle.snapshots.wait_for(|s| s.as_ref().is_some_and(|s| s.revision == second)),
    )
    .await
    .expect("the push was fetched without waiting for the hour-long poll")
    .unwrap();
}
