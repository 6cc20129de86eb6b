//! Collection (§5.2): the job topology, what a fetcher observed at one instant, the per-sample metrics derived from it
//! (LOAD, OBSERVED_TPR, …) and the sliding metrics window with its stabilization and trim rules. Evaluation over the
//! window lives in `evaluate.rs`. Time is milliseconds since an arbitrary epoch, always passed in.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{AutoscalerConfig, BusyTimeAggregator};

/// A job vertex id as Flink reports it (hex string) or a readable name in simulations.
pub type VertexId = String;

/// How records travel along an edge; only HASH matters (it makes key-group alignment apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipStrategy {
    /// keyBy: records are partitioned into key groups.
    Hash,
    /// Forward, rebalance, rescale, broadcast, …
    Other,
}

/// A directed edge of the job graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// Upstream vertex.
    pub from: VertexId,
    /// Downstream vertex.
    pub to: VertexId,
    /// Partitioning of the edge.
    pub ship_strategy: ShipStrategy,
}

/// Static facts of one vertex at the time of observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexInfo {
    /// Vertex id.
    pub id: VertexId,
    /// Current parallelism.
    pub parallelism: u32,
    /// Max parallelism (number of key groups).
    pub max_parallelism: u32,
    /// Source partition count, when the source reports it (Kafka/Pulsar metric names).
    pub source_partitions: Option<u32>,
}

/// The job graph, vertices kept in topological order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTopology {
    vertices: Vec<VertexInfo>,
    edges: Vec<Edge>,
}

/// A topology that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// An edge names a vertex that is not in the vertex list.
    #[error("edge {from} -> {to} names an unknown vertex")]
    UnknownVertex {
        /// Edge start.
        from: VertexId,
        /// Edge end.
        to: VertexId,
    },
    /// The same vertex id appears twice.
    #[error("vertex {0} is listed twice")]
    DuplicateVertex(VertexId),
    /// The graph has a cycle (Flink job graphs never do).
    #[error("the job graph has a cycle through {0}")]
    Cycle(VertexId),
}

impl JobTopology {
    /// Builds a topology, ordering the vertices topologically (stable: ties keep the given order).
    ///
    /// # Errors
    /// Unknown edge endpoints, duplicate ids or a cycle.
    pub fn new(vertices: Vec<VertexInfo>, edges: Vec<Edge>) -> Result<Self, TopologyError> {
        let mut ids = BTreeSet::new();
        for vertex in &vertices {
            if !ids.insert(vertex.id.clone()) {
                return Err(TopologyError::DuplicateVertex(vertex.id.clone()));
            }
        }
        for edge in &edges {
            if !ids.contains(&edge.from) || !ids.contains(&edge.to) {
                return Err(TopologyError::UnknownVertex { from: edge.from.clone(), to: edge.to.clone() });
            }
        }
        let mut remaining = vertices;
        let mut ordered: Vec<VertexInfo> = Vec::with_capacity(remaining.len());
        while !remaining.is_empty() {
            let placed: BTreeSet<&str> = ordered.iter().map(|v| v.id.as_str()).collect();
            let ready = remaining.iter().position(|candidate| {
                edges.iter().filter(|e| e.to == candidate.id).all(|e| placed.contains(e.from.as_str()))
            });
            match ready {
                Some(index) => ordered.push(remaining.remove(index)),
                None => return Err(TopologyError::Cycle(remaining[0].id.clone())),
            }
        }
        Ok(Self { vertices: ordered, edges })
    }

    /// Vertices in topological order.
    pub fn vertices(&self) -> &[VertexInfo] {
        &self.vertices
    }

    /// All edges.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// One vertex by id.
    pub fn vertex(&self, id: &str) -> Option<&VertexInfo> {
        self.vertices.iter().find(|v| v.id == id)
    }

