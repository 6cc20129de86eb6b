//! Evaluation (§5.3): from a full metrics window to per-vertex rates, true processing rate, target and catch-up
//! rates, backlog mode and the scale-up/scale-down thresholds, in topological order. Turning these into a new
//! parallelism is `scale.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{AutoscalerConfig, BusyTimeAggregator};
use super::metrics::{CollectedSample, CollectedVertexMetrics, JobTopology, MetricsWindow, VertexId, millis};

/// Why a window could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// Fewer than two samples or no topology.
    #[error("the metrics window is not ready")]
    WindowNotReady,
    /// A source has no usable input rate.
    #[error("Cannot evaluate metrics without ingestion rate information (source {0})")]
    NoIngestionRate(VertexId),
}

/// Which estimate the true processing rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TprSource {
    /// input rate / busy ratio.
    BusyTime,
    /// OBSERVED_TPR of a back-pressured source catching up.
    Observed,
}

/// Evaluated metrics of one vertex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexEvaluation {
    /// Vertex id.
    pub vertex: VertexId,
    /// Parallelism during the window.
    pub parallelism: u32,
    /// Max parallelism (key groups).
    pub max_parallelism: u32,
    /// Known source partition count.
    pub source_partitions: Option<u32>,
    /// No inputs.
    pub is_source: bool,
    /// Some input is keyed.
    pub has_hash_input: bool,
    /// `rate(NUM_RECORDS_IN)`, records/s.
    pub input_rate: f64,
    /// Busy time, ms/s.
    pub busy_time_ms_per_second: f64,
    /// True processing rate, records/s (NaN ⇒ no decision).
    #[serde(with = "super::metrics::non_finite")]
    pub true_processing_rate: f64,
    /// Where the TPR came from.
    pub tpr_source: TprSource,
    /// Target data rate, records/s: the window rate (upstream), or `max(window, recent)` when the load is rising.
    pub target_rate: f64,
    /// Extra rate to clear the backlog within `catch-up.duration`.
    pub catch_up_rate: f64,
    /// Latest LAG (sources), records.
    pub lag: Option<f64>,
    /// `cap(upper, no restart)`.
    #[serde(with = "super::metrics::non_finite")]
    pub scale_up_rate_threshold: f64,
    /// `cap(lower, restart)`.
    #[serde(with = "super::metrics::non_finite")]
    pub scale_down_rate_threshold: f64,
    /// `cap(utilization.target, restart)`: the capacity a new parallelism is sized for.
    #[serde(with = "super::metrics::non_finite")]
    pub target_capacity: f64,
    /// LOAD was non-finite in some sample: excluded from scaling this run.
    pub load_not_finite: bool,
}

impl VertexEvaluation {
    /// Out of the utilization bounds (§5.3): scaling this vertex is justified.
    pub fn out_of_bounds(&self) -> Option<Direction> {
        if self.true_processing_rate < self.scale_up_rate_threshold {
            Some(Direction::Up)
        } else if self.true_processing_rate > self.scale_down_rate_threshold {
            Some(Direction::Down)
        } else {
            None
        }
    }
}

/// Direction of a scaling change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// More parallelism.
    Up,
    /// Less parallelism.
    Down,
}

/// Evaluation of the whole job at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvaluation {
    /// Time of the newest sample, ms.
    pub at_ms: u64,
    /// Some source's lag exceeds `backlog-processing.lag-threshold`.
    pub backlog: bool,
    /// flinkops: evaluated with the recent target rates because some vertex is out of bounds upward with them.
    pub load_rising: bool,
    /// Latest GC_PRESSURE.
    pub gc_pressure: Option<f64>,
    /// Window average of HEAP_MAX_USAGE_RATIO.
    pub heap_usage_avg: Option<f64>,
    /// Restart time used in the capacity formula.
    pub restart_time: Duration,
    /// Vertices in topological order.
    pub vertices: Vec<VertexEvaluation>,
}

/// `rate(X)` = 1000 × (last − first) / max(1, Δt ms) over the first and last samples where X is a number.
pub fn rate(samples: &[CollectedSample], vertex: &str, metric: impl Fn(&CollectedVertexMetrics) -> Option<f64>) -> f64 {
    let points: Vec<(u64, f64)> = samples
        .iter()
        .filter_map(|s| s.vertices.get(vertex).and_then(&metric).filter(|v| !v.is_nan()).map(|v| (s.at_ms, v)))
        .collect();
    match (points.first(), points.last()) {
        (Some(first), Some(last)) if points.len() >= 2 => {
            1000.0 * (last.1 - first.1) / (last.0.saturating_sub(first.0)).max(1) as f64
        }
        _ => f64::NAN,
    }
}

