//! New parallelism of one vertex (§5.4 steps 1–7): scale factor, observed scalability, clamps and bounds, key-group /
//! partition alignment, expected processing rate and the ineffective-scale-up check. Job-wide gates, delayed
//! scale-down and state live in `decision.rs`.

use serde::{Deserialize, Serialize};

use super::config::{AlignmentMode, AutoscalerConfig, LegacyAdjustMode};
use super::decision::ScalingRecord;
use super::evaluate::{Direction, VertexEvaluation};

/// Result of the per-vertex computation, before delays and job-wide gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VertexRecommendation {
    /// Vertex id.
    pub vertex: String,
    /// Current parallelism.
    pub current: u32,
    /// Recommended parallelism.
    pub recommended: u32,
    /// Scale factor after clamping (NaN/∞ never reach here).
    pub scale_factor: f64,
    /// `TPR / P_cur × P_new`.
    pub expected_processing_rate: f64,
    /// The alignment step moved the value (upstream's `ScalingLimited` warning).
    pub alignment_limited: bool,
    /// A scale-up was judged ineffective (and blocked when detection is enabled).
    pub ineffective_scale_up: bool,
}

impl VertexRecommendation {
    /// Direction of the change, if any.
    pub fn direction(&self) -> Option<Direction> {
        match self.recommended.cmp(&self.current) {
            std::cmp::Ordering::Greater => Some(Direction::Up),
            std::cmp::Ordering::Less => Some(Direction::Down),
            std::cmp::Ordering::Equal => None,
        }
    }
}

/// Computes the recommended parallelism of one evaluated vertex; `None` when its TPR or capacity is not a number
/// (no decision for the vertex). `history` is this vertex's scaling history, oldest first.
pub fn recommend_parallelism(
    vertex: &VertexEvaluation,
    config: &AutoscalerConfig,
    history: &[ScalingRecord],
) -> Option<VertexRecommendation> {
    let tpr = vertex.true_processing_rate;
    if tpr.is_nan() || vertex.target_capacity.is_nan() || vertex.load_not_finite {
        return None;
    }
    let current = vertex.parallelism.max(1);
    // 1. scale factor (∞ TPR ⇒ 0, clamped below).
    let mut scale_factor = vertex.target_capacity / tpr;
    // 2. observed scalability.
    if config.observed_scalability_enabled
        && let Some(alpha) = scalability_coefficient(history, current, tpr, config)
    {
        scale_factor /= alpha;
    }
    // 3. clamp.
    let scale_factor = if scale_factor.is_nan() {
        1.0
    } else {
        scale_factor.clamp(1.0 - config.scale_down_max_factor, 1.0 + config.scale_up_max_factor)
    };
    // 4. bounds.
    let lower_limit = current.min(config.vertex_min_parallelism).max(1);
    let upper_limit = current.max(config.vertex_max_parallelism);
    let raw = (scale_factor * f64::from(current)).ceil().min(f64::from(u32::MAX)) as u32;
    let bounded = raw.clamp(lower_limit, vertex.max_parallelism.max(1).min(upper_limit).max(lower_limit));
    // 5. alignment.
    let aligns = vertex.has_hash_input || (vertex.is_source && vertex.source_partitions.is_some_and(|n| n > 0));
    let mut recommended = if aligns && bounded != current {
        let groups = vertex.source_partitions.filter(|n| *n > 0).unwrap_or(vertex.max_parallelism).max(1);
        align_parallelism(
            config.alignment,
            AlignmentInput {
                current,
                proposed: bounded,
                key_groups_or_partitions: groups,
                max_parallelism: vertex.max_parallelism.max(1),
                lower_limit,
                upper_limit,
            },
        )
    } else {
        bounded
    };
    let alignment_limited = recommended != bounded;
    // 7. effectiveness of the previous scale-up of this vertex.
    let ineffective_scale_up = recommended > current && previous_scale_up_ineffective(history, current, tpr, config);
    if ineffective_scale_up && config.effectiveness_detection_enabled {
        recommended = current;
    }
    Some(VertexRecommendation {
        vertex: vertex.vertex.clone(),
        current,
        recommended,
        scale_factor,
        // 6. expected processing rate (FLINK-39743 form: linear in parallelism).
        expected_processing_rate: if tpr.is_finite() { tpr / f64::from(current) * f64::from(recommended) } else { tpr },
        alignment_limited,
        ineffective_scale_up,
    })
}

