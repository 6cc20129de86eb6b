//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas can run and only one acts. What to do
//! with a Lease is the pure [`decide`]; [`LeaderElector`] does the reads and writes and publishes "is leader".
//!
//! # Guarantees
//! Every write carries the `resourceVersion` that was read, so of two replicas racing for the same Lease exactly
//! one write succeeds; the other gets 409 and follows. A leader that cannot renew for `renew_deadline` (shorter
//! than the lease duration) stops leading before its Lease expires, so a successor never acts while it still does.
//! On shutdown the leader stops, then clears `holderIdentity`, so a successor takes over at once.
//!
//! # Assumptions
//! Expiry is judged as `renewTime + leaseDurationSeconds < now` on this replica's clock, so the replicas' clocks
//! must agree to well within the lease duration (NTP on the nodes).
//!
//! # RBAC
//! `get`, `create`, `update` on `leases` in the lease namespace (the chart's leader-election Role).

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// What to do with the Lease, given what it says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create one naming us.
    Create,
    /// We hold it: move `renewTime` to now.
    Renew,
    /// Another holder's Lease is still fresh: follow, and look again.
    Wait {
        /// Who holds it.
        holder: String,
        /// Until when the Lease is valid unless renewed.
        expires: Timestamp,
    },
    /// Released (no holder) or expired: take it, counting one more transition.
    TakeOver,
}

/// Decides from the Lease (`None`: it does not exist), who we are and the time. `default_duration` applies to a
/// Lease without `leaseDurationSeconds`. A held Lease without `renewTime` counts as expired, as in client-go.
pub fn decide(lease: Option<&LeaseSpec>, identity: &str, now: Timestamp, default_duration: Duration) -> Decision {
    let Some(spec) = lease else { return Decision::Create };
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let Some(holder) = holder else { return Decision::TakeOver };
    if holder == identity {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| SignedDuration::from_secs(i64::from(s)))
        .unwrap_or_else(|| SignedDuration::try_from(default_duration).unwrap_or(SignedDuration::MAX));
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).map(|t| t.0);
    match renewed.and_then(|renewed| renewed.checked_add(duration).ok()) {
        Some(expires) if expires >= now => Decision::Wait { holder: holder.to_owned(), expires },
        _ => Decision::TakeOver,
    }
}

/// The Lease and the timing of the election.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Name of the Lease (the chart's `leaderElection.leaseName`, `<release>-leader`).
    pub lease_name: String,
    /// Namespace of the Lease (the chart's `leaderElection.leaseNamespace`: the release namespace).
    pub namespace: String,
    /// Who we are: the pod name (`POD_NAME`), unique among the replicas.
    pub identity: String,
    /// `leaseDurationSeconds`: how long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews (a third of the duration: two renewals may fail before it matters).
    pub renew_every: Duration,
    /// How long the leader may fail to renew before it stops leading; less than the duration, so it stops before
    /// anyone else may take over.
    pub renew_deadline: Duration,
    /// How often a follower looks at the Lease.
    pub retry_every: Duration,
}

impl LeaderConfig {
    /// The Lease `flinkops-leader` in `namespace` (set `lease_name` from the chart's configuration), held for 15 s, renewed every 5 s, given up after 10 s without
    /// renewal (client-go's defaults, scaled the same way).
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        LeaderConfig {
            lease_name: "flinkops-leader".to_owned(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// Why a round of the election failed (the elector retries; a leader steps down past `renew_deadline`).
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Reading or writing the Lease failed (other than losing a race).
    #[error("Lease {namespace}/{name}: {source}")]
    Api {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The API server did not answer within the renew deadline.
    #[error("Lease {namespace}/{name}: no answer within {timeout:?}")]
    Timeout {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The bound.
        timeout: Duration,
    },
}

/// What one round of the election found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// We hold the Lease (created, renewed or taken over).
    Leading,
    /// Someone else holds it; `holder` is empty when we lost a race and do not know to whom yet.
    Following {
        /// The holder.
        holder: String,
    },
}

/// Leadership as seen from outside the elector: wait for it, and notice when it is gone.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<bool>);

impl Leadership {
    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.0.borrow()
    }

    /// The underlying flag, for `webhook::HealthConfig::leader` and the like.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }

    /// Resolves once this replica leads (at once if it does).
    pub async fn acquired(&mut self) {
        // An error means the elector is gone; then leadership will never come, so wait forever.
        if self.0.wait_for(|leading| *leading).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when this replica does not lead (at once if it does not), or the elector is gone. Run the
    /// controllers in a `select!` against this.
    pub async fn lost(&mut self) {
        let _ = self.0.wait_for(|leading| !*leading).await;
    }
}

/// Runs the election for one replica. Build it with [`LeaderElector::new`], take [`LeaderElector::leadership`],
/// then drive it with [`LeaderElector::run`].
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderConfig,
    leading: watch::Sender<bool>,
}

impl LeaderElector {
    /// An elector for the Lease in `config`; nobody leads until [`LeaderElector::run`] says so.
    pub fn new(client: Client, config: LeaderConfig) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        LeaderElector { api, config, leading: watch::Sender::new(false) }
    }

    /// Leadership as it changes.
    pub fn leadership(&self) -> Leadership {
        Leadership(self.leading.subscribe())
    }