/// `avg(X)` over finite samples; NaN if none, +∞ if only infinite ones.
pub fn average(
    samples: &[CollectedSample],
    vertex: &str,
    metric: impl Fn(&CollectedVertexMetrics) -> Option<f64>,
) -> f64 {
    let values: Vec<f64> = samples.iter().filter_map(|s| s.vertices.get(vertex).and_then(&metric)).collect();
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if !finite.is_empty() {
        finite.iter().sum::<f64>() / finite.len() as f64
    } else if values.iter().any(|v| v.is_infinite()) {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// `cap(u, restart)`: capacity needed to run at utilization `u` (§5.3); durations in whole seconds.
pub fn capacity_at_utilization(
    target_rate: f64,
    catch_up_rate: f64,
    utilization: f64,
    restart: Option<Duration>,
    catch_up_duration: Duration,
) -> f64 {
    if target_rate.is_nan() || catch_up_rate.is_nan() || utilization.is_nan() {
        return f64::NAN;
    }
    let utilization = utilization.clamp(0.0, 1.0);
    if utilization == 0.0 {
        return f64::INFINITY;
    }
    let catch_up_s = catch_up_duration.as_secs() as f64;
    let restart_compensation = match restart {
        Some(restart) if catch_up_s > 0.0 => target_rate * restart.as_secs() as f64 / catch_up_s,
        _ => 0.0,
    };
    (catch_up_rate + restart_compensation + target_rate / utilization).round()
}

/// Evaluates a ready window (§5.3). `restart_time` is `restart.time` or the tracked value.
///
/// flinkops extension (off when `scale_up_confirmation` is zero): the source target rate is also measured over the
/// trailing confirmation span; if, with those "recent" targets, some vertex is out of bounds upward, the whole job is
/// evaluated with `max(window, recent)` targets (a load increase is under way: size every vertex for it), otherwise
/// exactly as upstream with the window targets.
///
/// # Errors
/// A window without samples/topology, or a source without an ingestion rate.
pub fn evaluate(
    window: &MetricsWindow,
    config: &AutoscalerConfig,
    restart_time: Duration,
) -> Result<JobEvaluation, EvaluationError> {
    let (Some(topology), Some(latest)) = (window.topology.as_ref(), window.samples.last()) else {
        return Err(EvaluationError::WindowNotReady);
    };
    if window.samples.len() < 2 {
        return Err(EvaluationError::WindowNotReady);
    }
    let context = WindowContext::new(topology, &window.samples, latest);
    let window_targets = context.targets(config, None)?;
    let mut load_rising = false;
    let mut vertices = context.vertex_evaluations(config, &window_targets, restart_time);
    if let Some(recent) = recent_samples(&window.samples, config.scale_up_confirmation) {
        let recent_targets = context.targets(config, Some(recent))?;
        let recent_vertices = context.vertex_evaluations(config, &recent_targets, restart_time);
        if recent_vertices.iter().any(|v| v.out_of_bounds() == Some(Direction::Up)) {
            load_rising = true;
            vertices = recent_vertices;
        }
    }
    let heap: Vec<f64> = window.samples.iter().filter_map(|s| s.heap_usage_ratio).collect();
    Ok(JobEvaluation {
        at_ms: latest.at_ms,
        backlog: window_targets.backlog,
        load_rising,
        gc_pressure: latest.gc_pressure,
        heap_usage_avg: (!heap.is_empty()).then(|| heap.iter().sum::<f64>() / heap.len() as f64),
        restart_time,
        vertices,
    })
}

/// Target and catch-up rate per vertex, and backlog mode.
struct Targets<'a> {
    target: BTreeMap<&'a str, f64>,
    catch_up: BTreeMap<&'a str, f64>,
    backlog: bool,
}

/// Window-wide rates shared by both target views.
struct WindowContext<'a> {
    topology: &'a JobTopology,
    samples: &'a [CollectedSample],
    latest: &'a CollectedSample,
    input_rates: BTreeMap<&'a str, f64>,
    output_rates: BTreeMap<&'a str, f64>,
}

