//! File-watch mode: edits in a working copy trigger one debounced sync of the working-copy source.

mod git_support;

use std::time::Duration;

use flinkops::git::poll::{self, PollSettings};
use flinkops::git::watch::watch_directory;
use flinkops::git::{PathFilter, Worktree};
use git_support::{WorkRepo, deployment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_manifest_triggers_a_sync() {
    let work = WorkRepo::new();
    work.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    let source = Worktree::new(work.path(), PathFilter::default());
    let (_shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let settings = PollSettings { interval: Duration::from_secs(3600), jitter: 0.0, timeout: Duration::from_secs(10) };
    let (mut handle, _task) = poll::spawn(source, settings, shutdown_rx);
    tokio::time::timeout(Duration::from_secs(10), handle.snapshots.wait_for(Option::is_some)).await.unwrap().unwrap();
    let first = handle.snapshots.borrow().as_ref().map(|s| s.revision.clone()).unwrap();
    assert!(first.starts_with("worktree:"));

    let _guard = watch_directory(work.path(), Duration::from_millis(200), handle.triggers.clone()).unwrap();
    // A burst of writes: one debounced trigger covers them all.
    for image in ["flink:2.2", "flink:2.3"] {
        work.write("apps/orders.yaml", &deployment("orders", image, "savepoint", 2, ""));
    }
    tokio::time::timeout(
        Duration::from_secs(15),
        handle.snapshots.wait_for(|s| {
            s.as_ref()
                .is_some_and(|s| s.revision != first && String::from_utf8_lossy(&s.files[0].1).contains("flink:2.3"))
        }),
    )
    .await
    .expect("file change triggered a sync")
    .unwrap();
}
