//! `flinkops run`: follows a Git repository (or a working copy) and runs its Flink jobs. With `--local`, as local
//! processes with the store under `--state-dir` (Ctrl-C or SIGTERM stops it; the jobs keep running unless
//! `--stop-jobs-on-exit`); without, on the Kubernetes cluster of in-cluster configuration, `KUBECONFIG` or
//! `--kubeconfig` ([`kubernetes`]).

mod kubernetes;

pub(super) use kubernetes::client as kubernetes_client;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::operator::manager::{self, ManagerConfig, Prune};
use crate::runtime::local::LocalRuntime;
use crate::store::LocalStore;
use crate::writeback::{WriteBack, WriteBackConfig};

/// Arguments of `flinkops run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run Flink as local processes instead of on a Kubernetes cluster.
    #[arg(long)]
    local: bool,
    /// The Kubernetes cluster (default: in-cluster configuration, else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, conflicts_with = "local")]
    kubeconfig: Option<PathBuf>,
    /// The operator's configuration file (the Helm chart's `flinkops.yaml`: webhook, health and metrics ports,
    /// leader election, watched namespaces).
    #[arg(long, env = "FLINKOPS_CONFIG", conflicts_with = "local")]
    config: Option<PathBuf>,
    /// How the operator reaches a cluster's REST API, `{{name}}` and `{{namespace}}` replaced (default: the REST
    /// Service's cluster DNS name; for an operator outside the cluster, a port-forward or ingress address).
    #[arg(long, conflicts_with = "local")]
    rest_url_template: Option<String>,
    /// Delete resources whose manifests left Git, each job stopped with a savepoint first (on Kubernetes prune is
    /// off unless this or the configuration's `git.prune` says so; `--local` always prunes).
    #[arg(long, conflicts_with = "local")]
    prune: bool,
    /// Where the manifests come from.
    #[command(flatten)]
    source: super::source::SourceArgs,
    /// Where resources, status, cluster logs and checkpoints live.
    #[arg(long, default_value = ".flinkops/state")]
    state_dir: PathBuf,
    /// The Flink distribution (default: FLINK_HOME, else the one scripts/install-flink.sh installed).
    #[arg(long, env = "FLINK_HOME")]
    flink_home: Option<PathBuf>,
    /// Emulated root of the Flink image: `local:///opt/flink/usrlib/job.jar` is looked up as
    /// `<image-root>/opt/flink/usrlib/job.jar` first.
    #[arg(long)]
    image_root: Option<PathBuf>,
    /// Stop every Flink process on exit (by default the jobs keep running and the next run adopts them).
    #[arg(long)]
    stop_jobs_on_exit: bool,
    /// How often the repository is checked for a new revision.
    #[arg(long, default_value = "5s")]
    interval: String,
    /// Write each savepoint back to the manifest that defines its job, as `flinkops.io/savepoint-*`
    /// annotations committed and pushed to the followed branch (needs a Git source and push access).
    #[arg(long)]
    write_back: bool,
    /// Commit write-backs to this branch instead of the followed one (created from it when missing).
    #[arg(long, requires = "write_back")]
    write_back_branch: Option<String>,
    /// Author of write-back commits, as `Name <email>`.
    #[arg(long, requires = "write_back", default_value = "flinkops <flinkops@localhost>")]
    write_back_author: String,
    /// Message of write-back commits; `{count}`, `{resources}` and `{savepoints}` are replaced.
    #[arg(long, requires = "write_back")]
    write_back_message: Option<String>,
    /// How often pending savepoints are committed (one commit per interval).
    #[arg(long, requires = "write_back", default_value = "10s")]
    write_back_interval: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How logs are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,flinkops::flink::client=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The Flink distribution to use: the flag or FLINK_HOME, else the newest install under `.flinkops/`.
fn flink_home(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| {
        let names = std::fs::read_dir(".flinkops").ok()?.flatten().map(|entry| entry.file_name());
        let installs = names
            .filter_map(|name| name.to_str().map(str::to_owned))
            .filter(|name| Path::new(".flinkops").join(name).join(".flinkops-install-complete").exists());
        newest_flink_install(installs).map(|name| Path::new(".flinkops").join(name))
    })
}

/// The newest `flink-<version>` of the completed installs under `.flinkops/` (other tools install there too, such
/// as `python/`), comparing versions numerically (2.10 is newer than 2.9).
fn newest_flink_install(installs: impl Iterator<Item = String>) -> Option<String> {
    installs
        .filter_map(|name| {
            let version: Vec<u64> =
                name.strip_prefix("flink-")?.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
            Some((version, name))
        })
        .max()
        .map(|(_, name)| name)
}

