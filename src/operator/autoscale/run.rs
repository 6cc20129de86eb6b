//! One autoscaler run over a live job, shared by the operator and the standalone loop: collect (IO), then the
//! core's `run_once` and the new `status.autoscaler` record (pure, [`record_run`]). Realizing a decision is the
//! caller's: in place (`realize.rs`) or through a redeploy.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::collect::{Collected, collect};
use crate::autoscaler::{
    AutoscalerConfig, DecisionContext, JobEvaluation, Outcome, RunResult, VertexRecommendation, WindowStatus, run_once,
};
use crate::crd::status::{AutoscalerStatus, AutoscalerVertexStatus, ScalingHistoryEntry};
use crate::flink::client::FlinkClient;
use crate::units::rfc3339_millis;

/// A scaling decision to realize.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// Every vertex's parallelism after the decision (changed ones new, the others as they run).
    pub overrides: BTreeMap<String, i32>,
    /// The decision as recorded in `scalingHistory` (the last entry of the new record).
    pub entry: ScalingHistoryEntry,
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The new `status.autoscaler` (overrides unchanged: the caller sets them once it realizes `scaling`).
    pub status: AutoscalerStatus,
    /// A decision to realize now.
    pub scaling: Option<Scaling>,
}

/// Collects one observation of `job_id` and runs the autoscaler over it at `now_ms`; failures are recorded in
/// `status.autoscaler.error`, never returned (the next run tries again).
pub async fn run(
    client: &FlinkClient,
    job_id: &str,
    config: &BTreeMap<String, String>,
    recorded: Option<&AutoscalerStatus>,
    now_ms: u64,
    reset_nonce: Option<i64>,
) -> RunOutput {
    let mut status = recorded.cloned().unwrap_or_default();
    status.last_run_timestamp = Some(i64::try_from(now_ms).unwrap_or(i64::MAX));
    let parsed = match AutoscalerConfig::from_flink_config(config) {
        Ok(parsed) => parsed,
        Err(error) => {
            warn!(%error, "the autoscaler configuration is invalid; not scaling");
            status.error = Some(error.to_string());
            status.last_outcome = Some("configuration error".into());
            return RunOutput { status, scaling: None };
        }
    };
    match collect(client, job_id, now_ms).await {
        Ok(collected) => record_run(&parsed, recorded, &collected, now_ms, reset_nonce),
        Err(error) => {
            if error.is_transient() {
                tracing::debug!(%error, "no autoscaler observation this run");
            } else {
                warn!(%error, "the job graph cannot be evaluated");
            }
            status.error = Some(error.to_string());
            status.last_outcome = Some("metrics not available".into());
            RunOutput { status, scaling: None }
        }
    }
}

/// The operator's run: re-applies in-place overrides Flink lost (a crash between recording and the PUT, a
/// JobManager failover), then [`run`]. Returns whether the job runs under the adaptive scheduler, and the output.
pub async fn run_for_operator(
    client: FlinkClient,
    job_id: String,
    spec: crate::crd::FlinkDeploymentSpec,
    recorded: Option<AutoscalerStatus>,
) -> (bool, RunOutput) {
    let adaptive = super::realize::adaptive_scheduler(&client, &job_id).await;
    if let Some(recorded) = recorded.as_ref().filter(|r| adaptive && r.realization.as_deref() == Some(super::IN_PLACE))
        && let Err(error) = super::realize::scale_in_place(&client, &job_id, &recorded.parallelism_overrides).await
    {
        warn!(%error, "re-applying the autoscaler's resource requirements failed");
    }
    let config = spec.flink_config();
    let reset_nonce = spec.job.as_ref().and_then(|j| j.autoscaler_reset_nonce);
    let now =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()))
            .unwrap_or(0);
    let output = run(&client, &job_id, &config, recorded.as_ref(), now, reset_nonce).await;
    (adaptive, output)
}