/// Inputs of the alignment step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignmentInput {
    /// Current parallelism.
    pub current: u32,
    /// Bounded proposal (step 4).
    pub proposed: u32,
    /// N: source partitions, else max parallelism.
    pub key_groups_or_partitions: u32,
    /// Vertex max parallelism.
    pub max_parallelism: u32,
    /// `min(P_cur, vertex.min-parallelism)`.
    pub lower_limit: u32,
    /// `max(P_cur, vertex.max-parallelism)`.
    pub upper_limit: u32,
}

/// Aligns a proposed parallelism to key groups / partitions (§5.4 step 5).
pub fn align_parallelism(mode: AlignmentMode, input: AlignmentInput) -> u32 {
    let AlignmentInput { current, proposed, key_groups_or_partitions: n, max_parallelism, lower_limit, upper_limit } =
        input;
    if proposed == current || n == 0 || proposed == 0 {
        return proposed;
    }
    let scale_up = proposed > current;
    let region_end = if scale_up {
        n.min(max_parallelism).min(upper_limit)
    } else {
        current.min(n).min(max_parallelism).min(upper_limit)
    };
    let divides = |p: u32| n % p == 0;
    let lowers_share = |p: u32| n / p < n / proposed;
    // Scaling down, the scan stops at the current parallelism: reaching it means "no scale-down".
    let scan =
        |accept: &dyn Fn(u32) -> bool| (proposed..=region_end).find(|p| accept(*p) || (!scale_up && *p == current));
    match mode {
        AlignmentMode::Off => proposed,
        AlignmentMode::Balanced => scan(&|p| divides(p) || lowers_share(p)).unwrap_or(proposed),
        AlignmentMode::EvenlySpread => scan(&divides).unwrap_or(proposed),
        AlignmentMode::Legacy { adjust } => {
            let found = match adjust {
                LegacyAdjustMode::EvenlySpread => scan(&divides),
                LegacyAdjustMode::MaximizeUtilisation => scan(&|p| divides(p) || lowers_share(p)),
            };
            if let Some(p) = found {
                return p;
            }
            // 1.15.0 fallback: the smallest p that still gives each subtask no more than at `proposed`.
            let mut p = proposed;
            while p > 0 {
                if n / p > n / proposed {
                    if !divides(p) {
                        p += 1;
                    }
                    break;
                }
                p -= 1;
            }
            let p = p.max(lower_limit).max(1);
            let moves_in_direction = if scale_up { p > current } else { p < current };
            if moves_in_direction { p } else { current }
        }
    }
}

/// §5.4 step 7: the last record scaled this vertex up to `current`, and the TPR gain is below the threshold share
/// of what that scale-up expected.
fn previous_scale_up_ineffective(history: &[ScalingRecord], current: u32, tpr: f64, config: &AutoscalerConfig) -> bool {
    let Some(last) = history.last() else { return false };
    if last.to != current || last.to <= last.from {
        return false;
    }
    let expected_gain = last.expected_processing_rate - last.true_processing_rate;
    if !(expected_gain.is_finite() && expected_gain > 0.0 && tpr.is_finite()) {
        return false;
    }
    (tpr - last.true_processing_rate) / expected_gain < config.effectiveness_threshold
}

