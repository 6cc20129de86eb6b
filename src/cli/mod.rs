//! The command line: one subcommand per job (`run`, `plan`, `drift`, `validate`, `crds`, `status`, `autoscaler`),
//! each in its own module; exit codes are part of the interface (0 clean, 1 errors, 2 usage).

mod autoscaler;
mod crds;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Apache Flink on Kubernetes, the GitOps way.
#[derive(Parser, Debug)]
#[command(name = "flinkops", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats shared by the reporting commands.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// Machine-readable JSON.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Follow a Git branch and run its Flink jobs (not available yet: the operator and local runtime issues).
    Run,
    /// Show what a Git change will do to each Flink job, for pull-request review (not available yet: the plan issue).
    Plan,
    /// Compare Git with the live resources (not available yet: the plan issue).
    Drift,
    /// Check manifests offline: YAML syntax, schema, and upstream's validation rules.
    Validate(validate::Args),
    /// Print or write the CustomResourceDefinitions generated from flinkops' types.
    Crds(crds::Args),
    /// Show the resources of a local state directory (not available yet: the operator issue).
    Status,
    /// Simulate the autoscaler on modelled jobs (`simulate`); standalone scaling of a cluster is not available yet.
    Autoscaler(autoscaler::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Autoscaler(args) => autoscaler::run(&args),
        Command::Run | Command::Plan | Command::Drift | Command::Status => {
            eprintln!("flinkops: this command is not available in this build yet; see `flinkops --help`");
            ExitCode::from(2)
        }
    }
}
