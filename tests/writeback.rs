//! Savepoint write-back against real bare remotes: one commit touching only annotation lines, idempotence,
//! opt-out, deleted manifests, a separate write-back branch, and a human pushing to the branch in a loop while
//! write-back writes (over `git daemon` on loopback, whose receive-pack updates refs atomically).

mod git_support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flinkops::crd::Kind;
use flinkops::git::{Credentials, HostKeyPolicy, PathFilter, Reference, SourceConfig};
use flinkops::writeback::{
    SavepointRecord, SkipReason, WriteBack, WriteBackConfig, WriteBackError, is_write_back_commit,
};
use git_support::{WorkRepo, bare_remote, changed_lines, deployment, file_at, head, remote_with_orders};
use git2::{Oid, Repository};

fn source(url: &str) -> SourceConfig {
    SourceConfig {
        url: url.to_owned(),
        reference: Reference::Branch("main".into()),
        credentials: Credentials::None,
        host_keys: HostKeyPolicy::InsecureAcceptAny,
        filter: PathFilter::default(),
        cache_dir: PathBuf::new(),
    }
}

fn record(name: &str, n: i64) -> SavepointRecord {
    SavepointRecord {
        kind: Kind::FlinkDeployment,
        namespace: "team-a".into(),
        name: name.into(),
        location: format!("s3://state/{name}/sp/savepoint-{n}"),
        time_ms: 1_795_000_000_000 + n,
        trigger: "upgrade".into(),
        job_id: Some(format!("{n:032x}")),
    }
}

fn open(remote: &str, state: &Path, config: WriteBackConfig) -> WriteBack {
    WriteBack::open(&source(remote), &state.join("writeback"), config).unwrap()
}

#[test]
fn one_record_is_one_commit_touching_only_annotation_lines() {
    let (_dir, remote, work, first) = remote_with_orders();
    let state = tempfile::tempdir().unwrap();
    let mut writeback = open(remote.to_str().unwrap(), state.path(), WriteBackConfig::default());

    let outcome = writeback.write(&[record("orders", 1)]).unwrap();
    let commit = Oid::from_str(outcome.commit.as_deref().expect("a commit")).unwrap();
    assert_eq!(head(&remote), commit);
    assert_eq!(outcome.written, ["FlinkDeployment team-a/orders"]);
    assert_eq!(outcome.attempts, 1);

    let repo = Repository::open_bare(&remote).unwrap();
    let pushed = repo.find_commit(commit).unwrap();
    assert_eq!(pushed.parent_ids().collect::<Vec<_>>(), [first], "exactly one new commit on top of the old head");
    assert!(is_write_back_commit(pushed.message().unwrap()));
    assert_eq!(pushed.author().name().unwrap(), "flinkops");
    assert!(pushed.message().unwrap().contains("s3://state/orders/sp/savepoint-1"));

    let lines = changed_lines(&remote, commit);
    assert!(lines.iter().all(|(file, origin, _)| file == "apps/orders.yaml" && *origin == '+'), "{lines:?}");
    let added: Vec<&str> = lines.iter().map(|(_, _, line)| line.as_str()).collect();
    assert_eq!(
        added,
        [
            "  annotations:\n",
            "    flinkops.io/savepoint-path: s3://state/orders/sp/savepoint-1\n",
            "    flinkops.io/savepoint-time: \"2026-11-18T11:06:40.001Z\"\n",
            "    flinkops.io/savepoint-trigger: upgrade\n",
            "    flinkops.io/savepoint-job-id: \"00000000000000000000000000000001\"\n",
        ]
    );
    let original = std::fs::read_to_string(work.path().join("apps/orders.yaml")).unwrap();
    let edited = file_at(&remote, commit, "apps/orders.yaml");
    assert_eq!(edited.replace(&added.concat(), ""), original, "removing the added lines restores the file");

    // A second record replaces the values in place: only the changed annotation lines differ.
    let outcome = writeback.write(&[record("orders", 2)]).unwrap();
    let second = Oid::from_str(outcome.commit.as_deref().unwrap()).unwrap();
    let lines = changed_lines(&remote, second);
    assert_eq!(lines.len(), 6, "path, time and job id replaced, the trigger stays: {lines:?}");
    assert!(lines.iter().all(|(_, _, line)| line.starts_with("    flinkops.io/savepoint-")), "{lines:?}");
}

