//! The autoscaler in the operator: when to run it, the spec it makes effective (its parallelism overrides merged over
//! Git's), and its record in `status.autoscaler`. Collection is `collect.rs`, in-place realization `realize.rs`, the
//! standalone loop `standalone.rs`; the window, evaluation and decision are the pure core in `crate::autoscaler`.
//!
//! flinkops keeps what upstream puts in the `autoscaler-<name>` ConfigMap in the status instead, so the overrides
//! are visible and survive an operator restart with the rest of the write-ahead log.

pub mod collect;
pub mod realize;
pub mod run;
pub mod standalone;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::autoscaler::{AutoscalerConfig, AutoscalerState, MetricsWindow, ScalingDecision};
use crate::crd::status::{AutoscalerStatus, FlinkDeploymentStatus, ScalingHistoryChange, ScalingHistoryEntry};
use crate::crd::{FlinkConfiguration, FlinkDeploymentSpec};
use crate::flink::config_keys;

/// `status.autoscaler.realization` of a rescale through Flink's resource requirements.
pub const IN_PLACE: &str = "in-place";
/// `status.autoscaler.realization` of a rescale through a redeploy with the job's upgrade mode.
pub const REDEPLOY: &str = "redeploy";

/// The Flink option the overrides are deployed through.
pub const OVERRIDES_KEY: &str = "pipeline.jobvertex-parallelism-overrides";
/// The operator option that sets how often the autoscaler collects (upstream: once per reconcile).
pub const RECONCILE_INTERVAL_KEY: &str = "kubernetes.operator.reconcile.interval";

/// What decide needs to know about the autoscaler of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoscalerFacts {
    /// Off, and nothing of it is left in status.
    Off,
    /// Off (or reset), but status still holds its overrides or state: clear them (Git's parallelism returns).
    Stale,
    /// On; the next collection is due after this long.
    NotDue(Duration),
    /// On, and a collection is due.
    Due,
}

/// Whether `job.autoscaler.enabled` is true in `config`.
pub fn enabled(config: &BTreeMap<String, String>) -> bool {
    config_keys::flag(config, config_keys::AUTOSCALER_ENABLED) == Some(true)
}

/// How often the autoscaler collects: `kubernetes.operator.reconcile.interval` when set, else `default`.
pub fn interval(config: &BTreeMap<String, String>, default: Duration) -> Duration {
    crate::savepoints::config::duration_ms(config, RECONCILE_INTERVAL_KEY)
        .ok()
        .flatten()
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .map_or(default, Duration::from_millis)
}

/// The autoscaler facts of a deployment at `now_ms`.
pub fn facts(
    spec: &FlinkDeploymentSpec,
    status: &FlinkDeploymentStatus,
    now_ms: i64,
    every: Duration,
) -> AutoscalerFacts {
    let config = spec.flink_config();
    let recorded = status.autoscaler.as_deref();
    if spec.job.is_none() || !enabled(&config) || reset_requested(spec, recorded) {
        return if recorded.is_some() { AutoscalerFacts::Stale } else { AutoscalerFacts::Off };
    }
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    match recorded.and_then(|r| r.last_run_timestamp) {
        Some(last) if now_ms < last.saturating_add(every_ms) => {
            AutoscalerFacts::NotDue(Duration::from_millis(u64::try_from(last + every_ms - now_ms).unwrap_or(0)))
        }
        _ => AutoscalerFacts::Due,
    }
}

/// `autoscalerResetNonce` differs from the one the state was built under.
fn reset_requested(spec: &FlinkDeploymentSpec, recorded: Option<&AutoscalerStatus>) -> bool {
    let nonce = spec.job.as_ref().and_then(|j| j.autoscaler_reset_nonce);
    let seen = recorded.and_then(|r| r.state.as_ref()).and_then(|s| s.get("resetNonce")).and_then(Value::as_i64);
    recorded.is_some() && nonce.is_some() && nonce != seen
}