/// The core's run over one observation, as the new status record and the decision to realize (pure).
pub fn record_run(
    config: &AutoscalerConfig,
    recorded: Option<&AutoscalerStatus>,
    collected: &Collected,
    now_ms: u64,
    reset_nonce: Option<i64>,
) -> RunOutput {
    let mut status = recorded.cloned().unwrap_or_default();
    status.last_run_timestamp = Some(i64::try_from(now_ms).unwrap_or(i64::MAX));
    status.error = None;
    let (state, window) = super::load(recorded);
    let active_excluded_period = crate::autoscaler::excluded::active_period(&config.excluded_periods, epoch_ms(now_ms));
    let context = DecisionContext { now_ms, active_excluded_period };
    let run = run_once(config, state, window, &collected.observation, &context);
    super::store(&mut status, &run.state, &run.window, &collected.names, reset_nonce);
    let topology = &collected.observation.topology;
    let current: BTreeMap<String, i32> =
        topology.vertices().iter().map(|v| (v.id.clone(), i32::try_from(v.parallelism).unwrap_or(i32::MAX))).collect();
    let (outcome_text, scaling) = match &run.result {
        RunResult::NotReady(WindowStatus::Stabilizing { stable_at_ms }) => {
            (format!("stabilizing (or waiting for every vertex's metrics) until {}", time_of(*stable_at_ms)), None)
        }
        RunResult::NotReady(WindowStatus::Filling { full_at_ms }) => {
            (format!("filling the metrics window until {}", time_of(*full_at_ms)), None)
        }
        RunResult::NotReady(WindowStatus::Ready) => ("ready".to_owned(), None),
        RunResult::EvaluationFailed(error) => {
            status.error = Some(error.to_string());
            ("evaluation failed".to_owned(), None)
        }
        RunResult::Decided { outcome, .. } => match outcome {
            Outcome::Scale { decision } => {
                let mut overrides = current.clone();
                for change in &decision.vertices {
                    overrides.insert(change.vertex.clone(), i32::try_from(change.to).unwrap_or(i32::MAX));
                }
                let entry = status
                    .scaling_history
                    .last()
                    .cloned()
                    .unwrap_or_else(|| super::history_entry(decision, &collected.names, None));
                ("scaling".to_owned(), Some(Scaling { overrides, entry }))
            }
            Outcome::ExecutionDisabled { disabled_by, .. } => {
                (format!("scaling recommended, execution disabled by {disabled_by}"), None)
            }
            Outcome::ScaleUpPending { confirmed_at_ms, .. } => {
                (format!("scale-up pending confirmation until {}", time_of(*confirmed_at_ms)), None)
            }
            Outcome::Balanced => ("balanced: every vertex within its utilization bounds".to_owned(), None),
            Outcome::NoChange => ("no change".to_owned(), None),
            Outcome::MemoryPressure { .. } => ("memory pressure: not scaling".to_owned(), None),
        },
    };
    status.vertices = match &run.result {
        RunResult::Decided { evaluation, recommendations, .. } => {
            vertex_statuses(evaluation, recommendations, &collected.names)
        }
        _ => topology
            .vertices()
            .iter()
            .map(|v| AutoscalerVertexStatus {
                vertex_id: v.id.clone(),
                name: collected.names.get(&v.id).cloned().unwrap_or_default(),
                parallelism: i32::try_from(v.parallelism).unwrap_or(i32::MAX),
                max_parallelism: i32::try_from(v.max_parallelism).ok(),
                ..Default::default()
            })
            .collect(),
    };
    if let Some(scaling) = &scaling {
        info!(decision = %super::summary(&scaling.entry), "autoscaler decided to scale");
    }
    status.last_outcome = Some(outcome_text);
    RunOutput { status, scaling }
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then(|| (value * 100.0).round() / 100.0)
}

fn vertex_statuses(
    evaluation: &JobEvaluation,
    recommendations: &[VertexRecommendation],
    names: &BTreeMap<String, String>,
) -> Vec<AutoscalerVertexStatus> {
    evaluation
        .vertices
        .iter()
        .map(|v| AutoscalerVertexStatus {
            vertex_id: v.vertex.clone(),
            name: names.get(&v.vertex).cloned().unwrap_or_default(),
            parallelism: i32::try_from(v.parallelism).unwrap_or(i32::MAX),
            recommended_parallelism: recommendations
                .iter()
                .find(|r| r.vertex == v.vertex)
                .and_then(|r| i32::try_from(r.recommended).ok()),
            max_parallelism: i32::try_from(v.max_parallelism).ok(),
            busy_time_ms_per_second: finite(v.busy_time_ms_per_second),
            input_rate: finite(v.input_rate),
            true_processing_rate: finite(v.true_processing_rate),
            target_rate: finite(v.target_rate),
            pending_records: v.lag.and_then(finite),
            scale_up_rate_threshold: finite(v.scale_up_rate_threshold),
            scale_down_rate_threshold: finite(v.scale_down_rate_threshold),
        })
        .collect()
}