#[test]
fn writing_the_same_record_twice_makes_one_commit() {
    let (_dir, remote, _work, _) = remote_with_orders();
    let state = tempfile::tempdir().unwrap();
    let mut writeback = open(remote.to_str().unwrap(), state.path(), WriteBackConfig::default());
    let first = writeback.write(&[record("orders", 1)]).unwrap();
    assert!(first.commit.is_some());
    let after_first = head(&remote);
    let second = writeback.write(&[record("orders", 1)]).unwrap();
    assert_eq!(second.commit, None);
    assert_eq!(second.unchanged, ["FlinkDeployment team-a/orders"]);
    assert_eq!(head(&remote), after_first);
    // A fresh clone (an operator restart) agrees.
    let mut restarted = open(remote.to_str().unwrap(), state.path(), WriteBackConfig::default());
    assert_eq!(restarted.write(&[record("orders", 1)]).unwrap().commit, None);
}

#[test]
fn opted_out_and_deleted_manifests_are_reported_and_skipped() {
    let (_dir, remote, work, _) = remote_with_orders();
    let opted_out = deployment("clicks", "flink:2.1", "savepoint", 2, "").replace(
        "  namespace: team-a\n",
        "  namespace: team-a\n  annotations:\n    flinkops.io/write-back: \"false\"\n",
    );
    work.write("apps/clicks.yaml", &opted_out)
        .write("apps/gone.yaml", &deployment("gone", "flink:2.1", "savepoint", 1, ""));
    work.commit("clicks and gone");
    work.remove("apps/gone.yaml");
    work.commit("delete gone");
    work.push(&remote);
    let before = head(&remote);
    let state = tempfile::tempdir().unwrap();
    let mut writeback = open(remote.to_str().unwrap(), state.path(), WriteBackConfig::default());

    let outcome = writeback.write(&[record("clicks", 1), record("gone", 1)]).unwrap();
    assert_eq!(outcome.commit, None);
    assert_eq!(head(&remote), before);
    let reasons: Vec<(&str, &SkipReason)> = outcome.skipped.iter().map(|s| (s.resource.as_str(), &s.reason)).collect();
    assert_eq!(
        reasons,
        [
            ("FlinkDeployment team-a/clicks", &SkipReason::OptedOut { file: "apps/clicks.yaml".into() }),
            ("FlinkDeployment team-a/gone", &SkipReason::NotFound),
        ]
    );

    // The skipped records do not hold back the others.
    let outcome = writeback.write(&[record("gone", 2), record("orders", 2)]).unwrap();
    assert!(outcome.commit.is_some());
    assert_eq!(outcome.written, ["FlinkDeployment team-a/orders"]);
    assert_eq!(outcome.skipped.len(), 1);
}

#[test]
fn a_configured_branch_is_created_from_the_followed_one() {
    let (_dir, remote, _work, first) = remote_with_orders();
    let state = tempfile::tempdir().unwrap();
    let config = WriteBackConfig { branch: Some("flinkops/savepoints".into()), ..WriteBackConfig::default() };
    let mut writeback = open(remote.to_str().unwrap(), state.path(), config);
    let outcome = writeback.write(&[record("orders", 1)]).unwrap();
    let repo = Repository::open_bare(&remote).unwrap();
    let branch = repo.refname_to_id("refs/heads/flinkops/savepoints").unwrap();
    assert_eq!(Some(branch.to_string()), outcome.commit);
    assert_eq!(head(&remote), first, "the followed branch is untouched");
    assert_eq!(repo.find_commit(branch).unwrap().parent_id(0).unwrap(), first);
}

#[test]
fn disabled_write_back_writes_nothing() {
    let (_dir, remote, _work, first) = remote_with_orders();
    let state = tempfile::tempdir().unwrap();
    let config = WriteBackConfig { enabled: false, ..WriteBackConfig::default() };
    let outcome = open(remote.to_str().unwrap(), state.path(), config).write(&[record("orders", 1)]).unwrap();
    assert_eq!(outcome.skipped[0].reason, SkipReason::Disabled);
    assert_eq!(head(&remote), first);
}

