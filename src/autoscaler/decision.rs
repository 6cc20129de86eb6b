//! The job-wide decision (§5.4 step 8, §5.5 gates) and the persistable autoscaler state: scaling history, delayed
//! scale-downs, scale-up confirmations, restart tracking. [`decide`] is pure: the old state and an evaluation in, an
//! [`Outcome`] and the new state out. Per-vertex arithmetic is `scale.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::AutoscalerConfig;
use super::evaluate::{Direction, JobEvaluation, VertexEvaluation};
use super::metrics::{VertexId, millis};
use super::scale::{VertexRecommendation, recommend_parallelism};

/// One executed change of one vertex, kept for effectiveness and observed-scalability checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRecord {
    /// When, ms.
    pub at_ms: u64,
    /// Parallelism before.
    pub from: u32,
    /// Parallelism after.
    pub to: u32,
    /// TPR measured before the change.
    #[serde(with = "super::metrics::non_finite")]
    pub true_processing_rate: f64,
    /// TPR expected after the change.
    #[serde(with = "super::metrics::non_finite")]
    pub expected_processing_rate: f64,
    /// Target rate at the time.
    pub target_rate: f64,
}

/// One vertex's part of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexChange {
    /// Vertex id.
    pub vertex: VertexId,
    /// Parallelism before.
    pub from: u32,
    /// Parallelism after.
    pub to: u32,
    /// Human-readable why.
    pub reason: String,
}

/// One decision: the changes, when, and the ScalingReport text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingDecision {
    /// When, ms.
    pub at_ms: u64,
    /// Changed vertices, topological order.
    pub vertices: Vec<VertexChange>,
    /// Executed (false: recommendation only, scaling disabled or excluded period).
    pub executed: bool,
    /// Upstream-format ScalingReport text.
    pub report: String,
}

/// A pending delayed scale-down of one vertex (§5.4 step 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayedScaleDown {
    /// First recommendation time: starts the delay.
    pub first_at_ms: u64,
    /// Recommendations (time, parallelism) within the last `scale-down.interval`.
    pub recommendations: Vec<(u64, u32)>,
}

/// Everything the autoscaler remembers between runs; persisted in status as camelCase JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerState {
    /// Per vertex, at most `history.max.count` records none older than `history.max.age`, oldest first.
    pub history: BTreeMap<VertexId, Vec<ScalingRecord>>,
    /// Latest decisions (executed or recommended), bounded like the history.
    pub decisions: Vec<ScalingDecision>,
    /// Pending delayed scale-downs per vertex.
    pub delayed_scale_downs: BTreeMap<VertexId, DelayedScaleDown>,
    /// flinkops: since when some vertex has continuously been out of bounds upward (scale-up confirmation).
    pub scale_up_pending_since_ms: Option<u64>,
    /// Last executed rescale, ms.
    pub last_rescale_ms: Option<u64>,
    /// Restart-time tracking: when the last executed rescale was triggered (cleared once the job runs again).
    pub restart_pending_since_ms: Option<u64>,
    /// Largest restart observed, ms.
    pub max_observed_restart_ms: Option<u64>,
}

impl AutoscalerState {
    /// Records that the job entered RUNNING at `running_since_ms`; measures the restart after a rescale.
    pub fn observe_running_since(&mut self, running_since_ms: u64) {
        if let Some(triggered) = self.restart_pending_since_ms
            && running_since_ms > triggered
        {
            let restart = running_since_ms - triggered;
            self.max_observed_restart_ms = Some(self.max_observed_restart_ms.map_or(restart, |max| max.max(restart)));
            self.restart_pending_since_ms = None;
        }
    }

    /// Restart time for the capacity formula.
    pub fn restart_time(&self, config: &AutoscalerConfig) -> Duration {
        config.effective_restart_time(self.max_observed_restart_ms.map(Duration::from_millis))
    }
}

