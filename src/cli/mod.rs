//! The command line: one subcommand per job (`run`, `plan`, `drift`, `validate`, `crds`, `status`, `autoscaler`),
//! each in its own module; exit codes are part of the interface (0 clean, 1 errors, 2 usage; `plan` 3 and `drift` 4).

mod autoscaler;
mod crds;
mod drift;
mod operator_config;
mod plan;
mod run;
mod source;
mod status;
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
    /// Follow a Git branch (or a working copy) and run its Flink jobs; `--local` runs them as local processes.
    Run(run::Args),
    /// Show what a Git change will do to each Flink job, for pull-request review (offline, between two revisions).
    Plan(plan::Args),
    /// Compare Git with the live resources of the local store, per field, naming who wrote each live value.
    Drift(drift::Args),
    /// Check manifests offline: YAML syntax, schema, and upstream's validation rules.
    Validate(validate::Args),
    /// Print or write the CustomResourceDefinitions generated from flinkops' types.
    Crds(crds::Args),
    /// Show the resources of a local state directory.
    Status(status::Args),
    /// Simulate the autoscaler on modelled jobs (`simulate`); standalone scaling of a cluster is not available yet.
    Autoscaler(autoscaler::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    crate::allocator::limit_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Autoscaler(args) => autoscaler::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Drift(args) => drift::run(&args),
    }
}