/// A `git daemon` serving `base` on a free loopback port, with pushes enabled; killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(base: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("git")
            .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Human", "-c", "user.email=human@example.com"])
        .args(args)
        .output()
        .expect("git")
}

/// A human clones the branch and pushes `commits` unrelated commits, rebasing when the push is rejected; returns
/// the pushed commit ids.
fn human(url: &str, dir: &Path, commits: usize) -> Vec<Oid> {
    assert!(git(dir.parent().unwrap(), &["clone", "-q", url, dir.to_str().unwrap()]).status.success());
    let mut pushed = Vec::new();
    for i in 0..commits {
        std::fs::write(dir.join(format!("notes-{i}.md")), format!("note {i}\n")).unwrap();
        assert!(git(dir, &["add", "-A"]).status.success());
        assert!(git(dir, &["commit", "-q", "-m", &format!("human {i}")]).status.success());
        let mut done = false;
        for _ in 0..50 {
            if git(dir, &["push", "-q", "origin", "main"]).status.success() {
                done = true;
                break;
            }
            assert!(git(dir, &["pull", "-q", "--rebase", "origin", "main"]).status.success());
        }
        assert!(done, "human push {i} kept being rejected");
        let id = String::from_utf8(git(dir, &["rev-parse", "HEAD"]).stdout).unwrap();
        pushed.push(Oid::from_str(id.trim()).unwrap());
    }
    pushed
}

#[test]
fn concurrent_human_pushes_lose_nothing_and_nothing_is_forced() {
    const ROUNDS: usize = 20;
    let (dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""))
        .write("apps/clicks.yaml", &deployment("clicks", "flink:2.1", "savepoint", 2, ""));
    work.commit("first");
    work.push(&remote);
    let bare = Repository::open_bare(&remote).unwrap();
    bare.config().unwrap().set_str("core.logAllRefUpdates", "always").unwrap();
    let daemon = Daemon::start(dir.path());
    let url = format!("git://127.0.0.1:{}/remote.git", daemon.port);

    let human_dir = tempfile::tempdir().unwrap();
    let human_url = url.clone();
    let human_path = human_dir.path().join("clone");
    let human = std::thread::spawn(move || human(&human_url, &human_path, ROUNDS));

    let state = tempfile::tempdir().unwrap();
    let config =
        WriteBackConfig { max_push_attempts: 10, retry_backoff: Duration::from_millis(10), ..Default::default() };
    let mut writeback = open(&url, state.path(), config);
    let mut written = Vec::new();
    let mut retried = 0;
    for round in 1..=ROUNDS as i64 {
        let records = [record("orders", round), record("clicks", round)];
        let mut outcome = None;
        for _ in 0..5 {
            match writeback.write(&records) {
                Ok(result) => {
                    outcome = Some(result);
                    break;
                }
                Err(WriteBackError::PushRejected { .. }) => retried += 1,
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        let outcome = outcome.expect("a write within 5 cycles");
        assert_eq!(outcome.written.len(), 2, "round {round}: {outcome:?}");
        retried += outcome.attempts.saturating_sub(1) as usize;
        written.push(Oid::from_str(outcome.commit.as_deref().unwrap()).unwrap());
    }
    let humans = human.join().expect("human thread");
    eprintln!("write-back push retries under contention: {retried}");

    let head = head(&remote);
    for commit in humans.iter().chain(&written) {
        assert!(*commit == head || bare.graph_descendant_of(head, *commit).unwrap(), "{commit} was lost");
    }
    for (file, name) in [("apps/orders.yaml", "orders"), ("apps/clicks.yaml", "clicks")] {
        let text = file_at(&remote, head, file);
        let wanted = format!("flinkops.io/savepoint-path: s3://state/{name}/sp/savepoint-{ROUNDS}\n");
        assert!(text.contains(&wanted), "{file}:\n{text}");
    }
    // No force-push: every update of the branch moved it forward.
    let reflog = bare.reflog("refs/heads/main").unwrap();
    assert!(reflog.len() >= 2 * ROUNDS, "the reflog records every push ({})", reflog.len());
    for entry in reflog.iter() {
        let (old, new) = (entry.id_old(), entry.id_new());
        assert!(old.is_zero() || bare.graph_descendant_of(new, old).unwrap(), "{old} -> {new} is not a fast-forward");
    }
}