/// The spec to deploy: Git's, with the autoscaler's overrides merged over its `pipeline.jobvertex-parallelism-overrides`
/// while the autoscaler is on (its value wins, except for `vertex.exclude.ids`, where Git's is kept). Unchanged
/// when there is nothing to merge.
pub fn effective_spec(spec: &FlinkDeploymentSpec, status: &FlinkDeploymentStatus) -> FlinkDeploymentSpec {
    let config = spec.flink_config();
    let overrides = status.autoscaler.as_ref().map(|a| &a.parallelism_overrides).filter(|o| !o.is_empty());
    let (Some(overrides), true) = (overrides, enabled(&config)) else { return spec.clone() };
    let excluded = AutoscalerConfig::from_flink_config(&config).map(|c| c.vertex_exclude_ids).unwrap_or_default();
    let merged = merge_overrides(config.get(OVERRIDES_KEY).map(String::as_str), overrides, &excluded);
    with_config_value(spec, OVERRIDES_KEY, merged)
}

/// `spec` with one flat Flink option set (the configuration is written flat from then on).
pub fn with_config_value(spec: &FlinkDeploymentSpec, key: &str, value: String) -> FlinkDeploymentSpec {
    let mut config = spec.flink_config();
    config.insert(key.to_owned(), value);
    let mut effective = spec.clone();
    effective.flink_configuration =
        Some(FlinkConfiguration(config.into_iter().map(|(k, v)| (k, Value::String(v))).collect()));
    effective
}

/// Flink map syntax `vertex:P,vertex:P` of the autoscaler's overrides over the user's, excluded vertices keeping the
/// user's value.
pub fn merge_overrides(user: Option<&str>, overrides: &BTreeMap<String, i32>, excluded: &[String]) -> String {
    let mut merged: BTreeMap<String, String> = user
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .map(|(vertex, p)| (vertex.trim().to_owned(), p.trim().to_owned()))
        .filter(|(vertex, _)| !vertex.is_empty())
        .collect();
    for (vertex, parallelism) in overrides {
        if !(excluded.contains(vertex) && merged.contains_key(vertex)) {
            merged.insert(vertex.clone(), parallelism.to_string());
        }
    }
    merged.into_iter().map(|(vertex, p)| format!("{vertex}:{p}")).collect::<Vec<_>>().join(",")
}

/// The core's state and window as recorded in status (empty when absent or unreadable: the autoscaler then starts
/// over, as upstream does when its ConfigMap is gone).
pub fn load(recorded: Option<&AutoscalerStatus>) -> (AutoscalerState, MetricsWindow) {
    let Some(recorded) = recorded else { return Default::default() };
    let mut state: AutoscalerState =
        recorded.state.clone().and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
    state.decisions = recorded.scaling_history.iter().map(decision_of).collect();
    let window = recorded.metrics_window.clone().and_then(|w| serde_json::from_value(w).ok()).unwrap_or_default();
    (state, window)
}

/// Writes the core's state and window into `recorded`; decisions go to `scalingHistory` (keeping the realization
/// and vertex names already recorded for them), the rest to `state`.
pub fn store(
    recorded: &mut AutoscalerStatus,
    state: &AutoscalerState,
    window: &MetricsWindow,
    names: &BTreeMap<String, String>,
    reset_nonce: Option<i64>,
) {
    let previous = std::mem::take(&mut recorded.scaling_history);
    recorded.scaling_history = state
        .decisions
        .iter()
        .map(|decision| {
            let timestamp = i64::try_from(decision.at_ms).unwrap_or(i64::MAX);
            let realization = previous.iter().find(|p| p.timestamp == timestamp).and_then(|p| p.realization.clone());
            history_entry(decision, names, realization)
        })
        .collect();
    let mut rest = state.clone();
    rest.decisions.clear();
    let mut value = serde_json::to_value(&rest).unwrap_or(Value::Null);
    if let (Some(nonce), Some(object)) = (reset_nonce, value.as_object_mut()) {
        object.insert("resetNonce".into(), Value::from(nonce));
    }
    recorded.state = Some(value);
    recorded.metrics_window = serde_json::to_value(window).ok();
}

/// A decision as a `scalingHistory` entry.
pub fn history_entry(
    decision: &ScalingDecision,
    names: &BTreeMap<String, String>,
    realization: Option<String>,
) -> ScalingHistoryEntry {
    ScalingHistoryEntry {
        timestamp: i64::try_from(decision.at_ms).unwrap_or(i64::MAX),
        executed: decision.executed,
        realization,
        vertices: decision
            .vertices
            .iter()
            .map(|change| ScalingHistoryChange {
                vertex_id: change.vertex.clone(),
                name: names.get(&change.vertex).cloned().unwrap_or_default(),
                from: i32::try_from(change.from).unwrap_or(i32::MAX),
                to: i32::try_from(change.to).unwrap_or(i32::MAX),
                reason: change.reason.clone(),
            })
            .collect(),
        report: decision.report.clone(),
    }
}