    /// Edges into `id`.
    pub fn inputs<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.to == id)
    }

    /// Edges out of `id`.
    pub fn outputs<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == id)
    }

    /// A vertex with no inputs.
    pub fn is_source(&self, id: &str) -> bool {
        self.inputs(id).next().is_none()
    }

    /// Whether any input edge is keyed (HASH).
    pub fn has_hash_input(&self, id: &str) -> bool {
        self.inputs(id).any(|e| e.ship_strategy == ShipStrategy::Hash)
    }

    /// Current parallelism per vertex.
    pub fn parallelisms(&self) -> BTreeMap<VertexId, u32> {
        self.vertices.iter().map(|v| (v.id.clone(), v.parallelism)).collect()
    }
}

/// Busy time of a vertex's subtasks in ms/s, already aggregated by the fetcher.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubtaskBusyTime {
    /// Busiest subtask.
    pub max: f64,
    /// Mean over subtasks.
    pub avg: f64,
    /// Least busy subtask.
    pub min: f64,
}

/// What the fetcher read for one vertex at one instant (raw Flink metrics, source fallbacks already applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexObservation {
    /// Cumulative records read (for sources: Σ `Source__*.numRecordsIn`, else `…numRecordsOut`, when the vertex's own
    /// read-records is 0).
    pub records_in: f64,
    /// Cumulative records written.
    pub records_out: f64,
    /// Σ over subtasks of `accumulatedBusyTime`, ms.
    pub accumulated_busy_time_ms: f64,
    /// `busyTimeMsPerSecond` aggregated over subtasks.
    pub busy_time_ms_per_second: SubtaskBusyTime,
    /// Σ subtask `numRecordsInPerSecond` (non-sources; `None` for sources).
    pub records_in_per_second: Option<f64>,
    /// Sources: Σ `Source__*.numRecordsInPerSecond` (else `…numRecordsOutPerSecond`).
    pub source_records_in_per_second: Option<f64>,
    /// Mean `backPressuredTimeMsPerSecond` over subtasks.
    pub backpressured_ms_per_second_avg: f64,
    /// Sources: Σ `pendingRecords` (absent ⇒ 0).
    pub pending_records: Option<f64>,
}

/// One observation of the whole job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobObservation {
    /// When the metrics were read, ms.
    pub at_ms: u64,
    /// When the job last entered RUNNING, ms.
    pub running_since_ms: u64,
    /// Graph and parallelism at the time.
    pub topology: JobTopology,
    /// Per-vertex metrics; a missing vertex means "not ready yet".
    pub vertices: BTreeMap<VertexId, VertexObservation>,
    /// max over TMs of GC time ms/s.
    pub gc_time_ms_per_second_max: Option<f64>,
    /// max over TMs of heap used / max over TMs of heap max.
    pub heap_usage_ratio: Option<f64>,
}

/// The per-sample scaling metrics kept in the window (§5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectedVertexMetrics {
    /// LOAD = aggregated busyTimeMsPerSecond / 1000; non-finite excludes the vertex from this run.
    #[serde(with = "non_finite")]
    pub load: f64,
    /// ACCUMULATED_BUSY_TIME.
    pub accumulated_busy_time_ms: f64,
    /// NUM_RECORDS_IN (cumulative).
    pub num_records_in: f64,
    /// NUM_RECORDS_OUT (cumulative).
    pub num_records_out: f64,
    /// NUM_RECORDS_IN_PER_SECOND (non-sources).
    pub num_records_in_per_second: Option<f64>,
    /// LAG (sources).
    pub lag: Option<f64>,
    /// OBSERVED_TPR (sources): +∞ when idle, NaN until enough observations.
    #[serde(with = "non_finite_option", default)]
    pub observed_tpr: Option<f64>,
}

/// One stored sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectedSample {
    /// Sample time, ms.
    pub at_ms: u64,
    /// Per-vertex metrics.
    pub vertices: BTreeMap<VertexId, CollectedVertexMetrics>,
    /// GC_PRESSURE.
    pub gc_pressure: Option<f64>,
    /// HEAP_MAX_USAGE_RATIO.
    pub heap_usage_ratio: Option<f64>,
}

