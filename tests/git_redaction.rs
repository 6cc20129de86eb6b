//! Credentials never appear in any log line, error, status, Debug output or plan: a fake HTTP Git server on
//! loopback demands authentication, so the credentials are really used, and everything flinkops says about the
//! attempt is captured and searched for them.

mod git_support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flinkops::git::{
    Credentials, GitSource, HostKeyPolicy, PathFilter, Reference, SecretSource, Source, SourceConfig, SyncOutcome,
};
use git_support::{WorkRepo, deployment, flinkops};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FILE_TOKEN: &str = "ghp_FILETOKEN0123456789";
const URL_PASSWORD: &str = "urlpassword-s3cr3t";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// Every log line of this test binary, at every level.
fn logs() -> &'static Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
}

/// A server that answers every request with 401 Basic and records the Authorization headers it receives.
async fn auth_demanding_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                for line in text.lines() {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        record.lock().unwrap().push(line.to_owned());
                    }
                }
                let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

fn basic(user: &str, password: &str) -> String {
    // Base64 of user:password, by hand to avoid a dev-dependency.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    for secret in [FILE_TOKEN, URL_PASSWORD, &basic("bot", FILE_TOKEN), &basic("bot", URL_PASSWORD)] {
        assert!(!text.contains(secret), "{what} leaks a credential:\n{text}");
    }
}

async fn sync_against(url: String, credentials: Credentials) -> (SyncOutcome, String, String) {
    let cache = tempfile::tempdir().unwrap();
    let config = SourceConfig {
        url,
        reference: Reference::Branch("main".into()),
        credentials,
        host_keys: HostKeyPolicy::default(),
        filter: PathFilter::default(),
        cache_dir: cache.path().to_owned(),
    };
    let config_debug = format!("{config:?}");
    let mut source = GitSource::open(config).unwrap();
    let (outcome, source) = tokio::task::spawn_blocking(move || {
        let outcome = source.sync();
        (outcome, source)
    })
    .await
    .unwrap();
    let debug = format!(
        "{config_debug}\n{source:?}\n{:?}\n{}",
        source.status(),
        serde_json::to_string(&source.status()).unwrap()
    );
    (outcome, debug, String::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_used_but_never_printed() {
    let logs = logs();
    let (port, seen) = auth_demanding_server().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{FILE_TOKEN}\n")).unwrap();
    let password = SecretSource::File(token_file).read().unwrap();

    // Token from a file.
    let (outcome, debug, _) = sync_against(
        format!("http://127.0.0.1:{port}/team/flink.git"),
        Credentials::Basic { username: "bot".into(), password },
    )
    .await;
    let SyncOutcome::Failed(error) = outcome else { panic!("the server refuses everyone") };
    assert!(seen.lock().unwrap().iter().any(|h| h.contains(&basic("bot", FILE_TOKEN))), "the token was sent: {seen:?}");
    assert_clean("error", &format!("{error} {error:?}"));
    assert_clean("debug output and status", &debug);

    // Password embedded in the URL.
    let (outcome, debug, _) =
        sync_against(format!("http://bot:{URL_PASSWORD}@127.0.0.1:{port}/team/flink.git"), Credentials::None).await;
    let SyncOutcome::Failed(error) = outcome else { panic!("the server refuses everyone") };
    assert!(seen.lock().unwrap().iter().any(|h| h.contains(&basic("bot", URL_PASSWORD))), "{seen:?}");
    let message = error.to_string();
    assert!(message.contains("127.0.0.1"), "the error still says where: {message}");
    assert_clean("error", &format!("{message} {error:?}"));
    assert_clean("debug output and status", &debug);

    // An unreachable https remote with credentials in the URL.
    let (outcome, debug, _) =
        sync_against(format!("https://bot:{URL_PASSWORD}@127.0.0.1:1/team/flink.git"), Credentials::None).await;
    assert!(matches!(outcome, SyncOutcome::Failed(_)));
    assert_clean("debug output and status", &debug);

    let captured = logs.text();
    assert!(captured.contains("sync failed"), "logs were captured: {captured}");
    assert_clean("logs", &captured);
}

#[test]
fn plans_never_print_remote_credentials() {
    let work = WorkRepo::new();
    work.repo.remote("origin", &format!("https://bot:{URL_PASSWORD}@git.example.com/team/flink.git")).unwrap();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    work.commit("first");
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    work.commit("second");
    let path = work.path().to_str().unwrap();
    for output in ["text", "markdown", "json"] {
        let run = flinkops(&["plan", "--repo", path, "--base", "HEAD~1", "--output", output]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_clean(output, &format!("{}{}", run.stdout, run.stderr));
    }
    let run = flinkops(&["plan", "--repo", path, "--base", "origin/main"]);
    assert_eq!(run.code, 2);
    assert_clean("usage error", &format!("{}{}", run.stdout, run.stderr));
}
