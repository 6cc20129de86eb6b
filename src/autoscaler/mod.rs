//! Autoscaler core: DS2-style per-vertex scaling from measured load, as pure functions over plain data (no IO, no
//! clock, no randomness). Start at [`run_once`], which chains the stages the operator runs each reconcile:
//!
//! - `config`: every `job.autoscaler.*` key, typed, with upstream defaults and range checks;
//! - `metrics`: topology, observations, the sliding metrics window (collection, §5.2);
//! - `evaluate`: rates, true processing rate, target/catch-up rates, thresholds (§5.3);
//! - `scale`: new parallelism of one vertex, alignment, effectiveness (§5.4);
//! - `decision`: delays, gates, report, persistable state (§5.4 step 8, §5.5);
//! - `excluded`: whether now falls in one of the `excluded.periods`;
//! - `scenario` and `simulator`: the fluid-model simulator over the same code, and its report.
//!
//! Executing a decision (overrides, events, the state ConfigMap) belongs to the operator, not here.

pub mod config;
pub mod decision;
pub mod evaluate;
pub mod excluded;
pub mod metrics;
pub mod scale;
pub mod scenario;
pub mod simulator;

#[cfg(test)]
mod acceptance_tests;

pub use config::{AlignmentMode, AutoscalerConfig, BusyTimeAggregator, ConfigError, ConfigViolation};
pub use decision::{AutoscalerState, Decided, DecisionContext, Outcome, ScalingDecision, VertexChange, decide};
pub use evaluate::{EvaluationError, JobEvaluation, VertexEvaluation, evaluate};
pub use metrics::{JobObservation, JobTopology, MetricsWindow, WindowStatus};
pub use scale::{VertexRecommendation, recommend_parallelism};
pub use scenario::Scenario;
pub use simulator::{ScenarioRun, SimulationError, SimulationReport, SimulationResults, simulate, simulate_all};

/// What one autoscaler run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    /// The window is stabilizing or filling: nothing to evaluate yet.
    NotReady(WindowStatus),
    /// The window could not be evaluated (event `AutoscalerError` upstream).
    EvaluationFailed(EvaluationError),
    /// Evaluated and decided.
    Decided {
        /// The evaluation the decision was based on.
        evaluation: Box<JobEvaluation>,
        /// What to do.
        outcome: Outcome,
        /// Per-vertex recommendations (published as recommended parallelism).
        recommendations: Vec<VertexRecommendation>,
    },
}

/// The new window and state to persist, and the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Window after recording the observation.
    pub window: MetricsWindow,
    /// State after the decision.
    pub state: AutoscalerState,
    /// What happened.
    pub result: RunResult,
}

/// One reconcile's autoscaler step: collect the observation into the window, evaluate once it is full, decide.
pub fn run_once(
    config: &AutoscalerConfig,
    mut state: AutoscalerState,
    mut window: MetricsWindow,
    observation: &JobObservation,
    context: &DecisionContext,
) -> Run {
    state.observe_running_since(observation.running_since_ms);
    let status = window.record(observation, config);
    if status != WindowStatus::Ready {
        return Run { window, state, result: RunResult::NotReady(status) };
    }
    let evaluation = match evaluate(&window, config, state.restart_time(config)) {
        Ok(evaluation) => evaluation,
        Err(error) => return Run { window, state, result: RunResult::EvaluationFailed(error) },
    };
    let Decided { outcome, recommendations, state } = decide(config, &state, &evaluation, context);
    Run { window, state, result: RunResult::Decided { evaluation: Box::new(evaluation), outcome, recommendations } }
}