fn decision_of(entry: &ScalingHistoryEntry) -> ScalingDecision {
    ScalingDecision {
        at_ms: u64::try_from(entry.timestamp).unwrap_or(0),
        vertices: entry
            .vertices
            .iter()
            .map(|change| crate::autoscaler::VertexChange {
                vertex: change.vertex_id.clone(),
                from: u32::try_from(change.from).unwrap_or(0),
                to: u32::try_from(change.to).unwrap_or(0),
                reason: change.reason.clone(),
            })
            .collect(),
        executed: entry.executed,
        report: entry.report.clone(),
    }
}

/// What the controller does after recording a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Realize {
    /// No scaling decision.
    Nothing,
    /// The overrides are recorded; the next decide sees the effective spec change and upgrades.
    Redeploy,
    /// The overrides are recorded, in status and in the recorded spec; send them to Flink's resource requirements.
    InPlace {
        /// Every vertex's new parallelism.
        overrides: BTreeMap<String, i32>,
        /// The recorded spec before, restored if the PUT fails.
        recorded_before: Option<String>,
    },
}

/// Records a run in `status` (pure): `status.autoscaler`, and for a scaling decision its overrides and realization;
/// in place, the recorded spec gets the overrides too (written before the PUT, so no upgrade follows it).
pub fn apply_run(
    status: &mut FlinkDeploymentStatus,
    spec: &FlinkDeploymentSpec,
    output: run::RunOutput,
    adaptive: bool,
) -> Realize {
    let mut record = output.status;
    let Some(scaling) = output.scaling else {
        status.autoscaler = Some(Box::new(record));
        return Realize::Nothing;
    };
    let realization = if adaptive { IN_PLACE } else { REDEPLOY };
    record.parallelism_overrides = scaling.overrides.clone();
    record.realization = Some(realization.to_owned());
    if let Some(last) = record.scaling_history.last_mut() {
        last.realization = Some(realization.to_owned());
    }
    tracing::info!(realization, decision = %summary(&scaling.entry), report = %scaling.entry.report, "autoscaler scaling");
    status.autoscaler = Some(Box::new(record));
    if !adaptive {
        return Realize::Redeploy;
    }
    let recorded_before = status.reconciliation_status.as_ref().and_then(|r| r.last_reconciled_spec.clone());
    let effective = effective_spec(spec, status);
    if let Some(reconciliation) = status.reconciliation_status.as_mut()
        && let Some(mut recorded) = recorded_before.as_deref().and_then(super::reconciled::ReconciledSpec::decode)
    {
        recorded.spec.flink_configuration = effective.flink_configuration;
        reconciliation.last_reconciled_spec = Some(recorded.encode());
    }
    Realize::InPlace { overrides: scaling.overrides, recorded_before }
}

/// After a failed in-place PUT: the recorded spec without the overrides comes back (decide then redeploys).
pub fn fall_back_to_redeploy(status: &mut FlinkDeploymentStatus, recorded_before: Option<String>, error: &str) {
    if let Some(reconciliation) = status.reconciliation_status.as_mut() {
        reconciliation.last_reconciled_spec = recorded_before;
    }
    if let Some(record) = status.autoscaler.as_mut() {
        record.realization = Some(REDEPLOY.to_owned());
        record.error = Some(format!("in-place rescale failed: {error}"));
        if let Some(last) = record.scaling_history.last_mut() {
            last.realization = Some(REDEPLOY.to_owned());
        }
    }
}

/// A readable one-line summary of a decision: `counter 1 -> 4 (why); source 2 -> 1 (why)`.
pub fn summary(entry: &ScalingHistoryEntry) -> String {
    entry
        .vertices
        .iter()
        .map(|change| {
            let name = if change.name.is_empty() { change.vertex_id.as_str() } else { change.name.as_str() };
            format!("{name} {} -> {} ({})", change.from, change.to, change.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
