//! The autoscaler simulator: a fluid model of a Flink job fed through the *same* collection window, evaluation and
//! decision code the operator runs, and the per-scenario report (rescales, time to target, under- and
//! over-provisioning, oscillations). Scenario types and the rate schedule live in `scenario.rs`; every metric is
//! defined in `docs/autoscaler.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{AutoscalerConfig, ConfigError};
use super::decision::{AutoscalerState, DecisionContext, Outcome};
use super::evaluate::Direction;
use super::metrics::{
    Edge, JobObservation, JobTopology, MetricsWindow, ShipStrategy, SubtaskBusyTime, TopologyError, VertexInfo,
    VertexObservation, millis,
};
use super::scenario::{Scenario, ScenarioVertex, SplitMix64, offered_rate};
use super::{Run, run_once};

/// A scenario that cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulationError {
    /// A `config` entry does not parse.
    #[error("scenario {scenario}: {source}")]
    Config {
        /// Scenario name.
        scenario: String,
        /// The parse error.
        source: ConfigError,
    },
    /// Vertices/edges do not form a job graph.
    #[error("scenario {scenario}: {source}")]
    Topology {
        /// Scenario name.
        scenario: String,
        /// The graph error.
        source: TopologyError,
    },
    /// Any other inconsistency (bad edge shape, zero tick, non-positive capacity …).
    #[error("scenario {scenario}: {message}")]
    Invalid {
        /// Scenario name.
        scenario: String,
        /// What is wrong.
        message: String,
    },
}

/// One vertex change as reported in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionLine {
    /// Seconds since the scenario start.
    pub at: u64,
    /// Vertex id.
    pub vertex: String,
    /// Parallelism before.
    pub from: u32,
    /// Parallelism after.
    pub to: u32,
    /// Why.
    pub reason: String,
}

/// The per-scenario report (exact JSON shape of the issue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulationReport {
    /// Scenario name.
    pub name: String,
    /// Executed rescales.
    pub rescales: u32,
    /// Worst time from a load change until the target is met for good (see docs).
    pub time_to_target_seconds: u64,
    /// Seconds during which the backlog grew.
    pub under_provisioned_seconds: u64,
    /// Σ over time and vertices of slots above the minimum needed.
    pub over_provision_slot_seconds: u64,
    /// Direction reversals within the stabilization horizon.
    pub oscillations: u32,
    /// Parallelism at the end.
    pub final_parallelism: BTreeMap<String, u32>,
    /// Every decision, one line per vertex change.
    pub decisions: Vec<DecisionLine>,
}

/// The JSON document `{"scenarios": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationResults {
    /// One report per scenario.
    pub scenarios: Vec<SimulationReport>,
}

/// How the job fared after one change of the offered load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadChangeOutcome {
    /// When the load changed, s.
    pub at: u64,
    /// Seconds until the target was met for good; `None` if not before the next change / the end.
    pub met_after_seconds: Option<u64>,
    /// Executed rescales from the change until the target was met (or the next change).
    pub rescales_until_met: u32,
}

/// A full run: the report plus per-load-change detail used by the acceptance tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRun {
    /// The report.
    pub report: SimulationReport,
    /// One entry per schedule point.
    pub load_changes: Vec<LoadChangeOutcome>,
}

/// Model of one vertex.
struct ModelVertex {
    spec: ScenarioVertex,
    parallelism: u32,
    records_in: f64,
    records_out: f64,
    busy_ms: f64,
}

impl ModelVertex {
    /// Share of the vertex input landing on the busiest subtask.
    fn hot_share(&self, parallelism: u32) -> f64 {
        let h = self.spec.hot_key_share.clamp(0.0, 1.0);
        h + (1.0 - h) / f64::from(parallelism.max(1))
    }

    /// Records/s the vertex sustains at `parallelism` (its busiest subtask saturates first).
    fn capacity(&self, parallelism: u32) -> f64 {
        self.spec.capacity_per_subtask / self.hot_share(parallelism)
    }