impl<'a> WindowContext<'a> {
    fn new(topology: &'a JobTopology, samples: &'a [CollectedSample], latest: &'a CollectedSample) -> Self {
        let input_rates = topology
            .vertices()
            .iter()
            .map(|v| (v.id.as_str(), rate(samples, &v.id, |m| Some(m.num_records_in))))
            .collect();
        let output_rates = topology
            .vertices()
            .iter()
            .map(|v| (v.id.as_str(), rate(samples, &v.id, |m| Some(m.num_records_out))))
            .collect();
        Self { topology, samples, latest, input_rates, output_rates }
    }

    fn input_rate(&self, id: &str) -> f64 {
        self.input_rates.get(id).copied().unwrap_or(f64::NAN)
    }

    fn output_rate(&self, id: &str) -> f64 {
        self.output_rates.get(id).copied().unwrap_or(f64::NAN)
    }

    /// outputRatio(u→v) = edgeRate / rate(NUM_RECORDS_IN of u), 0 unless both are positive.
    fn output_ratio(&self, from: &str, to: &str) -> f64 {
        let topology = self.topology;
        let from_input = self.input_rate(from);
        let to_inputs: Vec<&str> = topology.inputs(to).map(|e| e.from.as_str()).collect();
        let edge_rate = if to_inputs.len() == 1 {
            self.input_rate(to)
        } else if to_inputs.iter().filter(|u| **u != from).all(|u| topology.outputs(u).count() == 1) {
            let others: f64 = to_inputs.iter().filter(|u| **u != from).map(|u| self.output_rate(u)).sum();
            self.input_rate(to) - others
        } else {
            self.output_rate(from)
        };
        if from_input > 0.0 && edge_rate > 0.0 { edge_rate / from_input } else { 0.0 }
    }

