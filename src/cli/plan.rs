//! `flinkops plan --repo DIR --base REV [--head REV] [--path P] [--output text|markdown|json]`: what a Git change
//! will do to each Flink job, offline, for pull-request review. Exit status: 0 clean, 1 validation errors,
//! 3 high risks (errors win), 2 usage errors (bad arguments, unknown revision, no repository).
//!
//! `--head` defaults to `HEAD`, the checked-out commit: a plan describes commits, and uncommitted edits are not
//! what a pull request will merge.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::git::{GitError, PathFilter, revisions, tree};
use crate::plan::render;

/// Output formats of `flinkops plan`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum PlanOutput {
    /// Human-readable text.
    #[default]
    Text,
    /// Markdown for a pull-request comment.
    Markdown,
    /// Machine-readable JSON.
    Json,
}

/// Arguments of `flinkops plan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The repository (any directory inside a working copy, or a bare repository).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The revision the change is compared against (e.g. `main`, `origin/main`, a commit id).
    #[arg(long)]
    base: String,
    /// The revision with the change.
    #[arg(long, default_value = "HEAD")]
    head: String,
    /// Only manifests below this directory of the repository.
    #[arg(long)]
    path: Option<String>,
    /// Only files matching these globs (repository-relative, e.g. `apps/**/*.yaml`).
    #[arg(long)]
    include: Vec<String>,
    /// Leave out files matching these globs.
    #[arg(long)]
    exclude: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = PlanOutput::Text)]
    output: PlanOutput,
}

pub(super) fn run(args: &Args) -> ExitCode {
    match plan(args) {
        Ok((output, code)) => {
            print!("{output}");
            ExitCode::from(code)
        }
        Err(error) => {
            eprintln!("flinkops plan: {error}");
            ExitCode::from(2)
        }
    }
}

fn plan(args: &Args) -> Result<(String, u8), GitError> {
    let filter = PathFilter::new(args.path.as_deref(), &args.include, &args.exclude)?;
    let repo = tree::open(&args.repo)?;
    let plan = revisions::plan_between(&repo, &args.base, &args.head, &filter)?;
    let output = match args.output {
        PlanOutput::Text => render::text(&plan),
        PlanOutput::Markdown => render::markdown(&plan),
        PlanOutput::Json => {
            let mut json = render::json(&plan)
                .map_err(|e| GitError::Local { path: args.repo.display().to_string(), reason: e.to_string() })?;
            json.push('\n');
            json
        }
    };
    Ok((output, plan.exit_code()))
}
