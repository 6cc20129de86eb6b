//! Collection from Flink REST (§5.2, the IO edge of the autoscaler): the job graph and vertex IO counters from
//! `GET /jobs/:id`, per-vertex subtask metrics aggregated by `subtasks/metrics?get=…&agg=…`, condensed into the
//! core's [`JobObservation`]. Turning answers into an observation is pure ([`observation_from`]); the window, the
//! evaluation and the decision are `crate::autoscaler`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tracing::{Instrument, debug_span};

use crate::autoscaler::metrics::{
    Edge, JobObservation, JobTopology, ShipStrategy, SubtaskBusyTime, VertexInfo, VertexObservation,
};
use crate::flink::client::{AggregatedMetric, FlinkClient, FlinkClientError, JobDetails, JobState, MetricAggregation};

/// Why no observation could be made.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Flink could not be asked (transient: retried on the next run) or does not know the job.
    #[error("reading metrics of job {job_id}: {source}")]
    Flink {
        /// The job.
        job_id: String,
        /// What the client reported.
        #[source]
        source: FlinkClientError,
    },
    /// The job is not RUNNING: nothing to measure.
    #[error("job {job_id} is {state:?}, not RUNNING")]
    NotRunning {
        /// The job.
        job_id: String,
        /// Its state.
        state: JobState,
    },
    /// Flink's answer does not describe a usable job graph (bad input: not retried until the job changes).
    #[error("job {job_id}: {reason}")]
    BadGraph {
        /// The job.
        job_id: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl CollectError {
    /// Whether the next run may succeed without anything changing (network, REST, a job still starting).
    pub fn is_transient(&self) -> bool {
        match self {
            CollectError::Flink { .. } | CollectError::NotRunning { .. } => true,
            CollectError::BadGraph { .. } => false,
        }
    }
}

/// Subtask metrics of every vertex read, aggregated over the vertex's subtasks (metric name → aggregates).
pub type VertexMetrics = BTreeMap<String, BTreeMap<String, AggregatedMetric>>;

const BUSY: &str = "busyTimeMsPerSecond";
const BACK_PRESSURED: &str = "backPressuredTimeMsPerSecond";
const RECORDS_IN_PER_SECOND: &str = "numRecordsInPerSecond";
const SOURCE_PREFIX: &str = "Source__";
const PENDING_RECORDS: &str = ".pendingRecords";
const AGGREGATIONS: [MetricAggregation; 4] =
    [MetricAggregation::Max, MetricAggregation::Avg, MetricAggregation::Min, MetricAggregation::Sum];

/// One observation and the vertex names (id → name) to report it with.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// The observation.
    pub observation: JobObservation,
    /// Vertex id → vertex name (its chained operators).
    pub names: BTreeMap<String, String>,
}

/// Reads one observation of the running job `job_id` at `now_ms`.
///
/// # Errors
/// A transient [`CollectError::Flink`] or [`CollectError::NotRunning`], or [`CollectError::BadGraph`].
pub async fn collect(client: &FlinkClient, job_id: &str, now_ms: u64) -> Result<Collected, CollectError> {
    let flink = |source| CollectError::Flink { job_id: job_id.to_owned(), source };
    async {
        let details = client.job_details(job_id).await.map_err(flink)?;
        if details.state != JobState::Running {
            return Err(CollectError::NotRunning { job_id: job_id.to_owned(), state: details.state });
        }
        let mut metrics = VertexMetrics::new();
        for vertex in &details.vertices {
            let names = client.vertex_metric_names(job_id, &vertex.id).await.map_err(flink)?;
            let wanted = wanted_metrics(&names);
            let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let values =
                client.vertex_metrics_aggregated(job_id, &vertex.id, &wanted, &AGGREGATIONS).await.map_err(flink)?;
            metrics.insert(vertex.id.clone(), values);
        }
        let names = details.vertices.iter().map(|v| (v.id.clone(), v.name.clone())).collect();
        Ok(Collected { observation: observation_from(&details, &metrics, now_ms)?, names })
    }
    .instrument(debug_span!("autoscaler_collect", job_id))
    .await
}