/// What the autoscaler decided this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// Memory pressure gate: no scaling (`MemoryPressure` event).
    MemoryPressure {
        /// Latest GC pressure.
        gc_pressure: Option<f64>,
        /// Window-average heap usage.
        heap_usage: Option<f64>,
    },
    /// No vertex would change (including delayed ones).
    NoChange,
    /// flinkops: a scale-up is needed but not yet confirmed for `scale-up.confirmation`; nothing executes meanwhile.
    ScaleUpPending {
        /// Since when it has been needed, ms.
        since_ms: u64,
        /// When it will execute if still needed, ms.
        confirmed_at_ms: u64,
    },
    /// Some vertices would change, but none of them is out of bounds.
    Balanced,
    /// Recommendation only: `scaling.enabled=false` or an excluded period.
    ExecutionDisabled {
        /// `key:value` that disabled execution.
        disabled_by: String,
        /// What would have been done.
        decision: ScalingDecision,
    },
    /// Scale now.
    Scale {
        /// The changes to apply.
        decision: ScalingDecision,
    },
}

/// Everything [`decide`] produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The outcome.
    pub outcome: Outcome,
    /// Per-vertex recommendations before delays (published as recommended parallelism).
    pub recommendations: Vec<VertexRecommendation>,
    /// The state to persist.
    pub state: AutoscalerState,
}

/// Context the caller knows and the core must not compute: the time and whether an excluded period is active.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecisionContext {
    /// Now, ms (same epoch as the samples).
    pub now_ms: u64,
    /// The `excluded.periods` entry that matches now in the JVM time zone, if any.
    pub active_excluded_period: Option<String>,
}

/// Runs §5.4 step 8 and the §5.5 gates over an evaluation.
pub fn decide(
    config: &AutoscalerConfig,
    state: &AutoscalerState,
    evaluation: &JobEvaluation,
    context: &DecisionContext,
) -> Decided {
    let now = context.now_ms;
    let mut state = state.clone();
    let mut recommendations = Vec::new();
    // (1) memory pressure.
    let gc_over = evaluation.gc_pressure.is_some_and(|gc| gc > config.gc_pressure_threshold);
    let heap_over = evaluation.heap_usage_avg.is_some_and(|heap| heap > config.heap_usage_threshold);
    if gc_over || heap_over {
        let outcome =
            Outcome::MemoryPressure { gc_pressure: evaluation.gc_pressure, heap_usage: evaluation.heap_usage_avg };
        return Decided { outcome, recommendations, state };
    }
    // (2) per vertex, skipping excluded ones, then the delays.
    let mut changes: Vec<(&VertexEvaluation, VertexRecommendation, u32)> = Vec::new();
    for vertex in &evaluation.vertices {
        if config.vertex_exclude_ids.contains(&vertex.vertex) {
            continue;
        }
        let history = state.history.get(&vertex.vertex).map(Vec::as_slice).unwrap_or_default();
        let Some(recommendation) = recommend_parallelism(vertex, config, history) else { continue };
        let applied = apply_delays(config, &mut state, &recommendation, now);
        recommendations.push(recommendation.clone());
        if applied != recommendation.current {
            changes.push((vertex, recommendation, applied));
        }
    }
    // flinkops confirmation: while some vertex is out of bounds upward, nothing executes until that has held for
    // `scale-up.confirmation` (then the evaluation's recent targets span only post-change data).
    let upward_pressure = changes
        .iter()
        .any(|(vertex, _, applied)| *applied > vertex.parallelism && vertex.out_of_bounds() == Some(Direction::Up));
    if upward_pressure {
        let since_ms = *state.scale_up_pending_since_ms.get_or_insert(now);
        let confirmed_at_ms = since_ms.saturating_add(millis(config.scale_up_confirmation));
        if now < confirmed_at_ms {
            return Decided { outcome: Outcome::ScaleUpPending { since_ms, confirmed_at_ms }, recommendations, state };
        }
    } else {
        state.scale_up_pending_since_ms = None;
    }
    // (3) nothing out of bounds among the changed vertices ⇒ nothing.
    if changes.is_empty() {
        return Decided { outcome: Outcome::NoChange, recommendations, state };
    }
    if changes.iter().all(|(vertex, _, _)| vertex.out_of_bounds().is_none()) {
        return Decided { outcome: Outcome::Balanced, recommendations, state };
    }
    let disabled_by = if !config.scaling_enabled {
        Some("job.autoscaler.scaling.enabled:false".to_owned())
    } else {
        context.active_excluded_period.as_ref().map(|period| format!("job.autoscaler.excluded.periods:{period}"))
    };
    let decision = ScalingDecision {
        at_ms: now,
        vertices: changes
            .iter()
            .map(|(vertex, recommendation, applied)| VertexChange {
                vertex: vertex.vertex.clone(),
                from: recommendation.current,
                to: *applied,
                reason: reason(vertex, recommendation, *applied),
            })
            .collect(),
        executed: disabled_by.is_none(),
        report: report(&changes, disabled_by.as_deref()),
    };
    push_decision(config, &mut state, decision.clone(), now);
    // (5) recommendation only.
    if let Some(disabled_by) = disabled_by {
        return Decided { outcome: Outcome::ExecutionDisabled { disabled_by, decision }, recommendations, state };
    }
    // (9) execute: history, tracking, clear delays.
    for (vertex, recommendation, applied) in &changes {
        let records = state.history.entry(vertex.vertex.clone()).or_default();
        records.push(ScalingRecord {
            at_ms: now,
            from: recommendation.current,
            to: *applied,
            true_processing_rate: vertex.true_processing_rate,
            expected_processing_rate: if recommendation.recommended == *applied {
                recommendation.expected_processing_rate
            } else {
                vertex.true_processing_rate / f64::from(recommendation.current.max(1)) * f64::from(*applied)
            },
            target_rate: vertex.target_rate,
        });
    }
    trim_history(config, &mut state, now);
    state.delayed_scale_downs.clear();
    state.scale_up_pending_since_ms = None;
    state.last_rescale_ms = Some(now);
    state.restart_pending_since_ms = Some(now);
    Decided { outcome: Outcome::Scale { decision }, recommendations, state }
}

