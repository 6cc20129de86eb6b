//! File-watch mode: changes in a local working copy (notify) become a debounced [`Trigger::FileChange`], so an
//! editor's burst of writes causes one sync. Events inside `.git/` are ignored.

use std::path::Path;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::GitError;
use super::poll::Trigger;

/// Keeps the watch alive; dropping it stops watching (and ends the debounce task).
pub struct WatchGuard {
    _watcher: RecommendedWatcher,
    /// The debounce task.
    pub task: JoinHandle<()>,
}

/// Watches `dir` recursively and sends one trigger per burst of changes, `debounce` after the last change.
///
/// # Errors
/// [`GitError::Local`] when the directory cannot be watched.
pub fn watch_directory(
    dir: &Path,
    debounce: Duration,
    triggers: mpsc::Sender<Trigger>,
) -> Result<WatchGuard, GitError> {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let relevant = event.paths.iter().any(|p| !p.components().any(|c| c.as_os_str() == ".git"));
        if relevant {
            // The receiver is gone only after the guard is dropped; nothing to do then.
            let _ = events_tx.send(());
        }
    })
    .map_err(|e| GitError::Local { path: dir.display().to_string(), reason: e.to_string() })?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| GitError::Local { path: dir.display().to_string(), reason: e.to_string() })?;
    let task = tokio::spawn(async move {
        while events_rx.recv().await.is_some() {
            // Wait until the burst is over: no event for `debounce`.
            loop {
                match tokio::time::timeout(debounce, events_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if triggers.send(Trigger::FileChange).await.is_err() {
                return;
            }
        }
    });
    Ok(WatchGuard { _watcher: watcher, task })
}
