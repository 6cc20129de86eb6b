//! The driver that decides when a [`Source`] syncs: every poll interval plus jitter, and at once when a trigger
//! arrives (push webhook, file change). Each sync runs on `spawn_blocking` under a timeout; a sync that overruns is
//! cancelled through the source's cancel flag, and a new one never starts while an old one still runs, so the
//! loop is bounded in threads and time. Shutdown ends it at the next await.
//!
//! Snapshots and status are published on `tokio::sync::watch` channels: consumers always see the last good
//! revision.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::source::{Snapshot, Source, SourceStatus, SyncOutcome};

/// Why a sync was asked for out of schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A push webhook for the followed branch (with the pushed commit, when the payload names it).
    Push {
        /// The commit id after the push.
        after: Option<String>,
    },
    /// Files changed in the watched working copy.
    FileChange,
    /// Asked for by an operator or a test.
    Manual,
}

/// Timing of the poll loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSettings {
    /// Time between polls (Argo CD uses 120 s, Flux 1 m for Git sources).
    pub interval: Duration,
    /// Extra random delay, as a fraction of the interval (0.1 = up to 10 %), so many sources do not poll in step.
    pub jitter: f64,
    /// Upper bound of one sync (ls-remote, fetch, tree read).
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings { interval: Duration::from_secs(60), jitter: 0.1, timeout: Duration::from_secs(120) }
    }
}

/// The wait before the next poll: `interval` plus `jitter × interval × random/u64::MAX`. Pure.
pub fn jittered(interval: Duration, jitter: f64, random: u64) -> Duration {
    let fraction = jitter.clamp(0.0, 1.0) * (random as f64 / u64::MAX as f64);
    interval + interval.mul_f64(fraction)
}

/// Upper bound of the wait after failed syncs (unless the poll interval itself is longer).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// The wait before the next sync after `failures` consecutive failed ones: the interval doubled per failure
/// (`interval`, `2 × interval`, `4 × interval`, …) up to `max(interval, cap)`, plus `jitter` as in [`jittered`].
/// With no failure it is the plain jittered interval, so a success resets the backoff. Pure.
pub fn retry_delay(interval: Duration, failures: u32, cap: Duration, jitter: f64, random: u64) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let base = interval.saturating_mul(1 << doublings).min(cap.max(interval));
    jittered(base, jitter, random)
}

/// [`retry_delay`] with [`MAX_RETRY_DELAY`] and a random jitter.
pub fn next_sync_delay(interval: Duration, failures: u32, jitter: f64) -> Duration {
    retry_delay(interval, failures, MAX_RETRY_DELAY, jitter, random_u64())
}

fn random_u64() -> u64 {
    // std's RandomState is seeded from the OS; enough for spreading polls, no extra crate needed.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    hasher.finish()
}

/// What one blocking sync hands back to the loop.
type SyncResult = (SyncOutcome, SourceStatus, Option<Arc<Snapshot>>);

/// What a running poll loop offers.
#[derive(Debug, Clone)]
pub struct SourceHandle {
    /// The last good snapshot (None until the first successful sync).
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    /// The status after every sync.
    pub status: watch::Receiver<SourceStatus>,
    /// Send a trigger to sync at once.
    pub triggers: mpsc::Sender<Trigger>,
}

/// Starts the poll loop of `source` on the current tokio runtime. It runs until `shutdown` becomes true (or its
/// sender is dropped).
pub fn spawn<S: Source>(
    source: S,
    settings: PollSettings,
    mut shutdown: watch::Receiver<bool>,
) -> (SourceHandle, JoinHandle<()>) {
    let (snapshot_tx, snapshot_rx) = watch::channel(source.current());
    let (status_tx, status_rx) = watch::channel(source.status());
    let (trigger_tx, mut trigger_rx) = mpsc::channel(16);
    let cancel = source.cancel_flag();
    let source = Arc::new(Mutex::new(source));
    let task = tokio::spawn(async move {
        let mut running: Option<JoinHandle<SyncResult>> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let job = match running.take() {
                Some(job) => job,
                None => {
                    let source = Arc::clone(&source);
                    tokio::task::spawn_blocking(move || {
                        let mut source = source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let outcome = source.sync();
                        (outcome, source.status(), source.current())
                    })
                }
            };
            let mut job = job;
            tokio::select! {
                finished = tokio::time::timeout(settings.timeout, &mut job) => match finished {
                    Ok(Ok((outcome, status, current))) => {
                        if matches!(outcome, SyncOutcome::Updated { .. }) {
                            snapshot_tx.send_replace(current);
                        }
                        status_tx.send_replace(status);
                    }
                    Ok(Err(join_error)) => {
                        tracing::error!(error = %join_error, "git sync task failed");
                    }
                    Err(_) => {
                        tracing::warn!(seconds = settings.timeout.as_secs(), "git sync timed out; cancelling it");
                        cancel.store(true, Ordering::Relaxed);
                        status_tx.send_modify(|status| {
                            status.last_error = Some(format!("sync timed out after {} s", settings.timeout.as_secs()));
                            status.last_error_category = Some("timeout");
                            status.consecutive_failures += 1;
                        });
                        // Do not start another sync while this one still holds the source.
                        running = Some(job);
                    }
                },
                _ = shutdown.changed() => {
                    cancel.store(true, Ordering::Relaxed);
                    break;
                }
            }
            // Failed syncs back off exponentially (reset by the next success), so a lost remote is not hammered.
            let failures = status_tx.borrow().consecutive_failures;
            let wait = next_sync_delay(settings.interval, failures, settings.jitter);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                trigger = trigger_rx.recv() => {
                    if let Some(trigger) = trigger {
                        tracing::debug!(?trigger, "sync triggered");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    });
    (SourceHandle { snapshots: snapshot_rx, status: status_rx, triggers: trigger_tx }, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded() {
        let interval = Duration::from_secs(100);
        assert_eq!(jittered(interval, 0.1, 0), interval);
        assert_eq!(jittered(interval, 0.1, u64::MAX), Duration::from_secs(110));
        assert_eq!(jittered(interval, 5.0, u64::MAX), Duration::from_secs(200), "jitter is capped at 100 %");
        let some = jittered(interval, 0.1, random_u64());
        assert!(some >= interval && some <= Duration::from_secs(110));
    }

    #[test]
    fn retry_delay_should_double_per_failure_up_to_the_cap() {
        let second = Duration::from_secs(1);
        let cap = Duration::from_secs(10);
        let delays: Vec<u64> = (0..7).map(|f| retry_delay(second, f, cap, 0.0, 0).as_secs()).collect();
        assert_eq!(delays, [1, 1, 2, 4, 8, 10, 10]);
        assert_eq!(retry_delay(second, u32::MAX, cap, 0.0, 0), cap, "no overflow after many failures");
    }

    #[test]
    fn retry_delay_should_never_be_shorter_than_the_interval() {
        let interval = Duration::from_secs(600);
        assert_eq!(retry_delay(interval, 5, MAX_RETRY_DELAY, 0.0, 0), interval, "a cap below the interval is ignored");
    }

    #[test]
    fn retry_delay_should_add_bounded_jitter() {
        let delay = retry_delay(Duration::from_secs(1), 3, Duration::from_secs(60), 0.1, u64::MAX);
        assert_eq!(delay, Duration::from_millis(4400));
        let some = next_sync_delay(Duration::from_secs(1), 3, 0.1);
        assert!(some >= Duration::from_secs(4) && some <= Duration::from_millis(4400));
    }
}