/// §5.4 step 8 (delayed scale-down); returns the parallelism to apply now.
fn apply_delays(
    config: &AutoscalerConfig,
    state: &mut AutoscalerState,
    recommendation: &VertexRecommendation,
    now: u64,
) -> u32 {
    let vertex = &recommendation.vertex;
    match recommendation.direction() {
        None => {
            state.delayed_scale_downs.remove(vertex);
            recommendation.current
        }
        Some(Direction::Up) => {
            state.delayed_scale_downs.remove(vertex);
            recommendation.recommended
        }
        Some(Direction::Down) => {
            let interval = millis(config.scale_down_interval);
            if interval == 0 {
                return recommendation.recommended;
            }
            let pending = state
                .delayed_scale_downs
                .entry(vertex.clone())
                .or_insert_with(|| DelayedScaleDown { first_at_ms: now, recommendations: Vec::new() });
            pending.recommendations.push((now, recommendation.recommended));
            let window_start = now.saturating_sub(interval);
            pending.recommendations.retain(|(at, _)| *at >= window_start);
            if now.saturating_sub(pending.first_at_ms) < interval {
                return recommendation.current;
            }
            pending.recommendations.iter().map(|(_, p)| *p).max().unwrap_or(recommendation.recommended)
        }
    }
}

fn push_decision(config: &AutoscalerConfig, state: &mut AutoscalerState, decision: ScalingDecision, now: u64) {
    state.decisions.push(decision);
    let oldest = now.saturating_sub(millis(config.history_max_age));
    state.decisions.retain(|d| d.at_ms >= oldest);
    let excess = state.decisions.len().saturating_sub(config.history_max_count.max(1));
    state.decisions.drain(..excess);
}

fn trim_history(config: &AutoscalerConfig, state: &mut AutoscalerState, now: u64) {
    let oldest = now.saturating_sub(millis(config.history_max_age));
    for records in state.history.values_mut() {
        records.retain(|r| r.at_ms >= oldest);
        let excess = records.len().saturating_sub(config.history_max_count.max(1));
        records.drain(..excess);
    }
    state.history.retain(|_, records| !records.is_empty());
}

fn reason(vertex: &VertexEvaluation, recommendation: &VertexRecommendation, applied: u32) -> String {
    let mut text = match vertex.out_of_bounds() {
        Some(Direction::Up) => format!(
            "processing rate {:.2} < scale-up threshold {:.2} (target {:.2} + catch-up {:.2})",
            vertex.true_processing_rate, vertex.scale_up_rate_threshold, vertex.target_rate, vertex.catch_up_rate
        ),
        Some(Direction::Down) => format!(
            "processing rate {:.2} > scale-down threshold {:.2} (target {:.2})",
            vertex.true_processing_rate, vertex.scale_down_rate_threshold, vertex.target_rate
        ),
        None => format!(
            "resized with the job: processing rate {:.2} within [{:.2}, {:.2}]",
            vertex.true_processing_rate, vertex.scale_up_rate_threshold, vertex.scale_down_rate_threshold
        ),
    };
    let _ = write!(text, "; sized for {:.2} records/s", vertex.target_capacity);
    if recommendation.alignment_limited {
        let _ = write!(text, "; aligned to key groups/partitions");
    }
    if applied != recommendation.recommended {
        let _ = write!(text, "; max of delayed scale-down recommendations ({})", recommendation.recommended);
    }
    text
}

