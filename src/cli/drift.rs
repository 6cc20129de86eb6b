//! `flinkops drift --repo PATH|URL [--branch B] [--path P] [--state-dir DIR | --kubeconfig FILE | --cluster]
//! [--output text|markdown|json]`: Git's head against the live objects of the local store (`<state-dir>/resources`,
//! as `run --local` keeps it) or of a Kubernetes cluster, per field, naming the writer (field manager) of each live
//! value. Exit status: 0 no drift, 4 drift, 1 errors (they win: an invalid manifest,
//! an unreadable live object, Git or the store cannot be read), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::source;
use crate::drift::live::ManagerPolicy;
use crate::drift::{self as report, render};
use crate::git::GitError;
use crate::git::source::{Source, SyncOutcome};
use crate::store::{KubernetesStore, LocalStore, StoreError, WatchNamespaces};

/// Output formats of `flinkops drift`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum DriftOutput {
    /// Human-readable text.
    #[default]
    Text,
    /// Markdown (a namespace summary table, then each resource that is not in sync).
    Markdown,
    /// Machine-readable JSON (the shape is in docs/gitops.md).
    Json,
}

/// Arguments of `flinkops drift`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the manifests come from.
    #[command(flatten)]
    source: super::source::SourceArgs,
    /// The state directory of `flinkops run --local` (its store is `<state-dir>/resources`).
    #[arg(long, default_value = ".flinkops/state")]
    state_dir: PathBuf,
    /// Compare with the live objects of the Kubernetes cluster in this kubeconfig instead of the local store.
    #[arg(long, conflicts_with = "cluster")]
    kubeconfig: Option<PathBuf>,
    /// Compare with the live objects of the Kubernetes cluster of in-cluster configuration or `KUBECONFIG`.
    #[arg(long)]
    cluster: bool,
    /// A field manager whose fields are its own, not drift (repeatable; e.g. an autoscaler's manager name).
    #[arg(long = "ignore-manager", value_name = "MANAGER")]
    ignore_managers: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = DriftOutput::Text)]
    output: DriftOutput,
}

/// Why `drift` could not produce a report.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("invalid arguments: {0}")]
    Arguments(GitError),
    #[error("cannot read Git: {0}")]
    Git(GitError),
    #[error("cannot read the store: {0}")]
    Store(StoreError),
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
    #[error("cannot encode the report: {0}")]
    Encode(serde_json::Error),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Arguments(_) => 2,
            Failure::Git(_) | Failure::Store(_) | Failure::Runtime(_) | Failure::Encode(_) => 1,
        }
    }
}

pub(super) fn run(args: &Args) -> ExitCode {
    match drift(args) {
        Ok((output, code)) => {
            print!("{output}");
            ExitCode::from(code)
        }
        Err(error) => {
            eprintln!("flinkops drift: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn drift(args: &Args) -> Result<(String, u8), Failure> {
    let on_cluster = args.cluster || args.kubeconfig.is_some();
    let resources = args.state_dir.join("resources");
    if !on_cluster && !resources.is_dir() {
        return Err(Failure::Usage(format!(
            "no store at {}: pass the --state-dir of `flinkops run --local`",
            resources.display()
        )));
    }
    let filter = source::manifest_filter(args.source.path.as_deref()).map_err(Failure::Arguments)?;
    let mut git = source::select(&args.source.repo, args.source.branch.as_deref(), filter, &args.state_dir)
        .map_err(Failure::Arguments)?;
    if let SyncOutcome::Failed(error) = git.sync() {
        return Err(Failure::Git(error));
    }
    let Some(snapshot) = git.current() else {
        return Err(Failure::Git(GitError::Rejected {
            revision: args.source.repo.clone(),
            reason: "no revision was read".to_owned(),
        }));
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Failure::Runtime)?;
    let managers = ManagerPolicy { owners: args.ignore_managers.iter().cloned().collect(), ..ManagerPolicy::default() };
    let drift = if on_cluster {
        runtime.block_on(async {
            let client = super::run::kubernetes_client(args.kubeconfig.as_deref()).await.map_err(Failure::Usage)?;
            let store = KubernetesStore::new(client, WatchNamespaces::parse(""));
            report::against_store(&store, "the Kubernetes cluster", &snapshot, managers).await.map_err(Failure::Store)
        })?
    } else {
        let store = LocalStore::open_for_reading(&args.state_dir).map_err(Failure::Store)?;
        let label = resources.display().to_string();
        runtime.block_on(report::against_store(&store, &label, &snapshot, managers)).map_err(Failure::Store)?
    };
    let output = match args.output {
        DriftOutput::Text => render::text(&drift),
        DriftOutput::Markdown => render::markdown(&drift),
        DriftOutput::Json => render::json(&drift).map_err(Failure::Encode)? + "\n",
    };
    Ok((output, drift.exit_code()))
}