    /// Runs rounds until `shutdown` resolves, publishing leadership; then, if leading, stops leading and releases
    /// the Lease.
    ///
    /// # Idempotence
    /// Any number of replicas may run this against the same Lease; a restarted replica resumes its own Lease.
    ///
    /// # Errors
    /// Only the release on shutdown returns its error (rounds that fail are logged and retried).
    ///
    /// # RBAC
    /// `get`, `create`, `update` on `leases` in `config.namespace`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), LeaderError> {
        tokio::pin!(shutdown);
        let mut last_renewed: Option<tokio::time::Instant> = None;
        loop {
            let wait = match self.round(Timestamp::now()).await {
                Ok(Round::Leading) => {
                    last_renewed = Some(tokio::time::Instant::now());
                    self.publish(true);
                    self.config.renew_every
                }
                Ok(Round::Following { holder }) => {
                    last_renewed = None;
                    self.publish(false);
                    tracing::debug!(%holder, "following the leader");
                    self.config.retry_every
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election round failed");
                    let overdue = last_renewed.is_some_and(|at| at.elapsed() >= self.config.renew_deadline);
                    if overdue {
                        tracing::warn!("no renewal within the renew deadline; stepping down");
                        last_renewed = None;
                        self.publish(false);
                    }
                    self.config.retry_every
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        let was_leading = *self.leading.borrow();
        // Stop acting first, then let a successor in: never two leaders at once.
        self.publish(false);
        if was_leading { self.release(Timestamp::now()).await } else { Ok(()) }
    }

    fn publish(&self, leading: bool) {
        self.leading.send_if_modified(|current| {
            let changed = *current != leading;
            if changed {
                tracing::info!(identity = %self.config.identity, leading, "leadership changed");
            }
            *current = leading;
            changed
        });
    }

    /// One round: read the Lease, [`decide`], write if needed. A lost race (409) is `Following`, not an error.
    ///
    /// # Errors
    /// The API failed or did not answer within `renew_deadline`.
    ///
    /// # RBAC
    /// `get`, and `create` or `update`, on the Lease.
    pub async fn round(&self, now: Timestamp) -> Result<Round, LeaderError> {
        let current = self.bounded(self.api.get_opt(&self.config.lease_name)).await?;
        let identity = &self.config.identity;
        let decision =
            decide(current.as_ref().and_then(|l| l.spec.as_ref()), identity, now, self.config.lease_duration);
        let (lease, create) = match decision {
            Decision::Wait { holder, .. } => return Ok(Round::Following { holder }),
            Decision::Create => (self.lease(None, now, 0), true),
            Decision::Renew => {
                let mut lease = current.unwrap_or_default();
                // Left out, the API server keeps the field ownership as it is.
                lease.metadata.managed_fields = None;
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.renew_time = Some(MicroTime(now));
                spec.lease_duration_seconds = Some(self.duration_seconds());
                (lease, false)
            }
            Decision::TakeOver => {
                let transitions = current.as_ref().and_then(|l| l.spec.as_ref()?.lease_transitions).unwrap_or(0);
                (self.lease(current.map(|l| l.metadata), now, transitions.saturating_add(1)), false)
            }
        };
        let pp = PostParams { field_manager: Some("flinkops".to_owned()), ..PostParams::default() };
        let written = if create {
            self.bounded(self.api.create(&pp, &lease)).await
        } else {
            self.bounded(self.api.replace(&self.config.lease_name, &pp, &lease)).await
        };
        match written {
            Ok(_) => Ok(Round::Leading),
            // 409: someone else created or updated the Lease since we read it; they won this round.
            Err(LeaderError::Api { source: kube::Error::Api(status), .. }) if status.code == 409 => {
                Ok(Round::Following { holder: String::new() })
            }
            Err(error) => Err(error),
        }
    }

    /// Clears `holderIdentity` if we still hold the Lease, so a successor need not wait for it to expire.
    ///
    /// # Errors
    /// The API failed (the Lease then simply expires).
    ///
    /// # RBAC
    /// `get`, `update` on the Lease.
    pub async fn release(&self, now: Timestamp) -> Result<(), LeaderError> {
        let Some(mut lease) = self.bounded(self.api.get_opt(&self.config.lease_name)).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(now));
        let pp = PostParams { field_manager: Some("flinkops".to_owned()), ..PostParams::default() };
        match self.bounded(self.api.replace(&self.config.lease_name, &pp, &lease)).await {
            Ok(_) => Ok(()),
            // Someone wrote it after us: it is not ours to release any more.
            Err(LeaderError::Api { source: kube::Error::Api(status), .. }) if status.code == 409 => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// A Lease naming us, acquired and renewed now; `metadata` keeps the read `resourceVersion` for a takeover.
    fn lease(&self, metadata: Option<ObjectMeta>, now: Timestamp, transitions: i32) -> Lease {
        let mut metadata = metadata.unwrap_or_else(|| ObjectMeta {
            name: Some(self.config.lease_name.clone()),
            namespace: Some(self.config.namespace.clone()),
            ..ObjectMeta::default()
        });
        metadata.managed_fields = None;
        Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX).max(1)
    }

    /// Bounds an API call by the renew deadline, so a hung connection cannot keep a leader past it.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, kube::Error>>) -> Result<T, LeaderError> {
        let (namespace, name) = (self.config.namespace.clone(), self.config.lease_name.clone());
        let timeout = self.config.renew_deadline;
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.map_err(|source| LeaderError::Api { namespace, name, source }),
            Err(_) => Err(LeaderError::Timeout { namespace, name, timeout }),
        }
    }
}

#[cfg(test)]
mod tests;