    /// Target and catch-up rates in topological order; with `recent`, source targets are `max(window, recent)`.
    fn targets(
        &self,
        config: &AutoscalerConfig,
        recent: Option<&[CollectedSample]>,
    ) -> Result<Targets<'a>, EvaluationError> {
        let topology = self.topology;
        let catch_up_s = config.catch_up_duration.as_secs() as f64;
        let mut targets = Targets { target: BTreeMap::new(), catch_up: BTreeMap::new(), backlog: false };
        for vertex in topology.vertices() {
            let id = vertex.id.as_str();
            let input_rate = self.input_rate(id);
            let (target, catch_up) = if topology.is_source(id) {
                let window_target = (input_rate + rate(self.samples, id, |m| m.lag)).max(0.0);
                if window_target.is_nan() {
                    return Err(EvaluationError::NoIngestionRate(vertex.id.clone()));
                }
                let recent_target = recent
                    .map(|recent| (rate(recent, id, |m| Some(m.num_records_in)) + rate(recent, id, |m| m.lag)).max(0.0))
                    .filter(|t| t.is_finite());
                let lag = self.latest.vertices.get(id).and_then(|m| m.lag).unwrap_or(0.0);
                if input_rate.is_finite() && lag / input_rate > config.backlog_lag_threshold.as_secs_f64() {
                    targets.backlog = true;
                }
                let target = recent_target.map_or(window_target, |recent| window_target.max(recent));
                (target, if catch_up_s == 0.0 { 0.0 } else { lag / catch_up_s })
            } else {
                topology.inputs(id).fold((0.0, 0.0), |(target, catch_up), edge| {
                    let ratio = self.output_ratio(&edge.from, id);
                    let upstream_target = targets.target.get(edge.from.as_str()).copied().unwrap_or(0.0);
                    let upstream_catch_up = targets.catch_up.get(edge.from.as_str()).copied().unwrap_or(0.0);
                    (target + upstream_target * ratio, catch_up + upstream_catch_up * ratio)
                })
            };
            targets.target.insert(id, target);
            targets.catch_up.insert(id, catch_up);
        }
        Ok(targets)
    }

    fn vertex_evaluations(
        &self,
        config: &AutoscalerConfig,
        targets: &Targets<'_>,
        restart_time: Duration,
    ) -> Vec<VertexEvaluation> {
        let (topology, samples) = (self.topology, self.samples);
        let upper = config.utilization_upper(targets.backlog);
        let lower = config.utilization_lower(targets.backlog);
        topology
            .vertices()
            .iter()
            .map(|vertex| {
                let id = vertex.id.as_str();
                let input_rate = self.input_rate(id);
                let busy_time = match config.busy_time_aggregator {
                    BusyTimeAggregator::Avg => {
                        rate(samples, id, |m| Some(m.accumulated_busy_time_ms)) / f64::from(vertex.parallelism.max(1))
                    }
                    BusyTimeAggregator::Max | BusyTimeAggregator::Min => {
                        average(samples, id, |m| Some(m.load)) * 1000.0
                    }
                };
                let tpr_input_rate = match config.busy_time_aggregator {
                    BusyTimeAggregator::Avg => input_rate,
                    BusyTimeAggregator::Max | BusyTimeAggregator::Min => {
                        let per_second = average(samples, id, |m| m.num_records_in_per_second);
                        if per_second.is_finite() { per_second } else { input_rate }
                    }
                };
                let tpr_busy =
                    if tpr_input_rate == 0.0 { f64::INFINITY } else { tpr_input_rate / (busy_time / 1000.0) };
                let observed_count = samples
                    .iter()
                    .filter_map(|s| s.vertices.get(id).and_then(|m| m.observed_tpr))
                    .filter(|v| v.is_finite())
                    .count();
                let tpr_observed = if observed_count < config.observed_tpr_min_observations.max(1) as usize {
                    f64::NAN
                } else {
                    average(samples, id, |m| m.observed_tpr.filter(|v| v.is_finite()))
                };
                let use_observed = !tpr_observed.is_nan()
                    && (!tpr_busy.is_finite()
                        || tpr_busy > tpr_observed * (1.0 + config.observed_tpr_switch_threshold));
                let (true_processing_rate, tpr_source) =
                    if use_observed { (tpr_observed, TprSource::Observed) } else { (tpr_busy, TprSource::BusyTime) };
                let target = targets.target.get(id).copied().unwrap_or(f64::NAN);
                let catch_up = targets.catch_up.get(id).copied().unwrap_or(f64::NAN);
                let capacity = |utilization: f64, restart: Option<Duration>| {
                    capacity_at_utilization(target, catch_up, utilization, restart, config.catch_up_duration)
                };
                VertexEvaluation {
                    vertex: vertex.id.clone(),
                    parallelism: vertex.parallelism,
                    max_parallelism: vertex.max_parallelism,
                    source_partitions: vertex.source_partitions,
                    is_source: topology.is_source(id),
                    has_hash_input: topology.has_hash_input(id),
                    input_rate,
                    busy_time_ms_per_second: busy_time,
                    true_processing_rate,
                    tpr_source,
                    target_rate: target,
                    catch_up_rate: catch_up,
                    lag: self.latest.vertices.get(id).and_then(|m| m.lag),
                    scale_up_rate_threshold: capacity(upper, None),
                    scale_down_rate_threshold: capacity(lower, Some(restart_time)),
                    target_capacity: capacity(config.utilization_target, Some(restart_time)),
                    load_not_finite: samples.iter().any(|s| s.vertices.get(id).is_some_and(|m| !m.load.is_finite())),
                }
            })
            .collect()
    }
}