/// Whether the window can be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum WindowStatus {
    /// Inside `stabilization.interval` after (re)start: samples are not kept.
    Stabilizing {
        /// When samples start counting.
        stable_at_ms: u64,
    },
    /// Collecting; evaluation starts once the window is full.
    Filling {
        /// When the window will be full.
        full_at_ms: u64,
    },
    /// Full, with at least two samples.
    Ready,
}

/// The sliding metric window for one job (persistable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsWindow {
    /// RUNNING time of the job the samples belong to.
    pub running_since_ms: Option<u64>,
    /// First stable sample since that start (kept across trimming: it decides when the window is first full).
    pub first_stable_sample_ms: Option<u64>,
    /// Topology of the samples; a change wipes the window.
    pub topology: Option<JobTopology>,
    /// Samples, oldest first, none older than `metrics.window`.
    pub samples: Vec<CollectedSample>,
}

impl MetricsWindow {
    /// Adds one observation following §5.2 and reports whether the window can be evaluated.
    pub fn record(&mut self, observation: &JobObservation, config: &AutoscalerConfig) -> WindowStatus {
        let restarted = self.running_since_ms.is_some_and(|since| observation.running_since_ms > since)
            || self.samples.first().is_some_and(|oldest| observation.running_since_ms > oldest.at_ms);
        let topology_changed = self.topology.as_ref().is_some_and(|t| *t != observation.topology);
        if restarted || topology_changed || self.running_since_ms.is_none() {
            *self = Self {
                running_since_ms: Some(observation.running_since_ms),
                topology: Some(observation.topology.clone()),
                ..Self::default()
            };
        }
        let now = observation.at_ms;
        let stable_at_ms = observation.running_since_ms.saturating_add(millis(config.stabilization_interval));
        let all_vertices_reported =
            observation.topology.vertices().iter().all(|v| observation.vertices.contains_key(&v.id));
        // During stabilization, and while metrics are missing, nothing is recorded ("not ready", not an error).
        if now < stable_at_ms || !all_vertices_reported {
            return WindowStatus::Stabilizing { stable_at_ms: stable_at_ms.max(now) };
        }
        let sample = self.collect(observation, config);
        self.samples.push(sample);
        let first_stable = *self.first_stable_sample_ms.get_or_insert(now);
        let window = millis(config.metrics_window);
        let oldest_kept = now.saturating_sub(window);
        self.samples.retain(|s| s.at_ms >= oldest_kept);
        let full_at_ms = first_stable.saturating_add(window);
        if full_at_ms <= now && self.samples.len() >= 2 {
            WindowStatus::Ready
        } else {
            WindowStatus::Filling { full_at_ms: full_at_ms.max(now) }
        }
    }

    fn collect(&self, observation: &JobObservation, config: &AutoscalerConfig) -> CollectedSample {
        let topology = &observation.topology;
        let vertices = observation
            .vertices
            .iter()
            .map(|(id, raw)| {
                let busy = match config.busy_time_aggregator {
                    BusyTimeAggregator::Max => raw.busy_time_ms_per_second.max,
                    BusyTimeAggregator::Avg => raw.busy_time_ms_per_second.avg,
                    BusyTimeAggregator::Min => raw.busy_time_ms_per_second.min,
                };
                let is_source = topology.is_source(id);
                let lag = is_source.then(|| raw.pending_records.unwrap_or(0.0));
                let observed_tpr = is_source.then(|| self.observed_tpr(id, raw, config));
                let metrics = CollectedVertexMetrics {
                    load: busy / 1000.0,
                    accumulated_busy_time_ms: raw.accumulated_busy_time_ms,
                    num_records_in: raw.records_in,
                    num_records_out: raw.records_out,
                    num_records_in_per_second: if is_source { None } else { raw.records_in_per_second },
                    lag,
                    observed_tpr,
                };
                (id.clone(), metrics)
            })
            .collect();
        CollectedSample {
            at_ms: observation.at_ms,
            vertices,
            gc_pressure: observation.gc_time_ms_per_second_max.map(|ms| ms / 1000.0),
            heap_usage_ratio: observation.heap_usage_ratio,
        }
    }

