//! Shared helpers of the Git and plan integration tests: real repositories and bare remotes in temporary
//! directories, commits, pushes (force too), manifests, and running the `flinkops` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{IndexAddOption, Oid, Repository, RepositoryInitOptions, Signature};

/// A working copy on branch `main` in a temporary directory.
pub struct WorkRepo {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The repository.
    pub repo: Repository,
}

impl WorkRepo {
    /// An empty repository whose HEAD is `main`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut options = RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = Repository::init_opts(dir.path(), &options).expect("git init");
        WorkRepo { dir, repo }
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, text: &str) -> &Self {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(full, text).expect("write file");
        self
    }

    /// Removes a file.
    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.path().join(path)).expect("remove file");
        self
    }

    /// Commits every change in the working directory on the current branch.
    pub fn commit(&self, message: &str) -> Oid {
        let mut index = self.repo.index().expect("index");
        index.add_all(["*"], IndexAddOption::DEFAULT, None).expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree_id = index.write_tree().expect("write tree");
        let tree = self.repo.find_tree(tree_id).expect("tree");
        let signature = Signature::now("flinkops test", "test@example.com").expect("signature");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).expect("commit")
    }

    /// Rewrites history: the next commit has no parent (a force-push scenario).
    pub fn commit_orphan(&self, message: &str) -> Oid {
        let mut index = self.repo.index().expect("index");
        index.add_all(["*"], IndexAddOption::DEFAULT, None).expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree = self.repo.find_tree(index.write_tree().expect("tree")).expect("tree");
        let signature = Signature::now("flinkops test", "test@example.com").expect("signature");
        let id = self.repo.commit(None, &signature, &signature, message, &tree, &[]).expect("commit");
        self.repo.reference("refs/heads/main", id, true, "rewrite").expect("move main");
        id
    }

    /// Pushes `main` to a bare remote at `remote` (forced: history rewrites are pushed too).
    pub fn push(&self, remote: &Path) {
        let mut remote = self.repo.remote_anonymous(remote.to_str().expect("utf-8 path")).expect("remote");
        remote.push(&["+refs/heads/main:refs/heads/main"], None).expect("push");
    }

    /// Creates a lightweight tag at HEAD.
    pub fn tag(&self, name: &str) {
        let head = self.repo.head().expect("head").peel_to_commit().expect("commit");
        self.repo.tag_lightweight(name, head.as_object(), true).expect("tag");
    }
}

/// A bare repository to act as a remote.
pub fn bare_remote() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("remote.git");
    let mut options = RepositoryInitOptions::new();
    options.bare(true).initial_head("main");
    Repository::init_opts(&path, &options).expect("git init --bare");
    (dir, path)
}

/// A bare remote whose `main` holds one commit ("first") with `apps/orders.yaml`, and the working repository that
/// pushed it (for later commits); the temp dir keeps the remote alive.
pub fn remote_with_orders() -> (tempfile::TempDir, PathBuf, WorkRepo, Oid) {
    let (dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    let first = work.commit("first");
    work.push(&remote);
    (dir, remote, work, first)
}

/// A valid FlinkDeployment with savepoint upgrades; `extra_config` lines go under flinkConfiguration.
pub fn deployment(name: &str, image: &str, upgrade_mode: &str, parallelism: u32, extra_config: &str) -> String {
    format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: {name}
  namespace: team-a
spec:
  image: {image}
  flinkVersion: v2_1
  serviceAccount: flink
  flinkConfiguration:
    execution.checkpointing.dir: s3://state/{name}/cp
    execution.checkpointing.savepoint-dir: s3://state/{name}/sp
    taskmanager.numberOfTaskSlots: "2"
{extra_config}  jobManager:
    resource:
      memory: 2048m
      cpu: 1
  taskManager:
    resource:
      memory: 4g
      cpu: 2
  job:
    jarURI: local:///opt/flink/usrlib/{name}.jar
    parallelism: {parallelism}
    upgradeMode: {upgrade_mode}
"#
    )
}

/// A session cluster.
pub fn session_cluster(name: &str) -> String {
    format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: {name}
  namespace: team-a
spec:
  image: flink:2.1
  flinkVersion: v2_1
  serviceAccount: flink
  jobManager:
    resource: {{memory: 2g, cpu: 1}}
  taskManager:
    resource: {{memory: 2g, cpu: 1}}
"#
    )
}

/// A session job on `session`.
pub fn session_job(name: &str, session: &str, jar: &str) -> String {
    format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: {name}
  namespace: team-a
spec:
  deploymentName: {session}
  job:
    jarURI: {jar}
    parallelism: 2
    upgradeMode: stateless
"#
    )
}

/// Output of one `flinkops` run.
pub struct Run {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the `flinkops` binary.
pub fn flinkops(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_flinkops")).args(args).output().expect("run flinkops");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Sends one HTTP/1.1 POST to `127.0.0.1:port` and returns `(status, body)`. A hand-written client keeps the
/// tests independent of TLS providers; `Connection: close` bounds the read.
pub async fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `sha256=<hex>` GitHub signature of `body`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The commit `main` of a bare repository points at.
pub fn head(remote: &Path) -> Oid {
    Repository::open_bare(remote).unwrap().refname_to_id("refs/heads/main").unwrap()
}

/// A file's text at a commit of a bare repository.
pub fn file_at(remote: &Path, commit: Oid, path: &str) -> String {
    let repo = Repository::open_bare(remote).unwrap();
    let tree = repo.find_commit(commit).unwrap().tree().unwrap();
    let blob = repo.find_blob(tree.get_path(Path::new(path)).unwrap().id()).unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

/// `(file, origin, line)` for every added or removed line between a commit and its parent.
pub fn changed_lines(remote: &Path, commit: Oid) -> Vec<(String, char, String)> {
    let repo = Repository::open_bare(remote).unwrap();
    let commit = repo.find_commit(commit).unwrap();
    let parent = commit.parent(0).unwrap();
    let diff = repo.diff_tree_to_tree(Some(&parent.tree().unwrap()), Some(&commit.tree().unwrap()), None).unwrap();
    let mut lines = Vec::new();
    diff.print(git2::DiffFormat::Patch, |delta, _, line| {
        if matches!(line.origin(), '+' | '-') {
            let file = delta.new_file().path().unwrap().to_str().unwrap().to_owned();
            lines.push((file, line.origin(), String::from_utf8_lossy(line.content()).into_owned()));
        }
        true
    })
    .unwrap();
    lines
}
