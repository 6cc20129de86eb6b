//! Simulator scenarios: the serde types of a scenario file (camelCase YAML/JSON), the offered-rate schedule and the
//! seeded PRNG for noise. Running a scenario is `simulator.rs`; the shipped files are in `scenarios/`.

use std::collections::BTreeMap;
use std::f64::consts::TAU;

use serde::{Deserialize, Serialize};

/// A modelled job and its offered load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name.
    pub name: String,
    /// Simulated time, s.
    pub duration_seconds: u64,
    /// Time step = reconcile interval, s.
    pub tick_seconds: u64,
    /// Processing pause of a rescale, s.
    #[serde(default)]
    pub restart_seconds: u64,
    /// Flink configuration (any `job.autoscaler.*` key); scalars of any YAML type are accepted.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigScalar>,
    /// Vertices (any order).
    pub vertices: Vec<ScenarioVertex>,
    /// Edges as `[from, to]` or `[from, to, SHIP_STRATEGY]` (HASH when omitted).
    pub edges: Vec<Vec<String>>,
    /// Offered records/s at every source.
    pub source_rate: Vec<RatePoint>,
    /// Relative noise on the offered rate: each tick is multiplied by `1 + noise × u`, u uniform in [−1, 1].
    #[serde(default)]
    pub noise: f64,
    /// PRNG seed for the noise.
    #[serde(default)]
    pub seed: u64,
}

/// A configuration value written as string, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigScalar {
    /// `"0.7"`, `"5 min"`.
    Text(String),
    /// `true`.
    Bool(bool),
    /// `3`.
    Integer(i64),
    /// `0.7`.
    Number(f64),
}

impl ConfigScalar {
    /// The value as Flink would read it from its string configuration.
    pub fn as_flink_string(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Bool(value) => value.to_string(),
            Self::Integer(value) => value.to_string(),
            Self::Number(value) => value.to_string(),
        }
    }
}

/// One modelled vertex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioVertex {
    /// Vertex id.
    pub id: String,
    /// Records/s one subtask processes when fully busy.
    pub capacity_per_subtask: f64,
    /// Initial parallelism.
    pub parallelism: u32,
    /// Max parallelism (key groups).
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    /// Source partitions (sources only; reported like Kafka's metric names).
    #[serde(default)]
    pub partitions: Option<u32>,
    /// Records out per record in.
    #[serde(default = "default_selectivity")]
    pub selectivity: f64,
    /// Share of the input carried by one hot key (0 = uniform): the hottest subtask gets `h + (1 − h) / P` of it.
    #[serde(default)]
    pub hot_key_share: f64,
}

fn default_max_parallelism() -> u32 {
    128
}

fn default_selectivity() -> f64 {
    1.0
}

/// One point of the offered-rate schedule; each holds from `at` until the next point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RatePoint {
    /// Jump to `rate`.
    Step {
        /// Start, s.
        at: u64,
        /// records/s.
        rate: f64,
    },
    /// Go linearly from the level at `at` to `rampTo` within `over` seconds, then hold.
    Ramp {
        /// Start, s.
        at: u64,
        /// Final records/s.
        #[serde(rename = "rampTo")]
        ramp_to: f64,
        /// Ramp length, s.
        over: u64,
    },
    /// `mean + amplitude × sin(2π (t − at) / periodSeconds)`.
    Wave {
        /// Start, s.
        at: u64,
        /// Mean records/s.
        mean: f64,
        /// Amplitude records/s.
        amplitude: f64,
        /// Period, s.
        #[serde(rename = "periodSeconds")]
        period_seconds: u64,
    },
}

impl RatePoint {
    /// Start time, s.
    pub fn at(&self) -> u64 {
        match self {
            Self::Step { at, .. } | Self::Ramp { at, .. } | Self::Wave { at, .. } => *at,
        }
    }
}

/// The noiseless offered rate at `t` seconds (0 before the first point).
pub fn offered_rate(schedule: &[RatePoint], t: f64) -> f64 {
    let Some(index) = schedule.iter().rposition(|p| p.at() as f64 <= t) else { return 0.0 };
    match &schedule[index] {
        RatePoint::Step { rate, .. } => *rate,
        RatePoint::Ramp { at, ramp_to, over } => {
            let start = *at as f64;
            let from = offered_rate(&schedule[..index], start);
            let progress = if *over == 0 { 1.0 } else { ((t - start) / *over as f64).clamp(0.0, 1.0) };
            from + (ramp_to - from) * progress
        }
        RatePoint::Wave { at, mean, amplitude, period_seconds } => {
            let phase = (t - *at as f64) / (*period_seconds).max(1) as f64;
            (mean + amplitude * (TAU * phase).sin()).max(0.0)
        }
    }
}

/// SplitMix64: a tiny, seeded, reproducible generator (no global randomness anywhere in the autoscaler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [−1, 1].
    pub fn next_symmetric(&mut self) -> f64 {
        // 53 random bits → [0, 1), then to [−1, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2.0 * unit - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_schedule_steps_ramps_and_waves() {
        let schedule = vec![
            RatePoint::Step { at: 0, rate: 1000.0 },
            RatePoint::Step { at: 100, rate: 6000.0 },
            RatePoint::Ramp { at: 200, ramp_to: 2000.0, over: 100 },
            RatePoint::Wave { at: 400, mean: 3000.0, amplitude: 1000.0, period_seconds: 400 },
        ];
        let cases = [(0.0, 1000.0), (99.0, 1000.0), (100.0, 6000.0), (250.0, 4000.0), (300.0, 2000.0), (399.0, 2000.0)];
        for (t, expected) in cases {
            assert!((offered_rate(&schedule, t) - expected).abs() < 1e-9, "t = {t}");
        }
        assert!((offered_rate(&schedule, 500.0) - 4000.0).abs() < 1e-9, "wave peak a quarter period in");
    }

    #[test]
    fn prng_is_seeded_and_symmetric() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_symmetric()).collect();
        assert!(draws.iter().zip((0..10_000).map(|_| b.next_symmetric())).all(|(x, y)| *x == y));
        assert!(draws.iter().all(|u| (-1.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
    }

    #[test]
    fn scenario_json_shape_parses() {
        let json = serde_json::json!({
            "name": "step-up", "durationSeconds": 7200, "tickSeconds": 10, "restartSeconds": 30,
            "config": {"job.autoscaler.target.utilization": "0.7", "job.autoscaler.scale-down.max-factor": 0.5},
            "vertices": [
                {"id": "source", "capacityPerSubtask": 5000, "parallelism": 2, "maxParallelism": 128, "partitions": 32},
                {"id": "enrich", "capacityPerSubtask": 800, "parallelism": 2, "selectivity": 1.0}
            ],
            "edges": [["source", "enrich"]],
            "sourceRate": [{"at": 0, "rate": 1000}, {"at": 4000, "rampTo": 2000, "over": 600}],
            "noise": 0.05, "seed": 7
        });
        let scenario: Result<Scenario, _> = serde_json::from_value(json);
        let scenario = scenario.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.vertices[1].max_parallelism, 128);
        assert_eq!(scenario.config["job.autoscaler.scale-down.max-factor"].as_flink_string(), "0.5");
        assert_eq!(scenario.source_rate[1], RatePoint::Ramp { at: 4000, ramp_to: 2000.0, over: 600 });
    }
}