/// The metric names to ask for, out of what a vertex offers: busy and back-pressured time, input rate, and the
/// source operators' record counters, rates and `pendingRecords`.
pub fn wanted_metrics(available: &BTreeSet<String>) -> Vec<String> {
    available
        .iter()
        .filter(|name| {
            [BUSY, BACK_PRESSURED, RECORDS_IN_PER_SECOND].contains(&name.as_str())
                || name.ends_with(PENDING_RECORDS)
                || (name.starts_with(SOURCE_PREFIX) && source_counter(name).is_some())
        })
        .cloned()
        .collect()
}

/// Which source counter a `Source__<op>.<metric>` name is.
fn source_counter(name: &str) -> Option<&str> {
    let (_, metric) = name.strip_prefix(SOURCE_PREFIX)?.rsplit_once('.')?;
    ["numRecordsIn", "numRecordsOut", "numRecordsInPerSecond", "numRecordsOutPerSecond"]
        .into_iter()
        .find(|known| *known == metric)
}

/// Flink's default max parallelism for a vertex that reports none (`KeyGroupRangeAssignment`).
fn default_max_parallelism(parallelism: u32) -> u32 {
    let wanted = parallelism.saturating_add(parallelism / 2).max(1).next_power_of_two();
    wanted.clamp(128, 32768)
}

/// The observation Flink's answers describe (pure). Vertices whose busy time is not reported yet (or that have
/// finished) are left out of `vertices`, which the window treats as "not ready".
///
/// # Errors
/// [`CollectError::BadGraph`] when the plan names unknown vertices or has a cycle.
pub fn observation_from(
    details: &JobDetails,
    metrics: &VertexMetrics,
    now_ms: u64,
) -> Result<JobObservation, CollectError> {
    let bad = |reason: String| CollectError::BadGraph { job_id: details.jid.clone(), reason };
    let job_max = u32::try_from(details.max_parallelism).ok().filter(|m| *m > 0);
    let infos: Vec<VertexInfo> = details
        .vertices
        .iter()
        .map(|v| VertexInfo {
            id: v.id.clone(),
            parallelism: v.parallelism.max(1),
            max_parallelism: u32::try_from(v.max_parallelism)
                .ok()
                .filter(|m| *m > 0)
                .or(job_max)
                .unwrap_or_else(|| default_max_parallelism(v.parallelism)),
            source_partitions: None,
        })
        .collect();
    let topology = JobTopology::new(infos, plan_edges(&details.plan)).map_err(|e| bad(e.to_string()))?;
    let mut vertices = BTreeMap::new();
    for vertex in &details.vertices {
        let Some(values) = metrics.get(&vertex.id) else { continue };
        let Some(busy) = values.get(BUSY) else { continue };
        if vertex.status == "FINISHED" {
            continue;
        }
        let io = |key: &str| vertex.metrics.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        let sum_of = |metric: &str| -> Option<f64> {
            let sums: Vec<f64> = values
                .iter()
                .filter(|(name, _)| name.starts_with(SOURCE_PREFIX) && source_counter(name) == Some(metric))
                .filter_map(|(_, value)| value.sum)
                .collect();
            (!sums.is_empty()).then(|| sums.iter().sum())
        };
        let is_source = topology.is_source(&vertex.id);
        let mut records_in = io("read-records");
        if is_source && records_in == 0.0 {
            records_in = sum_of("numRecordsIn").filter(|v| *v > 0.0).or_else(|| sum_of("numRecordsOut")).unwrap_or(0.0);
        }
        let pending: Vec<f64> =
            values.iter().filter(|(name, _)| name.ends_with(PENDING_RECORDS)).filter_map(|(_, v)| v.sum).collect();
        let max = busy.max.unwrap_or(f64::NAN);
        let observation = VertexObservation {
            records_in,
            records_out: io("write-records"),
            accumulated_busy_time_ms: io("accumulated-busy-time"),
            busy_time_ms_per_second: SubtaskBusyTime {
                max,
                avg: busy.avg.unwrap_or(max),
                min: busy.min.unwrap_or(max),
            },
            records_in_per_second: (!is_source)
                .then(|| values.get(RECORDS_IN_PER_SECOND).and_then(|m| m.sum))
                .flatten(),
            source_records_in_per_second: is_source
                .then(|| {
                    sum_of("numRecordsInPerSecond").filter(|v| *v > 0.0).or_else(|| sum_of("numRecordsOutPerSecond"))
                })
                .flatten(),
            backpressured_ms_per_second_avg: values.get(BACK_PRESSURED).and_then(|m| m.avg).unwrap_or(0.0),
            pending_records: (is_source && !pending.is_empty()).then(|| pending.iter().sum()),
        };
        vertices.insert(vertex.id.clone(), observation);
    }
    Ok(JobObservation {
        at_ms: now_ms,
        running_since_ms: running_since(details),
        topology,
        vertices,
        gc_time_ms_per_second_max: None,
        heap_usage_ratio: None,
    })
}

