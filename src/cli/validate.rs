//! `flinkops validate PATH...`: offline checks of manifests, printing `file:line:column: severity: path: message`
//! or JSON; exit 0 when clean (warnings allowed), 1 when any error, 2 on usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::OutputFormat;
use crate::manifests::load::{Problem, Skipped, discover, load_paths};

/// Arguments of `flinkops validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories (searched recursively for *.yaml and *.yml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Serialize)]
struct Report<'a> {
    files: usize,
    resources: usize,
    errors: &'a [Problem],
    skipped: &'a [Skipped],
}

pub(super) fn run(args: &Args) -> ExitCode {
    let files = match discover(&args.paths) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("flinkops validate: {error}");
            return ExitCode::from(2);
        }
    };
    let set = load_paths(&files);
    match args.output {
        OutputFormat::Json => {
            let report = Report {
                files: set.files,
                resources: set.manifests.len(),
                errors: &set.problems,
                skipped: &set.skipped,
            };
            match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(error) => {
                    eprintln!("flinkops validate: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        OutputFormat::Text => {
            for problem in &set.problems {
                println!("{problem}");
            }
            for skipped in &set.skipped {
                println!("{}:{}: skipped: {}", skipped.file, skipped.line, skipped.reason);
            }
            let errors = set.error_count();
            let warnings = set.problems.len() - errors;
            println!(
                "{}, {}, {} skipped, {}, {}",
                plural(set.files, "file"),
                plural(set.manifests.len(), "Flink resource"),
                set.skipped.len(),
                plural(errors, "error"),
                plural(warnings, "warning")
            );
        }
    }
    if set.error_count() > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}
