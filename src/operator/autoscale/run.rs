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
    let context = DecisionContext { now_ms, active_excluded_period: None };
    let run = run_once(config, state, window, &collected.observation, &context);
    super::store(&mut status, &run.state, &run.window, &collected.names, reset_nonce);
    let topology = &collected.observation.topology;
    let current: BTreeMap<String, i32> =
        topology.vertices().iter().map(|v| (v.id.clone(), i32::try_from(v.parallelism).unwrap_or(i32::MAX))).collect();
    let (outcome_text, scaling) = match &run.result {
        RunResult::NotReady(WindowStatus::Stabilizing { stable_at_ms }) => {
            (format!("stabilizing (or waiting for every vertex's metrics) until {stable_at_ms}"), None)
        }
        RunResult::NotReady(WindowStatus::Filling { full_at_ms }) => {
            (format!("filling the metrics window until {full_at_ms}"), None)
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
                (format!("scale-up pending confirmation until {confirmed_at_ms}"), None)
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