    /// Smallest parallelism sustaining `rate` (max parallelism if none does).
    fn minimum_parallelism(&self, rate: f64) -> u32 {
        let cap = self.spec.capacity_per_subtask;
        let h = self.spec.hot_key_share.clamp(0.0, 1.0);
        if rate <= 0.0 {
            return 1;
        }
        let headroom = cap / rate - h;
        if headroom <= 0.0 {
            return self.spec.max_parallelism.max(1);
        }
        let needed = ((1.0 - h) / headroom - 1e-9).ceil().max(1.0);
        (needed.min(f64::from(self.spec.max_parallelism.max(1)))) as u32
    }
}

/// Runs every scenario and collects the JSON document.
///
/// # Errors
/// The first scenario that cannot be simulated.
pub fn simulate_all(scenarios: &[Scenario]) -> Result<SimulationResults, SimulationError> {
    let reports = scenarios.iter().map(|s| simulate(s).map(|run| run.report)).collect::<Result<_, _>>()?;
    Ok(SimulationResults { scenarios: reports })
}

/// Runs one scenario.
///
/// # Errors
/// Unparseable config, an invalid graph, or a malformed scenario.
pub fn simulate(scenario: &Scenario) -> Result<ScenarioRun, SimulationError> {
    let invalid = |message: String| SimulationError::Invalid { scenario: scenario.name.clone(), message };
    let flink_config: BTreeMap<String, String> =
        scenario.config.iter().map(|(k, v)| (k.clone(), v.as_flink_string())).collect();
    let config = AutoscalerConfig::from_flink_config(&flink_config)
        .map_err(|source| SimulationError::Config { scenario: scenario.name.clone(), source })?;
    // The simulator exists to exercise the autoscaler: it is on whatever the scenario says.
    let config = AutoscalerConfig { enabled: true, ..config };
    if scenario.tick_seconds == 0 {
        return Err(invalid("tickSeconds must be positive".to_owned()));
    }
    if let Some(bad) = scenario
        .vertices
        .iter()
        .find(|v| v.capacity_per_subtask.is_nan() || v.capacity_per_subtask <= 0.0 || v.parallelism == 0)
    {
        return Err(invalid(format!("vertex {} needs capacityPerSubtask > 0 and parallelism ≥ 1", bad.id)));
    }
    let edges = scenario
        .edges
        .iter()
        .map(|edge| match edge.as_slice() {
            [from, to] => Ok(Edge { from: from.clone(), to: to.clone(), ship_strategy: ShipStrategy::Hash }),
            [from, to, strategy] => Ok(Edge {
                from: from.clone(),
                to: to.clone(),
                ship_strategy: if strategy.eq_ignore_ascii_case("HASH") {
                    ShipStrategy::Hash
                } else {
                    ShipStrategy::Other
                },
            }),
            other => Err(invalid(format!("edge {other:?} must be [from, to] or [from, to, SHIP_STRATEGY]"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut model: BTreeMap<String, ModelVertex> = scenario
        .vertices
        .iter()
        .map(|spec| {
            let vertex = ModelVertex {
                spec: spec.clone(),
                parallelism: spec.parallelism,
                records_in: 0.0,
                records_out: 0.0,
                busy_ms: 0.0,
            };
            (spec.id.clone(), vertex)
        })
        .collect();
    let build_topology = |model: &BTreeMap<String, ModelVertex>| {
        let vertices = scenario
            .vertices
            .iter()
            .filter_map(|spec| model.get(&spec.id))
            .map(|v| VertexInfo {
                id: v.spec.id.clone(),
                parallelism: v.parallelism,
                max_parallelism: v.spec.max_parallelism,
                source_partitions: v.spec.partitions,
            })
            .collect();
        JobTopology::new(vertices, edges.clone())
            .map_err(|source| SimulationError::Topology { scenario: scenario.name.clone(), source })
    };
    let mut topology = build_topology(&model)?;
    let order: Vec<String> = topology.vertices().iter().map(|v| v.id.clone()).collect();
    let sources: Vec<String> = order.iter().filter(|id| topology.is_source(id)).cloned().collect();
    let reachable: BTreeMap<String, BTreeSet<String>> =
        sources.iter().map(|s| (s.clone(), downstream_of(&topology, s))).collect();

    let dt = scenario.tick_seconds as f64;
    let tick_ms = scenario.tick_seconds * 1000;
    let mut rng = SplitMix64::new(scenario.seed);
    let mut lag: BTreeMap<String, f64> = sources.iter().map(|s| (s.clone(), 0.0)).collect();
    let mut window = MetricsWindow::default();
    let mut state = AutoscalerState::default();
    let mut running_since_ms = 0u64;
    let mut restart_until_ms = 0u64;
    let mut report = SimulationReport {
        name: scenario.name.clone(),
        rescales: 0,
        time_to_target_seconds: 0,
        under_provisioned_seconds: 0,
        over_provision_slot_seconds: 0,
        oscillations: 0,
        final_parallelism: BTreeMap::new(),
        decisions: Vec::new(),
    };
    let mut executed: Vec<(u64, String, Direction)> = Vec::new();
    let mut met_per_tick: Vec<(u64, bool)> = Vec::new();

    let ticks = scenario.duration_seconds / scenario.tick_seconds;
    for tick in 0..ticks {
        let start_ms = tick * tick_ms;
        let end_ms = start_ms + tick_ms;
        let t = start_ms as f64 / 1000.0;
        let nominal = offered_rate(&scenario.source_rate, t);
        let backlog_before: f64 = lag.values().sum();
        let restarting = start_ms < restart_until_ms;
        let mut wanted: BTreeMap<String, f64> = BTreeMap::new();
        for source in &sources {
            let offered = (nominal * (1.0 + scenario.noise * rng.next_symmetric())).max(0.0);
            let queued = lag.get(source).copied().unwrap_or(0.0) + offered * dt;
            if restarting {
                lag.insert(source.clone(), queued);
                continue;
            }
            let capacity = model.get(source).map_or(0.0, |v| v.capacity(v.parallelism));
            wanted.insert(source.clone(), (queued / dt).min(capacity));
            lag.insert(source.clone(), queued);
        }
        if !restarting {
            // Back-pressure: each source is throttled by the tightest vertex it feeds (zero-buffer fluid model).
            let unthrottled = propagate(&topology, &model, &wanted);
            let throttled: BTreeMap<String, f64> = wanted
                .iter()
                .map(|(source, want)| {
                    let factor = reachable.get(source).into_iter().flatten().fold(1.0f64, |factor, v| {
                        let flow = unthrottled.get(v).copied().unwrap_or(0.0);
                        let capacity = model.get(v).map_or(0.0, |m| m.capacity(m.parallelism));
                        if flow > capacity { factor.min(capacity / flow) } else { factor }
                    });
                    (source.clone(), want * factor)
                })
                .collect();
            let flows = propagate(&topology, &model, &throttled);
            for (source, emitted) in &throttled {
                if let Some(queued) = lag.get_mut(source) {
                    *queued = (*queued - emitted * dt).max(0.0);
                }
            }
            for (id, vertex) in &mut model {
                let flow = flows.get(id).copied().unwrap_or(0.0);
                vertex.records_in += flow * dt;
                vertex.records_out += flow * vertex.spec.selectivity * dt;
                let avg_busy = (flow / vertex.capacity(1) / f64::from(vertex.parallelism.max(1))).min(1.0);
                vertex.busy_ms += avg_busy * 1000.0 * f64::from(vertex.parallelism) * dt;
            }
            // Observation at the end of the tick, then the autoscaler exactly as the operator runs it.
            let observation = observe(&topology, &model, &flows, &wanted, &lag, end_ms, running_since_ms);
            let Run { window: next_window, state: next_state, result } = run_once(
                &config,
                std::mem::take(&mut state),
                std::mem::take(&mut window),
                &observation,
                &DecisionContext { now_ms: end_ms, active_excluded_period: None },
            );
            window = next_window;
            state = next_state;
            if let super::RunResult::Decided { outcome, .. } = result {
                let (decision, executed_now) = match &outcome {
                    Outcome::Scale { decision } => (Some(decision), true),
                    Outcome::ExecutionDisabled { decision, .. } => (Some(decision), false),
                    Outcome::MemoryPressure { .. }
                    | Outcome::NoChange
                    | Outcome::ScaleUpPending { .. }
                    | Outcome::Balanced => (None, false),
                };
                if let Some(decision) = decision {
                    for change in &decision.vertices {
                        report.decisions.push(DecisionLine {
                            at: end_ms / 1000,
                            vertex: change.vertex.clone(),
                            from: change.from,
                            to: change.to,
                            reason: if executed_now {
                                change.reason.clone()
                            } else {
                                format!("recommended only: {}", change.reason)
                            },
                        });
                        if executed_now {
                            let direction = if change.to > change.from { Direction::Up } else { Direction::Down };
                            executed.push((end_ms, change.vertex.clone(), direction));
                            if let Some(vertex) = model.get_mut(&change.vertex) {
                                vertex.parallelism = change.to;
                            }
                        }
                    }
                    if executed_now {
                        report.rescales += 1;
                        restart_until_ms = end_ms + scenario.restart_seconds * 1000;
                        running_since_ms = restart_until_ms;
                        topology = build_topology(&model)?;
                    }
                }
            }
        }
        // Scenario metrics for this tick.
        let backlog_after: f64 = lag.values().sum();
        if backlog_after > backlog_before + 1e-6 {
            report.under_provisioned_seconds += scenario.tick_seconds;
        }
        let required = required_rates(&topology, &model, nominal);
        let mut all_sufficient = true;
        for (id, vertex) in &model {
            let need = required.get(id).copied().unwrap_or(0.0);
            let excess = vertex.parallelism.saturating_sub(vertex.minimum_parallelism(need));
            report.over_provision_slot_seconds += u64::from(excess) * scenario.tick_seconds;
            all_sufficient &= vertex.capacity(vertex.parallelism) >= need;
        }
        let backlog_tolerance = nominal * sources.len() as f64 * dt.max(60.0);
        // Restart pauses are not excluded: they count against the target only if the backlog they leave is too big.
        let met = all_sufficient && backlog_after <= backlog_tolerance.max(1.0);
        met_per_tick.push((end_ms / 1000, met));
    }
    report.final_parallelism = model.iter().map(|(id, v)| (id.clone(), v.parallelism)).collect();
    let horizon_ms = millis(config.stabilization_interval + config.metrics_window + config.scale_down_interval);
    report.oscillations = count_oscillations(&executed, horizon_ms);
    let load_changes = load_change_outcomes(scenario, &met_per_tick, &executed);
    // A tick is reported at its end; "met during the first tick after the change" is 0 s.
    report.time_to_target_seconds = load_changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let next = load_changes.get(i + 1).map_or(scenario.duration_seconds, |n| n.at);
            change.met_after_seconds.unwrap_or(next.saturating_sub(change.at))
        })
        .max()
        .unwrap_or(0);
    Ok(ScenarioRun { report, load_changes })
}

/// Vertices fed (transitively) by `source`, itself excluded.
fn downstream_of(topology: &JobTopology, source: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut frontier = vec![source.to_owned()];
    while let Some(id) = frontier.pop() {
        for edge in topology.outputs(&id) {
            if seen.insert(edge.to.clone()) {
                frontier.push(edge.to.clone());
            }
        }
    }
    seen
}

/// Flow through every vertex given the source emissions; a stream consumed by several vertices reaches each.
fn propagate(
    topology: &JobTopology,
    model: &BTreeMap<String, ModelVertex>,
    emissions: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    let mut flows: BTreeMap<String, f64> = BTreeMap::new();
    for vertex in topology.vertices() {
        let flow = if topology.is_source(&vertex.id) {
            emissions.get(&vertex.id).copied().unwrap_or(0.0)
        } else {
            topology
                .inputs(&vertex.id)
                .map(|edge| {
                    let upstream = flows.get(&edge.from).copied().unwrap_or(0.0);
                    upstream * model.get(&edge.from).map_or(1.0, |m| m.spec.selectivity)
                })
                .sum()
        };
        flows.insert(vertex.id.clone(), flow);
    }
    flows
}

/// The steady-state rate each vertex must sustain at the noiseless offered rate.
fn required_rates(
    topology: &JobTopology,
    model: &BTreeMap<String, ModelVertex>,
    offered: f64,
) -> BTreeMap<String, f64> {
    let emissions =
        topology.vertices().iter().filter(|v| topology.is_source(&v.id)).map(|v| (v.id.clone(), offered)).collect();
    propagate(topology, model, &emissions)
}

/// What a metrics fetcher would read from the modelled job.
fn observe(
    topology: &JobTopology,
    model: &BTreeMap<String, ModelVertex>,
    flows: &BTreeMap<String, f64>,
    wanted: &BTreeMap<String, f64>,
    lag: &BTreeMap<String, f64>,
    at_ms: u64,
    running_since_ms: u64,
) -> JobObservation {
    let vertices = model
        .iter()
        .map(|(id, vertex)| {
            let flow = flows.get(id).copied().unwrap_or(0.0);
            let per_subtask = vertex.spec.capacity_per_subtask;
            let parallelism = f64::from(vertex.parallelism.max(1));
            let h = vertex.spec.hot_key_share.clamp(0.0, 1.0);
            let busy = |share: f64| (1000.0 * flow * share / per_subtask).min(1000.0);
            let is_source = topology.is_source(id);
            // The time a source wanted to emit but was blocked, as a share of its capacity.
            let blocked = wanted.get(id).map_or(0.0, |want| (want - flow).max(0.0));
            let observation = VertexObservation {
                records_in: vertex.records_in,
                records_out: vertex.records_out,
                accumulated_busy_time_ms: vertex.busy_ms,
                busy_time_ms_per_second: SubtaskBusyTime {
                    max: busy(vertex.hot_share(vertex.parallelism)),
                    avg: busy(1.0 / parallelism),
                    min: busy((1.0 - h) / parallelism),
                },
                records_in_per_second: (!is_source).then_some(flow),
                source_records_in_per_second: is_source.then_some(flow),
                backpressured_ms_per_second_avg: 1000.0 * blocked / vertex.capacity(vertex.parallelism),
                pending_records: lag.get(id).copied(),
            };
            (id.clone(), observation)
        })
        .collect();
    JobObservation {
        at_ms,
        running_since_ms,
        topology: topology.clone(),
        vertices,
        gc_time_ms_per_second_max: None,
        heap_usage_ratio: None,
    }
}

/// Consecutive changes of the same vertex in opposite directions less than `horizon_ms` apart.
fn count_oscillations(executed: &[(u64, String, Direction)], horizon_ms: u64) -> u32 {
    let mut last: BTreeMap<&str, (u64, Direction)> = BTreeMap::new();
    let mut count = 0;
    for (at, vertex, direction) in executed {
        if let Some((previous_at, previous_direction)) = last.get(vertex.as_str())
            && previous_direction != direction
            && at - previous_at < horizon_ms
        {
            count += 1;
        }
        last.insert(vertex, (*at, *direction));
    }
    count
}

/// For each schedule point: when the target was met for good before the next point, and the rescales until then.
fn load_change_outcomes(
    scenario: &Scenario,
    met_per_tick: &[(u64, bool)],
    executed: &[(u64, String, Direction)],
) -> Vec<LoadChangeOutcome> {
    let mut starts: Vec<u64> =
        scenario.source_rate.iter().map(|p| p.at()).filter(|at| *at < scenario.duration_seconds).collect();
    starts.sort_unstable();
    starts.dedup();
    let rescale_times: BTreeSet<u64> = executed.iter().map(|(at, _, _)| at / 1000).collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let end = starts.get(i + 1).copied().unwrap_or(scenario.duration_seconds);
            let ticks: Vec<&(u64, bool)> = met_per_tick.iter().filter(|(t, _)| *t > at && *t <= end).collect();
            // met for good: every tick from some point to the end of the segment is met.
            let first_unmet_from_end = ticks.iter().rposition(|(_, met)| !met);
            let met_at = match first_unmet_from_end {
                None => ticks.first().map(|(t, _)| *t),
                Some(index) => ticks.get(index + 1).map(|(t, _)| *t),
            };
            let counted_until = met_at.unwrap_or(end);
            LoadChangeOutcome {
                at,
                met_after_seconds: met_at.map(|t| t.saturating_sub(scenario.tick_seconds).saturating_sub(at)),
                rescales_until_met: rescale_times.range(at..=counted_until).count() as u32,
            }
        })
        .collect()
}
