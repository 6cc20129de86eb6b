//! `flinkops autoscaler`: the simulator (`simulate --scenario FILE...`) that runs the autoscaler's own window,
//! evaluation and decision code against modelled jobs; standalone scaling of a cluster comes with the autoscaler
//! issue's collection and realization.

use std::path::PathBuf;
use std::process::ExitCode;

use super::OutputFormat;
use crate::autoscaler::{Scenario, SimulationResults, simulate_all};

/// Arguments of `flinkops autoscaler`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    command: Option<AutoscalerCommand>,
    /// Scale the jobs of a Flink cluster flinkops does not manage (not available yet).
    #[arg(long)]
    rest_url: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
enum AutoscalerCommand {
    /// Run scenario files through the autoscaler against a modelled job and report every decision.
    Simulate {
        /// Scenario files (YAML).
        #[arg(long = "scenario", required = true, num_args = 1..)]
        scenarios: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

pub(super) fn run(args: &Args) -> ExitCode {
    match (&args.command, &args.rest_url) {
        (Some(AutoscalerCommand::Simulate { scenarios, output }), _) => simulate(scenarios, *output),
        (None, Some(_)) => {
            eprintln!("flinkops autoscaler: standalone scaling (--rest-url) is not available in this build yet");
            ExitCode::from(2)
        }
        (None, None) => {
            eprintln!("flinkops autoscaler: give a subcommand (simulate) or --rest-url; see --help");
            ExitCode::from(2)
        }
    }
}

/// Reads every scenario, reporting each bad file with its line and field, then simulates them all.
fn simulate(files: &[PathBuf], output: OutputFormat) -> ExitCode {
    let mut scenarios = Vec::new();
    let mut bad_input = false;
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => match crate::manifests::yaml::from_str::<Scenario>(&text) {
                Ok(scenario) => scenarios.push(scenario),
                Err(error) => {
                    eprintln!("{}:{error}", file.display());
                    bad_input = true;
                }
            },
            Err(error) => {
                eprintln!("{}: {error}", file.display());
                bad_input = true;
            }
        }
    }
    if bad_input {
        return ExitCode::FAILURE;
    }
    let results = match simulate_all(&scenarios) {
        Ok(results) => results,
        Err(error) => {
            eprintln!("flinkops autoscaler simulate: {error}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        OutputFormat::Json => match serde_json::to_string_pretty(&results) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("flinkops autoscaler simulate: {error}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Text => print_text(&results),
    }
    ExitCode::SUCCESS
}

fn print_text(results: &SimulationResults) {
    for report in &results.scenarios {
        println!(
            "{}: {} rescales, target met after {} s, under-provisioned {} s, over-provisioned {} slot-s, {} oscillations",
            report.name,
            report.rescales,
            report.time_to_target_seconds,
            report.under_provisioned_seconds,
            report.over_provision_slot_seconds,
            report.oscillations
        );
        for decision in &report.decisions {
            println!(
                "  t={:>6}s  {:<12} {:>3} -> {:<3}  {}",
                decision.at, decision.vertex, decision.from, decision.to, decision.reason
            );
        }
        let finals: Vec<String> = report.final_parallelism.iter().map(|(v, p)| format!("{v}={p}")).collect();
        println!("  final parallelism: {}", finals.join(", "));
    }
}
