//! The standalone autoscaler (`flinkops autoscaler --rest-url URL`): scales every RUNNING job of a Flink cluster
//! flinkops does not manage, in place through resource requirements, with its state in memory (upstream's
//! standalone autoscaler with the MEMORY state store and the LOGGING event handler).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{Instrument, info_span, warn};

use super::realize::{adaptive_scheduler, scale_in_place};
use super::run::run;
use crate::crd::status::{AutoscalerStatus, ScalingHistoryEntry};
use crate::flink::client::{FlinkClient, FlinkClientError, JobState};

/// How the standalone loop runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StandaloneOptions {
    /// Configuration given on the command line; wins over the cluster's and the job's own.
    pub config: BTreeMap<String, String>,
    /// Time between two runs over the cluster (`autoscaler.standalone.control-loop.interval`, 10 s).
    pub interval: Duration,
    /// Stop after this many runs.
    pub max_runs: Option<u32>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// One decision the standalone loop made, as printed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StandaloneDecision {
    /// The job.
    pub job_id: String,
    /// Its name.
    pub job_name: String,
    /// Whether the new parallelism was sent to Flink (false: recommendation only, or the PUT failed).
    pub applied: bool,
    /// Why it was not applied, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applied_because: Option<String>,
    /// The decision.
    pub decision: ScalingHistoryEntry,
}

/// The cluster could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The REST URL is not usable.
    #[error("cannot talk to {url}: {source}")]
    Client {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: FlinkClientError,
    },
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The configuration one job is scaled with: the cluster's, the job's, then the command line's; the autoscaler is
/// on unless one of them turns it off.
pub fn job_config(
    cluster: &BTreeMap<String, String>,
    job: &BTreeMap<String, String>,
    flags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut config = cluster.clone();
    config.extend(job.iter().map(|(k, v)| (k.clone(), v.clone())));
    config.extend(flags.iter().map(|(k, v)| (k.clone(), v.clone())));
    config.entry(crate::flink::config_keys::AUTOSCALER_ENABLED.to_owned()).or_insert_with(|| "true".to_owned());
    config
}

/// Runs until `shutdown` completes or a bound in `options` is reached, calling `on_decision` for every decision.
///
/// # Errors
/// Only when no client can be built for `rest_url`; an unreachable cluster is retried every interval.
pub async fn run_standalone(
    rest_url: &str,
    options: &StandaloneOptions,
    shutdown: impl Future<Output = ()>,
    mut on_decision: impl FnMut(&StandaloneDecision),
) -> Result<u32, StandaloneError> {
    let client =
        FlinkClient::new(rest_url).map_err(|source| StandaloneError::Client { url: rest_url.into(), source })?;
    let started = Instant::now();
    let mut states: BTreeMap<String, AutoscalerStatus> = BTreeMap::new();
    let mut runs = 0u32;
    tokio::pin!(shutdown);
    loop {
        let span = info_span!("standalone_autoscaler", rest_url, run = runs);
        for decision in run_cluster(&client, options, &mut states).instrument(span).await {
            on_decision(&decision);
        }
        runs += 1;
        let bounded = options.max_runs.is_some_and(|max| runs >= max)
            || options.duration.is_some_and(|limit| started.elapsed() >= limit);
        if bounded {
            return Ok(runs);
        }
        tokio::select! {
            () = &mut shutdown => return Ok(runs),
            () = tokio::time::sleep(options.interval) => {}
        }
    }
}

/// One pass over the RUNNING jobs of the cluster.
async fn run_cluster(
    client: &FlinkClient,
    options: &StandaloneOptions,
    states: &mut BTreeMap<String, AutoscalerStatus>,
) -> Vec<StandaloneDecision> {
    let jobs = match client.jobs_overview().await {
        Ok(jobs) => jobs,
        Err(error) => {
            warn!(%error, "cannot list the cluster's jobs; trying again next run");
            return Vec::new();
        }
    };
    let cluster_config = client.jobmanager_config().await.unwrap_or_default();
    // Jobs that are gone take their state with them.
    states.retain(|job_id, _| jobs.iter().any(|j| &j.jid == job_id && j.state == JobState::Running));
    let mut decisions = Vec::new();
    for job in jobs.iter().filter(|j| j.state == JobState::Running) {
        let span = info_span!("job", job_id = %job.jid, job_name = %job.name);
        let decision = run_job(client, options, &cluster_config, &job.jid, &job.name, states).instrument(span).await;
        decisions.extend(decision);
    }
    decisions
}

async fn run_job(
    client: &FlinkClient,
    options: &StandaloneOptions,
    cluster_config: &BTreeMap<String, String>,
    job_id: &str,
    job_name: &str,
    states: &mut BTreeMap<String, AutoscalerStatus>,
) -> Option<StandaloneDecision> {
    let job_own = client.job_config(job_id).await.unwrap_or_default();
    let config = job_config(cluster_config, &job_own, &options.config);
    if !super::enabled(&config) {
        states.remove(job_id);
        return None;
    }
    let output = run(client, job_id, &config, states.get(job_id), now_ms(), None).await;
    let mut status = output.status;
    let scaling = output.scaling?;
    let not_applied_because = if adaptive_scheduler(client, job_id).await {
        match scale_in_place(client, job_id, &scaling.overrides).await {
            Ok(_) => None,
            Err(error) => Some(format!("setting the resource requirements failed: {error}")),
        }
    } else {
        Some("the job does not run under the adaptive scheduler (jobmanager.scheduler: adaptive)".to_owned())
    };
    let mut entry = scaling.entry;
    if not_applied_because.is_none() {
        entry.realization = Some(super::IN_PLACE.to_owned());
        status.parallelism_overrides = scaling.overrides;
        status.realization = Some(super::IN_PLACE.to_owned());
        if let Some(last) = status.scaling_history.last_mut() {
            last.realization = Some(super::IN_PLACE.to_owned());
        }
    }
    states.insert(job_id.to_owned(), status);
    Some(StandaloneDecision {
        job_id: job_id.to_owned(),
        job_name: job_name.to_owned(),
        applied: not_applied_because.is_none(),
        not_applied_because,
        decision: entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn flags_win_over_job_and_cluster_and_the_autoscaler_is_on_by_default() {
        let cluster = map(&[("job.autoscaler.metrics.window", "5m"), ("a", "cluster")]);
        let job = map(&[("a", "job"), ("b", "job")]);
        let flags = map(&[("b", "flag")]);
        let config = job_config(&cluster, &job, &flags);
        assert_eq!(config["a"], "job");
        assert_eq!(config["b"], "flag");
        assert_eq!(config["job.autoscaler.metrics.window"], "5m");
        assert_eq!(config["job.autoscaler.enabled"], "true");
        let off = job_config(&cluster, &map(&[("job.autoscaler.enabled", "false")]), &BTreeMap::new());
        assert_eq!(off["job.autoscaler.enabled"], "false", "a job can opt out");
    }
}
