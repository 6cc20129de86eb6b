//! The few numbers the health server exports: admission requests by verdict, readiness, and leadership, rendered
//! as Prometheus text. Plain atomics; a registry crate would be more than this needs.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::watch;

use super::review::Verdict;

/// Counters and flags shared by the webhook, the leader elector's owner and the health server.
#[derive(Debug, Default)]
pub struct Metrics {
    allowed: AtomicU64,
    denied: AtomicU64,
    invalid: AtomicU64,
    ready: AtomicBool,
}

impl Metrics {
    /// Counts one answered admission review.
    pub fn record(&self, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Allowed => &self.allowed,
            Verdict::Denied => &self.denied,
            Verdict::Invalid => &self.invalid,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reviews answered with `verdict` so far.
    pub fn requests(&self, verdict: Verdict) -> u64 {
        match verdict {
            Verdict::Allowed => &self.allowed,
            Verdict::Denied => &self.denied,
            Verdict::Invalid => &self.invalid,
        }
        .load(Ordering::Relaxed)
    }

    /// Marks the operator ready (`/readyz` answers 200) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the operator said it is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition; `leader` is `None` when leader election is off.
    pub fn render(&self, leader: Option<&watch::Receiver<bool>>) -> String {
        let mut text = String::new();
        text.push_str("# HELP flinkops_webhook_requests_total Admission reviews answered, by verdict.\n");
        text.push_str("# TYPE flinkops_webhook_requests_total counter\n");
        for verdict in [Verdict::Allowed, Verdict::Denied, Verdict::Invalid] {
            let _ = writeln!(
                text,
                "flinkops_webhook_requests_total{{verdict=\"{}\"}} {}",
                verdict.as_str(),
                self.requests(verdict)
            );
        }
        text.push_str("# HELP flinkops_ready Whether the operator is ready (1) or not (0).\n");
        text.push_str("# TYPE flinkops_ready gauge\n");
        let _ = writeln!(text, "flinkops_ready {}", u8::from(self.is_ready()));
        // Without leader election every replica acts, so each is its own leader.
        let leader = leader.is_none_or(|leader| *leader.borrow());
        text.push_str("# HELP flinkops_leader Whether this replica holds the leader Lease (1) or not (0).\n");
        text.push_str("# TYPE flinkops_leader gauge\n");
        let _ = writeln!(text, "flinkops_leader {}", u8::from(leader));
        text
    }
}