/// §5.4 step 2: α of `R = β·α·P` fitted by least squares over history plus the current point, β the per-unit rate at
/// the lowest parallelism seen; clamped to [coefficient-min, 1] and rounded up to two decimals.
fn scalability_coefficient(
    history: &[ScalingRecord],
    current: u32,
    tpr: f64,
    config: &AutoscalerConfig,
) -> Option<f64> {
    let points: Vec<(f64, f64)> = history
        .iter()
        .map(|r| (f64::from(r.from), r.true_processing_rate))
        .chain(std::iter::once((f64::from(current), tpr)))
        .filter(|(p, r)| *p > 0.0 && r.is_finite())
        .collect();
    if points.len() < config.observed_scalability_min_observations.max(1) {
        return None;
    }
    let lowest = points.iter().copied().min_by(|a, b| a.0.total_cmp(&b.0))?;
    let beta = lowest.1 / lowest.0;
    let numerator: f64 = points.iter().map(|(p, r)| p * r).sum();
    let denominator: f64 = beta * points.iter().map(|(p, _)| p * p).sum::<f64>();
    if denominator.is_nan() || denominator <= 0.0 {
        return None;
    }
    let alpha = (numerator / denominator).clamp(config.observed_scalability_coefficient_min, 1.0);
    Some((alpha * 100.0).ceil() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaler::evaluate::TprSource;
    use proptest::prelude::*;

    /// A non-keyed vertex at parallelism `p`, TPR `tpr`, target capacity `capacity`.
    fn vertex(p: u32, tpr: f64, capacity: f64) -> VertexEvaluation {
        VertexEvaluation {
            vertex: "v".into(),
            parallelism: p,
            max_parallelism: 720,
            source_partitions: None,
            is_source: false,
            has_hash_input: false,
            input_rate: 0.0,
            busy_time_ms_per_second: 0.0,
            true_processing_rate: tpr,
            tpr_source: TprSource::BusyTime,
            target_rate: 0.0,
            catch_up_rate: 0.0,
            lag: None,
            scale_up_rate_threshold: 0.0,
            scale_down_rate_threshold: f64::INFINITY,
            target_capacity: capacity,
            load_not_finite: false,
        }
    }

    fn recommended(v: &VertexEvaluation, config: &AutoscalerConfig) -> Option<u32> {
        recommend_parallelism(v, config, &[]).map(|r| r.recommended)
    }

    #[test]
    fn scale_factor_clamps_and_bounds() {
        let d = AutoscalerConfig::default();
        // (rule, vertex, config, expected)
        let cases: Vec<(&str, VertexEvaluation, AutoscalerConfig, Option<u32>)> = vec![
            ("factor = capacity / TPR, ceil", vertex(4, 1000.0, 2100.0), d.clone(), Some(9)),
            ("scale-down limited by max-factor 0.6", vertex(10, 1000.0, 100.0), d.clone(), Some(4)),
            (
                "scale-up limited by max-factor",
                vertex(2, 100.0, 1000.0),
                AutoscalerConfig { scale_up_max_factor: 1.0, ..d.clone() },
                Some(4),
            ),
            (
                "vertex.max-parallelism caps scale-up",
                vertex(2, 100.0, 10_000.0),
                AutoscalerConfig { vertex_max_parallelism: 16, ..d.clone() },
                Some(16),
            ),
            (
                "current above vertex.max-parallelism is the upper limit",
                vertex(20, 100.0, 10_000.0),
                AutoscalerConfig { vertex_max_parallelism: 16, ..d.clone() },
                Some(20),
            ),
            (
                "vertex.min-parallelism floors scale-down",
                vertex(10, 10_000.0, 100.0),
                AutoscalerConfig { vertex_min_parallelism: 6, ..d.clone() },
                Some(6),
            ),
            (
                "max parallelism caps",
                VertexEvaluation { max_parallelism: 8, ..vertex(4, 10.0, 1000.0) },
                d.clone(),
                Some(8),
            ),
            ("idle vertex (TPR ∞) goes down by max-factor", vertex(10, f64::INFINITY, 0.0), d.clone(), Some(4)),
            ("NaN TPR: no decision", vertex(4, f64::NAN, 100.0), d.clone(), None),
            (
                "non-finite load: excluded this run",
                VertexEvaluation { load_not_finite: true, ..vertex(4, 100.0, 100.0) },
                d.clone(),
                None,
            ),
        ];
        for (rule, v, config, expected) in cases {
            assert_eq!(recommended(&v, &config), expected, "{rule}");
        }
    }

    #[test]
    fn expected_processing_rate_is_linear_in_parallelism() {
        let r = recommend_parallelism(&vertex(4, 1000.0, 2100.0), &AutoscalerConfig::default(), &[]);
        assert_eq!(r.map(|r| r.expected_processing_rate), Some(2250.0));
    }

    #[test]
    fn alignment_rules() {
        let input = |current, proposed, n| AlignmentInput {
            current,
            proposed,
            key_groups_or_partitions: n,
            max_parallelism: 128,
            lower_limit: 1,
            upper_limit: 200,
        };
        let legacy_even = AlignmentMode::Legacy { adjust: LegacyAdjustMode::EvenlySpread };
        let legacy_max = AlignmentMode::Legacy { adjust: LegacyAdjustMode::MaximizeUtilisation };
        // (rule, mode, input, expected)
        let cases = [
            ("BALANCED: next divisor", AlignmentMode::Balanced, input(2, 7, 128), 8),
            ("BALANCED: first p lowering N/p", AlignmentMode::Balanced, input(2, 5, 32), 6),
            ("EVENLY_SPREAD: divisors only", AlignmentMode::EvenlySpread, input(2, 5, 32), 8),
            ("EVENLY_SPREAD: no divisor keeps proposal", AlignmentMode::EvenlySpread, input(2, 8, 7), 8),
            ("OFF", AlignmentMode::Off, input(2, 5, 32), 5),
            ("scale-down reaching current keeps current", AlignmentMode::EvenlySpread, input(7, 5, 32), 7),
            ("scale-down to divisor", AlignmentMode::EvenlySpread, input(10, 3, 32), 4),
            ("unchanged is not aligned", AlignmentMode::EvenlySpread, input(5, 5, 32), 5),
            ("1.15 EVENLY_SPREAD divisor", legacy_even, input(2, 5, 32), 8),
            ("1.15 MAXIMIZE_UTILISATION", legacy_max, input(2, 5, 32), 6),
            // N = 7 partitions, proposal 9 > N: nothing to scan; walking down, p = 7 is the first with 7/p > 7/9.
            ("1.15 fallback walks down to a divisor", legacy_even, input(2, 9, 7), 7),
            ("1.15 fallback not moving up keeps current", legacy_even, input(8, 9, 7), 8),
            // N = 31, max parallelism 20: no divisor in [17, 20]; walking down, 31/15 = 2 > 31/17 = 1 at p = 15, not
            // a divisor ⇒ step back up to 16.
            (
                "1.15 fallback steps back up",
                legacy_even,
                AlignmentInput { max_parallelism: 20, ..input(2, 17, 31) },
                16,
            ),
        ];
        for (rule, mode, input, expected) in cases {
            assert_eq!(align_parallelism(mode, input), expected, "{rule}");
        }
    }

    #[test]
    fn alignment_applies_to_keyed_vertices_and_partitioned_sources_only() {
        let d = AutoscalerConfig::default();
        let plain = vertex(2, 1000.0, 2500.0); // raw 5
        let keyed = VertexEvaluation { has_hash_input: true, max_parallelism: 128, ..plain.clone() };
        let source = VertexEvaluation { is_source: true, source_partitions: Some(12), ..plain.clone() };
        let source_unknown = VertexEvaluation { is_source: true, ..plain.clone() };
        assert_eq!(recommended(&plain, &d), Some(5));
        assert_eq!(recommended(&keyed, &d), Some(6), "BALANCED: 128/6 = 21 < 128/5 = 25");
        assert_eq!(recommended(&source, &d), Some(6));
        assert_eq!(recommended(&source_unknown, &d), Some(5));
    }

    fn record(from: u32, to: u32, tpr: f64, expected: f64) -> ScalingRecord {
        ScalingRecord {
            at_ms: 0,
            from,
            to,
            true_processing_rate: tpr,
            expected_processing_rate: expected,
            target_rate: 0.0,
        }
    }

    #[test]
    fn ineffective_scale_up_detection() {
        // previous: 2 → 4 expecting 1000 → 2000; now TPR 1050 ⇒ gain 5 % < 10 %.
        let history = [record(2, 4, 1000.0, 2000.0)];
        let v = vertex(4, 1050.0, 4000.0);
        let detected = AutoscalerConfig::default();
        let blocking = AutoscalerConfig { effectiveness_detection_enabled: true, ..detected.clone() };
        let reported = recommend_parallelism(&v, &detected, &history);
        assert_eq!(reported.as_ref().map(|r| (r.recommended, r.ineffective_scale_up)), Some((16, true)));
        let blocked = recommend_parallelism(&v, &blocking, &history);
        assert_eq!(blocked.map(|r| (r.recommended, r.ineffective_scale_up)), Some((4, true)));
        // an effective scale-up (TPR 1900) does not block.
        let fine = recommend_parallelism(&vertex(4, 1900.0, 4000.0), &blocking, &history);
        assert_eq!(fine.map(|r| r.ineffective_scale_up), Some(false));
    }

    #[test]
    fn observed_scalability_raises_the_factor_for_sublinear_vertices() {
        let config = AutoscalerConfig { observed_scalability_enabled: true, ..AutoscalerConfig::default() };
        // TPR per subtask 100 at p=1, only 60 at p=4 and p=8: α < 1 ⇒ more parallelism than the linear 10.
        let history = [record(1, 4, 100.0, 400.0), record(4, 8, 240.0, 480.0)];
        let linear = recommend_parallelism(&vertex(8, 480.0, 600.0), &AutoscalerConfig::default(), &history);
        let fitted = recommend_parallelism(&vertex(8, 480.0, 600.0), &config, &history);
        assert_eq!(linear.map(|r| r.recommended), Some(10));
        assert!(fitted.is_some_and(|r| r.recommended > 10));
    }

    proptest! {
        #[test]
        fn recommendation_is_monotone_in_load(p in 1u32..64, tpr in 1.0f64..1e6, load_a in 0.0f64..1e6, load_b in 0.0f64..1e6) {
            let (low, high) = if load_a <= load_b { (load_a, load_b) } else { (load_b, load_a) };
            let config = AutoscalerConfig::default();
            let keyed = |capacity| VertexEvaluation { has_hash_input: true, max_parallelism: 128, ..vertex(p, tpr, capacity) };
            prop_assert!(recommended(&keyed(low), &config) <= recommended(&keyed(high), &config));
        }

        #[test]
        fn recommendation_respects_bounds(p in 1u32..300, tpr in 1.0f64..1e6, capacity in 0.0f64..1e7,
                                          min_p in 1u32..20, max_p in 1u32..300, max_parallelism in 1u32..400) {
            let config = AutoscalerConfig { vertex_min_parallelism: min_p, vertex_max_parallelism: max_p, ..AutoscalerConfig::default() };
            let v = VertexEvaluation { max_parallelism, has_hash_input: true, ..vertex(p, tpr, capacity) };
            let r = recommended(&v, &config).unwrap_or(0);
            prop_assert!(r >= 1);
            prop_assert!(r >= p.min(min_p));
            prop_assert!(r <= p.max(max_p).max(p.min(min_p)));
            prop_assert!(r <= max_parallelism.max(p.min(min_p)) || r == p);
        }

        #[test]
        fn aligned_result_divides_when_a_divisor_is_in_range(current in 1u32..128, proposed in 1u32..128, n in 1u32..256) {
            let input = AlignmentInput { current, proposed, key_groups_or_partitions: n, max_parallelism: 128, lower_limit: 1, upper_limit: 200 };
            let result = align_parallelism(AlignmentMode::EvenlySpread, input);
            let region_end = if proposed > current { n.min(128) } else { current.min(n).min(128) };
            let divisor_in_range = proposed != current && (proposed..=region_end).any(|p| n % p == 0);
            if divisor_in_range {
                prop_assert_eq!(n % result, 0);
                prop_assert!(result >= proposed);
            }
        }
    }
}
