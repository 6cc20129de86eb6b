//! Benchmark: `flinkops plan` between two revisions of a 10,000-manifest repository that differ in 100 files
//! (targets: under 1 s and under 300 MB peak memory, release mode). Run with `cargo bench --bench plan`; results
//! are recorded in docs/benchmarks.md.
//!
//! The parent process builds the repository (not measured), then re-runs this binary as a child that only plans,
//! so the child's peak RSS (`VmHWM` in /proc/self/status) is the plan's own footprint.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod common;

use common::{commit_all, deployment, path_of};
use flinkops::git::{PathFilter, revisions, tree};
use git2::{Repository, RepositoryInitOptions};

const MANIFESTS: usize = 10_000;
const CHANGED: usize = 100;
const RUNS: usize = 5;

fn build_repository(dir: &Path) {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(dir, &options).expect("git init");
    for index in 0..MANIFESTS {
        let path = dir.join(path_of(index));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create directory");
        std::fs::write(path, deployment(index, index, "savepoint")).expect("write manifest");
    }
    commit_all(&repo, "base");
    // 100 changed files spread over the teams: 90 new images, 10 moved to last-state with a new image.
    for change in 0..CHANGED {
        let index = change * (MANIFESTS / CHANGED) + 7;
        let mode = if change % 10 == 0 { "last-state" } else { "savepoint" };
        std::fs::write(dir.join(path_of(index)), deployment(index, index + 1, mode)).expect("write manifest");
    }
    commit_all(&repo, "head");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn child(dir: &Path) {
    let filter = PathFilter::default();
    let mut timings = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let repo = tree::open(dir).expect("open repository");
        let plan = revisions::plan_between(&repo, "HEAD~1", "HEAD", &filter).expect("plan");
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(plan.files_changed, CHANGED);
        assert_eq!(plan.resources.len(), CHANGED, "every changed file plans one resource");
        assert!(plan.errors.is_empty(), "{:?}", plan.errors.first());
        timings.push(elapsed);
    }
    timings.sort_by(f64::total_cmp);
    let (min, median, max) = (timings[0], timings[RUNS / 2], timings[RUNS - 1]);
    let rss = peak_rss_mib();
    println!(
        "plan {MANIFESTS} manifests, {CHANGED} changed files: min {min:.3} s, median {median:.3} s, max {max:.3} s, \
         peak RSS {rss:.1} MiB"
    );
    assert!(median < 1.0, "plan took {median:.3} s (target < 1 s)");
    assert!(rss < 300.0, "peak RSS {rss:.1} MiB (target < 300 MB)");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[position + 1]));
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let start = Instant::now();
    build_repository(dir.path());
    println!("built a {MANIFESTS}-manifest repository in {:.1} s (not measured)", start.elapsed().as_secs_f64());
    let exe = std::env::current_exe().expect("own path");
    let status = Command::new(exe).arg("--child").arg(dir.path()).status().expect("run the measuring child");
    assert!(status.success(), "the measuring child failed");
}