/// When the job last entered RUNNING (the `RUNNING` timestamp; an in-place rescale moves it), else its start.
pub fn running_since(details: &JobDetails) -> u64 {
    let running = details.timestamps.get("RUNNING").copied().filter(|t| *t > 0);
    u64::try_from(running.unwrap_or(details.start_time)).unwrap_or(0)
}

/// The edges of the JSON plan: each node's `inputs[].id` with its `ship_strategy`.
fn plan_edges(plan: &Value) -> Vec<Edge> {
    let nodes = plan.get("nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    nodes
        .iter()
        .flat_map(|node| {
            let to = node.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let inputs = node.get("inputs").and_then(Value::as_array).cloned().unwrap_or_default();
            inputs.into_iter().filter_map(move |input| {
                let from = input.get("id").and_then(Value::as_str)?.to_owned();
                let strategy = input.get("ship_strategy").and_then(Value::as_str).unwrap_or_default();
                let ship_strategy =
                    if strategy.eq_ignore_ascii_case("HASH") { ShipStrategy::Hash } else { ShipStrategy::Other };
                Some(Edge { from, to: to.clone(), ship_strategy })
            })
        })
        .collect()
}

/// Flink answers for a two-vertex job (source → HASH → counter), shared by the tests of the autoscale modules.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    pub(crate) const SOURCE: &str = "bc764cd8ddf7a0cff126f51c16239658";
    pub(crate) const COUNTER: &str = "0a448493b4782967b150582570326227";

    pub(crate) fn details(counter_status: &str) -> JobDetails {
        serde_json::from_value(json!({
            "jid": "j1", "name": "job", "state": "RUNNING", "start-time": 1000, "maxParallelism": -1,
            "timestamps": {"RUNNING": 5000, "CREATED": 900},
            "vertices": [
                {"id": SOURCE, "name": "Source: source", "parallelism": 1, "maxParallelism": 128, "status": "RUNNING",
                 "metrics": {"read-records": 0, "write-records": 900, "accumulated-busy-time": 10.0}},
                {"id": COUNTER, "name": "counter -> sink", "parallelism": 2, "maxParallelism": 128,
                 "status": counter_status,
                 "metrics": {"read-records": 880, "write-records": 880, "accumulated-busy-time": 1500.0}}
            ],
            "plan": {"nodes": [
                {"id": SOURCE, "parallelism": 1, "operator": "", "description": "Source: source"},
                {"id": COUNTER, "parallelism": 2, "operator": "", "description": "counter",
                 "inputs": [{"num": 0, "id": SOURCE, "ship_strategy": "HASH", "exchange": "pipelined_bounded"}]}
            ]}
        }))
        .unwrap()
    }

    pub(crate) fn metric(id: &str, max: f64, avg: f64, min: f64, sum: f64) -> (String, AggregatedMetric) {
        (
            id.to_owned(),
            AggregatedMetric {
                id: id.into(),
                max: Some(max),
                avg: Some(avg),
                min: Some(min),
                sum: Some(sum),
                skew: None,
            },
        )
    }

    pub(crate) fn metrics() -> VertexMetrics {
        let source = [
            metric(BUSY, 50.0, 50.0, 50.0, 50.0),
            metric(BACK_PRESSURED, 800.0, 800.0, 800.0, 800.0),
            metric("Source__source.numRecordsIn", 0.0, 0.0, 0.0, 0.0),
            metric("Source__source.numRecordsOut", 900.0, 900.0, 900.0, 900.0),
            metric("Source__source.numRecordsOutPerSecond", 200.0, 200.0, 200.0, 200.0),
            metric("Source__source.pendingRecords", 40.0, 40.0, 40.0, 40.0),
        ];
        let counter =
            [metric(BUSY, 1000.0, 900.0, 800.0, 1700.0), metric(RECORDS_IN_PER_SECOND, 110.0, 100.0, 90.0, 200.0)];
        [(SOURCE.to_owned(), source.into_iter().collect()), (COUNTER.to_owned(), counter.into_iter().collect())]
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn observation_reads_graph_busy_time_rates_and_backlog() {
        let observation = observation_from(&details("RUNNING"), &metrics(), 9000).unwrap();
        assert_eq!(observation.at_ms, 9000);
        assert_eq!(observation.running_since_ms, 5000, "the RUNNING timestamp, not the start time");
        assert_eq!(observation.topology.vertices()[0].id, SOURCE);
        assert!(observation.topology.has_hash_input(COUNTER));
        assert_eq!(observation.topology.vertex(COUNTER).map(|v| (v.parallelism, v.max_parallelism)), Some((2, 128)));
        let source = &observation.vertices[SOURCE];
        assert_eq!(source.records_in, 900.0, "a source's read-records is 0: its operator's numRecordsOut counts");
        assert_eq!(source.source_records_in_per_second, Some(200.0), "numRecordsInPerSecond is 0: out/s counts");
        assert_eq!(source.pending_records, Some(40.0));
        assert_eq!(source.backpressured_ms_per_second_avg, 800.0);
        let counter = &observation.vertices[COUNTER];
        assert_eq!(counter.busy_time_ms_per_second, SubtaskBusyTime { max: 1000.0, avg: 900.0, min: 800.0 });
        assert_eq!(counter.records_in_per_second, Some(200.0), "the sum over subtasks");
        assert_eq!((counter.records_in, counter.records_out, counter.accumulated_busy_time_ms), (880.0, 880.0, 1500.0));
        assert_eq!(counter.pending_records, None);
    }

    #[test]
    fn vertices_without_busy_time_or_finished_are_not_ready() {
        let mut partial = metrics();
        partial.get_mut(COUNTER).unwrap().remove(BUSY);
        let observation = observation_from(&details("RUNNING"), &partial, 1).unwrap();
        assert!(!observation.vertices.contains_key(COUNTER));
        let finished = observation_from(&details("FINISHED"), &metrics(), 1).unwrap();
        assert!(!finished.vertices.contains_key(COUNTER));
    }

    #[test]
    fn a_plan_naming_an_unknown_vertex_is_bad_input() {
        let mut broken = details("RUNNING");
        broken.plan["nodes"][1]["inputs"][0]["id"] = json!("nope");
        let error = observation_from(&broken, &metrics(), 1).unwrap_err();
        assert!(!error.is_transient(), "{error}");
    }

    #[test]
    fn wanted_metrics_pick_the_autoscaler_inputs() {
        let available: BTreeSet<String> = [
            BUSY,
            "idleTimeMsPerSecond",
            "Source__source.numRecordsOutPerSecond",
            "Source__source.pendingRecords",
            "Source__source.numBytesIn",
            "counter.numRecordsInPerSecond",
            RECORDS_IN_PER_SECOND,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(
            wanted_metrics(&available),
            ["Source__source.numRecordsOutPerSecond", "Source__source.pendingRecords", BUSY, RECORDS_IN_PER_SECOND]
        );
    }

    #[test]
    fn default_max_parallelism_follows_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(100), 256);
    }
}