pub(super) fn run(args: &Args) -> ExitCode {
    init_logging(args.log_format);
    let Ok(interval) = crate::units::parse_flink_duration(&args.interval) else {
        eprintln!("flinkops run: --interval {:?} is not a duration (for example 5s)", args.interval);
        return ExitCode::from(2);
    };
    if !args.local {
        return run_on_kubernetes(args, interval);
    }
    let Some(flink_home) = flink_home(args.flink_home.clone()) else {
        eprintln!(
            "flinkops run: no Flink distribution; run scripts/install-flink.sh or pass --flink-home / FLINK_HOME"
        );
        return ExitCode::from(2);
    };
    let (config, filter) = match manager_config(args, interval) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let runtime_dir = match operator_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flinkops run: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime_dir.block_on(async {
        let store = match LocalStore::open(&args.state_dir) {
            Ok(store) => store,
            Err(error) => {
                eprintln!("flinkops run: cannot open the state directory: {error}");
                return ExitCode::FAILURE;
            }
        };
        // Without --stop-jobs-on-exit the jobs outlive flinkops however it ends, a crash included.
        let runtime = match LocalRuntime::new(&flink_home, &args.state_dir) {
            Ok(runtime) => {
                let runtime = runtime.outliving_the_operator(!args.stop_jobs_on_exit);
                match &args.image_root {
                    Some(root) => runtime.with_image_root(root),
                    None => runtime,
                }
            }
            Err(error) => {
                eprintln!("flinkops run: {error}");
                return ExitCode::from(2);
            }
        };
        let shutdown = shutdown_signal();
        match super::source::select(&args.source.repo, args.source.branch.as_deref(), filter, &args.state_dir) {
            Ok(source) => {
                if source.is_worktree() {
                    tracing::info!(directory = %args.source.repo, "following a working copy");
                }
                manager::run(store, runtime, source, config, shutdown).await;
            }
            Err(error) => {
                eprintln!("flinkops run: {error}");
                return ExitCode::from(2);
            }
        }
        ExitCode::SUCCESS
    })
}

/// `run` without `--local`: the same loop against a Kubernetes cluster.
fn run_on_kubernetes(args: &Args, interval: std::time::Duration) -> ExitCode {
    let runtime = match operator_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flinkops run: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (config, filter) = match manager_config(args, interval) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    runtime.block_on(kubernetes::run(args, config, filter))
}

/// The manager's settings and the manifest filter, or the exit code of bad arguments (already reported).
fn manager_config(
    args: &Args,
    interval: std::time::Duration,
) -> Result<(ManagerConfig, crate::git::filter::PathFilter), ExitCode> {
    let filter = super::source::manifest_filter(args.source.path.as_deref()).map_err(|error| {
        eprintln!("flinkops run: {error}");
        ExitCode::from(2)
    })?;
    let write_back = write_back(args, &filter).map_err(|message| {
        eprintln!("flinkops run: {message}");
        ExitCode::from(2)
    })?;
    let config = ManagerConfig {
        sync_interval: interval,
        stop_jobs_on_exit: args.stop_jobs_on_exit,
        write_back,
        state_dir: args.state_dir.clone(),
        prune: if args.local || args.prune { Prune::On } else { Prune::Off },
    };
    Ok((config, filter))
}

/// The write-back of `--write-back`, or why it cannot work.
fn write_back(
    args: &Args,
    filter: &crate::git::filter::PathFilter,
) -> Result<Option<(WriteBack, std::time::Duration)>, String> {
    if !args.write_back {
        return Ok(None);
    }
    let Some(source) =
        super::source::git_config(&args.source.repo, args.source.branch.as_deref(), filter.clone(), &args.state_dir)
    else {
        return Err(format!(
            "--write-back needs a Git repository or URL; {} is a plain directory (pass --branch to read it as a repository)",
            args.source.repo
        ));
    };
    let interval = crate::units::parse_flink_duration(&args.write_back_interval).map_err(|_| {
        format!("--write-back-interval {:?} is not a duration (for example 10s)", args.write_back_interval)
    })?;
    let (author_name, author_email) = parse_author(&args.write_back_author)
        .ok_or_else(|| format!("--write-back-author {:?} is not `Name <email>`", args.write_back_author))?;
    let mut config = WriteBackConfig {
        branch: args.write_back_branch.clone(),
        author_name,
        author_email,
        ..WriteBackConfig::default()
    };
    if let Some(message) = &args.write_back_message {
        config.message_template = message.clone();
    }
    let writer = WriteBack::open(&source, &args.state_dir.join("writeback"), config).map_err(|e| e.to_string())?;
    Ok(Some((writer, interval)))
}

/// `Name <email>` split into its parts.
fn parse_author(text: &str) -> Option<(String, String)> {
    let (name, rest) = text.split_once('<')?;
    let email = rest.strip_suffix('>')?.trim();
    let name = name.trim();
    (!name.is_empty() && email.contains('@')).then(|| (name.to_owned(), email.to_owned()))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Stack of the operator's worker threads. A reconcile polls a deep chain of futures (controller, step, runtime,
/// Flink client); a debug build's frames of that chain came close to tokio's 2 MiB default (a test thread
/// overflowed it), so the workers get room to spare. It is address space, committed only as it is touched.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// The multi-threaded tokio runtime the operator loop runs on.
fn operator_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK_BYTES).build()
}

#[cfg(test)]
mod tests {
    use super::{newest_flink_install, parse_author};

    #[test]
    fn the_newest_flink_install_is_chosen_and_other_tools_are_not() {
        let installs = ["python", "flink-2.3.0", "flink-2.10.1", "flink-2.9.0", "flink-latest"].map(str::to_owned);
        assert_eq!(newest_flink_install(installs.into_iter()).as_deref(), Some("flink-2.10.1"));
        assert_eq!(newest_flink_install(["python".to_owned()].into_iter()), None);
    }

    #[test]
    fn an_author_is_a_name_and_an_email() {
        assert_eq!(
            parse_author("Platform Bot <bot@example.com>"),
            Some(("Platform Bot".into(), "bot@example.com".into()))
        );
        assert_eq!(parse_author("bot@example.com"), None);
        assert_eq!(parse_author("<bot@example.com>"), None);
        assert_eq!(parse_author("Bot <not-an-email>"), None);
    }
}