fn report(changes: &[(&VertexEvaluation, VertexRecommendation, u32)], disabled_by: Option<&str>) -> String {
    let mut text = match disabled_by {
        Some(key_value) => format!("Scaling execution disabled by config {key_value}, recommended parallelism change:"),
        None => "Scaling execution enabled, begin scaling vertices:".to_owned(),
    };
    for (vertex, recommendation, applied) in changes {
        let _ = write!(
            text,
            "{{ Vertex ID {} | Parallelism {} -> {} | Processing capacity {:.2} -> {:.2} | Target data rate {:.2}}}",
            vertex.vertex,
            recommendation.current,
            applied,
            vertex.true_processing_rate,
            vertex.true_processing_rate / f64::from(recommendation.current.max(1)) * f64::from(*applied),
            vertex.target_rate
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaler::evaluate::TprSource;

    const MINUTE: u64 = 60_000;

    /// A vertex at parallelism 4 with TPR 1000; `target` picks the direction (thresholds per default config).
    fn vertex(id: &str, target: f64) -> VertexEvaluation {
        let capacity = |u: f64| (target / u).round();
        VertexEvaluation {
            vertex: id.into(),
            parallelism: 4,
            max_parallelism: 720,
            source_partitions: None,
            is_source: false,
            has_hash_input: false,
            input_rate: target,
            busy_time_ms_per_second: 0.0,
            true_processing_rate: 1000.0,
            tpr_source: TprSource::BusyTime,
            target_rate: target,
            catch_up_rate: 0.0,
            lag: None,
            scale_up_rate_threshold: capacity(1.0),
            scale_down_rate_threshold: capacity(0.4),
            target_capacity: capacity(0.7),
            load_not_finite: false,
        }
    }

    fn evaluation(vertices: Vec<VertexEvaluation>) -> JobEvaluation {
        JobEvaluation {
            at_ms: 0,
            backlog: false,
            load_rising: false,
            gc_pressure: None,
            heap_usage_avg: None,
            restart_time: Duration::ZERO,
            vertices,
        }
    }

    fn upstream() -> AutoscalerConfig {
        AutoscalerConfig { scale_up_confirmation: Duration::ZERO, ..AutoscalerConfig::default() }
    }

    fn at(now_ms: u64) -> DecisionContext {
        DecisionContext { now_ms, active_excluded_period: None }
    }

    fn changes(outcome: &Outcome) -> Vec<(String, u32, u32)> {
        match outcome {
            Outcome::Scale { decision } | Outcome::ExecutionDisabled { decision, .. } => {
                decision.vertices.iter().map(|c| (c.vertex.clone(), c.from, c.to)).collect()
            }
            Outcome::MemoryPressure { .. } | Outcome::NoChange | Outcome::ScaleUpPending { .. } | Outcome::Balanced => {
                Vec::new()
            }
        }
    }

    #[test]
    fn scale_up_out_of_bounds_executes() {
        let decided = decide(&upstream(), &AutoscalerState::default(), &evaluation(vec![vertex("a", 1400.0)]), &at(0));
        // capacity 1400/0.7 = 2000 ⇒ factor 2 ⇒ 8.
        assert_eq!(changes(&decided.outcome), vec![("a".to_owned(), 4, 8)]);
        assert!(matches!(decided.outcome, Outcome::Scale { .. }));
        assert_eq!(decided.state.history["a"].len(), 1);
        assert!(decided.state.delayed_scale_downs.is_empty());
    }

    #[test]
    fn all_changed_vertices_within_target_means_balanced() {
        // target 800: TPR 1000 in [800, 2000]; recommendation ceil(4 × 1143/1000) = 5 differs, but in bounds.
        let decided = decide(&upstream(), &AutoscalerState::default(), &evaluation(vec![vertex("a", 800.0)]), &at(0));
        assert_eq!(decided.outcome, Outcome::Balanced);
    }

    #[test]
    fn within_bounds_vertex_is_resized_alongside_an_out_of_bounds_one() {
        let decided = decide(
            &upstream(),
            &AutoscalerState::default(),
            &evaluation(vec![vertex("a", 1400.0), vertex("b", 800.0)]),
            &at(0),
        );
        assert_eq!(changes(&decided.outcome), vec![("a".to_owned(), 4, 8), ("b".to_owned(), 4, 5)]);
    }

    #[test]
    fn excluded_vertices_are_not_scaled() {
        let config = AutoscalerConfig { vertex_exclude_ids: vec!["a".into()], ..upstream() };
        let decided = decide(&config, &AutoscalerState::default(), &evaluation(vec![vertex("a", 1400.0)]), &at(0));
        assert_eq!(decided.outcome, Outcome::NoChange);
    }

    #[test]
    fn memory_pressure_blocks_scaling() {
        let config = AutoscalerConfig { gc_pressure_threshold: 0.3, ..upstream() };
        let mut job = evaluation(vec![vertex("a", 1400.0)]);
        job.gc_pressure = Some(0.5);
        let decided = decide(&config, &AutoscalerState::default(), &job, &at(0));
        assert!(matches!(decided.outcome, Outcome::MemoryPressure { .. }));
    }

    #[test]
    fn scaling_disabled_recommends_without_executing() {
        let config = AutoscalerConfig { scaling_enabled: false, ..upstream() };
        let decided = decide(&config, &AutoscalerState::default(), &evaluation(vec![vertex("a", 1400.0)]), &at(0));
        let Outcome::ExecutionDisabled { disabled_by, decision } = &decided.outcome else {
            panic!("expected a recommendation, got {:?}", decided.outcome)
        };
        assert_eq!(disabled_by, "job.autoscaler.scaling.enabled:false");
        assert!(
            decision.report.starts_with("Scaling execution disabled by config job.autoscaler.scaling.enabled:false")
        );
        assert!(decided.state.history.is_empty());
    }

    #[test]
    fn delayed_scale_down_waits_then_applies_the_window_maximum() {
        let config = upstream();
        let mut state = AutoscalerState::default();
        // (minute, target) → recommendations: target 100 ⇒ 2 (clamped 0.4 × 4 = 1.6 ⇒ 2), target 200 ⇒ 2, …
        let mut outcomes = Vec::new();
        for (minute, target) in [(0, 100.0), (30, 300.0), (59, 100.0), (60, 100.0)] {
            let decided = decide(&config, &state, &evaluation(vec![vertex("a", target)]), &at(minute * MINUTE));
            outcomes.push(changes(&decided.outcome));
            state = decided.state;
        }
        // target 300: capacity 429, factor 0.43 ⇒ ceil(1.71) = 2; the max in the window stays 2.
        assert_eq!(outcomes[..3], [vec![], vec![], vec![]]);
        assert_eq!(outcomes[3], vec![("a".to_owned(), 4, 2)]);
    }

    #[test]
    fn delayed_scale_down_uses_sliding_window_max() {
        let config = upstream();
        let mut state = AutoscalerState::default();
        let mut last = Vec::new();
        // target 500 ⇒ ceil(4 × 714/1000) = 3 at minute 0 (starts the delay); later only target 100 ⇒ 2.
        for (minute, target) in [(0, 500.0), (10, 100.0), (61, 100.0)] {
            let decided = decide(&config, &state, &evaluation(vec![vertex("a", target)]), &at(minute * MINUTE));
            last = changes(&decided.outcome);
            state = decided.state;
        }
        // at minute 61 the delay (from minute 0) has passed and minute 0's 3 has slid out of the window: 2 applies.
        assert_eq!(last, vec![("a".to_owned(), 4, 2)]);
    }

    #[test]
    fn scale_up_discards_pending_scale_downs() {
        let config = upstream();
        let decided = decide(&config, &AutoscalerState::default(), &evaluation(vec![vertex("a", 100.0)]), &at(0));
        assert!(decided.state.delayed_scale_downs.contains_key("a"));
        let decided = decide(&config, &decided.state, &evaluation(vec![vertex("a", 1400.0)]), &at(MINUTE));
        assert!(decided.state.delayed_scale_downs.is_empty());
    }

    #[test]
    fn scale_up_confirmation_holds_everything_then_executes() {
        let config = AutoscalerConfig { scale_up_confirmation: Duration::from_secs(120), ..upstream() };
        let job = evaluation(vec![vertex("a", 1400.0)]);
        let first = decide(&config, &AutoscalerState::default(), &job, &at(0));
        assert_eq!(first.outcome, Outcome::ScaleUpPending { since_ms: 0, confirmed_at_ms: 2 * MINUTE });
        let early = decide(&config, &first.state, &job, &at(MINUTE));
        assert!(matches!(early.outcome, Outcome::ScaleUpPending { .. }));
        let confirmed = decide(&config, &early.state, &job, &at(2 * MINUTE));
        assert_eq!(changes(&confirmed.outcome), vec![("a".to_owned(), 4, 8)]);
        assert_eq!(confirmed.state.scale_up_pending_since_ms, None);
        // a run without upward pressure restarts the confirmation.
        let interrupted = decide(&config, &first.state, &evaluation(vec![vertex("a", 700.0)]), &at(MINUTE));
        assert_eq!(interrupted.state.scale_up_pending_since_ms, None);
    }

    #[test]
    fn history_is_bounded_by_count_and_age() {
        let config = AutoscalerConfig { history_max_count: 2, ..upstream() };
        let mut state = AutoscalerState::default();
        for minute in 0..4 {
            state = decide(&config, &state, &evaluation(vec![vertex("a", 1400.0)]), &at(minute * MINUTE)).state;
        }
        assert_eq!(state.history["a"].len(), 2);
        assert_eq!(state.decisions.len(), 2);
        let day = 24 * 60 * MINUTE;
        state = decide(&config, &state, &evaluation(vec![vertex("a", 1400.0)]), &at(2 * day)).state;
        assert_eq!(state.history["a"].len(), 1);
    }

    #[test]
    fn restart_tracking_measures_the_restart_after_a_rescale() {
        let config = AutoscalerConfig { restart_time_tracking_enabled: true, ..upstream() };
        let mut state =
            decide(&config, &AutoscalerState::default(), &evaluation(vec![vertex("a", 1400.0)]), &at(0)).state;
        state.observe_running_since(90_000);
        assert_eq!(state.restart_time(&config), Duration::from_secs(90));
        assert_eq!(state.restart_time(&upstream()), Duration::from_secs(300));
    }

    proptest::proptest! {
        #[test]
        fn no_scaling_when_every_vertex_is_within_the_utilization_boundary(
            targets in proptest::collection::vec(1.0f64..1e6, 1..5),
            utilizations in proptest::collection::vec(0.41f64..0.99, 5),
            parallelism in 1u32..100,
        ) {
            // TPR = target / utilization with utilization strictly inside [lower 0.4, upper 1.0].
            let vertices: Vec<VertexEvaluation> = targets
                .iter()
                .zip(&utilizations)
                .enumerate()
                .map(|(i, (target, utilization))| VertexEvaluation {
                    parallelism,
                    true_processing_rate: target / utilization,
                    ..vertex(&format!("v{i}"), *target)
                })
                .collect();
            let decided = decide(&upstream(), &AutoscalerState::default(), &evaluation(vertices), &at(0));
            proptest::prop_assert!(matches!(decided.outcome, Outcome::NoChange | Outcome::Balanced));
        }
    }

    #[test]
    fn report_follows_the_upstream_format_and_state_round_trips() {
        let decided = decide(&upstream(), &AutoscalerState::default(), &evaluation(vec![vertex("a", 1400.0)]), &at(0));
        let Outcome::Scale { decision } = &decided.outcome else { panic!("expected a scaling") };
        assert_eq!(
            decision.report,
            "Scaling execution enabled, begin scaling vertices:{ Vertex ID a | Parallelism 4 -> 8 | Processing capacity \
             1000.00 -> 2000.00 | Target data rate 1400.00}"
        );
        let json = serde_json::to_string(&decided.state).unwrap_or_default();
        assert!(json.contains("\"delayedScaleDowns\""));
        assert_eq!(serde_json::from_str::<AutoscalerState>(&json).ok(), Some(decided.state));
    }
}