/// The core's unsigned epoch milliseconds as chrono's signed ones (saturating: no time is that far out).
fn epoch_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// An epoch-millisecond time of the core, as RFC 3339 for a status outcome.
fn time_of(ms: u64) -> String {
    rfc3339_millis(epoch_ms(ms))
}

#[cfg(test)]
mod tests {
    use super::super::collect::fixtures::{COUNTER, details, metrics};
    use super::super::collect::observation_from;
    use super::*;

    fn collected(at_ms: u64, records: f64) -> Collected {
        let mut details = details("RUNNING");
        for vertex in &mut details.vertices {
            vertex.metrics["read-records"] = serde_json::json!(if vertex.id == COUNTER { records } else { 0.0 });
            vertex.metrics["write-records"] = serde_json::json!(records);
            vertex.metrics["accumulated-busy-time"] = serde_json::json!(records);
        }
        let mut metrics = metrics();
        let source = metrics.values_mut().find(|m| m.contains_key("Source__source.numRecordsOut")).unwrap();
        source.get_mut("Source__source.numRecordsOut").unwrap().sum = Some(records);
        // Offered twice what is read: the backlog grows as fast as the job reads.
        source.get_mut("Source__source.pendingRecords").unwrap().sum = Some(records);
        let names = details.vertices.iter().map(|v| (v.id.clone(), v.name.clone())).collect();
        Collected { observation: observation_from(&details, &metrics, at_ms).unwrap(), names }
    }

    /// Runs the autoscaler over a saturated counter every 5 s (epoch 10 s on) until it scales or 8 runs pass.
    fn saturated_runs(extra: &[(&str, &str)]) -> (AutoscalerStatus, Option<Scaling>) {
        let base = [
            ("job.autoscaler.metrics.window", "20 s"),
            ("job.autoscaler.stabilization.interval", "0 s"),
            ("flinkops.autoscaler.scale-up.confirmation", "0 s"),
        ];
        let config = AutoscalerConfig::from_flink_config(
            &base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        )
        .unwrap();
        let mut recorded: Option<AutoscalerStatus> = None;
        let mut scaling = None;
        for tick in 0..8u32 {
            let at = 10_000 + u64::from(tick) * 5_000;
            let output = record_run(&config, recorded.as_ref(), &collected(at, f64::from(tick) * 1_000.0), at, None);
            assert!(output.status.metrics_window.is_some());
            scaling = output.scaling;
            recorded = Some(output.status);
            if scaling.is_some() {
                break;
            }
        }
        (recorded.unwrap(), scaling)
    }

    #[test]
    fn an_excluded_period_keeps_the_recommendation_and_scales_nothing() {
        // The runs happen in the first minute of 1970-01-01 (UTC), inside this window.
        let (recorded, scaling) = saturated_runs(&[("job.autoscaler.excluded.periods", "00:00:00-00:10:00")]);
        assert!(scaling.is_none(), "{scaling:?}");
        let outcome = recorded.last_outcome.clone().unwrap_or_default();
        assert!(outcome.contains("job.autoscaler.excluded.periods:00:00:00-00:10:00"), "{outcome}");
        let counter = recorded.vertices.iter().find(|v| v.vertex_id == COUNTER).unwrap();
        assert!(counter.recommended_parallelism.is_some_and(|p| p > 2), "{counter:?}");

        let (_, scaling) = saturated_runs(&[("job.autoscaler.excluded.periods", "01:00:00-02:00:00")]);
        assert!(scaling.is_some(), "outside the period it scales");
    }

    #[test]
    fn a_saturated_counter_is_scaled_up_once_the_window_is_full() {
        let (recorded, scaling) = saturated_runs(&[]);
        let scaling = scaling.unwrap_or_else(|| panic!("a saturated counter and a growing backlog: {recorded:#?}"));
        assert!(scaling.overrides[COUNTER] > 2, "{scaling:?}");
        assert_eq!(recorded.scaling_history.len(), 1);
        assert!(recorded.scaling_history[0].vertices.iter().any(|c| c.name == "counter -> sink"));
        let counter = recorded.vertices.iter().find(|v| v.vertex_id == COUNTER).unwrap();
        assert!(counter.true_processing_rate.is_some() && counter.busy_time_ms_per_second.is_some(), "{counter:?}");
    }
}
