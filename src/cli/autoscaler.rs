//! `flinkops autoscaler`: standalone scaling of a Flink cluster flinkops does not manage (`--rest-url URL`), and the
//! simulator (`simulate --scenario FILE...`) that runs the autoscaler's own window, evaluation and decision code
//! against modelled jobs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::OutputFormat;
use crate::autoscaler::{Scenario, SimulationResults, simulate_all};
use crate::operator::autoscale::standalone::{StandaloneDecision, StandaloneOptions, run_standalone};
use crate::units::parse_flink_duration;

/// Arguments of `flinkops autoscaler`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    command: Option<AutoscalerCommand>,
    /// Scale every RUNNING job of the Flink cluster at this REST URL, in place (adaptive scheduler), until Ctrl-C.
    #[arg(long)]
    rest_url: Option<String>,
    /// A `job.autoscaler.*` (or other Flink) option, `key=value`; wins over the cluster's and the job's own.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    config: Vec<(String, String)>,
    /// Time between two runs over the cluster (a Flink duration).
    #[arg(long, default_value = "10 s", value_parser = parse_duration)]
    interval: Duration,
    /// Stop after this many runs.
    #[arg(long)]
    max_runs: Option<u32>,
    /// Stop after this long (a Flink duration).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Output format of the standalone decisions (one JSON object per line with `json`).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not key=value"))?;
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_flink_duration(text).map_err(|error| error.to_string())
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
        (None, Some(rest_url)) => standalone(args, rest_url),
        (None, None) => {
            eprintln!("flinkops autoscaler: give a subcommand (simulate) or --rest-url; see --help");
            ExitCode::from(2)
        }
    }
}

/// The standalone loop: prints every decision, stops on Ctrl-C or at `--max-runs` / `--duration`.
fn standalone(args: &Args, rest_url: &str) -> ExitCode {
    let options = StandaloneOptions {
        config: args.config.iter().cloned().collect::<BTreeMap<_, _>>(),
        interval: args.interval,
        max_runs: args.max_runs,
        duration: args.duration,
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else {
        return ExitCode::FAILURE;
    };
    let output = args.output;
    let print = move |decision: &StandaloneDecision| print_decision(decision, output);
    let shutdown = async {
        // Without a signal handler the loop runs until its bounds.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match runtime.block_on(run_standalone(rest_url, &options, shutdown, print)) {
        Ok(runs) => {
            eprintln!("flinkops autoscaler: stopped after {runs} runs");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("flinkops autoscaler: {error}");
            ExitCode::from(2)
        }
    }
}

fn print_decision(decision: &StandaloneDecision, output: OutputFormat) {
    match output {
        OutputFormat::Json => match serde_json::to_string(decision) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("flinkops autoscaler: {error}"),
        },
        OutputFormat::Text => {
            let applied = match &decision.not_applied_because {
                None => "applied in place".to_owned(),
                Some(why) => format!("not applied: {why}"),
            };
            println!(
                "{} ({}): {} [{applied}]",
                decision.job_name,
                decision.job_id,
                crate::operator::autoscale::summary(&decision.decision)
            );
            for line in decision.decision.report.lines() {
                println!("    {line}");
            }
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
