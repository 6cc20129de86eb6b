//! Acceptance tests of the simulator on the shipped scenarios (`scenarios/*.yaml`): a step change in load is met
//! within two rescales, noisy steady load never oscillates, runs are deterministic, and the JSON report has the
//! documented shape.

use super::scenario::{ConfigScalar, RatePoint, Scenario};
use super::simulator::{ScenarioRun, SimulationResults, simulate, simulate_all};

const SHIPPED: [(&str, &str); 7] = [
    ("step-up", include_str!("scenarios/step-up.yaml")),
    ("step-down", include_str!("scenarios/step-down.yaml")),
    ("ramp", include_str!("scenarios/ramp.yaml")),
    ("spike", include_str!("scenarios/spike.yaml")),
    ("diurnal", include_str!("scenarios/diurnal.yaml")),
    ("noisy-steady", include_str!("scenarios/noisy-steady.yaml")),
    ("skewed-bottleneck", include_str!("scenarios/skewed-bottleneck.yaml")),
];

fn shipped() -> Vec<Scenario> {
    SHIPPED
        .iter()
        .map(|(name, text)| {
            let scenario: Scenario = crate::manifests::yaml::from_str(text)
                .unwrap_or_else(|error| panic!("scenario {name} does not parse: {error}"));
            assert_eq!(scenario.name, *name, "file name and scenario name agree");
            scenario
        })
        .collect()
}

fn run(scenario: &Scenario) -> ScenarioRun {
    simulate(scenario).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_step_change_is_met_within_two_rescales() {
    for scenario in shipped() {
        let run = run(&scenario);
        let steps = scenario.source_rate.iter().filter(|p| matches!(p, RatePoint::Step { at, .. } if *at > 0));
        for step in steps {
            let outcome = run.load_changes.iter().find(|c| c.at == step.at());
            let outcome =
                outcome.unwrap_or_else(|| panic!("{}: no outcome for the step at {}", scenario.name, step.at()));
            assert!(
                outcome.met_after_seconds.is_some(),
                "{}: step at {} never met: {outcome:?}",
                scenario.name,
                step.at()
            );
            assert!(outcome.rescales_until_met <= 2, "{}: step at {} took {outcome:?}", scenario.name, step.at());
        }
    }
}

#[test]
fn a_step_up_is_met_with_one_rescale_where_upstream_needs_two() {
    let scenario = shipped().into_iter().find(|s| s.name == "step-up").unwrap_or_else(|| panic!("step-up missing"));
    let mut upstream = scenario.clone();
    upstream.config.insert("flinkops.autoscaler.scale-up.confirmation".into(), ConfigScalar::Text("0".into()));
    let step = |run: &ScenarioRun| run.load_changes.iter().find(|c| c.at == 1800).map(|c| c.rescales_until_met);
    assert_eq!(step(&run(&scenario)), Some(1));
    assert_eq!(step(&run(&upstream)), Some(2));
}

#[test]
fn noisy_steady_load_does_not_oscillate() {
    let scenario = shipped().into_iter().find(|s| s.name == "noisy-steady").unwrap_or_else(|| panic!("missing"));
    let report = run(&scenario).report;
    assert_eq!(report.oscillations, 0);
    // one initial right-sizing at most, then nothing for the remaining hours.
    assert!(report.rescales <= 1, "{:?}", report.decisions);
}

#[test]
fn simulation_is_deterministic() {
    // Two scenarios suffice: the simulator has no other source of variation than the seeded noise.
    for scenario in shipped().into_iter().filter(|s| s.name == "step-up" || s.name == "noisy-steady") {
        assert_eq!(run(&scenario), run(&scenario), "{}", scenario.name);
    }
}

#[test]
fn json_report_has_the_documented_shape() {
    let scenarios: Vec<Scenario> = shipped().into_iter().filter(|s| s.name.starts_with("step")).collect();
    let results = simulate_all(&scenarios).unwrap_or_else(|error| panic!("{error}"));
    let json = serde_json::to_value(&results).unwrap_or_default();
    let first = &json["scenarios"][0];
    for key in [
        "name",
        "rescales",
        "timeToTargetSeconds",
        "underProvisionedSeconds",
        "overProvisionSlotSeconds",
        "oscillations",
        "finalParallelism",
        "decisions",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    let decision = &first["decisions"][0];
    for key in ["at", "vertex", "from", "to", "reason"] {
        assert!(decision.get(key).is_some(), "decision missing {key}");
    }
    let back: Result<SimulationResults, _> = serde_json::from_value(json);
    assert_eq!(back.ok(), Some(results));
}
