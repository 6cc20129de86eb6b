//! `flinkops status --state-dir DIR`: what the local store knows about each resource, as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::OutputFormat;
use crate::crd::status::{AutoscalerStatus, AutoscalerVertexStatus, ScalingHistoryEntry};
use crate::crd::{FlinkDeployment, FlinkSessionJob};
use crate::operator::sync_record::synced_revision;
use crate::store::{LocalStore, Store};

/// Arguments of `flinkops status`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The state directory of `flinkops run --local`.
    #[arg(long, default_value = ".flinkops/state")]
    state_dir: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    kind: &'static str,
    namespace: String,
    name: String,
    lifecycle_state: Option<String>,
    job_state: Option<String>,
    job_id: Option<String>,
    last_savepoint: Option<String>,
    rest_url: Option<String>,
    error: Option<String>,
    generation: Option<i64>,
    observed_generation: Option<i64>,
    /// The Git revision the resource's manifest was applied from.
    sync_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    autoscaler: Option<AutoscalerSummary>,
}

/// `status.autoscaler` without the core's internal state and metric window.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AutoscalerSummary {
    parallelism_overrides: std::collections::BTreeMap<String, i32>,
    realization: Option<String>,
    last_outcome: Option<String>,
    error: Option<String>,
    vertices: Vec<AutoscalerVertexStatus>,
    scaling_history: Vec<ScalingHistoryEntry>,
}

impl From<AutoscalerStatus> for AutoscalerSummary {
    fn from(status: AutoscalerStatus) -> Self {
        AutoscalerSummary {
            parallelism_overrides: status.parallelism_overrides,
            realization: status.realization,
            last_outcome: status.last_outcome,
            error: status.error,
            vertices: status.vertices,
            scaling_history: status.scaling_history,
        }
    }
}

/// Text lines of the autoscaler summary: its outcome, one line per vertex, the newest decision.
fn print_autoscaler(summary: &AutoscalerSummary) {
    println!("    autoscaler: {}", summary.last_outcome.as_deref().unwrap_or("-"));
    let rate = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    for vertex in &summary.vertices {
        let name = if vertex.name.is_empty() { &vertex.vertex_id } else { &vertex.name };
        println!(
            "      {:<32} parallelism {:>3} (recommended {:>3})  busy {:>6} ms/s  processing {:>9}/s  target {:>9}/s",
            name,
            vertex.parallelism,
            vertex.recommended_parallelism.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            rate(vertex.busy_time_ms_per_second),
            rate(vertex.true_processing_rate),
            rate(vertex.target_rate),
        );
    }
    if let Some(last) = summary.scaling_history.last() {
        println!("      last decision: {}", crate::operator::autoscale::summary(last));
    }
    if let Some(error) = &summary.error {
        println!("      autoscaler error: {error}");
    }
}

#[derive(Serialize)]
struct Report {
    resources: Vec<Row>,
}

fn debug_name<T: std::fmt::Debug>(value: Option<T>) -> Option<String> {
    value.map(|v| {
        let text = format!("{v:?}");
        // Enum names in the wire spelling (RollingBack -> ROLLING_BACK).
        let mut out = String::new();
        for (index, c) in text.chars().enumerate() {
            if c.is_uppercase() && index > 0 {
                out.push('_');
            }
            out.extend(c.to_uppercase());
        }
        out
    })
}

fn rest_url(state_dir: &std::path::Path, namespace: &str, name: &str) -> Option<String> {
    let record = std::fs::read(state_dir.join("clusters").join(namespace).join(name).join("cluster.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&record).ok()?;
    value.get("rest_url").and_then(|v| v.as_str()).map(str::to_owned)
}

pub(super) fn run(args: &Args) -> ExitCode {
    if !args.state_dir.join("resources").is_dir() {
        eprintln!(
            "flinkops status: no store at {}: pass the --state-dir of `flinkops run --local`",
            args.state_dir.display()
        );
        return ExitCode::from(2);
    }
    let store = match LocalStore::open_for_reading(&args.state_dir) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("flinkops status: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return ExitCode::FAILURE;
    };
    let (deployments, jobs) =
        runtime.block_on(async { (store.list::<FlinkDeployment>().await, store.list::<FlinkSessionJob>().await) });
    let (Ok(deployments), Ok(jobs)) = (deployments, jobs) else {
        eprintln!("flinkops status: cannot read the store");
        return ExitCode::FAILURE;
    };
    let mut rows = Vec::new();
    for deployment in deployments {
        let status = deployment.status.clone().unwrap_or_default();
        let namespace = crate::validation::namespace_of(&deployment.metadata);
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let job = status.job_status.clone().unwrap_or_default();
        rows.push(Row {
            kind: "FlinkDeployment",
            rest_url: rest_url(&args.state_dir, &namespace, &name),
            namespace,
            name,
            lifecycle_state: debug_name(status.lifecycle_state),
            job_state: debug_name(job.state),
            job_id: job.job_id,
            last_savepoint: job.savepoint_info.and_then(|s| s.last_savepoint).and_then(|s| s.location),
            error: status.error,
            generation: deployment.metadata.generation,
            observed_generation: status.observed_generation,
            sync_revision: synced_revision(&deployment).map(str::to_owned),
            autoscaler: status.autoscaler.map(|a| AutoscalerSummary::from(*a)),
        });
    }
    for session_job in jobs {
        let status = session_job.status.clone().unwrap_or_default();
        let job = status.job_status.clone().unwrap_or_default();
        rows.push(Row {
            kind: "FlinkSessionJob",
            namespace: crate::validation::namespace_of(&session_job.metadata),
            name: session_job.metadata.name.clone().unwrap_or_default(),
            lifecycle_state: debug_name(status.lifecycle_state),
            job_state: debug_name(job.state),
            job_id: job.job_id,
            last_savepoint: job.savepoint_info.and_then(|s| s.last_savepoint).and_then(|s| s.location),
            rest_url: None,
            error: status.error,
            generation: session_job.metadata.generation,
            observed_generation: status.observed_generation,
            sync_revision: synced_revision(&session_job).map(str::to_owned),
            autoscaler: None,
        });
    }
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&Report { resources: rows }) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("flinkops status: {error}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Text => {
            println!(
                "{:<16} {:<28} {:<12} {:<12} {:<34} LAST SAVEPOINT",
                "KIND", "NAMESPACE/NAME", "LIFECYCLE", "JOB", "JOB ID"
            );
            for row in &rows {
                println!(
                    "{:<16} {:<28} {:<12} {:<12} {:<34} {}",
                    row.kind,
                    format!("{}/{}", row.namespace, row.name),
                    row.lifecycle_state.as_deref().unwrap_or("-"),
                    row.job_state.as_deref().unwrap_or("-"),
                    row.job_id.as_deref().unwrap_or("-"),
                    row.last_savepoint.as_deref().unwrap_or("-")
                );
                if let Some(revision) = &row.sync_revision {
                    println!("    synced from revision {revision}");
                }
                if let Some(error) = &row.error {
                    println!("    error: {error}");
                }
                if let Some(autoscaler) = &row.autoscaler {
                    print_autoscaler(autoscaler);
                }
            }
        }
    }
    ExitCode::SUCCESS
}
