//! The Git source against real bare remotes on disk: branch moves, force-push, unreachable remote, rejected
//! revisions, tags, fixed commits, path globs, and the poll loop with a trigger.

mod git_support;

use std::path::Path;
use std::time::Duration;

use flinkops::git::poll::{self, PollSettings, Trigger};
use flinkops::git::{Credentials, GitSource, HostKeyPolicy, PathFilter, Reference, Source, SourceConfig, SyncOutcome};
use git_support::{WorkRepo, bare_remote, deployment, remote_with_orders};

fn config(url: &str, reference: Reference, cache: &Path, filter: PathFilter) -> SourceConfig {
    SourceConfig {
        url: url.to_owned(),
        reference,
        credentials: Credentials::None,
        host_keys: HostKeyPolicy::default(),
        filter,
        cache_dir: cache.to_owned(),
    }
}

fn branch_source(remote: &Path, cache: &Path) -> GitSource {
    GitSource::open(config(remote.to_str().unwrap(), Reference::Branch("main".into()), cache, PathFilter::default()))
        .expect("open source")
}

fn file_names(source: &GitSource) -> Vec<String> {
    source.current().map(|s| s.files.iter().map(|(p, _)| p.clone()).collect()).unwrap_or_default()
}

#[test]
fn branch_moves_are_followed_and_unchanged_remotes_fetch_nothing() {
    let (_remote_dir, remote, work, first) = remote_with_orders();
    let cache = tempfile::tempdir().unwrap();
    let mut source = branch_source(&remote, cache.path());
    assert!(matches!(source.sync(), SyncOutcome::Updated { from: None, ref to } if *to == first.to_string()));
    assert!(matches!(source.sync(), SyncOutcome::Unchanged { .. }), "second sync: nothing moved");

    work.write("apps/payments.yaml", &deployment("payments", "flink:2.1", "savepoint", 2, ""));
    let second = work.commit("second");
    work.push(&remote);
    match source.sync() {
        SyncOutcome::Updated { from, to } => {
            assert_eq!(from, Some(first.to_string()));
            assert_eq!(to, second.to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(file_names(&source), ["apps/orders.yaml", "apps/payments.yaml"]);
    let status = source.status();
    assert_eq!(status.revision, Some(second.to_string()));
    assert!(status.last_success.is_some() && status.last_error.is_none());
}

#[test]
fn a_force_push_that_rewrites_history_is_followed() {
    let (_remote_dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    work.commit("first");
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    work.commit("second");
    work.push(&remote);
    let cache = tempfile::tempdir().unwrap();
    let mut source = branch_source(&remote, cache.path());
    assert!(matches!(source.sync(), SyncOutcome::Updated { .. }));

    work.write("apps/orders.yaml", &deployment("orders", "flink:2.3", "savepoint", 2, ""));
    let rewritten = work.commit_orphan("rewritten history");
    work.push(&remote);
    match source.sync() {
        SyncOutcome::Updated { to, .. } => assert_eq!(to, rewritten.to_string()),
        other => panic!("force-push not followed: {other:?}"),
    }
    let snapshot = source.current().unwrap();
    assert!(String::from_utf8_lossy(&snapshot.files[0].1).contains("flink:2.3"));
}

#[test]
fn an_unreachable_remote_keeps_the_last_good_revision() {
    let (remote_dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    let good = work.commit("good");
    work.push(&remote);
    let cache = tempfile::tempdir().unwrap();
    let mut source = branch_source(&remote, cache.path());
    assert!(matches!(source.sync(), SyncOutcome::Updated { .. }));
    let success = source.status().last_success;

    drop(remote_dir); // the remote disappears
    match source.sync() {
        SyncOutcome::Failed(error) => assert!(error.is_transient(), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(source.current().unwrap().revision, good.to_string(), "still serving the last good revision");
    let status = source.status();
    assert_eq!(status.revision, Some(good.to_string()));
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("ls-remote")), "{status:?}");
    assert_eq!(status.last_success, success);
    assert_eq!(status.consecutive_failures, 1);
}

#[test]
fn a_revision_that_is_rejected_keeps_the_last_good_one() {
    let (_remote_dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    let good = work.commit("good");
    work.push(&remote);
    let cache = tempfile::tempdir().unwrap();
    // Acceptance: every file must parse as YAML.
    let mut source = branch_source(&remote, cache.path()).with_acceptance(Box::new(|snapshot| {
        for (path, bytes) in &snapshot.files {
            let text = String::from_utf8_lossy(bytes);
            if let Some(error) = flinkops::manifests::yaml::parse_documents(&text).errors.first() {
                return Err(format!("{path}:{}: {}", error.line, error.message));
            }
        }
        Ok(())
    }));
    assert!(matches!(source.sync(), SyncOutcome::Updated { .. }));
    work.write("apps/orders.yaml", "spec: [unclosed\n");
    work.commit("broken");
    work.push(&remote);
    match source.sync() {
        SyncOutcome::Failed(error) => assert!(error.to_string().contains("apps/orders.yaml:"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(source.current().unwrap().revision, good.to_string());

    // The default acceptance refuses a revision without manifests (it would read as "delete everything").
    let cache = tempfile::tempdir().unwrap();
    let mut plain = branch_source(&remote, cache.path());
    plain.sync();
    work.remove("apps/orders.yaml");
    work.write("README.md", "moved\n");
    work.commit("everything gone");
    work.push(&remote);
    assert!(matches!(plain.sync(), SyncOutcome::Failed(flinkops::git::GitError::Rejected { .. })));
    assert!(plain.current().is_some());
}

#[test]
fn tags_commits_file_urls_and_globs() {
    let (_remote_dir, remote) = bare_remote();
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    work.write("apps/test/fixture.yaml", &deployment("fixture", "flink:2.1", "savepoint", 2, ""));
    work.write("platform/session.yaml", &deployment("session", "flink:2.1", "savepoint", 2, ""));
    let first = work.commit("first");
    work.tag("v1");
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    work.commit("second");
    work.push(&remote);
    let mut tags = work.repo.remote_anonymous(remote.to_str().unwrap()).unwrap();
    tags.push(&["+refs/tags/v1:refs/tags/v1"], None).unwrap();

    let url = format!("file://{}", remote.display());
    let filter = PathFilter::new(Some("apps"), &[], &["**/test/**".into()]).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut tagged = GitSource::open(config(&url, Reference::Tag("v1".into()), cache.path(), filter.clone())).unwrap();
    assert!(matches!(tagged.sync(), SyncOutcome::Updated { ref to, .. } if *to == first.to_string()));
    assert_eq!(file_names(&tagged), ["apps/orders.yaml"], "root and exclude glob applied");

    let cache = tempfile::tempdir().unwrap();
    let mut pinned =
        GitSource::open(config(&url, Reference::Commit(first.to_string()), cache.path(), PathFilter::default()))
            .unwrap();
    assert!(matches!(pinned.sync(), SyncOutcome::Updated { ref to, .. } if *to == first.to_string()));
    assert!(matches!(pinned.sync(), SyncOutcome::Unchanged { .. }));

    let cache = tempfile::tempdir().unwrap();
    let mut missing =
        GitSource::open(config(&url, Reference::Branch("nope".into()), cache.path(), PathFilter::default())).unwrap();
    assert!(matches!(missing.sync(), SyncOutcome::Failed(flinkops::git::GitError::UnknownRevision { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_loop_syncs_on_a_trigger_and_stops_on_shutdown() {
    let (_remote_dir, remote, work, _) = remote_with_orders();
    let cache = tempfile::tempdir().unwrap();
    let source = branch_source(&remote, cache.path());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    // An hour between polls: only the trigger can explain the second sync.
    let settings = PollSettings { interval: Duration::from_secs(3600), jitter: 0.1, timeout: Duration::from_secs(30) };
    let (mut handle, task) = poll::spawn(source, settings, shutdown_rx);
    tokio::time::timeout(Duration::from_secs(20), handle.snapshots.wait_for(Option::is_some)).await.unwrap().unwrap();

    work.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    let second = work.commit("second");
    work.push(&remote);
    handle.triggers.send(Trigger::Manual).await.unwrap();
    let wanted = second.to_string();
    tokio::time::timeout(
        Duration::from_secs(20),
        handle.snapshots.wait_for(|s| s.as_ref().is_some_and(|s| s.revision == wanted)),
    )
    .await
    .expect("trigger caused a sync")
    .unwrap();

    shutdown_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("loop stops").unwrap();
}