    /// OBSERVED_TPR of a source: fresh while catching up, else the average of the earlier finite values.
    fn observed_tpr(&self, id: &str, raw: &VertexObservation, config: &AutoscalerConfig) -> f64 {
        let in_rate = raw.source_records_in_per_second.unwrap_or(0.0);
        if in_rate <= 0.0 {
            return f64::INFINITY;
        }
        let lag = raw.pending_records.unwrap_or(0.0);
        let catching_up = lag >= config.observed_tpr_lag_threshold.as_secs_f64() * in_rate;
        let backpressure = raw.backpressured_ms_per_second_avg / 1000.0;
        if catching_up && backpressure < 1.0 {
            return round_to_thousandths(in_rate / (1.0 - backpressure));
        }
        let earlier: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.vertices.get(id).and_then(|m| m.observed_tpr))
            .filter(|v| v.is_finite())
            .collect();
        if earlier.len() < config.observed_tpr_min_observations.max(1) as usize {
            return f64::NAN;
        }
        round_to_thousandths(earlier.iter().sum::<f64>() / earlier.len() as f64)
    }
}

/// Rounds to 3 decimals, never down to 0 (a tiny rate must not look like "no capacity").
fn round_to_thousandths(value: f64) -> f64 {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 && value > 0.0 { 0.001 } else { rounded }
}

/// A `Duration` as whole milliseconds (saturating).
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// JSON has no NaN/∞: stores them as the strings "NaN", "Infinity", "-Infinity".
pub(crate) mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if *value > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            serializer.serialize_f64(*value)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match Repr::deserialize(deserializer)? {
            Repr::Number(value) => Ok(value),
            Repr::Text(text) => match text.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!("expected a number, got {other:?}"))),
            },
        }
    }
}