/// The samples of the trailing `span` (at least the last two); `None` when the span is zero (upstream mode).
fn recent_samples(samples: &[CollectedSample], span: Duration) -> Option<&[CollectedSample]> {
    let last = samples.last()?;
    if span.is_zero() {
        return None;
    }
    let since = last.at_ms.saturating_sub(millis(span));
    let start = samples.iter().position(|s| s.at_ms >= since).unwrap_or(0).min(samples.len().saturating_sub(2));
    Some(&samples[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaler::metrics::tests::chain_topology;

    const SECOND: u64 = 1000;

    /// A window of `n` samples 10 s apart over the chain source → map → sink, built from per-vertex closures.
    fn window(n: u64, metrics: impl Fn(&str, u64) -> CollectedVertexMetrics) -> MetricsWindow {
        let topology = chain_topology(2);
        let samples = (0..n)
            .map(|i| CollectedSample {
                at_ms: i * 10 * SECOND,
                vertices: topology.vertices().iter().map(|v| (v.id.clone(), metrics(&v.id, i * 10))).collect(),
                gc_pressure: None,
                heap_usage_ratio: None,
            })
            .collect();
        MetricsWindow { running_since_ms: Some(0), first_stable_sample_ms: Some(0), topology: Some(topology), samples }
    }

    /// Steady flow: `rate` records/s through every vertex, busy `busy` (ratio), source lag `lag(t)`.
    fn steady(rate: f64, busy: f64, lag: impl Fn(u64) -> f64) -> impl Fn(&str, u64) -> CollectedVertexMetrics {
        move |id, t| CollectedVertexMetrics {
            load: busy,
            accumulated_busy_time_ms: busy * 1000.0 * 2.0 * t as f64,
            num_records_in: rate * t as f64,
            num_records_out: rate * t as f64,
            num_records_in_per_second: (id != "source").then_some(rate),
            lag: (id == "source").then(|| lag(t)),
            observed_tpr: (id == "source").then_some(f64::NAN),
        }
    }

    fn upstream_config() -> AutoscalerConfig {
        AutoscalerConfig { scale_up_confirmation: Duration::ZERO, ..AutoscalerConfig::default() }
    }

    fn vertex<'a>(evaluation: &'a JobEvaluation, id: &str) -> &'a VertexEvaluation {
        evaluation.vertices.iter().find(|v| v.vertex == id).unwrap_or_else(|| panic!("no vertex {id}"))
    }

    #[test]
    fn rate_uses_first_and_last_non_nan_samples() {
        let w = window(5, steady(100.0, 0.5, |_| 0.0));
        assert_eq!(rate(&w.samples, "map", |m| Some(m.num_records_in)), 100.0);
        assert!(rate(&w.samples[..1], "map", |m| Some(m.num_records_in)).is_nan());
        assert!(rate(&w.samples, "map", |_| Some(f64::NAN)).is_nan());
    }

    #[test]
    fn average_of_finite_then_infinite_then_nan() {
        let w = window(3, steady(100.0, 0.5, |_| 0.0));
        assert_eq!(average(&w.samples, "map", |m| Some(m.load)), 0.5);
        assert_eq!(average(&w.samples, "map", |_| Some(f64::INFINITY)), f64::INFINITY);
        assert!(average(&w.samples, "map", |_| None).is_nan());
    }

    #[test]
    fn capacity_formula() {
        let half_hour = Duration::from_secs(1800);
        let five_min = Some(Duration::from_secs(300));
        /// (case, target, catch-up, u, restart, catch-up duration, expected)
        type CapacityCase = (&'static str, f64, f64, f64, Option<Duration>, Duration, f64);
        let cases: &[CapacityCase] = &[
            ("target over utilization", 700.0, 0.0, 0.7, None, half_hour, 1000.0),
            ("plus catch-up rate", 700.0, 50.0, 0.7, None, half_hour, 1050.0),
            ("plus restart compensation target×restart/catchUp", 600.0, 0.0, 1.0, five_min, half_hour, 700.0),
            ("no restart compensation without catch-up duration", 600.0, 0.0, 1.0, five_min, Duration::ZERO, 600.0),
            ("utilization clamped to 1", 600.0, 0.0, 1.5, None, half_hour, 600.0),
            ("utilization 0 is unbounded", 600.0, 0.0, 0.0, None, half_hour, f64::INFINITY),
            ("rounded", 100.0, 0.4, 0.3, None, half_hour, 334.0),
        ];
        for (case, target, catch_up, u, restart, catch_up_duration, expected) in cases {
            assert_eq!(
                capacity_at_utilization(*target, *catch_up, *u, *restart, *catch_up_duration),
                *expected,
                "{case}"
            );
        }
        assert!(capacity_at_utilization(f64::NAN, 0.0, 0.7, None, half_hour).is_nan(), "NaN inputs");
    }

    #[test]
    fn true_processing_rate_from_busy_time() {
        let evaluation = evaluate(&window(10, steady(100.0, 0.25, |_| 0.0)), &upstream_config(), Duration::ZERO);
        let evaluation = evaluation.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "map").true_processing_rate, 400.0);
        assert_eq!(vertex(&evaluation, "map").tpr_source, TprSource::BusyTime);
    }

    #[test]
    fn true_processing_rate_is_unbounded_without_input() {
        let evaluation = evaluate(&window(10, steady(0.0, 0.0, |_| 0.0)), &upstream_config(), Duration::ZERO);
        let evaluation = evaluation.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "map").true_processing_rate, f64::INFINITY);
    }

    #[test]
    fn observed_tpr_replaces_busy_tpr_only_beyond_switch_threshold() {
        // (case, observed value, expected TPR source); busy-based TPR of the source is 100 / 0.25 = 400.
        let cases = [
            ("busy 400 > 300 × 1.15", 300.0, TprSource::Observed),
            ("busy 400 < 380 × 1.15", 380.0, TprSource::BusyTime),
        ];
        for (case, observed, expected) in cases {
            let base = steady(100.0, 0.25, |_| 0.0);
            let w = window(10, move |id, t| CollectedVertexMetrics {
                observed_tpr: (id == "source").then_some(observed),
                ..base(id, t)
            });
            let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(vertex(&evaluation, "source").tpr_source, expected, "{case}");
        }
    }

    #[test]
    fn source_target_is_input_rate_plus_lag_growth() {
        let w = window(10, steady(100.0, 0.5, |t| 30.0 * t as f64));
        let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "source").target_rate, 130.0);
        // downstream target propagates through the output ratio (1.0 here).
        assert_eq!(vertex(&evaluation, "sink").target_rate, 130.0);
    }

    #[test]
    fn shrinking_lag_never_makes_target_negative() {
        let w = window(10, steady(10.0, 0.5, |t| 10_000.0 - 100.0 * t as f64));
        let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "source").target_rate, 0.0);
    }

    #[test]
    fn downstream_target_scales_with_output_ratio() {
        let base = steady(100.0, 0.5, |_| 0.0);
        // map emits half of what it reads; sink reads what map emits.
        let w = window(10, move |id, t| {
            let m = base(id, t);
            match id {
                "map" => CollectedVertexMetrics { num_records_out: m.num_records_out / 2.0, ..m },
                "sink" => CollectedVertexMetrics { num_records_in: m.num_records_in / 2.0, ..m },
                _ => m,
            }
        });
        let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "map").target_rate, 100.0);
        assert_eq!(vertex(&evaluation, "sink").target_rate, 50.0);
    }

    #[test]
    fn catch_up_rate_is_latest_lag_over_catch_up_duration_and_propagates() {
        let w = window(10, steady(100.0, 0.5, |_| 18_000.0));
        let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "source").catch_up_rate, 10.0);
        assert_eq!(vertex(&evaluation, "sink").catch_up_rate, 10.0);
        let no_catch_up = AutoscalerConfig { catch_up_duration: Duration::ZERO, ..upstream_config() };
        let evaluation = evaluate(&w, &no_catch_up, Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vertex(&evaluation, "source").catch_up_rate, 0.0);
    }

    #[test]
    fn backlog_mode_widens_bounds_to_zero_and_one() {
        // lag 60_000 at 100/s = 600 s > 300 s threshold.
        let w = window(10, steady(100.0, 0.5, |_| 60_000.0));
        let evaluation = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert!(evaluation.backlog);
        let map = vertex(&evaluation, "map");
        // upper 1.0 ⇒ threshold = target + catch-up; lower 0.0 ⇒ +∞.
        assert_eq!(map.scale_up_rate_threshold, (100.0 + 60_000.0 / 1800.0_f64).round());
        assert_eq!(map.scale_down_rate_threshold, f64::INFINITY);
    }

    #[test]
    fn thresholds_use_upper_without_and_lower_with_restart() {
        let config = AutoscalerConfig { utilization_max: Some(0.8), utilization_min: Some(0.5), ..upstream_config() };
        let w = window(10, steady(400.0, 0.5, |_| 0.0));
        let evaluation = evaluate(&w, &config, Duration::from_secs(180)).unwrap_or_else(|e| panic!("{e}"));
        let map = vertex(&evaluation, "map");
        assert_eq!(map.scale_up_rate_threshold, 500.0);
        assert_eq!(map.scale_down_rate_threshold, (400.0 * 180.0 / 1800.0 + 800.0_f64).round());
        assert_eq!(map.out_of_bounds(), None, "TPR 800 within [500, 840]");
    }

    #[test]
    fn recent_target_rate_catches_a_step_inside_the_window() {
        // lag grows only during the last 60 s: window target 100 + small, recent (120 s) target larger.
        let w = window(91, steady(100.0, 0.5, |t| if t > 840 { 500.0 * (t - 840) as f64 } else { 0.0 }));
        let upstream = evaluate(&w, &upstream_config(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        let flinkops = evaluate(&w, &AutoscalerConfig::default(), Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
        assert!(vertex(&flinkops, "source").target_rate > 2.0 * vertex(&upstream, "source").target_rate);
    }
}