/// [`non_finite`] for optional values.
pub(crate) mod non_finite_option {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrapped(#[serde(with = "super::non_finite")] f64);

    pub(crate) fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => serializer.serialize_some(&Wrapped(*inner)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|wrapped| wrapped.0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn chain_topology(parallelism: u32) -> JobTopology {
        let vertex =
            |id: &str| VertexInfo { id: id.to_owned(), parallelism, max_parallelism: 128, source_partitions: None };
        let edge = |from: &str, to: &str| Edge { from: from.into(), to: to.into(), ship_strategy: ShipStrategy::Hash };
        JobTopology::new(
            vec![vertex("sink"), vertex("map"), vertex("source")],
            vec![edge("source", "map"), edge("map", "sink")],
        )
        .unwrap_or_else(|error| panic!("test topology: {error}"))
    }

    fn observation(at_s: u64, running_since_s: u64, lag: f64, in_per_second: f64) -> JobObservation {
        let topology = chain_topology(2);
        let vertices = topology
            .vertices()
            .iter()
            .map(|v| {
                let raw = VertexObservation {
                    records_in: in_per_second * at_s as f64,
                    records_out: in_per_second * at_s as f64,
                    accumulated_busy_time_ms: 500.0 * at_s as f64,
                    busy_time_ms_per_second: SubtaskBusyTime { max: 600.0, avg: 500.0, min: 400.0 },
                    records_in_per_second: Some(in_per_second),
                    source_records_in_per_second: Some(in_per_second),
                    backpressured_ms_per_second_avg: 500.0,
                    pending_records: Some(lag),
                };
                (v.id.clone(), raw)
            })
            .collect();
        JobObservation {
            at_ms: at_s * 1000,
            running_since_ms: running_since_s * 1000,
            topology,
            vertices,
            gc_time_ms_per_second_max: None,
            heap_usage_ratio: None,
        }
    }

    fn config(window_s: u64, stabilization_s: u64) -> AutoscalerConfig {
        AutoscalerConfig {
            metrics_window: Duration::from_secs(window_s),
            stabilization_interval: Duration::from_secs(stabilization_s),
            ..AutoscalerConfig::default()
        }
    }

    #[test]
    fn topology_is_sorted_and_cycles_rejected() {
        let topology = chain_topology(1);
        let ids: Vec<&str> = topology.vertices().iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["source", "map", "sink"]);
        let vertex =
            |id: &str| VertexInfo { id: id.into(), parallelism: 1, max_parallelism: 1, source_partitions: None };
        let edge = |from: &str, to: &str| Edge { from: from.into(), to: to.into(), ship_strategy: ShipStrategy::Other };
        assert_eq!(
            JobTopology::new(vec![vertex("a"), vertex("b")], vec![edge("a", "b"), edge("b", "a")]),
            Err(TopologyError::Cycle("a".into()))
        );
    }

    #[test]
    fn samples_inside_stabilization_are_not_kept() {
        let mut window = MetricsWindow::default();
        let status = window.record(&observation(100, 0, 0.0, 10.0), &config(600, 300));
        assert_eq!(status, WindowStatus::Stabilizing { stable_at_ms: 300_000 });
        assert!(window.samples.is_empty());
    }

    #[test]
    fn window_full_after_first_stable_sample_plus_window_and_trimmed() {
        let config = config(600, 300);
        let mut window = MetricsWindow::default();
        let statuses: Vec<WindowStatus> =
            (30..=100).map(|tick| window.record(&observation(tick * 10, 0, 0.0, 10.0), &config)).collect();
        // first stable sample at 300 s, so full at 900 s (tick 90).
        assert_eq!(statuses[59], WindowStatus::Filling { full_at_ms: 900_000 });
        assert_eq!(statuses[60], WindowStatus::Ready);
        assert!(window.samples.iter().all(|s| s.at_ms >= 1_000_000 - 600_000));
        assert_eq!(window.samples.len(), 61);
    }

    #[test]
    fn job_restart_wipes_the_window() {
        let config = config(600, 0);
        let mut window = MetricsWindow::default();
        for tick in 0..10 {
            window.record(&observation(tick * 10, 0, 0.0, 10.0), &config);
        }
        assert_eq!(window.samples.len(), 10);
        window.record(&observation(200, 150, 0.0, 10.0), &config);
        assert_eq!(window.samples.len(), 1);
    }

    #[test]
    fn observed_tpr_rules() {
        let config = config(600, 0);
        // catching up (lag 1000 ≥ 30 s × 10/s): fresh value in / (1 − bp) = 10 / 0.5.
        let mut window = MetricsWindow::default();
        window.record(&observation(10, 0, 1000.0, 10.0), &config);
        assert_eq!(window.samples[0].vertices["source"].observed_tpr, Some(20.0));
        // not catching up with one earlier observation: NaN until min-observations (2).
        window.record(&observation(20, 0, 0.0, 10.0), &config);
        assert!(window.samples[1].vertices["source"].observed_tpr.is_some_and(f64::is_nan));
        // idle source: +∞.
        let mut idle = MetricsWindow::default();
        idle.record(&observation(10, 0, 0.0, 0.0), &config);
        assert_eq!(idle.samples[0].vertices["source"].observed_tpr, Some(f64::INFINITY));
        // non-sources carry no observed TPR and no lag.
        assert_eq!(idle.samples[0].vertices["map"].observed_tpr, None);
    }

    #[test]
    fn non_finite_values_round_trip_through_json() {
        let mut window = MetricsWindow::default();
        window.record(&observation(10, 0, 0.0, 0.0), &config(600, 0));
        let json = serde_json::to_string(&window).unwrap_or_default();
        let back: Result<MetricsWindow, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(window));
    }
}
